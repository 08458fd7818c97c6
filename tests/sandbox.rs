//! A room of attackers (root, sshd): participant 1 logs in over SSH, as a participant of
//! a real class would, and tries to reach what is not theirs: the workshop's key, the
//! progress database, participant 2's persona, lab and checks, the bots, the machine's
//! own files, processes and network, a kernel module, a mount, and the limits. Every
//! attempt is refused, and participant 2's exercise still passes afterwards.

mod common;

use common::room::Room;
use std::time::Duration;

const W: &str = "pstest-sb";

/// Runs `cmd` as participant 1 and asserts that it fails (non-zero) and prints nothing
/// that `leak` finds.
fn refused(room: &Room, what: &str, cmd: &str, leak: &[&str]) {
    let o = room.login(1).run(cmd);
    let out = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(!o.status.success(), "{what}: `{cmd}` succeeded:\n{out}");
    for l in leak {
        assert!(!out.contains(l), "{what}: `{cmd}` printed {l:?}:\n{out}");
    }
}

/// The password exercise, solved in the participant's sandbox: its answer, which passed.
fn solve_password(me: &common::room::Login) -> String {
    me.ok("plainsight workshop show password > /dev/null");
    let mut sniff = me.spawn("plainsight sniff --reveal");
    let pw =
        sniff.until(Duration::from_secs(45), &format!("participant {}'s own bot's password", me.participant), |l| {
            l.split("form field \"password\" in POST /login: ").nth(1).map(str::to_string)
        });
    drop(sniff);
    assert!(me.ok(&format!("plainsight workshop check password --answer '{pw}'")).contains("PASSED"));
    pw
}

#[test]
fn a_participant_reaches_their_own_lab_and_nothing_else() {
    if !common::room::available("the sandbox test") {
        return;
    }
    for f in ["sftp-marker", "sftp-key"] {
        let _ = std::fs::remove_file(format!("{}/{f}", env!("CARGO_TARGET_TMPDIR")));
    }
    let room = Room::up(
        W,
        2,
        &["--key", "sandbox test key", "--bot-interval", "0.5-1", "--max-processes", "64", "--memory-mb", "128"],
    );
    let key = std::fs::read_to_string(format!("/run/plainsight-workshop/{W}/key")).unwrap();
    let persona2 = std::fs::read_to_string(format!("/run/plainsight/{W}-02/persona.json")).unwrap();
    let p2: serde_json::Value = serde_json::from_str(&persona2).unwrap();
    let password2 = p2["password"].as_str().unwrap().to_string();
    let me = room.login(1);

    // Who they are, with what.
    let id = me.ok("id -u; grep -E '^Cap(Eff|Bnd|Amb)' /proc/self/status; grep NoNewPrivs /proc/self/status");
    assert!(!id.lines().next().unwrap().trim().eq("0"), "{id}");
    for cap in ["CapEff:\t0000000000003000", "CapBnd:\t0000000000003000", "CapAmb:\t0000000000003000", "NoNewPrivs:\t1"]
    {
        assert!(id.contains(cap), "{cap} not in:\n{id}");
    }

    // The workshop's secrets and the trainer's grid.
    refused(&room, "the workshop key", &format!("cat /run/plainsight-workshop/{W}/key"), &[key.trim()]);
    refused(&room, "the workshop's folder", &format!("ls /run/plainsight-workshop/{W}"), &["key"]);
    refused(
        &room,
        "the progress database",
        &format!(
            "test -e /var/lib/plainsight/{W}/progress.db || exit 1; echo forged >> /var/lib/plainsight/{W}/progress.db"
        ),
        &[],
    );
    // Their own bot's persona and the site's private key and TLS key log are absent too.
    for f in ["persona.json", "site.key", "ca.key", "site-keys.log", "bot-visits.jsonl"] {
        refused(&room, "their own lab's secrets", &format!("cat /run/plainsight/{W}-01/{f}"), &["BEGIN", "password"]);
    }
    // Participant 2: persona, namespaces, sniffing, checks, injecting, signalling.
    refused(&room, "participant 2's persona", &format!("cat /run/plainsight/{W}-02/persona.json"), &[&password2]);
    refused(&room, "participant 2's lab folder", &format!("touch /run/plainsight/{W}-02/x"), &[]);
    refused(
        &room,
        "ip netns exec into participant 2's lab",
        &format!("ip netns exec {W}-02-intruder ip link"),
        &["wan0"],
    );
    refused(
        &room,
        "sniffing participant 2's lab",
        &format!("PLAINSIGHT_LAB={W}-02 timeout 10 plainsight sniff --reveal --duration 3"),
        &[&password2],
    );
    refused(
        &room,
        "checking for participant 2",
        "plainsight workshop check password --participant 2 --answer x",
        &["PASSED"],
    );
    refused(
        &room,
        "injecting into participant 2's lab",
        &format!(
            "echo '<p>PWNED</p>' > /tmp/evil.html; PLAINSIGHT_LAB={W}-02 timeout 10 plainsight inject --ad /tmp/evil.html --duration 3"
        ),
        &["intercepting"],
    );
    refused(&room, "finding the bots and sites", "pgrep -f 'workshop bot|plainsight site'", &[]);
    refused(&room, "signalling the sandbox's init", "kill -9 1", &[]);
    let procs = me.ok("ls /proc | grep -c '^[0-9]'");
    assert!(procs.trim().parse::<u32>().unwrap() < 10, "participant 1 sees {procs} processes");
    // Their own IPC namespace: no System V or POSIX IPC shared with the machine.
    let ipc = me.ok("readlink /proc/self/ns/ipc");
    assert_ne!(
        ipc.trim(),
        std::fs::read_link("/proc/self/ns/ipc").unwrap().to_string_lossy(),
        "the sandbox shares the machine's IPC namespace"
    );
    // Setting foot in another namespace, by any path.
    refused(&room, "setns by /run/netns", &format!("nsenter --net=/run/netns/{W}-02-intruder ip link"), &["wan0"]);
    refused(&room, "setns into their own guest host", &format!("nsenter --net=/run/netns/{W}-01-guest ip link"), &[]);
    refused(
        &room,
        "setns by /proc",
        "for n in /proc/[0-9]*/ns/net; do nsenter --net=$n true && exit 0; done; exit 1",
        &[],
    );
    refused(
        &room,
        "a user namespace to lift the hiding",
        &format!("unshare -Urm sh -c 'umount -l /run/plainsight-workshop; cat /run/plainsight-workshop/{W}/key'"),
        &[key.trim()],
    );
    // The machine's own files, network and kernel.
    refused(&room, "the machine's shadow file", "head -2 /etc/shadow", &["root:"]);
    // (No packet leaves: the lab's gateway has no route beyond its two documentation ranges.)
    refused(&room, "the machine's network", "ip route get 1.1.1.1", &[]);
    refused(
        &room,
        "the machine's sshd through loopback",
        &format!("curl -sS -m 3 telnet://127.0.0.1:{}", me.port),
        &["SSH-2.0"],
    );
    refused(
        &room,
        "a kernel module",
        "modprobe dummy || insmod /lib/modules/$(uname -r)/kernel/drivers/net/dummy.ko",
        &[],
    );
    refused(&room, "a mount", "mkdir -p /tmp/m && mount -t tmpfs none /tmp/m", &[]);
    // SSH gives nothing beside the sandbox: no forwarding, and SFTP runs inside it.
    let forward =
        me.ssh(true, &["-W", &format!("127.0.0.1:{}", me.port)]).stdin(std::process::Stdio::null()).output().unwrap();
    assert!(
        !forward.status.success() && !String::from_utf8_lossy(&forward.stdout).contains("SSH-2.0"),
        "stdio forwarding through the workshop's sshd worked"
    );
    let sftp = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("printf 'get /run/plainsight/sandbox.json {dir}/sftp-marker\\nget /run/plainsight-workshop/{W}/key {dir}/sftp-key\\n' | sshpass -p '{}' sftp {} -P {} {}@127.0.0.1", me.password, common::room::SSH_OPTIONS.join(" "), me.port, me.user, dir = env!("CARGO_TARGET_TMPDIR")))
        .output()
        .unwrap();
    // The marker exists only inside the sandbox: SFTP reads the sandbox, not the machine.
    let marker = std::fs::read_to_string(format!("{}/sftp-marker", env!("CARGO_TARGET_TMPDIR"))).unwrap_or_default();
    assert!(marker.contains(&format!("{W}-01")), "sftp did not run in the sandbox: {sftp:?}");
    assert!(
        !std::path::Path::new(&format!("{}/sftp-key", env!("CARGO_TARGET_TMPDIR"))).exists(),
        "sftp fetched the workshop key: {sftp:?}"
    );

    // A flood of connections to the checker: refused past 16, and the room goes on.
    let flood = "import socket, json\nheld = []\nrefused = 0\nfor i in range(40):\n    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)\n    s.connect('/run/plainsight/workshop.sock')\n    held.append(s)\nfor s in held[-4:]:\n    s.settimeout(5)\n    try:\n        if 'too many' in json.loads(s.recv(65536))['err']:\n            refused += 1\n    except Exception:\n        pass\nprint('holding', len(held), 'refused', refused, flush=True)\nimport time; time.sleep(30)\n";
    me.ok(&format!("cat > /tmp/flood.py <<'EOF'\n{flood}EOF"));
    let mut holder = me.spawn("python3 /tmp/flood.py");
    let turned_away = holder.until(Duration::from_secs(20), "the flood's connections", |l| {
        l.strip_prefix("holding 40 refused ").map(str::to_string)
    });
    assert_eq!(turned_away, "4", "the gate took more than 16 connections from one participant");
    assert!(
        room.login(2).ok("plainsight workshop progress").contains("password"),
        "participant 2's checker did not answer during participant 1's flood"
    );
    drop(holder);
    // The flood's script ends with its login's hang-up; until it has, its connections still
    // count against participant 1, and a new login of theirs is turned away.
    common::wait_until("participant 1's flood to end", || me.run("true").status.success());

    // The limits: processes and memory.
    let forks = me.ok("python3 -c '\nimport os, time\nn = 0\nfor i in range(400):\n    try:\n        if os.fork() == 0:\n            time.sleep(5); os._exit(0)\n        n += 1\n    except OSError:\n        break\nprint(n)' 2>/dev/null | tail -1");
    let forks: u32 = forks.trim().parse().unwrap_or_else(|_| panic!("{forks}"));
    assert!(forks < 64, "participant 1 started {forks} processes with a limit of 64");
    refused(
        &room,
        "more memory than the limit",
        "python3 -c 'b = bytearray(512 * 1024 * 1024); print(len(b))'",
        &["536870912"],
    );

    // Their own lab works: they sniff their own bot.
    let mine = solve_password(me);

    // A bot that died: `workshop status` says so (exit 1), and showing the exercise again
    // starts it.
    let bot_pid = std::fs::read_to_string(format!("/run/plainsight/{W}-02/bot.pid")).unwrap();
    let _ = std::process::Command::new("kill").arg(bot_pid.trim()).status();
    common::wait_until("the bot's end", || {
        !std::path::Path::new(&format!("/proc/{}", bot_pid.trim())).exists()
            || std::fs::read_to_string(format!("/proc/{}/stat", bot_pid.trim())).is_ok_and(|s| s.contains(") Z"))
    });
    let status = common::ps(&["workshop", "status", "--name", W]);
    assert_eq!(
        status.status.code(),
        Some(1),
        "workshop status with a dead bot: {}",
        String::from_utf8_lossy(&status.stdout)
    );
    assert!(String::from_utf8_lossy(&status.stdout).contains("bot NOT running"));

    // And participant 2, after all that, still solves their exercise.
    let theirs = solve_password(room.login(2));
    assert_ne!(mine, theirs);
    let status = common::ps(&["workshop", "status", "--name", W]);
    assert_eq!(status.status.code(), Some(0), "workshop status: {}", String::from_utf8_lossy(&status.stdout));

    // workshop down leaves no account, sshd, cgroup, sandbox or namespace.
    drop(room);
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    assert!(!passwd.contains(&format!("ps-{W}-")), "accounts left");
    let cgroups: Vec<String> = ["/sys/fs/cgroup/pids", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/cpu", "/sys/fs/cgroup"]
        .iter()
        .map(|d| format!("{d}/plainsight-{W}"))
        .filter(|d| std::path::Path::new(d).exists())
        .collect();
    assert!(cgroups.is_empty(), "cgroups left: {cgroups:?}");
    let procs = std::process::Command::new("pgrep")
        .args(["-a", "-f", "--", &format!("--name {W}|plainsight-workshop/{W}/")])
        .output()
        .unwrap();
    assert!(procs.stdout.is_empty(), "processes left: {}", String::from_utf8_lossy(&procs.stdout));
    let netns =
        String::from_utf8_lossy(&std::process::Command::new("ip").args(["netns", "list"]).output().unwrap().stdout)
            .into_owned();
    assert!(!netns.contains(W), "namespaces left: {netns}");
    assert!(!std::path::Path::new(&format!("/run/plainsight-workshop/{W}")).exists());
    let _ = std::fs::remove_dir_all(format!("/var/lib/plainsight/{W}"));
}

/// `--ssh-keys DIR`: participants log in with their own keys, and passwords are refused.
#[test]
fn participants_log_in_with_their_own_keys() {
    const K: &str = "pstest-keys";
    if !common::room::available("the SSH keys test") {
        return;
    }
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ssh-keys");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("laptop-1");
    let made = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(made.success());
    std::fs::copy(dir.join("laptop-1.pub"), dir.join("1.pub")).unwrap();
    let keys = dir.to_str().unwrap();
    let room = Room::up(K, 1, &["--ssh-keys", keys]);
    let me = room.login(1);
    assert!(me.password.is_empty(), "a password was handed out with --ssh-keys");
    let ssh = |extra: &[&str]| {
        let mut args = vec!["-o", "BatchMode=yes"];
        args.extend_from_slice(extra);
        me.ssh(false, &args).arg("echo $PLAINSIGHT_LAB").stdin(std::process::Stdio::null()).output().unwrap()
    };
    let with_key = ssh(&["-i", key.to_str().unwrap(), "-o", "IdentitiesOnly=yes"]);
    assert_eq!(
        String::from_utf8_lossy(&with_key.stdout).trim(),
        format!("{K}-01"),
        "{}",
        String::from_utf8_lossy(&with_key.stderr)
    );
    let without = ssh(&["-o", "PubkeyAuthentication=no"]);
    assert!(!without.status.success(), "a login without the key was let in");
    drop(room);
    let _ = std::fs::remove_dir_all(format!("/var/lib/plainsight/{K}"));
}

//! A participant's sandbox: what a participant's shell can reach on the trainer's machine.
//!
//! Start from nothing and add what the exercises need. Participant P of workshop W has a
//! Unix account of their own ([`Account`]) and one sandbox for the whole workshop, kept by
//! a *holder* process that the gate starts ([`holder`]):
//!
//! - the network namespace of their lab's gateway (`W-0P-intruder`); a session may ask for
//!   the fellow guest's (`W-0P-guest`) instead;
//! - a PID namespace of its own (the holder is its init): they see and signal only their
//!   own processes, which outlive a logout and die with the workshop; an IPC namespace of
//!   its own (no System V or POSIX message queue or shared memory shared with anyone);
//! - a mount namespace of its own: `/run/plainsight` is an empty tmpfs holding only their
//!   lab's public files (the lab CA and site certificates, their handed-out capture), the
//!   plainsight binary and the checker's socket; the workshop's key and accounts, the
//!   progress database, the bots' personas, the site's private keys and TLS key log and
//!   every other lab's state are simply absent; `/run/netns` holds their own two hosts
//!   only; `/home` holds only their own (writable) home; `/tmp`, `/var/tmp` and `/dev/shm`
//!   are their own;
//! - cgroup limits on memory, processes and CPU ([`Cgroup`]): v2 where the machine has its
//!   controllers, the v1 hierarchies otherwise;
//! - a session ([`session`]) enters those namespaces as root, then runs the shell through
//!   util-linux `setpriv`: the participant's uid and gid, no supplementary groups, only
//!   CAP_NET_RAW and CAP_NET_ADMIN (inheritable, ambient and the whole bounding set), and
//!   no_new_privs, so no setuid program gives anything back.
//!
//! Why these tools: namespaces and mounts by hand with the `nix` crate (bubblewrap 0.8
//! refuses to start when its caller holds capabilities, and the holder must be root to
//! join a lab's network namespace); the last step, from root to a user with two ambient
//! capabilities, with `setpriv`, which does exactly that and nothing else; cgroups by
//! writing their files, as `systemd-run` is not there on a machine without systemd.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, setns, unshare};
use nix::unistd::{ForkResult, fork};

use super::Workshop;
use crate::lab::{Host, Lab};

/// Inside a sandbox: who it belongs to (written by the holder, root-owned).
pub const MARKER: &str = crate::lab::run::SANDBOX_MARKER;
/// Inside a sandbox: the checker's socket (the gate's, bound in).
pub const SOCKET: &str = "/run/plainsight/workshop.sock";
/// Inside a sandbox: the folder of the plainsight binary, first on the PATH.
const BIN_DIR: &str = "/run/plainsight/bin";

/// A participant's Unix account.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Account {
    pub participant: u16,
    pub user: String,
    pub uid: u32,
    pub gid: u32,
    /// The SSH password, when the workshop takes SSH logins by password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// What the holder writes at [`MARKER`]: the sandbox's owner, as the commands inside read it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Marker {
    pub workshop: String,
    pub participant: u16,
    pub lab: String,
    pub user: String,
}

impl Marker {
    /// The marker of the sandbox this process runs in, if it runs in one.
    pub fn here() -> Option<Marker> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::symlink_metadata(MARKER).ok()?;
        // Root wrote it: a participant cannot make their own.
        if meta.uid() != 0 || !meta.is_file() {
            return None;
        }
        serde_json::from_slice(&std::fs::read(MARKER).ok()?).ok()
    }
}

/// The account name of participant `p`: `ps-W-NN` (a letter first, as useradd wants; the
/// number last, so two workshops never share a name).
pub fn user_name(ws: &Workshop, p: u16) -> String {
    format!("ps-{}-{p:02}", ws.name)
}

/// Where participant `p`'s home lives on the machine (inside the sandbox: `/home/USER`).
pub fn home_dir(ws: &Workshop, p: u16) -> PathBuf {
    ws.data_dir().join("home").join(format!("{p:02}"))
}

/// The accounts of a workshop that is up (empty when none were made).
pub fn accounts(ws: &Workshop) -> Vec<Account> {
    std::fs::read(accounts_path(ws)).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
}

fn accounts_path(ws: &Workshop) -> PathBuf {
    ws.dir().join("accounts.json")
}

fn uid_gid(user: &str) -> Option<(u32, u32)> {
    let u = nix::unistd::User::from_name(user).ok()??;
    Some((u.uid.as_raw(), u.gid.as_raw()))
}

/// Creates (or finds) the accounts of participants 1..=n: no password (`passwords`
/// false: no login but through `workshop shell`), or a random one each. Their login home
/// is a root-owned empty folder, so nothing a participant writes runs at their next login.
pub fn create_accounts(ws: &Workshop, n: u16, passwords: bool) -> anyhow::Result<Vec<Account>> {
    let old = accounts(ws);
    let login_home = ws.public_dir().join("home");
    std::fs::create_dir_all(&login_home)?;
    let mut out = Vec::new();
    for p in 1..=n {
        let user = user_name(ws, p);
        if uid_gid(&user).is_none() {
            let st = std::process::Command::new("useradd")
                .args([
                    "--no-create-home",
                    "--user-group",
                    "--shell",
                    "/bin/bash",
                    "--comment",
                    &format!("plainsight workshop {} participant {p}", ws.name),
                    "--home-dir",
                ])
                .arg(&login_home)
                .arg(&user)
                .output()
                .context("running useradd (install passwd)")?;
            if !st.status.success() {
                bail!("useradd {user}: {}", String::from_utf8_lossy(&st.stderr).trim());
            }
        }
        let (uid, gid) = uid_gid(&user).with_context(|| format!("account {user} was not created"))?;
        let previous = old.iter().find(|a| a.participant == p).and_then(|a| a.password.clone());
        let password = match (passwords, previous) {
            (false, _) => None,
            (true, Some(pw)) => Some(pw),
            (true, None) => Some(random_password()),
        };
        set_password(&user, password.as_deref())?;
        let home = home_dir(ws, p);
        std::fs::create_dir_all(&home)?;
        nix::unistd::chown(&home, Some(nix::unistd::Uid::from_raw(uid)), Some(nix::unistd::Gid::from_raw(gid)))?;
        std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        out.push(Account { participant: p, user, uid, gid, password });
    }
    crate::lab::pki::write_file(&accounts_path(ws), &serde_json::to_string_pretty(&out)?, 0o600)?;
    Ok(out)
}

/// A password of 16 letters and digits (about 95 bits).
fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzACDEFGHJKLMNPQRTUVWXY345679";
    let mut b = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).expect("system randomness");
    b.iter().map(|x| ALPHABET[*x as usize % ALPHABET.len()] as char).collect()
}

/// Sets (or locks, with `None`) an account's password.
fn set_password(user: &str, password: Option<&str>) -> anyhow::Result<()> {
    use std::io::Write;
    let out = match password {
        Some(pw) => {
            let mut c = std::process::Command::new("chpasswd")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .context("running chpasswd")?;
            c.stdin.take().expect("piped").write_all(format!("{user}:{pw}\n").as_bytes())?;
            c.wait_with_output()?
        }
        None => std::process::Command::new("usermod").args(["--lock", user]).output().context("running usermod")?,
    };
    if !out.status.success() {
        bail!("setting the password of {user}: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

/// Removes the workshop's accounts (their processes first) and homes; returns how many.
pub fn remove_accounts(ws: &Workshop, n: u16) -> usize {
    let mut removed = 0;
    for p in 1..=n {
        let user = user_name(ws, p);
        if let Some((uid, _)) = uid_gid(&user) {
            kill_user(uid);
            let ok = std::process::Command::new("userdel").arg(&user).output().is_ok_and(|o| o.status.success());
            removed += usize::from(ok);
        }
        let _ = std::fs::remove_dir_all(home_dir(ws, p));
    }
    let _ = std::fs::remove_dir_all(ws.data_dir().join("home"));
    let _ = std::fs::remove_file(accounts_path(ws));
    removed
}

/// Kills every process of `uid` (a sandbox's, should one have outlived its holder).
fn kill_user(uid: u32) {
    use std::os::unix::fs::MetadataExt;
    let pids: Vec<i32> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            (e.metadata().ok()?.uid() == uid).then_some(pid)
        })
        .collect();
    for pid in pids {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
}

/// Resource limits of one participant's sandbox.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    pub memory_mb: u64,
    pub processes: u32,
    /// Percent of one CPU at most (100: one core).
    pub cpu_percent: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { memory_mb: 1024, processes: 256, cpu_percent: 100 }
    }
}

/// One participant's cgroup: a folder in the v2 hierarchy, or one in each v1 controller's.
#[derive(Debug, Clone)]
pub struct Cgroup {
    dirs: Vec<PathBuf>,
}

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Whether the machine's cgroup v2 hierarchy at `/sys/fs/cgroup` has the controllers.
fn v2_controllers() -> bool {
    std::fs::read_to_string(Path::new(CGROUP_ROOT).join("cgroup.controllers"))
        .is_ok_and(|c| ["memory", "pids", "cpu"].iter().all(|w| c.split_whitespace().any(|x| x == *w)))
}

impl Cgroup {
    /// Participant `p`'s cgroup (its folders may not exist yet).
    pub fn of(ws: &Workshop, p: u16) -> Cgroup {
        let leaf = format!("plainsight-{}/{p:02}", ws.name);
        if v2_controllers() {
            return Cgroup { dirs: vec![Path::new(CGROUP_ROOT).join(leaf)] };
        }
        Cgroup { dirs: ["pids", "memory", "cpu"].iter().map(|c| Path::new(CGROUP_ROOT).join(c).join(&leaf)).collect() }
    }

    /// Creates the folders and writes the limits.
    pub fn create(&self, limits: Limits) -> anyhow::Result<()> {
        let write = |dir: &Path, file: &str, value: String| -> anyhow::Result<()> {
            std::fs::write(dir.join(file), &value)
                .with_context(|| format!("writing {value} to {}", dir.join(file).display()))
        };
        let memory = limits.memory_mb * 1024 * 1024;
        let quota = 100_000 * u64::from(limits.cpu_percent) / 100;
        if v2_controllers() {
            let dir = &self.dirs[0];
            let parent = dir.parent().expect("a leaf has a parent");
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
            // Delegate the controllers from the top down to the workshop's folder.
            for d in [Path::new(CGROUP_ROOT), parent] {
                let _ = std::fs::write(d.join("cgroup.subtree_control"), "+memory +pids +cpu");
            }
            std::fs::create_dir_all(dir)?;
            write(dir, "memory.max", memory.to_string())?;
            let _ = write(dir, "memory.swap.max", "0".into());
            write(dir, "pids.max", limits.processes.to_string())?;
            write(dir, "cpu.max", format!("{quota} 100000"))?;
            return Ok(());
        }
        if self.dirs.iter().any(|d| !d.parent().and_then(Path::parent).is_some_and(Path::is_dir)) {
            bail!(
                "this machine has neither cgroup v2 controllers nor the v1 pids, memory and cpu hierarchies under {CGROUP_ROOT}: the sandboxes need them to bound each participant"
            );
        }
        for d in &self.dirs {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        }
        write(&self.dirs[0], "pids.max", limits.processes.to_string())?;
        write(&self.dirs[1], "memory.limit_in_bytes", memory.to_string())?;
        // Memory and swap together, where the kernel accounts swap: no way around the limit.
        if self.dirs[1].join("memory.memsw.limit_in_bytes").exists() {
            write(&self.dirs[1], "memory.memsw.limit_in_bytes", memory.to_string())?;
        }
        write(&self.dirs[2], "cpu.cfs_period_us", "100000".into())?;
        write(&self.dirs[2], "cpu.cfs_quota_us", quota.to_string())?;
        write(&self.dirs[2], "cpu.shares", "1024".into())?;
        Ok(())
    }

    /// Moves the calling process into the cgroup (its children follow).
    pub fn enter(&self) -> anyhow::Result<()> {
        for d in &self.dirs {
            std::fs::write(d.join("cgroup.procs"), std::process::id().to_string())
                .with_context(|| format!("joining {}", d.display()))?;
        }
        Ok(())
    }

    /// Processes in the cgroup now.
    pub fn processes(&self) -> usize {
        self.dirs
            .iter()
            .map(|d| std::fs::read_to_string(d.join("cgroup.procs")).map(|s| s.lines().count()).unwrap_or(0))
            .max()
            .unwrap_or(0)
    }

    /// Removes the folders, once the processes in them are gone (waits up to 5 s).
    pub fn remove(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while self.processes() > 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        for d in &self.dirs {
            let _ = std::fs::remove_dir(d);
            if let Some(parent) = d.parent() {
                // The workshop's folder, once its last participant is gone.
                let _ = std::fs::remove_dir(parent);
            }
        }
    }

    /// The folders (for tests and `workshop down`'s report).
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }
}

/// The files of a lab a participant may read, copied into their sandbox's state folder.
const PUBLIC_FILES: [&str; 3] = ["ca.pem", "site.pem", "handout.pcap"];

/// `workshop holder`: makes participant `p`'s sandbox and stays its init. Runs as root,
/// single-threaded (a fresh process). Prints `ready PID` (the init's pid on the machine)
/// once the sandbox is made; ends when killed, and its sandbox with it.
pub fn holder(ws: &Workshop, p: u16, account: &Account, gate_socket: &Path) -> anyhow::Result<()> {
    let lab = ws.lab(p);
    Cgroup::of(ws, p).enter()?;
    // What the sandbox gets from the machine, read before it is hidden.
    let public: Vec<(&str, Vec<u8>)> =
        PUBLIC_FILES.iter().filter_map(|f| Some((*f, std::fs::read(lab.state_dir().join(f)).ok()?))).collect();
    let nets: Vec<(String, OwnedFd)> = [Host::Intruder, Host::Guest]
        .iter()
        .map(|h| {
            let path = Path::new("/run/netns").join(lab.ns(*h));
            std::fs::File::open(&path)
                .map(|f| (lab.ns(*h), OwnedFd::from(f)))
                .with_context(|| format!("lab {} has no {} host", lab.name, h.as_str()))
        })
        .collect::<anyhow::Result<_>>()?;
    let resolv = std::fs::read(Path::new("/etc/netns").join(lab.ns(Host::Intruder)).join("resolv.conf")).ok();
    let exe = std::env::current_exe()?;
    setns(&nets[0].1, CloneFlags::CLONE_NEWNET).context("entering the lab's gateway")?;
    unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWIPC)
        .context("making the sandbox's namespaces")?;
    // Nothing mounted here reaches the machine's mount namespace.
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)?;
    let (ready_r, ready_w) = nix::unistd::pipe()?;
    // SAFETY: this process is single-threaded (a fresh exec), so the child may do anything.
    match unsafe { fork() }? {
        ForkResult::Child => {
            drop(ready_r);
            // SAFETY: prctl with constant arguments; ends the init (and the sandbox) if the
            // holder is killed.
            unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
            let made = make_mounts(ws, &lab, account, &public, &nets, resolv.as_deref(), &exe, gate_socket);
            let code = match made {
                Ok(()) => {
                    let _ = nix::unistd::write(&ready_w, b"1");
                    drop(ready_w);
                    reap_forever()
                }
                Err(e) => {
                    eprintln!("plainsight: making the sandbox of participant {p}: {e:#}");
                    1
                }
            };
            std::process::exit(code);
        }
        ForkResult::Parent { child } => {
            drop(ready_w);
            let mut b = [0u8; 1];
            let n = nix::unistd::read(&ready_r, &mut b).unwrap_or(0);
            if n != 1 {
                bail!("the sandbox of participant {p} was not made (see above)");
            }
            println!("ready {child}");
            use std::io::Write;
            std::io::stdout().flush()?;
            let _ = nix::sys::wait::waitpid(child, None);
            Ok(())
        }
    }
}

/// The init of a sandbox: reaps every orphan until killed.
fn reap_forever() -> i32 {
    use nix::sys::signal::{SigSet, Signal};
    use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
    let mut set = SigSet::empty();
    set.add(Signal::SIGCHLD);
    let _ = set.thread_block();
    loop {
        while let Ok(s) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            if s == WaitStatus::StillAlive {
                break;
            }
        }
        let _ = set.wait();
    }
}

fn tmpfs(target: &str, mode: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(target).ok();
    mount(
        Some("tmpfs"),
        target,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(format!("mode={mode},size=256m").as_str()),
    )
    .with_context(|| format!("mounting a tmpfs on {target}"))
}

fn bind(source: &Path, target: &Path, read_only: bool) -> anyhow::Result<()> {
    mount(Some(source), target, None::<&str>, MsFlags::MS_BIND, None::<&str>)
        .with_context(|| format!("binding {} on {}", source.display(), target.display()))?;
    if read_only {
        mount(
            None::<&str>,
            target,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            None::<&str>,
        )?;
    }
    Ok(())
}

/// An empty file to bind something on.
fn mount_point(path: &Path) -> anyhow::Result<()> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn make_mounts(
    ws: &Workshop,
    lab: &Lab,
    account: &Account,
    public: &[(&str, Vec<u8>)],
    nets: &[(String, OwnedFd)],
    resolv: Option<&[u8]>,
    exe: &Path,
    gate_socket: &Path,
) -> anyhow::Result<()> {
    let none = None::<&str>;
    let hardened = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    // This PID namespace's processes only; this network namespace's interfaces.
    mount(Some("proc"), "/proc", Some("proc"), hardened, none).context("mounting /proc")?;
    mount(Some("sysfs"), "/sys", Some("sysfs"), hardened | MsFlags::MS_RDONLY, none).context("mounting /sys")?;
    let uid = nix::unistd::Uid::from_raw(account.uid);
    let gid = nix::unistd::Gid::from_raw(account.gid);
    // The homes: only theirs. Bound before /var/lib/plainsight is hidden.
    tmpfs("/home", "755")?;
    let home = Path::new("/home").join(&account.user);
    std::fs::create_dir_all(&home)?;
    bind(&home_dir(ws, account.participant), &home, false)?;
    // The plainsight state: only this lab's public files, in a folder they may write to
    // (`fingerprint learn` keeps its model there, `inject` its CA).
    tmpfs("/run/plainsight", "755")?;
    let state = lab.state_dir();
    std::fs::create_dir_all(&state)?;
    for (name, bytes) in public {
        std::fs::write(state.join(name), bytes)?;
        std::fs::set_permissions(state.join(name), std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
    }
    nix::unistd::chown(&state, Some(uid), Some(gid))?;
    let bin = Path::new(BIN_DIR).join("plainsight");
    mount_point(&bin)?;
    bind(exe, &bin, true)?;
    mount_point(Path::new(SOCKET))?;
    bind(gate_socket, Path::new(SOCKET), false)?;
    let marker = Marker {
        workshop: ws.name.clone(),
        participant: account.participant,
        lab: lab.name.clone(),
        user: account.user.clone(),
    };
    crate::lab::pki::write_file(Path::new(MARKER), &serde_json::to_string_pretty(&marker)?, 0o644)?;
    crate::lab::pki::write_file(&Path::new("/run/plainsight").join("bashrc"), &bashrc(&lab.name), 0o644)?;
    // Their two hosts' namespaces, by the names `plainsight` looks for.
    tmpfs("/run/netns", "755")?;
    for (name, fd) in nets {
        let target = Path::new("/run/netns").join(name);
        mount_point(&target)?;
        bind(&PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd())), &target, false)?;
    }
    // Everything else of the workshops and the labs: gone.
    for hidden in ["/run/plainsight-workshop", "/var/lib/plainsight", "/etc/netns", "/run/sshd", "/root"] {
        if Path::new(hidden).is_dir() {
            tmpfs(hidden, "755")?;
        }
    }
    if let Some(r) = resolv {
        let target = Path::new("/run/plainsight/resolv.conf");
        std::fs::write(target, r)?;
        bind(target, Path::new("/etc/resolv.conf"), true)?;
    }
    for private in ["/tmp", "/var/tmp", "/dev/shm", "/run/lock"] {
        if Path::new(private).is_dir() {
            tmpfs(private, "1777")?;
        }
    }
    Ok(())
}

/// The shell's start-up file: Debian's, then a prompt that says where they are.
fn bashrc(lab: &str) -> String {
    format!(
        "[ -f /etc/bash.bashrc ] && . /etc/bash.bashrc\n[ -f ~/.bashrc ] && . ~/.bashrc\nPS1='[{lab} '\"$PLAINSIGHT_HOST\"'] \\w\\$ '\n"
    )
}

/// `workshop session`: one login into participant `p`'s sandbox, on `host`, with this
/// process's standard streams (the participant's terminal, passed by the gate). Runs as
/// root; the shell it starts does not. Returns the shell's exit code.
pub fn session(
    ws: &Workshop,
    p: u16,
    account: &Account,
    holder_pid: i32,
    host: Host,
    command: Option<&str>,
    term: Option<&str>,
) -> anyhow::Result<i32> {
    if !matches!(host, Host::Intruder | Host::Guest) {
        bail!("a participant's shell runs on their lab's intruder or guest host, not {}", host.as_str());
    }
    let lab = ws.lab(p);
    let open = |what: &str| {
        std::fs::File::open(format!("/proc/{holder_pid}/ns/{what}"))
            .with_context(|| format!("the sandbox of participant {p} is gone"))
    };
    let (pid_ns, mnt_ns, ipc_ns) = (open("pid")?, open("mnt")?, open("ipc")?);
    let net = std::fs::File::open(Path::new("/run/netns").join(lab.ns(host)))
        .with_context(|| format!("lab {} has no {} host", lab.name, host.as_str()))?;
    Cgroup::of(ws, p).enter()?;
    setns(&net, CloneFlags::CLONE_NEWNET)?;
    setns(&pid_ns, CloneFlags::CLONE_NEWPID)?;
    setns(&ipc_ns, CloneFlags::CLONE_NEWIPC)?;
    setns(&mnt_ns, CloneFlags::CLONE_NEWNS)?;
    std::env::set_current_dir("/")?;
    let home = Path::new("/home").join(&account.user);
    let mut cmd = std::process::Command::new("setpriv");
    cmd.args(["--reuid", &account.uid.to_string(), "--regid", &account.gid.to_string(), "--clear-groups"])
        .args([
            "--inh-caps=-all,+net_raw,+net_admin",
            "--ambient-caps=+net_raw,+net_admin",
            "--bounding-set=-all,+net_raw,+net_admin",
            "--no-new-privs",
            "--",
        ])
        .arg("/bin/bash");
    match command {
        Some(c) if c.split_whitespace().next().is_some_and(|w| w.ends_with("sftp-server")) => {
            cmd.args(["-c", "exec /usr/lib/openssh/sftp-server"]);
        }
        Some(c) => {
            cmd.args(["-c", c]);
        }
        // A terminal: an interactive shell. Commands on standard input (a here-document):
        // read them without prompts.
        None if nix::unistd::isatty(std::io::stdin()).unwrap_or(false) => {
            cmd.args(["--rcfile", "/run/plainsight/bashrc", "-i"]);
        }
        None => {
            cmd.arg("-s");
        }
    }
    let path = format!("{BIN_DIR}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    cmd.env_clear()
        .env("HOME", &home)
        .env("USER", &account.user)
        .env("LOGNAME", &account.user)
        .env("SHELL", "/bin/bash")
        .env("PATH", path)
        .env("LANG", "C.UTF-8")
        .env("PLAINSIGHT_LAB", &lab.name)
        .env("PLAINSIGHT_HOST", host.as_str())
        .env(
            "TERM",
            term.filter(|t| t.len() < 64 && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'))
                .unwrap_or("xterm"),
        )
        .current_dir(if home.is_dir() { home.clone() } else { PathBuf::from("/") });
    // SAFETY: this process is single-threaded (a fresh exec); the child only calls
    // async-signal-safe functions before exec.
    match unsafe { fork() }? {
        ForkResult::Child => {
            use std::os::unix::process::CommandExt;
            // A session of its own, with the participant's terminal as its controlling one.
            let _ = nix::unistd::setsid();
            // SAFETY: ioctl on our own standard input; fails harmlessly when it is no tty.
            unsafe { libc::ioctl(0, libc::TIOCSCTTY, 1) };
            let err = cmd.exec();
            eprintln!("plainsight: starting the shell: {err}");
            std::process::exit(127);
        }
        ForkResult::Parent { child } => loop {
            match nix::sys::wait::waitpid(child, None) {
                Ok(nix::sys::wait::WaitStatus::Exited(_, c)) => return Ok(c),
                Ok(nix::sys::wait::WaitStatus::Signaled(_, s, _)) => return Ok(128 + s as i32),
                Ok(_) => continue,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_names_never_collide_between_workshops() {
        let a = Workshop::new("w").unwrap();
        let b = Workshop::new("w-01").unwrap();
        let names_a: Vec<String> = (1..=99).map(|p| user_name(&a, p)).collect();
        for p in 1..=99 {
            assert!(!names_a.contains(&user_name(&b, p)), "{}", user_name(&b, p));
        }
        assert_eq!(user_name(&a, 3), "ps-w-03");
        // useradd's rule: a letter first, at most 32 characters.
        let long = Workshop::new("a-very-long-name1").unwrap();
        assert!(user_name(&long, 99).len() <= 32);
    }

    #[test]
    fn passwords_are_long_and_differ() {
        let a = random_password();
        assert_eq!(a.len(), 16);
        assert_ne!(a, random_password());
    }

    #[test]
    fn a_marker_reads_back() {
        let m = Marker { workshop: "w".into(), participant: 2, lab: "w-02".into(), user: "ps-w-02".into() };
        let back: Marker = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(back.participant, 2);
    }
}

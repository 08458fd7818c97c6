//! Carrying out the lab plan: `lab up`, `down`, `status`, `doctor`, `exec`, with the `ip`
//! command (iproute2). Everything is found again by name, so `down` works after a crash
//! or a `kill -9`, and `up` twice is harmless.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

use super::{Host, Lab, SITE_NAME};
use crate::lab::pki;

/// Whether this process may build namespaces (root; CAP_NET_ADMIN alone is not enough
/// for `ip netns add`, which also mounts).
pub fn privileged() -> bool {
    nix::unistd::geteuid().is_root()
}

fn ip(args: &[String]) -> anyhow::Result<()> {
    let out = Command::new("ip").args(args).output().context("running ip (install iproute2)")?;
    if !out.status.success() {
        bail!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

/// Namespaces of this lab that exist now.
pub fn existing(lab: &Lab) -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output();
    let text = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    let wanted: Vec<String> = Host::ALL.iter().map(|h| lab.ns(*h)).collect();
    text.lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| wanted.iter().any(|w| w == n))
        .map(str::to_string)
        .collect()
}

/// Pids of the processes living in a namespace.
pub fn pids(ns: &str) -> Vec<i32> {
    let out = Command::new("ip").args(["netns", "pids", ns]).output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).split_whitespace().filter_map(|p| p.parse().ok()).collect())
        .unwrap_or_default()
}

fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// The parent of a process, from /proc.
fn parent(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: fields after its closing parenthesis.
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
}

/// Inside a workshop participant's sandbox, a root-owned file there says so
/// (`crate::workshop::sandbox`): the lab's namespaces and processes are out of sight.
pub const SANDBOX_MARKER: &str = "/run/plainsight/sandbox.json";

/// Whether this process runs in a workshop participant's sandbox (not as root).
pub fn in_sandbox() -> bool {
    use std::os::unix::fs::MetadataExt;
    !privileged() && std::fs::symlink_metadata(SANDBOX_MARKER).is_ok_and(|m| m.is_file() && m.uid() == 0)
}

/// Whether the lab is complete and its site is serving.
pub fn is_up(lab: &Lab) -> bool {
    existing(lab).len() == Host::ALL.len()
        && lab.state_dir().join("site.ready").exists()
        && !pids(&lab.ns(Host::Site)).is_empty()
}

/// Builds the lab and starts its site and DNS resolver. Harmless when already up;
/// leftovers of a crashed lab are removed first.
pub fn up(lab: &Lab, site_args: &[String]) -> anyhow::Result<()> {
    if is_up(lab) {
        // Already up: the site takes the settings asked for now.
        restart_site(lab, site_args)?;
        println!("lab {} was already up; its site restarted with these settings", lab.name);
        return Ok(());
    }
    if !existing(lab).is_empty() {
        down(lab)?;
    }
    let result = build(lab, site_args);
    if result.is_err() {
        let _ = down(lab);
    }
    result
}

fn build(lab: &Lab, site_args: &[String]) -> anyhow::Result<()> {
    for cmd in lab.plan_up() {
        ip(&cmd)?;
    }
    for (ns, kv) in lab.plan_sysctls() {
        let out = super::command_in_ns(&ns, "sysctl").args(["-qw", kv]).output().context("sysctl")?;
        if !out.status.success() && kv.contains("ip_forward") {
            bail!("sysctl {kv} in {ns}: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
    }
    // Name resolution for real tools run with `lab exec` (ip netns exec bind-mounts it).
    for h in [Host::Visitor, Host::Guest, Host::Intruder] {
        let dir = Path::new("/etc/netns").join(lab.ns(h));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        std::fs::write(dir.join("resolv.conf"), format!("nameserver {}\n", super::SITE))?;
    }
    write_pki(lab)?;
    start_site(lab, site_args)
}

/// Makes the state directory with a fresh lab CA and the site's certificate.
pub fn write_pki(lab: &Lab) -> anyhow::Result<()> {
    let state = lab.state_dir();
    std::fs::create_dir_all(&state).with_context(|| format!("creating {}", state.display()))?;
    std::fs::set_permissions(&state, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let ca = pki::Ca::generate(&format!("plainsight lab CA ({})", lab.name))?;
    let leaf = ca.issue(&[SITE_NAME, &format!("www.{SITE_NAME}"), &format!("*.{SITE_NAME}")])?;
    pki::write_file(&state.join("ca.pem"), &ca.cert_pem, 0o644)?;
    pki::write_file(&state.join("ca.key"), &ca.key_pem(), 0o600)?;
    pki::write_file(&state.join("site.pem"), &leaf.cert_pem, 0o644)?;
    pki::write_file(&state.join("site.key"), &leaf.key_pem, 0o600)?;
    Ok(())
}

/// Waits until the site (just started) serves: it writes `site.ready`.
pub fn wait_site_ready(lab: &Lab) -> anyhow::Result<()> {
    let state = lab.state_dir();
    let ready = state.join("site.ready");
    static NEVER: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    super::proc::wait_ready("the site", Duration::from_secs(10), &NEVER, || ready.exists())
        .with_context(|| format!("see {}", state.join("site.log").display()))
}

/// The arguments that start the site role on the lab's state.
pub fn site_args(lab: &Lab, flags: &[String]) -> Vec<String> {
    let mut args = vec!["site".to_string(), "--state".into(), lab.state_dir().display().to_string()];
    args.extend_from_slice(flags);
    args
}

/// Starts the site role and waits until it serves.
fn start_site(lab: &Lab, site_flags: &[String]) -> anyhow::Result<()> {
    let _ = std::fs::remove_file(lab.state_dir().join("site.ready"));
    spawn_role(lab, Host::Site, "site", &site_args(lab, site_flags))?;
    wait_site_ready(lab)
}

/// Starts `plainsight ARGS` in the background inside a host, logging to the state dir.
pub fn spawn_role(lab: &Lab, host: Host, role: &str, args: &[String]) -> anyhow::Result<u32> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe()?;
    let log = lab.state_dir().join(format!("{role}.log"));
    let mut cmd = lab.command_in(host, exe);
    cmd.args(args);
    // Its own session: a Ctrl-C in the terminal that ran `lab up` does not reach it, and it
    // outlives the command that started it (`lab down` stops it).
    // SAFETY: only setsid, async-signal-safe, between fork and exec.
    unsafe {
        cmd.pre_exec(|| nix::unistd::setsid().map(|_| ()).map_err(std::io::Error::from));
    }
    let child = super::proc::spawn_logged(cmd, role, &log, &log)?;
    std::fs::write(lab.state_dir().join(format!("{role}.pid")), child.id().to_string())?;
    Ok(child.id())
}

/// Removes everything `up` made: processes in the lab's namespaces, the namespaces, the
/// resolver files and the state directory.
pub fn down(lab: &Lab) -> anyhow::Result<()> {
    let namespaces = existing(lab);
    let mut procs: Vec<i32> = namespaces.iter().flat_map(|ns| pids(ns)).collect();
    procs.sort_unstable();
    procs.dedup();
    super::proc::terminate_pids(&procs, Duration::from_secs(2));
    for ns in &namespaces {
        ip(&["netns".into(), "del".into(), ns.clone()])?;
    }
    for h in Host::ALL {
        let _ = std::fs::remove_dir_all(Path::new("/etc/netns").join(lab.ns(h)));
    }
    let _ = std::fs::remove_dir_all(lab.state_dir());
    Ok(())
}

/// `lab status`: hosts, addresses, running roles, and the CA path.
pub fn status(lab: &Lab) -> String {
    let ns = existing(lab);
    if ns.is_empty() {
        return format!("lab {}: down\n", lab.name);
    }
    let mut s =
        format!("lab {}: {}\n", lab.name, if is_up(lab) { "up" } else { "partly up (run `lab down` or `lab up`)" });
    for h in [Host::Visitor, Host::Guest, Host::Intruder, Host::Site] {
        let name = lab.ns(h);
        if !ns.contains(&name) {
            s += &format!("  {:<9} missing\n", h.as_str());
            continue;
        }
        let addrs: Vec<String> = Lab::addresses(h).iter().map(|(i, a, p)| format!("{i} {a}/{p}")).collect();
        let roles: Vec<String> = pids(&name)
            .into_iter()
            .filter_map(|pid| {
                let c = cmdline(pid);
                let role = c.split_whitespace().skip_while(|w| !w.ends_with("plainsight")).nth(1)?.to_string();
                // A role whose starter is gone was reparented to init: nobody will stop it
                // but `lab down`. The site runs detached by design.
                Some(if role != "site" && parent(pid) == Some(1) {
                    format!("{role} (orphaned: what started it is gone)")
                } else {
                    role
                })
            })
            .collect();
        s += &format!(
            "  {:<9} {:<40} {}\n",
            h.as_str(),
            addrs.join(", "),
            if roles.is_empty() { String::new() } else { format!("running: {}", roles.join(", ")) }
        );
        if h == Host::Intruder && !roles.iter().any(|r| r.starts_with("inject")) {
            let tables = super::command_in_ns(&name, "nft")
                .args(["list", "tables"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            if tables.contains("plainsight_inject") {
                s += "            stale interception rules: table plainsight_inject with no inject running (`lab down` removes them)\n";
            }
        }
    }
    s += &format!("  lab CA: {}\n", lab.ca_pem().display());
    s
}

/// `lab doctor`: what the lab needs and how to get what is missing.
pub fn doctor() -> (String, bool) {
    let mut ok = true;
    let mut out = String::new();
    let mut check = |good: bool, what: &str, fix: &str| {
        out += &format!(
            "{} {what}{}\n",
            if good { "ok     " } else { "MISSING" },
            if good { String::new() } else { format!(": {fix}") }
        );
        ok &= good;
    };
    check(privileged(), "root (network namespaces need it)", "run it in a root shell");
    let has =
        |cmd: &str, arg: &str| Command::new(cmd).arg(arg).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
    check(has("ip", "-V"), "iproute2 (`ip`)", "apt-get install iproute2");
    check(
        Path::new("/proc/self/ns/net").exists(),
        "network namespace support in the kernel",
        "a kernel with CONFIG_NET_NS",
    );
    check(has("nft", "--version"), "nftables (`nft`, for the intruder's redirect rules)", "apt-get install nftables");
    let pcap = Command::new("ldconfig")
        .arg("-p")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("libpcap.so"))
        .unwrap_or(false);
    check(pcap, "libpcap (live capture)", "apt-get install libpcap0.8");
    check(has("sysctl", "-V"), "sysctl (forwarding inside the intruder's namespace)", "apt-get install procps");
    (out, ok)
}

/// This process is not in (and cannot get into) a host of a plainsight lab.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotInLab(String);

/// Puts this process in a lab host, before any thread starts: enters the host's network
/// namespace or, inside the lab's containers, checks that this container is that host.
pub fn be_in(lab: &Lab, host: Host) -> anyhow::Result<()> {
    if let Some(here) = super::container::this_host() {
        if here != host {
            return Err(NotInLab(format!("this container is the lab's {} host, not its {} host: run it there (docker compose exec {} plainsight ...)", here.as_str(), host.as_str(), host.as_str())).into());
        }
        return Ok(());
    }
    if !Path::new("/run/netns").join(lab.ns(host)).exists() {
        return Err(NotInLab(format!(
            "lab {} has no {} host (run `plainsight lab up`, or pass --outside-lab on a network you own)",
            lab.name,
            host.as_str()
        ))
        .into());
    }
    enter(lab, host)?;
    Ok(())
}

/// Moves this process into a host's network namespace, unless it is there already.
/// Returns whether it moved. Call before starting threads (a runtime).
pub fn enter(lab: &Lab, host: Host) -> anyhow::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let path = Path::new("/run/netns").join(lab.ns(host));
    let target = std::fs::metadata(&path)
        .with_context(|| format!("lab {} has no {} host (run `plainsight lab up`)", lab.name, host.as_str()))?;
    let current = std::fs::metadata("/proc/self/ns/net")?;
    if (target.dev(), target.ino()) == (current.dev(), current.ino()) {
        return Ok(false);
    }
    if !privileged() {
        // A participant's sandbox holds its network namespace for good: say where to go.
        return Err(NotInLab(format!(
            "this runs from the lab's {h} host, and this shell is on another one: log in to the {h} host (over SSH: `ssh -t USER@HOST @{h}`; from the trainer's machine: `plainsight workshop shell N --host {h}`)",
            h = host.as_str()
        ))
        .into());
    }
    let f = std::fs::File::open(&path)?;
    nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).with_context(|| format!("entering {}", lab.ns(host)))?;
    Ok(true)
}

/// Restarts the site with other options (redirect, HSTS, cookie flags), waiting until it serves.
pub fn restart_site(lab: &Lab, site_args: &[String]) -> anyhow::Result<()> {
    let state = lab.state_dir();
    if let Some(pid) = std::fs::read_to_string(state.join("site.pid")).ok().and_then(|p| p.trim().parse::<i32>().ok()) {
        super::proc::terminate_pids(&[pid], Duration::from_secs(3));
    }
    start_site(lab, site_args)
}

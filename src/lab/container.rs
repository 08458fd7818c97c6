//! The lab in containers (`lab/compose.yaml`): each container is one lab host, with the
//! namespace lab's addresses, and runs `plainsight lab host ROLE`. That process routes the
//! host through the intruder, then runs whatever the demo asks of this host, until the
//! demo says it is over.
//!
//! The demo (in the visitor's container) talks to the hosts through files on the volume
//! they share at `/run/plainsight`, never over the lab's networks, so its captures hold
//! only the visit:
//!
//! ```text
//! STATE/current                  id of the demo run now in charge
//! STATE/runs/ID/HOST.ready       the host follows run ID
//! STATE/runs/ID/jobs/HOST/N.job  {"argv": [...], "stdout": PATH, "stderr": PATH}
//! STATE/runs/ID/jobs/HOST/N.stop the demo wants job N stopped (SIGTERM, then SIGKILL)
//! STATE/runs/ID/jobs/HOST/N.exit its exit code, written by the host when it ended
//! STATE/runs/ID/shutdown         the run is over: hosts stop their jobs and exit
//! ```
//!
//! A fresh id per run means files left on the volume by an earlier run are never
//! mistaken for this one's.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use super::{GATEWAY_LAN, GATEWAY_WAN, Host};

/// Set by lab/compose.yaml in each container: the lab host that container is.
pub const ENV_HOST: &str = "PLAINSIGHT_LAB_HOST";

/// The hosts of the container lab (the intruder's LAN side also plays the fellow guest).
pub const HOSTS: [Host; 3] = [Host::Visitor, Host::Intruder, Host::Site];

const POLL: Duration = Duration::from_millis(20);

/// The lab host this process runs in, when it runs in one of the lab's containers.
pub fn this_host() -> Option<Host> {
    let v = std::env::var(ENV_HOST).ok()?;
    Host::ALL.into_iter().find(|h| h.as_str() == v.trim())
}

/// The interface holding an address, e.g. the intruder's LAN side.
pub fn interface_with(addr: Ipv4Addr) -> Option<String> {
    let addrs = nix::ifaddrs::getifaddrs().ok()?;
    for a in addrs {
        if let Some(sin) = a.address.as_ref().and_then(|s| s.as_sockaddr_in())
            && sin.ip() == addr
        {
            return Some(a.interface_name);
        }
    }
    None
}

/// One job, as the demo writes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobSpec {
    /// `plainsight ...` runs this very binary; anything else is found on PATH.
    pub argv: Vec<String>,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

/// Writes a file whole or not at all (a reader polling for it never sees half of it).
fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, path)
}

fn run_dir(state: &Path, id: &str) -> PathBuf {
    state.join("runs").join(id)
}

fn jobs_dir(state: &Path, id: &str, host: Host) -> PathBuf {
    run_dir(state, id).join("jobs").join(host.as_str())
}

/// The demo's side: starts jobs on the hosts and waits for them.
pub struct Conductor {
    state: PathBuf,
    id: String,
    next: AtomicU32,
}

/// A job started on a host.
#[derive(Debug)]
pub struct Job {
    host: Host,
    n: u32,
}

impl Job {
    /// Its number in the run.
    pub fn number(&self) -> u32 {
        self.n
    }
}

impl Conductor {
    /// Starts a new run and waits (up to `timeout`) until every host follows it.
    pub fn begin(state: &Path, timeout: Duration) -> anyhow::Result<Conductor> {
        let id = format!(
            "{}-{}",
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis(),
            std::process::id()
        );
        // Runs of earlier `up`s are over: their files go.
        if let Ok(old) = std::fs::read_dir(state.join("runs")) {
            for e in old.flatten() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        for h in HOSTS {
            std::fs::create_dir_all(jobs_dir(state, &id, h))
                .with_context(|| format!("creating the job folders under {}", state.display()))?;
        }
        write_atomic(&state.join("current"), id.as_bytes())?;
        let c = Conductor { state: state.to_path_buf(), id, next: AtomicU32::new(1) };
        let start = Instant::now();
        loop {
            let missing: Vec<&str> = HOSTS
                .iter()
                .filter(|h| !run_dir(&c.state, &c.id).join(format!("{}.ready", h.as_str())).exists())
                .map(|h| h.as_str())
                .collect();
            if missing.is_empty() {
                return Ok(c);
            }
            if start.elapsed() > timeout {
                // The hosts that did come up must not wait for this run for ever.
                c.finish();
                bail!(
                    "the {} container(s) did not come up within {} s (docker compose ps; docker compose logs)",
                    missing.join(", "),
                    timeout.as_secs()
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// Takes over the run now in charge (another process began it): new jobs get numbers
    /// after every job it has. For commands that act on a lab left up for exercises.
    pub fn resume(state: &Path) -> anyhow::Result<Conductor> {
        let id = std::fs::read_to_string(state.join("current")).map_err(|_| anyhow::anyhow!("no run of the container lab in {} (start it with PLAINSIGHT_KEEP=1 docker compose -f lab/compose.yaml up -d)", state.display()))?.trim().to_string();
        if run_dir(state, &id).join("shutdown").exists() {
            bail!(
                "the container lab's run {id} is over: start the lab again (PLAINSIGHT_KEEP=1 docker compose -f lab/compose.yaml up -d)"
            );
        }
        let last = HOSTS
            .iter()
            .filter_map(|&h| std::fs::read_dir(jobs_dir(state, &id, h)).ok())
            .flat_map(|d| {
                d.flatten().filter_map(|e| e.file_name().to_string_lossy().split('.').next()?.parse::<u32>().ok())
            })
            .max()
            .unwrap_or(0);
        Ok(Conductor { state: state.to_path_buf(), id, next: AtomicU32::new(last + 1) })
    }

    /// A job of this run, by host and number (one recorded by an earlier command).
    pub fn job(&self, host: Host, n: u32) -> Job {
        Job { host, n }
    }

    fn file(&self, job: &Job, ext: &str) -> PathBuf {
        jobs_dir(&self.state, &self.id, job.host).join(format!("{}.{ext}", job.n))
    }

    /// Asks `host` to run a command.
    pub fn start(&self, host: Host, spec: &JobSpec) -> anyhow::Result<Job> {
        let job = Job { host, n: self.next.fetch_add(1, Ordering::SeqCst) };
        write_atomic(&self.file(&job, "job"), &serde_json::to_vec(spec)?)?;
        Ok(job)
    }

    /// The job's exit code, once it ended (-1: killed by a signal or never started).
    pub fn exited(&self, job: &Job) -> Option<i32> {
        std::fs::read_to_string(self.file(job, "exit")).ok().and_then(|s| s.trim().parse().ok())
    }

    /// Waits for a job to end.
    pub fn wait(&self, job: &Job, timeout: Duration) -> anyhow::Result<i32> {
        let start = Instant::now();
        loop {
            if let Some(code) = self.exited(job) {
                return Ok(code);
            }
            if start.elapsed() > timeout {
                self.stop(job);
                bail!("job {} on the {} host did not end within {} s", job.n, job.host.as_str(), timeout.as_secs());
            }
            std::thread::sleep(POLL);
        }
    }

    /// Stops a job (SIGTERM, SIGKILL after 5 s) and waits until it ended.
    pub fn stop(&self, job: &Job) {
        if self.exited(job).is_some() {
            return;
        }
        let _ = write_atomic(&self.file(job, "stop"), b"");
        let start = Instant::now();
        while self.exited(job).is_none() && start.elapsed() < Duration::from_secs(8) {
            std::thread::sleep(POLL);
        }
    }

    /// Ends the run: every host stops its jobs and exits.
    pub fn finish(&self) {
        let _ = write_atomic(&run_dir(&self.state, &self.id).join("shutdown"), b"");
    }
}

/// A host's side: runs the jobs of the current run until it is shut down (or SIGTERM).
pub struct Agent {
    host: Host,
    state: PathBuf,
    run: Option<String>,
    running: HashMap<u32, Running>,
    seen: std::collections::HashSet<u32>,
}

struct Running {
    child: Child,
    term_sent: Option<Instant>,
}

impl Agent {
    pub fn new(host: Host, state: &Path) -> Agent {
        Agent { host, state: state.to_path_buf(), run: None, running: HashMap::new(), seen: Default::default() }
    }

    /// Routes this host as in the namespace lab: the visitor and the site through the
    /// intruder, the intruder nowhere beyond its two networks (Docker gave each a default
    /// route out of the lab, through the machine).
    pub fn route(&self) -> anyhow::Result<()> {
        let args: Vec<String> = match self.host {
            Host::Visitor | Host::Guest => {
                vec!["replace".into(), "default".into(), "via".into(), GATEWAY_LAN.to_string()]
            }
            Host::Site => vec!["replace".into(), "default".into(), "via".into(), GATEWAY_WAN.to_string()],
            Host::Intruder => {
                let routes =
                    Command::new("ip").args(["route", "show", "default"]).output().context("running ip (iproute2)")?;
                if routes.stdout.is_empty() {
                    return Ok(());
                }
                vec!["del".into(), "default".into()]
            }
            Host::Lan => return Ok(()),
        };
        let out = Command::new("ip").arg("route").args(&args).output().context("running ip (iproute2)")?;
        if !out.status.success() {
            bail!(
                "ip route {}: {} (the container needs cap_add NET_ADMIN)",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    /// Serves jobs until the run it follows is shut down, or `stop` is set.
    pub fn serve(&mut self, stop: &std::sync::atomic::AtomicBool) -> anyhow::Result<()> {
        loop {
            if stop.load(Ordering::SeqCst) {
                self.kill_all();
                return Ok(());
            }
            let current = std::fs::read_to_string(self.state.join("current")).ok().map(|s| s.trim().to_string());
            if current.is_some() && current != self.run {
                let id = current.clone().expect("checked");
                // An earlier run that is already over is not followed.
                if !run_dir(&self.state, &id).join("shutdown").exists()
                    && jobs_dir(&self.state, &id, self.host).is_dir()
                {
                    self.kill_all();
                    self.seen.clear();
                    write_atomic(&run_dir(&self.state, &id).join(format!("{}.ready", self.host.as_str())), b"")?;
                    eprintln!("lab host {}: following demo run {id}", self.host.as_str());
                    self.run = Some(id);
                }
            }
            if let Some(id) = self.run.clone() {
                if run_dir(&self.state, &id).join("shutdown").exists() {
                    self.kill_all();
                    return Ok(());
                }
                self.step(&id);
            }
            std::thread::sleep(POLL);
        }
    }

    fn step(&mut self, id: &str) {
        let dir = jobs_dir(&self.state, id, self.host);
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let Some(n) = name.strip_suffix(".job").and_then(|n| n.parse::<u32>().ok()) else { continue };
                if !self.seen.insert(n) {
                    continue;
                }
                match self.spawn(&e.path()) {
                    Ok(child) => {
                        self.running.insert(n, Running { child, term_sent: None });
                    }
                    Err(err) => {
                        eprintln!("lab host {}: job {n}: {err:#}", self.host.as_str());
                        let _ = write_atomic(&dir.join(format!("{n}.exit")), b"-1");
                    }
                }
            }
        }
        let mut ended = Vec::new();
        for (n, r) in self.running.iter_mut() {
            if let Ok(Some(status)) = r.child.try_wait() {
                ended.push((*n, status.code().unwrap_or(-1)));
                continue;
            }
            let pid = nix::unistd::Pid::from_raw(r.child.id() as i32);
            match r.term_sent {
                None if dir.join(format!("{n}.stop")).exists() => {
                    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
                    r.term_sent = Some(Instant::now());
                }
                Some(t) if t.elapsed() > Duration::from_secs(5) => {
                    let _ = r.child.kill();
                }
                _ => {}
            }
        }
        for (n, code) in ended {
            self.running.remove(&n);
            let _ = write_atomic(&dir.join(format!("{n}.exit")), code.to_string().as_bytes());
        }
    }

    fn spawn(&self, path: &Path) -> anyhow::Result<Child> {
        let spec: JobSpec = serde_json::from_slice(&std::fs::read(path)?).context("reading the job")?;
        let Some((program, args)) = spec.argv.split_first() else { bail!("empty command") };
        let program = if program == "plainsight" { std::env::current_exe()? } else { PathBuf::from(program) };
        let mut cmd = Command::new(&program);
        cmd.args(args);
        super::proc::spawn_logged(cmd, &spec.argv.join(" "), &spec.stdout, &spec.stderr)
    }

    fn kill_all(&mut self) {
        let pids: Vec<i32> = self.running.values().map(|r| r.child.id() as i32).collect();
        super::proc::terminate_pids(&pids, super::proc::GRACE);
        for (_, mut r) in self.running.drain() {
            let _ = r.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    /// lab/compose.yaml gives each container the namespace lab's addresses and role, and
    /// keeps the Docker bridges off them.
    #[test]
    fn compose_file_matches_the_lab_plan() {
        let compose = include_str!("../../lab/compose.yaml");
        // A service's block: its line, then every line indented deeper than two spaces.
        let service = |name: &str| -> String {
            let mut lines = compose.lines().skip_while(|l| *l != format!("  {name}:"));
            let head = lines.next().unwrap_or_else(|| panic!("no service {name}"));
            let body: Vec<&str> = lines.take_while(|l| l.starts_with("   ") || l.is_empty()).collect();
            format!("{head}\n{}", body.join("\n"))
        };
        for (name, addrs) in [
            ("visitor", vec![super::super::VISITOR]),
            ("intruder", vec![GATEWAY_LAN, GATEWAY_WAN]),
            ("site", vec![super::super::SITE]),
        ] {
            let text = service(name);
            assert!(text.contains(&format!("PLAINSIGHT_LAB_HOST: {name}")), "{name}");
            assert!(text.contains(&format!("\"plainsight\", \"lab\", \"host\", \"{name}\"")), "{name}");
            for a in addrs {
                assert!(text.contains(&format!("ipv4_address: {a}")), "{name} {a}");
            }
        }
        assert!(service("intruder").contains("cap_add: [NET_ADMIN, NET_RAW]"));
        assert!(service("intruder").contains("net.ipv4.ip_forward: \"1\""));
        for gw in ["gateway: 192.0.2.254", "gateway: 198.51.100.254"] {
            assert!(compose.contains(gw), "{gw}");
        }
    }

    /// The whole protocol, with the three agents as threads of this test and `sh` jobs.
    #[test]
    fn conductor_and_agents_run_jobs_and_shut_down() {
        let dir = std::env::temp_dir().join(format!("plainsight-agents-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // A finished run left on the volume must not be followed.
        std::fs::create_dir_all(jobs_dir(&dir, "old", Host::Site)).unwrap();
        std::fs::write(run_dir(&dir, "old").join("shutdown"), "").unwrap();
        std::fs::write(dir.join("current"), "old").unwrap();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let agents: Vec<_> = HOSTS
            .into_iter()
            .map(|h| {
                let (d, s) = (dir.clone(), stop.clone());
                std::thread::spawn(move || Agent::new(h, &d).serve(&s))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(100));
        let c = Conductor::begin(&dir, Duration::from_secs(10)).unwrap();
        let spec = |cmd: &str, name: &str| JobSpec {
            argv: vec!["sh".into(), "-c".into(), cmd.into()],
            stdout: dir.join(format!("{name}.out")),
            stderr: dir.join(format!("{name}.err")),
        };
        let quick = c.start(Host::Site, &spec("echo hello; exit 3", "quick")).unwrap();
        assert_eq!(c.wait(&quick, Duration::from_secs(10)).unwrap(), 3);
        assert_eq!(std::fs::read_to_string(dir.join("quick.out")).unwrap(), "hello\n");
        let slow = c.start(Host::Intruder, &spec("sleep 30", "slow")).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(c.exited(&slow), None);
        c.stop(&slow);
        assert_eq!(c.exited(&slow), Some(-1), "stopped by SIGTERM");
        let missing = c
            .start(Host::Visitor, &JobSpec { argv: vec!["/nonexistent/program".into()], ..spec("", "missing") })
            .unwrap();
        assert_eq!(c.wait(&missing, Duration::from_secs(10)).unwrap(), -1);
        // Another process takes the run over: it numbers its jobs after the others, and
        // stops one it did not start.
        let running = c.start(Host::Visitor, &spec("sleep 30", "running")).unwrap();
        let resumed = Conductor::resume(&dir).unwrap();
        let next = resumed.start(Host::Site, &spec("exit 0", "next")).unwrap();
        assert!(next.number() > running.number());
        assert_eq!(resumed.wait(&next, Duration::from_secs(10)).unwrap(), 0);
        resumed.stop(&resumed.job(Host::Visitor, running.number()));
        assert_eq!(c.exited(&running), Some(-1));
        let left = c.start(Host::Visitor, &spec("sleep 30", "left")).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        c.finish();
        for a in agents {
            a.join().unwrap().unwrap();
        }
        assert_eq!(c.exited(&left), None, "killed at shutdown, without an exit file");
        assert!(Conductor::resume(&dir).is_err(), "a run that is over cannot be taken over");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

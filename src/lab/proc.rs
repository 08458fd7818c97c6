//! The processes the lab and the demo start: one way to start a role with its logs, one
//! way to stop it (SIGTERM, a bounded wait, SIGKILL), one way to wait for the signal a role
//! gives when it is ready (a file it creates), and the stop token that Ctrl-C sets.
//!
//! A [`Role`] stops its process when dropped, so an error between starting two roles
//! leaves nothing running.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;

/// How long a process gets between SIGTERM and SIGKILL.
pub const GRACE: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(10);

/// Set by SIGINT or SIGTERM once [`stop_on_signals`] ran.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: nix::libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Makes Ctrl-C and SIGTERM set the returned token instead of killing the process, so that
/// long-running commands end cleanly (captures flushed, rules and roles removed).
/// Resolves on Ctrl-C or SIGTERM (a server's shutdown future).
pub async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("signal handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

pub fn stop_on_signals() -> &'static AtomicBool {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    let act = SigAction::new(SigHandler::Handler(on_signal), SaFlags::empty(), SigSet::empty());
    for s in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores to an atomic.
        let _ = unsafe { sigaction(s, &act) };
    }
    &STOP
}

/// The error of a wait that Ctrl-C ended.
#[derive(Debug, thiserror::Error)]
#[error("interrupted")]
pub struct Interrupted;

/// A started role: stopped (SIGTERM, then SIGKILL after [`GRACE`]) when dropped.
pub struct Role {
    child: Option<Child>,
    what: String,
}

/// The process `cmd` starts gets SIGTERM when the process that started it dies, even by
/// `kill -9` (`PR_SET_PDEATHSIG`): nothing it started outlives it.
pub fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM).map_err(std::io::Error::from)
        });
    }
}

impl Role {
    /// Starts `cmd` with its standard output and error in these files. The process also
    /// gets SIGTERM if the one that started it dies (even by `kill -9`).
    pub fn spawn(mut cmd: Command, what: &str, stdout: &Path, stderr: &Path) -> anyhow::Result<Role> {
        die_with_parent(&mut cmd);
        Ok(Role { child: Some(spawn_logged(cmd, what, stdout, stderr)?), what: what.to_string() })
    }

    pub fn id(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// Waits for the process to end, at most `timeout`, or until `stop`: its exit code.
    /// On a time-out or a stop the process is stopped.
    pub fn wait(mut self, timeout: Duration, stop: &AtomicBool) -> anyhow::Result<i32> {
        let start = Instant::now();
        let child = self.child.as_mut().expect("a role has its child until dropped");
        loop {
            if let Some(status) = child.try_wait()? {
                self.child = None;
                return Ok(status.code().unwrap_or(-1));
            }
            if stop.load(Ordering::SeqCst) {
                return Err(Interrupted.into());
            }
            if start.elapsed() > timeout {
                anyhow::bail!("{} did not end within {} s", self.what, timeout.as_secs());
            }
            std::thread::sleep(POLL);
        }
    }

    /// Stops the process now and waits for it.
    pub fn stop(mut self) {
        if let Some(c) = self.child.take() {
            terminate(c);
        }
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        if let Some(c) = self.child.take() {
            terminate(c);
        }
    }
}

/// Starts `cmd` with no input and its output and errors in these files (one file when
/// both paths are the same). Every process the lab starts goes through here.
pub fn spawn_logged(mut cmd: Command, what: &str, stdout: &Path, stderr: &Path) -> anyhow::Result<Child> {
    let out = std::fs::File::create(stdout).with_context(|| format!("creating {}", stdout.display()))?;
    let err = if stderr == stdout {
        out.try_clone()?
    } else {
        std::fs::File::create(stderr).with_context(|| format!("creating {}", stderr.display()))?
    };
    cmd.stdin(Stdio::null()).stdout(out).stderr(err).spawn().with_context(|| format!("starting {what}"))
}

/// SIGTERM, a bounded wait, SIGKILL; reaps the child.
fn terminate(mut c: Child) {
    signal(c.id() as i32, nix::sys::signal::Signal::SIGTERM);
    let start = Instant::now();
    while start.elapsed() < GRACE {
        if !matches!(c.try_wait(), Ok(None)) {
            return;
        }
        std::thread::sleep(POLL);
    }
    let _ = c.kill();
    let _ = c.wait();
}

fn signal(pid: i32, s: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), s);
}

fn alive(pid: i32) -> bool {
    use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
    // Reap it when it is our child; otherwise watch /proc.
    match waitpid(nix::unistd::Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::StillAlive) => true,
        Ok(_) => false,
        // Not ours: alive while /proc has it and it is not a zombie (a zombie has exited;
        // reaping it is its parent's business, and some init processes are slow at it).
        Err(_) => std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| s.rsplit_once(')').is_none_or(|(_, rest)| !rest.trim_start().starts_with('Z'))),
    }
}

/// Stops processes that are not held by a [`Role`] (found by pid): SIGTERM, at most
/// `grace`, SIGKILL.
pub fn terminate_pids(pids: &[i32], grace: Duration) {
    for &p in pids {
        signal(p, nix::sys::signal::Signal::SIGTERM);
    }
    let start = Instant::now();
    while start.elapsed() < grace && pids.iter().any(|&p| alive(p)) {
        std::thread::sleep(POLL);
    }
    for &p in pids {
        if alive(p) {
            signal(p, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(p), None);
        }
    }
}

/// Waits until a role gave its ready signal (`ready` holds: usually a file it creates
/// once it is listening), at most `timeout`, or until `stop`.
pub fn wait_ready(
    what: &str,
    timeout: Duration,
    stop: &AtomicBool,
    mut ready: impl FnMut() -> bool,
) -> anyhow::Result<()> {
    let start = Instant::now();
    while !ready() {
        if stop.load(Ordering::SeqCst) {
            return Err(Interrupted.into());
        }
        if start.elapsed() > timeout {
            anyhow::bail!("{what} did not become ready within {} s", timeout.as_secs());
        }
        std::thread::sleep(POLL);
    }
    Ok(())
}

/// Creates `path` (empty): the ready signal of a role started with `--ready-file`.
pub fn signal_ready(path: Option<&Path>) -> anyhow::Result<()> {
    if let Some(p) = path {
        std::fs::write(p, b"").with_context(|| format!("writing the ready file {}", p.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_role_leaves_no_process() {
        let dir = std::env::temp_dir();
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let role = Role::spawn(cmd, "sleep", &dir.join("ps-role.out"), &dir.join("ps-role.err")).unwrap();
        let pid = role.id() as i32;
        assert!(Path::new(&format!("/proc/{pid}")).exists());
        drop(role);
        assert!(!Path::new(&format!("/proc/{pid}")).exists(), "the role's process outlived its handle");
    }

    #[test]
    fn waits_end_on_stop() {
        let stop = AtomicBool::new(true);
        let e = wait_ready("never", Duration::from_secs(30), &stop, || false).unwrap_err();
        assert!(e.downcast_ref::<Interrupted>().is_some());
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let dir = std::env::temp_dir();
        let role = Role::spawn(cmd, "sleep", &dir.join("ps-r2.out"), &dir.join("ps-r2.err")).unwrap();
        let e = role.wait(Duration::from_secs(30), &stop).unwrap_err();
        assert!(e.downcast_ref::<Interrupted>().is_some());
    }
}

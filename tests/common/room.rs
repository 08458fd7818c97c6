//! A workshop with SSH logins, for tests that act as its participants: `workshop up --ssh`
//! on a free port, each participant's card read from `workshop handout --json`, and a
//! real `ssh` client (through `sshpass`) for every command, as a participant types it.
//! The workshop is taken down when the value is dropped, even when the test fails.

use std::io::BufRead;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::ps;

/// What every client here passes: the workshop's host key is new at each run, and only
/// errors are printed.
pub const SSH_OPTIONS: [&str; 6] =
    ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"];

/// One participant's login, from the handout.
#[derive(Debug, Clone)]
pub struct Login {
    pub participant: u16,
    pub user: String,
    pub password: String,
    pub port: u16,
    pub page: String,
}

pub struct Room {
    pub name: String,
    pub logins: Vec<Login>,
}

/// Whether this machine can run the room tests (root, sshd, sshpass, ssh); records why
/// not otherwise (a failure in CI).
pub fn available(what: &str) -> bool {
    if !super::need_root(what) {
        return false;
    }
    for (tool, package) in
        [("/usr/sbin/sshd", "openssh-server"), ("/usr/bin/sshpass", "sshpass"), ("/usr/bin/ssh", "openssh-client")]
    {
        if !std::path::Path::new(tool).exists() {
            super::skipped(what, &format!("{tool} is not installed (apt-get install {package})"));
            return false;
        }
    }
    true
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Room {
    /// `workshop up --ssh` for `participants`, with `extra` flags.
    pub fn up(name: &str, participants: u16, extra: &[&str]) -> Room {
        let _ = ps(&["workshop", "down", "--name", name]);
        let _ = std::fs::remove_dir_all(format!("/var/lib/plainsight/{name}"));
        let port = free_port().to_string();
        let n = participants.to_string();
        let mut args = vec![
            "workshop",
            "up",
            "--name",
            name,
            "--participants",
            &n,
            "--ssh",
            "--ssh-port",
            &port,
            "--ssh-listen",
            "127.0.0.1",
        ];
        args.extend(extra);
        let mut room = Room { name: name.to_string(), logins: Vec::new() };
        let o = ps(&args);
        assert!(
            o.status.success(),
            "workshop up: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        let cards = ps(&[
            "workshop",
            "handout",
            "--name",
            name,
            "--json",
            "--host",
            "127.0.0.1",
            "--view",
            "http://127.0.0.1:8088",
        ]);
        assert!(cards.status.success(), "handout: {}", String::from_utf8_lossy(&cards.stderr));
        let list: serde_json::Value = serde_json::from_slice(&cards.stdout).unwrap();
        room.logins = list
            .as_array()
            .unwrap()
            .iter()
            .map(|c| Login {
                participant: c["participant"].as_u64().unwrap() as u16,
                user: c["user"].as_str().unwrap().to_string(),
                password: c["password"].as_str().unwrap_or("").to_string(),
                port: c["port"].as_u64().unwrap() as u16,
                page: c["page"].as_str().unwrap().to_string(),
            })
            .collect();
        room
    }

    pub fn login(&self, p: u16) -> &Login {
        &self.logins[p as usize - 1]
    }
}

impl Drop for Room {
    fn drop(&mut self) {
        let _ = ps(&["workshop", "down", "--name", &self.name]);
    }
}

impl Login {
    /// `ssh` to this login with the shared options and `extra` before the destination;
    /// the password typed by sshpass when `with_password`.
    pub fn ssh(&self, with_password: bool, extra: &[&str]) -> Command {
        let mut c = if with_password {
            let mut c = Command::new("sshpass");
            c.arg("-p").arg(&self.password).arg("ssh");
            c
        } else {
            Command::new("ssh")
        };
        c.args(SSH_OPTIONS).args(["-o", "ConnectTimeout=10", "-p", &self.port.to_string()]).args(extra);
        c.arg(format!("{}@127.0.0.1", self.user));
        c
    }

    fn command(&self, tty: bool) -> Command {
        self.ssh(true, if tty { &["-tt"] } else { &[] })
    }

    /// Runs `cmd` in the participant's sandbox (over SSH) and waits for it.
    pub fn run(&self, cmd: &str) -> Output {
        self.command(false).arg(cmd).stdin(Stdio::null()).output().unwrap()
    }

    /// Runs `cmd`, expecting success; returns its standard output.
    pub fn ok(&self, cmd: &str) -> String {
        let o = self.run(cmd);
        assert!(
            o.status.success(),
            "participant {}: `{cmd}` failed ({}): {}{}",
            self.participant,
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Starts `cmd` in the sandbox on a terminal (so that it ends when the login does);
    /// its lines arrive on the receiver.
    pub fn spawn(&self, cmd: &str) -> Remote {
        use std::os::unix::process::CommandExt;
        let mut child = self
            .command(true)
            .arg(cmd)
            // sshpass and its ssh in a group of their own, so that both end together.
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line.trim_end_matches('\r').to_string()).is_err() {
                    break;
                }
            }
        });
        Remote { child, lines: rx, seen: Vec::new() }
    }
}

/// A command running in a sandbox; its login ends when this is dropped.
pub struct Remote {
    child: Child,
    lines: mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl Remote {
    /// Reads lines until `pick` finds what it wants (within `within`).
    pub fn until<T>(&mut self, within: Duration, what: &str, mut pick: impl FnMut(&str) -> Option<T>) -> T {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("{what}: never seen; the command printed:\n{}", self.seen.join("\n")));
            let found = pick(&line);
            self.seen.push(line);
            if let Some(v) = found {
                return v;
            }
        }
    }
}

impl Drop for Remote {
    /// Ends sshpass and its ssh: the connection closes, and the login (with what it runs)
    /// is hung up. Killing sshpass alone left ssh, and so the remote command, running.
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: a plain kill(2) of the process group this Remote created.
            unsafe { libc::kill(-pid, libc::SIGTERM) };
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

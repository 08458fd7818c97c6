//! The gate: the one root process of a workshop that participants can talk to.
//!
//! `workshop up` starts it (`plainsight workshop gate`, in the background, like the bots);
//! `workshop down` stops it. It keeps every participant's sandbox (one holder process
//! each, [`sandbox::holder`]) and answers on a Unix socket (`SOCK_SEQPACKET`, one message
//! a request) that is reachable from every sandbox ([`sandbox::SOCKET`]) and from the
//! participants' SSH logins:
//!
//! - `shell`: a login. The request carries the participant's terminal (standard input,
//!   output and error, passed as file descriptors); the gate runs a [`sandbox::session`]
//!   on them and answers with the shell's exit code.
//! - `show`, `check`, `hint`, `progress`: the checker ([`super::desk`]).
//!
//! Who asks is the kernel's word (`SO_PEERCRED`: the uid of the process at the other end),
//! never the request's: a participant's account acts for that participant only. Root (the
//! trainer's `workshop shell N`) names the participant.

use std::collections::HashMap;
use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use nix::sys::socket::{
    self, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, UnixAddr, sockopt,
};

use super::sandbox::{self, Account};
use super::{Workshop, desk};

/// The largest request (an answer, a command line).
const MAX_REQUEST: usize = 64 * 1024;

/// What a participant (or the trainer) asks the gate.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// A login: the terminal comes with the request as three descriptors.
    Shell {
        /// `intruder` (default) or `guest`.
        host: String,
        command: Option<String>,
        term: Option<String>,
        /// Only root may name a participant.
        participant: Option<u16>,
    },
    Show {
        exercise: String,
    },
    Check {
        exercise: String,
        answer: Option<String>,
    },
    Hint {
        exercise: Option<String>,
    },
    Progress,
}

/// The gate's answer: what to print, and the exit code.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Reply {
    pub code: i32,
    pub out: String,
    pub err: String,
}

impl Reply {
    pub fn ok(out: String) -> Reply {
        Reply { code: 0, out, err: String::new() }
    }
    pub fn error(err: String) -> Reply {
        Reply { code: 2, out: String::new(), err }
    }
}

/// A sandbox's holder and the pid of its init (on the machine).
struct Holder {
    child: Child,
    init: i32,
}

struct Gate {
    ws: Workshop,
    exe: PathBuf,
    by_uid: HashMap<u32, Account>,
    holders: Mutex<HashMap<u16, Holder>>,
    /// One checker request at a time per participant (a flood of checks waits its turn).
    busy: HashMap<u16, Mutex<()>>,
    /// Connections open now, by uid: a participant's flood of connections is refused past
    /// [`MAX_PER_UID`] instead of taking the gate's threads from the room.
    open: Mutex<HashMap<u32, usize>>,
}

/// Connections one uid may hold open at once (logins included).
const MAX_PER_UID: usize = 16;

/// A connection's place among its uid's, given back when dropped.
struct Place<'a>(&'a Gate, u32);
impl Drop for Place<'_> {
    fn drop(&mut self) {
        if let Some(n) = self.0.open.lock().expect("open").get_mut(&self.1) {
            *n = n.saturating_sub(1);
        }
    }
}

/// The gate's socket, on the machine.
pub fn socket_path(ws: &Workshop) -> PathBuf {
    ws.public_dir().join("gate.sock")
}

fn ready_path(ws: &Workshop) -> PathBuf {
    ws.dir().join("gate.ready")
}

fn pid_path(ws: &Workshop) -> PathBuf {
    ws.dir().join("gate.pid")
}

/// Starts the gate in the background and waits until it answers (its ready file).
pub fn start(ws: &Workshop) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt;
    if running(ws).is_some() {
        return Ok(());
    }
    let ready = ready_path(ws);
    let _ = std::fs::remove_file(&ready);
    let log = ws.dir().join("gate.log");
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(["workshop", "gate", "--name", &ws.name]);
    // SAFETY: setsid in the child before exec: its own session, so that a Ctrl-C in the
    // trainer's terminal does not reach it.
    unsafe {
        cmd.pre_exec(|| nix::unistd::setsid().map(|_| ()).map_err(std::io::Error::from));
    }
    let mut child = crate::lab::proc::spawn_logged(cmd, "gate", &log, &log)?;
    std::fs::write(pid_path(ws), child.id().to_string())?;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !ready.exists() {
        if let Ok(Some(st)) = child.try_wait() {
            bail!("the workshop's gate stopped ({st}): {}", std::fs::read_to_string(&log).unwrap_or_default().trim());
        }
        if std::time::Instant::now() > deadline {
            bail!("the workshop's gate did not start in 60 s: see {}", log.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// The gate's pid, when it runs.
pub fn running(ws: &Workshop) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(pid_path(ws)).ok()?.trim().parse().ok()?;
    let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
    (args.iter().any(|a| *a == b"gate") && args.contains(&ws.name.as_bytes())).then_some(pid)
}

/// Stops the gate (and with it every sandbox).
pub fn stop(ws: &Workshop) {
    if let Some(pid) = running(ws) {
        crate::lab::proc::terminate_pids(&[pid], Duration::from_secs(5));
    }
    let _ = std::fs::remove_file(pid_path(ws));
    let _ = std::fs::remove_file(ready_path(ws));
}

/// `workshop gate`: runs until `stop` is set.
pub fn run(ws: &Workshop, stop: &AtomicBool) -> anyhow::Result<()> {
    let accounts = sandbox::accounts(ws);
    if accounts.is_empty() {
        bail!("workshop {} has no accounts (run `plainsight workshop up --name {}`)", ws.name, ws.name);
    }
    let recorded = ws.recorded()?;
    let gate = Arc::new(Gate {
        ws: ws.clone(),
        exe: std::env::current_exe()?,
        busy: accounts.iter().map(|a| (a.participant, Mutex::new(()))).collect(),
        by_uid: accounts.iter().map(|a| (a.uid, a.clone())).collect(),
        holders: Mutex::new(HashMap::new()),
        open: Mutex::new(HashMap::new()),
    });
    // The socket first: the holders bind it into their sandboxes.
    let path = socket_path(ws);
    let _ = std::fs::remove_file(&path);
    let listener = socket::socket(AddressFamily::Unix, SockType::SeqPacket, SockFlag::SOCK_CLOEXEC, None)?;
    socket::bind(listener.as_raw_fd(), &UnixAddr::new(&path)?)
        .with_context(|| format!("binding {}", path.display()))?;
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o666))?;
    socket::listen(&listener, socket::Backlog::new(128)?)?;
    for a in &accounts {
        sandbox::Cgroup::of(ws, a.participant).create(recorded.limits)?;
        gate.start_holder(a.participant)?;
    }
    std::fs::write(ready_path(ws), "")?;
    eprintln!("gate: {} sandboxes, listening on {}", accounts.len(), path.display());
    let fd = listener.as_raw_fd();
    while !stop.load(Ordering::SeqCst) {
        let mut pfd = [nix::poll::PollFd::new(listener.as_fd_ref(), nix::poll::PollFlags::POLLIN)];
        let _ = nix::poll::poll(&mut pfd, nix::poll::PollTimeout::from(200u16));
        if !pfd[0].revents().is_some_and(|r| r.contains(nix::poll::PollFlags::POLLIN)) {
            continue;
        }
        let Ok(conn) = socket::accept4(fd, SockFlag::SOCK_CLOEXEC) else { continue };
        // SAFETY: accept4 returned a new descriptor that nothing else owns.
        let conn = unsafe { OwnedFd::from_raw_fd(conn) };
        // A request arrives at once or never: a silent client does not hold a thread.
        let _ = socket::setsockopt(&conn, sockopt::ReceiveTimeout, &nix::sys::time::TimeVal::new(10, 0));
        let Ok(uid) = socket::getsockopt(&conn, sockopt::PeerCredentials).map(|c| c.uid()) else { continue };
        {
            let mut open = gate.open.lock().expect("open");
            let n = open.entry(uid).or_insert(0);
            if uid != 0 && *n >= MAX_PER_UID {
                let _ = send(
                    &conn,
                    &Reply::error(format!("too many connections at once ({MAX_PER_UID} at most): close some")),
                    &[],
                );
                continue;
            }
            *n += 1;
        }
        let gate = gate.clone();
        std::thread::spawn(move || {
            let _place = Place(&gate, uid);
            let reply = gate.serve(&conn).unwrap_or_else(|e| Reply::error(format!("{e:#}")));
            let _ = send(&conn, &reply, &[]);
        });
    }
    let mut holders = gate.holders.lock().expect("holders");
    for (_, h) in holders.iter_mut() {
        let _ = h.child.kill();
        let _ = h.child.wait();
    }
    for a in &accounts {
        sandbox::Cgroup::of(ws, a.participant).remove();
    }
    let _ = std::fs::remove_file(&path);
    Ok(())
}

trait AsFdRef {
    fn as_fd_ref(&self) -> std::os::fd::BorrowedFd<'_>;
}
impl AsFdRef for OwnedFd {
    fn as_fd_ref(&self) -> std::os::fd::BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(self)
    }
}

impl Gate {
    /// Starts participant `p`'s holder and waits until its sandbox is made.
    fn start_holder(&self, p: u16) -> anyhow::Result<i32> {
        let mut child = Command::new(&self.exe)
            .args(["workshop", "holder", "--name", &self.ws.name, "--participant", &p.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting a sandbox")?;
        let out = child.stdout.take().expect("piped");
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut line)?;
        let Some(init) = line.trim().strip_prefix("ready ").and_then(|p| p.parse().ok()) else {
            let _ = child.kill();
            let _ = child.wait();
            bail!("the sandbox of participant {p} was not made");
        };
        self.holders.lock().expect("holders").insert(p, Holder { child, init });
        Ok(init)
    }

    /// The init pid of participant `p`'s sandbox, made again if it is gone.
    fn holder(&self, p: u16) -> anyhow::Result<i32> {
        {
            let mut holders = self.holders.lock().expect("holders");
            if let Some(h) = holders.get_mut(&p) {
                if h.child.try_wait().ok().flatten().is_none() {
                    return Ok(h.init);
                }
                holders.remove(&p);
            }
        }
        self.start_holder(p)
    }

    fn serve(&self, conn: &OwnedFd) -> anyhow::Result<Reply> {
        let cred = socket::getsockopt(conn, sockopt::PeerCredentials)?;
        let (request, fds) = receive(conn)?;
        let uid = cred.uid();
        let asked = match &request {
            Request::Shell { participant, .. } => *participant,
            _ => None,
        };
        let p = match (uid, asked) {
            (0, Some(p)) => p,
            (0, None) => bail!("root must name the participant"),
            (uid, asked) => {
                let a = self
                    .by_uid
                    .get(&uid)
                    .with_context(|| format!("uid {uid} is no participant of workshop {}", self.ws.name))?;
                if asked.is_some_and(|q| q != a.participant) {
                    bail!("you are participant {}: you can only use your own lab", a.participant);
                }
                a.participant
            }
        };
        let account = self
            .by_uid
            .values()
            .find(|a| a.participant == p)
            .with_context(|| format!("workshop {} has no participant {p}", self.ws.name))?
            .clone();
        match request {
            Request::Shell { host, command, term, .. } => {
                let [stdin, stdout, stderr]: [OwnedFd; 3] =
                    fds.try_into().map_err(|_| anyhow::anyhow!("a login passes its terminal (three descriptors)"))?;
                let init = self.holder(p)?;
                let mut cmd = Command::new(&self.exe);
                cmd.args([
                    "workshop",
                    "session",
                    "--name",
                    &self.ws.name,
                    "--participant",
                    &p.to_string(),
                    "--host",
                    &host,
                    "--holder",
                    &init.to_string(),
                ]);
                if let Some(c) = &command {
                    cmd.arg("--command").arg(c);
                }
                if let Some(t) = &term {
                    cmd.arg("--term").arg(t);
                }
                let st = cmd
                    .stdin(Stdio::from(stdin))
                    .stdout(Stdio::from(stdout))
                    .stderr(Stdio::from(stderr))
                    .status()
                    .context("starting the session")?;
                let _ = account;
                Ok(Reply { code: st.code().unwrap_or(1), out: String::new(), err: String::new() })
            }
            other => {
                let _one_at_a_time = self.busy.get(&p).map(|m| m.lock().expect("busy"));
                Ok(desk::answer(&self.ws, p, &other, true))
            }
        }
    }
}

/// Reads one request and the descriptors that came with it.
fn receive(conn: &OwnedFd) -> anyhow::Result<(Request, Vec<OwnedFd>)> {
    let mut buf = vec![0u8; MAX_REQUEST];
    let mut cmsg = nix::cmsg_space!([RawFd; 3]);
    let mut iov = [IoSliceMut::new(&mut buf)];
    let msg = socket::recvmsg::<()>(conn.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::MSG_CMSG_CLOEXEC)?;
    let mut fds = Vec::new();
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(list) = c {
            // SAFETY: descriptors the kernel just installed in this process for us.
            fds.extend(list.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
        }
    }
    if msg.flags.contains(MsgFlags::MSG_TRUNC) || msg.flags.contains(MsgFlags::MSG_CTRUNC) {
        bail!("request too large");
    }
    let n = msg.bytes;
    let request = serde_json::from_slice(&buf[..n]).context("reading the request")?;
    Ok((request, fds))
}

fn send<T: serde::Serialize>(conn: &OwnedFd, what: &T, fds: &[RawFd]) -> anyhow::Result<()> {
    let bytes = serde_json::to_vec(what)?;
    let iov = [std::io::IoSlice::new(&bytes)];
    let cmsg = [ControlMessage::ScmRights(fds)];
    socket::sendmsg::<()>(conn.as_raw_fd(), &iov, if fds.is_empty() { &[] } else { &cmsg }, MsgFlags::empty(), None)?;
    Ok(())
}

/// Sends `request` to the gate at `path` (with this process's standard streams for a
/// login) and returns its reply.
pub fn ask(path: &Path, request: &Request) -> anyhow::Result<Reply> {
    let conn = socket::socket(AddressFamily::Unix, SockType::SeqPacket, SockFlag::SOCK_CLOEXEC, None)?;
    socket::connect(conn.as_raw_fd(), &UnixAddr::new(path)?).with_context(|| {
        format!("the workshop's checker does not answer at {} (is the workshop up?)", path.display())
    })?;
    let fds: &[RawFd] = if matches!(request, Request::Shell { .. }) { &[0, 1, 2] } else { &[] };
    send(&conn, request, fds)?;
    let mut buf = vec![0u8; 4 * 1024 * 1024];
    loop {
        match socket::recv(conn.as_raw_fd(), &mut buf, MsgFlags::empty()) {
            Ok(0) => bail!("the workshop's checker closed the connection without an answer"),
            Ok(n) => return serde_json::from_slice(&buf[..n]).context("reading the checker's answer"),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

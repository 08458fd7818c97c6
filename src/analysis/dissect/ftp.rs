//! An FTP control session as Zeek's ftp.log writes it: each command paired with the
//! server's reply, the user and password of the session so far, the working directory
//! (file commands' arguments become `ftp://server/path` URLs), the size a `150` reply to
//! `RETR` announces, and the data channel a `PORT`, `EPRT`, `PASV` or `EPSV` sets up.
//!
//! Zeek's pairing ([its `ftp/main.zeek`]): a reply goes to the oldest command still waiting
//! for one, and to the last command when all have one (a `RETR`'s `150` then its `226`); a
//! command is written when the next command comes, when more than one waits, or when the
//! session ends. Only the commands Zeek logs ([`LOGGED`]) are written; the others still
//! move the working directory. Lines are [`super::login`]'s (bounded there); at most
//! [`MAX_PENDING`] commands wait.

use std::collections::VecDeque;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// The commands whose command/reply pairs Zeek's ftp.log holds (its `logged_commands`).
pub const LOGGED: [&str; 10] = ["APPE", "DELE", "RETR", "STOR", "STOU", "ACCT", "PORT", "PASV", "EPRT", "EPSV"];

/// Commands whose argument names a file or directory (Zeek's `file_cmds`): logged as a URL.
const FILE_COMMANDS: [&str; 13] =
    ["APPE", "CWD", "DELE", "MKD", "RETR", "RMD", "RNFR", "RNTO", "STOR", "STOU", "REST", "SIZE", "MDTM"];

/// Commands kept waiting for their replies, at most (a client that never waits).
pub const MAX_PENDING: usize = 64;

/// One ftp.log line: a command and the server's reply to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FtpCommand {
    pub command: String,
    /// The argument; for a file command, `ftp://<server>/<directory>/<file>`, where the
    /// server's address is filled in by the report (`{server}` stands for it here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arg: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The session's password (masked unless `--reveal`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_code: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_msg: Option<String>,
    /// The size a `150` reply to `RETR` announced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_channel: Option<DataChannel>,
    /// What the file sent over the data connection is (a transfer command's), named as
    /// Zeek's file signatures name it. Filled in by the pipeline, which sees that
    /// connection ([`FtpCommand::transfer`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// A transfer command's data connection: the session's last `PORT`, `EPRT`, `PASV` or
    /// `EPSV`. Not logged.
    #[serde(skip)]
    pub transfer: Option<DataChannel>,
}

/// The commands that send a file over a data connection.
const TRANSFERS: [&str; 4] = ["RETR", "STOR", "STOU", "APPE"];

/// The data connection a command set up: passive (`PASV`, `EPSV`: the client connects to
/// `host:port`, the server's address when `EPSV` gives none) or active (`PORT`, `EPRT`:
/// the server connects to the client's `host:port`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DataChannel {
    pub passive: bool,
    /// `None`: the server's own address (an `EPSV` reply names only a port).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<IpAddr>,
    pub port: u16,
}

impl DataChannel {
    /// The address the data connection goes to, for the control connection from `client`
    /// to `server` (an `EPSV` reply names only a port: the server's address then).
    pub fn target(&self, client: IpAddr, server: IpAddr) -> std::net::SocketAddr {
        let host = self.host.unwrap_or(if self.passive { server } else { client });
        std::net::SocketAddr::new(host, self.port)
    }
}

/// The placeholder for the server's address in a file command's URL.
pub const SERVER: &str = "{server}";

#[derive(Debug)]
struct Pending {
    command: String,
    arg: String,
    at: (u64, i64),
    reply: Option<(u16, String)>,
    file_size: Option<u64>,
    data_channel: Option<DataChannel>,
    transfer: Option<DataChannel>,
}

/// One control session's state.
#[derive(Debug)]
pub struct FtpSession {
    pending: VecDeque<Pending>,
    user: Option<String>,
    password: Option<String>,
    cwd: String,
    /// The data connection set up last.
    channel: Option<DataChannel>,
}

impl Default for FtpSession {
    fn default() -> Self {
        // Zeek's shim: the greeting is the reply to a command never sent.
        let init = Pending {
            command: "<init>".into(),
            arg: String::new(),
            at: (0, 0),
            reply: None,
            file_size: None,
            data_channel: None,
            transfer: None,
        };
        FtpSession { pending: VecDeque::from([init]), user: None, password: None, cwd: ".".into(), channel: None }
    }
}

/// What was written: the line and the frame and time of its command.
pub type Written = (u64, i64, FtpCommand);

impl FtpSession {
    /// A command from the client, sent in `frame` at `ts`.
    pub fn command(&mut self, verb: &str, arg: &str, at: (u64, i64), out: &mut Vec<Written>) {
        // The command answered last is complete once the next one comes.
        if let Some(i) = self.pending.iter().rposition(|p| p.reply.is_some()) {
            let done = self.pending.remove(i).expect("an index found");
            self.write(done, out);
        }
        if self.pending.len() >= MAX_PENDING {
            let oldest = self.pending.pop_front().expect("full");
            self.write(oldest, out);
        }
        match verb {
            "USER" => self.user = Some(arg.to_string()),
            "PASS" => self.password = Some(arg.to_string()),
            _ => {}
        }
        let data_channel = match verb {
            "PORT" => port_argument(arg).map(|(host, port)| DataChannel { passive: false, host: Some(host), port }),
            "EPRT" => eprt_argument(arg).map(|(host, port)| DataChannel { passive: false, host: Some(host), port }),
            _ => None,
        };
        if data_channel.is_some() {
            self.channel = data_channel;
        }
        let transfer = if TRANSFERS.contains(&verb) { self.channel } else { None };
        let command = verb.to_string();
        self.pending.push_back(Pending {
            command,
            arg: arg.to_string(),
            at,
            reply: None,
            file_size: None,
            data_channel,
            transfer,
        });
    }

    /// A reply's last line (`code text`).
    pub fn reply(&mut self, code: u16, msg: &str, out: &mut Vec<Written>) {
        let Some(i) = self.pending.iter().position(|p| p.reply.is_none()).or(self.pending.len().checked_sub(1)) else {
            return;
        };
        let p = &mut self.pending[i];
        p.reply = Some((code, msg.to_string()));
        match (code, p.command.as_str()) {
            (150, "RETR") => p.file_size = first_count(msg),
            (227, "PASV") => {
                p.data_channel =
                    pasv_reply(msg).map(|(host, port)| DataChannel { passive: true, host: Some(host), port });
                self.channel = p.data_channel.or(self.channel);
            }
            (229, "EPSV") => {
                p.data_channel = epsv_reply(msg).map(|port| DataChannel { passive: true, host: None, port });
                self.channel = p.data_channel.or(self.channel);
            }
            (250, "CWD") => self.cwd = build_path(&self.cwd, &p.arg),
            (200 | 250, "CDUP") => self.cwd.push_str("/.."),
            (257, "PWD" | "XPWD") => {
                if let Some(dir) = msg.split('"').nth(1) {
                    self.cwd = dir.to_string();
                }
            }
            _ => {}
        }
        if self.pending.len() > 1 {
            let done = self.pending.remove(i).expect("an index found");
            self.write(done, out);
        }
    }

    /// The session ended: what still waits is written as it is.
    pub fn end(&mut self, out: &mut Vec<Written>) {
        while let Some(p) = self.pending.pop_front() {
            self.write(p, out);
        }
    }

    fn write(&self, p: Pending, out: &mut Vec<Written>) {
        if !LOGGED.contains(&p.command.as_str()) {
            return;
        }
        let arg = if FILE_COMMANDS.contains(&p.command.as_str()) {
            let path = compress_path(&build_path(&self.cwd, &p.arg));
            let slash = if path.starts_with('/') { "" } else { "/" };
            Some(format!("ftp://{SERVER}{slash}{path}"))
        } else {
            Some(p.arg).filter(|a| !a.is_empty())
        };
        let (reply_code, reply_msg) = p.reply.map_or((None, None), |(c, m)| (Some(c), Some(m)));
        out.push((
            p.at.0,
            p.at.1,
            FtpCommand {
                command: p.command,
                arg,
                user: self.user.clone(),
                password: self.password.clone(),
                reply_code,
                reply_msg,
                file_size: p.file_size,
                data_channel: p.data_channel,
                mime_type: None,
                transfer: p.transfer,
            },
        ));
    }
}

/// Zeek's `build_path`: an absolute argument as it is, else under the directory.
fn build_path(dir: &str, arg: &str) -> String {
    if arg.starts_with('/') { arg.to_string() } else { format!("{dir}/{arg}") }
}

/// Zeek's `compress_path`: `dir/..` pairs removed, doubled `/` and `/./` made single.
fn compress_path(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for (i, part) in path.split('/').enumerate() {
        match part {
            "" => {}
            "." if i > 0 => {}
            ".." if parts.last().is_some_and(|p| *p != ".." && *p != ".") => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("{}{}", if absolute { "/" } else { "" }, parts.join("/"))
}

/// The first number in a reply (`150 Opening BINARY mode data connection (1234 bytes)`).
fn first_count(msg: &str) -> Option<u64> {
    let start = msg.find(|c: char| c.is_ascii_digit())?;
    let digits: String = msg[start..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// `h1,h2,h3,h4,p1,p2`, as PORT sends it and a 227 reply writes it.
fn six_numbers(s: &str) -> Option<(IpAddr, u16)> {
    let n: Vec<u8> = s.split(',').map(|x| x.trim().parse().ok()).collect::<Option<_>>()?;
    let [a, b, c, d, p1, p2] = n[..] else { return None };
    Some((IpAddr::from([a, b, c, d]), u16::from(p1) << 8 | u16::from(p2)))
}

fn port_argument(arg: &str) -> Option<(IpAddr, u16)> {
    six_numbers(arg)
}

/// `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)`.
fn pasv_reply(msg: &str) -> Option<(IpAddr, u16)> {
    let start = msg.find(|c: char| c.is_ascii_digit())?;
    let numbers: String = msg[start..].chars().take_while(|c| c.is_ascii_digit() || *c == ',' || *c == ' ').collect();
    six_numbers(numbers.trim_end_matches([' ', ',']))
}

/// `EPRT |1|132.235.1.2|6275|`: any delimiter, protocol 1 or 2.
fn eprt_argument(arg: &str) -> Option<(IpAddr, u16)> {
    let delimiter = arg.chars().next()?;
    let fields: Vec<&str> = arg.split(delimiter).collect();
    Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?))
}

/// `229 Entering Extended Passive Mode (|||6446|)`.
fn epsv_reply(msg: &str) -> Option<u16> {
    let inner = msg.split_once('(')?.1.split_once(')')?.0;
    let delimiter = inner.chars().next()?;
    inner.split(delimiter).nth(3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(lines: &[(&str, &str)]) -> Vec<FtpCommand> {
        let (mut s, mut out) = (FtpSession::default(), Vec::new());
        for (i, (who, line)) in lines.iter().enumerate() {
            if *who == "C" {
                let (verb, arg) = line.split_once(' ').unwrap_or((line, ""));
                s.command(verb, arg, (i as u64, 0), &mut out);
            } else {
                let (code, msg) = line.split_once(' ').unwrap();
                s.reply(code.parse().unwrap(), msg, &mut out);
            }
        }
        s.end(&mut out);
        out.into_iter().map(|w| w.2).collect()
    }

    #[test]
    fn commands_pair_with_their_replies_as_zeek_pairs_them() {
        let log = session(&[
            ("S", "220 ready"),
            ("C", "USER alice"),
            ("S", "331 password"),
            ("C", "PASS s3cret"),
            ("S", "230 in"),
            ("C", "PWD"),
            ("S", "257 \"/home/alice\" is the current directory"),
            ("C", "CWD pub"),
            ("S", "250 ok"),
            ("C", "PASV"),
            ("S", "227 Entering Passive Mode (192,0,2,10,19,137)."),
            ("C", "RETR notes.txt"),
            ("S", "150 Opening BINARY mode data connection for notes.txt (1234 bytes)."),
            ("S", "226 Transfer complete."),
            ("C", "EPSV"),
            ("S", "229 Entering Extended Passive Mode (|||6446|)"),
            ("C", "PORT 198,51,100,7,4,1"),
            ("S", "200 PORT command successful"),
            ("C", "DELE ../old.txt"),
        ]);
        let lines: Vec<(&str, Option<&str>, Option<u16>)> =
            log.iter().map(|c| (c.command.as_str(), c.arg.as_deref(), c.reply_code)).collect();
        assert_eq!(
            lines,
            [
                ("PASV", None, Some(227)),
                ("RETR", Some("ftp://{server}/home/alice/pub/notes.txt"), Some(226)),
                ("EPSV", None, Some(229)),
                ("PORT", Some("198,51,100,7,4,1"), Some(200)),
                ("DELE", Some("ftp://{server}/home/alice/old.txt"), None),
            ]
        );
        assert_eq!(log[1].file_size, Some(1234));
        assert_eq!(log[1].user.as_deref(), Some("alice"));
        assert_eq!(log[1].password.as_deref(), Some("s3cret"));
        let passive = DataChannel { passive: true, host: Some("192.0.2.10".parse().unwrap()), port: 5001 };
        assert_eq!(log[0].data_channel, Some(passive));
        assert_eq!(log[2].data_channel, Some(DataChannel { passive: true, host: None, port: 6446 }));
        let active = DataChannel { passive: false, host: Some("198.51.100.7".parse().unwrap()), port: 1025 };
        assert_eq!(log[3].data_channel, Some(active));
    }

    /// Without a PWD the directory is Zeek's `.`: `ftp://server/./file`.
    #[test]
    fn a_file_in_the_unknown_directory_is_zeeks_dot() {
        let log = session(&[("S", "220 hi"), ("C", "STOR up.bin"), ("S", "150 go"), ("S", "226 done")]);
        assert_eq!(log[0].arg.as_deref(), Some("ftp://{server}/./up.bin"));
        assert_eq!(compress_path("./a/../b//c/./d"), "./b/c/d");
        assert_eq!(compress_path("/x/y/../../z"), "/z");
    }

    /// A client that sends without waiting keeps at most [`MAX_PENDING`] commands.
    #[test]
    fn waiting_commands_are_bounded() {
        let (mut s, mut out) = (FtpSession::default(), Vec::new());
        for i in 0..10_000 {
            s.command("DELE", "x", (i, 0), &mut out);
        }
        assert!(s.pending.len() <= MAX_PENDING);
        s.end(&mut out);
        assert_eq!(out.len(), 10_000);
        assert_eq!(eprt_argument("|2|2001:db8::1|5282|"), Some(("2001:db8::1".parse().unwrap(), 5282)));
    }
}

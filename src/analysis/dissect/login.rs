//! Logins in the text protocols of mail and file transfer: FTP, POP3, IMAP and SMTP,
//! recognised by content (a server's greeting or a client's first command), on any port.
//!
//! Both directions are read line by line: FTP and POP3 `USER`/`PASS`, POP3 `APOP`, IMAP
//! `LOGIN`, and SASL (`AUTH`, `AUTHENTICATE`: PLAIN, LOGIN, CRAM-MD5, XOAUTH2, base64
//! decoded). The server's capabilities say whether it offered an upgrade to TLS; an
//! upgrade it accepts (`STARTTLS`, `STLS`, `AUTH TLS`) ends the reading: what follows is
//! TLS, handed to its dissector, and nothing in it is readable. A mail body (`DATA`) is
//! skipped. Lines are bounded: a line longer than [`MAX_LINE`] is dropped. The same
//! [`Login`] and [`StartTls`] records carry SNMP communities and LDAP binds.

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::analysis::reassembly::Dir;

/// The longest line kept; longer ones are dropped (no login line is this long).
pub const MAX_LINE: usize = 8192;

/// The protocol a login was read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Ftp,
    Pop3,
    Imap,
    Smtp,
    /// SNMP v1/v2c: the community ([`super::snmp`]).
    Snmp,
    /// LDAP simple binds ([`super::ldap`]).
    Ldap,
    /// What is typed at Telnet's prompts ([`super::telnet`]).
    Telnet,
    /// NTLM authentications in any protocol ([`super::ntlm`]).
    Ntlm,
    /// HTTP Digest authentication: the user, the realm and the response hash.
    HttpDigest,
    /// Kerberos requests and replies ([`super::kerberos`]).
    Kerberos,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Ftp => "ftp",
            Protocol::Pop3 => "pop3",
            Protocol::Imap => "imap",
            Protocol::Smtp => "smtp",
            Protocol::Snmp => "snmp",
            Protocol::Ldap => "ldap",
            Protocol::Telnet => "telnet",
            Protocol::Ntlm => "ntlm",
            Protocol::HttpDigest => "http-digest",
            Protocol::Kerberos => "kerberos",
        }
    }
}

impl From<Protocol> for crate::analysis::flow::Service {
    fn from(p: Protocol) -> crate::analysis::flow::Service {
        use crate::analysis::flow::Service;
        match p {
            Protocol::Ftp => Service::Ftp,
            Protocol::Pop3 => Service::Pop3,
            Protocol::Imap => Service::Imap,
            Protocol::Smtp => Service::Smtp,
            Protocol::Snmp => Service::Snmp,
            Protocol::Ldap => Service::Ldap,
            Protocol::Telnet => Service::Telnet,
            Protocol::Ntlm => Service::Ntlm,
            Protocol::HttpDigest => Service::Http,
            Protocol::Kerberos => Service::Krb,
        }
    }
}

/// A login sent in clear.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Login {
    pub protocol: Protocol,
    /// How: `USER/PASS`, `APOP`, `LOGIN`, `AUTH PLAIN`, `AUTH LOGIN`, `AUTH CRAM-MD5`,
    /// `AUTH XOAUTH2`.
    pub mechanism: String,
    pub username: String,
    /// The password (or the APOP / CRAM-MD5 digest, the OAuth token); absent when only the
    /// user name crossed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Whether the server had offered an upgrade to TLS before this login (its
    /// capabilities); absent when they were not seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_offered: Option<bool>,
    /// The domain or realm it was for (NTLM, Kerberos), when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

/// A request to upgrade the session to TLS, and the server's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartTls {
    pub protocol: Protocol,
    /// `STARTTLS`, `STLS`, `AUTH TLS` ...
    pub command: String,
    /// The server's reply line.
    pub reply: String,
    /// The server agreed: what follows is TLS.
    pub accepted: bool,
}

/// A session whose server's capabilities, once complete, offered no upgrade to TLS: it
/// stays in clear. `stripped` when the offer was blanked out on the way (a capability of
/// `STARTTLS`'s length made of `X`s, as middleboxes that strip it write): the mail
/// world's sslstrip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoTls {
    pub protocol: Protocol,
    pub stripped: bool,
    /// The capability line that shows it (the blanked one, or the list's last).
    pub evidence: String,
}

/// What a line produced.
#[derive(Debug, PartialEq)]
pub enum Read {
    Login(Login),
    /// An ftp.log line ([`super::ftp`]).
    Ftp(super::ftp::FtpCommand),
    /// An smtp.log line ([`super::smtp`]).
    Smtp(Box<super::smtp::SmtpMessage>),
    StartTls(StartTls),
    NoTls(NoTls),
}

/// What was read, and the frame and time of the line that said it.
#[derive(Debug, PartialEq)]
pub struct Stamped {
    pub frame: u64,
    pub ts: i64,
    pub read: Read,
}

/// Whether the first bytes of a stream, sent in `dir`, look like one of these protocols.
pub fn looks_like(b: &[u8], dir: Dir) -> bool {
    let upper = |n: usize| b[..b.len().min(n)].to_ascii_uppercase();
    match dir {
        Dir::ToClient => {
            b.starts_with(b"220 ")
                || b.starts_with(b"220-")
                || b.starts_with(b"+OK")
                || b.starts_with(b"* OK")
                || b.starts_with(b"* PREAUTH")
        }
        Dir::ToServer => {
            let u = upper(24);
            ["USER ", "EHLO ", "HELO ", "AUTH ", "APOP ", "CAPA\r", "STLS\r"]
                .iter()
                .any(|c| u.starts_with(c.as_bytes()))
                || imap_command(&u).is_some()
        }
    }
}

/// An IMAP client line's command: `tag COMMAND ...`.
fn imap_command(upper: &[u8]) -> Option<&'static str> {
    let sp = memchr::memchr(b' ', upper)?;
    let tag = &upper[..sp];
    if tag.is_empty() || !tag.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'.' || *c == b'_') {
        return None;
    }
    let rest = &upper[sp + 1..];
    ["LOGIN ", "AUTHENTICATE ", "CAPABILITY", "STARTTLS"].into_iter().find(|c| rest.starts_with(c.as_bytes()))
}

/// A SASL exchange under way.
#[derive(Debug)]
struct Sasl {
    mechanism: String,
    user: Option<String>,
}

/// One session's state.
#[derive(Debug, Default)]
pub struct LoginConn {
    protocol: Option<Protocol>,
    lines: [Vec<u8>; 2],
    /// The frame and time of the segment being read.
    at: (u64, i64),
    /// A line longer than [`MAX_LINE`] is being skipped, up to its end.
    skipping: [bool; 2],
    /// A `USER` waiting for its `PASS`, with where it was sent.
    user: Option<(String, (u64, i64))>,
    sasl: Option<Sasl>,
    /// An upgrade asked for, waiting for its answer (the command, and IMAP's tag).
    upgrade: Option<(String, String)>,
    tls_offered: Option<bool>,
    /// A capability line where STARTTLS was blanked out, once seen.
    stripped: Option<String>,
    /// The client asked for the server's capabilities (SMTP `EHLO`, POP3 `CAPA`, FTP
    /// `FEAT`) and the list has not ended yet.
    caps_asked: bool,
    /// The client is sending a mail body (SMTP `DATA`), or is about to.
    data: Data,
    /// The last server reply started with a digit (FTP), not `+OK` / `-ERR` (POP3).
    numeric_reply: Option<bool>,
    upgraded: bool,
    /// The commands and replies of what may be an FTP session, and the lines written
    /// while it was not yet known to be one (at most [`super::ftp::MAX_PENDING`]).
    ftp: Option<Box<super::ftp::FtpSession>>,
    ftp_written: Vec<super::ftp::Written>,
    /// The transactions of an SMTP session, once it is known to be one.
    smtp: Option<Box<super::smtp::SmtpSession>>,
    smtp_written: Vec<super::smtp::Written>,
}

#[derive(Debug, Default, PartialEq)]
enum Data {
    #[default]
    No,
    Asked,
    Body,
}

impl LoginConn {
    /// Bytes of one direction. Returns what was read, and once the server accepted an
    /// upgrade to TLS, the offset in `data` where TLS starts.
    pub fn data(&mut self, dir: Dir, data: &[u8], frame: u64, ts: i64, out: &mut Vec<Stamped>) -> Option<usize> {
        self.at = (frame, ts);
        let mut rest = data;
        while !rest.is_empty() {
            let (line, end) = match memchr::memchr(b'\n', rest) {
                Some(i) => (&rest[..=i], i + 1),
                None => {
                    let buf = &mut self.lines[dir as usize];
                    if !self.skipping[dir as usize] {
                        buf.extend_from_slice(rest);
                        if buf.len() > MAX_LINE {
                            buf.clear();
                            self.skipping[dir as usize] = true;
                        }
                    }
                    return None;
                }
            };
            rest = &rest[end..];
            if std::mem::take(&mut self.skipping[dir as usize]) {
                continue;
            }
            let mut buf = std::mem::take(&mut self.lines[dir as usize]);
            let whole: &[u8] = if buf.is_empty() {
                line
            } else {
                buf.extend_from_slice(line);
                &buf
            };
            let text = String::from_utf8_lossy(whole);
            let text = text.trim_end_matches(['\r', '\n']);
            match dir {
                Dir::ToServer => self.client_line(text, out),
                Dir::ToClient => self.server_line(text, out),
            }
            buf.clear();
            if self.lines[dir as usize].is_empty() {
                self.lines[dir as usize] = buf;
            }
            self.ftp_lines(out);
            self.smtp_lines(out);
            if self.upgraded {
                self.end_ftp(out);
                if let Some(smtp) = self.smtp.as_mut() {
                    smtp.starttls(self.at, &mut self.smtp_written);
                }
                self.smtp = None;
                self.smtp_lines(out);
                return Some(data.len() - rest.len());
            }
        }
        None
    }

    /// Whether the session may be FTP (its commands and replies are followed).
    fn maybe_ftp(&self) -> bool {
        matches!(self.protocol, None | Some(Protocol::Ftp))
    }

    /// The ftp.log lines written so far, once the session is known to be FTP.
    fn ftp_lines(&mut self, out: &mut Vec<Stamped>) {
        match self.protocol {
            Some(Protocol::Ftp) => {
                for (frame, ts, c) in self.ftp_written.drain(..) {
                    out.push(Stamped { frame, ts, read: Read::Ftp(c) });
                }
            }
            Some(_) => {
                self.ftp = None;
                self.ftp_written = Vec::new();
            }
            None => self.ftp_written.truncate(super::ftp::MAX_PENDING),
        }
    }

    /// The smtp.log lines written so far.
    fn smtp_lines(&mut self, out: &mut Vec<Stamped>) {
        for (frame, ts, m) in self.smtp_written.drain(..) {
            out.push(Stamped { frame, ts, read: Read::Smtp(Box::new(m)) });
        }
    }

    /// What still waits in an FTP session, written as it is.
    fn end_ftp(&mut self, out: &mut Vec<Stamped>) {
        if let Some(mut f) = self.ftp.take() {
            f.end(&mut self.ftp_written);
        }
        if self.protocol == Some(Protocol::Ftp) {
            self.ftp_lines(out);
        }
    }

    fn client_line(&mut self, line: &str, out: &mut Vec<Stamped>) {
        if self.data == Data::Body {
            self.message_line(line);
            return;
        }
        if self.sasl.is_some() && self.sasl_line(line, out) {
            return;
        }
        let upper = line.to_ascii_uppercase();
        if let Some(cmd) = imap_command(upper.as_bytes()) {
            self.protocol.get_or_insert(Protocol::Imap);
            let (tag, args) = line.split_once(' ').unwrap_or((line, ""));
            let args = args.get(cmd.trim_end().len()..).unwrap_or("").trim_start();
            match cmd.trim_end() {
                "LOGIN" => {
                    let a = astrings(args);
                    let login =
                        self.login(Protocol::Imap, "LOGIN", a.first().cloned().unwrap_or_default(), a.get(1).cloned());
                    self.emit(out, Read::Login(login));
                }
                "AUTHENTICATE" => self.start_sasl(args, out),
                "STARTTLS" => self.upgrade = Some(("STARTTLS".into(), tag.to_string())),
                _ => {}
            }
            return;
        }
        let (verb, arg) = match upper.split_once(' ') {
            Some((v, _)) => (v.to_string(), line[v.len() + 1..].trim()),
            None => (upper.clone(), ""),
        };
        if verb != "PASS" {
            self.flush_user(out);
        }
        if self.maybe_ftp() {
            let at = self.at;
            self.ftp.get_or_insert_default().command(&verb, arg, at, &mut self.ftp_written);
        }
        match verb.as_str() {
            "USER" => {
                // After a numeric greeting, USER is FTP's (POP3 answers `+OK`, SMTP has none).
                if self.numeric_reply == Some(true) {
                    self.protocol.get_or_insert(Protocol::Ftp);
                }
                self.user = Some((arg.to_string(), self.at));
            }
            "PASS" => {
                let guess = if self.numeric_reply == Some(false) { Protocol::Pop3 } else { Protocol::Ftp };
                // Known from here on: the connection's service names it.
                let protocol = *self.protocol.get_or_insert(guess);
                let user = self.user.take().map(|u| u.0).unwrap_or_default();
                let login = self.login(protocol, "USER/PASS", user, Some(arg.to_string()));
                self.emit(out, Read::Login(login));
            }
            "APOP" => {
                let (name, digest) = arg.rsplit_once(' ').unwrap_or((arg, ""));
                self.protocol.get_or_insert(Protocol::Pop3);
                let login = self.login(Protocol::Pop3, "APOP", name.to_string(), Some(digest.to_string()));
                self.emit(out, Read::Login(login));
            }
            "EHLO" | "HELO" => {
                self.protocol.get_or_insert(Protocol::Smtp);
                self.caps_asked = verb == "EHLO";
            }
            "CAPA" => {
                self.protocol.get_or_insert(Protocol::Pop3);
                self.caps_asked = true;
            }
            "FEAT" => {
                self.protocol.get_or_insert(Protocol::Ftp);
                self.caps_asked = true;
            }
            "AUTH" => {
                let mech = arg.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
                if ["TLS", "SSL", "TLS-C", "TLS-P"].contains(&mech.as_str()) {
                    self.protocol.get_or_insert(Protocol::Ftp);
                    self.upgrade = Some((format!("AUTH {mech}"), String::new()));
                } else {
                    self.start_sasl(arg, out);
                }
            }
            "STARTTLS" => {
                self.protocol.get_or_insert(Protocol::Smtp);
                self.upgrade = Some(("STARTTLS".into(), String::new()));
            }
            "STLS" => {
                self.protocol = Some(Protocol::Pop3);
                self.upgrade = Some(("STLS".into(), String::new()));
            }
            "DATA" if self.protocol == Some(Protocol::Smtp) => self.data = Data::Asked,
            _ => {}
        }
        if self.protocol == Some(Protocol::Smtp) {
            let at = self.at;
            self.smtp.get_or_insert_default().command(&verb, arg, at, &mut self.smtp_written);
        }
    }

    /// A line of a mail's body (SMTP `DATA`), up to its final `.`: its headers are read.
    fn message_line(&mut self, line: &str) {
        let smtp = self.smtp.get_or_insert_default();
        if line == "." {
            self.data = Data::No;
            smtp.message_ends();
        } else {
            smtp.message_line(line.strip_prefix('.').unwrap_or(line));
        }
    }

    fn login(&self, protocol: Protocol, mechanism: &str, username: String, secret: Option<String>) -> Login {
        Login {
            protocol: self.protocol.unwrap_or(protocol),
            mechanism: mechanism.to_string(),
            username,
            secret: secret.filter(|s| !s.is_empty()),
            tls_offered: self.tls_offered,
            domain: None,
        }
    }

    /// `AUTH MECH [initial]`: a SASL exchange starts.
    fn start_sasl(&mut self, args: &str, out: &mut Vec<Stamped>) {
        let mut it = args.split_whitespace();
        let mechanism = it.next().unwrap_or("").to_ascii_uppercase();
        self.sasl = Some(Sasl { mechanism, user: None });
        if let Some(initial) = it.next() {
            self.sasl_line(initial, out);
        }
    }

    /// A SASL continuation line (base64). False when it is a command after all.
    fn sasl_line(&mut self, line: &str, out: &mut Vec<Stamped>) -> bool {
        let line = line.trim();
        if line == "*" {
            self.sasl = None;
            return true;
        }
        let decoded = if line == "=" {
            Some(Vec::new())
        } else if line.contains(' ') {
            None
        } else {
            base64::engine::general_purpose::STANDARD.decode(line).ok()
        };
        let Some(data) = decoded else {
            self.sasl = None;
            return false;
        };
        let protocol = self.protocol.unwrap_or(Protocol::Smtp);
        let Some(sasl) = self.sasl.as_mut() else { return false };
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let login = match sasl.mechanism.as_str() {
            "PLAIN" => {
                let parts: Vec<&[u8]> = data.splitn(3, |c| *c == 0).collect();
                (parts.len() == 3).then(|| ("AUTH PLAIN", text(parts[1]), Some(text(parts[2]))))
            }
            "LOGIN" => match sasl.user.take() {
                None => {
                    sasl.user = Some(text(&data));
                    return true;
                }
                Some(user) => Some(("AUTH LOGIN", user, Some(text(&data)))),
            },
            "CRAM-MD5" => {
                let t = text(&data);
                let (user, digest) = t.rsplit_once(' ').unwrap_or((&t, ""));
                Some(("AUTH CRAM-MD5", user.to_string(), Some(digest.to_string())))
            }
            "XOAUTH2" => {
                let t = text(&data);
                let field = |k: &str| t.split('\u{1}').find_map(|x| x.strip_prefix(k)).unwrap_or("").to_string();
                let token = field("auth=");
                Some((
                    "AUTH XOAUTH2",
                    field("user="),
                    Some(token.strip_prefix("Bearer ").unwrap_or(&token).to_string()),
                ))
            }
            // Other mechanisms (NTLM, GSSAPI, SCRAM): nothing readable here.
            _ => None,
        };
        self.sasl = None;
        if let Some((mechanism, user, secret)) = login {
            let l = self.login(protocol, mechanism, user, secret);
            self.emit(out, Read::Login(l));
        }
        true
    }

    fn server_line(&mut self, line: &str, out: &mut Vec<Stamped>) {
        let upper = line.to_ascii_uppercase();
        if self.protocol.is_none() {
            self.protocol = if upper.starts_with("+OK") || upper.starts_with("-ERR") {
                Some(Protocol::Pop3)
            } else if upper.starts_with("* OK") || upper.starts_with("* PREAUTH") {
                Some(Protocol::Imap)
            } else if upper.starts_with("220") && upper.contains("FTP") {
                Some(Protocol::Ftp)
            } else if upper.starts_with("220") && (upper.contains("SMTP") || upper.contains("MAIL")) {
                Some(Protocol::Smtp)
            } else {
                None
            };
        }
        self.numeric_reply = Some(upper.as_bytes().first().is_some_and(u8::is_ascii_digit));
        // An FTP reply's last line: three digits and a space (or nothing).
        if self.maybe_ftp()
            && let Some(code) = line.get(..3).and_then(|c| c.parse::<u16>().ok())
            && matches!(line.as_bytes().get(3), None | Some(b' '))
        {
            let msg = line.get(4..).unwrap_or("");
            self.ftp.get_or_insert_default().reply(code, msg, &mut self.ftp_written);
        }
        self.capabilities(line, &upper, out);
        if self.protocol == Some(Protocol::Smtp) {
            let last = line.as_bytes().get(3) != Some(&b'-');
            let at = self.at;
            self.smtp.get_or_insert_default().reply(line, last, at, &mut self.smtp_written);
        }
        if self.data == Data::Asked {
            self.data = if upper.starts_with("354") { Data::Body } else { Data::No };
            if self.data == Data::Body {
                self.smtp.get_or_insert_default().message_begins();
            }
        }
        let Some((command, tag)) = self.upgrade.clone() else { return };
        let protocol = self.protocol.unwrap_or(Protocol::Smtp);
        let accepted = match protocol {
            Protocol::Imap => {
                let t = tag.to_ascii_uppercase();
                if !upper.starts_with(&format!("{t} ")) {
                    return; // an untagged line before the answer
                }
                upper[t.len() + 1..].starts_with("OK")
            }
            Protocol::Pop3 => upper.starts_with("+OK"),
            Protocol::Ftp => upper.starts_with("234"),
            Protocol::Smtp
            | Protocol::Snmp
            | Protocol::Ldap
            | Protocol::Telnet
            | Protocol::Ntlm
            | Protocol::HttpDigest
            | Protocol::Kerberos => upper.starts_with("220"),
        };
        if line.len() > 3 && line.as_bytes()[3] == b'-' && protocol != Protocol::Imap {
            return; // a multi-line reply goes on
        }
        self.upgrade = None;
        self.emit(out, Read::StartTls(StartTls { protocol, command, reply: line.to_string(), accepted }));
        self.upgraded = accepted;
    }

    /// The server's capabilities (SMTP's EHLO reply, IMAP's CAPABILITY, POP3's CAPA, FTP's
    /// FEAT): whether they offer an upgrade to TLS, whether the offer was blanked out on
    /// the way, and once the first list is complete without it, a [`NoTls`].
    fn capabilities(&mut self, line: &str, upper: &str, out: &mut Vec<Stamped>) {
        let protocol = self.protocol.unwrap_or(Protocol::Smtp);
        let imap_list = protocol == Protocol::Imap && upper.starts_with("* ") && upper.contains("CAPABILITY");
        if !(self.caps_asked || imap_list) {
            return;
        }
        let offers = upper.contains("STARTTLS") || upper.trim() == "STLS" || upper.contains("AUTH TLS");
        if offers {
            self.tls_offered = Some(true);
        }
        // A capability made of X's where STARTTLS, STLS or AUTH TLS was (`250-XXXXXXXA`,
        // `XXXX`): blanked out by a middlebox. The whole capability, in capitals: an
        // anonymised host name (`mail.xxx.com`) is not one.
        let blanked_cap = |cap: &str| {
            let cap: Vec<u8> = cap.bytes().filter(|&b| b != b' ').collect();
            cap.len() >= 4
                && cap[..cap.len() - 1].iter().all(|&b| b == b'X')
                && matches!(cap[cap.len() - 1], b'X' | b'A')
        };
        let blanked = match protocol {
            Protocol::Imap => line.split(' ').any(blanked_cap),
            Protocol::Pop3 | Protocol::Ftp => blanked_cap(line.trim()),
            _ => line.get(4..).is_some_and(|cap| blanked_cap(cap.trim())),
        };
        if blanked && self.stripped.is_none() {
            self.stripped = Some(line.trim().to_string());
        }
        let first = upper.as_bytes().first().copied();
        let (ends, refused) = match protocol {
            Protocol::Imap => (imap_list, false),
            Protocol::Pop3 => (upper.trim() == ".", upper.starts_with("-ERR")),
            Protocol::Ftp => (upper.starts_with("211 "), first.is_some_and(|c| c == b'4' || c == b'5')),
            _ => (upper.starts_with("250 "), first.is_some_and(|c| c == b'4' || c == b'5')),
        };
        if refused {
            self.caps_asked = false;
        } else if ends {
            self.caps_asked = false;
            if self.tls_offered.is_none() {
                self.tls_offered = Some(false);
                let (stripped, evidence) = match self.stripped.clone() {
                    Some(blank) => (true, blank),
                    None => (false, line.trim().to_string()),
                };
                self.emit(out, Read::NoTls(NoTls { protocol, stripped, evidence }));
            }
        }
    }

    fn emit(&self, out: &mut Vec<Stamped>, read: Read) {
        out.push(Stamped { frame: self.at.0, ts: self.at.1, read });
    }

    /// A `USER` that no `PASS` followed: the user name alone crossed.
    fn flush_user(&mut self, out: &mut Vec<Stamped>) {
        if let Some((user, (frame, ts))) = self.user.take() {
            let protocol =
                self.protocol.unwrap_or(if self.numeric_reply == Some(false) { Protocol::Pop3 } else { Protocol::Ftp });
            let read = Read::Login(self.login(protocol, "USER/PASS", user, None));
            out.push(Stamped { frame, ts, read });
        }
    }

    /// The session ended: what is still pending.
    pub fn end(&mut self, out: &mut Vec<Stamped>) {
        self.flush_user(out);
        self.end_ftp(out);
        if let Some(mut smtp) = self.smtp.take() {
            smtp.end(self.at, &mut self.smtp_written);
            self.smtp_lines(out);
        }
    }

    /// The session's protocol, once known.
    pub fn protocol(&self) -> Option<Protocol> {
        self.protocol
    }
}

/// An HTTP Digest `Authorization` value: the user, the realm, and the response hash
/// (what is cracked offline, with the nonce and the URI beside it in the header).
pub fn digest(raw: &str) -> Option<Login> {
    let rest = raw.trim_start().get(6..)?;
    let mut params = std::collections::HashMap::new();
    let mut rest = rest.trim_start();
    while let Some((key, after)) = rest.split_once('=') {
        let after = after.trim_start();
        let (value, next) = match after.strip_prefix('"') {
            Some(q) => q.split_once('"').unwrap_or((q, "")),
            None => after.split_once(',').map_or((after, ""), |(v, n)| (v, n)),
        };
        params.insert(key.trim().trim_start_matches(',').trim().to_ascii_lowercase(), value.trim().to_string());
        rest = next.trim_start().trim_start_matches(',').trim_start();
    }
    Some(Login {
        protocol: Protocol::HttpDigest,
        mechanism: "Digest".into(),
        username: params.remove("username")?,
        secret: params.remove("response").filter(|r| !r.is_empty()),
        tls_offered: None,
        domain: params.remove("realm").filter(|r| !r.is_empty()),
    })
}

/// IMAP astrings: atoms and quoted strings (with `\` escapes); `{n}` literals as they are.
fn astrings(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c == ' ' {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut buf = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => buf.extend(chars.next()),
                    c => buf.push(c),
                }
            }
            out.push(buf);
        } else {
            let mut buf = String::new();
            while let Some(&c) = chars.peek() {
                if c == ' ' {
                    break;
                }
                buf.push(c);
                chars.next();
            }
            out.push(buf);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(exchange: &[(Dir, &str)]) -> Vec<Read> {
        let mut c = LoginConn::default();
        let mut out = Vec::new();
        for (i, (dir, text)) in exchange.iter().enumerate() {
            c.data(*dir, text.as_bytes(), i as u64 + 1, 0, &mut out);
        }
        c.end(&mut out);
        out.into_iter().map(|s| s.read).collect()
    }

    fn logins(r: &[Read]) -> Vec<(Protocol, String, String, Option<String>)> {
        r.iter()
            .filter_map(|r| match r {
                Read::Login(l) => Some((l.protocol, l.mechanism.clone(), l.username.clone(), l.secret.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn ftp_and_pop3_user_pass_are_told_apart_by_their_replies() {
        let ftp = run(&[
            (Dir::ToClient, "220 (vsFTPd 3.0.3)\r\n"),
            (Dir::ToServer, "USER alice\r\n"),
            (Dir::ToClient, "331 Please specify the password.\r\n"),
            (Dir::ToServer, "PASS s3cret\r\n"),
        ]);
        assert_eq!(logins(&ftp), [(Protocol::Ftp, "USER/PASS".into(), "alice".into(), Some("s3cret".into()))]);
        let pop = run(&[(Dir::ToServer, "USER bob\r\n"), (Dir::ToClient, "+OK\r\n"), (Dir::ToServer, "PASS pw\r\n")]);
        assert_eq!(logins(&pop), [(Protocol::Pop3, "USER/PASS".into(), "bob".into(), Some("pw".into()))]);
    }

    #[test]
    fn sasl_plain_and_login_are_decoded_and_split_lines_joined() {
        let plain = run(&[
            (Dir::ToClient, "220 mail.example ESMTP\r\n"),
            (Dir::ToServer, "AUTH PLAIN AHVzZXIA"),
            (Dir::ToServer, "cGFzcw==\r\n"),
        ]);
        assert_eq!(logins(&plain), [(Protocol::Smtp, "AUTH PLAIN".into(), "user".into(), Some("pass".into()))]);
        let login = run(&[
            (Dir::ToServer, "EHLO me\r\n"),
            (Dir::ToServer, "AUTH LOGIN\r\n"),
            (Dir::ToClient, "334 VXNlcm5hbWU6\r\n"),
            (Dir::ToServer, "Z2FsdW50\r\n"),
            (Dir::ToServer, "VjF2MXRyMG4=\r\n"),
        ]);
        assert_eq!(logins(&login), [(Protocol::Smtp, "AUTH LOGIN".into(), "galunt".into(), Some("V1v1tr0n".into()))]);
    }

    /// An EHLO reply without STARTTLS leaves the session in clear; one whose STARTTLS was
    /// blanked out on the way says it was stripped; one that offers it says nothing.
    #[test]
    fn a_missing_or_stripped_starttls_offer_is_said() {
        let no_tls = |reply: &[u8]| {
            let (mut c, mut out) = (LoginConn::default(), Vec::new());
            c.data(Dir::ToClient, b"220 mx ESMTP\r\n", 1, 0, &mut out);
            c.data(Dir::ToServer, b"EHLO me\r\n", 2, 0, &mut out);
            c.data(Dir::ToClient, reply, 3, 0, &mut out);
            out.into_iter().filter_map(|s| if let Read::NoTls(n) = s.read { Some(n) } else { None }).collect::<Vec<_>>()
        };
        let stripped = no_tls(b"250-mx\r\n250-PIPELINING\r\n250-XXXXXXXA\r\n250 8BITMIME\r\n");
        assert!(no_tls(b"502 5.5.1 EHLO not accepted\r\n").is_empty(), "no list, nothing said");
        assert_eq!(stripped.len(), 1);
        assert!(stripped[0].stripped && stripped[0].evidence == "250-XXXXXXXA", "{stripped:?}");
        let none = no_tls(b"250-mx\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
        assert!(none.len() == 1 && !none[0].stripped && none[0].evidence == "250 8BITMIME", "{none:?}");
        assert!(no_tls(b"250-mx\r\n250-STARTTLS\r\n250 8BITMIME\r\n").is_empty());
    }

    /// IMAP's CAPABILITY, POP3's CAPA and FTP's FEAT are read as SMTP's EHLO reply is.
    #[test]
    fn starttls_offers_are_read_in_every_protocols_capabilities() {
        let said = |exchange: &[(Dir, &str)]| {
            run(exchange)
                .into_iter()
                .filter_map(|r| if let Read::NoTls(n) = r { Some((n.protocol, n.stripped, n.evidence)) } else { None })
                .collect::<Vec<_>>()
        };
        let imap = |caps: &str| said(&[(Dir::ToClient, &format!("* OK [CAPABILITY IMAP4rev1 {caps}] ready\r\n"))]);
        assert!(imap("STARTTLS AUTH=PLAIN").is_empty());
        let none = imap("AUTH=PLAIN");
        assert!(matches!(&none[..], [(Protocol::Imap, false, _)]), "{none:?}");
        let blanked = said(&[(Dir::ToClient, "* OK hi\r\n"), (Dir::ToClient, "* CAPABILITY IMAP4rev1 XXXXXXXX\r\n")]);
        assert!(matches!(&blanked[..], [(Protocol::Imap, true, _)]), "{blanked:?}");
        let pop3 = |caps: &str| {
            let reply = format!("+OK\r\n{caps}\r\n.\r\n");
            said(&[(Dir::ToClient, "+OK POP3 ready\r\n"), (Dir::ToServer, "CAPA\r\n"), (Dir::ToClient, &reply)])
        };
        assert!(pop3("USER\r\nSTLS").is_empty());
        assert!(matches!(&pop3("USER\r\nXXXX")[..], [(Protocol::Pop3, true, e)] if e == "XXXX"));
        assert!(matches!(&pop3("USER\r\nUIDL")[..], [(Protocol::Pop3, false, e)] if e == "."));
        let ftp = |feat: &str| {
            let reply = format!("211-Features:\r\n{feat}\r\n211 End\r\n");
            said(&[(Dir::ToClient, "220 FTP ready\r\n"), (Dir::ToServer, "FEAT\r\n"), (Dir::ToClient, &reply)])
        };
        assert!(ftp(" AUTH TLS\r\n PBSZ").is_empty());
        assert!(matches!(&ftp(" MDTM\r\n SIZE")[..], [(Protocol::Ftp, false, _)]));
        let refused =
            said(&[(Dir::ToClient, "220 FTP\r\n"), (Dir::ToServer, "FEAT\r\n"), (Dir::ToClient, "502 no\r\n")]);
        assert!(refused.is_empty(), "{refused:?}");
    }

    #[test]
    fn a_user_name_without_its_password_is_read_too() {
        let r = run(&[
            (Dir::ToClient, "220 FTP ready\r\n"),
            (Dir::ToServer, "USER hello\r\n"),
            (Dir::ToServer, "QUIT\r\n"),
        ]);
        assert_eq!(logins(&r), [(Protocol::Ftp, "USER/PASS".into(), "hello".into(), None)]);
    }

    #[test]
    fn imap_login_parses_quoted_strings() {
        let r = run(&[(Dir::ToClient, "* OK IMAP4rev1\r\n"), (Dir::ToServer, "a001 LOGIN \"sam ir\" \"p\\\"w\"\r\n")]);
        assert_eq!(logins(&r), [(Protocol::Imap, "LOGIN".into(), "sam ir".into(), Some("p\"w".into()))]);
    }

    #[test]
    fn an_accepted_starttls_ends_the_reading_and_a_mail_body_is_skipped() {
        let mut c = LoginConn::default();
        let mut out = Vec::new();
        c.data(Dir::ToClient, b"220 mx ESMTP\r\n250-mx\r\n250-STARTTLS\r\n250 OK\r\n", 1, 0, &mut out);
        c.data(Dir::ToServer, b"MAIL FROM:<a@b>\r\nDATA\r\n", 2, 0, &mut out);
        c.data(Dir::ToClient, b"354 go\r\n", 3, 0, &mut out);
        c.data(Dir::ToServer, b"USER not-a-login\r\nPASS nope\r\n.\r\nSTARTTLS\r\n", 4, 0, &mut out);
        let at = c.data(Dir::ToClient, b"220 Ready to start TLS\r\n\x16\x03\x01", 5, 0, &mut out);
        c.end(&mut out);
        assert_eq!(at, Some(24));
        let out: Vec<Read> = out.into_iter().map(|s| s.read).collect();
        assert!(logins(&out).is_empty(), "{out:?}");
        let out: Vec<&Read> = out.iter().filter(|r| !matches!(r, Read::Smtp(_))).collect();
        assert!(matches!(&out[..], [Read::StartTls(s)] if s.accepted && s.command == "STARTTLS"));
    }

    #[test]
    fn a_line_without_end_is_bounded() {
        let mut c = LoginConn::default();
        let mut out = Vec::new();
        for _ in 0..100 {
            c.data(Dir::ToServer, &[b'A'; 4096], 1, 0, &mut out);
        }
        assert!(c.lines[0].len() <= MAX_LINE);
        c.data(Dir::ToServer, b"\r\nUSER x\r\nPASS y\r\n", 2, 0, &mut out);
        let out: Vec<Read> = out.into_iter().map(|s| s.read).collect();
        assert_eq!(logins(&out).len(), 1);
    }
}

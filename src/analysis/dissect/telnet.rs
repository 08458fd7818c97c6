//! Telnet: the login and the password a person types after the server's `login:` and
//! `Password:` prompts, read through the option negotiation (IAC commands and
//! subnegotiations are stripped, `IAC IAC` is a 0xff byte) and the typing itself
//! (backspaces applied, one key per segment or a whole line). Recognised by its first
//! bytes: an option negotiation. Everything it keeps is bounded.

use super::login::{Login, Protocol};
use crate::analysis::reassembly::Dir;

/// The server's last text kept to recognise a prompt.
const PROMPT: usize = 64;
/// The longest line typed that is kept.
const TYPED: usize = 256;

/// Whether a stream's first bytes are a Telnet option negotiation (IAC WILL/WONT/DO/DONT).
pub fn looks_like(b: &[u8]) -> bool {
    b.len() >= 3 && b[0] == 0xff && (0xfb..=0xfe).contains(&b[1])
}

#[derive(Debug, Default, Clone, Copy, PartialEq)]
enum Iac {
    #[default]
    Data,
    /// After IAC.
    Command,
    /// After IAC WILL/WONT/DO/DONT: the option byte.
    Option,
    /// Inside IAC SB ... IAC SE.
    Sub,
    /// IAC inside a subnegotiation.
    SubCommand,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    User,
    Password,
}

/// One Telnet session.
#[derive(Debug, Default)]
pub struct TelnetConn {
    iac: [Iac; 2],
    prompt: Vec<u8>,
    expect: Option<Expect>,
    typed: Vec<u8>,
    user: Option<String>,
}

impl TelnetConn {
    /// Bytes of one direction; a login once its password is typed.
    pub fn data(&mut self, dir: Dir, data: &[u8], out: &mut Vec<Login>) {
        for &b in data {
            let Some(c) = self.text(dir, b) else { continue };
            match dir {
                Dir::ToClient => self.server_byte(c),
                Dir::ToServer => self.client_byte(c, out),
            }
        }
    }

    /// The session ended: a user name typed without a password is a login of its own.
    pub fn end(&mut self, out: &mut Vec<Login>) {
        if let Some(user) = self.user.take() {
            out.push(login(user, None));
        }
    }

    /// One byte through the IAC state machine: the text byte it is, if any.
    fn text(&mut self, dir: Dir, b: u8) -> Option<u8> {
        let s = &mut self.iac[dir as usize];
        let (next, text) = match (*s, b) {
            (Iac::Data, 0xff) => (Iac::Command, None),
            (Iac::Data, b) => (Iac::Data, Some(b)),
            (Iac::Command, 0xff) => (Iac::Data, Some(0xff)),
            (Iac::Command, 0xfa) => (Iac::Sub, None),
            (Iac::Command, 0xfb..=0xfe) => (Iac::Option, None),
            (Iac::Command, _) | (Iac::Option, _) => (Iac::Data, None),
            (Iac::Sub, 0xff) => (Iac::SubCommand, None),
            (Iac::Sub, _) => (Iac::Sub, None),
            (Iac::SubCommand, 0xf0) => (Iac::Data, None),
            (Iac::SubCommand, _) => (Iac::Sub, None),
        };
        *s = next;
        text
    }

    fn server_byte(&mut self, c: u8) {
        if self.prompt.len() >= PROMPT {
            self.prompt.drain(..PROMPT / 2);
        }
        self.prompt.push(c);
        let text = String::from_utf8_lossy(&self.prompt).to_ascii_lowercase();
        let text = text.trim_end();
        if text.ends_with("login:") || text.ends_with("username:") {
            self.expect = Some(Expect::User);
            self.typed.clear();
        } else if text.ends_with("password:") {
            self.expect = Some(Expect::Password);
            self.typed.clear();
        }
    }

    fn client_byte(&mut self, c: u8, out: &mut Vec<Login>) {
        let Some(expect) = self.expect else { return };
        match c {
            b'\r' | b'\n' => {
                let line = String::from_utf8_lossy(&self.typed).into_owned();
                self.typed.clear();
                self.expect = None;
                self.prompt.clear();
                match expect {
                    Expect::User => self.user = Some(line),
                    Expect::Password => out.push(login(self.user.take().unwrap_or_default(), Some(line))),
                }
            }
            0x7f | 0x08 => {
                self.typed.pop();
            }
            0 => {}
            c if self.typed.len() < TYPED => self.typed.push(c),
            _ => {}
        }
    }
}

fn login(username: String, secret: Option<String>) -> Login {
    Login {
        protocol: Protocol::Telnet,
        mechanism: "login prompt".into(),
        username,
        secret: secret.filter(|s| !s.is_empty()),
        tls_offered: None,
        domain: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_typed_key_by_key_through_negotiation() {
        let mut t = TelnetConn::default();
        let mut out = Vec::new();
        assert!(looks_like(&[0xff, 0xfd, 0x18]));
        t.data(Dir::ToClient, &[0xff, 0xfd, 0x18, 0xff, 0xfa, 0x18, 0x01, 0xff, 0xf0], &mut out);
        t.data(Dir::ToClient, b"\r\nOpenBSD (oof)\r\n\r\nlogin: ", &mut out);
        for k in b"fakx\x7fe\r\0" {
            t.data(Dir::ToServer, &[*k], &mut out);
        }
        t.data(Dir::ToClient, b"fake\r\nPassword:", &mut out);
        t.data(Dir::ToServer, b"us\xff\xffer\r\n", &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].username.as_str(), out[0].secret.as_deref()), ("fake", Some("us\u{fffd}er")));
    }
}

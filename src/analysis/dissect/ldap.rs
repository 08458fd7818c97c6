//! LDAP: simple binds send the password in clear (`cn=admin,dc=example,dc=com` and its
//! password); an accepted StartTLS extended operation turns the rest of the stream into
//! TLS. Messages (BER, framed by their own length) are read from both directions;
//! recognised by content on any port.

use super::ber::{element_len, integer, tlv};
use super::login::{Login, Protocol, Read, StartTls};
use crate::analysis::reassembly::Dir;

/// The largest message kept whole; a longer one ends the reading (no bind is this long).
const MAX_MESSAGE: usize = 64 << 10;
const STARTTLS_OID: &[u8] = b"1.3.6.1.4.1.1466.20037";

/// Whether the first bytes of a stream start an LDAP message: a SEQUENCE, a message ID,
/// and a bind, unbind, search or extended operation.
pub fn looks_like(b: &[u8]) -> bool {
    if b.first() != Some(&0x30) || element_len(b).is_none() {
        return false;
    }
    let header = if b[1] < 0x80 { 2 } else { 2 + (b[1] & 0x7f) as usize };
    let Some(id) = b.get(header..) else { return false };
    if id.first() != Some(&0x02) {
        return false;
    }
    let n = *id.get(1).unwrap_or(&0) as usize;
    (1..=4).contains(&n) && id.get(2 + n).is_some_and(|op| matches!(op, 0x60 | 0x42 | 0x63 | 0x77))
}

/// One LDAP session.
#[derive(Debug, Default)]
pub struct LdapConn {
    bufs: [Vec<u8>; 2],
    starttls_asked: bool,
    upgraded: bool,
    lost: bool,
}

impl LdapConn {
    /// Bytes of one direction. Returns where TLS starts in `data` once the server accepted
    /// StartTLS.
    pub fn data(&mut self, dir: Dir, data: &[u8], out: &mut Vec<Read>) -> Option<usize> {
        if self.lost {
            return None;
        }
        let i = dir as usize;
        let held = self.bufs[i].len();
        let mut buf = std::mem::take(&mut self.bufs[i]);
        buf.extend_from_slice(data);
        let mut at = 0;
        while let Some(len) = element_len(&buf[at..]) {
            if len > MAX_MESSAGE || buf[at] != 0x30 {
                self.lost = true;
                self.bufs = Default::default();
                return None;
            }
            if buf.len() - at < len {
                break;
            }
            if let Some(r) = self.message(dir, &buf[at..at + len]) {
                out.push(r);
            }
            at += len;
            if self.upgraded {
                self.bufs = Default::default();
                return Some(at.saturating_sub(held).min(data.len()));
            }
        }
        buf.drain(..at);
        if buf.len() > MAX_MESSAGE {
            self.lost = true;
            self.bufs = Default::default();
            return None;
        }
        self.bufs[i] = buf;
        None
    }

    fn message(&mut self, dir: Dir, m: &[u8]) -> Option<Read> {
        let (_, body, _) = tlv(m)?;
        let (0x02, _id, op) = tlv(body)? else { return None };
        let (tag, op, _) = tlv(op)?;
        match (dir, tag) {
            (Dir::ToServer, 0x60) => {
                let (0x02, version, rest) = tlv(op)? else { return None };
                integer(version)?;
                let (0x04, name, rest) = tlv(rest)? else { return None };
                let (auth, secret, _) = tlv(rest)?;
                let name = String::from_utf8_lossy(name).into_owned();
                // Simple [0]; SASL [3] carries no password in clear here.
                if auth != 0x80 || (name.is_empty() && secret.is_empty()) {
                    return None;
                }
                let secret = (!secret.is_empty()).then(|| String::from_utf8_lossy(secret).into_owned());
                Some(Read::Login(Login {
                    protocol: Protocol::Ldap,
                    mechanism: "simple bind".into(),
                    username: name,
                    secret,
                    tls_offered: None,
                    domain: None,
                }))
            }
            (Dir::ToServer, 0x77) => {
                let (0x80, oid, _) = tlv(op)? else { return None };
                self.starttls_asked = oid == STARTTLS_OID;
                None
            }
            (Dir::ToClient, 0x78) if self.starttls_asked => {
                self.starttls_asked = false;
                let (0x0a, code, _) = tlv(op)? else { return None };
                let accepted = integer(code)? == 0;
                self.upgraded = accepted;
                Some(Read::StartTls(StartTls {
                    protocol: Protocol::Ldap,
                    command: "StartTLS".into(),
                    reply: format!("resultCode {}", integer(code)?),
                    accepted,
                }))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bind(name: &[u8], pw: &[u8]) -> Vec<u8> {
        let mut op = vec![0x02, 0x01, 0x03, 0x04, name.len() as u8];
        op.extend_from_slice(name);
        op.extend([0x80, pw.len() as u8]);
        op.extend_from_slice(pw);
        let mut body = vec![0x02, 0x01, 0x01, 0x60, op.len() as u8];
        body.extend(op);
        let mut m = vec![0x30, body.len() as u8];
        m.extend(body);
        m
    }

    #[test]
    fn a_simple_bind_split_across_segments_gives_its_dn_and_password() {
        let m = bind(b"cn=admin,dc=example,dc=com", b"testpass");
        assert!(looks_like(&m));
        let mut c = LdapConn::default();
        let mut out = Vec::new();
        c.data(Dir::ToServer, &m[..7], &mut out);
        c.data(Dir::ToServer, &m[7..], &mut out);
        match &out[..] {
            [Read::Login(l)] => {
                assert_eq!((l.username.as_str(), l.secret.as_deref()), ("cn=admin,dc=example,dc=com", Some("testpass")))
            }
            other => panic!("{other:?}"),
        }
        assert!(!looks_like(b"\x16\x03\x01\x00"));
    }
}

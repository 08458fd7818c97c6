//! Kerberos 5 messages (RFC 4120), found by content: in UDP datagrams and in TCP streams
//! (each message behind its 4-byte length), on any port. What an eavesdropper can crack
//! offline is written as the line hashcat takes:
//! - an AS-REQ's encrypted timestamp (pre-authentication): `$krb5pa$23$user$realm$dummy$…`
//!   in RC4 (mode 7500, as PCredz writes it), `$krb5pa$17$…` / `$krb5pa$18$…` in AES
//!   (modes 19800, 19900);
//! - a TGS-REP's ticket in RC4, encrypted with the service's key (Kerberoasting, mode
//!   13100): `$krb5tgs$23$*user$realm$spn*$checksum$data`;
//! - an AS-REP's part in RC4, encrypted with the user's key (AS-REP roasting, mode 18200):
//!   `$krb5asrep$23$user@realm:checksum$data`.
//!
//! Other messages give the user name and realm only. Pure, bounded: one message at most
//! [`MAX_MESSAGE`] bytes.

use super::ber::{integer, tlv};
use super::login::{Login, Protocol};

/// Longest message read over TCP.
pub const MAX_MESSAGE: usize = 65_536;

/// Whether `b` starts like a Kerberos AS-REQ, AS-REP or TGS-REP.
pub fn looks_like(b: &[u8]) -> bool {
    matches!(b.first(), Some(0x6a | 0x6b | 0x6d)) && read(b).is_some()
}

/// The user (and what can be cracked) a Kerberos message shows, if it is one.
pub fn read(b: &[u8]) -> Option<Login> {
    let (tag, body, _) = tlv(b)?;
    let (seq_tag, fields, _) = tlv(body)?;
    if seq_tag != 0x30 {
        return None;
    }
    match tag {
        0x6a => as_req(fields),
        0x6b | 0x6d => kdc_rep(fields, tag == 0x6d),
        _ => None,
    }
}

/// The content of the context-tagged element `[n]` of a SEQUENCE's content.
fn field(mut seq: &[u8], n: u8) -> Option<&[u8]> {
    while let Some((tag, content, rest)) = tlv(seq) {
        if tag == 0xa0 | n {
            return Some(content);
        }
        seq = rest;
    }
    None
}

/// The content of a SEQUENCE (or of the element wrapping it).
fn sequence(b: &[u8]) -> Option<&[u8]> {
    match tlv(b)? {
        (0x30, content, _) => Some(content),
        _ => None,
    }
}

/// A GeneralString (or UTF8String).
fn string(b: &[u8]) -> Option<String> {
    match tlv(b)? {
        (0x1b | 0x0c | 0x16, s, _) => Some(String::from_utf8_lossy(s).into_owned()),
        _ => None,
    }
}

/// A PrincipalName's strings, joined by `/`.
fn principal(b: &[u8]) -> Option<String> {
    let mut names = sequence(field(sequence(b)?, 1)?)?;
    let mut parts = Vec::new();
    while let Some((_, _, rest)) = tlv(names) {
        parts.push(string(names)?);
        names = rest;
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// An EncryptedData's type and cipher text.
fn encrypted(b: &[u8]) -> Option<(u64, &[u8])> {
    let seq = sequence(b)?;
    let etype = integer(tlv(field(seq, 0)?)?.1)?;
    match tlv(field(seq, 2)?)? {
        (0x04, cipher, _) => Some((etype, cipher)),
        _ => None,
    }
}

fn int_field(seq: &[u8], n: u8) -> Option<u64> {
    integer(tlv(field(seq, n)?)?.1)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn login(user: String, realm: String, mechanism: String, secret: Option<String>) -> Login {
    Login {
        protocol: Protocol::Kerberos,
        mechanism,
        username: user,
        secret,
        tls_offered: None,
        domain: (!realm.is_empty()).then_some(realm),
    }
}

/// An AS-REQ: the client's name and realm, and its encrypted timestamp if it sent one.
fn as_req(seq: &[u8]) -> Option<Login> {
    if int_field(seq, 1)? != 5 || int_field(seq, 2)? != 10 {
        return None;
    }
    let body = sequence(field(seq, 4)?)?;
    let user = principal(field(body, 1)?)?;
    let realm = field(body, 2).and_then(string).unwrap_or_default();
    let mut padata = field(seq, 3).and_then(sequence).unwrap_or(&[]);
    while let Some((_, pa, rest)) = tlv(padata) {
        padata = rest;
        if int_field(pa, 1) != Some(2) {
            continue; // not PA-ENC-TIMESTAMP
        }
        let Some((0x04, value, _)) = field(pa, 2).and_then(tlv) else { continue };
        let Some((etype, c)) = encrypted(value) else { continue };
        let secret = match etype {
            23 if c.len() > 16 => Some(format!("$krb5pa$23${user}${realm}$dummy${}{}", hex(&c[16..]), hex(&c[..16]))),
            17 | 18 if !c.is_empty() => Some(format!("$krb5pa${etype}${user}${realm}${}", hex(c))),
            _ => None,
        };
        return Some(login(user, realm, format!("AS-REQ PA-ENC-TIMESTAMP etype {etype}"), secret));
    }
    Some(login(user, realm, "AS-REQ".into(), None))
}

/// An AS-REP or TGS-REP: the client's name and realm; in RC4, the ticket (TGS-REP) or
/// the reply's own part (AS-REP).
fn kdc_rep(seq: &[u8], tgs: bool) -> Option<Login> {
    if int_field(seq, 0)? != 5 || int_field(seq, 1)? != if tgs { 13 } else { 11 } {
        return None;
    }
    let realm = field(seq, 3).and_then(string).unwrap_or_default();
    let user = principal(field(seq, 4)?)?;
    let split = |c: &[u8]| (hex(&c[..16]), hex(&c[16..]));
    if tgs {
        // Ticket ::= [APPLICATION 1] SEQUENCE { tkt-vno [0], realm [1], sname [2], enc-part [3] }
        let ticket = match tlv(field(seq, 5)?)? {
            (0x61, t, _) => sequence(t)?,
            _ => return None,
        };
        let spn = field(ticket, 2).and_then(principal).unwrap_or_default().replace(':', "~");
        return Some(match field(ticket, 3).and_then(encrypted) {
            Some((23, c)) if c.len() > 16 => {
                let (check, data) = split(c);
                let line = format!("$krb5tgs$23$*{user}${realm}${spn}*${check}${data}");
                login(user, realm, "TGS-REP ticket etype 23".into(), Some(line))
            }
            _ => login(user, realm, "TGS-REP".into(), None),
        });
    }
    Some(match field(seq, 6).and_then(encrypted) {
        Some((23, c)) if c.len() > 16 => {
            let (check, data) = split(c);
            let line = format!("$krb5asrep$23${user}@{realm}:{check}${data}");
            login(user, realm, "AS-REP enc-part etype 23".into(), Some(line))
        }
        _ => login(user, realm, "AS-REP".into(), None),
    })
}

/// Kerberos over TCP: each message behind a 4-byte length, gathered per direction.
#[derive(Default)]
pub struct KerberosTcp {
    held: [Vec<u8>; 2],
    /// This direction is not Kerberos (its first bytes said so).
    off: [bool; 2],
}

impl KerberosTcp {
    /// Bytes of one direction (0 to the server, 1 to the client).
    pub fn data(&mut self, dir: usize, data: &[u8], out: &mut Vec<Login>) {
        if self.off[dir] {
            return;
        }
        let buf = &mut self.held[dir];
        buf.extend_from_slice(&data[..data.len().min(MAX_MESSAGE + 4 - buf.len().min(MAX_MESSAGE + 4))]);
        while buf.len() >= 5 {
            let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
            if len > MAX_MESSAGE || !matches!(buf[4], 0x6a..=0x7e) {
                self.off[dir] = true;
                buf.clear();
                return;
            }
            if buf.len() < 4 + len {
                return;
            }
            out.extend(read(&buf[4..4 + len]));
            buf.drain(..4 + len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DER: a tag around content.
    fn der(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        if content.len() < 128 {
            v.push(content.len() as u8);
        } else {
            v.extend_from_slice(&[0x82, (content.len() >> 8) as u8, content.len() as u8]);
        }
        v.extend_from_slice(content);
        v
    }
    fn int(n: u8) -> Vec<u8> {
        der(0x02, &[n])
    }
    fn gstr(s: &str) -> Vec<u8> {
        der(0x1b, s.as_bytes())
    }
    fn name(parts: &[&str]) -> Vec<u8> {
        let strings: Vec<u8> = parts.iter().flat_map(|p| gstr(p)).collect();
        der(0x30, &[der(0xa0, &int(1)), der(0xa1, &der(0x30, &strings))].concat())
    }
    fn enc(etype: u8, cipher: &[u8]) -> Vec<u8> {
        der(0x30, &[der(0xa0, &int(etype)), der(0xa2, &der(0x04, cipher))].concat())
    }

    fn as_req_msg(etype: u8) -> Vec<u8> {
        let pa = der(0x30, &[der(0xa1, &int(2)), der(0xa2, &der(0x04, &enc(etype, &[0xab; 52])))].concat());
        let body = der(0x30, &[der(0xa1, &name(&["alice"])), der(0xa2, &gstr("LAB.TEST"))].concat());
        let seq = [der(0xa1, &int(5)), der(0xa2, &int(10)), der(0xa3, &der(0x30, &pa)), der(0xa4, &body)].concat();
        der(0x6a, &der(0x30, &seq))
    }

    #[test]
    fn as_req_timestamps_in_rc4_and_aes() {
        let l = read(&as_req_msg(23)).unwrap();
        let want = format!("$krb5pa$23$alice$LAB.TEST$dummy${}{}", "ab".repeat(36), "ab".repeat(16));
        assert_eq!((l.username.as_str(), l.secret.as_deref()), ("alice", Some(want.as_str())));
        let l = read(&as_req_msg(18)).unwrap();
        assert_eq!(l.secret, Some(format!("$krb5pa$18$alice$LAB.TEST${}", "ab".repeat(52))));
        assert_eq!(l.mechanism, "AS-REQ PA-ENC-TIMESTAMP etype 18");
    }

    #[test]
    fn tgs_rep_ticket_over_tcp_split_anywhere() {
        let ticket = der(
            0x61,
            &der(
                0x30,
                &[
                    der(0xa0, &int(5)),
                    der(0xa1, &gstr("LAB.TEST")),
                    der(0xa2, &name(&["http", "web.lab.test"])),
                    der(0xa3, &enc(23, &[0xcd; 40])),
                ]
                .concat(),
            ),
        );
        let seq = [
            der(0xa0, &int(5)),
            der(0xa1, &int(13)),
            der(0xa3, &gstr("LAB.TEST")),
            der(0xa4, &name(&["bob"])),
            der(0xa5, &ticket),
            der(0xa6, &enc(23, &[1; 30])),
        ]
        .concat();
        let msg = der(0x6d, &der(0x30, &seq));
        let framed = [(msg.len() as u32).to_be_bytes().to_vec(), msg].concat();
        for cut in [1, 3, 7, 40] {
            let (mut k, mut out) = (KerberosTcp::default(), Vec::new());
            k.data(1, &framed[..cut], &mut out);
            k.data(1, &framed[cut..], &mut out);
            let want = format!("$krb5tgs$23$*bob$LAB.TEST$http/web.lab.test*${}${}", "cd".repeat(16), "cd".repeat(24));
            assert_eq!(out[0].secret.as_deref(), Some(want.as_str()), "cut {cut}");
        }
    }

    #[test]
    fn not_kerberos_and_hostile_input() {
        assert!(read(b"\x6a\x03\x30\x01\x00").is_none());
        assert!(!looks_like(b"GET / HTTP/1.1"));
        let mut k = KerberosTcp::default();
        let mut out = Vec::new();
        k.data(0, &[0xff, 0xff, 0xff, 0xff, 0x6a], &mut out);
        k.data(0, &as_req_msg(23), &mut out);
        assert!(out.is_empty() && k.held[0].is_empty());
        for cut in 0..as_req_msg(23).len() {
            let _ = read(&as_req_msg(23)[..cut]);
        }
    }
}

//! NTLM authentications, found by content in any TCP stream: raw in SMB, SMB2, DCE/RPC
//! and LDAP, base64 in the `NTLM` lines of HTTP, SMTP, IMAP and POP3. The server's
//! CHALLENGE and the client's AUTHENTICATE make the line hashcat cracks offline (NetNTLMv1,
//! mode 5500; NetNTLMv2, mode 5600), written as PCredz writes it:
//! `user::domain:lm:nt:challenge` (v1), `user::domain:challenge:ntproofstr:blob` (v2).
//!
//! Pure and bounded: a message is gathered up to [`MAX_MESSAGE`] bytes, the rest is skipped.

use base64::Engine;

use super::login::{Login, Protocol};
use crate::analysis::reassembly::Dir;

const SIGNATURE: &[u8] = b"NTLMSSP\0";
/// The first ten characters of the base64 of a message: they encode the signature.
const B64_SIGNATURE: &[u8] = b"TlRMTVNTUA";
/// Longest message gathered (raw bytes).
pub const MAX_MESSAGE: usize = 4096;

/// What one connection's streams showed of NTLM so far.
#[derive(Default)]
pub struct NtlmScan {
    /// Per direction: the end of what was searched (a signature may straddle two
    /// segments), or the start of a message still coming.
    held: [Vec<u8>; 2],
    challenge: Option<[u8; 8]>,
}

/// How much of a message is there.
enum Have {
    /// The whole message is the first `n` bytes.
    Whole(usize),
    /// It is `n` bytes long: wait for more.
    Need(usize),
    /// Not a message after all.
    Invalid,
}

impl NtlmScan {
    /// Bytes of `dir`'s stream: the AUTHENTICATE messages found go to `out`.
    pub fn data(&mut self, dir: Dir, data: &[u8], out: &mut Vec<Login>) {
        let held = std::mem::take(&mut self.held[dir as usize]);
        let joined;
        let mut rest: &[u8] = if held.is_empty() {
            data
        } else {
            joined = [held.as_slice(), data].concat();
            &joined
        };
        loop {
            let raw = memchr::memmem::find(rest, SIGNATURE);
            let b64 = memchr::memmem::find(rest, B64_SIGNATURE);
            let (at, encoded) = match (raw, b64) {
                (Some(r), Some(b)) if b < r => (b, true),
                (Some(r), _) => (r, false),
                (None, Some(b)) => (b, true),
                (None, None) => {
                    // Keep what could be the start of a signature.
                    let keep = rest.len().min(B64_SIGNATURE.len() - 1);
                    self.held[dir as usize] = rest[rest.len() - keep..].to_vec();
                    return;
                }
            };
            let msg = &rest[at..];
            let (used, whole) = if encoded { base64_message(msg) } else { raw_message(msg) };
            match whole {
                Some(Ok(m)) => self.message(dir, &m, out),
                Some(Err(())) => {}
                None => {
                    self.held[dir as usize] = msg.to_vec();
                    return;
                }
            }
            rest = &msg[used.max(1)..];
        }
    }

    /// A whole message: a CHALLENGE is kept, an AUTHENTICATE read.
    fn message(&mut self, dir: Dir, m: &[u8], out: &mut Vec<Login>) {
        match (dir, m.get(8)) {
            (Dir::ToClient, Some(2)) => {
                self.challenge = m.get(24..32).map(|c| c.try_into().expect("8 bytes"));
            }
            (Dir::ToServer, Some(3)) => out.extend(authenticate(m, self.challenge)),
            _ => {}
        }
    }
}

/// A raw message at the start of `b`: the bytes it takes, and the message when it is all
/// there (`Err` when it is not one).
fn raw_message(b: &[u8]) -> (usize, Option<Result<Vec<u8>, ()>>) {
    match length(b) {
        Have::Whole(n) => (n, Some(Ok(b[..n].to_vec()))),
        Have::Need(n) if n <= MAX_MESSAGE => (0, None),
        _ => (SIGNATURE.len(), Some(Err(()))),
    }
}

/// A base64 message at the start of `b`: up to the first character that is not base64.
fn base64_message(b: &[u8]) -> (usize, Option<Result<Vec<u8>, ()>>) {
    let run = b.iter().take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=')).count();
    if run == b.len() && run < MAX_MESSAGE * 4 / 3 + 4 {
        return (0, None); // the end of the line has not come yet
    }
    let text: Vec<u8> = b[..run].iter().copied().filter(|c| *c != b'=').collect();
    let decoded = base64::engine::general_purpose::STANDARD_NO_PAD.decode(&text).map_err(|_| ());
    let whole = decoded.and_then(|m| match length(&m) {
        Have::Whole(n) => Ok(m[..n].to_vec()),
        _ => Err(()),
    });
    (run, Some(whole))
}

/// The length of the message at the start of `b` (which starts with the signature).
fn length(b: &[u8]) -> Have {
    let Some(&kind) = b.get(8) else { return Have::Need(12) };
    match kind {
        1 => Have::Whole(b.len().min(16)),
        2 => {
            if b.len() >= 32 {
                Have::Whole(32)
            } else {
                Have::Need(32)
            }
        }
        3 => {
            if b.len() < 52 {
                return Have::Need(52);
            }
            let end = [12, 20, 28, 36, 44].iter().filter_map(|&at| field_span(b, at)).map(|(o, l)| o + l).max();
            match end {
                Some(n) if n > MAX_MESSAGE => Have::Invalid,
                Some(n) if n <= b.len() => Have::Whole(n.max(52)),
                Some(n) => Have::Need(n),
                None => Have::Invalid,
            }
        }
        _ => Have::Invalid,
    }
}

/// A security buffer's (offset, length), from its descriptor at `at`.
fn field_span(m: &[u8], at: usize) -> Option<(usize, usize)> {
    let d = m.get(at..at + 8)?;
    let len = usize::from(u16::from_le_bytes([d[0], d[1]]));
    let offset = u32::from_le_bytes([d[4], d[5], d[6], d[7]]) as usize;
    Some((offset, len))
}

fn field(m: &[u8], at: usize) -> &[u8] {
    field_span(m, at).and_then(|(o, l)| m.get(o..o + l)).unwrap_or(&[])
}

/// An AUTHENTICATE message: the user, and the crackable line when the challenge is known.
fn authenticate(m: &[u8], challenge: Option<[u8; 8]>) -> Option<Login> {
    // NEGOTIATE_UNICODE, in the flags after the fixed fields (old messages have none).
    let unicode = match m.get(60..64) {
        Some(f) if field_span(m, 12).is_some_and(|(o, _)| o >= 64) => f[0] & 1 == 1,
        _ => true,
    };
    let text = |b: &[u8]| {
        if unicode {
            let units: Vec<u16> = b.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
            String::from_utf16_lossy(&units)
        } else {
            b.iter().map(|&c| char::from(c)).collect()
        }
    };
    let user = text(field(m, 36));
    if user.trim().is_empty() {
        return None; // anonymous
    }
    let domain = text(field(m, 28));
    let (lm, nt) = (field(m, 12), field(m, 20));
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let (mechanism, secret) = match (nt.len(), challenge) {
        (24, Some(c)) => {
            let lm = if lm.len() == 24 { hex(lm) } else { String::new() };
            ("NTLMv1", Some(format!("{user}::{domain}:{lm}:{}:{}", hex(nt), hex(&c))))
        }
        (n, Some(c)) if n > 24 => {
            ("NTLMv2", Some(format!("{user}::{domain}:{}:{}:{}", hex(&c), hex(&nt[..16]), hex(&nt[16..]))))
        }
        (24, None) => ("NTLMv1", None),
        (n, None) if n > 24 => ("NTLMv2", None),
        _ => ("NTLM", None),
    };
    Some(Login {
        protocol: Protocol::Ntlm,
        mechanism: mechanism.into(),
        username: user,
        secret,
        tls_offered: None,
        domain: (!domain.is_empty()).then_some(domain),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A CHALLENGE with challenge 01..08.
    fn challenge() -> Vec<u8> {
        let mut m = SIGNATURE.to_vec();
        m.extend_from_slice(&2u32.to_le_bytes());
        m.extend_from_slice(&[0; 12]);
        m.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        m.extend_from_slice(&[0; 8]);
        m
    }

    /// An AUTHENTICATE from DOM\alice (UTF-16), with an NT response of `nt_len` bytes.
    fn authenticate_msg(nt_len: usize) -> Vec<u8> {
        let utf16 = |s: &str| s.encode_utf16().flat_map(u16::to_le_bytes).collect::<Vec<u8>>();
        let (lm, nt, dom, user) = (vec![0x4c; 24], vec![0x4e; nt_len], utf16("DOM"), utf16("alice"));
        let mut m = SIGNATURE.to_vec();
        m.extend_from_slice(&3u32.to_le_bytes());
        let mut at = 64u32;
        let mut body = Vec::new();
        for f in [&lm, &nt, &dom, &user, &Vec::new(), &Vec::new()] {
            m.extend_from_slice(&(f.len() as u16).to_le_bytes());
            m.extend_from_slice(&(f.len() as u16).to_le_bytes());
            m.extend_from_slice(&at.to_le_bytes());
            at += f.len() as u32;
            body.extend_from_slice(f);
        }
        m.extend_from_slice(&1u32.to_le_bytes()); // NEGOTIATE_UNICODE
        m.extend_from_slice(&body);
        m
    }

    #[test]
    fn netntlmv2_line_from_raw_messages_split_anywhere() {
        let stream = [b"SMB junk".to_vec(), authenticate_msg(40), b"more".to_vec()].concat();
        for cut in [1, 5, 9, 30, 60, 70] {
            let (mut s, mut out) = (NtlmScan::default(), Vec::new());
            s.data(Dir::ToClient, &[b"xx".to_vec(), challenge()].concat(), &mut out);
            s.data(Dir::ToServer, &stream[..cut], &mut out);
            s.data(Dir::ToServer, &stream[cut..], &mut out);
            assert_eq!(out.len(), 1, "cut at {cut}");
            let want = format!("alice::DOM:0102030405060708:{}:{}", "4e".repeat(16), "4e".repeat(24));
            assert_eq!(out[0].secret.as_deref(), Some(want.as_str()));
            assert_eq!((out[0].mechanism.as_str(), out[0].domain.as_deref()), ("NTLMv2", Some("DOM")));
        }
    }

    #[test]
    fn netntlmv1_from_base64_lines_and_no_line_without_a_challenge() {
        let b64 = |m: &[u8]| base64::engine::general_purpose::STANDARD.encode(m);
        let (mut s, mut out) = (NtlmScan::default(), Vec::new());
        s.data(Dir::ToServer, format!("AUTH NTLM {}\r\n", b64(&authenticate_msg(24))).as_bytes(), &mut out);
        assert_eq!((out[0].username.as_str(), out[0].secret.as_deref()), ("alice", None));
        s.data(Dir::ToClient, format!("WWW-Authenticate: NTLM {}\r\n", b64(&challenge())).as_bytes(), &mut out);
        s.data(Dir::ToServer, format!("Authorization: NTLM {}\r\n", b64(&authenticate_msg(24))).as_bytes(), &mut out);
        let want = format!("alice::DOM:{}:{}:0102030405060708", "4c".repeat(24), "4e".repeat(24));
        assert_eq!(out[1].secret.as_deref(), Some(want.as_str()));
    }

    #[test]
    fn hostile_lengths_are_bounded() {
        let (mut s, mut out) = (NtlmScan::default(), Vec::new());
        let mut m = authenticate_msg(40);
        m[36 + 4..36 + 8].copy_from_slice(&u32::MAX.to_le_bytes()); // the user's offset
        s.data(Dir::ToServer, &m, &mut out);
        let mut huge = SIGNATURE.to_vec();
        huge.extend_from_slice(&3u32.to_le_bytes());
        huge.extend_from_slice(&[0xff; 60]);
        for _ in 0..100 {
            s.data(Dir::ToServer, &huge, &mut out);
            s.data(Dir::ToServer, b"TlRMTVNTUA", &mut out);
        }
        assert!(
            s.held.iter().all(|h| h.len() <= MAX_MESSAGE * 2),
            "{:?}",
            s.held.iter().map(Vec::len).collect::<Vec<_>>()
        );
        assert!(out.is_empty());
    }
}

//! Writing captures: classic pcap, and pcapng with per-packet comments, which is how
//! `sniff -w` marks the packets that leaked something (Wireshark and tshark show the
//! comments). [`Annotated`] holds packets back for a moment so that a comment can still be
//! attached to a packet whose meaning is known only a few packets later.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::time::{Duration, Instant};

/// Writes classic pcap (little-endian, microseconds, Ethernet).
pub struct PcapWriter<W: Write> {
    out: W,
}

impl<W: Write> PcapWriter<W> {
    pub fn new(mut out: W) -> io::Result<Self> {
        out.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
        out.write_all(&2u16.to_le_bytes())?;
        out.write_all(&4u16.to_le_bytes())?;
        out.write_all(&[0; 8])?;
        out.write_all(&262_144u32.to_le_bytes())?;
        out.write_all(&1u32.to_le_bytes())?;
        Ok(PcapWriter { out })
    }

    pub fn packet(&mut self, ts_micros: i64, data: &[u8]) -> io::Result<()> {
        let secs = (ts_micros / 1_000_000) as u32;
        let usecs = (ts_micros % 1_000_000) as u32;
        for v in [secs, usecs, data.len() as u32, data.len() as u32] {
            self.out.write_all(&v.to_le_bytes())?;
        }
        self.out.write_all(data)
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Writes pcapng: one section, one Ethernet interface (microseconds), enhanced packet
/// blocks with an optional comment each (what `sniff -w` uses to mark leaking packets).
pub struct PcapngWriter<W: Write> {
    out: W,
}

fn pad4(n: usize) -> usize {
    n.div_ceil(4) * 4
}

impl<W: Write> PcapngWriter<W> {
    pub fn new(mut out: W, linktype: u16, snaplen: u32) -> io::Result<Self> {
        // Section header: magic, version 1.0, unknown section length, no options.
        let shb_len = 28u32;
        out.write_all(&0x0a0d_0d0au32.to_le_bytes())?;
        out.write_all(&shb_len.to_le_bytes())?;
        out.write_all(&0x1a2b_3c4du32.to_le_bytes())?;
        out.write_all(&1u16.to_le_bytes())?;
        out.write_all(&0u16.to_le_bytes())?;
        out.write_all(&(-1i64).to_le_bytes())?;
        out.write_all(&shb_len.to_le_bytes())?;
        // Interface description.
        let idb_len = 20u32;
        out.write_all(&1u32.to_le_bytes())?;
        out.write_all(&idb_len.to_le_bytes())?;
        out.write_all(&linktype.to_le_bytes())?;
        out.write_all(&0u16.to_le_bytes())?;
        out.write_all(&snaplen.to_le_bytes())?;
        out.write_all(&idb_len.to_le_bytes())?;
        Ok(PcapngWriter { out })
    }

    pub fn packet(&mut self, ts_micros: i64, data: &[u8], orig_len: u32, comment: Option<&str>) -> io::Result<()> {
        let opts_len = comment.map_or(0, |c| 4 + pad4(c.len()) + 4);
        let len = 28 + pad4(data.len()) + opts_len + 4;
        let ts = ts_micros as u64;
        let mut b = Vec::with_capacity(len);
        b.extend_from_slice(&6u32.to_le_bytes());
        b.extend_from_slice(&(len as u32).to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        b.extend_from_slice(&(ts as u32).to_le_bytes());
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(&orig_len.to_le_bytes());
        b.extend_from_slice(data);
        b.resize(28 + pad4(data.len()), 0);
        if let Some(c) = comment {
            b.extend_from_slice(&1u16.to_le_bytes());
            b.extend_from_slice(&(c.len() as u16).to_le_bytes());
            b.extend_from_slice(c.as_bytes());
            b.resize(b.len() + pad4(c.len()) - c.len(), 0);
            b.extend_from_slice(&[0; 4]); // opt_endofopt
        }
        b.extend_from_slice(&(len as u32).to_le_bytes());
        self.out.write_all(&b)
    }

    /// A Decryption Secrets Block holding TLS key log lines (NSS format: `CLIENT_RANDOM`,
    /// `CLIENT_TRAFFIC_SECRET_0`, ...): Wireshark and tshark decrypt the TLS packets that
    /// follow it with these keys, from the file alone.
    pub fn tls_secrets(&mut self, keylog: &[u8]) -> io::Result<()> {
        let len = 12 + 4 + pad4(keylog.len()) + 4;
        let mut b = Vec::with_capacity(len);
        b.extend_from_slice(&0x0000_000au32.to_le_bytes());
        b.extend_from_slice(&(len as u32).to_le_bytes());
        b.extend_from_slice(&0x544c_534bu32.to_le_bytes()); // "TLSK": a TLS key log
        b.extend_from_slice(&(keylog.len() as u32).to_le_bytes());
        b.extend_from_slice(keylog);
        b.resize(16 + pad4(keylog.len()), 0);
        b.extend_from_slice(&(len as u32).to_le_bytes());
        self.out.write_all(&b)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// A copy of a little-endian pcapng file with a Decryption Secrets Block of TLS key log
/// lines placed before its first packet (after the section and interface headers): the
/// same capture as an answer key. `None` when the file is not such a pcapng.
pub fn with_tls_secrets(pcapng: &[u8], keylog: &[u8]) -> Option<Vec<u8>> {
    let u32_at = |at: usize| pcapng.get(at..at + 4).map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")));
    if u32_at(0)? != 0x0a0d_0d0a || u32_at(8)? != 0x1a2b_3c4d {
        return None;
    }
    let mut at = 0;
    while let (Some(kind), Some(len)) = (u32_at(at), u32_at(at + 4)) {
        if !matches!(kind, 0x0a0d_0d0a | 1) {
            break;
        }
        if len < 12 || len % 4 != 0 || at + len as usize > pcapng.len() {
            return None;
        }
        at += len as usize;
    }
    let mut dsb = PcapngWriter { out: Vec::new() };
    dsb.tls_secrets(keylog).ok()?;
    let mut out = Vec::with_capacity(pcapng.len() + dsb.out.len());
    out.extend_from_slice(&pcapng[..at]);
    out.extend_from_slice(&dsb.out);
    out.extend_from_slice(&pcapng[at..]);
    Some(out)
}

struct Held {
    number: u64,
    ts: i64,
    data: Vec<u8>,
    orig_len: u32,
    comments: Vec<String>,
    at: Instant,
}

/// A pcapng writer that holds each packet for up to 2 s (at most 20,000 of them), so that
/// comments can be attached by frame number before it is written.
pub struct Annotated<W: Write> {
    held: VecDeque<Held>,
    out: PcapngWriter<W>,
    written: u64,
}

impl<W: Write> Annotated<W> {
    pub fn new(out: PcapngWriter<W>) -> Self {
        Annotated { held: VecDeque::new(), out, written: 0 }
    }

    /// A captured packet, to be written later.
    pub fn hold(&mut self, number: u64, ts: i64, data: &[u8], orig_len: u32) {
        self.held.push_back(Held {
            number,
            ts,
            data: data.to_vec(),
            orig_len,
            comments: Vec::new(),
            at: Instant::now(),
        });
    }

    /// Attaches a comment to a held packet (ignored once it was written; at most 16 each).
    pub fn annotate(&mut self, number: u64, comment: String) {
        if let Some(h) = self.held.iter_mut().find(|h| h.number == number)
            && !h.comments.contains(&comment)
            && h.comments.len() < 16
        {
            h.comments.push(comment);
        }
    }

    /// Writes the packets held long enough, or all of them with `all`.
    pub fn flush(&mut self, all: bool) -> io::Result<()> {
        while let Some(h) = self.held.front() {
            if !all && self.held.len() < 20_000 && h.at.elapsed() < Duration::from_secs(2) {
                break;
            }
            let h = self.held.pop_front().expect("front exists");
            let comment = (!h.comments.is_empty()).then(|| h.comments.join("; "));
            self.out.packet(h.ts, &h.data, h.orig_len, comment.as_deref())?;
            self.written += 1;
        }
        self.out.flush()
    }

    /// TLS key log lines, written at once: ahead of every packet still held, so that the
    /// encrypted packets they open come after them in the file.
    pub fn tls_secrets(&mut self, keylog: &[u8]) -> io::Result<()> {
        self.out.tls_secrets(keylog)
    }

    /// Packets written so far.
    pub fn written(&self) -> u64 {
        self.written
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_secrets_are_a_decryption_secrets_block() {
        let mut w = PcapngWriter { out: Vec::new() };
        let keys = b"CLIENT_RANDOM 00 11\nCLIENT_TRAFFIC_SECRET_0 aa bbb\n";
        w.tls_secrets(keys).unwrap();
        let bytes = w.into_inner();
        assert_eq!(bytes.len() % 4, 0);
        match pcap_parser::pcapng::parse_block_le(&bytes) {
            Ok((rest, pcap_parser::pcapng::Block::DecryptionSecrets(b))) => {
                assert!(rest.is_empty());
                assert_eq!(b.secrets_type, pcap_parser::pcapng::SecretsType::TlsKeyLog);
                assert_eq!(b.secrets_len as usize, keys.len());
                assert_eq!(&b.data[..keys.len()], keys, "the data, then its padding to 4 bytes");
            }
            other => panic!("not a DSB: {other:?}"),
        }
    }

    #[test]
    fn secrets_go_before_the_first_packet() {
        let mut w = PcapngWriter::new(Vec::new(), 1, 65535).unwrap();
        w.packet(1, b"packet", 6, None).unwrap();
        let plain = w.into_inner();
        let keyed = with_tls_secrets(&plain, b"CLIENT_RANDOM 00 11\n").unwrap();
        let mut kinds = Vec::new();
        let mut rest = &keyed[..];
        while !rest.is_empty() {
            let (r, b) = pcap_parser::pcapng::parse_block_le(rest).unwrap();
            kinds.push(b.magic());
            rest = r;
        }
        assert_eq!(kinds, [0x0a0d_0d0a, 1, 0x0000_000a, 6]);
        assert!(with_tls_secrets(b"not a capture", b"x").is_none());
    }

    #[test]
    fn comments_reach_the_packet_they_name() {
        let mut a = Annotated::new(PcapngWriter::new(Vec::new(), 1, 65535).unwrap());
        a.hold(1, 10, b"first", 5);
        a.hold(2, 20, b"second", 6);
        a.annotate(2, "credential: password".into());
        a.annotate(2, "credential: password".into());
        a.flush(true).unwrap();
        assert_eq!(a.written(), 2);
        let bytes = a.out.into_inner();
        let text = String::from_utf8_lossy(&bytes);
        assert_eq!(text.matches("credential: password").count(), 1);
    }
}

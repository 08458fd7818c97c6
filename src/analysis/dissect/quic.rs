//! QUIC as an on-path observer reads it: the Initial packets, and nothing more.
//!
//! A QUIC Initial is encrypted with keys derived from the Destination Connection ID the
//! client chose for its first packet (RFC 9001 §5.2, RFC 9369 §3.3 for v2), which travels
//! in clear: anyone on the path derives the same keys and reads the ClientHello (server
//! name, ALPN, offered versions: a JA4 with the `q` prefix) and the ServerHello (chosen
//! cipher). Everything after the Initials (Handshake, 0-RTT and 1-RTT packets: HTTP/3, DNS
//! over QUIC) is encrypted with keys from the TLS key exchange; of those, this module counts
//! packets and bytes each way, and claims nothing more.
//!
//! QUIC is recognised by its long header and a version it knows (v1, v2, draft-29), on
//! any UDP port. Initial keys come from `rustls::quic`; header protection is removed,
//! CRYPTO frames are reassembled by offset across packets and coalesced datagrams
//! (Chromium spreads a post-quantum ClientHello over two Initials), Retry and Version
//! Negotiation are followed. State is bounded: [`MAX_FLOWS`] flows, oldest out, and
//! [`MAX_CRYPTO`] bytes of CRYPTO data held per direction.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::{Event, Record, tls};

/// Flows followed at once; a new one beyond this ends the oldest (its summary is emitted).
pub const MAX_FLOWS: usize = 8192;
/// CRYPTO bytes held per direction while the hello is incomplete (a ClientHello with
/// post-quantum key shares is about 2 KB; 32 KB leaves room and bounds a hostile flow).
pub const MAX_CRYPTO: usize = 32 << 10;

const V1: u32 = 0x0000_0001;
const V2: u32 = 0x6b33_43cf;
const DRAFT29: u32 = 0xff00_001d;

/// What a QUIC connection showed, emitted when it ends (the capture ends, or it is evicted).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct QuicConnection {
    pub community_id: String,
    /// QUIC version of the client's Initials (`v1`, `v2`, `draft-29`).
    pub version: String,
    /// Connection IDs in hex: the client's first destination (the one keys derive from),
    /// its own, and the server's.
    pub client_dcid: String,
    pub client_scid: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub server_scid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alpn: Vec<String>,
    pub packets_to_server: u64,
    pub bytes_to_server: u64,
    pub packets_to_client: u64,
    pub bytes_to_client: u64,
    /// Initial packets decrypted (with the keys anyone can derive).
    pub initials_read: u64,
    /// Packets that stay encrypted to an observer (Handshake, 0-RTT, 1-RTT).
    pub encrypted_packets: u64,
    /// The server asked the client to prove its address (a Retry).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retry: bool,
    /// Versions a Version Negotiation packet offered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions_offered: Vec<String>,
}

/// The name a version goes by in reports.
pub fn version_name(v: u32) -> String {
    match v {
        V1 => "v1".into(),
        V2 => "v2".into(),
        0xff00_0000..=0xff00_00ff => format!("draft-{}", v & 0xff),
        _ => format!("0x{v:08x}"),
    }
}

fn rustls_version(v: u32) -> Option<rustls::quic::Version> {
    match v {
        V1 => Some(rustls::quic::Version::V1),
        V2 => Some(rustls::quic::Version::V2),
        // Drafts 29 to 32 share draft-29's salt.
        DRAFT29..=0xff00_0020 => Some(rustls::quic::Version::V1Draft),
        _ => None,
    }
}

/// Initial keys of one connection: each side's, from the client's first destination ID.
struct Keys {
    version: u32,
    dcid: Vec<u8>,
    client: rustls::quic::DirectionalKeys,
    server: rustls::quic::DirectionalKeys,
}

impl Keys {
    fn derive(version: u32, dcid: &[u8]) -> Option<Keys> {
        let v = rustls_version(version)?;
        let suite = rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256.tls13()?.quic_suite()?;
        // As the server: `remote` opens what the client sends, `local` what the server sends.
        let k = suite.keys(dcid, rustls::Side::Server, v);
        Some(Keys { version, dcid: dcid.to_vec(), client: k.remote, server: k.local })
    }
}

/// A variable-length integer (RFC 9000 §16) at the start of `b`: value and length.
fn varint(b: &[u8]) -> Option<(u64, usize)> {
    let first = *b.first()?;
    let len = 1usize << (first >> 6);
    let bytes = b.get(..len)?;
    let mut v = u64::from(first & 0x3f);
    for x in &bytes[1..] {
        v = (v << 8) | u64::from(*x);
    }
    Some((v, len))
}

/// A reader over a byte slice that never panics: every read is checked.
struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn varint(&mut self) -> Option<u64> {
        let (v, n) = varint(self.b.get(self.at..)?)?;
        self.at += n;
        Some(v)
    }
    fn take(&mut self, n: u64) -> Option<&'a [u8]> {
        let n = usize::try_from(n).ok()?;
        let s = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Initial,
    ZeroRtt,
    Handshake,
    Retry,
    VersionNegotiation,
}

/// A long-header packet's clear fields.
struct Long<'a> {
    version: u32,
    kind: Kind,
    dcid: &'a [u8],
    scid: &'a [u8],
    /// Where the (protected) packet number starts, from the packet's first byte.
    pn_offset: usize,
    /// The packet's length within the datagram.
    len: usize,
    /// Version Negotiation: the versions offered.
    versions: Vec<u32>,
}

/// Parses the long header at the start of `b`; `None` when it is not one.
fn long_header(b: &[u8]) -> Option<Long<'_>> {
    let mut c = Cursor { b, at: 0 };
    let first = c.u8()?;
    if first & 0x80 == 0 {
        return None;
    }
    let version = u32::from_be_bytes(c.take(4)?.try_into().ok()?);
    let dl = c.u8()?;
    let dcid = c.take(u64::from(dl))?;
    let sl = c.u8()?;
    let scid = c.take(u64::from(sl))?;
    if dl > 20 || sl > 20 {
        // RFC 9000 §17.2: at most 20 bytes in v1 (other versions may differ; not QUIC we read).
        if version != 0 {
            return None;
        }
    }
    if version == 0 {
        let rest = &b[c.at..];
        let versions = rest.chunks_exact(4).map(|v| u32::from_be_bytes([v[0], v[1], v[2], v[3]])).collect();
        return Some(Long {
            version,
            kind: Kind::VersionNegotiation,
            dcid,
            scid,
            pn_offset: 0,
            len: b.len(),
            versions,
        });
    }
    rustls_version(version)?;
    if first & 0x40 == 0 {
        return None; // the fixed bit
    }
    let bits = (first >> 4) & 3;
    let kind = match (version == V2, bits) {
        (false, 0) | (true, 1) => Kind::Initial,
        (false, 1) | (true, 2) => Kind::ZeroRtt,
        (false, 2) | (true, 3) => Kind::Handshake,
        _ => Kind::Retry,
    };
    if kind == Kind::Retry {
        return Some(Long { version, kind, dcid, scid, pn_offset: 0, len: b.len(), versions: Vec::new() });
    }
    if kind == Kind::Initial {
        let token_len = c.varint()?;
        c.take(token_len)?;
    }
    let length = c.varint()?;
    let pn_offset = c.at;
    let len = pn_offset.checked_add(usize::try_from(length).ok()?)?;
    if len > b.len() {
        return None;
    }
    Some(Long { version, kind, dcid, scid, pn_offset, len, versions: Vec::new() })
}

/// The full packet number from its truncated form (RFC 9000 Appendix A.3).
fn packet_number(largest: Option<u64>, truncated: u64, bits: u32) -> u64 {
    let expected = largest.map_or(0, |l| l + 1);
    let win = 1u64 << bits;
    let half = win / 2;
    let mask = win - 1;
    let candidate = (expected & !mask) | truncated;
    if candidate + half <= expected && candidate < (1u64 << 62) - win {
        candidate + win
    } else if candidate > expected + half && candidate >= win {
        candidate - win
    } else {
        candidate
    }
}

/// Removes header protection from an Initial packet (`pkt`, exactly one packet) and opens
/// it; returns the packet number and the plaintext frames.
fn open(
    pkt: &[u8],
    pn_offset: usize,
    keys: &rustls::quic::DirectionalKeys,
    largest: Option<u64>,
) -> Option<(u64, Vec<u8>)> {
    let sample_at = pn_offset + 4;
    let sample: Vec<u8> = pkt.get(sample_at..sample_at + keys.header.sample_len())?.to_vec();
    let mut p = pkt.to_vec();
    let (head, rest) = p.split_at_mut(pn_offset);
    let pn_bytes = rest.get_mut(..4)?;
    keys.header.decrypt_in_place(&sample, &mut head[0], pn_bytes).ok()?;
    let pn_len = usize::from(p[0] & 3) + 1;
    let truncated = p[pn_offset..pn_offset + pn_len].iter().fold(0u64, |a, b| (a << 8) | u64::from(*b));
    let pn = packet_number(largest, truncated, 8 * pn_len as u32);
    let (header, payload) = p.split_at_mut(pn_offset + pn_len);
    let n = keys.packet.decrypt_in_place(pn, header, payload).ok()?.len();
    let mut plain = payload.to_vec();
    plain.truncate(n);
    Some((pn, plain))
}

/// The CRYPTO frames of a decrypted Initial: (offset, data). `None` when a frame is
/// malformed or not allowed in an Initial.
fn crypto_frames(plain: &[u8]) -> Option<Vec<(u64, &[u8])>> {
    let mut c = Cursor { b: plain, at: 0 };
    let mut out = Vec::new();
    while c.at < plain.len() {
        match c.varint()? {
            0x00 | 0x01 => {} // PADDING, PING
            t @ (0x02 | 0x03) => {
                // ACK: largest, delay, range count, first range, ranges, ECN counts.
                c.varint()?;
                c.varint()?;
                let ranges = c.varint()?;
                c.varint()?;
                for _ in 0..ranges.min(1 << 16) {
                    c.varint()?;
                    c.varint()?;
                }
                if t == 0x03 {
                    for _ in 0..3 {
                        c.varint()?;
                    }
                }
            }
            0x06 => {
                let offset = c.varint()?;
                let len = c.varint()?;
                out.push((offset, c.take(len)?));
            }
            t @ (0x1c | 0x1d) => {
                c.varint()?;
                if t == 0x1c {
                    c.varint()?;
                }
                let reason = c.varint()?;
                c.take(reason)?;
            }
            _ => return None,
        }
    }
    Some(out)
}

/// One direction's CRYPTO stream, put back in order until its hello is read.
#[derive(Default)]
struct Crypto {
    next: u64,
    buf: Vec<u8>,
    pending: BTreeMap<u64, Vec<u8>>,
    held: usize,
    done: bool,
}

impl Crypto {
    /// Adds a fragment; returns the whole handshake messages now complete.
    fn add(&mut self, offset: u64, data: &[u8]) -> Vec<Vec<u8>> {
        if self.done || data.is_empty() {
            return Vec::new();
        }
        let end = offset.saturating_add(data.len() as u64);
        if end <= self.next {
            return Vec::new(); // a retransmission
        }
        if offset > self.next {
            if self.held + data.len() > MAX_CRYPTO {
                self.done = true;
                return Vec::new();
            }
            self.held += data.len();
            self.pending.insert(offset, data.to_vec());
            return Vec::new();
        }
        self.append(&data[(self.next - offset) as usize..]);
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() > self.next {
                break;
            }
            let (off, d) = entry.remove_entry();
            self.held -= d.len();
            let end = off + d.len() as u64;
            if end > self.next {
                self.append(&d[(self.next - off) as usize..]);
            }
        }
        let mut msgs = Vec::new();
        while self.buf.len() >= 4 {
            let len = u32::from_be_bytes([0, self.buf[1], self.buf[2], self.buf[3]]) as usize;
            if len + 4 > MAX_CRYPTO {
                self.done = true;
                break;
            }
            if self.buf.len() < 4 + len {
                break;
            }
            msgs.push(self.buf.drain(..4 + len).collect());
        }
        msgs
    }

    fn append(&mut self, d: &[u8]) {
        if self.buf.len() + d.len() > MAX_CRYPTO {
            self.done = true;
            return;
        }
        self.buf.extend_from_slice(d);
        self.next += d.len() as u64;
    }
}

/// One QUIC connection, by its addresses.
struct Flow {
    keys: Option<Keys>,
    crypto: [Crypto; 2],
    largest: [Option<u64>; 2],
    summary: QuicConnection,
    first_frame: u64,
    first_ts: i64,
    /// The hello of each direction was reported.
    reported: [bool; 2],
}

/// Every QUIC flow of a capture.
#[derive(Default)]
pub struct Quic {
    flows: HashMap<(SocketAddr, SocketAddr), Flow>,
    order: VecDeque<(SocketAddr, SocketAddr)>,
    /// Flows ended early because [`MAX_FLOWS`] were open.
    pub evicted: u64,
}

/// Whether `payload` starts like a QUIC long-header packet of a version this reads.
fn starts_quic(payload: &[u8]) -> bool {
    payload.len() >= 7
        && payload[0] & 0xc0 == 0xc0
        && rustls_version(u32::from_be_bytes([payload[1], payload[2], payload[3], payload[4]])).is_some()
}

impl Flow {
    /// The packets coalesced in one datagram, in order.
    fn packets(
        &mut self,
        (client, server): (SocketAddr, SocketAddr),
        to_server: bool,
        payload: &[u8],
        frame: u64,
        ts: i64,
        out: &mut Vec<Event>,
    ) {
        let flow = self;
        let d = usize::from(!to_server);
        let (from, to) = if to_server { (client, server) } else { (server, client) };
        let mut rest = payload;
        let mut counted_first = false;
        while !rest.is_empty() {
            let Some(h) = long_header(rest) else {
                if rest[0] & 0x80 == 0 {
                    flow.summary.encrypted_packets += 1; // a short header: 1-RTT, to the end
                }
                break;
            };
            if counted_first {
                // Coalesced packets beyond the first are packets too.
                if to_server {
                    flow.summary.packets_to_server += 1;
                } else {
                    flow.summary.packets_to_client += 1;
                }
            }
            counted_first = true;
            match h.kind {
                Kind::VersionNegotiation => {
                    flow.summary.versions_offered = h
                        .versions
                        .iter()
                        .filter(|v| **v & 0x0f0f_0f0f != 0x0a0a_0a0a)
                        .map(|v| version_name(*v))
                        .collect();
                }
                Kind::Retry => {
                    if !to_server {
                        // The client's next Initials go to the ID the Retry gives, keyed by it.
                        flow.summary.retry = true;
                        flow.keys = Keys::derive(h.version, h.scid);
                        flow.largest = [None; 2];
                    }
                }
                Kind::Initial => {
                    if !to_server && flow.summary.server_scid.is_empty() {
                        flow.summary.server_scid = hex::encode(h.scid);
                    }
                    read_initial(flow, &rest[..h.len], &h, to_server, from, to, frame, ts, d, out);
                }
                Kind::ZeroRtt | Kind::Handshake => flow.summary.encrypted_packets += 1,
            }
            rest = &rest[h.len..];
        }
    }
}

impl Quic {
    /// One UDP datagram. True when it belonged to QUIC (a known flow, or a client Initial
    /// that opens one).
    pub fn datagram(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        payload: &[u8],
        frame: u64,
        ts: i64,
        out: &mut Vec<Event>,
    ) -> bool {
        let Some((key, to_server)) = self.find_or_open(src, dst, payload, frame, ts, out) else { return false };
        let flow = self.flows.get_mut(&key).expect("found or opened above");
        if to_server {
            flow.summary.packets_to_server += 1;
            flow.summary.bytes_to_server += payload.len() as u64;
        } else {
            flow.summary.packets_to_client += 1;
            flow.summary.bytes_to_client += payload.len() as u64;
        }
        flow.packets(key, to_server, payload, frame, ts, out);
        true
    }

    /// The flow this datagram belongs to (keyed client to server) and whether it goes to the
    /// server; a new flow starts with a client Initial whose own destination ID opens it.
    /// `None` when the datagram is not QUIC.
    fn find_or_open(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        payload: &[u8],
        frame: u64,
        ts: i64,
        out: &mut Vec<Event>,
    ) -> Option<((SocketAddr, SocketAddr), bool)> {
        if self.flows.contains_key(&(src, dst)) {
            return Some(((src, dst), true));
        }
        if self.flows.contains_key(&(dst, src)) {
            return Some(((dst, src), false));
        }
        let h = starts_quic(payload).then(|| long_header(payload)).flatten()?;
        if h.kind != Kind::Initial {
            return None;
        }
        let keys = Keys::derive(h.version, h.dcid)?;
        open(&payload[..h.len], h.pn_offset, &keys.client, None)?;
        if self.flows.len() >= MAX_FLOWS
            && let Some(old) = self.order.pop_front()
        {
            self.evicted += 1;
            self.end_flow(old, out);
        }
        let summary = QuicConnection {
            community_id: crate::analysis::flow::community_id(crate::analysis::flow::UDP, src, dst),
            version: version_name(h.version),
            client_dcid: hex::encode(h.dcid),
            client_scid: hex::encode(h.scid),
            ..QuicConnection::default()
        };
        let flow = Flow {
            keys: Some(keys),
            crypto: Default::default(),
            largest: [None; 2],
            summary,
            first_frame: frame,
            first_ts: ts,
            reported: [false; 2],
        };
        self.flows.insert((src, dst), flow);
        self.order.push_back((src, dst));
        Some(((src, dst), true))
    }

    fn end_flow(&mut self, key: (SocketAddr, SocketAddr), out: &mut Vec<Event>) {
        if let Some(f) = self.flows.remove(&key) {
            out.push(Event {
                frame: f.first_frame,
                ts: f.first_ts,
                conn: None,
                src: key.0,
                dst: key.1,
                record: Record::Quic(f.summary),
            });
        }
    }

    /// Ends every flow (end of capture): their summaries.
    pub fn finish(&mut self, out: &mut Vec<Event>) {
        for key in std::mem::take(&mut self.order) {
            self.end_flow(key, out);
        }
    }
}

/// Opens one Initial packet and reads its CRYPTO frames.
#[allow(clippy::too_many_arguments)]
fn read_initial(
    flow: &mut Flow,
    pkt: &[u8],
    h: &Long<'_>,
    to_server: bool,
    from: SocketAddr,
    to: SocketAddr,
    frame: u64,
    ts: i64,
    d: usize,
    out: &mut Vec<Event>,
) {
    // A client Initial under other keys (a new version after Version Negotiation, a Retry
    // not captured): its own destination ID keys it.
    let stale = flow.keys.as_ref().is_none_or(|k| k.version != h.version);
    if to_server
        && (stale
            || flow
                .keys
                .as_ref()
                .is_some_and(|k| k.dcid != h.dcid && open(pkt, h.pn_offset, &k.client, flow.largest[0]).is_none()))
        && let Some(k) = Keys::derive(h.version, h.dcid)
    {
        flow.keys = Some(k);
        flow.largest = [None; 2];
    }
    let Some(keys) = flow.keys.as_ref() else { return };
    let side = if to_server { &keys.client } else { &keys.server };
    let Some((pn, plain)) = open(pkt, h.pn_offset, side, flow.largest[d]) else {
        flow.summary.encrypted_packets += 1;
        return;
    };
    flow.largest[d] = Some(flow.largest[d].map_or(pn, |l| l.max(pn)));
    flow.summary.initials_read += 1;
    let Some(frames) = crypto_frames(&plain) else { return };
    for (offset, data) in frames {
        for msg in flow.crypto[d].add(offset, data) {
            if flow.reported[d] {
                continue;
            }
            match tls::hello(&msg, flow.summary.server_name.clone()) {
                Some(Record::TlsClientHello(mut ch)) if to_server => {
                    ch.quic = Some(flow.summary.version.clone());
                    ch.ja4.replace_range(..1, "q");
                    flow.summary.server_name.clone_from(&ch.sni);
                    flow.summary.alpn.clone_from(&ch.alpn);
                    flow.reported[d] = true;
                    out.push(Event { frame, ts, conn: None, src: from, dst: to, record: Record::TlsClientHello(ch) });
                }
                Some(r @ Record::TlsServerHello(_)) if !to_server => {
                    flow.reported[d] = true;
                    out.push(Event { frame, ts, conn: None, src: from, dst: to, record: r });
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(name: &str) -> Vec<u8> {
        let text = match name {
            "v1" => include_str!("quic_vectors/rfc9001-a2-client-initial.hex"),
            "v2" => include_str!("quic_vectors/rfc9369-a2-client-initial.hex"),
            _ => include_str!("quic_vectors/rfc9001-a2-client-hello.hex"),
        };
        hex::decode(text.split_whitespace().collect::<String>()).unwrap()
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// RFC 9001 A.2 (v1) and RFC 9369 A.2 (v2): the published Initial opens to a CRYPTO
    /// frame holding exactly the published ClientHello, and the report names its server.
    #[test]
    fn rfc_initials_decrypt_to_the_published_client_hello() {
        let hello = vector("hello");
        assert_eq!(hello.len(), 241);
        for (v, version) in [("v1", V1), ("v2", V2)] {
            let pkt = vector(v);
            assert_eq!(pkt.len(), 1200);
            let h = long_header(&pkt).expect("a long header");
            assert_eq!(
                (h.version, h.kind, h.dcid),
                (version, Kind::Initial, &hex::decode("8394c8f03e515708").unwrap()[..])
            );
            let keys = Keys::derive(h.version, h.dcid).unwrap();
            let (pn, plain) = open(&pkt[..h.len], h.pn_offset, &keys.client, None).expect("opens");
            assert_eq!(pn, 2, "{v}");
            assert_eq!(plain.len(), 1162, "{v}");
            let frames = crypto_frames(&plain).unwrap();
            assert_eq!(frames, vec![(0, &hello[..])], "{v}");

            let mut q = Quic::default();
            let mut out = Vec::new();
            assert!(q.datagram(addr("192.0.2.10:50000"), addr("198.51.100.10:443"), &pkt, 1, 0, &mut out));
            q.finish(&mut out);
            let Record::TlsClientHello(ch) = &out[0].record else { panic!("{out:?}") };
            assert_eq!(ch.sni.as_deref(), Some("example.com"));
            assert_eq!(ch.alpn, vec!["alpn".to_string()]);
            assert_eq!(ch.quic.as_deref(), Some(v));
            assert!(ch.ja4.starts_with("q13d"), "{}", ch.ja4);
            let Record::Quic(s) = &out[1].record else { panic!("{out:?}") };
            assert_eq!((s.initials_read, s.packets_to_server, s.bytes_to_server), (1, 1, 1200));
            assert_eq!(s.client_dcid, "8394c8f03e515708");
        }
    }

    /// The ClientHello split over two Initials, the second arriving first, and each
    /// fragment sent twice: one ClientHello, read once.
    #[test]
    fn crypto_reassembles_out_of_order_and_ignores_repeats() {
        let hello = vector("hello");
        let mut c = Crypto::default();
        assert!(c.add(100, &hello[100..]).is_empty());
        assert!(c.add(100, &hello[100..]).is_empty());
        let msgs = c.add(0, &hello[..120]);
        assert_eq!(msgs, vec![hello.clone()]);
        assert!(c.add(0, &hello[..120]).is_empty());
    }

    /// Broken and hostile Initials: every truncation and every flipped byte of the RFC
    /// packet is rejected or read without a panic, and a flow never holds more than the cap.
    #[test]
    fn damaged_initials_never_panic() {
        let pkt = vector("v1");
        for cut in 0..pkt.len() {
            let mut q = Quic::default();
            q.datagram(addr("192.0.2.10:1"), addr("198.51.100.10:443"), &pkt[..cut], 1, 0, &mut Vec::new());
        }
        for i in (0..pkt.len()).step_by(7) {
            let mut p = pkt.clone();
            p[i] ^= 0x5a;
            let mut q = Quic::default();
            q.datagram(addr("192.0.2.10:1"), addr("198.51.100.10:443"), &p, 1, 0, &mut Vec::new());
        }
        let mut c = Crypto::default();
        for k in 0..100u64 {
            c.add(10_000 + k * 1000, &[0u8; 1000]);
        }
        assert!(c.held <= MAX_CRYPTO && c.done);
    }

    #[test]
    fn packet_numbers_expand_from_the_largest_seen() {
        // RFC 9000 A.3's example: largest 0xa82f30ea, truncated 0x9b32 in 16 bits.
        assert_eq!(packet_number(Some(0xa82f_30ea), 0x9b32, 16), 0xa82f_9b32);
        assert_eq!(packet_number(None, 2, 32), 2);
    }
}

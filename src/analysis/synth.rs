//! Synthetic captures with known content, for tests, fuzz seeds and benchmarks: TCP
//! conversations (handshake, data in segments of a chosen size, close) written as
//! Ethernet/IPv4 frames to classic pcap or pcapng.
//!
//! Not part of the analysis pipeline; nothing in the pipeline imports it.

use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddrV4};

use etherparse::PacketBuilder;

/// One TCP segment of a conversation, before it becomes a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub from_client: bool,
    pub seq: u32,
    pub ack: u32,
    pub syn: bool,
    pub fin: bool,
    pub rst: bool,
    pub payload: Vec<u8>,
}

/// A TCP connection being scripted.
#[derive(Debug, Clone)]
pub struct Conversation {
    pub client: SocketAddrV4,
    pub server: SocketAddrV4,
    cseq: u32,
    sseq: u32,
    pub segments: Vec<Segment>,
    mss: usize,
}

impl Conversation {
    /// A connection with the given initial sequence numbers; `mss` bounds segment size.
    pub fn new(client: SocketAddrV4, server: SocketAddrV4, cisn: u32, sisn: u32, mss: usize) -> Self {
        Conversation { client, server, cseq: cisn, sseq: sisn, segments: Vec::new(), mss: mss.max(1) }
    }

    fn push(&mut self, from_client: bool, syn: bool, fin: bool, payload: &[u8]) {
        let (seq, ack) = if from_client { (self.cseq, self.sseq) } else { (self.sseq, self.cseq) };
        self.segments.push(Segment { from_client, seq, ack, syn, fin, rst: false, payload: payload.to_vec() });
        let adv = payload.len() as u32 + syn as u32 + fin as u32;
        if from_client {
            self.cseq = self.cseq.wrapping_add(adv);
        } else {
            self.sseq = self.sseq.wrapping_add(adv);
        }
    }

    pub fn handshake(&mut self) -> &mut Self {
        self.push(true, true, false, &[]);
        self.push(false, true, false, &[]);
        self.push(true, false, false, &[]);
        self
    }

    /// Sends `data` from one side in segments of at most `mss` bytes, each acknowledged.
    pub fn send(&mut self, from_client: bool, data: &[u8]) -> &mut Self {
        for chunk in data.chunks(self.mss) {
            self.push(from_client, false, false, chunk);
        }
        self.push(!from_client, false, false, &[]);
        self
    }

    pub fn close(&mut self) -> &mut Self {
        self.push(true, false, true, &[]);
        self.push(false, false, true, &[]);
        self.push(true, false, false, &[]);
        self
    }

    /// The frame (Ethernet/IPv4/TCP) for one segment.
    pub fn frame(&self, s: &Segment) -> Vec<u8> {
        let (src, dst) = if s.from_client { (self.client, self.server) } else { (self.server, self.client) };
        tcp_frame(src, dst, s)
    }
}

/// An Ethernet/IPv4/TCP frame.
pub fn tcp_frame(src: SocketAddrV4, dst: SocketAddrV4, s: &Segment) -> Vec<u8> {
    let mac = |ip: &Ipv4Addr| {
        let o = ip.octets();
        [0x02, 0, o[0], o[1], o[2], o[3]]
    };
    let mut b = PacketBuilder::ethernet2(mac(src.ip()), mac(dst.ip()))
        .ipv4(src.ip().octets(), dst.ip().octets(), 64)
        .tcp(src.port(), dst.port(), s.seq, 65535);
    if !s.syn || !s.from_client {
        b = b.ack(s.ack);
    }
    if s.syn {
        b = b.syn();
    }
    if s.fin {
        b = b.fin();
    }
    if s.rst {
        b = b.rst();
    }
    let mut v = Vec::with_capacity(s.payload.len() + 64);
    b.write(&mut v, &s.payload).expect("writing to a Vec");
    v
}

/// An Ethernet/IPv4/UDP frame.
pub fn udp_frame(src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(src.ip().octets(), dst.ip().octets(), 64)
        .udp(src.port(), dst.port());
    let mut v = Vec::new();
    b.write(&mut v, payload).expect("writing to a Vec");
    v
}

pub use crate::analysis::capture::write::{PcapWriter, PcapngWriter};

/// A DNS query for `name` (type A), as a resolver sends it.
pub fn dns_query(id: u16, name: &str) -> Vec<u8> {
    crate::analysis::dissect::dns::query(id, name).expect("synthetic names are valid")
}

/// A minimal TLS ClientHello record naming `sni`, offering h2 and http/1.1.
pub fn client_hello(sni: &str) -> Vec<u8> {
    let ext = |t: u16, body: &[u8]| {
        let mut v = t.to_be_bytes().to_vec();
        v.extend_from_slice(&(body.len() as u16).to_be_bytes());
        v.extend_from_slice(body);
        v
    };
    let mut sni_body = ((sni.len() + 3) as u16).to_be_bytes().to_vec();
    sni_body.push(0);
    sni_body.extend_from_slice(&(sni.len() as u16).to_be_bytes());
    sni_body.extend_from_slice(sni.as_bytes());
    let mut exts = ext(0x0000, &sni_body);
    exts.extend(ext(0x0010, b"\x00\x0c\x02h2\x08http/1.1"));
    exts.extend(ext(0x002b, &[4, 3, 4, 3, 3]));
    exts.extend(ext(0x000d, &[0, 4, 4, 3, 8, 4]));
    let mut body = vec![3, 3];
    body.extend_from_slice(&[0x42; 32]);
    body.push(0);
    body.extend_from_slice(&[0, 4, 0x13, 0x01, 0xc0, 0x2f, 1, 0]);
    body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    body.extend_from_slice(&exts);
    let mut hs = vec![1, 0];
    hs.extend_from_slice(&(body.len() as u16).to_be_bytes());
    hs.extend_from_slice(&body);
    let mut rec = vec![22, 3, 1];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

/// A TLS 1.2 ServerHello record choosing TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256.
pub fn server_hello() -> Vec<u8> {
    let mut body = vec![3, 3];
    body.extend_from_slice(&[0x24; 32]);
    body.push(0);
    body.extend_from_slice(&[0xc0, 0x2f, 0, 0, 0]);
    let mut hs = vec![2, 0];
    hs.extend_from_slice(&(body.len() as u16).to_be_bytes());
    hs.extend_from_slice(&body);
    let mut rec = vec![22, 3, 3];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

/// An application-data record of `len` opaque bytes.
pub fn app_data(len: usize) -> Vec<u8> {
    let mut rec = vec![23, 3, 3];
    rec.extend_from_slice(&(len as u16).to_be_bytes());
    rec.extend((0..len).map(|i| (i * 7) as u8));
    rec
}

/// The end of a TLS 1.2 handshake from one side: ChangeCipherSpec, then its Finished,
/// encrypted (40 bytes that stand for it).
pub fn finished() -> Vec<u8> {
    let mut rec = vec![20, 3, 3, 0, 1, 1, 22, 3, 3, 0, 40];
    rec.extend((0..40u8).map(|i| i.wrapping_mul(13)));
    rec
}

/// Writes the benchmark capture: keep-alive HTTP connections of ten transactions each
/// (cookies, Basic auth, HTML bodies of `body` bytes) and TLS handshakes, interleaved.
/// Returns the number of frames written.
pub fn benchmark_capture<W: Write>(out: W, transactions: u32, tls: u32, body: usize) -> io::Result<u64> {
    benchmark_capture_with(out, transactions, tls, body, Shape::default())
}

/// Variants of the benchmark capture.
#[derive(Debug, Clone, Copy, Default)]
pub struct Shape {
    /// Every data segment re-split into 1-byte segments, neighbours swapped.
    pub one_byte: bool,
    /// Addresses spread over the whole IPv4 space instead of two /16s.
    pub spread: bool,
    /// Connections open at once, their packets interleaved (as at a gateway); 0 or 1: one
    /// connection after another.
    pub interleave: u32,
}

fn spread_addr(n: u32) -> Ipv4Addr {
    Ipv4Addr::from(n.wrapping_mul(2_654_435_761).rotate_left(7) | 0x0100_0000)
}

/// Segments as sent, or split into swapped 1-byte pieces.
fn shaped(segs: &[Segment], one_byte: bool) -> Vec<Segment> {
    if !one_byte {
        return segs.to_vec();
    }
    let mut out = Vec::new();
    for s in segs {
        if s.payload.len() <= 1 {
            out.push(s.clone());
            continue;
        }
        let mut pieces: Vec<Segment> = (0..s.payload.len())
            .map(|i| Segment { seq: s.seq.wrapping_add(i as u32), payload: vec![s.payload[i]], ..s.clone() })
            .collect();
        for pair in pieces.chunks_mut(2) {
            pair.reverse();
        }
        out.extend(pieces);
    }
    out
}

/// [`benchmark_capture`] with a [`Shape`].
pub fn benchmark_capture_with<W: Write>(
    out: W,
    transactions: u32,
    tls: u32,
    body: usize,
    shape: Shape,
) -> io::Result<u64> {
    let mut w = PcapWriter::new(io::BufWriter::with_capacity(1 << 20, out))?;
    let mut ts = 1_700_000_000_000_000i64;
    let mut frames = 0u64;
    let page =
        format!("<html><head><title>Article</title></head><body>{}</body></html>", "lorem ipsum ".repeat(body / 12));
    let conns = transactions.div_ceil(10);
    let tls_every = (conns / tls.max(1)).max(1);
    let mut tls_left = tls;
    // Conversations open at once, each with the segments it has still to send.
    let width = shape.interleave.max(1) as usize;
    let mut open: std::collections::VecDeque<(Conversation, std::vec::IntoIter<Segment>)> =
        std::collections::VecDeque::new();
    let mut next = 0u32;
    loop {
        while open.len() < width && next < conns {
            let c = next;
            next += 1;
            let (cip, sip) = if shape.spread {
                (spread_addr(c), spread_addr(c ^ 0x8000_0000))
            } else {
                (Ipv4Addr::from(0xc000_0200u32 + (c % 200)), Ipv4Addr::from(0xc633_6400u32 + (c % 50)))
            };
            let client = SocketAddrV4::new(cip, 1024 + (c % 60_000) as u16);
            let server = SocketAddrV4::new(sip, 80);
            let mut conv = Conversation::new(client, server, c.wrapping_mul(2_654_435_761), c, 1448);
            conv.handshake();
            for t in 0..10.min(transactions - c * 10) {
                let req = format!(
                    "GET /articles/{c}/{t}?q={t} HTTP/1.1\r\nHost: site{}.test\r\nUser-Agent: bench/1.0\r\nCookie: session={c:08x}{t}; theme=dark\r\nAuthorization: Basic dXNlcjpwYXNz\r\n\r\n",
                    c % 50
                );
                conv.send(true, req.as_bytes());
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{page}",
                    page.len()
                );
                conv.send(false, resp.as_bytes());
            }
            conv.close();
            let segs = shaped(&conv.segments, shape.one_byte).into_iter();
            open.push_back((conv, segs));
            if c.is_multiple_of(tls_every) && tls_left > 0 {
                tls_left -= 1;
                let client = SocketAddrV4::new(*client.ip(), 1024 + ((c + 30_000) % 60_000) as u16);
                let server = SocketAddrV4::new(*server.ip(), 443);
                let mut t = Conversation::new(client, server, c, c ^ 0x5555, 1448);
                t.handshake();
                t.send(true, &client_hello(&format!("tls{}.site.test", c % 1000)));
                t.send(false, &server_hello());
                t.send(true, &finished());
                t.send(false, &finished());
                t.send(true, &app_data(200));
                t.send(false, &app_data(4000));
                t.close();
                let segs = shaped(&t.segments, shape.one_byte).into_iter();
                open.push_back((t, segs));
            }
        }
        // One segment from each open conversation in turn.
        let Some((conv, mut segs)) = open.pop_front() else { break };
        if let Some(s) = segs.next() {
            ts += 20;
            w.packet(ts, &conv.frame(&s))?;
            frames += 1;
            if width == 1 {
                open.push_front((conv, segs));
            } else {
                open.push_back((conv, segs));
            }
        }
    }
    w.into_inner().flush()?;
    Ok(frames)
}

fn addr_of(s: &str) -> SocketAddrV4 {
    s.parse().expect("literal address")
}

/// The sample session (README, demo script, tests): a visitor's DNS, HTTP login with cookies and Basic auth, a page, and a TLS visit.
pub fn sample_session() -> (Vec<Conversation>, Vec<Vec<u8>>) {
    let mut convs = Vec::new();
    let dns = vec![udp_frame(addr_of("192.0.2.10:5353"), addr_of("198.51.100.53:53"), &dns_query(7, "clinic.test"))];
    for i in 0..20u32 {
        let mut c = Conversation::new(
            addr_of(&format!("192.0.2.10:{}", 40000 + i)),
            addr_of("198.51.100.10:80"),
            1000 + i * 7919,
            u32::MAX - 500 + i,
            1400,
        );
        c.handshake();
        let form = format!("username=alice{i}&password=pw{i}secret");
        let login = format!(
            "POST /login HTTP/1.1\r\nHost: clinic.test\r\nCookie: sid=s{i}\r\nAuthorization: Basic {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{}",
            "YWxpY2U6czNjcmV0",
            form.len(),
            form
        );
        c.send(true, login.as_bytes());
        c.send(false, format!("HTTP/1.1 302 Found\r\nLocation: /account\r\nSet-Cookie: session=tok{i}; HttpOnly\r\nContent-Length: 0\r\n\r\n").as_bytes());
        let body = format!(
            "<html><head><title>Living with condition {i}</title></head><body>{}</body></html>",
            "x".repeat(3000)
        );
        c.send(
            true,
            format!("GET /articles/condition-{i} HTTP/1.1\r\nHost: clinic.test\r\nCookie: session=tok{i}\r\n\r\n")
                .as_bytes(),
        );
        c.send(
            false,
            format!("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{body}", body.len())
                .as_bytes(),
        );
        c.close();
        convs.push(c);
    }
    let mut t = Conversation::new(addr_of("192.0.2.10:50000"), addr_of("198.51.100.10:443"), 77, 99, 1400);
    t.handshake();
    t.send(true, &client_hello("clinic.test"));
    t.send(false, &server_hello());
    t.send(true, &finished());
    t.send(false, &finished());
    t.send(true, &app_data(300));
    t.send(false, &app_data(5000));
    t.close();
    convs.push(t);
    (convs, dns)
}

/// Writes the sample session as classic pcap.
pub fn write_sample<W: Write>(out: W) -> io::Result<()> {
    let (convs, dns) = sample_session();
    let mut w = PcapWriter::new(io::BufWriter::new(out))?;
    let mut ts = 1_700_000_000_000_000i64;
    for d in &dns {
        w.packet(ts, d)?;
    }
    for c in &convs {
        for s in &c.segments {
            ts += 10;
            w.packet(ts, &c.frame(s))?;
        }
    }
    w.into_inner().flush()
}

//! Decoding a frame down to TCP or UDP: link layers (Ethernet with VLAN/QinQ tags,
//! Linux SLL and SLL2, raw IP, BSD null/loopback, PPP, ARCNET, 802.11 with or without
//! radiotap), IPv4 and IPv6 with `etherparse`, and IP fragments reassembled with
//! etherparse's defragmenter.
//!
//! Pure: no I/O. Decoding never panics; anything it cannot read is reported as a
//! [`Skip`] so the summary can count it.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};

use etherparse::defrag::IpDefragPool;
use etherparse::{EtherType, LaxNetSlice, LaxSlicedPacket, SlicedPacket, TcpSlice, TransportSlice, UdpSlice};

use crate::analysis::capture::{Frame, Linktype};

/// TCP header fields the reassembler needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpMeta {
    pub seq: u32,
    pub ack: Option<u32>,
    pub syn: bool,
    pub fin: bool,
    pub rst: bool,
    /// The advertised window, unscaled (only whether it is zero is used).
    pub window: u16,
}

/// The transport layer of a decoded packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    Tcp(TcpMeta),
    Udp,
}

/// A packet decoded to its transport layer. The payload borrows the frame unless it came
/// out of IP defragmentation.
#[derive(Debug, Clone)]
pub struct Packet<'a> {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub transport: Transport,
    pub payload: Cow<'a, [u8]>,
    /// The length of the (innermost) IP packet, headers included, as its header gives it.
    pub ip_len: u32,
}

/// Why a frame produced no packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// A link type this decoder does not know.
    Linktype,
    /// Not IP, or IP carrying something other than TCP/UDP (ARP, ICMP, ...).
    NotTcpUdp,
    /// A fragment held until the rest of its datagram arrives.
    Fragment,
    /// Headers cut short or invalid.
    Malformed,
}

/// Stateful decoder (the state is the IP defragmenter).
pub struct Decoder {
    defrag: IpDefragPool<i64>,
    pending_fragments: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder { defrag: IpDefragPool::new(), pending_fragments: 0 }
    }
}

/// Fragments older than this (capture time) are dropped.
const FRAGMENT_TIMEOUT_MICROS: i64 = 30_000_000;
/// At most this many fragments are held before old datagrams are dropped.
const MAX_PENDING_FRAGMENTS: usize = 4096;

impl Decoder {
    pub fn decode<'a>(&mut self, frame: &Frame<'a>) -> Result<Packet<'a>, Skip> {
        if frame.linktype.0 == 1
            && frame.data.get(12..14) == Some(&[0x08, 0x00])
            && let Some(p) = plain_ipv4(&frame.data[14..])
        {
            return Ok(p);
        }
        let sliced = slice_link(frame.linktype, frame.data)?;
        self.decode_sliced(sliced, frame, 0)
    }

    fn decode_sliced<'a>(&mut self, p: LaxSlicedPacket<'a>, frame: &Frame<'a>, depth: u8) -> Result<Packet<'a>, Skip> {
        let net = p.net.as_ref().ok_or(Skip::NotTcpUdp)?;
        // Tunnels: GRE (with ERSPAN), IP in IP, VXLAN. The inner packet is what matters.
        if depth < 4 {
            let inner = match net {
                LaxNetSlice::Ipv4(v4) => Some(v4.payload()),
                LaxNetSlice::Ipv6(v6) => Some(v6.payload()),
                _ => None,
            };
            if let Some(pl) = inner.filter(|pl| !pl.fragmented) {
                let tunnelled = match pl.ip_number.0 {
                    47 => Some(gre(pl.payload)),
                    4 | 41 => Some(LaxSlicedPacket::from_ip(pl.payload).map_err(|_| Skip::Malformed)),
                    _ => None,
                };
                if let Some(t) = tunnelled {
                    return self.decode_sliced(t?, frame, depth + 1);
                }
            }
            if let Some(TransportSlice::Udp(u)) = &p.transport {
                let vxlan = u.destination_port() == 4789 || u.source_port() == 4789;
                if vxlan && u.payload().len() > 8 && u.payload()[0] & 0x08 != 0 {
                    let inner = ethernet(&u.payload()[8..])?;
                    return self.decode_sliced(inner, frame, depth + 1);
                }
            }
        }
        let (src, dst, fragmented, ip_bytes, ip_len): (IpAddr, IpAddr, bool, &'a [u8], u32) = match net {
            LaxNetSlice::Ipv4(v4) => {
                let h = v4.header();
                let ip = extend(h.slice(), frame.data);
                (
                    IpAddr::V4(h.source_addr()),
                    IpAddr::V4(h.destination_addr()),
                    h.is_fragmenting_payload(),
                    ip,
                    v4_len(h.total_len(), ip.len()),
                )
            }
            LaxNetSlice::Ipv6(v6) => {
                let h = v6.header();
                let frag = v6.payload().fragmented;
                let len = u32::from(h.payload_length()) + 40;
                (
                    IpAddr::V6(h.source_addr()),
                    IpAddr::V6(h.destination_addr()),
                    frag,
                    extend(h.slice(), frame.data),
                    len,
                )
            }
            _ => return Err(Skip::NotTcpUdp),
        };
        if fragmented {
            return self.defragment(ip_bytes, src, dst, frame.ts_micros);
        }
        match p.transport {
            Some(TransportSlice::Tcp(t)) => Ok(tcp_packet(src, dst, &t, Cow::Borrowed(t.payload()), ip_len)),
            Some(TransportSlice::Udp(u)) => Ok(Packet {
                src: SocketAddr::new(src, u.source_port()),
                dst: SocketAddr::new(dst, u.destination_port()),
                transport: Transport::Udp,
                payload: Cow::Borrowed(u.payload()),
                ip_len,
            }),
            _ => match p.stop_err {
                Some(_) => Err(Skip::Malformed),
                None => Err(Skip::NotTcpUdp),
            },
        }
    }

    fn defragment<'a>(&mut self, ip: &[u8], src: IpAddr, dst: IpAddr, ts: i64) -> Result<Packet<'a>, Skip> {
        let sliced = SlicedPacket::from_ip(ip).map_err(|_| Skip::Malformed)?;
        self.pending_fragments += 1;
        if self.pending_fragments > MAX_PENDING_FRAGMENTS {
            self.defrag.retain(|t| ts - *t < FRAGMENT_TIMEOUT_MICROS / 8);
            self.pending_fragments = 0;
        }
        let done = match self.defrag.process_sliced_packet(&sliced, ts, ()) {
            Ok(Some(done)) => done,
            Ok(None) => return Err(Skip::Fragment),
            Err(_) => return Err(Skip::Malformed),
        };
        self.defrag.retain(|t| ts - *t < FRAGMENT_TIMEOUT_MICROS);
        let data = done.payload.as_slice();
        let header = if src.is_ipv4() { 20 } else { 40 };
        let ip_len = u32::try_from(data.len()).unwrap_or(u32::MAX).saturating_add(header);
        let packet = match done.ip_number {
            etherparse::IpNumber::TCP => {
                let t = TcpSlice::from_slice(data).map_err(|_| Skip::Malformed)?;
                tcp_packet(src, dst, &t, Cow::Owned(t.payload().to_vec()), ip_len)
            }
            etherparse::IpNumber::UDP => {
                let u = UdpSlice::from_slice_lax(data).map_err(|_| Skip::Malformed)?;
                Packet {
                    src: SocketAddr::new(src, u.source_port()),
                    dst: SocketAddr::new(dst, u.destination_port()),
                    transport: Transport::Udp,
                    payload: Cow::Owned(u.payload().to_vec()),
                    ip_len,
                }
            }
            _ => return Err(Skip::NotTcpUdp),
        };
        Ok(packet)
    }
}

/// The common case, without the general slicer: IPv4, whole and unfragmented, carrying TCP
/// or UDP that is not a tunnel. Anything else (or anything odd) is `None`, and goes the
/// general way, which gives the same packet for what this accepts.
/// The endpoints of an Ethernet + IPv4 + TCP frame, read from fixed offsets and checked only
/// enough not to read past the end: a hint for prefetching the connection's state ahead of
/// its frame, never a decoding (nothing is concluded from it).
pub fn tcp_endpoints_hint(linktype: Linktype, data: &[u8]) -> Option<(SocketAddr, SocketAddr)> {
    if linktype.0 != 1 || data.get(12..14)? != [0x08, 0x00] {
        return None;
    }
    let ip = data.get(14..34)?;
    if ip[9] != 6 {
        return None;
    }
    let ports = data.get(14 + usize::from(ip[0] & 0x0f) * 4..)?.get(..4)?;
    let addr =
        |a: &[u8], p: &[u8]| SocketAddr::new(IpAddr::from([a[0], a[1], a[2], a[3]]), u16::from_be_bytes([p[0], p[1]]));
    Some((addr(&ip[12..16], &ports[0..2]), addr(&ip[16..20], &ports[2..4])))
}

fn plain_ipv4(d: &[u8]) -> Option<Packet<'_>> {
    let ip = etherparse::Ipv4Slice::from_slice(d).ok()?;
    if ip.is_payload_fragmented() {
        return None;
    }
    let h = ip.header();
    let (src, dst) = (IpAddr::V4(h.source_addr()), IpAddr::V4(h.destination_addr()));
    let ip_len = v4_len(h.total_len(), d.len());
    let pl = ip.payload();
    match pl.ip_number {
        etherparse::IpNumber::TCP => {
            let t = TcpSlice::from_slice(pl.payload).ok()?;
            Some(tcp_packet(src, dst, &t, Cow::Borrowed(t.payload()), ip_len))
        }
        etherparse::IpNumber::UDP => {
            let u = UdpSlice::from_slice(pl.payload).ok()?;
            if u.source_port() == 4789 || u.destination_port() == 4789 {
                return None; // VXLAN
            }
            Some(Packet {
                src: SocketAddr::new(src, u.source_port()),
                dst: SocketAddr::new(dst, u.destination_port()),
                transport: Transport::Udp,
                payload: Cow::Borrowed(u.payload()),
                ip_len,
            })
        }
        _ => None,
    }
}

fn tcp_packet<'a>(src: IpAddr, dst: IpAddr, t: &TcpSlice<'_>, payload: Cow<'a, [u8]>, ip_len: u32) -> Packet<'a> {
    Packet {
        src: SocketAddr::new(src, t.source_port()),
        dst: SocketAddr::new(dst, t.destination_port()),
        transport: Transport::Tcp(TcpMeta {
            seq: t.sequence_number(),
            ack: t.ack().then(|| t.acknowledgment_number()),
            syn: t.syn(),
            fin: t.fin(),
            rst: t.rst(),
            window: t.window_size(),
        }),
        payload,
        ip_len,
    }
}

/// An IPv4 packet's length from its header; a zero there (a segmentation offload's
/// packet, captured before the NIC split it) is taken as the captured length, as Zeek and
/// tshark do.
fn v4_len(total: u16, captured: usize) -> u32 {
    if total == 0 { u32::try_from(captured).unwrap_or(u32::MAX) } else { u32::from(total) }
}

/// The IP packet starting at `header` and running to the end of the frame.
fn extend<'a>(header: &[u8], frame: &'a [u8]) -> &'a [u8] {
    let start = (header.as_ptr() as usize).saturating_sub(frame.as_ptr() as usize);
    frame.get(start..).unwrap_or(&[])
}

/// Peels the link layer and hands the rest to etherparse's lax slicer.
fn slice_link(lt: Linktype, d: &[u8]) -> Result<LaxSlicedPacket<'_>, Skip> {
    let by_ethertype = |et: u16, rest| Ok(LaxSlicedPacket::from_ether_type(EtherType(et), rest));
    let ip = |rest| LaxSlicedPacket::from_ip(rest).map_err(|_| Skip::Malformed);
    match lt.0 {
        // Ethernet
        1 => ethernet(d),
        // NFLOG: 4-byte header, then TLVs; type 9 holds the packet.
        239 => {
            let mut rest = d.get(4..).ok_or(Skip::Malformed)?;
            while rest.len() >= 4 {
                let len = u16::from_le_bytes([rest[0], rest[1]]) as usize;
                let kind = u16::from_le_bytes([rest[2], rest[3]]);
                if len < 4 || len > rest.len() {
                    return Err(Skip::Malformed);
                }
                if kind == 9 {
                    return ip(&rest[4..len]);
                }
                rest = rest.get(len.div_ceil(4) * 4..).unwrap_or(&[]);
            }
            Err(Skip::NotTcpUdp)
        }
        // BSD null / loopback: 4-byte address family, host order (0) or network order (108).
        0 | 108 => {
            let fam = d.get(..4).ok_or(Skip::Malformed)?;
            let le = u32::from_le_bytes(fam.try_into().expect("4 bytes"));
            let be = u32::from_be_bytes(fam.try_into().expect("4 bytes"));
            let family = if lt.0 == 108 {
                be
            } else if le < 256 {
                le
            } else {
                be
            };
            match family {
                2 | 24 | 28 | 30 => ip(&d[4..]),
                _ => Err(Skip::NotTcpUdp),
            }
        }
        // Raw IP (12 and 14 are the BSD spellings), IPv4-only (228), IPv6-only (229).
        101 | 12 | 14 | 228 | 229 => ip(d),
        // Linux cooked capture v1: protocol at 14..16, payload at 16.
        113 => {
            let proto = d.get(14..16).ok_or(Skip::Malformed)?;
            by_ethertype(u16::from_be_bytes([proto[0], proto[1]]), &d[16..])
        }
        // Linux cooked capture v2: protocol at 0..2, payload at 20.
        276 => {
            let proto = d.get(0..2).ok_or(Skip::Malformed)?;
            by_ethertype(u16::from_be_bytes([proto[0], proto[1]]), d.get(20..).ok_or(Skip::Malformed)?)
        }
        // PPP (9) and PPP in HDLC framing (50): optional ff 03, then a 2-byte protocol.
        9 | 50 => {
            let rest = d.strip_prefix(&[0xff, 0x03]).unwrap_or(d);
            match rest.get(..2) {
                Some([0x00, 0x21]) | Some([0x00, 0x57]) => ip(&rest[2..]),
                Some(_) => Err(Skip::NotTcpUdp),
                None => Err(Skip::Malformed),
            }
        }
        // ARCNET: BSD (7: source, destination) and Linux (129: and a 2-byte offset).
        7 => arcnet(d.get(2..).ok_or(Skip::Malformed)?),
        129 => arcnet(d.get(4..).ok_or(Skip::Malformed)?),
        // 802.11, bare (105) or behind a radiotap header (127).
        105 => wifi(d),
        127 => {
            let len = d.get(2..4).ok_or(Skip::Malformed)?;
            wifi(d.get(u16::from_le_bytes([len[0], len[1]]) as usize..).ok_or(Skip::Malformed)?)
        }
        _ => Err(Skip::Linktype),
    }
}

/// Ethernet II or 802.3+SNAP, through any VLAN tags (802.1Q, QinQ) and MPLS labels.
fn ethernet(d: &[u8]) -> Result<LaxSlicedPacket<'_>, Skip> {
    let mut et = u16::from_be_bytes(d.get(12..14).ok_or(Skip::Malformed)?.try_into().expect("2 bytes"));
    let mut rest = &d[14..];
    for _ in 0..8 {
        match et {
            0x8100 | 0x88a8 | 0x9100 => {
                let tag = rest.get(..4).ok_or(Skip::Malformed)?;
                et = u16::from_be_bytes([tag[2], tag[3]]);
                rest = &rest[4..];
            }
            0x8847 | 0x8848 => {
                // Labels until bottom of stack, then IP by its version nibble.
                loop {
                    let label = rest.get(..4).ok_or(Skip::Malformed)?;
                    rest = &rest[4..];
                    if label[2] & 1 == 1 {
                        break;
                    }
                }
                return match rest.first().map(|b| b >> 4) {
                    Some(4) | Some(6) => LaxSlicedPacket::from_ip(rest).map_err(|_| Skip::Malformed),
                    _ => Err(Skip::NotTcpUdp),
                };
            }
            n if n <= 1500 => {
                // 802.3 length field: only LLC/SNAP carries an ethertype.
                let llc = rest.get(..8).ok_or(Skip::Malformed)?;
                if llc[..3] != [0xaa, 0xaa, 0x03] {
                    return Err(Skip::NotTcpUdp);
                }
                et = u16::from_be_bytes([llc[6], llc[7]]);
                rest = &rest[8..];
            }
            _ => break,
        }
    }
    Ok(LaxSlicedPacket::from_ether_type(EtherType(et), rest))
}

/// A GRE packet: plain IP, transparent Ethernet bridging, or ERSPAN type II/III.
fn gre(d: &[u8]) -> Result<LaxSlicedPacket<'_>, Skip> {
    let h = d.get(..4).ok_or(Skip::Malformed)?;
    let (flags, proto) = (h[0], u16::from_be_bytes([h[2], h[3]]));
    let mut len = 4;
    for bit in [0x80, 0x20, 0x10] {
        if flags & bit != 0 {
            len += 4; // checksum, key, sequence number
        }
    }
    let rest = d.get(len..).ok_or(Skip::Malformed)?;
    match proto {
        0x0800 | 0x86dd => LaxSlicedPacket::from_ip(rest).map_err(|_| Skip::Malformed),
        0x6558 => ethernet(rest),
        0x88be => ethernet(rest.get(8..).ok_or(Skip::Malformed)?),
        0x22eb => {
            let sub = if rest.get(11).is_some_and(|b| b & 1 == 1) { 20 } else { 12 };
            ethernet(rest.get(sub..).ok_or(Skip::Malformed)?)
        }
        _ => Err(Skip::NotTcpUdp),
    }
}

/// An ARCNET packet from its protocol byte: IP after RFC 1051's one byte (0xf0), or after
/// RFC 1201's split flag and sequence number (0xd4); an RFC 1201 exception packet repeats
/// the header after 4 bytes of padding. Split packets are not reassembled.
fn arcnet(d: &[u8]) -> Result<LaxSlicedPacket<'_>, Skip> {
    let ip = |rest| LaxSlicedPacket::from_ip(rest).map_err(|_| Skip::Malformed);
    match d.first() {
        Some(0xf0) => ip(&d[1..]),
        Some(0xd4) => {
            let d = if d.get(1) == Some(&0xff) { d.get(4..).ok_or(Skip::Malformed)? } else { d };
            match d.get(..4) {
                Some([0xd4, 0, _, _]) => ip(&d[4..]),
                Some([0xd4, ..]) => Err(Skip::NotTcpUdp), // a piece of a split packet
                Some(_) => Err(Skip::NotTcpUdp),
                None => Err(Skip::Malformed),
            }
        }
        Some(_) => Err(Skip::NotTcpUdp),
        None => Err(Skip::Malformed),
    }
}

/// An 802.11 data frame carrying LLC/SNAP-encapsulated IP.
fn wifi(d: &[u8]) -> Result<LaxSlicedPacket<'_>, Skip> {
    let fc = d.get(..2).ok_or(Skip::Malformed)?;
    let (ftype, subtype, flags) = ((fc[0] >> 2) & 3, fc[0] >> 4, fc[1]);
    if ftype != 2 || subtype & 0x4 != 0 {
        return Err(Skip::NotTcpUdp); // not data, or a null-data frame
    }
    let mut hdr = 24;
    if flags & 0x03 == 0x03 {
        hdr += 6; // four addresses
    }
    if subtype & 0x8 != 0 {
        hdr += 2; // QoS control
        if flags & 0x80 != 0 {
            hdr += 4; // HT control
        }
    }
    if flags & 0x40 != 0 {
        return Err(Skip::NotTcpUdp); // protected: nothing to read
    }
    let llc = d.get(hdr..hdr + 8).ok_or(Skip::Malformed)?;
    if llc[..3] != [0xaa, 0xaa, 0x03] {
        return Err(Skip::NotTcpUdp);
    }
    Ok(LaxSlicedPacket::from_ether_type(EtherType(u16::from_be_bytes([llc[6], llc[7]])), &d[hdr + 8..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    fn frame(lt: u32, data: &[u8]) -> Frame<'_> {
        Frame { number: 1, ts_micros: 0, linktype: Linktype(lt), data, orig_len: data.len() as u32, ahead: [&[]; 2] }
    }

    fn tcp_eth(payload: &[u8]) -> Vec<u8> {
        let b = PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([192, 0, 2, 10], [198, 51, 100, 10], 64)
            .tcp(40000, 80, 1000, 65535)
            .ack(77);
        let mut v = Vec::new();
        b.write(&mut v, payload).unwrap();
        v
    }

    #[test]
    fn ethernet_tcp() {
        let v = tcp_eth(b"GET / HTTP/1.1\r\n");
        let p = Decoder::default().decode(&frame(1, &v)).unwrap();
        assert_eq!(p.src, "192.0.2.10:40000".parse().unwrap());
        assert_eq!(p.dst, "198.51.100.10:80".parse().unwrap());
        assert_eq!(
            p.transport,
            Transport::Tcp(TcpMeta { seq: 1000, ack: Some(77), syn: false, fin: false, rst: false, window: 65535 })
        );
        assert_eq!(&p.payload[..], b"GET / HTTP/1.1\r\n");
    }

    #[test]
    fn endpoints_hint_agrees_with_the_decoder_and_never_reads_past_the_end() {
        let v = tcp_eth(b"GET / HTTP/1.1\r\n");
        let p = Decoder::default().decode(&frame(1, &v)).unwrap();
        assert_eq!(tcp_endpoints_hint(Linktype(1), &v), Some((p.src, p.dst)));
        // Options in the IP header move the ports.
        let mut opts =
            etherparse::Ipv4Header::new(0, 64, etherparse::IpNumber::TCP, [192, 0, 2, 10], [198, 51, 100, 10]).unwrap();
        opts.options = [1, 1, 1, 1][..].try_into().unwrap();
        let mut w = Vec::new();
        PacketBuilder::ethernet2([1; 6], [2; 6])
            .ip(etherparse::IpHeaders::Ipv4(opts, Default::default()))
            .tcp(40001, 443, 1, 9)
            .write(&mut w, b"x")
            .unwrap();
        assert_eq!(
            tcp_endpoints_hint(Linktype(1), &w),
            Some(("192.0.2.10:40001".parse().unwrap(), "198.51.100.10:443".parse().unwrap()))
        );
        for cut in 0..v.len().min(40) {
            let got = tcp_endpoints_hint(Linktype(1), &v[..cut]);
            assert!(got.is_none() || cut >= 38, "a {cut}-byte frame gave {got:?}");
        }
        let mut udp = Vec::new();
        PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([192, 0, 2, 10], [198, 51, 100, 10], 64)
            .udp(5, 53)
            .write(&mut udp, b"x")
            .unwrap();
        assert_eq!(tcp_endpoints_hint(Linktype(1), &udp), None);
        assert_eq!(tcp_endpoints_hint(Linktype(101), &v), None);
    }

    #[test]
    fn sll_and_null_and_raw() {
        let eth = tcp_eth(b"x");
        let ip = &eth[14..];
        let mut sll = vec![0u8; 16];
        sll[14..16].copy_from_slice(&[0x08, 0x00]);
        sll.extend_from_slice(ip);
        assert_eq!(&Decoder::default().decode(&frame(113, &sll)).unwrap().payload[..], b"x");
        let mut sll2 = vec![0u8; 20];
        sll2[0..2].copy_from_slice(&[0x08, 0x00]);
        sll2.extend_from_slice(ip);
        assert_eq!(&Decoder::default().decode(&frame(276, &sll2)).unwrap().payload[..], b"x");
        let mut null = 2u32.to_le_bytes().to_vec();
        null.extend_from_slice(ip);
        assert_eq!(&Decoder::default().decode(&frame(0, &null)).unwrap().payload[..], b"x");
        assert_eq!(&Decoder::default().decode(&frame(101, ip)).unwrap().payload[..], b"x");
    }

    #[test]
    fn never_panics_on_short_or_garbage() {
        let mut d = Decoder::default();
        for lt in [0, 1, 7, 9, 12, 50, 101, 105, 108, 113, 127, 129, 228, 229, 276, 999] {
            for len in 0..80 {
                let data: Vec<u8> = (0..len).map(|i| (i * 37 + lt) as u8).collect();
                let _ = d.decode(&frame(lt, &data));
            }
        }
        assert_eq!(d.decode(&frame(999, &[0; 40])).unwrap_err(), Skip::Linktype);
    }
}

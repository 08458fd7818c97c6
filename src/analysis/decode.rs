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

/// The tunnels opened (Zeek's `Tunnel::Type` names them in tunnel.log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TunnelKind {
    /// IP in IP (IPv4 or IPv6, either way round).
    Ip,
    /// GRE, with or without ERSPAN.
    Gre,
    Vxlan,
    Geneve,
    /// GTP-U, GTP version 1's user plane.
    Gtpv1,
    /// IPv6 in UDP (RFC 4380).
    Teredo,
    /// Anything In Anything (IP in UDP).
    Ayiya,
}

impl TunnelKind {
    /// Zeek's name (`Tunnel::VXLAN`, ...).
    pub fn zeek_name(self) -> &'static str {
        match self {
            TunnelKind::Ip => "Tunnel::IP",
            TunnelKind::Gre => "Tunnel::GRE",
            TunnelKind::Vxlan => "Tunnel::VXLAN",
            TunnelKind::Geneve => "Tunnel::GENEVE",
            TunnelKind::Gtpv1 => "Tunnel::GTPv1",
            TunnelKind::Teredo => "Tunnel::TEREDO",
            TunnelKind::Ayiya => "Tunnel::AYIYA",
        }
    }

    /// The name people use (`VXLAN`, `GTP-U`, ...).
    pub fn name(self) -> &'static str {
        match self {
            TunnelKind::Ip => "IP in IP",
            TunnelKind::Gre => "GRE",
            TunnelKind::Vxlan => "VXLAN",
            TunnelKind::Geneve => "Geneve",
            TunnelKind::Gtpv1 => "GTP-U",
            TunnelKind::Teredo => "Teredo",
            TunnelKind::Ayiya => "AYIYA",
        }
    }
}

/// A tunnel a packet came through: its kind and the outer packet's ends (ports 0 when it
/// is not carried in UDP) and sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tunnel {
    pub kind: TunnelKind,
    pub outer_src: SocketAddr,
    pub outer_dst: SocketAddr,
    /// The outer UDP payload's length (0 for IP tunnels) and the outer IP packet's.
    pub outer_payload_len: u32,
    pub outer_ip_len: u32,
}

/// Tunnels inside tunnels opened at most; deeper, the packet is not decoded.
pub const MAX_TUNNEL_DEPTH: u8 = 4;

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
    tunnel: Option<Tunnel>,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder { defrag: IpDefragPool::new(), pending_fragments: 0, tunnel: None }
    }
}

/// Fragments older than this (capture time) are dropped.
const FRAGMENT_TIMEOUT_MICROS: i64 = 30_000_000;
/// At most this many fragments are held before old datagrams are dropped.
const MAX_PENDING_FRAGMENTS: usize = 4096;

impl Decoder {
    pub fn decode<'a>(&mut self, frame: &Frame<'a>) -> Result<Packet<'a>, Skip> {
        self.tunnel = None;
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
        // Tunnels: the inner packet is what matters; the tunnel is remembered with it.
        if depth < MAX_TUNNEL_DEPTH
            && let Some((inner, tunnel)) = tunnelled(&p, net)
        {
            self.tunnel = Some(tunnel);
            return self.decode_sliced(inner?, frame, depth + 1);
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

    /// The innermost tunnel the last frame came through, whether or not what was inside
    /// could be decoded.
    pub fn tunnel(&self) -> Option<&Tunnel> {
        self.tunnel.as_ref()
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
            let teredo_like = u.payload().len() >= 40 && (u.payload()[0] >> 4 == 6 || u.payload()[0] == 0);
            if teredo_like || [u.source_port(), u.destination_port()].iter().any(|p| TUNNEL_PORTS.contains(p)) {
                return None; // perhaps a tunnel: the general way looks
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

/// The UDP ports tunnels use: VXLAN, Geneve, GTP-U, Teredo, AYIYA.
const TUNNEL_PORTS: [u16; 5] = [4789, 6081, 2152, 3544, 5072];

/// If `p` is a tunnel's outer packet: the inner packet (or why it cannot be read) and the
/// tunnel. Each kind is recognised by its IP protocol or UDP port and checked by its
/// header; a packet that fails the check is plain UDP after all.
fn tunnelled<'a>(
    p: &LaxSlicedPacket<'a>,
    net: &LaxNetSlice<'a>,
) -> Option<(Result<LaxSlicedPacket<'a>, Skip>, Tunnel)> {
    let (ips, pl, ip_len) = match net {
        LaxNetSlice::Ipv4(v4) => {
            let h = v4.header();
            let ips = (IpAddr::V4(h.source_addr()), IpAddr::V4(h.destination_addr()));
            (ips, v4.payload(), u32::from(h.total_len()))
        }
        LaxNetSlice::Ipv6(v6) => {
            let h = v6.header();
            let ips = (IpAddr::V6(h.source_addr()), IpAddr::V6(h.destination_addr()));
            (ips, v6.payload(), u32::from(h.payload_length()) + 40)
        }
        _ => return None,
    };
    if pl.fragmented {
        return None;
    }
    let tunnel = |kind, sport, dport, len: usize| Tunnel {
        kind,
        outer_src: SocketAddr::new(ips.0, sport),
        outer_dst: SocketAddr::new(ips.1, dport),
        outer_payload_len: u32::try_from(len).unwrap_or(u32::MAX),
        outer_ip_len: ip_len,
    };
    match pl.ip_number.0 {
        47 => return Some((gre(pl.payload), tunnel(TunnelKind::Gre, 0, 0, 0))),
        4 | 41 => {
            let inner = LaxSlicedPacket::from_ip(pl.payload).map_err(|_| Skip::Malformed);
            return Some((inner, tunnel(TunnelKind::Ip, 0, 0, 0)));
        }
        _ => {}
    }
    let Some(TransportSlice::Udp(u)) = &p.transport else { return None };
    let (sport, dport, d) = (u.source_port(), u.destination_port(), u.payload());
    let on = |port: u16| sport == port || dport == port;
    let (kind, inner) = if on(4789) && d.len() > 8 && d[0] & 0x08 != 0 {
        (TunnelKind::Vxlan, ethernet(&d[8..]))
    } else if on(6081) && d.len() > 8 && d[0] >> 6 == 0 {
        (TunnelKind::Geneve, geneve(d)?)
    } else if on(2152) {
        (TunnelKind::Gtpv1, gtp_u(d)?)
    } else if on(5072) {
        (TunnelKind::Ayiya, ayiya(d)?)
    } else if let Some(inner) = teredo(d, on(3544)) {
        (TunnelKind::Teredo, inner)
    } else {
        return None;
    };
    Some((inner, tunnel(kind, sport, dport, d.len())))
}

/// A Geneve packet (RFC 8926): version 0, options, then Ethernet or IP by protocol type.
fn geneve(d: &[u8]) -> Option<Result<LaxSlicedPacket<'_>, Skip>> {
    let start = 8 + usize::from(d[0] & 0x3f) * 4;
    let rest = d.get(start..)?;
    Some(match u16::from_be_bytes([d[2], d[3]]) {
        0x6558 => ethernet(rest),
        0x0800 | 0x86dd => LaxSlicedPacket::from_ip(rest).map_err(|_| Skip::Malformed),
        _ => Err(Skip::NotTcpUdp),
    })
}

/// A GTP-U G-PDU (GTP version 1, protocol type GTP, message 255) carrying IP, through
/// its optional fields and extension headers.
fn gtp_u(d: &[u8]) -> Option<Result<LaxSlicedPacket<'_>, Skip>> {
    let h = d.get(..8)?;
    if h[0] >> 5 != 1 || h[0] & 0x10 == 0 || h[1] != 0xff {
        return None;
    }
    let mut at = 8;
    if h[0] & 0x07 != 0 {
        // Sequence number, N-PDU number, next extension header type.
        let mut next = *d.get(11)?;
        at = 12;
        for _ in 0..16 {
            if next == 0 {
                break;
            }
            let units = usize::from(*d.get(at)?);
            if units == 0 {
                return Some(Err(Skip::Malformed));
            }
            at += units * 4;
            next = *d.get(at - 1)?;
        }
    }
    let rest = d.get(at..)?;
    match rest.first().map(|b| b >> 4) {
        Some(4 | 6) => Some(LaxSlicedPacket::from_ip(rest).map_err(|_| Skip::Malformed)),
        _ => None,
    }
}

/// A Teredo packet: IPv6, after an optional authentication header and origin indication,
/// whose length matches what is left. Off its server's port (a client talks to relays on
/// any port) one end must also be a Teredo address (2001:0::/32).
fn teredo(d: &[u8], on_port: bool) -> Option<Result<LaxSlicedPacket<'_>, Skip>> {
    let mut d = d;
    if d.starts_with(&[0, 1]) {
        // Authentication: client id and auth value lengths, nonce (8), confirmation (1).
        let (id, auth) = (usize::from(*d.get(2)?), usize::from(*d.get(3)?));
        d = d.get(4 + id + auth + 9..)?;
    }
    if d.starts_with(&[0, 0]) {
        d = d.get(8..)?; // origin indication
    }
    let v6 = d.get(..40)?;
    if v6[0] >> 4 != 6 || usize::from(u16::from_be_bytes([v6[4], v6[5]])) + 40 != d.len() {
        return None;
    }
    let teredo_address = |a: &[u8]| a.starts_with(&[0x20, 0x01, 0, 0]);
    if !on_port && !teredo_address(&v6[8..24]) && !teredo_address(&v6[24..40]) {
        return None;
    }
    Some(LaxSlicedPacket::from_ip(d).map_err(|_| Skip::Malformed))
}

/// An AYIYA packet (Anything In Anything) forwarding IPv4 or IPv6: its header holds an
/// identity and a signature of the lengths it gives.
fn ayiya(d: &[u8]) -> Option<Result<LaxSlicedPacket<'_>, Skip>> {
    let h = d.get(..8)?;
    let (opcode, next) = (h[2] & 0x0f, h[3]);
    if opcode != 1 || !(next == 4 || next == 41) {
        return None;
    }
    let len = 8 + (1usize << (h[0] >> 4)) + usize::from(h[1] >> 4) * 4;
    Some(LaxSlicedPacket::from_ip(d.get(len..)?).map_err(|_| Skip::Malformed))
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

/// Ethernet II or 802.3+SNAP, through any VLAN tags (802.1Q, QinQ), PBB (MAC in MAC),
/// PPPoE sessions and MPLS labels.
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
            0x8864 => {
                // PPPoE session: 6-byte header, then PPP's protocol.
                let h = rest.get(..8).ok_or(Skip::Malformed)?;
                return match [h[6], h[7]] {
                    [0x00, 0x21] | [0x00, 0x57] => LaxSlicedPacket::from_ip(&rest[8..]).map_err(|_| Skip::Malformed),
                    _ => Err(Skip::NotTcpUdp),
                };
            }
            0x88e7 => {
                // PBB (802.1ah): an I-TAG, then the customer's whole Ethernet header.
                let inner = rest.get(4 + 12..4 + 14).ok_or(Skip::Malformed)?;
                et = u16::from_be_bytes([inner[0], inner[1]]);
                rest = &rest[4 + 14..];
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

    /// An IPv4 packet carrying TCP "GET" (and an IPv6 one, for Teredo).
    fn inner_v4() -> Vec<u8> {
        let mut v = Vec::new();
        PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64).tcp(1234, 80, 7, 100).write(&mut v, b"GET").unwrap();
        v
    }

    fn inner_v6() -> Vec<u8> {
        let mut v = Vec::new();
        let (a, b) = (
            [0x20, 0x01, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
            [0x20, 0x01, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        );
        PacketBuilder::ipv6(a, b, 64).tcp(1234, 80, 7, 100).write(&mut v, b"GET").unwrap();
        v
    }

    /// An Ethernet frame carrying UDP from `sport` to `dport` with `payload`.
    fn udp_eth(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([192, 0, 2, 1], [198, 51, 100, 1], 64)
            .udp(sport, dport)
            .write(&mut v, payload)
            .unwrap();
        v
    }

    /// An Ethernet frame of `ethertype` with `payload`.
    fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
        [&[2u8; 6][..], &[1; 6], &ethertype.to_be_bytes(), payload].concat()
    }

    /// Every tunnel kind, handmade: the inner TCP segment comes out, with its tunnel named.
    #[test]
    fn every_tunnel_is_opened_and_named() {
        let v4 = inner_v4();
        let inner_eth = eth(0x0800, &v4);
        let ip_in = |proto: u8, payload: &[u8]| {
            let mut v = Vec::new();
            let h = etherparse::Ipv4Header::new(
                payload.len() as u16,
                64,
                etherparse::IpNumber(proto),
                [192, 0, 2, 1],
                [198, 51, 100, 1],
            )
            .unwrap();
            v.extend_from_slice(&eth(0x0800, &[]));
            h.write(&mut v).unwrap();
            v.extend_from_slice(payload);
            v
        };
        let gtp_ext = [&[0x34u8, 0xff, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0x85, 1, 0x10, 0, 0][..], &v4].concat();
        let cases: Vec<(&str, Vec<u8>, Option<TunnelKind>)> = vec![
            (
                "vxlan",
                udp_eth(50000, 4789, &[&[0x08, 0, 0, 0, 0, 0, 1, 0][..], &inner_eth].concat()),
                Some(TunnelKind::Vxlan),
            ),
            (
                "geneve",
                udp_eth(50000, 6081, &[&[0x01, 0, 0x65, 0x58, 0, 0, 1, 0, 1, 2, 3, 4][..], &inner_eth].concat()),
                Some(TunnelKind::Geneve),
            ),
            (
                "geneve ip",
                udp_eth(50000, 6081, &[&[0, 0, 0x08, 0, 0, 0, 1, 0][..], &v4].concat()),
                Some(TunnelKind::Geneve),
            ),
            (
                "gtp-u",
                udp_eth(2152, 2152, &[&[0x30u8, 0xff, 0, 0, 0, 0, 0, 1][..], &v4].concat()),
                Some(TunnelKind::Gtpv1),
            ),
            ("gtp-u extension", udp_eth(2152, 2152, &gtp_ext), Some(TunnelKind::Gtpv1)),
            ("teredo", udp_eth(3544, 40000, &inner_v6()), Some(TunnelKind::Teredo)),
            (
                "teredo relay",
                udp_eth(40000, 32900, &[&[0u8, 0, 1, 2, 3, 4, 5, 6][..], &inner_v6()].concat()),
                Some(TunnelKind::Teredo),
            ),
            (
                "ayiya",
                udp_eth(5072, 5072, &[&[0x11u8, 0x52, 0x11, 4, 0, 0, 0, 0, 1, 2][..], &[0; 20], &v4].concat()),
                Some(TunnelKind::Ayiya),
            ),
            ("gre", ip_in(47, &[&[0u8, 0, 0x08, 0][..], &v4].concat()), Some(TunnelKind::Gre)),
            ("ip in ip", ip_in(4, &v4), Some(TunnelKind::Ip)),
            ("pppoe", eth(0x8864, &[&[0x11u8, 0, 0, 1, 0, 0, 0x00, 0x21][..], &v4].concat()), None),
            ("pbb", eth(0x88e7, &[&[0u8, 0, 0, 1][..], &inner_eth].concat()), None),
        ];
        for (name, frame_bytes, kind) in cases {
            let mut d = Decoder::default();
            let p = d.decode(&frame(1, &frame_bytes)).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert_eq!(&p.payload[..], b"GET", "{name}");
            assert_eq!(p.dst.port(), 80, "{name}");
            assert_eq!(d.tunnel().map(|t| t.kind), kind, "{name}");
        }
        // Plain UDP on a tunnel's port, or that only looks like Teredo, stays plain UDP.
        let mut d = Decoder::default();
        for plain in [udp_eth(40000, 2152, b"not a GTP header at all, just bytes"), udp_eth(40000, 9999, &[0x60; 60])] {
            let p = d.decode(&frame(1, &plain)).unwrap();
            assert_eq!(p.transport, Transport::Udp);
            assert_eq!(d.tunnel(), None);
        }
    }

    /// Tunnels inside tunnels are opened to a bounded depth; deeper is not decoded.
    #[test]
    fn nesting_is_bounded() {
        let mut packet = inner_v4();
        for depth in 0..=MAX_TUNNEL_DEPTH + 1 {
            let h = etherparse::Ipv4Header::new(
                packet.len() as u16,
                64,
                etherparse::IpNumber(4),
                [192, 0, 2, 1],
                [198, 51, 100, 1],
            )
            .unwrap();
            let mut v = Vec::new();
            h.write(&mut v).unwrap();
            v.extend_from_slice(&packet);
            packet = v;
            let got = Decoder::default().decode(&frame(101, &packet));
            if depth < MAX_TUNNEL_DEPTH {
                assert_eq!(&got.unwrap().payload[..], b"GET", "depth {depth}");
            } else {
                assert!(got.is_err(), "depth {depth}");
            }
        }
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

//! Flows, named so that other tools can join them: the Community ID (v1, seed 0, base64:
//! what Zeek, Suricata, Arkime, Elastic and tshark's `communityid` compute), and the
//! records of a TCP connection ([`Connection`]) and of a UDP flow ([`UdpFlow`]), which
//! the dissect stage fills in (it comes after this one).

use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

pub const TCP: u8 = 6;
pub const UDP: u8 = 17;

/// The Community ID v1 (seed 0) of a TCP or UDP flow between `a` and `b`, either way round.
pub fn community_id(proto: u8, a: SocketAddr, b: SocketAddr) -> String {
    // Address bytes in place (no allocation: this runs once per flow).
    let key = |s: SocketAddr| -> ([u8; 16], usize, u16) {
        let mut ip = [0u8; 16];
        let len = match s.ip() {
            IpAddr::V4(v) => {
                ip[..4].copy_from_slice(&v.octets());
                4
            }
            IpAddr::V6(v) => {
                ip = v.octets();
                16
            }
        };
        (ip, len, s.port())
    };
    let (mut x, mut y) = (key(a), key(b));
    if (&x.0[..x.1], x.2) > (&y.0[..y.1], y.2) {
        std::mem::swap(&mut x, &mut y);
    }
    let mut h = Sha1::new();
    h.update(0u16.to_be_bytes());
    h.update(&x.0[..x.1]);
    h.update(&y.0[..y.1]);
    h.update([proto, 0]);
    h.update(x.2.to_be_bytes());
    h.update(y.2.to_be_bytes());
    let mut id = String::with_capacity(30);
    id.push_str("1:");
    base64::Engine::encode_string(&base64::engine::general_purpose::STANDARD, h.finalize(), &mut id);
    id
}

/// Serialises an address as `ip:port`, as `Display` does, without the formatting
/// machinery for IPv4 (a report writes several per event: a tenth of its time otherwise).
pub fn serialize_addr<S: serde::Serializer>(a: &SocketAddr, s: S) -> Result<S::Ok, S::Error> {
    match a {
        SocketAddr::V4(v) => s.serialize_str(v4_text(v, &mut [0; 21])),
        SocketAddr::V6(_) => s.collect_str(a),
    }
}

/// `ip:port` of an IPv4 socket address as `Display` writes it, built in `buf`.
pub fn v4_text<'b>(v: &std::net::SocketAddrV4, buf: &'b mut [u8; 21]) -> &'b str {
    let mut n = 0;
    let mut num = itoa::Buffer::new();
    for (i, o) in v.ip().octets().iter().enumerate() {
        if i > 0 {
            buf[n] = b'.';
            n += 1;
        }
        let d = num.format(*o).as_bytes();
        buf[n..n + d.len()].copy_from_slice(d);
        n += d.len();
    }
    buf[n] = b':';
    n += 1;
    let d = num.format(v.port()).as_bytes();
    buf[n..n + d.len()].copy_from_slice(d);
    n += d.len();
    std::str::from_utf8(&buf[..n]).expect("ASCII digits and dots")
}

/// What a flow was read as (Zeek's `service` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    Http,
    Ssl,
    Dns,
    Quic,
    Ftp,
    Pop3,
    Imap,
    Smtp,
    Snmp,
    Ldap,
    Telnet,
    Ntlm,
    /// Kerberos (Zeek's name).
    Krb,
    /// The outer UDP flow of a tunnel.
    Vxlan,
    Geneve,
    Gtpv1,
    Teredo,
    Ayiya,
    /// An FTP data connection: one a control session set up (`PASV`, `EPSV`, `PORT`,
    /// `EPRT`).
    #[serde(rename = "ftp-data")]
    FtpData,
}

impl Service {
    /// The service of a UDP tunnel's outer flow (IP and GRE tunnels have none).
    pub fn of_tunnel(kind: crate::analysis::decode::TunnelKind) -> Option<Service> {
        use crate::analysis::decode::TunnelKind as K;
        match kind {
            K::Vxlan => Some(Service::Vxlan),
            K::Geneve => Some(Service::Geneve),
            K::Gtpv1 => Some(Service::Gtpv1),
            K::Teredo => Some(Service::Teredo),
            K::Ayiya => Some(Service::Ayiya),
            K::Ip | K::Gre => None,
        }
    }
}

/// A tunnel, when its first packet is seen (the event's ends are the outer packet's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TunnelSeen {
    /// `ip`, `gre`, `vxlan`, `geneve`, `gtpv1`, `teredo` or `ayiya`.
    pub kind: String,
    /// Zeek's name for it (`Tunnel::VXLAN`, ...).
    pub zeek_type: String,
}

/// A TCP connection, when it ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    pub community_id: String,
    /// What the stream was read as: `http`, `ssl`, `dns`, or absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<Service>,
    /// Payload bytes each way, as reassembled.
    pub bytes_to_server: u64,
    pub bytes_to_client: u64,
    /// Payload bytes each way that were never seen (holes in the streams).
    pub missed_to_server: u64,
    pub missed_to_client: u64,
    /// Packets each way, and the IP bytes they made (headers included).
    pub packets_to_server: u64,
    pub packets_to_client: u64,
    pub ip_bytes_to_server: u64,
    pub ip_bytes_to_client: u64,
    /// From its first packet to its last one before both sides had closed, microseconds.
    pub duration_us: i64,
    /// How it ended: `closed`, `reset`, `idle`, `evicted` or `open` (at the capture's end).
    pub end: crate::analysis::reassembly::End,
    /// Zeek's `conn_state` (`S0`, `S1`, `SF`, `REJ`, `S2`, `S3`, `RSTO`, `RSTR`,
    /// `RSTOS0`, `RSTRH`, `SH`, `SHR`, `OTH`), from the endpoints' states.
    pub state: std::borrow::Cow<'static, str>,
    /// Zeek's `history`: a letter per kind of packet, the client's upper case.
    pub history: String,
    /// The outer ends of the tunnel it came through, if it did (Zeek's `tunnel_parents`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel_parent: Option<[SocketAddr; 2]>,
}

/// A UDP flow (both directions of one address pair), at the capture's end. Its client is
/// the sender of its first datagram, unless that came from a well-known port to another
/// port (a reply whose question was missed), as Zeek decides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UdpFlow {
    pub community_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<Service>,
    pub packets_to_server: u64,
    pub bytes_to_server: u64,
    pub packets_to_client: u64,
    pub bytes_to_client: u64,
    /// IP bytes each way (headers included).
    pub ip_bytes_to_server: u64,
    pub ip_bytes_to_client: u64,
    pub duration_us: i64,
    /// Zeek's `history` for UDP: `D` once the client sent, `d` once the server did; `^`
    /// first when the first datagram came from the server's side (a well-known port).
    pub history: String,
    /// The outer ends of the tunnel it came through, if it did (Zeek's `tunnel_parents`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel_parent: Option<[SocketAddr; 2]>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Community ID specification's own examples (its baseline outputs, seed 0).
    #[test]
    fn addresses_serialise_as_display_does() {
        for a in ["0.0.0.0:0", "255.255.255.255:65535", "192.0.2.10:8080", "[2001:db8::1]:443"] {
            let a: SocketAddr = a.parse().unwrap();
            let mut out = Vec::new();
            serialize_addr(&a, &mut serde_json::Serializer::new(&mut out)).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), format!("\"{a}\""));
        }
    }

    #[test]
    fn community_ids_match_the_specification() {
        let a: SocketAddr = "128.232.110.120:34855".parse().unwrap();
        let b: SocketAddr = "66.35.250.204:80".parse().unwrap();
        assert_eq!(community_id(TCP, a, b), "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
        assert_eq!(community_id(TCP, b, a), "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
        let a: SocketAddr = "192.168.1.52:54585".parse().unwrap();
        let b: SocketAddr = "8.8.8.8:53".parse().unwrap();
        assert_eq!(community_id(UDP, a, b), "1:d/FP5EW3wiY1vCndhwleRRKHowQ=");
    }
}

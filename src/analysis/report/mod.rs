//! Reports: how findings reach the user. `text` (a readable summary per host, most
//! sensitive first), `jsonl` (one event per line, streamed; schema in `docs/events.md`) and
//! `json` (one summary document), `fields` (like `tshark -T fields`) and `zeek` (Zeek-style
//! logs in a directory).
//!
//! Text and JSON aggregate through [`Digest`], which keeps memory bounded however large
//! the capture: identical findings are counted once, and each host keeps at most
//! [`PER_CLASS`] distinct findings per class (the rest are counted).

#[cfg_attr(any(feature = "json-serde", feature = "json-sonic"), allow(dead_code))]
mod json;
mod jsonl;
pub mod read;
mod text;
mod zeek;

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};

use serde::Serialize;

use crate::analysis::capture::file::Fault;
use crate::analysis::dissect::{Event, Record};
use crate::analysis::findings::{Class, Finding};
use crate::analysis::pipeline::Counters;

pub use jsonl::JsonlReport;
pub use text::TextReport;
pub use zeek::{SCHEMA as ZEEK_SCHEMA, ZeekReport};

/// Distinct findings kept per host and class.
pub const PER_CLASS: usize = 20;
/// Hosts kept; further hosts are counted only.
pub const MAX_HOSTS: usize = 256;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Jsonl,
    Json,
    /// Tab-separated fields, one line per HTTP request (`http host method uri cookie
    /// authorization`) and per ClientHello (`tls sni alpn`): like `tshark -T fields`.
    Fields,
    /// Zeek-style JSON logs (conn, http, ssl, dns, quic) written into `--out DIR`.
    Zeek,
}

/// What the whole run saw, for the end of every report.
#[derive(Debug, Clone, Serialize)]
pub struct CaptureSummary {
    pub source: String,
    pub counters: Counters,
    /// Where reading stopped early, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<Fault>,
    pub findings_by_class: BTreeMap<Class, u64>,
    /// The first dissector notices (unfollowable streams and the like).
    pub notices: Vec<String>,
}

/// A destination for events and findings.
pub trait Report {
    fn event(&mut self, e: &Event, findings: &[Finding]) -> io::Result<()>;
    fn finish(&mut self, summary: &CaptureSummary) -> io::Result<()>;
}

/// One kept finding and how often it recurred.
#[derive(Debug, Clone, Serialize)]
pub struct Seen {
    #[serde(flatten)]
    pub finding: Finding,
    pub count: u64,
}

/// Findings of one host.
#[derive(Debug, Default, Serialize)]
pub struct Host {
    pub addresses: Vec<String>,
    pub connections: u64,
    pub findings: BTreeMap<Class, Vec<Seen>>,
    /// Distinct findings beyond [`PER_CLASS`], per class.
    pub more: BTreeMap<Class, u64>,
    /// Hash of (class, summary, secret) to the position in its class list.
    #[serde(skip)]
    index: HashMap<u64, usize>,
    #[serde(skip)]
    conns: Vec<u64>,
    /// `addresses`, unformatted (compared without making a string for every finding).
    #[serde(skip)]
    ips: Vec<std::net::IpAddr>,
}

/// Bounded aggregation of findings per host.
#[derive(Debug, Default)]
pub struct Digest {
    pub hosts: BTreeMap<String, Host>,
    pub other_hosts: u64,
}

impl Digest {
    pub fn add(&mut self, findings: &[Finding]) {
        for f in findings {
            // Looked up by `&str`: a new `String` only for a new host.
            let known = self.hosts.contains_key(&*f.host);
            if !known && self.hosts.len() >= MAX_HOSTS {
                self.other_hosts += 1;
                continue;
            }
            let host = match self.hosts.get_mut(&*f.host) {
                Some(h) => h,
                None => self.hosts.entry(f.host.to_string()).or_default(),
            };
            let ip = f.server.ip();
            if f.class != Class::DnsName && !host.ips.contains(&ip) && host.ips.len() < 8 {
                host.ips.push(ip);
                host.addresses.push(ip.to_string());
            }
            if let Some(c) = f.conn
                && !host.conns.contains(&c)
                && host.conns.len() < 1024
            {
                host.conns.push(c);
                host.connections += 1;
            }
            let key = {
                use std::hash::BuildHasher;
                foldhash::fast::FixedState::default().hash_one((f.class, &f.summary, &f.secret))
            };
            let list = host.findings.entry(f.class).or_default();
            if let Some(&i) = host.index.get(&key) {
                let seen = &mut list[i];
                if seen.finding.summary == f.summary && seen.finding.secret == f.secret {
                    seen.count += 1;
                    continue;
                }
            }
            if list.len() >= PER_CLASS {
                *host.more.entry(f.class).or_default() += 1;
                continue;
            }
            host.index.insert(key, list.len());
            list.push(Seen { finding: f.clone(), count: 1 });
        }
    }

    /// Hosts, most sensitive first (by the best class they hold, then by name).
    pub fn ranked(&self) -> Vec<(&String, &Host)> {
        let mut v: Vec<_> = self.hosts.iter().collect();
        v.sort_by_key(|(name, h)| (h.findings.keys().next().copied().unwrap_or(Class::Metadata), (*name).clone()));
        v
    }
}

/// Masks secrets inside a dissected record (cookies, authorization, credential fields).
/// The record as a report shows it: itself with `--reveal`, otherwise [`masked_record`].
pub fn shown_record(r: &Record, reveal: bool) -> std::borrow::Cow<'_, Record> {
    if reveal { std::borrow::Cow::Borrowed(r) } else { std::borrow::Cow::Owned(masked_record(r)) }
}

pub fn masked_record(r: &Record) -> Record {
    use crate::analysis::findings::{mask, mask_cookie_header, mask_set_cookie, mask_url, secret_param};
    let mut r = r.clone();
    match &mut r {
        Record::HttpRequest(q) => {
            q.uri = mask_url(&q.uri);
            q.referer = q.referer.as_deref().map(mask_url);
            for c in &mut q.cookies {
                *c = mask_cookie_header(c);
            }
            if let Some(a) = q.authorization.as_mut() {
                a.raw = format!("{} {}", a.scheme, mask(a.raw.split_once(' ').map_or("", |x| x.1)));
                a.password = a.password.as_deref().map(mask);
            }
            for f in &mut q.fields {
                if secret_param(&f.name) {
                    f.value = mask(&f.value);
                }
            }
        }
        Record::HttpResponse(p) => {
            p.for_uri = p.for_uri.as_deref().map(mask_url);
            p.location = p.location.as_deref().map(mask_url);
            for c in &mut p.set_cookies {
                *c = mask_set_cookie(c);
            }
        }
        // A password, a community, a hashcat line: the record as the findings show it.
        Record::Login(l) => l.secret = l.secret.as_deref().map(mask),
        Record::Ftp(c) => c.password = c.password.as_deref().map(mask),
        _ => {}
    }
    r
}

/// `--format json`: one document with the summary and the per-host digest.
pub struct JsonReport<W: Write> {
    out: W,
    reveal: bool,
    digest: Digest,
}

impl<W: Write> JsonReport<W> {
    pub fn new(out: W, reveal: bool) -> Self {
        JsonReport { out, reveal, digest: Digest::default() }
    }
}

impl<W: Write> Report for JsonReport<W> {
    fn event(&mut self, e: &Event, findings: &[Finding]) -> io::Result<()> {
        let _ = e;
        self.digest.add(findings);
        Ok(())
    }

    fn finish(&mut self, summary: &CaptureSummary) -> io::Result<()> {
        for h in self.digest.hosts.values_mut() {
            for list in h.findings.values_mut() {
                for s in list {
                    s.finding = s.finding.shown(self.reveal);
                }
            }
        }
        let doc = serde_json::json!({
            "summary": summary,
            "hosts": self.digest.hosts,
            "other_hosts": self.digest.other_hosts,
        });
        serde_json::to_writer_pretty(&mut self.out, &doc)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}

/// `--format fields`: the fields an eavesdropper extracts, one line per request or
/// ClientHello, tab-separated (secrets masked unless `--reveal`).
pub struct FieldsReport<W: Write> {
    out: W,
    reveal: bool,
    /// The line being written, reused.
    line: Vec<u8>,
}

impl<W: Write> FieldsReport<W> {
    pub fn new(out: W, reveal: bool) -> Self {
        FieldsReport { out, reveal, line: Vec::new() }
    }
}

/// Appends a tab, then `parts` joined by `sep`, with tabs and line ends turned into spaces
/// (they would break the line).
fn field<'a>(line: &mut Vec<u8>, parts: impl IntoIterator<Item = &'a str>, sep: &str) {
    line.push(b'\t');
    let start = line.len();
    for (i, p) in parts.into_iter().enumerate() {
        if i > 0 {
            line.extend_from_slice(sep.as_bytes());
        }
        line.extend_from_slice(p.as_bytes());
    }
    for b in &mut line[start..] {
        if matches!(*b, b'\t' | b'\n' | b'\r') {
            *b = b' ';
        }
    }
}

impl<W: Write> Report for FieldsReport<W> {
    fn event(&mut self, e: &Event, _: &[Finding]) -> io::Result<()> {
        if !matches!(e.record, Record::HttpRequest(_) | Record::TlsClientHello(_)) {
            return Ok(());
        }
        let r = &*shown_record(&e.record, self.reveal);
        let line = &mut self.line;
        line.clear();
        match r {
            Record::HttpRequest(q) => {
                line.extend_from_slice(b"http");
                field(line, [q.host.as_deref().unwrap_or("")], "");
                field(line, [q.method.as_str()], "");
                field(line, [q.uri.as_str()], "");
                field(line, q.cookies.iter().map(String::as_str), "|");
                field(line, [q.authorization.as_ref().map_or("", |a| a.raw.as_str())], "");
            }
            Record::TlsClientHello(c) => {
                line.extend_from_slice(b"tls");
                field(line, [c.sni.as_deref().unwrap_or("")], "");
                field(line, c.alpn.iter().map(String::as_str), ",");
            }
            _ => return Ok(()),
        }
        line.push(b'\n');
        self.out.write_all(line)
    }

    fn finish(&mut self, _: &CaptureSummary) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::dissect::{http, tls};

    fn event(record: Record) -> Event {
        let a = "192.0.2.10:49152".parse().unwrap();
        let b = "198.51.100.80:80".parse().unwrap();
        Event { frame: 1, ts: 0, conn: Some(0), src: a, dst: b, record }
    }

    fn fields(reveal: bool, records: Vec<Record>) -> String {
        let mut r = FieldsReport::new(Vec::new(), reveal);
        for rec in records {
            r.event(&event(rec), &[]).unwrap();
        }
        String::from_utf8(r.out).unwrap()
    }

    #[test]
    fn fields_are_one_line_per_request_and_client_hello_as_tshark_writes_them() {
        let request = http::Request {
            method: "GET".into(),
            uri: "/a\tb?password=hunter22".into(),
            host: Some("site.test".into()),
            cookies: vec!["sid=abcdefgh".into(), "theme=dark\r\n".into()],
            authorization: Some(http::Authorization {
                scheme: "Basic".into(),
                raw: "Basic dXNlcjpwYXNz".into(),
                user: Some("user".into()),
                password: Some("pass".into()),
            }),
            ..Default::default()
        };
        let hello = tls::ClientHello {
            sni: Some("tls.site.test".into()),
            alpn: vec!["h2".into(), "http/1.1".into()],
            ..Default::default()
        };
        let records = || {
            vec![
                Record::HttpRequest(request.clone()),
                Record::HttpResponse(http::Response::default()),
                Record::TlsClientHello(hello.clone()),
                Record::TlsClientHello(Default::default()),
            ]
        };
        assert_eq!(
            fields(true, records()),
            "http\tsite.test\tGET\t/a b?password=hunter22\tsid=abcdefgh|theme=dark  \tBasic dXNlcjpwYXNz\ntls\ttls.site.test\th2,http/1.1\ntls\t\t\n"
        );
        let masked = fields(false, records());
        let line = masked.lines().next().unwrap();
        assert_eq!(line.split('\t').count(), 6, "{line:?}");
        assert!(
            !masked.contains("hunter22") && !masked.contains("abcdefgh") && !masked.contains("dXNlcjpwYXNz"),
            "{masked}"
        );
        assert!(masked.ends_with("tls\ttls.site.test\th2,http/1.1\ntls\t\t\n"), "{masked}");
    }

    #[test]
    fn the_digest_keeps_hosts_addresses_and_repeats_bounded() {
        let f = |host: &str, class, server: &str, summary: &str| {
            let a: std::net::SocketAddr = "192.0.2.10:49152".parse().unwrap();
            Finding {
                class,
                about: Default::default(),
                summary: summary.into(),
                secret: None,
                host: host.into(),
                frame: 1,
                conn: Some(1),
                src: a,
                dst: server.parse().unwrap(),
                server: server.parse().unwrap(),
                clear_summary: None,
            }
        };
        let mut d = Digest::default();
        for i in 0..MAX_HOSTS + 10 {
            d.add(&[f(&format!("h{i}.test"), Class::Url, "198.51.100.1:80", "GET /")]);
        }
        assert_eq!((d.hosts.len(), d.other_hosts), (MAX_HOSTS, 10));
        // A known host still gathers findings when the table is full.
        for i in 0..10 {
            d.add(&[f("h0.test", Class::Url, &format!("198.51.100.{i}:80"), "GET /")]);
        }
        d.add(&[f("h0.test", Class::DnsName, "192.0.2.53:53", "DNS answer h0.test")]);
        let h = &d.hosts["h0.test"];
        // In the order first seen (.1 came with the first finding), eight at most.
        let expected: Vec<String> = [1, 0, 2, 3, 4, 5, 6, 7].iter().map(|i| format!("198.51.100.{i}")).collect();
        assert_eq!(h.addresses, expected, "eight addresses at most, never the resolver's");
        assert_eq!(h.findings[&Class::Url].len(), 1);
        assert_eq!(h.findings[&Class::Url][0].count, 11, "the same finding is counted, not repeated");
        assert_eq!(h.findings[&Class::DnsName].len(), 1);
        assert_eq!(d.other_hosts, 10);
    }
}

//! `--format jsonl`: one JSON object per line, streamed (schema in `docs/events.md`).
//!
//! Events go through serde, with [`json::write`] (serde_json's output, faster). Findings,
//! which are most of the lines (seven or eight for every HTTP exchange on a busy capture),
//! are written by hand, with each event's addresses formatted once for all its findings:
//! the hand-written line is byte for byte what serde writes for [`View`], and the tests
//! below hold it to that.

use std::io::{self, Write};
use std::net::SocketAddr;

use serde::Serialize;

#[cfg_attr(any(feature = "json-serde", feature = "json-sonic"), allow(unused_imports))]
use super::json::{self, string};
use super::{CaptureSummary, Report, masked_record};
use crate::analysis::dissect::Event;
use crate::analysis::findings::{Finding, View};

/// `--format jsonl`: one JSON object per line.
pub struct JsonlReport<W: Write> {
    out: W,
    reveal: bool,
    /// One event's lines, handed to `out` in one write (a live sniff's line-buffered
    /// output still shows each event as it comes).
    lines: Vec<u8>,
    /// The event's addresses as JSON strings, kept while the next event has the same
    /// (every finding repeats them).
    addrs: [Quoted; 3],
}

impl<W: Write> JsonlReport<W> {
    pub fn new(out: W, reveal: bool) -> Self {
        JsonlReport { out, reveal, lines: Vec::with_capacity(4096), addrs: Default::default() }
    }
}

impl<W: Write> Report for JsonlReport<W> {
    fn event(&mut self, e: &Event, findings: &[Finding]) -> io::Result<()> {
        self.lines.clear();
        if self.reveal {
            write_json(&mut self.lines, e)?;
        } else {
            // Field by field: `..e.clone()` would copy the record only to drop it.
            let masked = Event {
                frame: e.frame,
                ts: e.ts,
                conn: e.conn,
                src: e.src,
                dst: e.dst,
                record: masked_record(&e.record),
            };
            write_json(&mut self.lines, &masked)?;
        }
        self.lines.push(b'\n');
        for f in findings {
            let [src, dst, server] = &mut self.addrs;
            let addrs = [src.of(f.src), dst.of(f.dst), server.of(f.server)];
            if cfg!(any(feature = "json-serde", feature = "json-sonic")) {
                write_json(&mut self.lines, &f.view(self.reveal))?;
            } else {
                write_view(&mut self.lines, &f.view(self.reveal), addrs);
            }
            self.lines.push(b'\n');
        }
        self.out.write_all(&self.lines)
    }

    fn finish(&mut self, summary: &CaptureSummary) -> io::Result<()> {
        #[derive(Serialize)]
        struct Line<'a> {
            #[serde(rename = "type")]
            kind: &'static str,
            #[serde(flatten)]
            summary: &'a CaptureSummary,
        }
        serde_json::to_writer(&mut self.out, &Line { kind: "summary", summary })?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}

/// Appends `v` as JSON: by [`json::write`], or (for the benchmark's comparison,
/// `scripts/bench-json.sh`) by serde_json's or sonic-rs's own writer.
fn write_json<T: Serialize>(out: &mut Vec<u8>, v: &T) -> io::Result<()> {
    #[cfg(feature = "json-sonic")]
    return sonic_rs::to_writer(&mut *out, v).map_err(io::Error::other);
    #[cfg(all(feature = "json-serde", not(feature = "json-sonic")))]
    return serde_json::to_writer(&mut *out, v).map_err(io::Error::other);
    #[cfg(not(any(feature = "json-serde", feature = "json-sonic")))]
    return json::write(out, v).map_err(io::Error::other);
}

/// Appends `v` as serde_json writes it (`serde_json::to_vec(v)`), without the newline;
/// `addrs` are its `src`, `dst` and `server` already quoted.
fn write_view(out: &mut Vec<u8>, v: &View, addrs: [&[u8]; 3]) {
    // The type and class need no escaping (the tests check every class).
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(v.kind.as_bytes());
    out.extend_from_slice(b"\",\"class\":\"");
    out.extend_from_slice(v.class.as_str().as_bytes());
    out.extend_from_slice(b"\",\"summary\":");
    string(out, v.summary);
    if let Some(s) = &v.secret {
        out.extend_from_slice(b",\"secret\":");
        string(out, s);
    }
    out.extend_from_slice(b",\"host\":");
    string(out, v.host);
    out.extend_from_slice(b",\"frame\":");
    out.extend_from_slice(itoa::Buffer::new().format(v.frame).as_bytes());
    if let Some(c) = v.conn {
        out.extend_from_slice(b",\"conn\":");
        out.extend_from_slice(itoa::Buffer::new().format(c).as_bytes());
    }
    for (key, a) in [&b",\"src\":"[..], b",\"dst\":", b",\"server\":"].into_iter().zip(addrs) {
        out.extend_from_slice(key);
        out.extend_from_slice(a);
    }
    out.push(b'}');
}

/// An address as a JSON string (as `flow::serialize_addr` writes it), remembered for the
/// next call with the same address.
#[derive(Default)]
struct Quoted {
    addr: Option<SocketAddr>,
    text: Vec<u8>,
}

impl Quoted {
    fn of(&mut self, a: SocketAddr) -> &[u8] {
        if self.addr != Some(a) {
            self.addr = Some(a);
            self.text.clear();
            match a {
                SocketAddr::V4(v) => string(&mut self.text, crate::analysis::flow::v4_text(&v, &mut [0; 21])),
                // Display never writes a character that JSON escapes.
                SocketAddr::V6(_) => {
                    let _ = write!(self.text, "\"{a}\"");
                }
            }
        }
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::findings::Class;

    /// The finding's addresses through [`Quoted`], which is handed the same one twice.
    fn quoted(f: &Finding) -> [Vec<u8>; 3] {
        let mut q = Quoted::default();
        [f.src, f.dst, f.server].map(|a| {
            let first = q.of(a).to_vec();
            assert_eq!(q.of(a), first);
            first
        })
    }

    #[test]
    fn a_finding_line_is_what_serde_writes() {
        let v4: SocketAddr = "192.0.2.10:49152".parse().unwrap();
        let v6: SocketAddr = "[2001:db8::1]:443".parse().unwrap();
        let f = |secret: Option<&str>, conn, src, dst| Finding {
            class: Class::Credential,
            about: Default::default(),
            summary: "HTTP Basic password of user \"al\\ice\"\tin caf\u{e9}".into(),
            secret: secret.map(String::from),
            host: "site.test".into(),
            frame: u64::MAX,
            conn,
            src,
            dst,
            server: dst,
            clear_summary: Some("GET http://site.test/?token=clear".into()),
        };
        for finding in [f(Some("p\"ss\nw0rd"), Some(7), v4, v4), f(None, None, v6, v4), f(Some(""), Some(0), v4, v6)] {
            for reveal in [false, true] {
                let view = finding.view(reveal);
                let mut ours = Vec::new();
                write_view(&mut ours, &view, quoted(&finding).each_ref().map(Vec::as_slice));
                assert_eq!(String::from_utf8(ours).unwrap(), serde_json::to_string(&view).unwrap());
            }
        }
    }

    #[test]
    fn every_class_is_written_as_serde_names_it() {
        let a: SocketAddr = "198.51.100.1:80".parse().unwrap();
        for class in Class::ALL {
            let f = Finding {
                class,
                about: Default::default(),
                summary: "s".into(),
                secret: None,
                host: "h".into(),
                frame: 1,
                conn: Some(2),
                src: a,
                dst: a,
                server: a,
                clear_summary: None,
            };
            let mut ours = Vec::new();
            write_view(&mut ours, &f.view(false), quoted(&f).each_ref().map(Vec::as_slice));
            assert_eq!(String::from_utf8(ours).unwrap(), serde_json::to_string(&f.view(false)).unwrap());
        }
    }
}

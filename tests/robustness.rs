//! Captures generated here with known content: exact findings; the same findings when
//! every segment is re-split into overlapping, reordered, retransmitted 1-byte pieces;
//! gaps from lost segments reported and survived; a half-open connection flood analysed
//! in bounded memory.

mod common;
use common::tmp;

use std::net::SocketAddrV4;
use std::path::PathBuf;

use plainsight::analysis::findings::Class;
use plainsight::analysis::synth::{self, Conversation, PcapWriter, Segment};

fn addr(s: &str) -> SocketAddrV4 {
    s.parse().unwrap()
}

fn session() -> (Vec<Conversation>, Vec<Vec<u8>>) {
    synth::sample_session()
}

/// Splits every data segment into 1-byte segments, some overlapping the next byte, with
/// neighbours swapped and every fifth piece sent twice.
fn resplit(c: &Conversation) -> Vec<Segment> {
    let mut out = Vec::new();
    for s in &c.segments {
        if s.payload.len() <= 1 {
            out.push(s.clone());
            continue;
        }
        let mut pieces: Vec<Segment> = (0..s.payload.len())
            .map(|i| {
                let end = if i % 3 == 0 { (i + 2).min(s.payload.len()) } else { i + 1 };
                Segment { seq: s.seq.wrapping_add(i as u32), payload: s.payload[i..end].to_vec(), ..s.clone() }
            })
            .collect();
        for pair in pieces.chunks_mut(2) {
            pair.reverse();
        }
        let mut dup = Vec::new();
        for (i, p) in pieces.into_iter().enumerate() {
            if i % 5 == 0 {
                dup.push(p.clone());
            }
            dup.push(p);
        }
        out.extend(dup);
    }
    out
}

fn write(path: &PathBuf, convs: &[Conversation], dns: &[Vec<u8>], transform: &dyn Fn(&Conversation) -> Vec<Segment>) {
    let mut w = PcapWriter::new(std::io::BufWriter::new(std::fs::File::create(path).unwrap())).unwrap();
    let mut ts = 1_700_000_000_000_000i64;
    for d in dns {
        w.packet(ts, d).unwrap();
    }
    for c in convs {
        for s in transform(c) {
            ts += 10;
            w.packet(ts, &c.frame(&s)).unwrap();
        }
    }
    w.into_inner().into_inner().unwrap();
}

/// (class, summary, secret) of every finding, sorted.
fn findings(path: &std::path::Path) -> Vec<(Class, String, Option<String>)> {
    let run = common::run(path).unwrap();
    let mut v: Vec<_> = run.findings.into_iter().map(|f| (f.class, f.summary, f.secret)).collect();
    v.sort();
    v
}

#[test]
fn generated_session_gives_exact_findings() {
    let (convs, dns) = session();
    let path = tmp("session.pcap");
    write(&path, &convs, &dns, &|c| c.segments.clone());
    let f = findings(&path);
    let has = |class: Class, summary: &str, secret: Option<&str>| {
        assert!(
            f.iter().any(|(c, s, x)| *c == class && s == summary && x.as_deref() == secret),
            "missing {class} {summary:?} {secret:?}"
        );
    };
    has(Class::Credential, "form field \"password\" in POST /login", Some("pw7secret"));
    has(Class::Credential, "form field \"username\" in POST /login", Some("alice7"));
    has(Class::Credential, "HTTP Basic password of user \"alice\"", Some("s3cret"));
    has(Class::SessionCookie, "cookie sid sent to clinic.test", Some("s3"));
    has(Class::SessionCookie, "Set-Cookie session (HttpOnly) from clinic.test", Some("tok19"));
    has(Class::Url, "GET http://clinic.test/articles/condition-12", None);
    has(Class::ServerName, "TLS server name clinic.test", None);
    has(Class::DnsName, "DNS lookup clinic.test A", None);
    assert!(f.iter().any(|(c, s, _)| *c == Class::PageContent && s.contains("title \"Living with condition 4\"")));
    assert_eq!(f.iter().filter(|(c, s, _)| *c == Class::Url && s.starts_with("GET ")).count(), 20);
    assert!(
        f.iter().any(|(c, s, _)| *c == Class::Metadata
            && s.starts_with("encrypted: 2 records / 340 bytes to server, 2 records / 5040 bytes to client")),
        "{f:#?}"
    );
}

#[test]
fn one_byte_overlapping_reordered_segments_give_the_same_findings() {
    let (convs, dns) = session();
    let plain = tmp("plain.pcap");
    let split = tmp("split.pcap");
    write(&plain, &convs, &dns, &|c| c.segments.clone());
    write(&split, &convs, &dns, &resplit);
    let a = findings(&plain);
    let b = findings(&split);
    assert!(a.len() > 100);
    assert_eq!(a, b);
}

#[test]
fn lost_segment_is_reported_and_the_stream_continues() {
    let (convs, dns) = session();
    let path = tmp("lossy.pcap");
    // Drop the second data segment of every page (inside the 200 response body).
    write(&path, &convs[..1], &dns, &|c| {
        let mut segs = c.segments.clone();
        let big = segs.iter().position(|s| !s.from_client && s.payload.len() == 1400).unwrap();
        segs.remove(big + 1);
        segs
    });
    let run = common::run(&path).unwrap();
    assert_eq!(run.scan.counters.tcp.gaps, 1, "{:?}", run.scan.counters.tcp);
    assert!(run.scan.counters.tcp.gap_bytes > 0);
    // The page after the gap is still found (its head came before the loss).
    assert!(run.findings.iter().any(|f| f.summary.contains("title \"Living with condition 0\"")));
    let incomplete = run
        .events
        .iter()
        .any(|e| matches!(&e.record, plainsight::analysis::dissect::Record::HttpResponse(r) if r.incomplete));
    assert!(incomplete, "the response that lost bytes is marked incomplete");
}

#[test]
fn half_open_flood_stays_in_bounded_memory() {
    let path = tmp("flood.pcap");
    {
        let mut w = PcapWriter::new(std::io::BufWriter::new(std::fs::File::create(&path).unwrap())).unwrap();
        let server = addr("198.51.100.10:80");
        for i in 0..300_000u32 {
            let client =
                SocketAddrV4::new(std::net::Ipv4Addr::from(0xc000_0200 + i / 60_000), 1024 + (i % 60_000) as u16);
            let syn = Segment { from_client: true, seq: i, ack: 0, syn: true, fin: false, rst: false, payload: vec![] };
            let req = Segment {
                seq: i + 1,
                syn: false,
                payload: format!("GET /{i} HTTP/1.1\r\nHost: clinic.test\r\nX-Pad: ").into_bytes(),
                ..syn.clone()
            };
            w.packet(i as i64, &synth::tcp_frame(client, server, &syn)).unwrap();
            w.packet(i as i64, &synth::tcp_frame(client, server, &req)).unwrap();
        }
        w.into_inner().into_inner().unwrap();
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_plainsight"))
        .args(["analyze", "--format", "json", "--no-progress"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let tcp = &doc["summary"]["counters"]["tcp"];
    assert_eq!(tcp["connections"], 300_000);
    assert!(tcp["evicted_connections"].as_u64().unwrap() > 200_000, "{tcp}");
    // SAFETY: rusage is plain integers, for which all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own, of the type it expects.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    let peak_mb = usage.ru_maxrss / 1024;
    assert!(peak_mb < 64, "peak RSS {peak_mb} MB");
}

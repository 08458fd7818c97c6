//! The shared corpus of real captures, checked against tshark's ground truth beside each
//! file: every HTTP request line, Host, Cookie and Authorization that tshark finds must be
//! found, and every TLS server name (over TCP, and in QUIC Initials with their ALPN). `malformed/` must be read without a panic or a hang.
//!
//! Where plainsight is right and tshark is not (or the two read a capture differently for
//! a stated reason), the file is listed in `KNOWN` with that reason.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use plainsight::analysis::dissect::Record;

/// Files whose ground truth plainsight does not (and should not) match, with why.
const KNOWN: &[(&str, &str)] =
    &[("arkime__sctp-www.pcap", "HTTP over SCTP, not TCP: out of scope for an on-path web demo")];

fn rows(path: &Path) -> Vec<Vec<String>> {
    let Ok(text) = std::fs::read_to_string(path) else { return Vec::new() };
    text.lines().skip(1).filter(|l| !l.is_empty()).map(|l| l.split('\t').map(str::to_string).collect()).collect()
}

/// Splits tshark's `|`-aggregated fields of one frame into one row per request.
fn per_request(row: &[String]) -> Vec<Vec<String>> {
    let n = row[9].split('|').count();
    if n <= 1 {
        return vec![row.to_vec()];
    }
    (0..n)
        .map(|i| {
            row.iter()
                .map(|f| {
                    let parts: Vec<&str> = f.split('|').collect();
                    if parts.len() == n { parts[i].to_string() } else { f.clone() }
                })
                .collect()
        })
        .collect()
}

fn check_file(capture: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let name = capture.file_name().unwrap().to_string_lossy().to_string();
    let run = match common::run(capture) {
        Ok(r) => r,
        Err(e) => return vec![format!("{name}: {e}")],
    };
    let mut reqs: HashMap<(String, String), Vec<&plainsight::analysis::dissect::http::Request>> = HashMap::new();
    let mut snis: Vec<String> = Vec::new();
    let mut quic: Vec<(String, String)> = Vec::new();
    for e in &run.events {
        match &e.record {
            Record::HttpRequest(r) => reqs.entry((r.method.clone(), r.uri.clone())).or_default().push(r),
            Record::TlsClientHello(c) => {
                snis.extend(c.sni.clone());
                if c.quic.is_some() {
                    quic.push((c.sni.clone().unwrap_or_default(), c.alpn.join("|")));
                }
            }
            _ => {}
        }
    }
    let gt_http = capture.with_file_name(format!("{name}.http.tsv"));
    let mut wanted: HashMap<(String, String), usize> = HashMap::new();
    for row in rows(&gt_http) {
        if row.len() < 16 {
            continue;
        }
        for r in per_request(&row) {
            let (host, method, uri, cookie, auth) = (&r[8], &r[9], &r[10], &r[13], &r[14]);
            if method.is_empty() {
                continue;
            }
            let key = (method.clone(), uri.clone());
            *wanted.entry(key.clone()).or_default() += 1;
            let Some(ours) = reqs.get(&key) else {
                problems.push(format!("{name}: frame {}: request {method} {uri} not found", r[0]));
                continue;
            };
            if !host.is_empty() && !ours.iter().any(|q| q.host.as_deref() == Some(host.as_str())) {
                problems.push(format!("{name}: frame {}: Host {host:?} not found for {method} {uri}", r[0]));
            }
            if !cookie.is_empty() && !ours.iter().any(|q| q.cookies.join("|") == *cookie || q.cookies.contains(cookie))
            {
                problems.push(format!("{name}: frame {}: Cookie {cookie:?} not found", r[0]));
            }
            if !auth.is_empty() && !ours.iter().any(|q| q.authorization.as_ref().is_some_and(|a| a.raw == *auth)) {
                problems.push(format!("{name}: frame {}: Authorization {auth:?} not found", r[0]));
            }
        }
    }
    for ((m, u), n) in wanted {
        let have = reqs.get(&(m.clone(), u.clone())).map_or(0, Vec::len);
        if have < n {
            problems.push(format!("{name}: tshark has {n} x {m} {u}, plainsight {have}"));
        }
    }
    let gt_sni = capture.with_file_name(format!("{name}.sni.tsv"));
    for row in rows(&gt_sni) {
        if row.len() < 12 {
            continue;
        }
        for sni in row[11].split('|').filter(|s| !s.is_empty()) {
            if !snis.iter().any(|s| s == sni) {
                problems.push(format!("{name}: frame {}: SNI {sni} not found", row[0]));
            }
        }
        // A ClientHello over UDP is a QUIC Initial's: read from QUIC, with its ALPN.
        if !row[8].is_empty() && !row[11].is_empty() {
            let alpn = row.get(12).cloned().unwrap_or_default();
            if !quic.iter().any(|(s, a)| *s == row[11] && *a == alpn) {
                problems.push(format!(
                    "{name}: frame {}: QUIC ClientHello for {} with ALPN {alpn:?} not found (have {quic:?})",
                    row[0], row[11]
                ));
            }
        }
    }
    problems
}

fn captures(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| !p.to_string_lossy().ends_with(".tsv"))
        .collect();
    v.sort();
    v
}

#[test]
fn corpus_matches_tshark_ground_truth() {
    let Some(corpus) = common::corpus() else { return };
    let mut problems = Vec::new();
    let mut checked = 0;
    for folder in ["http", "tls", "quic", "pcapng", "other"] {
        for capture in captures(&corpus.join(folder)) {
            let name = capture.file_name().unwrap().to_string_lossy().to_string();
            if !capture.with_file_name(format!("{name}.http.tsv")).exists()
                && !capture.with_file_name(format!("{name}.sni.tsv")).exists()
            {
                continue;
            }
            checked += 1;
            let p = check_file(&capture);
            if let Some((_, why)) = KNOWN.iter().find(|(k, _)| *k == name) {
                assert!(!p.is_empty(), "{name} is listed as known ({why}) but now matches: remove it from KNOWN");
                continue;
            }
            problems.extend(p);
        }
    }
    assert!(checked > 100, "only {checked} captures with ground truth found");
    assert!(problems.is_empty(), "{} mismatches with tshark:\n{}", problems.len(), problems.join("\n"));
}

#[test]
fn malformed_captures_never_panic_or_hang() {
    let Some(corpus) = common::corpus() else { return };
    let mut slow = Vec::new();
    let mut n = 0;
    for capture in captures(&corpus.join("malformed")) {
        let start = Instant::now();
        // An error (not a capture) is fine; a panic fails the test.
        let _ = common::run(&capture);
        n += 1;
        if start.elapsed() > Duration::from_secs(20) {
            slow.push(format!("{}: {:?}", capture.display(), start.elapsed()));
        }
    }
    assert!(n > 50, "only {n} malformed captures found");
    assert!(slow.is_empty(), "these took too long (a hang?):\n{}", slow.join("\n"));
}

/// Captures whose flows tshark's `communityid` names differently, with why.
const COMMUNITY_ID_KNOWN: &[(&str, &str)] = &[
    (
        "zeek__tunnels_Teredo.pcap",
        "Teredo (IPv6 in UDP): tshark names a tunnelled packet by its inner IPv6 addresses only; plainsight also reports the outer UDP flow that carried it, as Zeek's conn.log does (service teredo)",
    ),
    (
        "zeek__tunnels_vxlan-encapsulated-http.pcap",
        "VXLAN: tshark names a tunnelled packet by its inner flow only; plainsight also reports the outer UDP flow that carried it, as Zeek's conn.log does (service vxlan; the TCP connection inside matches)",
    ),
];

/// tshark's Community IDs of a capture: of every TCP or UDP packet, and of those that
/// carried data (not ICMP errors quoting a header).
fn tshark_community_ids(capture: &Path) -> (std::collections::HashSet<String>, std::collections::HashSet<String>) {
    let ids = |filter: &str| {
        let out = std::process::Command::new("tshark")
            .args(["-n", "-r"])
            .arg(capture)
            .args(["--enable-protocol", "communityid", "-Y", filter, "-T", "fields", "-e", "communityid"])
            .stderr(std::process::Stdio::null())
            .output()
            .expect("tshark runs");
        String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.is_empty()).map(str::to_string).collect()
    };
    (ids("tcp or udp"), ids("(tcp.len > 0 or udp) and not icmp and not icmpv6"))
}

/// Every flow plainsight reports (TCP connections, UDP flows, QUIC connections) carries the
/// Community ID tshark computes for it, and every flow that carried data has one.
#[test]
fn community_ids_match_tshark() {
    let Some(corpus) = common::corpus() else { return };
    if !common::have_tool("tshark", "Community IDs against tshark") {
        return;
    }
    let files: Vec<_> = ["http", "tls", "quic"].iter().flat_map(|f| captures(&corpus.join(f))).collect();
    let problems = std::sync::Mutex::new(Vec::new());
    let checked = std::sync::atomic::AtomicUsize::new(0);
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                while let Some(capture) = files.get(next.fetch_add(1, std::sync::atomic::Ordering::SeqCst)) {
                    let name = capture.file_name().unwrap().to_string_lossy().to_string();
                    let Ok(run) = common::run(capture) else { continue };
                    let ours: std::collections::HashSet<String> = run
                        .events
                        .iter()
                        .filter_map(|e| match &e.record {
                            Record::Connection(c) => Some(c.community_id.clone()),
                            Record::UdpFlow(u) => Some(u.community_id.clone()),
                            Record::Quic(q) => Some(q.community_id.clone()),
                            _ => None,
                        })
                        .collect();
                    let (all, with_data) = tshark_community_ids(capture);
                    let mut p: Vec<String> =
                        ours.difference(&all).map(|id| format!("{name}: {id} is not one of tshark's")).collect();
                    p.extend(
                        with_data
                            .difference(&ours)
                            .map(|id| format!("{name}: tshark's {id} (a flow with data) not reported")),
                    );
                    checked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if COMMUNITY_ID_KNOWN.iter().any(|(k, _)| *k == name) {
                        if p.is_empty() {
                            problems
                                .lock()
                                .unwrap()
                                .push(format!("{name} is listed in COMMUNITY_ID_KNOWN but now matches: remove it"));
                        }
                        continue;
                    }
                    problems.lock().unwrap().extend(p);
                }
            });
        }
    });
    let problems = problems.into_inner().unwrap();
    assert!(checked.into_inner() > 100, "too few captures checked");
    assert!(problems.is_empty(), "{} Community ID mismatches:\n{}", problems.len(), problems.join("\n"));
}

/// Field extraction skips what it does not print (findings, bodies, connection summaries,
/// HTTP responses):
/// on every capture of the corpus, it must still read the same HTTP requests and TLS
/// ClientHellos (what it prints of them), in the same order, as a full analysis.
#[test]
fn field_extraction_reads_what_a_full_analysis_reads() {
    use plainsight::analysis::analyze::{Wanted, scan_with};
    let Some(corpus) = common::corpus() else { return };
    let read = |capture: &Path, wanted: Wanted| {
        let (mut printed, mut skipped) = (Vec::new(), 0);
        let mut sink = |e: &plainsight::analysis::dissect::Event, _: &[plainsight::analysis::findings::Finding]| {
            match &e.record {
                // What `--format fields` prints of them.
                Record::HttpRequest(q) => printed.push(format!(
                    "{} {:?} {} {} {:?} {:?}",
                    e.frame,
                    q.host,
                    q.method,
                    q.uri,
                    q.cookies,
                    q.authorization.as_ref().map(|a| &a.raw)
                )),
                Record::TlsClientHello(c) => printed.push(format!("{} {:?} {:?}", e.frame, c.sni, c.alpn)),
                Record::Connection(_) | Record::HttpResponse(_) => skipped += 1,
                _ => {}
            }
        };
        let _ = scan_with(capture, None, wanted, &mut sink, &mut |_| {});
        (printed, skipped)
    };
    let (mut compared, mut records, mut all_skipped) = (0, 0, 0);
    for folder in ["http", "tls", "quic", "pcapng", "other", "cleartext"] {
        for capture in captures(&corpus.join(folder)) {
            let (full, skipped) = read(&capture, Wanted::Findings);
            all_skipped += skipped;
            let (fields, none) = read(&capture, Wanted::Fields);
            let name = capture.display();
            assert_eq!(none, 0, "{name}: field extraction wrote connection summaries or responses");
            assert!(full == fields, "{name}: field extraction read other requests or hellos than a full analysis");
            compared += 1;
            records += full.len();
        }
    }
    assert!(compared > 100 && records > 1000, "only {compared} captures and {records} records compared");
    assert!(all_skipped > 1000, "a full analysis wrote only {all_skipped} connection summaries and responses");
}

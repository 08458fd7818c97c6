//! `report.html` from a run whose every text is hostile (evidence, page titles, host names,
//! logs, the page the visitor received), written again with `demo --report-from`: nothing
//! in it becomes markup, the first screen holds the grid as a projector shows it, every
//! picture is there for the scenarios it applies to, the page fetches nothing, and the
//! handout prints as one A4 page for the grid and one a scenario. No lab needed.

mod common;

use std::path::Path;
use std::process::Command;

use plainsight::demo::scenario::Scenario;
use serde_json::json;

/// Text as a capture could carry it: markup, quotes, a closing SVG, control characters.
const HOSTILE: &str = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)></svg><b>\u{1}\u{7}\u{1b}[31m";

fn cell(yes: bool) -> serde_json::Value {
    json!({"yes": yes, "evidence": format!("packet 7: {HOSTILE}")})
}

fn leaks(yes: bool) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for k in [
        "password",
        "session_cookie",
        "sensitive_article",
        "page_contents",
        "dns_name",
        "tls_server_name",
        "certificate",
        "addresses",
        "requests_and_sizes",
        "article_inferred",
    ] {
        m.insert(k.into(), cell(yes || k == "dns_name"));
    }
    serde_json::Value::Object(m)
}

/// A run directory: summary.json and, per scenario, the files the report reads.
fn hostile_run(dir: &Path) -> usize {
    let mut scenarios = Vec::new();
    for (i, sc) in Scenario::ALL.iter().enumerate() {
        let sdir = dir.join(sc.name());
        std::fs::create_dir_all(sdir.join("pages")).unwrap();
        std::fs::write(
            sdir.join("pages/index.html"),
            format!("<html><head><title>{HOSTILE}</title></head><body><div id=plainsight-ad>AD</div><img src=\"http://192.0.2.99/x.png\"><script>alert(3)</script></body></html>"),
        )
        .unwrap();
        std::fs::write(sdir.join("visitor.log"), format!("open http://clinic.test/ {HOSTILE}\n")).unwrap();
        let base = 1_800_000_000_000_000i64;
        std::fs::write(
            sdir.join("visitor.json"),
            json!({"steps": [
                {"action": "open", "method": "GET", "url": "http://clinic.test/", "at_us": base, "title": HOSTILE},
                {"action": "log-in", "method": "POST", "url": "http://clinic.test/login", "at_us": base + 40_000},
            ]})
            .to_string(),
        )
        .unwrap();
        std::fs::write(
            sdir.join("findings.jsonl"),
            format!(
                "{}\n{}\n",
                json!({"frame": 3, "ts": base + 1000, "src": "192.0.2.10:5000", "dst": "198.51.100.10:80", "type": "http_request", "method": "GET", "uri": format!("/{HOSTILE}"), "version": "HTTP/1.1", "host": HOSTILE, "body_len": 0, "conn": 0}),
                json!({"type": "finding", "class": "url", "summary": format!("GET {HOSTILE}"), "host": HOSTILE, "frame": 3, "conn": 0, "src": "192.0.2.10:5000", "dst": "198.51.100.10:80", "server": "198.51.100.10:80"}),
            ),
        )
        .unwrap();
        let https = sc.over_https();
        let handshake = if https {
            json!([
                {"packet": 6, "what": "ClientHello", "clear": true, "seen": HOSTILE, "meaning": HOSTILE},
                {"packet": 8, "what": "ServerHello", "clear": true, "seen": "TLS 1.3", "meaning": HOSTILE},
                {"packet": 9, "what": "encrypted records", "clear": false, "seen": HOSTILE, "meaning": HOSTILE},
            ])
        } else {
            json!([])
        };
        let sizes = https.then(|| {
            json!({"learned": [["/articles/a", 100_000], ["/articles/a", 101_000], [format!("/articles/{HOSTILE}"), 150_000]],
                   "observed": 100_500, "guess": "/articles/a", "opened": "/articles/a", "padded": false})
        });
        let visitor = ["intact", "modified", "refused", "forged"][i % 4];
        scenarios.push(json!({
            "scenario": sc.name(),
            "title": format!("{} {HOSTILE}", sc.title()),
            "intruder": leaks(i % 2 == 0),
            "visitor": visitor,
            "visitor_detail": HOSTILE,
            "site_pages": cell(true),
            "replay": {"state": "not-tried", "evidence": HOSTILE},
            "mixed_content": cell(false),
            "download_swapped": cell(false),
            "key_secret": (i % 2 == 0).then(|| json!({"what": HOSTILE, "shown": "c****e (6 chars)", "packet": 7, "read_by": HOSTILE})),
            "expected": {"intruder": {"password": false, "session_cookie": false, "sensitive_article": false, "page_contents": false,
                "dns_name": true, "tls_server_name": true, "certificate": false, "addresses": true, "requests_and_sizes": true,
                "article_inferred": true}, "visitor": "intact", "site_pages": true, "replay": "not-tried",
                "mixed_content": false, "download_swapped": false},
            "as_expected": i != 3,
            "mismatches": if i == 3 { vec![HOSTILE] } else { vec![] },
            "dir": sdir.display().to_string(),
            "injector": [{"kind": "tls", "client": "192.0.2.10:1", "server": "198.51.100.10:443", "sni": HOSTILE, "mode": "mitm", "outcome": "refused", "detail": HOSTILE}],
            "compare": HOSTILE,
            "handshake": handshake,
            "article_sizes": sizes,
        }));
    }
    let n = scenarios.len();
    let summary = json!({"generated": HOSTILE, "lab": HOSTILE, "scenarios": scenarios, "all_as_expected": false, "seconds": 1.0, "revealed": false});
    std::fs::write(dir.join("summary.json"), summary.to_string()).unwrap();
    n
}

#[test]
fn a_hostile_run_makes_no_markup_and_its_report_reads_at_a_glance() {
    let dir = common::tmp("report-hostile");
    std::fs::create_dir_all(&dir).unwrap();
    let n = hostile_run(&dir);
    let report = dir.join("report.html");
    let ok = Command::new(env!("CARGO_BIN_EXE_plainsight")).args(["demo", "--report-from"]).arg(&dir).output().unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let html = std::fs::read_to_string(&report).unwrap();
    // In the source: the hostile text only ever escaped (the received page lives in a
    // sandboxed frame's srcdoc attribute, escaped there too).
    for raw in ["<script", "<img src=x", "</svg><b>"] {
        assert!(!html.contains(raw), "report.html carries {raw:?} unescaped");
    }
    assert!(!html.contains(['\u{1}', '\u{7}', '\u{1b}']), "report.html carries control characters");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "the hostile text is shown, escaped");
    assert!(!html.contains("http://192.0.2.99"), "the received page's outside image is kept");
    let Some(chromium) = common::chromium("report: the hostile run rendered in Chromium") else { return };
    let r = common::report::render(chromium, &report);
    common::report::check_first_screen(&r, n);
    let text = r.measured["text"].as_str().unwrap();
    assert!(text.contains("<script>alert(1)</script>"), "the hostile text reads as text");
    for sc in Scenario::ALL {
        let s = &r.measured["sections"][sc.name()];
        assert_eq!(s["network"], true, "{}: the network picture", sc.name());
        assert_eq!(s["timeline"], true, "{}: the timeline", sc.name());
        assert_eq!(s["pages"], true, "{}: the pages side by side", sc.name());
        let https = sc.over_https();
        assert_eq!(s["handshake"].as_u64().unwrap() > 0, https, "{}: the handshake diagram", sc.name());
        assert_eq!(s["sizes"].as_u64().unwrap() > 0, https, "{}: the sizes chart", sc.name());
    }
    // TLS 1.2 beside 1.3, and the sizes with padding beside those without.
    assert_eq!(r.measured["sections"]["https-tls12"]["handshake"], 2);
    assert_eq!(r.measured["sections"]["https-padded"]["sizes"], 2);
    common::report::check_first_screen_in_firefox(&report, n);
    handout(&dir, &report, n);
    std::fs::remove_dir_all(&dir).ok();
}

/// `--pdf`: an A4 handout, the grid alone on page one, then one page a scenario.
fn handout(dir: &Path, report: &Path, scenarios: usize) {
    if !common::have_tool("pdfinfo", "report: the handout's pages read back (poppler-utils)") {
        return;
    }
    let pdf = dir.join("handout.pdf");
    let out = Command::new(env!("CARGO_BIN_EXE_plainsight"))
        .args(["demo", "--report-from"])
        .arg(dir)
        .arg("--pdf")
        .arg(&pdf)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(report.exists());
    let info = String::from_utf8(Command::new("pdfinfo").arg(&pdf).output().unwrap().stdout).unwrap();
    let pages: usize = info.lines().find_map(|l| l.strip_prefix("Pages:")).unwrap().trim().parse().unwrap();
    assert!(info.contains("(A4)"), "{info}");
    assert_eq!(pages, 1 + scenarios, "the grid's page and one a scenario: {info}");
    let page = |n: usize| {
        let o =
            Command::new("pdftotext").args(["-f", &n.to_string(), "-l", &n.to_string()]).arg(&pdf).arg("-").output();
        String::from_utf8_lossy(&o.unwrap().stdout).to_string()
    };
    let first = page(1);
    assert!(first.contains("Scenario") && first.contains("Visitor got"), "page one holds the grid: {first}");
    for (i, sc) in Scenario::ALL.iter().enumerate() {
        assert!(first.contains(sc.name()), "page one lacks the row of {}", sc.name());
        let p = page(i + 2);
        assert!(p.trim_start().starts_with(&format!("{}:", sc.name())), "page {} is not {}'s: {p}", i + 2, sc.name());
    }
}

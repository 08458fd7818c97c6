//! The demo's outputs for people: the terminal table and `report.html`, one
//! self-contained file (inline CSS, no script, no network fetch) that works offline on a
//! projector and prints.

use std::fmt::Write;
use std::path::Path;

use super::{Outcome, Summary};
use crate::site::content;

/// Rows of the table: key, label.
pub const ROWS: [(&str, &str); 8] = [
    ("password", "Password"),
    ("session_cookie", "Session cookie"),
    ("sensitive_article", "Sensitive article (URL, title)"),
    ("page_contents", "Page contents"),
    ("dns_name", "DNS name"),
    ("tls_server_name", "TLS server name"),
    ("addresses", "Addresses"),
    ("requests_and_sizes", "Number and sizes of requests"),
];

/// UTC now as `2026-11-23T12-00-00Z` (also a valid directory name).
pub fn timestamp() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}-{:02}-{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Chromium's row: short text and detail.
fn browser_cell(o: &Outcome) -> (String, String) {
    match &o.browser {
        None => ("-".into(), String::new()),
        Some(b) => match (&b.error, &b.secure_context) {
            (Some(e), _) => ("refused".into(), e.clone()),
            (None, Some(sc)) if sc.contains("Secure context: yes") => ("yes".into(), sc.clone()),
            (None, Some(sc)) => ("no".into(), sc.clone()),
            (None, None) => ("?".into(), "the page did not report".into()),
        },
    }
}

fn yn(o: &Outcome, key: &str) -> (&'static str, String) {
    match o.intruder.get(key) {
        Some(c) if c.yes => ("yes", c.evidence.clone()),
        Some(c) => ("no", c.evidence.clone()),
        None => ("-", String::new()),
    }
}

/// The side-by-side table for the terminal.
pub fn table(s: &Summary) -> String {
    let w = 13;
    let mut t = String::new();
    let _ = write!(t, "{:<31}", "What the intruder learned");
    for o in &s.scenarios {
        let _ = write!(t, " {:<w$}", o.scenario);
    }
    t.push('\n');
    for (key, label) in ROWS {
        let _ = write!(t, "{label:<31}");
        for o in &s.scenarios {
            let _ = write!(t, " {:<w$}", yn(o, key).0);
        }
        t.push('\n');
    }
    let _ = write!(t, "{:<31}", "What the visitor got");
    for o in &s.scenarios {
        let _ = write!(t, " {:<w$}", o.visitor);
    }
    t.push('\n');
    if s.scenarios.iter().any(|o| o.browser.is_some()) {
        let _ = write!(t, "{:<31}", "Chromium: secure context");
        for o in &s.scenarios {
            let _ = write!(t, " {:<w$}", browser_cell(o).0);
        }
        t.push('\n');
    }
    if s.scenarios.iter().any(|o| o.replay.is_some()) {
        let _ = write!(t, "{:<31}", "Stolen cookie replayed");
        for o in &s.scenarios {
            let _ = write!(t, " {:<w$}", o.replay.as_ref().map(|r| if r.yes { "account read" } else { "failed" }).unwrap_or("-"));
        }
        t.push('\n');
    }
    let _ = write!(t, "{:<31}", "As expected");
    for o in &s.scenarios {
        let _ = write!(t, " {:<w$}", if o.as_expected { "yes" } else { "NO" });
    }
    t.push('\n');
    t.push_str(&closing(s));
    t.push('\n');
    t
}

/// What HTTPS protected and what it did not, from what actually happened.
pub fn closing(s: &Summary) -> String {
    let http_leaked = s.scenarios.iter().any(|o| o.scenario == "http" && yn(o, "password").0 == "yes");
    let https = s.scenarios.iter().find(|o| o.scenario == "https");
    let mut out = String::new();
    if http_leaked {
        out.push_str("Over HTTP the intruder read the password, the cookie and the article, and changed the pages. ");
    }
    if let Some(h) = https {
        if yn(h, "password").0 == "no" && h.visitor == "intact" {
            out.push_str("HTTPS kept them secret and the pages intact; it did NOT hide the DNS name, the server name, the addresses, nor the number, sizes and timing of requests. ");
        }
    }
    if s.scenarios.iter().any(|o| o.scenario == "trusted-mitm" && o.visitor == "modified") {
        out.push_str("And it falls entirely when a device trusts the attacker's certificate authority.");
    }
    out
}

/// `report.html`.
pub fn html(s: &Summary) -> String {
    let mut h = String::new();
    h.push_str("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>plainsight: what an on-path intruder gets</title><style>\
body{font-family:system-ui,sans-serif;margin:2em;color:#111}table{border-collapse:collapse;margin:1em 0}\
th,td{border:1px solid #999;padding:.4em .6em;vertical-align:top;font-size:14px}th{background:#eee}\
td.yes{background:#fdd}td.no{background:#dfd}td.intact{background:#dfd}td.modified,td.refused{background:#fdd}\
td.refused{background:#ffe9b3}small{color:#444;display:block;max-width:22em}mark{background:#ff0;font-weight:bold}\
.pair{display:flex;gap:1em}.pair div{flex:1}iframe{width:100%;height:340px;border:1px solid #999}\
section{page-break-inside:avoid;border-top:2px solid #333;margin-top:2em}pre{white-space:pre-wrap;font-size:12px}\
@media print{iframe{height:260px}}</style></head><body>");
    let _ = write!(h, "<h1>What an on-path intruder gets: HTTP versus HTTPS</h1><p>Generated {} from real traffic in lab <code>{}</code> ({:.1} s). Every scenario ran the same visit by the persona <b>{}</b>: read an article about a health condition, sign in, open the account page.</p>", esc(&s.generated), esc(&s.lab), s.seconds, content::FULL_NAME);
    h.push_str("<table><tr><th>What the intruder learned</th>");
    for o in &s.scenarios {
        let _ = write!(h, "<th>{}<br><small>{}</small></th>", esc(&o.scenario), esc(&o.title));
    }
    h.push_str("</tr>");
    for (key, label) in ROWS {
        let _ = write!(h, "<tr><th>{label}</th>");
        for o in &s.scenarios {
            let (v, ev) = yn(o, key);
            let _ = write!(h, "<td class=\"{v}\">{v}<small>{}</small></td>", esc(&ev));
        }
        h.push_str("</tr>");
    }
    h.push_str("<tr><th>What the visitor got</th>");
    for o in &s.scenarios {
        let _ = write!(h, "<td class=\"{}\">{}<small>{}</small></td>", esc(&o.visitor), esc(&o.visitor), esc(&o.visitor_detail));
    }
    if s.scenarios.iter().any(|o| o.browser.is_some()) {
        h.push_str("</tr><tr><th>Chromium: secure context and powerful features</th>");
        for o in &s.scenarios {
            let (v, d) = browser_cell(o);
            let _ = write!(h, "<td>{}<small>{}</small></td>", esc(&v), esc(&d));
        }
    }
    h.push_str("</tr><tr><th>Stolen cookie replayed</th>");
    for o in &s.scenarios {
        match &o.replay {
            Some(r) => {
                let _ = write!(h, "<td class=\"{}\">{}<small>{}</small></td>", if r.yes { "yes" } else { "no" }, if r.yes { "account read" } else { "no" }, esc(&r.evidence));
            }
            None => h.push_str("<td>-</td>"),
        }
    }
    h.push_str("</tr><tr><th>Verdict</th>");
    for o in &s.scenarios {
        let _ = write!(h, "<td>{}<small>{}</small></td>", if o.as_expected { "as expected" } else { "UNEXPECTED" }, esc(&o.mismatches.join("; ")));
    }
    let _ = write!(h, "</tr></table><p><b>{}</b></p>", esc(&closing(s)));
    for o in &s.scenarios {
        section(&mut h, o);
    }
    h.push_str("</body></html>\n");
    h
}

fn section(h: &mut String, o: &Outcome) {
    let dir = Path::new(&o.dir);
    let _ = write!(h, "<section><h2>{}: {}</h2><div class=\"pair\"><div><h3>The intruder's view</h3><ul>", esc(&o.scenario), esc(&o.title));
    let findings: Vec<serde_json::Value> = std::fs::read_to_string(dir.join("findings.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == "finding" && v["class"] != "metadata")
        .collect();
    for f in findings.iter().take(14) {
        let secret = f["secret"].as_str().map(|s| format!(": <mark>{}</mark>", esc(s))).unwrap_or_default();
        let _ = write!(h, "<li>[{}] packet {}: {}{}</li>", esc(f["class"].as_str().unwrap_or("")), f["frame"], esc(f["summary"].as_str().unwrap_or("")), secret);
    }
    if findings.len() > 14 {
        let _ = write!(h, "<li>… and {} more (findings.jsonl)</li>", findings.len() - 14);
    }
    for i in &o.injector {
        if i["kind"] == "tls" || i["kind"] == "race" {
            let _ = write!(h, "<li>[intruder proxy] {}: {}</li>", esc(i["outcome"].as_str().unwrap_or("")), esc(i["detail"].as_str().unwrap_or("")));
        }
    }
    h.push_str("</ul></div><div><h3>The visitor's view</h3><pre>");
    h.push_str(&esc(&std::fs::read_to_string(dir.join("visitor.log")).unwrap_or_default()));
    h.push_str("</pre></div></div>");
    if let Ok(received) = std::fs::read_to_string(dir.join("pages").join("index.html")) {
        let sent = String::from_utf8(content::resource("/").map(|r| r.body).unwrap_or_default()).unwrap_or_default();
        let _ = write!(
            h,
            "<div class=\"pair\"><div><h3>The home page as the visitor received it</h3><iframe sandbox srcdoc=\"{}\"></iframe></div><div><h3>As the site sent it</h3><iframe sandbox srcdoc=\"{}\"></iframe></div></div>",
            esc(&received),
            esc(&sent)
        );
        if received.contains("plainsight-ad") {
            h.push_str("<p><mark>The injected advertisement is in the page the visitor received</mark> (plainsight-ad).</p>");
        }
    }
    if let Some(b) = &o.browser {
        match (&b.error, Path::new(&o.dir).join("browser.png")) {
            (Some(e), _) => {
                let _ = write!(h, "<p>Chromium refused the page: <b>{}</b></p>", esc(e));
            }
            (None, png) if png.exists() => {
                use base64::Engine;
                let data = base64::engine::general_purpose::STANDARD.encode(std::fs::read(&png).unwrap_or_default());
                let _ = write!(h, "<h3>Chromium in the visitor's host</h3><img alt=\"screenshot\" style=\"max-width:60%;border:1px solid #999\" src=\"data:image/png;base64,{data}\">");
            }
            _ => {}
        }
    }
    let _ = write!(h, "<h3>Site versus visitor (plainsight compare)</h3><pre>{}</pre>", esc(&o.compare));
    h.push_str("<p><small>Files: intruder.pcapng (packet comments mark the leaks), visitor.pcapng, site.pcapng, findings.jsonl, injector.jsonl, visitor.json.</small></p></section>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_shape() {
        let t = timestamp();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'));
    }
}

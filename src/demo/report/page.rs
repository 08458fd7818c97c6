//! `report.html`: one self-contained file (inline CSS and SVG, no script, nothing fetched)
//! that a projector shows and a printer turns into a handout. The first screen is the
//! grid (scenarios × what the intruder got and what reached the visitor); every cell links
//! to its evidence, in the scenario's section below. Written with maud: every text from a
//! capture, a page or a log is escaped by construction.

use std::path::Path;

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::super::scenario::{Got, ReplayState};
use super::super::{DemoSummary, ScenarioResult};
use super::pictures::{self, Moment};
use crate::analysis::findings::{Class, Finding};
use crate::analysis::report::read::Line;
use crate::lab::intruder::{self, Kind};
use crate::lab::site::content;

const STYLE: &str = include_str!("report.css");

/// A grid cell: its symbol and word (never colour alone), its colour class, and the id of
/// the evidence it links to.
struct Mark {
    symbol: &'static str,
    word: &'static str,
    class: &'static str,
}

const GOT: Mark = Mark { symbol: "✗", word: "got", class: "bad" };
const HIDDEN: Mark = Mark { symbol: "✓", word: "no", class: "good" };

fn leak(yes: bool) -> Mark {
    if yes { GOT } else { HIDDEN }
}

/// The grid's intruder columns: (key of the evidence row, header).
const LEAK_COLUMNS: [(&str, &str); 7] = [
    ("password", "Password"),
    ("session_cookie", "Cookie"),
    ("page_contents", "Pages"),
    ("dns_name", "DNS"),
    ("tls_server_name", "Server name"),
    ("certificate", "Certificate"),
    ("requests_and_sizes", "Sizes"),
];

fn visitor_mark(g: Got) -> Mark {
    match g {
        Got::Intact => Mark { symbol: "✓", word: "intact", class: "good" },
        Got::Modified => Mark { symbol: "✗", word: "modified", class: "bad" },
        Got::Forged => Mark { symbol: "✗", word: "forged", class: "bad" },
        Got::Refused => Mark { symbol: "⊘", word: "refused", class: "refused" },
        Got::Unknown => Mark { symbol: "?", word: "unknown", class: "unknown" },
    }
}

/// The article: read in its URL, guessed from the sizes, or neither.
fn article_mark(o: &ScenarioResult) -> (Mark, &'static str) {
    match (o.intruder.sensitive_article.yes, o.intruder.article_inferred.yes) {
        (true, _) => (Mark { symbol: "✗", word: "read", class: "bad" }, "sensitive_article"),
        (false, true) => (Mark { symbol: "✗", word: "guessed", class: "bad" }, "article_inferred"),
        (false, false) => (HIDDEN, "article_inferred"),
    }
}

fn cell(o: &ScenarioResult, key: &str, m: Mark) -> Markup {
    html! {
        td class=(m.class) {
            a href=(format!("#{}-{key}", o.scenario)) { span.sym aria-hidden="true" { (m.symbol) } " " (m.word) }
        }
    }
}

/// `report.html`.
pub fn render(s: &DemoSummary) -> String {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "plainsight: what an on-path intruder gets" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header.first {
                    h1 { "What an on-path intruder gets: HTTP versus HTTPS" }
                    p.lead {
                        "Lab " code { (s.lab) } ", " (s.generated) ", " (format!("{:.1}", s.seconds)) " s. "
                        "Each row is the same visit by " (content::FULL_NAME) ". "
                        span.legend { span.bad { "✗ the intruder got it" } " " span.good { "✓ it did not" } }
                        " Secrets " (if s.revealed { "shown (--reveal)." } else { "masked." })
                    }
                    (grid(s))
                }
                p.closing { b { (super::closing(s)) } }
                @for o in &s.scenarios {
                    (section(o, s))
                }
            }
        }
    };
    // Control characters from a capture (a terminal's escapes, a bell) show as one mark.
    page.into_string().replace(|c: char| c.is_control() && !matches!(c, '\n' | '\r' | '\t'), "\u{fffd}")
}

/// The first screen: one row a scenario.
fn grid(s: &DemoSummary) -> Markup {
    html! {
        table.grid {
            thead {
                tr {
                    th scope="col" { "Scenario" }
                    @for (_, header) in LEAK_COLUMNS.iter().take(2) { th scope="col" { (header) } }
                    th scope="col" { "Article" }
                    @for (_, header) in LEAK_COLUMNS.iter().skip(2) { th scope="col" { (header) } }
                    th scope="col" { "Visitor got" }
                    th scope="col" { "Check" }
                }
            }
            tbody {
                @for o in &s.scenarios {
                    @let rows = o.intruder.rows();
                    @let yes = |key: &str| rows.iter().any(|r| r.0 == key && r.3.yes);
                    tr {
                        th scope="row" { a href=(format!("#{}", o.scenario)) { (o.scenario) } }
                        @for (key, _) in LEAK_COLUMNS.iter().take(2) { (cell(o, key, leak(yes(key)))) }
                        @let (article, key) = article_mark(o);
                        (cell(o, key, article))
                        @for (key, _) in LEAK_COLUMNS.iter().skip(2) { (cell(o, key, leak(yes(key)))) }
                        (cell(o, "visitor", visitor_mark(o.visitor)))
                        @if o.as_expected {
                            (cell(o, "verdict", Mark { symbol: "✓", word: "as expected", class: "plain" }))
                        } @else {
                            (cell(o, "verdict", Mark { symbol: "‼", word: "UNEXPECTED", class: "bad" }))
                        }
                    }
                }
            }
        }
    }
}

/// One scenario's evidence: the key secret, the pictures, every cell's sentence (the grid
/// links here), what the intruder read, and the pages side by side.
fn section(o: &ScenarioResult, s: &DemoSummary) -> Markup {
    let dir = Path::new(&o.dir);
    let tls13 = (o.scenario == "https-tls12").then(|| s.scenarios.iter().find(|x| x.scenario == "https")).flatten();
    let unpadded = (o.scenario == "https-padded").then(|| s.scenarios.iter().find(|x| x.scenario == "https")).flatten();
    html! {
        section.scenario id=(o.scenario) {
            h2 { (o.scenario) ": " (o.title) }
            (secret(o))
            div.pictures {
                (pictures::network(o))
                @if let Some(h) = pictures::handshake(o) {
                    @if let Some(other) = tls13.and_then(pictures::handshake) { (other) }
                    (h)
                }
                @if let Some(sizes) = &o.article_sizes {
                    @if let Some(plain) = unpadded.and_then(|u| u.article_sizes.as_ref()) {
                        (pictures::article_sizes(plain, &unpadded.map(|u| u.scenario.clone()).unwrap_or_default()))
                    }
                    (pictures::article_sizes(sizes, &o.scenario))
                }
                @if let Some(t) = pictures::timeline(&moments(dir, s.revealed), &o.scenario) { (t) }
            }
            (evidence(o))
            @if !o.handshake.is_empty() {
                h3.screen-only { "The TLS handshake, as the intruder's capture shows it" }
                ol.handshake {
                    @for st in &o.handshake {
                        li {
                            b { "packet " (st.packet) " · " (st.what) " · " (if st.clear { "in clear" } else { "encrypted" }) }
                            ": " (st.seen) br; small { (st.meaning) }
                        }
                    }
                }
            }
            @if let Some(chain) = chain_of_trust(o) {
                p { b { "Chain of trust: " } (chain) }
            }
            div.pair.screen-only {
                div { h3 { "The intruder's view" } (intruder_view(o, s.revealed)) }
                div { h3 { "The visitor's view" } pre { (read(dir, "visitor.log")) } }
            }
            (pages(o))
            details.screen-only {
                summary { "Site versus visitor (plainsight compare)" }
                pre { (o.compare) }
            }
            p.files {
                "Files: intruder.pcapng (packet comments mark the leaks), intruder-keys.pcapng (the same with the site's TLS keys: the answer key, which Wireshark decrypts), visitor.pcapng, site.pcapng, findings.jsonl, injector.jsonl, visitor.json."
            }
        }
    }
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_default()
}

fn secret(o: &ScenarioResult) -> Markup {
    match &o.key_secret {
        Some(k) => {
            let at = k.packet.map(|p| format!("packet {p} of intruder.pcapng")).unwrap_or_else(|| k.read_by.clone());
            html! { p.secret.bad { "✗ The intruder got the password: " mark { (k.shown) } br; small { (k.what) " (" (at) ")" } } }
        }
        None => html! {
            p.secret.good { "✓ The intruder did not get the password" br; small { (o.intruder.password.evidence) } }
        },
    }
}

/// Every cell's sentence, each with the id its grid cell links to.
fn evidence(o: &ScenarioResult) -> Markup {
    let id = |key: &str| format!("{}-{key}", o.scenario);
    let replay_bad = o.replay.state == ReplayState::AccountRead;
    let extra = [
        ("site_pages", "The site's own pages reached the visitor", !o.site_pages.yes, &o.site_pages.evidence),
        ("mixed_content", "Mixed content in the HTTPS page", o.mixed_content.yes, &o.mixed_content.evidence),
        ("download_swapped", "Download swapped", o.download_swapped.yes, &o.download_swapped.evidence),
    ];
    html! {
        dl.evidence {
            @for (key, label, _, c) in o.intruder.rows() {
                dt id=(id(key)) class=(leak(c.yes).class) { (leak(c.yes).symbol) " " (label) ": " (if c.yes { "got" } else { "no" }) }
                dd { (c.evidence) }
            }
            @let v = visitor_mark(o.visitor);
            dt id=(id("visitor")) class=(v.class) { (v.symbol) " What the visitor got: " (v.word) }
            dd { (o.visitor_detail) }
            @for (key, label, bad, text) in extra {
                dt id=(id(key)) class=(leak(bad).class) { (leak(bad).symbol) " " (label) }
                dd { (text) }
            }
            dt id=(id("replay")) class=(leak(replay_bad).class) {
                (leak(replay_bad).symbol) " Stolen cookie replayed: " (o.replay.state.as_str())
            }
            dd { (o.replay.evidence) }
            @if let Some(b) = &o.browser {
                dt id=(id("browser")) { "Chromium" }
                dd {
                    @if let Some(e) = &b.error { "refused: " (e) } @else { (b.secure_context.clone().unwrap_or_default()) }
                    @for m in &b.mixed_content { br; "Chromium said: " (m) }
                }
            }
            dt id=(id("verdict")) class=(if o.as_expected { "plain" } else { "bad" }) {
                (if o.as_expected { "✓ As expected" } else { "‼ UNEXPECTED" })
            }
            dd { (if o.mismatches.is_empty() { "every cell is what the scenario predicts".to_string() } else { o.mismatches.join("; ") }) }
        }
    }
}

/// What the intruder read, most sensitive first (so the password is never among the ones
/// left out), and what its proxy or race did.
fn intruder_view(o: &ScenarioResult, revealed: bool) -> Markup {
    let mut findings: Vec<Finding> = read(Path::new(&o.dir), "findings.jsonl")
        .lines()
        .filter_map(crate::analysis::report::read::line)
        .filter_map(|l| match l {
            Line::Finding(f) => Some(*f),
            _ => None,
        })
        .filter(|f| f.class != Class::Metadata)
        .collect();
    findings.sort_by_key(|f| (f.class, f.frame));
    let raced = o.injector.iter().filter(|i| i.kind == Kind::Race && i.outcome == intruder::Act::Forged).count();
    html! {
        ul {
            @for f in findings.iter().take(14) {
                li {
                    "[" (f.class.as_str()) "] packet " (f.frame) ": "
                    @match (f.shown_secret(revealed), f.line(revealed).rsplit_once(": ")) {
                        (Some(_), Some((what, secret))) => { (what) ": " mark { (secret) } }
                        _ => { (f.line(revealed)) }
                    }
                }
            }
            @if findings.len() > 14 {
                li { "… and " (findings.len() - 14) " more, less sensitive (findings.jsonl)" }
            }
            @for i in &o.injector {
                @if i.kind == Kind::Tls || (i.kind == Kind::Race && i.outcome == intruder::Act::Collected) {
                    li { "[intruder] " (i.outcome.as_str()) ": " (i.detail) }
                }
            }
            @if raced > 0 {
                li { "[intruder] forged " (raced) " answer(s) racing the site (injector.jsonl)" }
            }
        }
    }
}

/// The home page as the visitor received it beside the page as the site sent it, in
/// sandboxed frames (no script runs), the injected parts outlined; Chromium's screenshot
/// when the demo ran it.
fn pages(o: &ScenarioResult) -> Markup {
    let dir = Path::new(&o.dir);
    let pages = dir.join("pages");
    let received = std::fs::read_to_string(pages.join("index.html")).ok();
    let https =
        read(dir, "visitor.log").lines().any(|l| l.contains("open") && l.contains("https://") && !l.contains("FAILED"));
    let screenshot =
        o.browser.as_ref().filter(|b| b.error.is_none()).and_then(|_| std::fs::read(dir.join("browser.png")).ok()).map(
            |png| {
                use base64::Engine;
                format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(png))
            },
        );
    html! {
        @match &received {
            Some(page) => {
                div.pair.pages {
                    div {
                        h3 { "The home page as the visitor received it" }
                        @if let Some(src) = &screenshot {
                            img.shot alt="Chromium's screenshot of the page in the visitor's host" src=(src);
                        } @else {
                            iframe sandbox="" title="as received" srcdoc=(outlined(&super::as_seen(page, &pages, https))) {}
                        }
                    }
                    div { h3 { "As the site sent it" } iframe sandbox="" title="as sent" srcdoc=(super::as_sent()) {} }
                }
                @if page.contains("plainsight-ad") {
                    p { mark { "The injected advertisement is in the page the visitor received" } " (plainsight-ad, outlined in red)." }
                }
            }
            None => p { b { "The visitor received no page at all." } },
        }
        @if let Some(e) = o.browser.as_ref().and_then(|b| b.error.as_ref()) {
            p { "Chromium refused the page: " b { (e) } }
        }
    }
}

/// Outlines what the intruder put in a page: its advertisement, its banner.
fn outlined(page: &str) -> String {
    const OUTLINE: &str =
        "<style>[id^=plainsight-ad],.plainsight-ad{outline:5px dashed #b00020!important;outline-offset:3px}</style>";
    match page.find("</head>") {
        Some(at) => format!("{}{OUTLINE}{}", &page[..at], &page[at..]),
        None => format!("{OUTLINE}{page}"),
    }
}

/// The visitor's steps and the intruder's findings, each at its time.
fn moments(dir: &Path, revealed: bool) -> Vec<Moment> {
    let mut out = Vec::new();
    let visit: Option<crate::lab::visitor::Visit> =
        std::fs::read(dir.join("visitor.json")).ok().and_then(|b| serde_json::from_slice(&b).ok());
    for step in visit.iter().flat_map(|v| &v.steps) {
        if step.at_us == 0 || step.action == crate::lab::visitor::Action::Subresource {
            continue;
        }
        let bad = step.ad || step.error.is_some();
        out.push(Moment { at_us: step.at_us, visitor: true, label: step.action.as_str().to_string(), bad });
    }
    let mut ts_of = std::collections::HashMap::new();
    for line in read(dir, "findings.jsonl").lines().filter_map(crate::analysis::report::read::line) {
        match line {
            Line::Event(e) => {
                ts_of.insert(e.frame, e.ts);
            }
            Line::Finding(f) if f.class != Class::Metadata => {
                if let Some(ts) = ts_of.get(&f.frame) {
                    let bad =
                        matches!(f.class, Class::Credential | Class::SessionCookie | Class::Url | Class::PageContent);
                    out.push(Moment { at_us: *ts, visitor: false, label: f.line(revealed), bad });
                }
            }
            _ => {}
        }
    }
    out
}

/// Who vouched for the certificate the visitor was shown, and whether the visitor trusts
/// that authority: from the capture (a certificate in clear), or from the intruder's own
/// account of a forged one and the visitor's verdict.
fn chain_of_trust(o: &ScenarioResult) -> Option<String> {
    use crate::lab::intruder::TlsMode;
    let forged = o.injector.iter().find(|i| i.kind == Kind::Tls && i.mode == Some(TlsMode::Mitm));
    if let Some(f) = forged {
        return Some(match o.visitor {
            Got::Refused => format!(
                "the forged certificate for {} is signed by the intruder's own CA, which the visitor does not trust: it refused ({})",
                f.sni.as_deref().unwrap_or("the site"),
                o.visitor_detail.split(". ").next().unwrap_or("")
            ),
            _ => format!(
                "the forged certificate for {} is signed by the intruder's own CA, which this visitor was made to trust (--also-trust intruder-ca.pem): accepted",
                f.sni.as_deref().unwrap_or("the site")
            ),
        });
    }
    let cert = o.handshake.iter().find(|s| s.what == "Certificate")?;
    Some(if cert.clear {
        format!(
            "the site's certificate ({}, packet {}) is signed by the lab CA, the one authority the visitor trusts: accepted, and the intruder read the whole chain",
            cert.seen, cert.packet
        )
    } else {
        "the site's certificate is signed by the lab CA, the one authority the visitor trusts: accepted; under TLS 1.3 the intruder did not see it".to_string()
    })
}

//! The report's pictures, each drawn from one scenario's own evidence: the network and
//! what crossed it in clear, the TLS handshake as a sequence diagram, the sizes the
//! article was guessed from, and the scenario's timeline. SVG written with maud (every
//! text escaped by construction); the chart by plotters' SVG backend.

use maud::{Markup, PreEscaped, html};

use super::super::scenario::Got;
use super::super::{ArticleSizes, HandshakeStep, ScenarioResult};
use crate::lab::intruder::{Kind, TlsMode};

/// Red for what the intruder got, green for what it did not, amber for a refusal.
pub const BAD: &str = "#b00020";
pub const GOOD: &str = "#1b7a3a";
pub const REFUSED: &str = "#a65f00";

/// The lab's four hosts and, on the visitor's path, whether it ran in clear; below, what
/// crossed the gateway in clear and what did not.
pub fn network(o: &ScenarioResult) -> Markup {
    let rows = o.intruder.rows();
    let clear: Vec<&str> = rows.iter().filter(|r| r.3.yes).map(|r| short_label(r.0)).collect();
    let hidden: Vec<&str> = rows.iter().filter(|r| !r.3.yes).map(|r| short_label(r.0)).collect();
    let in_clear = o.intruder.page_contents.yes || o.intruder.password.yes;
    let forged = forged_certificate(o);
    let (near, near_colour) = match (forged, o.visitor) {
        (true, Got::Refused) => ("✗ forged certificate: refused", REFUSED),
        (true, _) => ("✗ forged certificate: accepted", BAD),
        (false, _) if in_clear => ("✗ in clear", BAD),
        (false, _) => ("✓ encrypted (TLS)", GOOD),
    };
    // Under sslstrip and a forged certificate the intruder speaks TLS to the site itself.
    let intruder_tls = forged || o.injector.iter().any(|i| i.outcome == crate::lab::intruder::Act::Stripped);
    let far = if intruder_tls { ("✓ TLS, the intruder's own", GOOD) } else { (near, near_colour) };
    let lines = clear.len().max(hidden.len()).max(1) as u32;
    let height = 196 + 22 * (lines - 1);
    html! {
        svg.picture.network role="img" viewBox=(format!("0 0 760 {height}")) width="760" height=(height)
            xmlns="http://www.w3.org/2000/svg" {
            title { "The lab's network in " (o.scenario) }
            (host_box(10, 40, "Visitor (Alice)", "#eef"))
            (host_box(310, 40, "Gateway: intruder", "#fee"))
            (host_box(610, 40, "Site clinic.test", "#efe"))
            (host_box(310, 100, "Guest", "#eee"))
            (link(150, 310, 60, near, near_colour, in_clear && !forged))
            (link(450, 610, 60, far.0, far.1, in_clear && far.1 == BAD))
            text x="20" y="160" font-size="16" font-weight="bold" fill=(BAD) { "✗ crossed the gateway in clear" }
            text x="390" y="160" font-size="16" font-weight="bold" fill=(GOOD) { "✓ hidden from it" }
            @for (i, what) in clear.iter().enumerate() {
                text x="20" y=(182 + 22 * i as u32) font-size="16" fill="#222" { "✗ " (what) }
            }
            @for (i, what) in hidden.iter().enumerate() {
                text x="390" y=(182 + 22 * i as u32) font-size="16" fill="#222" { "✓ " (what) }
            }
        }
    }
}

/// A row of what the intruder got, in a few words.
fn short_label(key: &str) -> &'static str {
    match key {
        "password" => "the password",
        "session_cookie" => "the session cookie",
        "sensitive_article" => "the article read (URL, title)",
        "page_contents" => "the pages' contents",
        "dns_name" => "the DNS name",
        "tls_server_name" => "the server name (SNI)",
        "certificate" => "the site's certificate",
        "addresses" => "the addresses",
        "requests_and_sizes" => "number and sizes of requests",
        "article_inferred" => "which article (URL or sizes)",
        _ => "something else",
    }
}

/// Whether the intruder answered the visitor's TLS with a forged certificate.
fn forged_certificate(o: &ScenarioResult) -> bool {
    o.injector.iter().any(|i| i.kind == Kind::Tls && i.mode == Some(TlsMode::Mitm))
}

fn host_box(x: u32, y: u32, label: &str, fill: &str) -> Markup {
    html! {
        rect x=(x) y=(y) width="140" height="40" rx="6" fill=(fill) stroke="#333" stroke-width="1.5" {}
        text x=(x + 70) y=(y + 26) font-size="15" text-anchor="middle" fill="#111" { (label) }
    }
}

fn link(x1: u32, x2: u32, y: u32, label: &str, colour: &str, dashed: bool) -> Markup {
    html! {
        line x1=(x1) y1=(y) x2=(x2) y2=(y) stroke=(colour) stroke-width="4"
            stroke-dasharray=[dashed.then_some("8 5")] {}
        text x=((x1 + x2) / 2) y=(y - 30) font-size="14" text-anchor="middle" fill=(colour) { (label) }
    }
}

/// The handshake as a sequence diagram between visitor, gateway and site: each message
/// with its packet number, red when the intruder read it, green when it was encrypted;
/// a forged certificate the visitor refused ends it.
pub fn handshake(o: &ScenarioResult) -> Option<Markup> {
    if o.handshake.is_empty() {
        return None;
    }
    let version = o
        .handshake
        .iter()
        .find(|s| s.what == "ServerHello")
        .and_then(|s| ["TLS 1.3", "TLS 1.2", "TLS 1.1", "TLS 1.0"].into_iter().find(|v| s.seen.contains(v)))
        .unwrap_or("TLS");
    let refused = forged_certificate(o) && o.visitor == Got::Refused;
    let rows = o.handshake.len() + usize::from(refused);
    let height = 90 + 44 * rows as u32;
    let (visitor, gateway, site) = (70u32, 290u32, 510u32);
    Some(html! {
        svg.picture.handshake role="img" viewBox=(format!("0 0 600 {height}")) width="600" height=(height)
            xmlns="http://www.w3.org/2000/svg" {
            title { (version) " handshake in " (o.scenario) }
            text x="300" y="20" font-size="17" font-weight="bold" text-anchor="middle" fill="#111" {
                (version) " handshake, as the gateway saw it"
            }
            @for (x, who) in [(visitor, "Visitor"), (gateway, "Gateway (intruder)"), (site, "Site")] {
                text x=(x) y="48" font-size="16" text-anchor="middle" fill="#111" { (who) }
                line x1=(x) y1="56" x2=(x) y2=(height - 10) stroke="#999" stroke-width="2" {}
            }
            @for (i, st) in o.handshake.iter().enumerate() {
                (message(st, 80 + 44 * i as u32, visitor, gateway, site))
            }
            @if refused {
                @let y = 80 + 44 * o.handshake.len() as u32;
                text x=(visitor + 10) y=(y + 4) font-size="16" fill=(REFUSED) {
                    "✗ the visitor refuses the forged certificate and aborts"
                }
            }
        }
    })
}

fn message(st: &HandshakeStep, y: u32, visitor: u32, gateway: u32, site: u32) -> Markup {
    let to_site = st.what.starts_with("Client") || st.what.contains("client");
    let (from, to) = if to_site { (visitor, site) } else { (site, visitor) };
    let colour = if st.clear { BAD } else { GOOD };
    let tip: i32 = if to_site { -10 } else { 10 };
    let head = format!("{},{} {},{} {},{}", to, y, to as i32 + tip, y - 6, to as i32 + tip, y + 6);
    let label = format!("#{} {} · {}", st.packet, st.what, if st.clear { "✗ in clear" } else { "✓ encrypted" });
    html! {
        g {
            title { (st.seen) }
            line x1=(from) y1=(y) x2=(to) y2=(y) stroke=(colour) stroke-width="3"
                stroke-dasharray=[st.clear.then_some("7 4")] {}
            polygon points=(head) fill=(colour) {}
            circle cx=(gateway) cy=(y) r="5" fill=(colour) {}
            text x=((from + to) / 2) y=(y - 9) font-size="15" text-anchor="middle" fill=(colour) { (label) }
        }
    }
}

/// The sizes the article was named from: every learned page load of every article (dots)
/// and the visitor's load (the line); with padding, the dots collapse onto a few sizes.
pub fn article_sizes(s: &ArticleSizes, scenario: &str) -> Markup {
    let mut pages: Vec<&str> = s.learned.iter().map(|(p, _)| p.as_str()).collect();
    pages.sort();
    pages.dedup();
    let kib = |b: u64| b as f64 / 1024.0;
    let top = s.learned.iter().map(|(_, b)| kib(*b)).fold(kib(s.observed), f64::max) * 1.15 + 1.0;
    let mut svg = String::new();
    let drawn = draw_sizes(&mut svg, s, &pages, top, kib);
    let caption = format!(
        "{}: {} learned page loads of {} articles (dots; the article opened in amber){}; the visitor's load {:.1} KiB (red line); named {}",
        scenario,
        s.learned.len(),
        pages.len(),
        if s.padded { ", site padded" } else { "" },
        kib(s.observed),
        short_page(&s.guess)
    );
    html! {
        figure.picture.sizes {
            @if drawn.is_ok() { (PreEscaped(svg)) } @else { p { "the chart could not be drawn" } }
            figcaption { (caption) }
        }
    }
}

fn draw_sizes(
    out: &mut String,
    s: &ArticleSizes,
    pages: &[&str],
    top: f64,
    kib: impl Fn(u64) -> f64,
) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    let n = pages.len().max(1) as i32;
    let root = SVGBackend::with_string(out, (720, 90 + 24 * n as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    // One row an article (its name readable, left of the row), the bytes across.
    let mut chart = ChartBuilder::on(&root)
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(210)
        .build_cartesian_2d(0.0..top, -1..n)?;
    let names: Vec<String> = pages.iter().map(|p| short_page(p)).collect();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(pages.len() + 2)
        .y_label_formatter(&|i| names.get(*i as usize).cloned().unwrap_or_default())
        .x_desc("KiB down in the page load")
        .label_style(("sans-serif", 14))
        .draw()?;
    let index = |p: &str| pages.iter().position(|q| *q == p).unwrap_or(0) as i32;
    let opened = RGBColor(0xa6, 0x5f, 0x00);
    chart.draw_series(s.learned.iter().map(|(p, b)| {
        let colour = if *p == s.opened { opened } else { RGBColor(0x1f, 0x4e, 0x9a) };
        Circle::new((kib(*b), index(p)), 6, colour.filled())
    }))?;
    let seen = RGBColor(0xb0, 0x00, 0x20);
    chart.draw_series(LineSeries::new([(kib(s.observed), -1), (kib(s.observed), n)], seen.stroke_width(3)))?;
    root.present()?;
    Ok(())
}

/// `/articles/living-with-hiv` as `living-with-hiv`.
pub fn short_page(p: &str) -> String {
    p.rsplit('/').next().unwrap_or(p).chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(28).collect()
}

/// One moment of a scenario: the visitor's step or a finding of the intruder's.
pub struct Moment {
    pub at_us: i64,
    pub visitor: bool,
    pub label: String,
    pub bad: bool,
}

/// The scenario on one time axis: the visitor's steps above, what the intruder read
/// below.
pub fn timeline(moments: &[Moment], scenario: &str) -> Option<Markup> {
    let first = moments.iter().map(|m| m.at_us).min()?;
    let last = moments.iter().map(|m| m.at_us).max()?;
    let span = (last - first).max(1) as f64;
    let x = |t: i64| 140.0 + (t - first) as f64 / span * 560.0;
    let visitor: Vec<&Moment> = moments.iter().filter(|m| m.visitor).collect();
    let intruder: Vec<&Moment> = moments.iter().filter(|m| !m.visitor).collect();
    Some(html! {
        svg.picture.timeline role="img" viewBox="0 0 760 230" width="760" height="230"
            xmlns="http://www.w3.org/2000/svg" {
            title { "Timeline of " (scenario) }
            text x="10" y="60" font-size="16" fill="#111" { "Visitor" }
            text x="10" y="170" font-size="16" fill="#111" { "Intruder" }
            line x1="140" y1="55" x2="700" y2="55" stroke="#999" stroke-width="2" {}
            line x1="140" y1="165" x2="700" y2="165" stroke="#999" stroke-width="2" {}
            @for (i, m) in visitor.iter().enumerate() {
                circle cx=(format!("{:.1}", x(m.at_us))) cy="55" r="6" fill=(if m.bad { BAD } else { "#1f4e9a" }) {}
                text x=(format!("{:.1}", x(m.at_us))) y=(if i % 2 == 0 { 38 } else { 84 }) font-size="13"
                    text-anchor="middle" fill="#222" { (m.label) }
            }
            @for m in &intruder {
                circle cx=(format!("{:.1}", x(m.at_us))) cy="165" r="5" fill=(if m.bad { BAD } else { "#777" }) {
                    title { (m.label) }
                }
            }
            text x="140" y="200" font-size="14" fill="#222" {
                (intruder.len()) " finding(s); red: a secret, a cookie, a URL or page content read in clear"
            }
            text x="140" y="222" font-size="14" fill="#555" {
                (format!("{:.2} s from the first to the last", span / 1e6))
            }
        }
    })
}

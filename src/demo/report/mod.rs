//! The demo's outputs for people: the terminal table and `report.html`, one
//! self-contained file (inline CSS, no script, no network fetch) that works offline on a
//! projector and prints.

use std::path::Path;

use super::scenario::{Got, ReplayState};
use super::{DemoSummary, ScenarioResult};
use crate::lab::site::content;

mod page;
pub mod pictures;

/// UTC now as `2026-11-23T12-00-00Z` (also a valid directory name).
pub fn timestamp() -> String {
    let secs =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) as i64;
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

/// Chromium's row: short text and detail.
fn browser_cell(o: &ScenarioResult) -> (String, String) {
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

fn yn(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// `text` wrapped at `width` columns, on word boundaries.
pub fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(&line);
    out
}

/// One line cut to `width` columns (an ellipsis marks the cut).
pub fn clip_line(line: &str, width: usize) -> String {
    if line.chars().count() <= width {
        return line.to_string();
    }
    let mut s: String = line.chars().take(width - 1).collect();
    s.push('…');
    s
}

/// Widths of the terminal table's columns after the scenario's title.
const COLUMNS: [(&str, usize); 15] = [
    ("Pwd", 3),
    ("Cookie", 6),
    ("Article", 7),
    ("Pages", 5),
    ("DNS", 3),
    ("SNI", 3),
    ("Cert", 4),
    ("Addr", 4),
    ("Sizes", 5),
    ("Visitor", 8),
    ("Site", 4),
    ("Mixed", 5),
    ("Swap", 4),
    ("Replay", 12),
    ("OK", 3),
];
const TITLE: usize = 29;

/// The side-by-side table for the terminal: one scenario a row, at most 120 columns.
pub fn table(s: &DemoSummary) -> String {
    let mut t = String::new();
    let row = |t: &mut String, title: &str, cells: [&str; 15]| {
        let mut line = format!("{title:<TITLE$}");
        for ((_, w), c) in COLUMNS.iter().zip(cells) {
            line.push(' ');
            line.push_str(&format!("{c:<w$}"));
        }
        t.push_str(line.trim_end());
        t.push('\n');
    };
    t.push_str("What the intruder learned (yes: it read it), what reached the visitor, and the stolen cookie:\n");
    row(&mut t, "Scenario", COLUMNS.map(|(h, _)| h));
    for o in &s.scenarios {
        let leaks = o.intruder.rows().map(|(_, _, _, c)| yn(c.yes));
        // The article: read (the URL), guessed from the sizes over HTTPS, or neither.
        let article = match (o.intruder.sensitive_article.yes, o.intruder.article_inferred.yes) {
            (true, _) => "yes",
            (false, true) => "sizes",
            _ => "no",
        };
        let cells = [
            leaks[0],
            leaks[1],
            article,
            leaks[3],
            leaks[4],
            leaks[5],
            leaks[6],
            leaks[7],
            leaks[8],
            o.visitor.as_str(),
            yn(o.site_pages.yes),
            yn(o.mixed_content.yes),
            yn(o.download_swapped.yes),
            o.replay.state.as_str(),
            if o.as_expected { "yes" } else { "NO" },
        ];
        row(&mut t, &o.title, cells);
    }
    t.push_str("Pwd password, Cookie session cookie, Article which article was read (yes: its URL and title;\n");
    t.push_str("sizes: guessed from the sizes of its HTTPS page load), Pages page contents, SNI TLS server name,\n");
    t.push_str("Cert the site's certificate, Addr addresses, Sizes number and sizes of requests;\n");
    t.push_str(
        "Visitor: what reached the visitor; Site: the site's own pages reached it; Mixed: a plain-HTTP script\n",
    );
    t.push_str(
        "or image got into its HTTPS page; Swap: its download arrived swapped; OK: every cell as the scenario\n",
    );
    t.push_str("expects (evidence: summary.json, report.html).\n");
    if s.scenarios.iter().any(|o| o.browser.is_some()) {
        for o in s.scenarios.iter().filter(|o| o.browser.is_some()) {
            let (v, d) = browser_cell(o);
            t.push_str(&clip_line(&format!("Chromium, {}: secure context {v} ({d})", o.title), 120));
            t.push('\n');
            for m in o.browser.iter().flat_map(|b| &b.mixed_content) {
                t.push_str(&wrap(&format!("Chromium, {}: {m}", o.title), 120));
                t.push('\n');
            }
        }
    }
    for o in s.scenarios.iter().filter(|o| !o.as_expected) {
        for m in &o.mismatches {
            t.push_str(&wrap(&format!("UNEXPECTED in {}: {m}", o.scenario), 120));
            t.push('\n');
        }
    }
    t.push_str(&wrap(&closing(s), 100));
    t.push('\n');
    t
}

/// One scenario's result in a few lines (after each scenario with `--step`).
pub fn verdict(o: &ScenarioResult) -> String {
    let learned: Vec<&str> =
        o.intruder.rows().into_iter().filter(|(_, _, _, c)| c.yes).map(|(_, label, _, _)| label).collect();
    let text = format!(
        "-> The intruder learned: {}. The visitor got: {} ({}). Stolen cookie: {}. {}",
        if learned.is_empty() { "nothing".to_string() } else { learned.join(", ") },
        o.visitor.as_str(),
        o.visitor_detail,
        o.replay.state.as_str(),
        if o.as_expected { "As expected." } else { "NOT as expected." }
    );
    wrap(&text, 100)
}

fn find<'a>(s: &'a DemoSummary, name: &str) -> Option<&'a ScenarioResult> {
    s.scenarios.iter().find(|o| o.scenario == name)
}

/// What HTTPS protected and what it did not, from what actually happened.
pub fn closing(s: &DemoSummary) -> String {
    let mut out = Vec::new();
    if let Some(h) = find(s, "http").filter(|o| o.intruder.password.yes && o.visitor == Got::Modified) {
        let replay =
            if h.replay.state == ReplayState::AccountRead { ", replayed the cookie to open the account" } else { "" };
        out.push(format!(
            "Over HTTP the intruder read the password, the cookie and the article{replay}, and changed the pages."
        ));
    }
    if let Some(h) = find(s, "https")
        .filter(|o| !o.intruder.password.yes && !o.intruder.page_contents.yes && o.visitor == Got::Intact)
    {
        let mut hidden_not = Vec::new();
        for (yes, what) in [
            (h.intruder.dns_name.yes, "the DNS name"),
            (h.intruder.tls_server_name.yes, "the server name"),
            (h.intruder.addresses.yes, "the addresses"),
            (h.intruder.requests_and_sizes.yes, "the number, sizes and timing of requests"),
        ] {
            if yes {
                hidden_not.push(what);
            }
        }
        out.push(format!("HTTPS kept them secret and the pages intact; it did NOT hide {}.", hidden_not.join(", ")));
    }
    if find(s, "https").is_some_and(|o| !o.intruder.sensitive_article.yes && o.intruder.article_inferred.yes) {
        let padded = if find(s, "https-padded")
            .is_some_and(|o| !o.intruder.article_inferred.yes && o.visitor == Got::Intact)
        {
            " When the site padded every response to a few sizes, the guess was no better than chance, at a price in bytes. One site's twelve pages are the attacker's best case: such guesses do not scale to the open web (Panchenko et al., NDSS 2016)."
        } else {
            ""
        };
        out.push(format!("Yet the intruder, having read the public site itself, named the article Alice opened over HTTPS from the sizes of its page load alone.{padded}"));
    }
    if find(s, "https-tls12").is_some_and(|o| o.intruder.certificate.yes && o.visitor == Got::Intact) {
        let tls13 =
            if find(s, "https").is_some_and(|o| !o.intruder.certificate.yes) { " (TLS 1.3 encrypts it)" } else { "" };
        out.push(format!("With the site on TLS 1.2 only, the pages stayed just as protected, but its certificate crossed the gateway in clear{tls13}."));
    }
    if find(s, "https-doh").is_some_and(|o| !o.intruder.dns_name.yes && o.intruder.tls_server_name.yes) {
        out.push(format!("With DNS over HTTPS the name no longer crossed the gateway in a DNS query, but it still did in the ClientHello: Encrypted Client Hello would hide it too, and the lab cannot show that yet, because its TLS library ({ECH_STATUS}) implements ECH for clients only."));
    }
    let refused: Vec<&str> = s
        .scenarios
        .iter()
        .filter(|o| o.visitor == Got::Refused && !o.intruder.password.yes)
        .map(|o| o.title.as_str())
        .collect();
    if !refused.is_empty() {
        out.push(format!("Where the attacker forged or tampered ({}), the visitor got no page at all: HTTPS stops reading and changing, not breaking the connection.", refused.join("; ")));
    }
    if find(s, "sslstrip").is_some_and(|o| o.intruder.password.yes) {
        out.push("A first visit typed without https:// falls to sslstrip unless the browser already knows the site's HSTS policy.".into());
    }
    if find(s, "race").is_some_and(|o| o.visitor == Got::Forged && o.intruder.password.yes) {
        out.push("A guest who cannot block anything still won the race over HTTP, and its look-alike sign-in form took the password.".into());
    }
    if find(s, "https-mixed").is_some_and(|o| o.mixed_content.yes && o.visitor == Got::Modified) {
        out.push("A single script loaded over plain HTTP handed an HTTPS page to the intruder, which is why browsers block it.".into());
    }
    if find(s, "http-download").is_some_and(|o| o.download_swapped.yes) {
        let https = if find(s, "https-download").is_some_and(|o| !o.download_swapped.yes && o.visitor == Got::Intact) {
            "; over HTTPS it arrived intact"
        } else {
            ""
        };
        out.push(format!("Over HTTP the intruder also swapped the download, rewrote a script and replaced an image: every resource is at stake, not only the page{https}."));
    }
    if find(s, "trusted-mitm").is_some_and(|o| o.visitor == Got::Modified) {
        out.push("And HTTPS falls entirely when a device trusts the attacker's certificate authority.".into());
    }
    out.join(" ")
}

/// Where Encrypted Client Hello stands in the TLS library the lab's servers use (checked
/// in its source: `rustls::client::EchConfig` exists, no server-side counterpart).
const ECH_STATUS: &str = "rustls 0.23";

/// `report.html`.
pub fn html(s: &DemoSummary) -> String {
    page::render(s)
}

/// The received page's own policy inside its frame: inline styles and inlined images only.
const FRAME_CSP: &str = "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">";

/// A page as the visitor saw it, made self-contained for a sandboxed frame: its
/// stylesheets and images inlined from the copies the visitor received (`dir`), scripts
/// dropped (the frame runs none), and the secure-context note filled in from the page's
/// scheme, as the page's own script would have.
pub fn as_seen(html: &str, dir: &Path, https: bool) -> String {
    use lol_html::{RewriteStrSettings, element, html_content::ContentType, rewrite_str};
    let file = |src: &str| -> Option<Vec<u8>> {
        let p = src.split(['?', '#']).next()?.strip_prefix('/')?;
        std::fs::read(dir.join(p.replace('/', "_"))).ok()
    };
    let handlers = vec![
        element!("link[rel=stylesheet][href]", |el| {
            if let Some(css) = el.get_attribute("href").and_then(|h| file(&h)) {
                el.replace(
                    &format!("<style>{}</style>", String::from_utf8_lossy(&css).replace("</", "<\\/")),
                    ContentType::Html,
                );
            }
            Ok(())
        }),
        element!("img[src]", |el| {
            let src = el.get_attribute("src").unwrap_or_default();
            let data = file(&src);
            if data.is_none() && !src.starts_with("data:") {
                // Not a copy the visitor received: the frame fetches nothing.
                el.remove_attribute("src");
            }
            if let Some(data) = data {
                use base64::Engine;
                let mime = if src.ends_with(".svg") {
                    "image/svg+xml"
                } else if src.ends_with(".png") {
                    "image/png"
                } else {
                    "image/jpeg"
                };
                let _ = el.set_attribute(
                    "src",
                    &format!("data:{mime};base64,{}", base64::engine::general_purpose::STANDARD.encode(data)),
                );
            }
            Ok(())
        }),
        element!("script", |el| {
            el.remove();
            Ok(())
        }),
        element!("head", |el| {
            // Whatever is left that points outside the page stays unfetched.
            el.prepend(FRAME_CSP, ContentType::Html);
            Ok(())
        }),
        element!("[srcset], iframe, object, embed, video, audio, source, link:not([rel=stylesheet])", |el| {
            el.remove();
            Ok(())
        }),
        element!("#secure-context", |el| {
            let note = if https {
                "Secure context: yes (served over HTTPS)"
            } else {
                "Secure context: NO (served over plain HTTP): no service workers, camera, microphone or geolocation"
            };
            el.set_inner_content(note, ContentType::Text);
            Ok(())
        }),
    ];
    let settings = handlers.into_iter().fold(RewriteStrSettings::new(), |s, h| s.append_element_content_handler(h));
    rewrite_str(html, settings).unwrap_or_else(|_| html.to_string())
}

/// The site's home page as it sent it, self-contained (its own stylesheet and logo).
fn as_sent() -> String {
    let dir = std::env::temp_dir().join(format!("plainsight-site-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    for p in ["/style.css", "/logo.svg"] {
        if let Some(r) = content::resource(p) {
            let _ = std::fs::write(dir.join(&p[1..]), r.body);
        }
    }
    let home = String::from_utf8(content::resource("/").map(|r| r.body).unwrap_or_default()).unwrap_or_default();
    let page = as_seen(&home, &dir, false).replace(
        "Secure context: NO (served over plain HTTP): no service workers, camera, microphone or geolocation",
        "(the page's own script reports its security context)",
    );
    let _ = std::fs::remove_dir_all(&dir);
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_and_clip_keep_lines_short() {
        let w = wrap(&"word ".repeat(100), 30);
        assert!(w.lines().all(|l| l.chars().count() <= 30) && w.lines().count() > 10, "{w}");
        assert_eq!(clip_line("abcdef", 4), "abc…");
    }

    #[test]
    fn received_pages_are_embedded_with_their_own_stylesheet_and_logo() {
        let dir = std::env::temp_dir().join(format!("ps-as-seen-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("style.css"), "body{color:red}").unwrap();
        std::fs::write(dir.join("logo.svg"), "<svg/>").unwrap();
        let home = String::from_utf8(content::resource("/").unwrap().body).unwrap();
        let page = as_seen(&home, &dir, false);
        assert!(page.contains("<style>body{color:red}</style>"), "{page}");
        assert!(page.contains("src=\"data:image/svg+xml;base64,"), "{page}");
        assert!(!page.contains("Checking this page") && page.contains("Secure context: NO"));
        assert!(!page.contains("/app.js"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn timestamp_shape() {
        let t = timestamp();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'));
    }
}

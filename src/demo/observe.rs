//! Scoring a scenario: what the roles recorded, read back and turned into the table's
//! cells, each with its evidence, and every cell checked against the scenario's
//! expectation.

use std::path::Path;

use super::evidence::{self, Evidence, Guessed};
use super::scenario::{Got, Leaks, ReplayState, Scenario};
use super::{Cell, KeySecret, Replay, ScenarioResult};
use crate::analysis::dissect::{Event, Record};
use crate::analysis::findings::{About, Class, Finding};
use crate::lab::intruder::{self, Learned};
use crate::lab::site::content;

/// The visitor's own check of what it received, against the site's manifest.
pub(super) fn visitor_check(v: &crate::lab::visitor::Visit) -> String {
    let mut out = String::from("The visitor's own check against the site's SHA-256 manifest:\n");
    for st in v.steps.iter().filter(|s| s.status.is_some() || s.error.is_some()) {
        use crate::lab::visitor::Integrity;
        let verdict = match (&st.error, st.integrity, st.site_page) {
            (Some(e), _, _) => format!("no page: {e}"),
            (None, Integrity::Intact, _) => "intact".into(),
            (None, Integrity::Modified, true) => {
                format!("the site's page, modified{}", if st.ad { " (the injected ad is in it)" } else { "" })
            }
            (None, Integrity::Modified, false) => {
                format!("NOT the site's page: {:?} arrived instead", st.title.as_deref().unwrap_or("untitled"))
            }
            _ => "not in the manifest".into(),
        };
        out += &format!("  {} {} -> {verdict}\n", st.method, crate::analysis::findings::mask_url(&st.url));
    }
    out
}

/// Which article the intruder inferred: read in the URL, or named from the sizes of the
/// page load of the article the visitor opened (right, and no other article as near).
fn article_inferred(read: &Cell, guessed: Option<&Result<Guessed, String>>) -> Cell {
    if read.yes {
        return Cell::yes(format!("read directly: {}", read.evidence));
    }
    let short = |p: &str| p.trim_start_matches("/articles/").to_string();
    match guessed {
        None => Cell::no("no: the URL never crossed the gateway in clear, and no HTTPS page load was guessed here"),
        Some(Err(e)) => Cell::no(format!("no: {e}")),
        Some(Ok(g)) => {
            let runners: Vec<String> = g.guess.runners_up.iter().map(|(p, s)| format!("{} {s:.3}", short(p))).collect();
            let basis = format!(
                "learned {} page loads of every article from the intruder host; {}; score {:.3}, then {}",
                g.learned,
                g.guess.why,
                g.guess.score,
                runners.join(", ")
            );
            let cost = if g.padded {
                let load = |pad| crate::lab::site::articles::load_bytes(content::SENSITIVE_ARTICLE, pad);
                let (a, b) = (load(false), load(true));
                format!(
                    "; the padding cost {} more bytes on this page load ({:.0}% more)",
                    b.saturating_sub(a),
                    (b as f64 - a as f64) * 100.0 / a.max(1) as f64
                )
            } else {
                String::new()
            };
            if g.guess.page == content::SENSITIVE_ARTICLE && g.guess.tied == 0 {
                Cell::yes(format!("guessed from sizes alone: {} ({basis}){cost}", short(&g.guess.page)))
            } else if g.guess.tied > 0 {
                Cell::no(format!(
                    "no better than chance: {} pages as near as the best ({basis}){cost}",
                    g.guess.tied + 1
                ))
            } else {
                Cell::no(format!("guessed wrong: {} ({basis}){cost}", short(&g.guess.page)))
            }
        }
    }
}

/// Fills the table's rows from what the roles recorded; every cell cites its evidence.
pub(super) fn observe(sc: Scenario, dir: &Path, o: &Evidence, reveal: bool) -> ScenarioResult {
    let (intruder, key_secret) = intruder_leaks(o, reveal);
    let (got, detail, site_pages) = visitor_got(&o.visit);
    let mixed_content = mixed_content(o);
    let download_swapped = download_swapped(&o.visit);
    let handshake = handshake(&o.events);
    ScenarioResult {
        scenario: sc.name().into(),
        title: sc.title().into(),
        intruder,
        visitor: got,
        visitor_detail: detail,
        site_pages,
        replay: Replay { state: ReplayState::NotTried, evidence: String::new() },
        mixed_content,
        download_swapped,
        handshake,
        key_secret,
        expected: sc.plan().expect,
        as_expected: false,
        mismatches: Vec::new(),
        dir: dir.display().to_string(),
        injector: o.injector.iter().map(|i| shown_outcome(i, reveal)).collect(),
        compare: String::new(),
        browser: None,
        article_sizes: o.guessed.as_ref().and_then(|g| g.as_ref().ok()).map(|g| g.sizes.clone()),
    }
}
/// What the intruder got, cell by cell, and the key secret it read (the password).
fn intruder_leaks(o: &Evidence, reveal: bool) -> (Leaks<Cell>, Option<KeySecret>) {
    let evidence = |f: &Finding| format!("packet {}: {}", f.frame, f.line(reveal));
    let shown_secret = |s: &Option<String>| {
        s.as_deref().map(|s| if reveal { s.to_string() } else { crate::analysis::findings::mask(s) })
    };
    let proxy_evidence = |l: &Learned| {
        let summary = if reveal { l.summary.clone() } else { crate::analysis::findings::mask_urls_in(&l.summary) };
        match shown_secret(&l.secret) {
            Some(s) => format!("read by the intruder's proxy: {summary}: {s}"),
            None => format!("read by the intruder's proxy: {summary}"),
        }
    };
    let cell = |pred: &dyn Fn(Class, &About) -> bool, none: &str| match (
        o.finding(|f| pred(f.class, &f.about)),
        o.proxy_read(pred),
    ) {
        (Some(f), _) => Cell::yes(evidence(f)),
        (None, Some(p)) => Cell::yes(proxy_evidence(p)),
        (None, None) => Cell::no(none),
    };
    let encrypted = "no: only encrypted bytes crossed the gateway";
    let password = cell(
        &evidence::is_password,
        if o.visit.steps.iter().any(|s| s.action == crate::lab::visitor::Action::LogIn && s.skipped.is_none()) {
            encrypted
        } else {
            "no: the visitor never typed it (no sign-in form reached it)"
        },
    );
    let key_secret =
        match (o.finding(|f| evidence::is_password(f.class, &f.about)), o.proxy_read(evidence::is_password)) {
            (Some(f), _) => Some(KeySecret {
                what: f.summary.clone(),
                shown: shown_secret(&f.secret).unwrap_or_default(),
                packet: Some(f.frame),
                read_by: "the sniffer on the gateway".into(),
            }),
            (None, Some(l)) => Some(KeySecret {
                what: crate::analysis::findings::mask_urls_in(&l.summary),
                shown: shown_secret(&l.secret).unwrap_or_default(),
                packet: None,
                read_by: "the intruder's proxy (injector.jsonl)".into(),
            }),
            _ => None,
        };
    let article = cell(&evidence::is_sensitive_request, "no: the URL never crossed the gateway in clear");
    let sensitive_article = match (article.yes, o.finding(evidence::is_sensitive_page)) {
        (true, Some(t)) => Cell::yes(format!("{}; {}", article.evidence, evidence(t))),
        _ => article,
    };
    let pages: Vec<&Finding> = o.findings.iter().filter(|f| evidence::is_site_answer(f)).collect();
    let proxy_pages = o.injector.iter().filter(|i| i.kind == intruder::Kind::Http && i.bytes_to_client > 0).count();
    let page_contents = match pages.first() {
        Some(f) => Cell::yes(format!("{} of the site's responses readable, e.g. {}", pages.len(), evidence(f))),
        None if proxy_pages > 0 => {
            Cell::yes(format!("the intruder's proxy relayed {proxy_pages} responses it decrypted (injector.jsonl)"))
        }
        None => Cell::no("no: the site's answers crossed the gateway encrypted"),
    };
    // Only the site's name counts; other names the client looked up are said beside.
    let others = |pick: &dyn Fn(&Finding) -> Option<&str>| {
        let mut names: Vec<&str> = o.findings.iter().filter_map(pick).filter(|n| !evidence::is_site_name(n)).collect();
        names.sort_unstable();
        names.dedup();
        if names.is_empty() { String::new() } else { format!("; other names that leaked: {}", names.join(", ")) }
    };
    let dns_others = others(&|f| (f.class == Class::DnsName).then_some(&*f.host));
    let dns_name = match o.finding(evidence::is_site_dns_name) {
        Some(f) => Cell::yes(format!("{}{dns_others}", evidence(f))),
        None => Cell::no(format!("no: no DNS query for the site crossed the gateway in clear{dns_others}")),
    };
    let sni_others = others(&|f| match &f.about {
        About::ServerName { name, .. } => Some(name.as_str()),
        _ => None,
    });
    let tls_server_name = match o.finding(evidence::is_site_server_name) {
        Some(f) => Cell::yes(format!("{}{sni_others}", evidence(f))),
        None if !sni_others.is_empty() => Cell::no(format!("no ClientHello named the site{sni_others}")),
        None => Cell::no("no TLS crossed the gateway (plain HTTP: the Host header says it anyway)"),
    };
    // The certificate the site sent, as it crossed the gateway (in clear only before TLS 1.3).
    let (certificate, addresses, requests_and_sizes) = metadata_cells(o, &evidence);
    let article_inferred = article_inferred(&sensitive_article, o.guessed.as_ref());
    let intruder = Leaks {
        password,
        session_cookie: cell(&evidence::is_session_cookie, "no"),
        sensitive_article,
        page_contents,
        dns_name,
        tls_server_name,
        certificate,
        addresses,
        requests_and_sizes,
        article_inferred,
    };
    (intruder, key_secret)
}

/// What crosses in clear around the encryption: the certificate (before TLS 1.3), the
/// addresses, the requests and their sizes.
fn metadata_cells(o: &Evidence, evidence: &dyn Fn(&Finding) -> String) -> (Cell, Cell, Cell) {
    let certificate = match o.finding(evidence::is_site_certificate) {
        Some(f) => Cell::yes(evidence(f)),
        None if o.server_hellos().any(|sh| sh.version == "TLS 1.3") => {
            Cell::no("no: TLS 1.3 encrypts the certificate (the ServerHello says TLS 1.3)")
        }
        None if o.server_hellos().next().is_some() => Cell::no("no certificate crossed the gateway"),
        None => Cell::no("no TLS handshake crossed the gateway"),
    };
    // Sorted as text, as the report has always listed them.
    let addrs: std::collections::BTreeSet<String> =
        o.events.iter().flat_map(|e| [e.src.ip(), e.dst.ip()]).map(|a| a.to_string()).collect();
    let addresses =
        if addrs.is_empty() { Cell::no("none") } else { Cell::yes(addrs.into_iter().collect::<Vec<_>>().join(", ")) };
    let http_reqs = o.http_requests();
    let tls: Vec<&crate::analysis::dissect::tls::Traffic> = o.tls_traffic().collect();
    let requests_and_sizes = if http_reqs > 0 {
        Cell::yes(format!("{http_reqs} HTTP requests, each with its size"))
    } else if !tls.is_empty() {
        let up: u64 = tls.iter().map(|t| t.records_to_server).sum();
        let down: u64 = tls.iter().map(|t| t.bytes_to_client).sum();
        Cell::yes(format!("{} TLS connections, {up} encrypted records up, {down} bytes down", tls.len()))
    } else {
        Cell::no("nothing")
    };
    (certificate, addresses, requests_and_sizes)
}

/// What reached the visitor (intact, modified, refused, forged), why, and whether the
/// site's own pages arrived.
fn visitor_got(v: &crate::lab::visitor::Visit) -> (Got, String, Cell) {
    let answered: Vec<&crate::lab::visitor::Step> = v.steps.iter().filter(|s| s.status.is_some()).collect();
    let site: Vec<&crate::lab::visitor::Step> = answered.iter().copied().filter(|s| s.site_page).collect();
    let foreign: Vec<&crate::lab::visitor::Step> = answered
        .iter()
        .copied()
        .filter(|s| s.integrity == crate::lab::visitor::Integrity::Modified && !s.site_page)
        .collect();
    let error = v.steps.iter().find_map(|s| s.error.clone().map(|e| (e, s.url.starts_with("https://"))));
    let (got, detail) = if site.is_empty() && !foreign.is_empty() {
        let t = foreign[0].title.clone().unwrap_or_else(|| "an untitled page".into());
        (
            Got::Forged,
            format!(
                "{} page(s) arrived, none of them the site's: {t:?} took their place (SHA-256 and title differ from the manifest)",
                foreign.len()
            ),
        )
    } else if v.modified > 0 {
        let ad = v.steps.iter().any(|s| s.ad);
        (
            Got::Modified,
            format!(
                "{} responses differ from the site's manifest{}",
                v.modified,
                if ad { ", the injected ad is in the page" } else { "" }
            ),
        )
    } else if let Some((e, tls)) = error.as_ref().filter(|_| site.is_empty()) {
        let why = if *tls {
            ". No page arrived: the attacker could break the connection, but neither read nor change it"
        } else {
            ". No page arrived"
        };
        (Got::Refused, format!("{e}{why}"))
    } else if v.all_intact {
        let n = v.steps.iter().filter(|s| s.integrity == crate::lab::visitor::Integrity::Intact).count();
        (Got::Intact, format!("{n} responses match the site's SHA-256 manifest"))
    } else {
        (Got::Unknown, "no response could be checked".to_string())
    };
    let site_pages = match site.first() {
        Some(st) => Cell::yes(format!(
            "{} of the site's pages arrived, e.g. {} {} ({})",
            site.len(),
            st.method,
            crate::analysis::findings::mask_url(&st.url),
            st.integrity.as_str()
        )),
        None => Cell::no(match (&error, foreign.first()) {
            (Some((e, _)), _) => format!("none: {e}"),
            (None, Some(f)) => {
                format!("none: the attacker's page {:?} arrived instead", f.title.as_deref().unwrap_or(""))
            }
            (None, None) => "none".into(),
        }),
    };
    (got, detail, site_pages)
}

/// What the visitor loaded over plain HTTP into its HTTPS page, and what the proxy did to it.
fn mixed_content(o: &Evidence) -> Cell {
    let v = &o.visit;
    let mixed: Vec<&crate::lab::visitor::Step> = v.steps.iter().filter(|s| s.mixed && s.status.is_some()).collect();
    let rewritten = |url: &str| {
        o.injector
            .iter()
            .find(|i| {
                i.url.as_deref() == Some(url) && matches!(i.outcome, intruder::Act::Injected | intruder::Act::Replaced)
            })
            .map(|i| format!("; the intruder's proxy: {} {}", i.outcome, i.detail))
    };
    match mixed.first() {
        Some(_) => Cell::yes(
            mixed
                .iter()
                .map(|s| {
                    format!(
                        "loaded {} over plain HTTP into the HTTPS page: {} (sha256 {}){}",
                        crate::analysis::findings::mask_url(&s.url),
                        s.integrity.as_str(),
                        s.sha256.as_deref().map_or("none", |h| &h[..12.min(h.len())]),
                        rewritten(&s.url).unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
        ),
        None if !v.mixed_blocked.is_empty() => Cell::no(format!(
            "the visitor blocked the plain-HTTP {} (mixed content), as browsers do",
            crate::analysis::findings::mask_urls_in(&v.mixed_blocked.join(", "))
        )),
        None => Cell::no("no plain-HTTP resource in an HTTPS page"),
    }
}

/// Whether the download arrived other than its page said (its SHA-256).
fn download_swapped(v: &crate::lab::visitor::Visit) -> Cell {
    match &v.download {
        Some(d) if !d.matches => Cell::yes(format!(
            "{}: SHA-256 {} is not the {} its page printed; running it would have done: {}",
            crate::analysis::findings::mask_url(&d.url),
            d.sha256,
            d.expected_sha256,
            d.head.lines().find(|l| !l.starts_with('#')).unwrap_or("")
        )),
        Some(d) => Cell::no(format!(
            "{} arrived intact: SHA-256 {} as its page printed",
            crate::analysis::findings::mask_url(&d.url),
            d.sha256
        )),
        None => Cell::no("no download in this visit"),
    }
}

/// The first TLS handshake of the capture, from the sniffer's records: each step with its
/// packet, what crossed in clear, and what it means for the intruder.
fn handshake(events: &[Event]) -> Vec<super::HandshakeStep> {
    use super::HandshakeStep;
    let Some((ch_event, ch)) = events.iter().find_map(|e| match &e.record {
        Record::TlsClientHello(ch) if e.conn.is_some() => Some((e, ch)),
        _ => None,
    }) else {
        return Vec::new();
    };
    let conn = ch_event.conn;
    let on_conn = || events.iter().filter(move |e| e.conn == conn);
    let version = |v: &str| match v {
        "0x0304" => "1.3".to_string(),
        "0x0303" => "1.2".to_string(),
        other => other.to_string(),
    };
    let or_none = |v: &[String]| if v.is_empty() { "none".to_string() } else { v.join(", ") };
    let versions: Vec<String> = ch.supported_versions.iter().map(|v| version(v)).collect();
    let mut steps = vec![HandshakeStep {
        packet: ch_event.frame,
        what: "ClientHello".into(),
        clear: true,
        seen: format!(
            "server name {}; TLS versions {}; {} cipher suites; key shares {}; ALPN {}",
            ch.sni.as_deref().unwrap_or("(none)"),
            if versions.is_empty() { version(&ch.version) } else { versions.join(", ") },
            ch.cipher_suites,
            or_none(&ch.key_shares),
            or_none(&ch.alpn)
        ),
        meaning: "The visitor proposes how to talk (versions, ciphers) and sends its half of a key exchange. It travels in clear: the intruder reads which site is wanted (the server name) and fingerprints the client.".into(),
    }];
    let Some((sh_event, sh)) = on_conn().find_map(|e| match &e.record {
        Record::TlsServerHello(sh) => Some((e, sh)),
        _ => None,
    }) else {
        return steps;
    };
    let tls13 = sh.version == "TLS 1.3";
    steps.push(HandshakeStep {
        packet: sh_event.frame,
        what: "ServerHello".into(),
        clear: true,
        seen: format!("{} {}", sh.version, sh.cipher),
        meaning: "The server picks the version and cipher and sends its half of the key exchange. From the two halves, visitor and server compute the same secret keys; the intruder, who saw both halves, cannot (that is what Diffie-Hellman is for).".into(),
    });
    let traffic = on_conn().find_map(|e| match &e.record {
        Record::TlsTraffic(t) => Some(t),
        _ => None,
    });
    let first_down = traffic.and_then(|t| t.first_encrypted_to_client);
    let cert = on_conn().find_map(|e| match &e.record {
        Record::TlsCertificate(c) if c.position == 0 => Some((e, c)),
        _ => None,
    });
    match (cert, tls13) {
        (Some((e, c)), _) => steps.push(HandshakeStep {
            packet: e.frame,
            what: "Certificate".into(),
            clear: true,
            seen: format!("{}, issued by {}", c.subject, c.issuer),
            meaning: "The server proves who it is: its certificate, signed by an authority the visitor trusts (the chain of trust: site certificate, then the CA that signed it, then the visitor's trust in that CA). Before TLS 1.3 it travels in clear: the intruder reads who the site is, who vouched for it and until when.".into(),
        }),
        (None, true) => steps.push(HandshakeStep {
            packet: first_down.unwrap_or(sh_event.frame),
            what: "Certificate".into(),
            clear: false,
            seen: "encrypted (TLS 1.3)".into(),
            meaning: "In TLS 1.3 everything after the ServerHello is encrypted, the certificate included: the intruder does not see it. The visitor still checks it against the CAs it trusts; a forged one is refused here.".into(),
        }),
        (None, false) => {}
    }
    if let Some(t) = traffic
        && let Some(p) = [t.first_encrypted_to_server, t.first_encrypted_to_client].into_iter().flatten().min()
    {
        steps.push(HandshakeStep {
            packet: p,
            what: "encrypted records".into(),
            clear: false,
            seen: format!(
                "{} records / {} bytes to the server, {} records / {} bytes to the visitor",
                t.records_to_server, t.bytes_to_server, t.records_to_client, t.bytes_to_client
            ),
            meaning: "The rest of the handshake and then the page, the cookies and the password travel here, encrypted and authenticated: the intruder sees only how many records, how big, and when.".into(),
        });
    }
    steps
}

/// One of the injector's outcome lines (written with `--reveal`) as the report shows it:
/// its URL and the secrets it learned masked unless `reveal`.
fn shown_outcome(i: &intruder::Interception, reveal: bool) -> intruder::Interception {
    use crate::analysis::findings::{mask, mask_url, mask_urls_in};
    let mut i = i.clone();
    if reveal {
        return i;
    }
    i.url = i.url.as_deref().map(mask_url);
    for l in &mut i.learned {
        l.secret = l.secret.as_deref().map(mask);
        l.summary = mask_urls_in(&l.summary);
    }
    i
}

/// Compares every row with the scenario's expectation.
pub(super) fn check(o: &mut ScenarioResult) {
    let e = &o.expected;
    let mut bad = Vec::new();
    for ((_, label, _, got), (_, _, _, want)) in o.intruder.rows().into_iter().zip(e.intruder.rows()) {
        if got.yes != *want {
            bad.push(format!("{label}: expected {}, got {} ({})", yn(*want), yn(got.yes), got.evidence));
        }
    }
    if o.visitor != e.visitor {
        bad.push(format!(
            "visitor got: expected {}, got {} ({})",
            e.visitor.as_str(),
            o.visitor.as_str(),
            o.visitor_detail
        ));
    }
    if o.site_pages.yes != e.site_pages {
        bad.push(format!(
            "site's pages arrived: expected {}, got {} ({})",
            yn(e.site_pages),
            yn(o.site_pages.yes),
            o.site_pages.evidence
        ));
    }
    if o.mixed_content.yes != e.mixed_content {
        bad.push(format!(
            "mixed content in the HTTPS page: expected {}, got {} ({})",
            yn(e.mixed_content),
            yn(o.mixed_content.yes),
            o.mixed_content.evidence
        ));
    }
    if o.download_swapped.yes != e.download_swapped {
        bad.push(format!(
            "download swapped: expected {}, got {} ({})",
            yn(e.download_swapped),
            yn(o.download_swapped.yes),
            o.download_swapped.evidence
        ));
    }
    if o.replay.state != e.replay {
        bad.push(format!(
            "stolen cookie replayed: expected {}, got {} ({})",
            e.replay.as_str(),
            o.replay.state.as_str(),
            o.replay.evidence
        ));
    }
    o.as_expected = bad.is_empty();
    o.mismatches = bad;
}

fn yn(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::dissect::http::FieldSource;
    use crate::analysis::findings::About;

    /// The sample session's evidence: a login with a password and cookies, pages, DNS, a
    /// TLS handshake; and a password the proxy read itself.
    fn sample() -> Evidence {
        let written = crate::analysis::report::read::tests::sample();
        let events: Vec<Event> = written.into_iter().map(|(e, _)| e).collect();
        let findings = events.iter().flat_map(crate::analysis::findings::from_event).collect();
        let learned = vec![Learned {
            class: Class::Credential,
            about: About::FormField { name: "password".into(), source: FieldSource::Form },
            summary: "form field \"password\" in POST /login".into(),
            secret: Some("from the proxy".into()),
        }];
        Evidence { events, findings, learned, injector: Vec::new(), visit: Default::default(), guessed: None }
    }

    fn verdicts(o: &ScenarioResult) -> Vec<(String, bool)> {
        let mut v: Vec<(String, bool)> =
            o.intruder.rows().iter().map(|(key, _, _, cell)| (key.to_string(), cell.yes)).collect();
        v.push(("site_pages".into(), o.site_pages.yes));
        v.push((format!("visitor {}", o.visitor.as_str()), true));
        v.push(("key_secret".into(), o.key_secret.is_some()));
        v.push(("handshake".into(), !o.handshake.is_empty()));
        v
    }

    /// Every finding's sentence reworded, the proxy's too: every verdict stays.
    #[test]
    fn rewording_every_finding_changes_no_verdict() {
        let mut ev = sample();
        let dir = Path::new("/nonexistent");
        let before = observe(Scenario::Http, dir, &ev, false);
        let yes: Vec<&str> =
            before.intruder.rows().iter().filter(|(_, _, _, c)| c.yes).map(|(key, _, _, _)| *key).collect();
        for key in ["password", "session_cookie", "page_contents", "dns_name", "tls_server_name", "addresses"] {
            assert!(yes.contains(&key), "{key} should be a yes in the sample: {yes:?}");
        }
        assert!(!yes.contains(&"sensitive_article"), "{yes:?}");
        for (i, f) in ev.findings.iter_mut().enumerate() {
            f.summary = format!("sentence {i}, reworded");
            f.clear_summary = None;
        }
        for l in &mut ev.learned {
            l.summary = "reworded".into();
        }
        let after = observe(Scenario::Http, dir, &ev, false);
        assert_eq!(verdicts(&before), verdicts(&after));
        // And the proxy's reading alone still counts, by its kind.
        ev.findings.retain(|f| !evidence::is_password(f.class, &f.about));
        let proxy_only = observe(Scenario::Http, dir, &ev, false);
        assert!(proxy_only.intruder.password.yes, "{}", proxy_only.intruder.password.evidence);
        assert!(proxy_only.intruder.password.evidence.contains("proxy"));
    }
}

//! `plainsight demo`: the same visit, scenario after scenario, while the intruder sniffs
//! and attacks; then a side-by-side table, `summary.json` and a self-contained
//! `report.html`.
//!
//! Every role is its own process in its own host: the site (site host), the sniffer and
//! the injector (intruder), captures at the visitor and the site, and the visitor. So
//! everything that crosses between hosts is real traffic. The demo is also a self-check:
//! each scenario has an expected outcome and a mismatch makes it exit non-zero.

pub mod hosts;
pub mod report;
pub mod scenario;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;

use crate::analysis::findings::{Class, Finding};
use crate::lab::{Host, Lab, proc};
use crate::lab::site::content;
pub use hosts::Hosts;
use scenario::{Attack, Expect, Got, Leaks, ReplayState, Scenario};

/// Checked options of the demo.
#[derive(Debug, Clone)]
pub struct Options {
    pub scenarios: Vec<Scenario>,
    pub out: PathBuf,
    pub step: bool,
    pub quiet: bool,
    /// Leave the lab up afterwards, its site back in the default state of `lab up`.
    pub keep_lab: bool,
    /// Also run Debian's Chromium (headless) in the visitor host: screenshots, the
    /// error it reports, and which powerful features the page gets (secure context).
    pub browser: bool,
    /// Show the secrets (password, cookie) in the table's evidence and the report.
    pub reveal: bool,
    /// Set by Ctrl-C: the scenario under way stops, everything started is stopped.
    pub stop: &'static std::sync::atomic::AtomicBool,
}

/// A yes/no with its evidence.
#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct Cell {
    pub yes: bool,
    pub evidence: String,
}

impl Cell {
    fn yes(evidence: impl Into<String>) -> Cell {
        Cell { yes: true, evidence: evidence.into() }
    }
    fn no(evidence: impl Into<String>) -> Cell {
        Cell { yes: false, evidence: evidence.into() }
    }
}

/// The stolen cookie, replayed.
#[derive(Debug, Clone, Serialize)]
pub struct Replay {
    pub state: ReplayState,
    pub evidence: String,
}

/// The one secret that matters most in a scenario (the password), as the intruder got it.
#[derive(Debug, Clone, Serialize)]
pub struct KeySecret {
    /// What it is and where it was read ("form field \"password\" in POST /login").
    pub what: String,
    /// The value, masked unless `--reveal`.
    pub shown: String,
    /// The packet of the intruder's capture that carried it, when the sniffer read it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packet: Option<u64>,
    /// Who read it: the sniffer on the gateway, or the intruder's proxy or collector.
    pub read_by: String,
}

/// What one scenario showed.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub scenario: String,
    pub title: String,
    /// What the intruder learned, row by row.
    pub intruder: Leaks<Cell>,
    /// What the visitor got: intact, modified, forged (not the site's page) or refused.
    pub visitor: Got,
    pub visitor_detail: String,
    /// Whether the site's own pages reached the visitor at all (availability).
    pub site_pages: Cell,
    pub replay: Replay,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_secret: Option<KeySecret>,
    pub expected: Expect,
    pub as_expected: bool,
    pub mismatches: Vec<String>,
    pub dir: String,
    pub injector: Vec<serde_json::Value>,
    /// `plainsight compare site.pcapng visitor.pcapng`, and the visitor's own check.
    pub compare: String,
    /// What Chromium showed, with `--browser chromium`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub browser: Option<Browser>,
}

/// Chromium's view of the start page.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Browser {
    /// The page loaded (a screenshot was taken).
    pub loaded: bool,
    /// The network error Chromium reported, e.g. net::ERR_CERT_AUTHORITY_INVALID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The page's own report: "Secure context: yes | powerful features offered: ...".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secure_context: Option<String>,
    pub ad_visible: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub screenshot: Option<String>,
}

/// The whole run, as `summary.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub generated: String,
    pub lab: String,
    pub scenarios: Vec<Outcome>,
    pub all_as_expected: bool,
    pub seconds: f64,
    /// Whether secrets are shown in clear (`--reveal`).
    pub revealed: bool,
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Prints the new complete lines of the files `tails` follows, prefixed, until `done`.
fn follow(files: &[(PathBuf, &'static str)], done: &std::sync::atomic::AtomicBool, reveal: bool) {
    use std::sync::atomic::Ordering;
    let mut read = vec![0usize; files.len()];
    loop {
        let last = done.load(Ordering::SeqCst);
        for (i, (path, who)) in files.iter().enumerate() {
            let Ok(text) = std::fs::read_to_string(path) else { continue };
            let Some(end) = text.rfind('\n').map(|e| e + 1) else { continue };
            if end <= read[i] {
                continue;
            }
            for line in text[read[i]..end].lines() {
                if let Some(l) = live_line(line, who, reveal) {
                    eprintln!("{}", report::clip_line(&l, 120));
                }
            }
            read[i] = end;
        }
        if last {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A line of a role's output as `--step` shows it: the visitor's steps, and the intruder's
/// findings that matter (secrets masked unless `reveal`).
fn live_line(line: &str, who: &str, reveal: bool) -> Option<String> {
    if who == "visitor" {
        return Some(format!("  visitor  {}", line.trim_start()));
    }
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    if v["type"] != "finding" {
        return None;
    }
    let f: Finding = serde_json::from_value(v).ok()?;
    matches!(f.class, Class::Credential | Class::SessionCookie | Class::Url | Class::ServerName | Class::DnsName)
        .then(|| format!("  intruder [packet {}] {}", f.frame, f.clone().remasked().line(reveal)))
}

/// Runs one scenario in the (already built) lab.
fn run_scenario(hosts: &Hosts, sc: Scenario, dir: &Path, opts: &Options) -> anyhow::Result<Outcome> {
    std::fs::create_dir_all(dir)?;
    let lab = hosts.lab();
    let plan = sc.plan();
    hosts.restart_site(&strings(&plan.site_flags))?;
    let l = lab.name.clone();
    let mut roles = Vec::new();
    // Each role says when it is ready by creating its ready file; every one started is
    // stopped when its handle is dropped, also when an error ends the scenario early.
    let ready = |role: &str| {
        let p = dir.join(format!(".ready-{role}"));
        let _ = std::fs::remove_file(&p);
        p
    };
    let wait = |what: &str, p: &Path| proc::wait_ready(what, Duration::from_secs(20), opts.stop, || p.exists());
    for (host, file, out) in [(Host::Intruder, "intruder.pcapng", "findings.jsonl"), (Host::Visitor, "visitor.pcapng", "visitor-findings.jsonl"), (Host::Site, "site.pcapng", "site-findings.jsonl")] {
        let r = ready(&format!("sniff-{}", host.as_str()));
        let mut v = strings(&["plainsight", "sniff", "--lab", &l, "--host", host.as_str(), "--format", "jsonl", "--reveal", "--ready-file"]);
        v.push(r.display().to_string());
        v.push("-w".into());
        v.push(dir.join(file).display().to_string());
        if host != Host::Intruder {
            v.extend(strings(&["-i", "eth0"]));
        }
        let err = dir.join(format!("sniff-{}.log", host.as_str()));
        roles.push(hosts.start(host, &v, &dir.join(out), &err)?);
        wait(&format!("the sniffer on {}", host.as_str()), &r)?;
    }
    let r = ready("inject");
    let mut a = strings(&["plainsight", "inject", "--lab", &l, "--reveal", "--ready-file"]);
    a.push(r.display().to_string());
    a.extend(plan.attack.inject_args());
    let host = if plan.attack == Attack::Race { Lab::race_host() } else { Host::Intruder };
    let injector = hosts.start(host, &a, &dir.join("injector.jsonl"), &dir.join("injector.log"))?;
    wait("the injector", &r)?;
    // The visitor, followed live with --step.
    let mut v = strings(&["plainsight", "visit", "--lab", &l, "--json"]);
    v.push(dir.join("visitor.json").display().to_string());
    v.extend(strings(&["--save"]));
    v.push(dir.join("pages").display().to_string());
    v.extend(plan.visitor_flags.iter().map(|f| f.replace("{state}", &lab.state_dir().display().to_string())));
    v.push(plan.start.to_string());
    let done = std::sync::atomic::AtomicBool::new(false);
    let visited = std::thread::scope(|scope| {
        if opts.step {
            let files = [(dir.join("visitor.log"), "visitor"), (dir.join("findings.jsonl"), "intruder")];
            let done = &done;
            scope.spawn(move || follow(&files, done, opts.reveal));
        }
        let r = hosts.run(Host::Visitor, &v, &dir.join("visitor.log"), &dir.join("visitor-errors.log"), Duration::from_secs(60), opts.stop);
        // Let the last packets reach the sniffers before the follower's last look.
        std::thread::sleep(Duration::from_millis(300));
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        r
    });
    visited?;
    let chromium = if opts.browser { Some(chromium(lab, &plan, dir)?) } else { None };
    hosts.stop(injector);
    for r in roles {
        hosts.stop(r);
    }
    // A race leaves connections whose two ends disagree, retransmitting for seconds: end
    // them, so the next scenario's captures hold only its own traffic.
    let null = Path::new("/dev/null");
    for host in [Host::Visitor, Host::Site] {
        hosts.run(host, &strings(&["ss", "-K", "-tn", "state", "connected"]), null, null, Duration::from_secs(10), opts.stop)?;
    }
    let seen = Observed::read(dir)?;
    let mut outcome = observe(sc, dir, &seen, opts.reveal);
    outcome.replay = replay(hosts, &seen, dir, opts.stop)?;
    outcome.browser = chromium;
    let compared = crate::analysis::compare::compare(&dir.join("site.pcapng"), &dir.join("visitor.pcapng")).unwrap_or_else(|e| format!("comparison failed: {e:#}\n"));
    outcome.compare = format!("{compared}{}", visitor_check(&seen.visit));
    std::fs::write(dir.join("compare.txt"), &outcome.compare)?;
    check(&mut outcome);
    Ok(outcome)
}

/// The visitor's own check of what it received, against the site's manifest.
fn visitor_check(v: &crate::lab::visitor::Visit) -> String {
    let mut out = String::from("The visitor's own check against the site's SHA-256 manifest:\n");
    for st in v.steps.iter().filter(|s| s.status.is_some() || s.error.is_some()) {
        let verdict = match (&st.error, st.integrity.as_str(), st.site_page) {
            (Some(e), _, _) => format!("no page: {e}"),
            (None, "intact", _) => "intact".into(),
            (None, "modified", true) => format!("the site's page, modified{}", if st.ad { " (the injected ad is in it)" } else { "" }),
            (None, "modified", false) => format!("NOT the site's page: {:?} arrived instead", st.title.as_deref().unwrap_or("untitled")),
            _ => "not in the manifest".into(),
        };
        out += &format!("  {} {} -> {verdict}\n", st.method, crate::analysis::findings::mask_url(&st.url));
    }
    out
}

/// What the roles recorded for one scenario, read back.
struct Observed {
    /// Every event line of the intruder's sniffer (findings included).
    events: Vec<serde_json::Value>,
    /// Its findings, typed (written with `--reveal`: secrets in clear).
    findings: Vec<Finding>,
    /// What the intruder's proxy or collector read itself: (class, summary, secret).
    learned: Vec<(Class, String, Option<String>)>,
    injector: Vec<serde_json::Value>,
    visit: crate::lab::visitor::Visit,
}

impl Observed {
    fn read(dir: &Path) -> anyhow::Result<Observed> {
        let events = read_jsonl(&dir.join("findings.jsonl"));
        let findings = events.iter().filter(|e| e["type"] == "finding").filter_map(|e| serde_json::from_value::<Finding>(e.clone()).ok()).map(Finding::remasked).collect();
        let injector = read_jsonl(&dir.join("injector.jsonl"));
        let learned = injector
            .iter()
            .flat_map(|o| o["learned"].as_array().into_iter().flatten())
            .filter_map(|l| Some((serde_json::from_value::<Class>(l["class"].clone()).ok()?, l["summary"].as_str()?.to_string(), l["secret"].as_str().map(str::to_string))))
            .collect();
        let visit = serde_json::from_slice(&std::fs::read(dir.join("visitor.json")).context("the visitor wrote no result")?)?;
        Ok(Observed { events, findings, learned, injector, visit })
    }
}

fn read_jsonl(p: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(p).unwrap_or_default().lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

/// Fills the table's rows from what the roles recorded; every cell cites its evidence.
fn observe(sc: Scenario, dir: &Path, o: &Observed, reveal: bool) -> Outcome {
    let first = |pred: &dyn Fn(&Finding) -> bool| o.findings.iter().find(|f| pred(f));
    let proxied = |pred: &dyn Fn(Class, &str) -> bool| o.learned.iter().find(|(c, s, _)| pred(*c, s));
    let evidence = |f: &Finding| format!("packet {}: {}", f.frame, f.line(reveal));
    let shown_secret = |s: &Option<String>| s.as_deref().map(|s| if reveal { s.to_string() } else { crate::analysis::findings::mask(s) });
    let proxy_evidence = |(_, summary, secret): &(Class, String, Option<String>)| {
        let summary = if reveal { summary.clone() } else { crate::analysis::findings::mask_urls_in(summary) };
        match shown_secret(secret) {
            Some(s) => format!("read by the intruder's proxy: {summary}: {s}"),
            None => format!("read by the intruder's proxy: {summary}"),
        }
    };
    let cell = |pred: &dyn Fn(Class, &str) -> bool, none: &str| match (first(&|f| pred(f.class, &f.summary)), proxied(pred)) {
        (Some(f), _) => Cell::yes(evidence(f)),
        (None, Some(p)) => Cell::yes(proxy_evidence(p)),
        (None, None) => Cell::no(none),
    };
    let is_pw = |c: Class, s: &str| c == Class::Credential && s.contains("\"password\"");
    let is_cookie = |c: Class, s: &str| c == Class::SessionCookie && s.contains("session");
    let is_article = |c: Class, s: &str| c == Class::Url && s.contains(content::SENSITIVE_ARTICLE);
    let encrypted = "no: only encrypted bytes crossed the gateway";
    let password = cell(&is_pw, if o.visit.steps.iter().any(|s| s.action == "log in" && s.skipped.is_none()) { encrypted } else { "no: the visitor never typed it (no sign-in form reached it)" });
    let key_secret = match (first(&|f| is_pw(f.class, &f.summary)), proxied(&is_pw)) {
        (Some(f), _) => Some(KeySecret { what: f.summary.clone(), shown: shown_secret(&f.secret).unwrap_or_default(), packet: Some(f.frame), read_by: "the sniffer on the gateway".into() }),
        (None, Some((_, s, secret))) => Some(KeySecret { what: crate::analysis::findings::mask_urls_in(s), shown: shown_secret(secret).unwrap_or_default(), packet: None, read_by: "the intruder's proxy (injector.jsonl)".into() }),
        _ => None,
    };
    let article = cell(&is_article, "no: the URL never crossed the gateway in clear");
    let title = first(&|f| f.class == Class::PageContent && f.summary.contains(content::SENSITIVE_TITLE));
    let sensitive_article = match (article.yes, title) {
        (true, Some(t)) => Cell::yes(format!("{}; {}", article.evidence, evidence(t))),
        _ => article,
    };
    // The site's answers, not the page a racing guest forged (which the gateway also sees).
    let site_answer = |f: &&Finding| f.class == Class::PageContent && f.src == f.server && !f.summary.contains(crate::lab::intruder::race::FORGED_TITLE);
    let pages: Vec<&Finding> = o.findings.iter().filter(site_answer).collect();
    let proxy_pages = o.injector.iter().filter(|i| i["kind"] == "http" && i["bytes_to_client"].as_u64().unwrap_or(0) > 0).count();
    let page_contents = match pages.first() {
        Some(f) => Cell::yes(format!("{} of the site's responses readable, e.g. {}", pages.len(), evidence(f))),
        None if proxy_pages > 0 => Cell::yes(format!("the intruder's proxy relayed {proxy_pages} responses it decrypted (injector.jsonl)")),
        None => Cell::no("no: the site's answers crossed the gateway encrypted"),
    };
    let dns_name = match first(&|f| f.class == Class::DnsName) {
        Some(f) => Cell::yes(evidence(f)),
        None => Cell::no("no DNS seen"),
    };
    let tls_server_name = match first(&|f| f.class == Class::ServerName) {
        Some(f) => Cell::yes(evidence(f)),
        None => Cell::no("no TLS crossed the gateway (plain HTTP: the Host header says it anyway)"),
    };
    let s = |e: &serde_json::Value, k: &str| e[k].as_str().unwrap_or("").to_string();
    let addrs: std::collections::BTreeSet<String> = o.events.iter().filter(|e| e["type"] != "finding" && e["src"].is_string()).flat_map(|e| [s(e, "src"), s(e, "dst")]).map(|a| a.rsplit_once(':').map(|x| x.0.to_string()).unwrap_or(a)).collect();
    let addresses = if addrs.is_empty() { Cell::no("none") } else { Cell::yes(addrs.into_iter().collect::<Vec<_>>().join(", ")) };
    let http_reqs = o.events.iter().filter(|e| e["type"] == "http_request").count();
    let tls: Vec<&serde_json::Value> = o.events.iter().filter(|e| e["type"] == "tls_traffic").collect();
    let requests_and_sizes = if http_reqs > 0 {
        Cell::yes(format!("{http_reqs} HTTP requests, each with its size"))
    } else if !tls.is_empty() {
        let up: u64 = tls.iter().map(|t| t["records_to_server"].as_u64().unwrap_or(0)).sum();
        let down: u64 = tls.iter().map(|t| t["bytes_to_client"].as_u64().unwrap_or(0)).sum();
        Cell::yes(format!("{} TLS connections, {up} encrypted records up, {down} bytes down", tls.len()))
    } else {
        Cell::no("nothing")
    };
    let intruder = Leaks { password, session_cookie: cell(&is_cookie, "no"), sensitive_article, page_contents, dns_name, tls_server_name, addresses, requests_and_sizes };

    // What reached the visitor.
    let v = &o.visit;
    let answered: Vec<&crate::lab::visitor::Step> = v.steps.iter().filter(|s| s.status.is_some()).collect();
    let site: Vec<&crate::lab::visitor::Step> = answered.iter().copied().filter(|s| s.site_page).collect();
    let foreign: Vec<&crate::lab::visitor::Step> = answered.iter().copied().filter(|s| s.integrity == "modified" && !s.site_page).collect();
    let error = v.steps.iter().find_map(|s| s.error.clone().map(|e| (e, s.url.starts_with("https://"))));
    let (got, detail) = if site.is_empty() && !foreign.is_empty() {
        let t = foreign[0].title.clone().unwrap_or_else(|| "an untitled page".into());
        (Got::Forged, format!("{} page(s) arrived, none of them the site's: {t:?} took their place (SHA-256 and title differ from the manifest)", foreign.len()))
    } else if v.modified > 0 {
        let ad = v.steps.iter().any(|s| s.ad);
        (Got::Modified, format!("{} responses differ from the site's manifest{}", v.modified, if ad { ", the injected ad is in the page" } else { "" }))
    } else if let Some((e, tls)) = error.as_ref().filter(|_| site.is_empty()) {
        let why = if *tls { ". No page arrived: the attacker could break the connection, but neither read nor change it" } else { ". No page arrived" };
        (Got::Refused, format!("{e}{why}"))
    } else if v.all_intact {
        let n = v.steps.iter().filter(|s| s.integrity == "intact").count();
        (Got::Intact, format!("{n} responses match the site's SHA-256 manifest"))
    } else {
        (Got::Unknown, "no response could be checked".to_string())
    };
    let site_pages = match site.first() {
        Some(st) => Cell::yes(format!("{} of the site's pages arrived, e.g. {} {} ({})", site.len(), st.method, crate::analysis::findings::mask_url(&st.url), st.integrity)),
        None => Cell::no(match (&error, foreign.first()) {
            (Some((e, _)), _) => format!("none: {e}"),
            (None, Some(f)) => format!("none: the attacker's page {:?} arrived instead", f.title.as_deref().unwrap_or("")),
            (None, None) => "none".into(),
        }),
    };
    Outcome {
        scenario: sc.name().into(),
        title: sc.title().into(),
        intruder,
        visitor: got,
        visitor_detail: detail,
        site_pages,
        replay: Replay { state: ReplayState::NotTried, evidence: String::new() },
        key_secret,
        expected: sc.plan().expect,
        as_expected: false,
        mismatches: Vec::new(),
        dir: dir.display().to_string(),
        injector: o.injector.iter().map(|i| shown_outcome(i, reveal)).collect(),
        compare: String::new(),
        browser: None,
    }
}

/// SHA-256 of the site certificate's public key, base64: Chromium trusts the lab site by
/// this pin only, so a certificate forged by another CA is still refused.
fn site_spki(lab: &Lab) -> anyhow::Result<String> {
    use base64::Engine;
    use rustls_pki_types::pem::PemObject;
    use sha2::Digest;
    let der = rustls_pki_types::CertificateDer::from_pem_file(lab.state_dir().join("site.pem")).map_err(|e| anyhow::anyhow!("site.pem: {e}"))?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).map_err(|e| anyhow::anyhow!("site.pem: {e}"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(cert.public_key().raw)))
}

/// Runs headless Chromium in the visitor host on the scenario's start page.
fn chromium(lab: &Lab, plan: &scenario::Plan, dir: &Path) -> anyhow::Result<Browser> {
    let url = if plan.start.contains("://") { plan.start.to_string() } else { format!("http://{}/", plan.start) };
    let profile = dir.join("chromium-profile");
    let spki = site_spki(lab)?;
    let run = |extra: &str| -> anyhow::Result<std::process::Output> {
        Command::new("ip")
            .args(["netns", "exec", &lab.ns(Host::Visitor), "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1280,800", "--virtual-time-budget=3000"])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("--ignore-certificate-errors-spki-list={spki}"))
            .arg(extra)
            .arg(&url)
            .stdin(Stdio::null())
            .output()
            .context("running chromium (apt-get install chromium)")
    };
    let png = dir.join("browser.png");
    let shot = run(&format!("--screenshot={}", png.display()))?;
    let dom = run("--dump-dom")?;
    let dom_text = String::from_utf8_lossy(&dom.stdout).into_owned();
    std::fs::write(dir.join("browser-dom.html"), &dom_text)?;
    let stderr = format!("{}{}", String::from_utf8_lossy(&shot.stderr), String::from_utf8_lossy(&dom.stderr));
    let error = stderr.split(|c: char| c.is_whitespace() || c == '(' || c == ')').find(|w| w.starts_with("net::ERR_")).map(str::to_string);
    let secure_context = dom_text.find("Secure context:").map(|i| {
        let rest = &dom_text[i..];
        rest[..rest.find('<').unwrap_or(rest.len())].trim().to_string()
    });
    let loaded = error.is_none() && png.metadata().is_ok_and(|m| m.len() > 0);
    let _ = std::fs::remove_dir_all(&profile);
    Ok(Browser { loaded, error, secure_context, ad_visible: dom_text.contains("plainsight-ad"), screenshot: loaded.then(|| png.display().to_string()) })
}

/// One of the injector's outcome lines (written with `--reveal`) as the report shows it:
/// its URL and the secrets it learned masked unless `reveal`.
fn shown_outcome(i: &serde_json::Value, reveal: bool) -> serde_json::Value {
    let mut i = i.clone();
    if reveal {
        return i;
    }
    if let Some(u) = i["url"].as_str().map(crate::analysis::findings::mask_url) {
        i["url"] = u.into();
    }
    for l in i["learned"].as_array_mut().into_iter().flatten() {
        if let Some(s) = l["secret"].as_str().map(crate::analysis::findings::mask) {
            l["secret"] = s.into();
        }
        if let Some(s) = l["summary"].as_str().map(crate::analysis::findings::mask_urls_in) {
            l["summary"] = s.into();
        }
    }
    i
}

/// The intruder replays the stolen session cookie, if it has one, and opens the account.
fn replay(hosts: &Hosts, o: &Observed, dir: &Path, stop: &std::sync::atomic::AtomicBool) -> anyhow::Result<Replay> {
    let is_session = |c: Class, s: &str| c == Class::SessionCookie && (s.starts_with("Set-Cookie session") || s.starts_with("cookie session"));
    let cookie = o
        .findings
        .iter()
        .find(|f| is_session(f.class, &f.summary))
        .and_then(|f| f.secret.clone())
        .or_else(|| o.learned.iter().find(|(c, s, _)| is_session(*c, s)).and_then(|(_, _, secret)| secret.clone()));
    let Some(cookie) = cookie else {
        return Ok(if o.visit.session {
            Replay { state: ReplayState::NotPossible, evidence: "the visitor holds a session cookie, but the intruder never saw it: it travelled encrypted".into() }
        } else {
            Replay { state: ReplayState::NotTried, evidence: "the visitor never got a session from the site: there was nothing to steal".into() }
        });
    };
    let lab = hosts.lab();
    let site = crate::lab::SITE;
    // Both schemes, each asked directly: curl drops a custom Cookie header on a redirect
    // that changes scheme or port, as a browser would not send a cookie it never had.
    for url in ["http://clinic.test/account", "https://clinic.test/account"] {
        let argv = strings(&["curl", "-s", "--max-time", "5", "--cacert", &lab.ca_pem().display().to_string(), "--resolve", &format!("clinic.test:80:{site}"), "--resolve", &format!("clinic.test:443:{site}"), "-H", &format!("Cookie: session={cookie}"), url]);
        hosts.run(Host::Intruder, &argv, &dir.join("replay.html"), &dir.join("replay-errors.log"), Duration::from_secs(10), stop).context("running curl in the intruder host")?;
        let page = std::fs::read_to_string(dir.join("replay.html")).unwrap_or_default();
        if page.contains(content::FULL_NAME) {
            return Ok(Replay { state: ReplayState::AccountRead, evidence: format!("the intruder sent the stolen cookie from its own host to {url} and read the account page: {}, {} (replay.html)", content::FULL_NAME, content::DIAGNOSIS) });
        }
    }
    Ok(Replay { state: ReplayState::Failed, evidence: "the intruder sent the stolen cookie over http and https; the site opened no account (replay.html)".into() })
}

/// Compares every row with the scenario's expectation.
fn check(o: &mut Outcome) {
    let e = &o.expected;
    let mut bad = Vec::new();
    for ((_, label, _, got), (_, _, _, want)) in o.intruder.rows().into_iter().zip(e.intruder.rows()) {
        if got.yes != *want {
            bad.push(format!("{label}: expected {}, got {} ({})", yn(*want), yn(got.yes), got.evidence));
        }
    }
    if o.visitor != e.visitor {
        bad.push(format!("visitor got: expected {}, got {} ({})", e.visitor.as_str(), o.visitor.as_str(), o.visitor_detail));
    }
    if o.site_pages.yes != e.site_pages {
        bad.push(format!("site's pages arrived: expected {}, got {} ({})", yn(e.site_pages), yn(o.site_pages.yes), o.site_pages.evidence));
    }
    if o.replay.state != e.replay {
        bad.push(format!("stolen cookie replayed: expected {}, got {} ({})", e.replay.as_str(), o.replay.state.as_str(), o.replay.evidence));
    }
    o.as_expected = bad.is_empty();
    o.mismatches = bad;
}

fn yn(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// Runs the demo; returns the summary (also written to `out`).
pub fn run(opts: &Options, hosts: &Hosts) -> anyhow::Result<Summary> {
    let t0 = Instant::now();
    let lab = hosts.lab();
    if opts.browser && matches!(hosts, Hosts::Containers { .. }) {
        anyhow::bail!("--browser needs the namespace lab: the lab's image carries no browser");
    }
    std::fs::create_dir_all(&opts.out).with_context(|| format!("creating {}", opts.out.display()))?;
    if !opts.quiet {
        eprintln!("demo: building lab {} ...", lab.name);
    }
    hosts.up()?;
    let mut outcomes = Vec::new();
    let result = (|| -> anyhow::Result<()> {
        for (i, sc) in opts.scenarios.iter().enumerate() {
            if opts.step {
                eprintln!("\n== {} ({}/{})\n{}\n[Enter to run it]", sc.title(), i + 1, opts.scenarios.len(), report::wrap(sc.explain(), 100));
                let mut line = String::new();
                let _ = std::io::stdin().read_line(&mut line);
            } else if !opts.quiet {
                eprintln!("demo: [{}/{}] {} ...", i + 1, opts.scenarios.len(), sc.title());
            }
            if opts.stop.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(proc::Interrupted.into());
            }
            let o = run_scenario(hosts, *sc, &opts.out.join(sc.name()), opts)?;
            if opts.step {
                eprintln!("{}", report::verdict(&o));
            }
            outcomes.push(o);
        }
        Ok(())
    })();
    if opts.keep_lab {
        hosts.restart_site(&[])?;
    } else {
        hosts.down();
    }
    result?;
    let summary = Summary {
        generated: report::timestamp(),
        lab: lab.name.clone(),
        all_as_expected: outcomes.iter().all(|o| o.as_expected),
        scenarios: outcomes,
        seconds: t0.elapsed().as_secs_f64(),
        revealed: opts.reveal,
    };
    std::fs::write(opts.out.join("summary.json"), serde_json::to_vec_pretty(&summary)?)?;
    std::fs::write(opts.out.join("report.html"), report::html(&summary))?;
    Ok(summary)
}

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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;

use crate::lab::{Host, Lab};
pub use hosts::Hosts;
use crate::site::content;
use scenario::{Expect, Scenario};

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

/// What one scenario showed.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Outcome {
    pub scenario: String,
    pub title: String,
    /// Rows of the intruder's view, by name (password, session_cookie, ...).
    pub intruder: BTreeMap<String, Cell>,
    /// What the visitor got: intact, modified (with the ad), or refused (the error).
    pub visitor: String,
    pub visitor_detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay: Option<Cell>,
    pub expected: Expect,
    pub as_expected: bool,
    pub mismatches: Vec<String>,
    pub dir: String,
    pub injector: Vec<serde_json::Value>,
    /// `plainsight compare site.pcapng visitor.pcapng`.
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
}

fn wait_for(what: &str, mut ready: impl FnMut() -> bool) -> anyhow::Result<()> {
    let start = Instant::now();
    while !ready() {
        if start.elapsed() > Duration::from_secs(10) {
            anyhow::bail!("{what} did not start");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

fn file_contains(p: &Path, s: &str) -> bool {
    std::fs::read_to_string(p).is_ok_and(|t| t.contains(s))
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Runs one scenario in the (already built) lab.
fn run_scenario(hosts: &Hosts, sc: Scenario, dir: &Path, browser: bool) -> anyhow::Result<Outcome> {
    std::fs::create_dir_all(dir)?;
    let lab = hosts.lab();
    let plan = sc.plan();
    hosts.restart_site(&strings(&plan.site_flags))?;
    let l = lab.name.clone();
    let mut roles = Vec::new();
    for (host, file, out) in [(Host::Intruder, "intruder.pcapng", "findings.jsonl"), (Host::Visitor, "visitor.pcapng", "visitor-findings.jsonl"), (Host::Site, "site.pcapng", "site-findings.jsonl")] {
        let mut v = strings(&["plainsight", "sniff", "--lab", &l, "--host", host.as_str(), "--format", "jsonl", "--reveal", "-w"]);
        v.push(dir.join(file).display().to_string());
        if host != Host::Intruder {
            v.extend(strings(&["-i", "eth0"]));
        }
        let err = dir.join(format!("sniff-{}.log", host.as_str()));
        roles.push(hosts.start(host, &v, &dir.join(out), &err)?);
        wait_for(&format!("the sniffer on {}", host.as_str()), || std::fs::metadata(dir.join(file)).is_ok_and(|m| m.len() > 0))?;
    }
    let mut injector = None;
    if let Some(args) = &plan.inject {
        let mut a = strings(&["plainsight", "inject", "--lab", &l]);
        a.extend(strings(args));
        let log = dir.join("injector.log");
        let host = if plan.race { Lab::race_host() } else { Host::Intruder };
        injector = Some(hosts.start(host, &a, &dir.join("injector.jsonl"), &log)?);
        wait_for("the injector", || file_contains(&log, "intercepting") || file_contains(&log, "racing"))?;
    }
    // The visitor.
    let mut v = strings(&["plainsight", "visit", "--lab", &l, "--json"]);
    v.push(dir.join("visitor.json").display().to_string());
    v.extend(strings(&["--save"]));
    v.push(dir.join("pages").display().to_string());
    v.extend(plan.visitor_flags.iter().map(|f| f.replace("{state}", &lab.state_dir().display().to_string())));
    v.push(plan.start.to_string());
    hosts.run(Host::Visitor, &v, &dir.join("visitor.log"), &dir.join("visitor-errors.log"), Duration::from_secs(60))?;
    let chromium = if browser { Some(chromium(lab, &plan, dir)?) } else { None };
    // Let the last packets reach the sniffers, then stop everything.
    std::thread::sleep(Duration::from_millis(300));
    if let Some(i) = injector {
        hosts.stop(i);
    }
    for r in roles {
        hosts.stop(r);
    }
    // A race leaves connections whose two ends disagree, retransmitting for seconds: end
    // them, so the next scenario's captures hold only its own traffic.
    let null = Path::new("/dev/null");
    for host in [Host::Visitor, Host::Site] {
        hosts.run(host, &strings(&["ss", "-K", "-tn", "state", "connected"]), null, null, Duration::from_secs(10))?;
    }
    let mut outcome = observe(sc, dir)?;
    outcome.browser = chromium;
    outcome.compare = crate::compare::compare(&dir.join("site.pcapng"), &dir.join("visitor.pcapng")).unwrap_or_else(|e| format!("comparison failed: {e:#}"));
    std::fs::write(dir.join("compare.txt"), &outcome.compare)?;
    if sc == Scenario::Http {
        outcome.replay = Some(replay(hosts, &outcome)?);
    }
    check(&mut outcome);
    Ok(outcome)
}

fn read_jsonl(p: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(p).unwrap_or_default().lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

/// Reads what the roles recorded and fills the table's rows.
fn observe(sc: Scenario, dir: &Path) -> anyhow::Result<Outcome> {
    let events = read_jsonl(&dir.join("findings.jsonl"));
    let injector = read_jsonl(&dir.join("injector.jsonl"));
    let visit: crate::visitor::Visit = serde_json::from_slice(&std::fs::read(dir.join("visitor.json")).context("the visitor wrote no result")?)?;
    let findings: Vec<&serde_json::Value> = events.iter().filter(|e| e["type"] == "finding").collect();
    let first = |pred: &dyn Fn(&serde_json::Value) -> bool| findings.iter().find(|f| pred(f)).map(|f| (*f).clone());
    // What the intruder's proxy itself read (plaintext it relayed).
    let proxy_learned: Vec<&serde_json::Value> = injector.iter().flat_map(|o| o["learned"].as_array().into_iter().flatten()).collect();
    let proxied = |pred: &dyn Fn(&serde_json::Value) -> bool| proxy_learned.iter().find(|l| pred(l)).map(|l| l["summary"].as_str().unwrap_or("").to_string());
    let s = |f: &serde_json::Value, k: &str| f[k].as_str().unwrap_or("").to_string();
    let evidence = |f: &serde_json::Value| format!("packet {}: {}", f["frame"], s(f, "summary"));
    let mut rows = BTreeMap::new();
    let cell = |sniffed: Option<serde_json::Value>, proxy: Option<String>, none: &str| match (sniffed, proxy) {
        (Some(f), _) => Cell::yes(evidence(&f)),
        (None, Some(p)) => Cell::yes(format!("read by the intruder's proxy: {p}")),
        (None, None) => Cell::no(none),
    };
    let is_pw = |f: &serde_json::Value| f["class"] == "credential" && f["summary"].as_str().is_some_and(|x| x.contains("password"));
    rows.insert("password".to_string(), cell(first(&is_pw), proxied(&is_pw), "no: only encrypted bytes"));
    let is_cookie = |f: &serde_json::Value| f["class"] == "session-cookie" && f["summary"].as_str().is_some_and(|x| x.contains("session"));
    rows.insert("session_cookie".into(), cell(first(&is_cookie), proxied(&is_cookie), "no"));
    let is_article = |f: &serde_json::Value| f["class"] == "url" && f["summary"].as_str().is_some_and(|x| x.contains(content::SENSITIVE_ARTICLE));
    let article = cell(first(&is_article), proxied(&is_article), "no: the URL travelled encrypted");
    let title = first(&|f: &serde_json::Value| f["class"] == "page-content" && f["summary"].as_str().is_some_and(|x| x.contains(content::SENSITIVE_TITLE)));
    rows.insert(
        "sensitive_article".into(),
        match (&article.yes, title) {
            (true, Some(t)) => Cell::yes(format!("{}; {}", article.evidence, evidence(&t))),
            _ => article,
        },
    );
    // The site's pages, not the page a racing guest forged (which the gateway also sees).
    let forged = |f: &serde_json::Value| f["summary"].as_str().is_some_and(|x| x.contains(crate::intruder::race::FORGED_TITLE));
    let pages = findings.iter().filter(|f| f["class"] == "page-content" && !forged(f)).count();
    rows.insert(
        "page_contents".into(),
        if pages > 0 { Cell::yes(format!("{pages} responses readable, e.g. {}", evidence(first(&|f: &serde_json::Value| f["class"] == "page-content" && !forged(f)).as_ref().expect("counted")))) } else if !proxy_learned.is_empty() { Cell::yes("read by the intruder's proxy (it decrypted the connection)") } else { Cell::no("no") },
    );
    rows.insert("dns_name".into(), match first(&|f: &serde_json::Value| f["class"] == "dns-name") { Some(f) => Cell::yes(evidence(&f)), None => Cell::no("no DNS seen") });
    rows.insert(
        "tls_server_name".into(),
        match first(&|f: &serde_json::Value| f["class"] == "server-name") {
            Some(f) => Cell::yes(evidence(&f)),
            None => Cell::no("no TLS (plain HTTP: everything else is visible anyway)"),
        },
    );
    let addrs: std::collections::BTreeSet<String> = events.iter().filter(|e| e["type"] != "finding" && e["src"].is_string()).flat_map(|e| [s(e, "src"), s(e, "dst")]).map(|a| a.rsplit_once(':').map(|x| x.0.to_string()).unwrap_or(a)).collect();
    rows.insert("addresses".into(), if addrs.is_empty() { Cell::no("none") } else { Cell::yes(addrs.into_iter().collect::<Vec<_>>().join(", ")) });
    let http_reqs = events.iter().filter(|e| e["type"] == "http_request").count();
    let tls: Vec<&serde_json::Value> = events.iter().filter(|e| e["type"] == "tls_traffic").collect();
    let sizes = if http_reqs > 0 {
        Cell::yes(format!("{http_reqs} HTTP requests, each with its size"))
    } else if !tls.is_empty() {
        let up: u64 = tls.iter().map(|t| t["records_to_server"].as_u64().unwrap_or(0)).sum();
        let down: u64 = tls.iter().map(|t| t["bytes_to_client"].as_u64().unwrap_or(0)).sum();
        Cell::yes(format!("{} TLS connections, {up} encrypted records up, {down} bytes down", tls.len()))
    } else {
        Cell::no("nothing")
    };
    rows.insert("requests_and_sizes".into(), sizes);
    let (got, detail) = if visit.errors > 0 {
        let e = visit.steps.iter().find_map(|s| s.error.clone()).unwrap_or_default();
        ("refused", e)
    } else if visit.modified > 0 {
        let ad = visit.steps.iter().any(|s| s.ad);
        ("modified", format!("{} responses differ from the site's manifest{}", visit.modified, if ad { ", the injected ad is in the page" } else { "" }))
    } else if visit.all_intact {
        let n = visit.steps.iter().filter(|s| s.integrity == "intact").count();
        ("intact", format!("{n} responses match the site's SHA-256 manifest"))
    } else {
        ("unknown", "no response could be checked".to_string())
    };
    Ok(Outcome {
        scenario: sc.name().into(),
        title: sc.title().into(),
        intruder: rows,
        visitor: got.into(),
        visitor_detail: detail,
        replay: None,
        expected: sc.plan().expect,
        as_expected: false,
        mismatches: Vec::new(),
        dir: dir.display().to_string(),
        injector,
        compare: String::new(),
        browser: None,
    })
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

/// The intruder replays the stolen session cookie and opens the persona's account.
fn replay(hosts: &Hosts, o: &Outcome) -> anyhow::Result<Cell> {
    let events = read_jsonl(&Path::new(&o.dir).join("findings.jsonl"));
    let cookie = events.iter().find_map(|e| {
        (e["type"] == "finding" && e["class"] == "session-cookie" && e["summary"].as_str().is_some_and(|s| s.starts_with("Set-Cookie session")))
            .then(|| e["secret"].as_str().map(str::to_string))
            .flatten()
    });
    let Some(cookie) = cookie else { return Ok(Cell::no("no session cookie to replay")) };
    let dir = Path::new(&o.dir);
    let argv = vec!["curl".to_string(), "-s".into(), "--max-time".into(), "5".into(), "-H".into(), format!("Cookie: session={cookie}"), format!("http://{}/account", crate::lab::SITE)];
    hosts.run(Host::Intruder, &argv, &dir.join("replay.html"), &dir.join("replay-errors.log"), Duration::from_secs(10)).context("running curl in the intruder host")?;
    let page = std::fs::read_to_string(dir.join("replay.html")).unwrap_or_default();
    Ok(if page.contains(content::FULL_NAME) {
        Cell::yes(format!("the intruder sent the stolen cookie and read the account page: {}, {}", content::FULL_NAME, content::DIAGNOSIS))
    } else {
        Cell::no("the replayed cookie did not open the account")
    })
}

fn check(o: &mut Outcome) {
    let e = o.expected.clone();
    let mut bad = Vec::new();
    let row = |k: &str| o.intruder.get(k).map(|c| c.yes).unwrap_or(false);
    if row("password") != e.password_leaks {
        bad.push(format!("password leaked: expected {}, got {}", e.password_leaks, row("password")));
    }
    if row("session_cookie") != e.password_leaks {
        bad.push(format!("session cookie leaked: expected {}, got {}", e.password_leaks, row("session_cookie")));
    }
    if row("tls_server_name") != e.server_name_visible {
        bad.push(format!("TLS server name visible: expected {}, got {}", e.server_name_visible, row("tls_server_name")));
    }
    if o.visitor != e.visitor {
        bad.push(format!("visitor got: expected {}, got {} ({})", e.visitor, o.visitor, o.visitor_detail));
    }
    if let Some(r) = &o.replay {
        if !r.yes {
            bad.push("replaying the stolen cookie failed".into());
        }
    }
    o.as_expected = bad.is_empty();
    o.mismatches = bad;
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
                eprintln!("\n== {} ({}/{})\n{}\n[Enter to run it]", sc.title(), i + 1, opts.scenarios.len(), sc.explain());
                let mut line = String::new();
                let _ = std::io::stdin().read_line(&mut line);
            } else if !opts.quiet {
                eprintln!("demo: [{}/{}] {} ...", i + 1, opts.scenarios.len(), sc.title());
            }
            if crate::sniff::STOP.load(std::sync::atomic::Ordering::SeqCst) {
                anyhow::bail!("interrupted");
            }
            outcomes.push(run_scenario(hosts, *sc, &opts.out.join(sc.name()), opts.browser)?);
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
    };
    std::fs::write(opts.out.join("summary.json"), serde_json::to_vec_pretty(&summary)?)?;
    std::fs::write(opts.out.join("report.html"), report::html(&summary))?;
    Ok(summary)
}

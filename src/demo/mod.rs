//! `plainsight demo`: the same visit, scenario after scenario, while the intruder sniffs
//! and attacks; then a side-by-side table, `summary.json` and a self-contained
//! `report.html`.
//!
//! Every role is its own process in its own host: the site (site host), the sniffer and
//! the injector (intruder), captures at the visitor and the site, and the visitor. So
//! everything that crosses between hosts is real traffic. The demo is also a self-check:
//! each scenario has an expected outcome and a mismatch makes it exit non-zero.
//!
//! Here: running a scenario (roles started through [`hosts`], which are namespaces or
//! containers). Beside it: [`scenario`] (what each one does and expects), `observe` (the
//! table's cells from what the roles recorded, and the check), `replay` (the stolen
//! cookie, used), `browser` (Chromium in the visitor host), `live` (`--step`), and
//! [`report`] (the terminal table and report.html).

mod browser;
mod evidence;
pub mod hosts;
mod live;
mod observe;
mod replay;
pub mod report;
pub mod roles;
pub mod scenario;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::{Deserialize, Serialize};

pub use crate::lab::hosts::Hosts;
use crate::lab::{Host, proc};
use scenario::{Expect, Got, Leaks, ReplayState, Scenario};

/// Checked options of the demo.
#[derive(Debug, Clone)]
pub struct DemoOptions {
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
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Replay {
    pub state: ReplayState,
    pub evidence: String,
}

/// The one secret that matters most in a scenario (the password), as the intruder got it.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioResult {
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
    /// A plain-HTTP script or image got into the visitor's HTTPS page (mixed content).
    pub mixed_content: Cell,
    /// The download arrived swapped: its SHA-256 is not the one its page printed.
    pub download_swapped: Cell,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_secret: Option<KeySecret>,
    pub expected: Expect,
    pub as_expected: bool,
    pub mismatches: Vec<String>,
    pub dir: String,
    pub injector: Vec<crate::lab::intruder::Interception>,
    /// `plainsight compare site.pcapng visitor.pcapng`, and the visitor's own check.
    pub compare: String,
    /// The first TLS handshake to the site, step by step from the intruder's capture.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub handshake: Vec<HandshakeStep>,
    /// What Chromium showed, with `--browser chromium`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub browser: Option<Browser>,
    /// The sizes behind the intruder's guess of the article, over HTTPS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub article_sizes: Option<ArticleSizes>,
}

/// The sizes the intruder named the article from: every page load it learned, and the
/// visitor's.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArticleSizes {
    /// Each learned page load: the article's path and the bytes it brought down.
    pub learned: Vec<(String, u64)>,
    /// The bytes the visitor's page load brought down.
    pub observed: u64,
    /// The article the intruder named.
    pub guess: String,
    /// The article the visitor opened.
    pub opened: String,
    /// The site padded its responses.
    pub padded: bool,
}

/// One step of a TLS handshake as the intruder's capture shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HandshakeStep {
    /// The packet of the intruder's capture that carried it.
    pub packet: u64,
    /// `ClientHello`, `ServerHello`, `Certificate`, `encrypted records`.
    pub what: String,
    /// Whether it crossed the gateway in clear.
    pub clear: bool,
    /// What it contained, as far as the intruder could read it.
    pub seen: String,
    /// What it is for and what the intruder learns from it, in plain words.
    pub meaning: String,
}

/// Chromium's view of the start page.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
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
    /// Chromium's own console messages about mixed content ("Mixed Content: ... This
    /// request has been blocked ..."), as it logged them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mixed_content: Vec<String>,
}

/// Each scenario's result, in its folder, once it is done (the live view reads it).
pub const RESULT_FILE: &str = "result.json";

/// The whole run, as `summary.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoSummary {
    pub generated: String,
    pub lab: String,
    pub scenarios: Vec<ScenarioResult>,
    pub all_as_expected: bool,
    pub seconds: f64,
    /// Whether secrets are shown in clear (`--reveal`).
    pub revealed: bool,
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Runs one scenario in the (already built) lab.
fn run_scenario(
    hosts: &Hosts,
    sc: Scenario,
    dir: &Path,
    opts: &DemoOptions,
    models: &mut Models,
) -> anyhow::Result<ScenarioResult> {
    std::fs::create_dir_all(dir)?;
    let lab = hosts.lab();
    let plan = sc.plan();
    hosts.restart_site(&strings(&plan.site_flags))?;
    let learned = if sc.over_https() { Some(models.learn(hosts, sc, &plan.site_flags, dir, opts)?) } else { None };
    if opts.browser {
        browser::prepare(lab, &plan, dir)?;
    }
    let (roles, injector) = start_roles(hosts, &plan, dir, opts)?;
    let reader_window = visit(hosts, &plan, learned.is_some(), dir, opts)?;
    let chromium = if opts.browser { Some(browser::chromium(lab, &plan, dir)?) } else { None };
    hosts.stop(injector);
    for r in roles {
        hosts.stop(r);
    }
    end_connections(hosts, opts)?;
    write_keyed_capture(lab, dir)?;
    let mut seen = evidence::Evidence::read(dir)?;
    seen.guessed = match (learned, reader_window) {
        (None, _) => None,
        (Some(false), _) => Some(Err("the intruder could not learn the site (learn-errors.log)".into())),
        (Some(true), None) => Some(Err("the visitor did not open the article".into())),
        (Some(true), Some((from_us, to_us))) => Some(article_guess(lab, dir, from_us, to_us)),
    };
    let mut outcome = observe::observe(sc, dir, &seen, opts.reveal);
    outcome.replay = replay::replay(hosts, &seen, dir, opts.stop)?;
    outcome.browser = chromium;
    let compared = crate::analysis::compare::compare(&dir.join("site.pcapng"), &dir.join("visitor.pcapng"))
        .unwrap_or_else(|e| format!("comparison failed: {e:#}\n"));
    outcome.compare = format!("{compared}{}", observe::visitor_check(&seen.visit));
    std::fs::write(dir.join("compare.txt"), &outcome.compare)?;
    observe::check(&mut outcome);
    Ok(outcome)
}

/// What the intruder learned of each site configuration, by the site's flags (latency
/// aside: it changes when bytes arrive, not how many): the scenario it learned in, and the
/// model it wrote.
#[derive(Default)]
struct Models(std::collections::HashMap<Vec<&'static str>, (Scenario, Vec<u8>)>);

impl Models {
    /// Over HTTPS the intruder learns every article's page load first, as the site is now
    /// (before the captures start: its own browsing is not the visitor's), once per site
    /// configuration: a later scenario on the same site uses that model again. True when
    /// it has a model.
    fn learn(
        &mut self,
        hosts: &Hosts,
        sc: Scenario,
        site_flags: &[&'static str],
        dir: &Path,
        opts: &DemoOptions,
    ) -> anyhow::Result<bool> {
        let mut key = Vec::new();
        let mut flags = site_flags.iter();
        while let Some(f) = flags.next() {
            if *f == "--latency-ms" {
                flags.next();
            } else {
                key.push(*f);
            }
        }
        let model_path = crate::lab::fingerprint::model_path(hosts.lab());
        if let Some((first, model)) = self.0.get(&key) {
            std::fs::write(&model_path, model)?;
            std::fs::write(dir.join("learn-errors.log"), "")?;
            std::fs::write(
                dir.join("learn.log"),
                format!(
                    "the intruder learned this site as it is now in scenario {} (same pages, same sizes): its model is used again\n{}",
                    first.name(),
                    std::fs::read_to_string(opts.out.join(first.name()).join("learn.log")).unwrap_or_default()
                ),
            )?;
            return Ok(true);
        }
        let (host, argv) = roles::Request::Learn.command(hosts.lab());
        let (out, err) = (dir.join("learn.log"), dir.join("learn-errors.log"));
        let ok = hosts.run(host, &argv, &out, &err, Duration::from_secs(120), opts.stop)? == 0;
        if ok && let Ok(model) = std::fs::read(&model_path) {
            self.0.insert(key, (sc, model));
        }
        Ok(ok)
    }
}

/// Starts the three sniffers and the injector, each waited for until it says it is ready
/// (by creating its ready file). Every one started is stopped when its handle is dropped,
/// also when an error ends the scenario early.
fn start_roles(
    hosts: &Hosts,
    plan: &scenario::Plan,
    dir: &Path,
    opts: &DemoOptions,
) -> anyhow::Result<(Vec<crate::lab::hosts::Proc>, crate::lab::hosts::Proc)> {
    let ready = |role: &str| {
        let p = dir.join(format!(".ready-{role}"));
        let _ = std::fs::remove_file(&p);
        p
    };
    let wait = |what: &str, p: &Path| proc::wait_ready(what, Duration::from_secs(20), opts.stop, || p.exists());
    let start = |req: &roles::Request, out: &str, err: &str| {
        let (host, argv) = req.command(hosts.lab());
        hosts.start(host, &argv, &dir.join(out), &dir.join(err))
    };
    // They are independent: all start at once, then each is waited for.
    let mut roles = Vec::new();
    let mut waiting = Vec::new();
    for (host, file, out) in [
        (Host::Intruder, "intruder.pcapng", "findings.jsonl"),
        (Host::Visitor, "visitor.pcapng", "visitor-findings.jsonl"),
        (Host::Site, "site.pcapng", "site-findings.jsonl"),
    ] {
        let r = ready(&format!("sniff-{}", host.as_str()));
        roles.push(start(
            &roles::Request::Sniff { host, pcap: dir.join(file), ready: r.clone() },
            out,
            &format!("sniff-{}.log", host.as_str()),
        )?);
        waiting.push((format!("the sniffer on {}", host.as_str()), r));
    }
    let r = ready("inject");
    let injector =
        start(&roles::Request::Inject { attack: plan.attack, ready: r.clone() }, "injector.jsonl", "injector.log")?;
    waiting.push(("the injector".to_string(), r));
    for (what, r) in &waiting {
        wait(what, r)?;
    }
    Ok((roles, injector))
}

/// The visitor's visit, followed live with `--step`; then, when the intruder learned the
/// site, Alice opens a link to the article: a page load of its own, which the intruder
/// tries to name from its sizes. Returns that page load's time window.
fn visit(
    hosts: &Hosts,
    plan: &scenario::Plan,
    read_article: bool,
    dir: &Path,
    opts: &DemoOptions,
) -> anyhow::Result<Option<(i64, i64)>> {
    let run_visit = |start: &'static str, flags: Vec<&'static str>, name: &str, pages: &str| {
        let json = dir.join(format!("{name}.json"));
        let (_, argv) = roles::Request::Visit { start, flags, json, pages: dir.join(pages) }.command(hosts.lab());
        let (out, err) = (dir.join(format!("{name}.log")), dir.join(format!("{name}-errors.log")));
        hosts.run(Host::Visitor, &argv, &out, &err, Duration::from_secs(60), opts.stop)
    };
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        if opts.step {
            let files = [(dir.join("visitor.log"), "visitor"), (dir.join("findings.jsonl"), "intruder")];
            let done = &done;
            scope.spawn(move || live::follow(&files, done, opts.reveal));
        }
        let mut window = None;
        let mut r = run_visit(plan.start, plan.visitor_flags.clone(), "visitor", "pages");
        if read_article && r.is_ok() {
            let mut flags = plan.visitor_flags.clone();
            flags.push("--page-only");
            let from_us = now_us();
            r = run_visit(crate::lab::site::content::SENSITIVE_URL, flags, "reader", "reader-pages");
            window = Some((from_us, now_us()));
        }
        // Let the last packets reach the sniffers before the follower's last look.
        std::thread::sleep(Duration::from_millis(300));
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        r.map(|_| window)
    })
}

/// A race leaves connections whose two ends disagree, retransmitting for seconds: end
/// them, so the next scenario's captures hold only its own traffic.
fn end_connections(hosts: &Hosts, opts: &DemoOptions) -> anyhow::Result<()> {
    let null = Path::new("/dev/null");
    for host in [Host::Visitor, Host::Site] {
        let (host, argv) = roles::Request::EndConnections { host }.command(hosts.lab());
        hosts.run(host, &argv, null, null, Duration::from_secs(10), opts.stop)?;
    }
    Ok(())
}

/// The answer key for the debrief: the intruder's capture with the site's TLS keys in it
/// (Wireshark decrypts the HTTPS from that file alone); intruder.pcapng stays as the
/// intruder has it.
fn write_keyed_capture(lab: &crate::lab::Lab, dir: &Path) -> anyhow::Result<()> {
    if let (Ok(keys), Ok(cap)) =
        (std::fs::read(lab.state_dir().join(crate::lab::site::KEYLOG)), std::fs::read(dir.join("intruder.pcapng")))
        && let Some(keyed) = crate::analysis::capture::write::with_tls_secrets(&cap, &keys)
    {
        std::fs::write(dir.join("intruder-keys.pcapng"), keyed)?;
    }
    Ok(())
}

fn now_us() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

/// The intruder's guess of the article the visitor opened between `from_us` and `to_us`,
/// from its capture alone; an error when there was no page load to guess from.
fn article_guess(lab: &crate::lab::Lab, dir: &Path, from_us: i64, to_us: i64) -> Result<evidence::Guessed, String> {
    let reader: Option<crate::lab::visitor::Visit> =
        std::fs::read(dir.join("reader.json")).ok().and_then(|b| serde_json::from_slice(&b).ok());
    if !reader.is_some_and(|v| v.steps.iter().any(|s| s.status == Some(200))) {
        return Err("the visitor got no page of the article: nothing to guess from".into());
    }
    let visitor = std::net::IpAddr::V4(crate::lab::VISITOR);
    let (guess, model, load) =
        crate::lab::fingerprint::guess_window(lab, &dir.join("intruder.pcapng"), visitor, from_us, to_us)
            .map_err(|e| format!("{e:#}"))?;
    let sizes = ArticleSizes {
        learned: model.samples.iter().map(|s| (s.page.clone(), s.load.down.iter().sum())).collect(),
        observed: load.down.iter().sum(),
        guess: guess.page.clone(),
        opened: crate::lab::site::content::SENSITIVE_URL.trim_start_matches("https://clinic.test").to_string(),
        padded: model.padded,
    };
    Ok(evidence::Guessed { guess, padded: model.padded, learned: model.samples.len(), sizes })
}

/// Runs the demo; returns the summary (also written to `out`).
pub fn run(opts: &DemoOptions, hosts: &Hosts) -> anyhow::Result<DemoSummary> {
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
    let mut models = Models::default();
    let result = (|| -> anyhow::Result<()> {
        for (i, sc) in opts.scenarios.iter().enumerate() {
            if opts.step {
                eprintln!(
                    "\n== {} ({}/{})\n{}\n[Enter to run it]",
                    sc.title(),
                    i + 1,
                    opts.scenarios.len(),
                    report::wrap(sc.explain(), 100)
                );
                let mut line = String::new();
                let _ = std::io::stdin().read_line(&mut line);
            } else if !opts.quiet {
                eprintln!("demo: [{}/{}] {} ...", i + 1, opts.scenarios.len(), sc.title());
            }
            if opts.stop.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(proc::Interrupted.into());
            }
            let o = run_scenario(hosts, *sc, &opts.out.join(sc.name()), opts, &mut models)?;
            std::fs::write(opts.out.join(sc.name()).join(RESULT_FILE), serde_json::to_vec_pretty(&o)?)?;
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
    let summary = DemoSummary {
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

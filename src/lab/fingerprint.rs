//! `plainsight fingerprint learn | guess | eval` in a lab. Learning and evaluating both
//! visit the site while the intruder host captures (libpcap, `sniff -w`), and both read
//! their page loads from that capture with [`connections`]: the model sees exactly what a
//! passive observer sees, never what the visitor knows.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use serde::Serialize;

use crate::analysis::fingerprint::{Conn, Guess, Load, Model, Sample, connections, page_loads};
use crate::lab::site::articles::{self, ARTICLES};
use crate::lab::{Host, Lab, SITE_NAME, run};

/// Where a lab keeps what the attacker learned.
pub fn model_path(lab: &Lab) -> PathBuf {
    lab.state_dir().join("fingerprint").join("model.json")
}

/// One page load the harness made, with the time it ran (to find it in the capture).
struct Visited {
    page: String,
    from_us: i64,
    to_us: i64,
    padded: Option<bool>,
    error: Option<String>,
}

fn now_us() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

/// Visits `pages` from `host` (one page load each, as a person opening a link) while the
/// intruder captures on `interface`; returns each visit and the capture's connections.
fn visit_captured(
    lab: &Lab,
    host: Host,
    interface: &str,
    pages: &[String],
    pause: Duration,
    chromium: bool,
    stop: &AtomicBool,
) -> anyhow::Result<(Vec<Visited>, Vec<Conn>)> {
    let in_containers = crate::lab::container::this_host().is_some();
    // In a workshop sandbox the lab is up by construction, and its processes out of sight.
    if !in_containers && !run::in_sandbox() && !run::is_up(lab) {
        anyhow::bail!("lab {} is not up (run `plainsight lab up --name {}`)", lab.name, lab.name);
    }
    let dir = lab.state_dir().join("fingerprint");
    std::fs::create_dir_all(&dir)?;
    let pcap = dir.join(format!("{}.pcapng", host.as_str()));
    let sniffer = start_capture(lab, interface, &dir, &pcap, stop)?;
    let spki = if chromium { crate::lab::browser::site_spki(lab)? } else { String::new() };
    let profile = dir.join("chromium-profile");
    // This thread now browses from `host` (Chromium is started there by name); the capture
    // runs in the intruder. In the lab's containers, this must be that host's container.
    run::be_in(lab, host)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut visited = Vec::new();
    for (i, page) in pages.iter().enumerate() {
        // A person reads a page before opening the next: the pause that tells page loads
        // apart in a capture (`guess --gap`).
        if i > 0 {
            std::thread::sleep(pause);
        }
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(crate::lab::proc::Interrupted.into());
        }
        let opts = crate::lab::visitor::VisitOptions {
            start: format!("https://{SITE_NAME}{page}"),
            ca: lab.ca_pem(),
            also_trust: vec![],
            manifest: None,
            resolver: std::net::SocketAddr::from((crate::lab::SITE, 53)),
            hsts_preload: false,
            persona: Default::default(),
            password: String::new(),
            save: None,
            live: false,
            block_mixed_content: true,
            download: false,
            doh: false,
            page_only: true,
        };
        if chromium {
            // Chromium shows no sizes: whether the site pads is read from one scripted load
            // before it.
            let padded = if i == 0 {
                rt.block_on(crate::lab::visitor::visit(opts.clone())).ok().map(|v| padded_visit(&v))
            } else {
                None
            };
            let (from_us, to_us, error) = chromium_visit(lab, host, &profile, &spki, &opts.start);
            visited.push(Visited { page: page.clone(), from_us, to_us, padded, error });
            continue;
        }
        let (from_us, to_us, padded, error) = scripted_visit(&rt, opts);
        visited.push(Visited { page: page.clone(), from_us, to_us, padded, error });
    }
    // Let the last packets reach the capture, then stop it (it drains what it holds).
    std::thread::sleep(Duration::from_millis(200));
    sniffer.stop();
    let conns = connections(&pcap)?;
    Ok((visited, conns))
}

/// Starts the intruder's capture of port 443 on `interface` into `pcap`, and waits until
/// it is ready.
fn start_capture(
    lab: &Lab,
    interface: &str,
    dir: &std::path::Path,
    pcap: &std::path::Path,
    stop: &AtomicBool,
) -> anyhow::Result<crate::lab::proc::Role> {
    let ready = dir.join("sniff.ready");
    let _ = std::fs::remove_file(&ready);
    let mut cmd = std::process::Command::new(std::env::current_exe()?);
    cmd.args(["sniff", "--lab", &lab.name, "--host", "intruder", "-i", interface, "-f", "tcp port 443"])
        .args(["--format", "jsonl", "--ready-file"])
        .arg(&ready)
        .arg("-w")
        .arg(pcap);
    let sniffer = crate::lab::proc::Role::spawn(cmd, "sniff", &dir.join("sniff.jsonl"), &dir.join("sniff.log"))?;
    crate::lab::proc::wait_ready("the capture", Duration::from_secs(10), stop, || ready.exists())?;
    Ok(sniffer)
}

/// One page load in Chromium, with a fresh profile (nothing cached, as on a first visit):
/// its time window, and what went wrong if the article did not show.
fn chromium_visit(
    lab: &Lab,
    host: Host,
    profile: &std::path::Path,
    spki: &str,
    url: &str,
) -> (i64, i64, Option<String>) {
    let _ = std::fs::remove_dir_all(profile);
    let from_us = now_us();
    let out = crate::lab::browser::headless(lab, host, profile, spki).arg("--dump-dom").arg(url).output();
    let to_us = now_us();
    let error = match out {
        Ok(o) if String::from_utf8_lossy(&o.stdout).contains("<article>") => None,
        Ok(o) => Some(
            String::from_utf8_lossy(&o.stderr)
                .split_whitespace()
                .find(|w| w.contains("net::ERR_"))
                .unwrap_or("Chromium showed no article")
                .to_string(),
        ),
        Err(e) => Some(format!("running chromium (apt-get install chromium): {e}")),
    };
    (from_us, to_us, error)
}

/// One page load by the scripted visitor: its time window, whether it was padded, and
/// what went wrong if no page arrived.
fn scripted_visit(
    rt: &tokio::runtime::Runtime,
    opts: crate::lab::visitor::VisitOptions,
) -> (i64, i64, Option<bool>, Option<String>) {
    let from_us = now_us();
    let v =
        rt.block_on(async { tokio::time::timeout(Duration::from_secs(30), crate::lab::visitor::visit(opts)).await });
    let to_us = now_us();
    let (padded, error) = match v {
        Ok(Ok(v)) => {
            let error =
                v.steps.iter().find_map(|s| s.error.clone()).or_else(|| {
                    (!v.steps.iter().any(|s| s.status == Some(200))).then(|| "no page arrived".to_string())
                });
            (Some(padded_visit(&v)), error)
        }
        Ok(Err(e)) => (None, Some(format!("{e:#}"))),
        Err(_) => (None, Some("the visit took longer than 30 s".into())),
    };
    (from_us, to_us, padded, error)
}

/// Whether every response of a visit was padded (a power of two, at least the floor).
fn padded_visit(v: &crate::lab::visitor::Visit) -> bool {
    let ok: Vec<_> = v.steps.iter().filter(|s| s.status == Some(200)).collect();
    !ok.is_empty() && ok.iter().all(|s| s.bytes.is_power_of_two() && s.bytes >= articles::PAD_FLOOR)
}

/// The page load a visit made: the connections `client` opened to the site during it.
fn load_of(v: &Visited, conns: &[Conn], client: std::net::IpAddr) -> Option<Load> {
    let cs: Vec<&Conn> = conns
        .iter()
        .filter(|c| {
            c.client == client
                && c.server_name.as_deref() == Some(SITE_NAME)
                && c.start_us >= v.from_us
                && c.start_us <= v.to_us
        })
        .collect();
    Load::of(&cs)
}

/// Whether the visits saw a padded site (every response a power of two), if they agree.
fn padding(visited: &[Visited]) -> anyhow::Result<bool> {
    let seen: Vec<bool> = visited.iter().filter_map(|v| v.padded).collect();
    match (seen.iter().all(|p| *p), seen.iter().any(|p| *p)) {
        _ if seen.is_empty() => anyhow::bail!(
            "no visit reached the site: {}",
            visited.iter().find_map(|v| v.error.clone()).unwrap_or_default()
        ),
        (true, _) => Ok(true),
        (false, false) => Ok(false),
        _ => anyhow::bail!("the site padded some responses and not others: was it restarted during the run?"),
    }
}

/// `fingerprint learn`: the attacker browses every article `loads` times from the
/// intruder host over HTTPS and keeps the sizes its own capture shows.
pub fn learn(lab: &Lab, loads: usize, chromium: bool, stop: &AtomicBool) -> anyhow::Result<Model> {
    let pages: Vec<String> = (0..loads).flat_map(|_| ARTICLES.iter().map(|a| a.path())).collect();
    let (visited, conns) =
        visit_captured(lab, Host::Intruder, &Lab::wan_interface(), &pages, Duration::ZERO, chromium, stop)?;
    let padded = padding(&visited)?;
    let me = std::net::IpAddr::V4(crate::lab::GATEWAY_WAN);
    let samples: Vec<Sample> = visited
        .iter()
        .filter(|v| v.error.is_none())
        .filter_map(|v| Some(Sample { page: v.page.clone(), load: load_of(v, &conns, me)? }))
        .collect();
    let missing: Vec<&str> =
        ARTICLES.iter().filter(|a| !samples.iter().any(|s| s.page == a.path())).map(|a| a.slug).collect();
    if !missing.is_empty() {
        anyhow::bail!(
            "no page load captured for {}: {}",
            missing.join(", "),
            visited
                .iter()
                .find_map(|v| v.error.clone())
                .unwrap_or_else(|| "see the capture's log in the lab's fingerprint folder".into())
        );
    }
    let model = Model { server_name: SITE_NAME.into(), padded, browser: browser_name(chromium).into(), samples };
    let path = model_path(lab);
    std::fs::write(&path, serde_json::to_vec_pretty(&model)?)?;
    Ok(model)
}

fn shown(browser: &str) -> &'static str {
    if browser == "chromium" { "Chromium" } else { "the scripted visitor" }
}

fn browser_name(chromium: bool) -> &'static str {
    if chromium { "chromium" } else { "visitor" }
}

/// What the intruder guesses of the page load `client` made between `from_us` and
/// `to_us` in `capture`, with the model `learn` left in the lab (the demo's article row).
pub fn guess_window(
    lab: &Lab,
    capture: &Path,
    client: std::net::IpAddr,
    from_us: i64,
    to_us: i64,
) -> anyhow::Result<(Guess, Model, Load)> {
    let model = Model::load(&model_path(lab))?;
    let conns = connections(capture)?;
    let v = Visited { page: String::new(), from_us, to_us, padded: None, error: None };
    let load = load_of(&v, &conns, client)
        .ok_or_else(|| anyhow::anyhow!("no HTTPS page load of the visitor in {}", capture.display()))?;
    let g = model.guess(&load).ok_or_else(|| anyhow::anyhow!("the model holds no page"))?;
    Ok((g, model, load))
}

/// What `learn` prints.
pub fn learned_text(model: &Model, path: &Path) -> String {
    let mut out = format!(
        "learned {} page loads of {} articles on {} over HTTPS, from the intruder host with {} (site padding: {})\n",
        model.samples.len(),
        model.pages().len(),
        model.server_name,
        shown(&model.browser),
        if model.padded { "yes" } else { "no" }
    );
    for page in model.pages() {
        let loads: Vec<String> = model.samples.iter().filter(|s| s.page == page).map(|s| s.load.describe()).collect();
        out.push_str(&format!("  {page:<36} {}\n", loads.join(", ")));
    }
    out.push_str(&format!("model: {}\n", path.display()));
    out
}

/// `fingerprint guess`: the HTTPS page loads of a capture, each named after the nearest
/// learned page.
pub fn guess_text(model: &Model, capture: &Path, gap: Duration) -> anyhow::Result<String> {
    let conns = connections(capture)?;
    let loads = page_loads(&conns, &model.server_name, gap.as_micros() as i64);
    let mut out = format!("{} HTTPS page load(s) to {} in {}\n", loads.len(), model.server_name, capture.display());
    let first = loads.first().map(|l| l.start_us).unwrap_or(0);
    for l in &loads {
        let Some(g) = model.guess(l) else { continue };
        let others: Vec<String> = g.runners_up.iter().map(|(p, s)| format!("{p} {s:.3}")).collect();
        out.push_str(&format!(
            "+{:.1} s {}: read {} (score {:.3}; then {})\n    why: {}\n",
            (l.start_us - first) as f64 / 1e6,
            l.client,
            g.page,
            g.score,
            if others.is_empty() { "nothing else learned".into() } else { others.join(", ") },
            g.why
        ));
    }
    Ok(out)
}

/// How long the evaluated visitor reads each article before opening the next (a capture
/// of an evaluation reads as page loads with `guess --gap` under this).
pub const READING: Duration = Duration::from_millis(500);

/// `fingerprint eval`'s result (`--json`).
#[derive(Debug, Serialize)]
pub struct Evaluation {
    pub visits: usize,
    pub correct: usize,
    /// What the visitor browsed with, and what the attacker learned with.
    pub browser: String,
    pub learned_with: String,
    pub articles: usize,
    pub chance: f64,
    /// `none`, or how the site padded.
    pub padding: String,
    /// Bytes the padding added to an average page load's bodies, and as a share of them.
    pub overhead_bytes: u64,
    pub overhead_percent: f64,
    /// Visits whose page load was not in the capture (not counted as guesses).
    pub unseen: usize,
    /// Article read -> article guessed -> visits.
    pub confusion: BTreeMap<String, BTreeMap<String, usize>>,
}

/// Which of `n` articles each of `visits` visits reads: rounds of all `n` in a shuffled
/// order, so that every article is read as often as the others, give or take one. Drawn
/// independently, one article could come up three times as often as another in 50 visits,
/// and the accuracy would mostly say which articles happened to be drawn.
fn visit_order(visits: usize, n: usize, seed: u64) -> Vec<usize> {
    // splitmix64: every seed, small ones too, gives a well-spread sequence.
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut order = Vec::with_capacity(visits);
    while order.len() < visits && n > 0 {
        let mut round: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            round.swap(i, (next() % (i as u64 + 1)) as usize);
        }
        order.extend(round.into_iter().take(visits - order.len()));
    }
    order
}

/// `fingerprint eval`: the visitor reads `visits` articles in a random order, each as often
/// as the others (give or take one), over HTTPS while the intruder captures; each page load
/// is guessed from the capture alone.
pub fn eval(lab: &Lab, visits: usize, seed: u64, chromium: bool, stop: &AtomicBool) -> anyhow::Result<Evaluation> {
    let model = Model::load(&model_path(lab))?;
    let pages: Vec<String> =
        visit_order(visits, ARTICLES.len(), seed).into_iter().map(|a| ARTICLES[a].path()).collect();
    let (visited, conns) = visit_captured(lab, Host::Visitor, &Lab::lan_interface(), &pages, READING, chromium, stop)?;
    let padded = padding(&visited)?;
    if padded != model.padded {
        anyhow::bail!(
            "the model was learned {} padding and the site now {}: run `plainsight fingerprint learn --lab {}` again (an attacker re-learns a site that changed)",
            if model.padded { "with" } else { "without" },
            if padded { "pads" } else { "does not pad" },
            lab.name
        );
    }
    let visitor = std::net::IpAddr::V4(crate::lab::VISITOR);
    let mut confusion: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    let (mut correct, mut unseen) = (0, 0);
    for v in &visited {
        let Some(g) = load_of(v, &conns, visitor).filter(|_| v.error.is_none()).and_then(|l| model.guess(&l)) else {
            unseen += 1;
            continue;
        };
        correct += usize::from(g.page == v.page);
        *confusion.entry(v.page.clone()).or_default().entry(g.page).or_default() += 1;
    }
    let (mut plain, mut sent) = (0u64, 0u64);
    for v in &visited {
        plain += articles::load_bytes(&v.page, false);
        sent += articles::load_bytes(&v.page, padded);
    }
    let n = visited.len().max(1) as u64;
    Ok(Evaluation {
        visits: visited.len() - unseen,
        correct,
        browser: browser_name(chromium).into(),
        learned_with: model.browser.clone(),
        articles: model.pages().len(),
        chance: 1.0 / model.pages().len().max(1) as f64,
        padding: if padded {
            "every body to the next power of two, at least 16 KiB, uncompressed (HTTP body padding)".into()
        } else {
            "none".into()
        },
        overhead_bytes: sent.saturating_sub(plain) / n,
        overhead_percent: if plain == 0 { 0.0 } else { (sent as f64 - plain as f64) * 100.0 / plain as f64 },
        unseen,
        confusion,
    })
}

/// What `eval` prints: accuracy, chance, cost, and the confusion table as one line per
/// article read.
pub fn eval_text(e: &Evaluation) -> String {
    let pct = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 * 100.0 / b as f64 };
    let mut out = format!(
        "fingerprint eval: {} HTTPS page loads of {SITE_NAME} by {}, each guessed from the intruder's capture alone (learned with {})\n  first guess right: {} of {} ({:.0}%); chance: 1 in {} ({:.1}%)\n  padding: {}\n",
        e.visits,
        shown(&e.browser),
        shown(&e.learned_with),
        e.correct,
        e.visits,
        pct(e.correct, e.visits),
        e.articles,
        e.chance * 100.0,
        e.padding
    );
    if e.overhead_bytes > 0 {
        out.push_str(&format!(
            "  cost: {} more bytes per page load ({:.0}% more)\n",
            e.overhead_bytes, e.overhead_percent
        ));
    }
    if e.unseen > 0 {
        out.push_str(&format!("  {} visit(s) left no page load in the capture (not counted)\n", e.unseen));
    }
    out.push_str("  read -> guessed:\n");
    for (read, guessed) in &e.confusion {
        let total: usize = guessed.values().sum();
        let right = guessed.get(read).copied().unwrap_or(0);
        let wrong: Vec<String> = guessed
            .iter()
            .filter(|(g, _)| *g != read)
            .map(|(g, n)| format!("{n} as {}", g.trim_start_matches("/articles/")))
            .collect();
        out.push_str(&format!(
            "    {:<28} {right} of {total} right{}\n",
            read.trim_start_matches("/articles/"),
            if wrong.is_empty() { String::new() } else { format!(" ({})", wrong.join(", ")) }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::visit_order;

    #[test]
    fn every_article_is_read_as_often_as_the_others_in_a_seeded_random_order() {
        for seed in [0, 1, 42, u64::MAX] {
            let order = visit_order(50, 12, seed);
            assert_eq!(order.len(), 50);
            let mut counts = [0; 12];
            for &a in &order {
                counts[a] += 1;
            }
            assert!(counts.iter().all(|&c| c == 4 || c == 5), "seed {seed}: {counts:?}");
            assert_eq!(counts.iter().filter(|&&c| c == 5).count(), 2);
            assert_eq!(order, visit_order(50, 12, seed), "the same seed gives the same order");
        }
        assert_ne!(visit_order(50, 12, 1), visit_order(50, 12, 2));
        assert_ne!(visit_order(12, 12, 7), (0..12).collect::<Vec<_>>(), "shuffled, not in order");
        assert!(visit_order(5, 0, 1).is_empty());
    }
}

//! The visitor bot: a participant's persona visiting their lab's site in a loop, the way
//! the current exercise needs (plain HTTP, HTTPS, a bare name typed into the address bar,
//! with or without HSTS preloaded). Each visit is the same scripted person as `visit`:
//! it acts on the pages it receives. What it got is recorded in the lab's
//! `bot-visits.jsonl` (the last [`KEEP`] visits): the checks read it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::lab::site::content::{self, Persona};
use crate::lab::visitor::{self, Visit};
use crate::lab::{Lab, SITE, SITE_NAME};

/// In the lab's state directory: what the bot does now (written by `workshop show`).
pub const MODE_FILE: &str = "bot.json";
const VISITS_FILE: &str = "bot-visits.jsonl";
/// Visits kept in `bot-visits.jsonl`.
pub const KEEP: usize = 40;

/// How the bot starts each visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Start {
    /// `http://clinic.test/`.
    Http,
    /// `https://clinic.test/`.
    Https,
    /// `clinic.test` typed into the address bar: tried over http first (a first visit).
    #[default]
    Bare,
    /// The bare name, with the site's HSTS entry preloaded (a browser that knows it).
    BareHsts,
    /// `https://clinic.test/articles/...`, the persona's article, opened from a link: that
    /// page load alone.
    Article,
}

impl Start {
    fn url(self, persona: &Persona) -> String {
        match self {
            Start::Http => format!("http://{SITE_NAME}/"),
            Start::Https => format!("https://{}/", persona.portal.as_deref().unwrap_or(SITE_NAME)),
            Start::Bare | Start::BareHsts => SITE_NAME.to_string(),
            Start::Article => {
                format!("https://{SITE_NAME}/articles/{}", persona.article.as_deref().unwrap_or("living-with-hiv"))
            }
        }
    }
}

/// The bot's current mode.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Mode {
    /// The exercise it is set up for (empty: none yet).
    pub exercise: String,
    pub start: Start,
    /// When the participant was shown the exercise (ms since the epoch).
    pub since_ms: u64,
}

impl Mode {
    pub fn of(lab: &Lab) -> Mode {
        std::fs::read(lab.state_dir().join(MODE_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }
}

/// A page that arrived different from what the site serves.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Altered {
    pub file: String,
    /// Its visible text (tags removed), at most 4 KB.
    pub text: String,
}

/// One visit of the bot, as the checks read it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct BotVisit {
    pub at_ms: u64,
    pub exercise: String,
    pub start: Start,
    pub logged_in: bool,
    pub saw_account: bool,
    /// Every URL requested, in order.
    pub urls: Vec<String>,
    /// The errors the visitor met, in its own words.
    pub errors: Vec<String>,
    /// The visitor refused a certificate (its TLS library's verdict).
    #[serde(default)]
    pub refused_certificate: bool,
    pub altered: Vec<Altered>,
    /// The last page it received (a file in `bot-pages/`), as the trainer's view shows it.
    #[serde(default)]
    pub last_page: Option<String>,
}

/// In the lab's state directory: the pages of the bot's last finished visit.
pub const PAGES_DIR: &str = "bot-pages";

impl BotVisit {
    fn of(v: &Visit, mode: &Mode, altered: Vec<Altered>) -> BotVisit {
        BotVisit {
            at_ms: now_ms(),
            exercise: mode.exercise.clone(),
            start: mode.start,
            logged_in: v.logged_in,
            saw_account: v.saw_account,
            urls: v.steps.iter().filter(|s| s.skipped.is_none() && !s.hsts_upgrade).map(|s| s.url.clone()).collect(),
            errors: v.steps.iter().filter_map(|s| s.error.clone()).collect(),
            refused_certificate: v.steps.iter().any(|s| s.refused_certificate),
            altered,
            last_page: v
                .steps
                .iter()
                .rev()
                .filter(|s| s.status == Some(200) && s.content_type.as_deref().is_some_and(|c| c.contains("html")))
                .find_map(|s| {
                    let path = s.url.parse::<http::Uri>().ok()?.path().trim_matches('/').replace('/', "_");
                    Some(format!("{}.html", if path.is_empty() { "index" } else { &path }))
                }),
        }
    }

    /// One line: signed in or not, over what, errors.
    pub fn summary(&self) -> String {
        let https = self.urls.iter().filter(|u| u.starts_with("https://")).count();
        let mut s = format!(
            "{} requests ({} over HTTPS), signed in: {}",
            self.urls.len(),
            https,
            if self.logged_in { "yes" } else { "no" }
        );
        if let Some(e) = self.errors.first() {
            s.push_str(&format!(", error: {e}"));
        }
        if !self.altered.is_empty() {
            s.push_str(&format!(", {} page(s) altered on the way", self.altered.len()));
        }
        s
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// The bot's pid, when it runs.
pub fn pid(lab: &Lab) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(lab.state_dir().join("bot.pid")).ok()?.trim().parse().ok()?;
    let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    String::from_utf8_lossy(&cmd).contains("workshop").then_some(pid)
}

/// The bot's recorded visits, oldest first.
pub fn visits(lab: &Lab) -> Vec<BotVisit> {
    std::fs::read_to_string(lab.state_dir().join(VISITS_FILE))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn record(state: &Path, v: &BotVisit) -> anyhow::Result<()> {
    let path = state.join(VISITS_FILE);
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let mut lines: Vec<&str> = old.lines().collect();
    let new = serde_json::to_string(v)?;
    lines.push(&new);
    let keep = &lines[lines.len().saturating_sub(KEEP)..];
    let tmp = state.join(format!("{VISITS_FILE}.tmp"));
    crate::lab::pki::write_file(&tmp, &(keep.join("\n") + "\n"), 0o600)?;
    std::fs::rename(&tmp, &path)?;
    Ok(())
}

/// The visible text of an HTML page: tags removed, white space collapsed.
pub fn visible_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The pages in `dir` (saved by the visit) that the site does not serve as they are.
fn altered_pages(dir: &Path, manifest: &Path) -> Vec<Altered> {
    let known: std::collections::HashSet<String> = std::fs::read(manifest)
        .ok()
        .and_then(|b| serde_json::from_slice::<std::collections::BTreeMap<String, content::Entry>>(&b).ok())
        .map(|m| m.into_values().map(|e| e.sha256).collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(body) = std::fs::read(entry.path()) else { continue };
        if name.ends_with(".html") && !known.contains(&hex::encode(Sha256::digest(&body))) {
            let mut text = visible_text(&String::from_utf8_lossy(&body));
            if text.len() > 4096 {
                let cut = (0..=4096).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
                text.truncate(cut);
            }
            out.push(Altered { file: name, text });
        }
    }
    out
}

/// Runs the bot of `lab` until `stop`: a visit, then a pause of `interval` seconds (drawn
/// between its bounds), cut short when the mode changes.
pub fn run(lab: &Lab, interval: (f64, f64), stop: &AtomicBool) -> anyhow::Result<()> {
    let state = lab.state_dir();
    // Each visit saves into a folder of its own, which then replaces the last one whole.
    let pages: PathBuf = state.join(format!("{PAGES_DIR}.next"));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut rng = now_ms();
    eprintln!("bot: visiting {SITE_NAME} in lab {} every {}-{} s", lab.name, interval.0, interval.1);
    while !stop.load(Ordering::SeqCst) {
        let mode = Mode::of(lab);
        let persona = Persona::of_lab(&state);
        let _ = std::fs::remove_dir_all(&pages);
        let opts = visitor::VisitOptions {
            start: mode.start.url(&persona),
            ca: lab.ca_pem(),
            also_trust: vec![],
            manifest: Some(state.join("manifest.json")),
            resolver: std::net::SocketAddr::from((SITE, 53)),
            hsts_preload: mode.start == Start::BareHsts,
            password: persona.password.clone(),
            persona,
            save: Some(pages.clone()),
            live: false,
            block_mixed_content: true,
            download: false,
            doh: false,
            page_only: mode.start == Start::Article,
        };
        let visit = rt.block_on(async { tokio::time::timeout(Duration::from_secs(30), visitor::visit(opts)).await });
        let rec = match visit {
            Ok(Ok(v)) => BotVisit::of(&v, &mode, altered_pages(&pages, &state.join("manifest.json"))),
            Ok(Err(e)) => BotVisit { errors: vec![format!("{e:#}")], ..BotVisit::of(&Visit::default(), &mode, vec![]) },
            Err(_) => BotVisit {
                errors: vec!["the visit took longer than 30 s".into()],
                ..BotVisit::of(&Visit::default(), &mode, vec![])
            },
        };
        eprintln!("bot: {} ({})", rec.summary(), if mode.exercise.is_empty() { "no exercise" } else { &mode.exercise });
        let _ = std::fs::remove_dir_all(state.join(PAGES_DIR));
        let _ = std::fs::rename(&pages, state.join(PAGES_DIR));
        record(&state, &rec)?;
        // xorshift: spread the bots' visits over the interval.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let frac = (rng % 1000) as f64 / 1000.0;
        let pause = Duration::from_secs_f64(interval.0 + (interval.1 - interval.0) * frac);
        let began = Instant::now();
        while began.elapsed() < pause && !stop.load(Ordering::SeqCst) && Mode::of(lab) == mode {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visible_text_drops_tags_and_spaces() {
        assert_eq!(visible_text("<p>Hello <b>world</b></p>\n<div class=\"ad\">BUY\n now</div>"), "Hello world BUY now");
    }
}

//! Checkpoints from evidence: an answer compared (in constant time) with what only this
//! participant's lab holds, or what their bot actually received, or what runs in their
//! intruder host. A check reads only the participant's own lab.

use super::bot::{self, BotVisit, Start};
use super::exercise::Exercise;
use super::{Key, Workshop};
use crate::lab::{Host, SITE_NAME, run};

/// What a checkpoint looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The answer is the password the bot typed in this exercise.
    Password,
    /// The answer is the private note on the bot's account page.
    Secret,
    /// The answer is the server name an intruder still reads from HTTPS.
    ServerName,
    /// The bot received a page altered to carry the answer (the participant's text).
    Injected,
    /// The bot refused a certificate over HTTPS (its own error).
    RefusedCertificate,
    /// An sslstrip runs in the intruder host, and the bot's visits since went over
    /// HTTPS only, intact (HSTS).
    Hsts,
    /// The answer is the HTTPS site named in the participant's handed-out capture.
    Capture,
    /// The answer is the article the bot read over HTTPS in this exercise.
    Article,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "password" => Kind::Password,
            "secret" => Kind::Secret,
            "server-name" => Kind::ServerName,
            "injected" => Kind::Injected,
            "refused-certificate" => Kind::RefusedCertificate,
            "hsts" => Kind::Hsts,
            "capture" => Kind::Capture,
            "article" => Kind::Article,
            _ => return None,
        })
    }

    /// Whether the check compares an answer (`--answer`).
    pub fn needs_answer(self) -> bool {
        !matches!(self, Kind::RefusedCertificate | Kind::Hsts)
    }

    /// Whether the answer is a secret that could be guessed by trying (a password, a flag,
    /// a name among a few): wrong answers slow down ([`super::desk::wait_after`]). Not the
    /// injected text (the participant's own) nor the checks without an answer.
    pub fn guessable(self) -> bool {
        matches!(self, Kind::Password | Kind::Secret | Kind::ServerName | Kind::Capture | Kind::Article)
    }
}

/// A check's result: passed or not, and why in one line.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub passed: bool,
    pub reason: String,
}

fn pass(reason: String) -> Verdict {
    Verdict { passed: true, reason }
}

fn fail(reason: String) -> Verdict {
    Verdict { passed: false, reason }
}

/// Runs participant `p`'s checkpoint of `ex`.
pub fn run_check(ws: &Workshop, key: &Key, p: u16, ex: &Exercise, answer: Option<&str>) -> anyhow::Result<Verdict> {
    let lab = ws.participant(p)?;
    let mode = bot::Mode::of(&lab);
    if mode.exercise != ex.id {
        anyhow::bail!(
            "lab {} is not set up for exercise {}: open it first with `plainsight workshop show {}` (the trainer adds --participant {p}{})",
            lab.name,
            ex.id,
            ex.id,
            ws.name_flag()
        );
    }
    let answer = answer.map(str::trim).unwrap_or("");
    if ex.check.needs_answer() && answer.is_empty() {
        return Ok(fail("this checkpoint needs your answer: --answer TEXT".into()));
    }
    let persona = key.persona(p, &ex.id);
    let since: Vec<BotVisit> =
        bot::visits(&lab).into_iter().filter(|v| v.exercise == ex.id && v.at_ms >= mode.since_ms).collect();
    let seen = Seen { lab: &lab, visits: since, interval: ws.recorded().map(|r| r.bot_interval.1).unwrap_or(20.0) };
    Ok(match ex.check {
        Kind::Password | Kind::Secret | Kind::ServerName | Kind::Capture | Kind::Article => {
            answered(ex.check, key, p, &persona, answer)
        }
        Kind::Injected => injected(&seen, answer),
        Kind::RefusedCertificate => refused_certificate(&seen),
        Kind::Hsts => hsts(&seen),
    })
}

/// What the checks of the lab's evidence read: the lab, the bot's visits since the
/// participant opened the exercise, and how often the bot visits.
struct Seen<'a> {
    lab: &'a crate::lab::Lab,
    visits: Vec<BotVisit>,
    interval: f64,
}

impl Seen<'_> {
    fn no_visit(&self) -> Verdict {
        fail(format!(
            "the bot has not visited since you opened this exercise: it visits every {} s or less, check again after its next visit",
            self.interval
        ))
    }
}

/// A checkpoint that compares the participant's answer with the persona's secret.
fn answered(kind: Kind, key: &Key, p: u16, persona: &crate::lab::site::content::Persona, answer: &str) -> Verdict {
    match kind {
        Kind::Password => {
            if key.same(answer, &persona.password) {
                pass(format!("that is the password {} typed", persona.username))
            } else {
                fail(format!("that is not the password {} typed in this exercise", persona.username))
            }
        }
        Kind::Secret => {
            if key.same(answer, persona.secret.as_deref().unwrap_or("")) {
                pass(format!("that is the private note on {}'s account page", persona.full_name))
            } else {
                fail(format!("that is not the private note on {}'s account page", persona.full_name))
            }
        }
        Kind::ServerName => {
            let a = answer.trim_end_matches('.').to_ascii_lowercase();
            let name = persona.portal.clone().unwrap_or_else(|| SITE_NAME.to_string());
            if key.same(&a, &name) {
                pass(format!(
                    "{name} crosses the network in clear in the ClientHello (SNI), and in the DNS query before it"
                ))
            } else if a == SITE_NAME && name != SITE_NAME {
                // A visit still in flight when the exercise began may show the public name.
                fail(format!(
                    "{SITE_NAME} is the clinic's public name; in this exercise the bot talks to its own portal: \
                 look at its HTTPS connections since you opened the exercise"
                ))
            } else {
                fail("that is not the name the intruder reads from the bot's HTTPS connections".into())
            }
        }
        Kind::Capture => {
            let a = answer.trim_end_matches('.').to_ascii_lowercase();
            if key.same(&a, &key.handout_site(p)) {
                pass("that is the server name in the capture's ClientHello".into())
            } else {
                fail("that is not the server name of the HTTPS connection in your capture".into())
            }
        }
        Kind::Article => {
            // The article's path, its last part, or a URL to it.
            let a = answer.to_ascii_lowercase();
            let a = a.rsplit("/articles/").next().unwrap_or(&a).trim_matches('/');
            if key.same(a, persona.article.as_deref().unwrap_or("")) {
                pass(format!("that is the article {} read over HTTPS: the sizes gave it away", persona.username))
            } else {
                fail(format!("that is not the article {} read over HTTPS in this exercise", persona.username))
            }
        }
        _ => fail("this checkpoint reads the lab's evidence, not an answer".into()),
    }
}

/// The bot received a page with the participant's own text in it.
fn injected(seen: &Seen, answer: &str) -> Verdict {
    if answer.chars().count() < 6 {
        return fail("give the text you injected (at least 6 characters) as --answer".into());
    }
    if site_text().contains(answer) {
        return fail(format!("{answer:?} is on the site's own pages: inject a text of your own"));
    }
    if seen.visits.is_empty() {
        return seen.no_visit();
    }
    match seen.visits.iter().rev().find_map(|v| v.altered.iter().find(|a| a.text.contains(answer)).map(|a| (v, a))) {
        Some((v, a)) => pass(format!(
            "the bot received {} with your text ({} s ago)",
            a.file,
            bot::now_ms().saturating_sub(v.at_ms) / 1000
        )),
        None if seen.visits.iter().any(|v| !v.altered.is_empty()) => {
            fail("the bot received altered pages, but none with your text".into())
        }
        None => fail(format!(
            "the bot's {} visit(s) since you opened the exercise received the site's pages unaltered",
            seen.visits.len()
        )),
    }
}

/// The bot refused a certificate over HTTPS (its TLS library's verdict).
fn refused_certificate(seen: &Seen) -> Verdict {
    if seen.visits.is_empty() {
        return seen.no_visit();
    }
    let refused = seen
        .visits
        .iter()
        .rev()
        .find(|v| v.refused_certificate)
        .map(|v| (v, v.errors.first().map(String::as_str).unwrap_or("(no message)")));
    match refused {
        Some((v, e)) if v.start == Start::Https => {
            pass(format!("the bot refused the certificate it was shown: \"{e}\""))
        }
        _ => fail(format!(
            "the bot's {} visit(s) since you opened the exercise met no certificate it refused; last: {}",
            seen.visits.len(),
            seen.visits.last().map(BotVisit::summary).unwrap_or_default()
        )),
    }
}

/// With the participant's sslstrip running, the bot's visits stayed on HTTPS (HSTS).
fn hsts(seen: &Seen) -> Verdict {
    let Some(started_ms) = strip_started_ms(seen.lab) else {
        return fail("no `plainsight inject --tls strip` runs in your intruder host: start it, then check after the bot's next visit".into());
    };
    let after: Vec<&BotVisit> =
        seen.visits.iter().filter(|v| v.at_ms > started_ms + 1000 && v.start == Start::BareHsts).collect();
    let Some(v) = after.last() else {
        return fail(format!(
            "the bot has not visited since your sslstrip started: it visits every {} s or less",
            seen.interval
        ));
    };
    let plain: Vec<&String> = v.urls.iter().filter(|u| u.starts_with("http://")).collect();
    if !plain.is_empty() || !v.altered.is_empty() || !v.errors.is_empty() || !v.logged_in {
        fail(format!("the bot's last visit was not protected: {}", v.summary()))
    } else {
        pass(format!(
            "with your sslstrip running, the bot knew {SITE_NAME} from HSTS and sent all {} requests over HTTPS, signed in, every page intact",
            v.urls.len()
        ))
    }
}

/// The visible text of every page the site serves (an injected text must not be on them).
fn site_text() -> String {
    use crate::lab::site::content;
    let mut t: String = content::paths()
        .iter()
        .filter_map(|p| content::resource(p))
        .filter(|r| r.content_type.contains("html"))
        .map(|r| bot::visible_text(&String::from_utf8_lossy(&r.body)))
        .collect::<Vec<_>>()
        .join(" ");
    t.push_str(&bot::visible_text(&String::from_utf8_lossy(&content::account_page(&content::Persona::default()))));
    t
}

/// When the `inject --tls strip` in the lab's intruder host started (ms since the epoch).
fn strip_started_ms(lab: &crate::lab::Lab) -> Option<u64> {
    // In the lab's containers the check runs in the intruder's: every process it sees.
    let pids: Vec<i32> = if super::in_containers() {
        std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .collect()
    } else {
        run::pids(&lab.ns(Host::Intruder))
    };
    pids.into_iter()
        .filter_map(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let args: Vec<String> = cmd.split(|&b| b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
            let strip =
                args.windows(2).any(|w| w[0] == "--tls" && w[1] == "strip") || args.iter().any(|a| a == "--tls=strip");
            (args.iter().any(|a| a == "inject") && strip).then(|| start_ms(pid)).flatten()
        })
        .max()
}

/// A process's start time (ms since the epoch), from /proc.
fn start_ms(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let ticks: u64 = after.split(' ').nth(19)?.parse().ok()?;
    let btime: u64 = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime ")?.trim().parse().ok())?;
    // SAFETY: sysconf reads a constant of the system; no pointer is involved.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(btime * 1000 + ticks * 1000 / hz)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_started_in_the_past() {
        let s = start_ms(std::process::id() as i32).unwrap();
        assert!(s <= bot::now_ms() + 1000 && s + 3_600_000 > bot::now_ms(), "{s}");
    }

    #[test]
    fn answers_compare_exactly() {
        let k = Key::new("test key 1234");
        let p1 = k.persona(1, "password");
        assert!(k.same(&p1.password, &k.persona(1, "password").password));
        assert_ne!(p1.password, k.persona(2, "password").password);
        assert_ne!(p1.password, k.persona(1, "sslstrip").password);
        assert_eq!(p1.username, k.persona(1, "sslstrip").username);
        assert!(!k.same("wrong", &p1.password));
        assert!(!k.same(&p1.password[..p1.password.len() - 1], &p1.password));
        // Each bot opens the site by a name of its own over HTTPS: the https exercise's
        // answer is not in its text.
        assert_ne!(p1.portal, k.persona(2, "https").portal);
        assert!(
            p1.portal
                .as_deref()
                .is_some_and(|n| n.starts_with("portal-") && n.ends_with(".clinic.test") && n != SITE_NAME)
        );
    }
}

//! The checker's desk: `show`, `check`, `hint` and `progress` for one participant, as the
//! gate answers them from a sandbox, the participant's page from a browser, and the
//! trainer's root shell directly. Only this desk writes the progress database.
//!
//! Answers with few possible values (twelve articles, a server name) must not be
//! guessable by trying them all: after [`FREE_TRIES`] wrong answers to one exercise, each
//! further check waits longer ([`wait_after`]), and the trainer's grid counts the tries.

use super::gate::{Reply, Request};
use super::{Workshop, bot, check, exercise, progress};

/// Wrong answers to one exercise that cost nothing.
pub const FREE_TRIES: u32 = 3;
/// The longest wait between two tries.
pub const MAX_WAIT_S: u64 = 300;

/// Seconds to wait after the last wrong answer, when `failures` wrong answers were given.
pub fn wait_after(failures: u32) -> u64 {
    if failures < FREE_TRIES {
        return 0;
    }
    (5u64 << (failures - FREE_TRIES).min(10)).min(MAX_WAIT_S)
}

/// How a participant types the check of `ex`: in their sandbox, or the trainer for them.
fn check_command(ws: &Workshop, p: u16, ex: &exercise::Exercise, sandboxed: bool) -> String {
    let answer = if ex.check.needs_answer() { " --answer '...'" } else { "" };
    if sandboxed {
        return format!("plainsight workshop check {}{answer}", ex.id);
    }
    format!("plainsight workshop check {}{} --participant {p}{answer}", ex.id, ws.name_flag())
}

/// Sets participant `p`'s lab up for exercise `id` and returns its text.
pub fn show(ws: &Workshop, p: u16, id: &str, sandboxed: bool) -> anyhow::Result<String> {
    let ex = exercise::find(id)?;
    let lab = ws.participant(p)?;
    let key = ws.key()?;
    super::set_exercise(ws, &key, p, Some(&ex))?;
    super::ensure_bot(ws, &lab, p)?;
    progress::Progress::open(ws)?.shown(p, &ex.id)?;
    let mut text = format!("# {} — {}\n\n{}\n", ex.id, ex.title, ex.render(&lab.name, p, &super::handout_path(&lab)));
    text.push_str(&format!("\nCheck: {}\n", check_command(ws, p, &ex, sandboxed)));
    Ok(text)
}

/// The outcome of a check: passed, and what to print.
pub struct Attempt {
    pub passed: bool,
    pub text: String,
}

/// Checks participant `p`'s answer to `id`; records it; gives a hint when it fails.
pub fn check(ws: &Workshop, p: u16, id: &str, answer: Option<&str>) -> anyhow::Result<Attempt> {
    let ex = exercise::find(id)?;
    let key = ws.key()?;
    let db = progress::Progress::open(ws)?;
    if ex.check.guessable() {
        let (failures, last_ms) = db.failures_and_last(p, &ex.id)?;
        let ready_at = last_ms + wait_after(failures) * 1000;
        let now = bot::now_ms();
        if now < ready_at {
            let secs = (ready_at - now).div_ceil(1000);
            return Ok(Attempt {
                passed: false,
                text: format!(
                    "NOT YET {}: {failures} wrong answers so far; wrong answers slow down, try again in {secs} s\n",
                    ex.id
                ),
            });
        }
    }
    let v = check::run_check(ws, &key, p, &ex, answer)?;
    db.record(p, &ex.id, v.passed, &v.reason)?;
    if v.passed {
        return Ok(Attempt { passed: true, text: format!("PASSED {}: {}\n", ex.id, v.reason) });
    }
    let failures = db.failures(p, &ex.id)?;
    // The first failure gives the first hint; every later one, the second.
    let n = failures.clamp(1, 2);
    let mut text = format!("NOT YET {}: {}\nhint {n}: {}\n", ex.id, v.reason, ex.hints[n as usize - 1]);
    if ex.check.guessable() {
        let wait = wait_after(failures);
        if wait > 0 {
            text.push_str(&format!(
                "(wrong answers slow down: {failures} so far, next try in {wait} s; the trainer sees every try)\n"
            ));
        } else {
            text.push_str(&format!("(after {FREE_TRIES} wrong answers to one exercise, each next try waits longer: guessing does not pay)\n"));
        }
    }
    Ok(Attempt { passed: false, text })
}

/// The hints participant `p` has earned on `id` (default: the exercise they are on).
pub fn hint(ws: &Workshop, p: u16, id: Option<&str>) -> anyhow::Result<String> {
    let db = progress::Progress::open(ws)?;
    let id = match id {
        Some(i) => i.to_string(),
        None => db
            .current()?
            .remove(&p)
            .map(|(e, _)| e)
            .ok_or_else(|| anyhow::anyhow!("you have no exercise yet: `plainsight workshop show ID` opens one"))?,
    };
    let ex = exercise::find(&id)?;
    let failures = db.failures(p, &ex.id)?;
    if failures == 0 {
        return Ok(format!("{}: no hint yet; hints come after a check that did not pass\n", ex.id));
    }
    let mut out = String::new();
    for (i, h) in ex.hints.iter().enumerate().take(failures.min(2) as usize) {
        out.push_str(&format!("hint {}: {h}\n", i + 1));
    }
    Ok(out)
}

/// Participant `p`'s own progress, one exercise a line.
pub fn progress(ws: &Workshop, p: u16) -> anyhow::Result<String> {
    let db = progress::Progress::open(ws)?;
    let table = db.table()?;
    let mine = table.get(&p).cloned().unwrap_or_default();
    let mut out = String::new();
    for e in exercise::all() {
        let s = match mine.get(&e.id) {
            Some(c) if c.passed => "done".to_string(),
            Some(c) => format!("{} tries", c.attempts),
            None => "-".into(),
        };
        out.push_str(&format!("{:<10} {s:<9} {}\n", e.id, e.title));
    }
    Ok(out)
}

/// One request to the desk, answered as text and an exit code.
pub fn answer(ws: &Workshop, p: u16, request: &Request, sandboxed: bool) -> Reply {
    let result = match request {
        Request::Show { exercise } => show(ws, p, exercise, sandboxed).map(Reply::ok),
        Request::Check { exercise, answer } => check(ws, p, exercise, answer.as_deref()).map(|a| Reply {
            code: if a.passed { 0 } else { 1 },
            out: a.text,
            err: String::new(),
        }),
        Request::Hint { exercise } => hint(ws, p, exercise.as_deref()).map(Reply::ok),
        Request::Progress => progress(ws, p).map(Reply::ok),
        Request::Shell { .. } => Ok(Reply::error("a login goes to the gate".into())),
    };
    result.unwrap_or_else(|e| Reply::error(format!("{e:#}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guessing_slows_down_and_is_bounded() {
        assert_eq!(wait_after(0), 0);
        assert_eq!(wait_after(FREE_TRIES - 1), 0);
        assert_eq!(wait_after(FREE_TRIES), 5);
        assert_eq!(wait_after(FREE_TRIES + 1), 10);
        assert_eq!(wait_after(FREE_TRIES + 20), MAX_WAIT_S);
        // Trying all twelve articles takes many minutes.
        let total: u64 = (0..12).map(wait_after).sum();
        assert!(total >= 600, "{total}");
    }
}

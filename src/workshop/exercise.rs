//! Exercises as data: one Markdown file each in `lab/exercises/`, built into the binary.
//!
//! A file starts with a header between `---` lines, one `key: value` a line:
//! `id`, `title`, `site` (flags for the lab's site), `bot` (how the visitor bot starts its
//! visits: `http`, `https`, `bare`, `bare-hsts`), `check` (a [`check::Kind`]); then the
//! text shown to the participant, then `## Hint 1` and `## Hint 2`. In the text,
//! `{lab}`, `{participant}` and `{handout}` become the participant's own.

use anyhow::{Context, bail};

use super::bot::Start;
use super::check::Kind;

/// The exercise files, in order (`lab/exercises/`).
const FILES: [(&str, &str); 9] = [
    ("01-password.md", include_str!("../../lab/exercises/01-password.md")),
    ("02-cookie.md", include_str!("../../lab/exercises/02-cookie.md")),
    ("03-inject.md", include_str!("../../lab/exercises/03-inject.md")),
    ("04-https.md", include_str!("../../lab/exercises/04-https.md")),
    ("05-forged.md", include_str!("../../lab/exercises/05-forged.md")),
    ("06-sslstrip.md", include_str!("../../lab/exercises/06-sslstrip.md")),
    ("07-hsts.md", include_str!("../../lab/exercises/07-hsts.md")),
    ("08-capture.md", include_str!("../../lab/exercises/08-capture.md")),
    ("09-article.md", include_str!("../../lab/exercises/09-article.md")),
];

#[derive(Debug, Clone)]
pub struct Exercise {
    pub id: String,
    pub title: String,
    /// Flags for the lab's site while doing it (`--no-redirect`, ...).
    pub site: Vec<String>,
    pub bot: Start,
    pub check: Kind,
    /// The text shown to the participant (goal, why it matters, commands).
    pub text: String,
    pub hints: [String; 2],
}

impl Exercise {
    /// The text for one participant: placeholders filled in.
    pub fn render(&self, lab: &str, participant: u16, handout: &std::path::Path) -> String {
        self.text
            .replace("{lab}", lab)
            .replace("{participant}", &participant.to_string())
            .replace("{handout}", &handout.display().to_string())
    }
}

/// Parses one exercise file.
pub fn parse(name: &str, text: &str) -> anyhow::Result<Exercise> {
    let rest = text.strip_prefix("---\n").with_context(|| format!("{name}: no header (a first line ---)"))?;
    let (header, body) =
        rest.split_once("\n---\n").with_context(|| format!("{name}: the header has no closing ---"))?;
    let mut field = std::collections::HashMap::new();
    for line in header.lines().filter(|l| !l.trim().is_empty()) {
        let (k, v) = line.split_once(':').with_context(|| format!("{name}: header line {line:?} is not key: value"))?;
        field.insert(k.trim(), v.trim());
    }
    let get = |k: &str| field.get(k).copied().with_context(|| format!("{name}: the header has no {k}"));
    let bot = match get("bot")? {
        "http" => Start::Http,
        "https" => Start::Https,
        "bare" => Start::Bare,
        "bare-hsts" => Start::BareHsts,
        "article" => Start::Article,
        other => bail!("{name}: unknown bot {other:?}"),
    };
    let check =
        Kind::parse(get("check")?).with_context(|| format!("{name}: unknown check {:?}", field.get("check")))?;
    let (text, hints) = body.split_once("\n## Hint 1\n").with_context(|| format!("{name}: no ## Hint 1"))?;
    let (h1, h2) = hints.split_once("\n## Hint 2\n").with_context(|| format!("{name}: no ## Hint 2"))?;
    Ok(Exercise {
        id: get("id")?.to_string(),
        title: get("title")?.to_string(),
        site: get("site").unwrap_or("").split_whitespace().map(str::to_string).collect(),
        bot,
        check,
        text: text.trim().to_string(),
        hints: [h1.trim().to_string(), h2.trim().to_string()],
    })
}

/// Every exercise, in order.
pub fn all() -> Vec<Exercise> {
    FILES.iter().map(|(n, t)| parse(n, t).expect("the built-in exercises parse (tested)")).collect()
}

/// The exercise with this id.
pub fn find(id: &str) -> anyhow::Result<Exercise> {
    let all = all();
    let ids: Vec<String> = all.iter().map(|e| e.id.clone()).collect();
    all.into_iter().find(|e| e.id == id).with_context(|| format!("no exercise {id:?}; they are: {}", ids.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_exercise_parses_with_distinct_ids_and_two_hints() {
        let all = all();
        assert!(all.len() >= 8);
        let mut ids: Vec<&str> = all.iter().map(|e| e.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), all.len());
        for e in &all {
            assert!(!e.hints[0].is_empty() && !e.hints[1].is_empty(), "{}", e.id);
            assert!(e.text.contains("Why it matters"), "{}", e.id);
        }
    }

    #[test]
    fn bad_headers_are_refused() {
        assert!(parse("x", "no header").is_err());
        assert!(parse("x", "---\nid: a\n---\ntext").is_err());
        assert!(
            parse("x", "---\nid: a\ntitle: t\nbot: ftp\ncheck: password\n---\nt\n## Hint 1\na\n## Hint 2\nb").is_err()
        );
        assert!(
            parse("x", "---\nid: a\ntitle: t\nbot: http\ncheck: password\n---\nt\n## Hint 1\na\n## Hint 2\nb").is_ok()
        );
    }
}

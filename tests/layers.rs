//! The house rules of `src/` (written down in `lib.rs`), checked: every import points down
//! or sideways within a room, never up, so there is no cycle; and `lib.rs`'s layout names
//! every room that `ls src` shows.
//!
//! A reference is any `crate::room::...` path in a file (a `use`, or a path in code);
//! `super::` stays within a room.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The rooms, bottom up: a room may use the ones before it, never one after it. Rooms on
/// the same floor (the same number) do not use each other.
const ROOMS: &[(&str, u32)] = &[
    ("exit", 0),
    ("analysis", 1),
    ("lab", 2),
    ("demo", 3),
    ("workshop", 3),
    ("views", 4),
    ("cli", 5),
    ("commands", 6),
];

/// The analysis stages, in the order data flows through them (`analysis/mod.rs`).
const STAGES: &[(&str, u32)] = &[
    ("prefetch", 0),
    ("capture", 1),
    ("decode", 2),
    ("tally", 3),
    ("reassembly", 4),
    ("flow", 5),
    ("dissect", 6),
    ("findings", 7),
    ("pipeline", 8),
    ("report", 9),
    ("analyze", 10),
    ("compare", 11),
    ("fingerprint", 11),
    ("synth", 11),
];

fn rank(table: &[(&str, u32)], name: &str) -> Option<u32> {
    table.iter().find(|(n, _)| *n == name).map(|(_, r)| *r)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The `crate::a::b` paths of a file's text, as (a, b); comments and the tests at the
/// file's end skipped.
fn crate_paths(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let code = line.trim_start();
        if code.starts_with("#[cfg(test)]") {
            break; // a file's tests may use any room (captures from synth, say)
        }
        if code.starts_with("//") {
            continue;
        }
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let before = rest[..i].chars().last();
            rest = &rest[i + "crate::".len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue; // `plainsight_crate::`, not ours
            }
            let ident = |s: &str| s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>();
            let a = ident(rest);
            let b = rest[a.len()..].strip_prefix("::").map(ident).unwrap_or_default();
            out.push((a, b));
        }
    }
    out
}

#[test]
fn imports_point_down_and_never_round_in_a_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    let mut checked = 0;
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap();
        let parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string()).collect();
        if parts[0] == "lib" || parts[0] == "main" {
            continue;
        }
        let room = &parts[0];
        let Some(r) = rank(ROOMS, room) else {
            wrong.push(format!("{}: room {room} is not in the rules (tests/layers.rs, lib.rs)", rel.display()));
            continue;
        };
        let stage = (room == "analysis").then(|| parts.get(1).cloned()).flatten();
        for (a, b) in crate_paths(&std::fs::read_to_string(f).unwrap()) {
            checked += 1;
            if a == *room {
                if let (Some(stage), Some(me)) = (&stage, stage.as_deref().and_then(|s| rank(STAGES, s))) {
                    match rank(STAGES, &b) {
                        Some(them) if them > me || (them == me && b != *stage) => wrong.push(format!(
                            "{}: analysis stage {stage} uses crate::analysis::{b}, a later stage",
                            rel.display()
                        )),
                        None if !b.is_empty() => {
                            wrong.push(format!("{}: analysis::{b} is not in the stage rules", rel.display()))
                        }
                        _ => {}
                    }
                }
                continue;
            }
            match rank(ROOMS, &a) {
                Some(them) if them >= r => {
                    wrong.push(format!("{}: {room} uses crate::{a}, which is not below it", rel.display()))
                }
                None => wrong.push(format!("{}: crate::{a} is not a room in the rules", rel.display())),
                _ => {}
            }
        }
    }
    assert!(checked > 200, "only {checked} paths read: is the scan broken?");
    assert!(wrong.is_empty(), "imports against the rules:\n{}", wrong.join("\n"));
}

#[test]
fn lib_rs_names_every_room_that_ls_src_shows() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let rooms: BTreeSet<String> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().trim_end_matches(".rs").to_string())
        .filter(|n| n != "lib" && n != "main")
        .collect();
    let declared: BTreeSet<String> =
        lib.lines().filter_map(|l| l.strip_prefix("pub mod ")).map(|l| l.trim_end_matches(';').to_string()).collect();
    assert_eq!(rooms, declared, "`ls src` and lib.rs's modules differ");
    let layout = &lib[..lib.find("\npub mod").unwrap()];
    for room in &rooms {
        assert!(
            layout.contains(&format!("{room}/")) || layout.contains(&format!("[`{room}`]")),
            "lib.rs's layout does not describe {room}"
        );
        assert!(rank(ROOMS, room).is_some(), "tests/layers.rs has no rule for {room}");
    }
}

/// Functions longer than this many lines (signature to closing brace) do several jobs.
const MAX_FUNCTION_LINES: usize = 100;

/// Tables of data written as code, where one function is the table: each arm is one row.
const TABLES: &[&str] = &["demo/scenario.rs::plan"];

#[test]
fn no_function_is_longer_than_a_screenful_or_two() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut long = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        // The tests at a file's end are not held to it.
        let text = text.split("\n#[cfg(test)]").next().unwrap_or("");
        let lines: Vec<&str> = text.lines().collect();
        let rel = f.strip_prefix(&src).unwrap().display().to_string();
        for (i, line) in lines.iter().enumerate() {
            let indent = line.len() - line.trim_start().len();
            let words: Vec<&str> = line.split_whitespace().collect();
            let Some(at) = words.iter().position(|w| *w == "fn") else { continue };
            // Only a definition: `fn` led only by its qualifiers, and a body to follow.
            let qualifiers = ["pub", "pub(crate)", "pub(super)", "async", "unsafe", "const", "extern"];
            if !words[..at].iter().all(|w| qualifiers.contains(w)) || line.trim_end().ends_with(';') {
                continue;
            }
            let name = words.get(at + 1).map(|w| w.split(['(', '<']).next().unwrap_or(w)).unwrap_or("");
            let close = format!("{}}}", " ".repeat(indent));
            let Some(end) = lines[i + 1..].iter().position(|l| *l == close) else { continue };
            let n = end + 2;
            let id = format!("{rel}::{name}");
            if n > MAX_FUNCTION_LINES && !TABLES.contains(&id.as_str()) {
                long.push(format!("{id} (line {}): {n} lines", i + 1));
            }
        }
    }
    assert!(files.len() > 50, "found only {} files under src/", files.len());
    assert!(long.is_empty(), "functions over {MAX_FUNCTION_LINES} lines:\n{}", long.join("\n"));
}

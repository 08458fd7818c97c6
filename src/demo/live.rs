//! `--step`: what the visitor does and what the intruder reads, shown as it happens, by
//! following the files the roles write.

use std::path::PathBuf;
use std::time::Duration;

use crate::analysis::findings::Class;

/// Prints the new complete lines of the files `tails` follows, prefixed, until `done`.
pub(super) fn follow(files: &[(PathBuf, &'static str)], done: &std::sync::atomic::AtomicBool, reveal: bool) {
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
                    eprintln!("{}", super::report::clip_line(&l, 120));
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
    let crate::analysis::report::read::Line::Finding(f) = crate::analysis::report::read::line(line)? else {
        return None;
    };
    matches!(f.class, Class::Credential | Class::SessionCookie | Class::Url | Class::ServerName | Class::DnsName)
        .then(|| format!("  intruder [packet {}] {}", f.frame, f.line(reveal)))
}

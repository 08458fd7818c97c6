//! `--format jsonl` read back, typed: each line an [`Event`], a [`Finding`], or a line of
//! another type (the summary, an article guess), which readers skip.
//!
//! What decides anything (the demo's verdicts, the views' counts) reads the events and
//! derives their findings again with [`crate::analysis::findings::derive`], which gives each
//! its typed [`crate::analysis::findings::About`]; a finding line read back has the
//! sentence, not the kind.

use serde::Deserialize;

use crate::analysis::dissect::Event;
use crate::analysis::findings::Finding;

/// One line of a jsonl report.
#[derive(Debug, Clone)]
pub enum Line {
    Event(Box<Event>),
    /// A finding as written: its URLs masked again ([`Finding::remasked`]).
    Finding(Box<Finding>),
    /// A summary, an article guess, or a line this version does not know.
    Other,
}

/// Parses one line; `None` when it is not JSON at all.
pub fn line(text: &str) -> Option<Line> {
    #[derive(Deserialize)]
    struct Tag<'a> {
        #[serde(rename = "type", borrow)]
        kind: Option<std::borrow::Cow<'a, str>>,
    }
    let tag: Tag = serde_json::from_str(text).ok()?;
    Some(match tag.kind.as_deref() {
        Some("finding") => match serde_json::from_str::<Finding>(text) {
            Ok(f) => Line::Finding(Box::new(f.remasked())),
            Err(_) => Line::Other,
        },
        Some(_) => match serde_json::from_str::<Event>(text) {
            Ok(e) => Line::Event(Box::new(e)),
            Err(_) => Line::Other,
        },
        None => Line::Other,
    })
}

/// The events of a jsonl report, in order (other lines skipped).
pub fn events(text: &str) -> Vec<Event> {
    text.lines()
        .filter_map(line)
        .filter_map(|l| match l {
            Line::Event(e) => Some(*e),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The sample session's events and findings, as the analyser hands them to a report.
    pub(crate) fn sample() -> Vec<(Event, Vec<Finding>)> {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!("plainsight-sample-{}-{n}.pcap", std::process::id()));
        crate::analysis::synth::write_sample(std::fs::File::create(&path).unwrap()).unwrap();
        let mut written: Vec<(Event, Vec<Finding>)> = Vec::new();
        crate::analysis::analyze::scan(&path, None, &mut |e, f| written.push((e.clone(), f.to_vec())), &mut |_| {})
            .unwrap();
        std::fs::remove_file(&path).unwrap();
        written
    }

    /// Every event of the sample session written with `--reveal` reads back equal, and the
    /// findings derived from the events read back are the findings written.
    #[test]
    fn a_revealed_report_reads_back_whole() {
        let written = sample();
        assert!(written.len() > 50, "{}", written.len());
        let mut out = Vec::new();
        {
            use crate::analysis::report::Report;
            let mut r = crate::analysis::report::JsonlReport::new(&mut out, true);
            for (e, f) in &written {
                r.event(e, f).unwrap();
            }
        }
        let text = String::from_utf8(out).unwrap();
        let events = events(&text);
        assert_eq!(events, written.iter().map(|(e, _)| e.clone()).collect::<Vec<_>>());
        let derived: Vec<Finding> = events.iter().flat_map(crate::analysis::findings::from_event).collect();
        let lines: Vec<Finding> = text
            .lines()
            .filter_map(line)
            .filter_map(|l| match l {
                Line::Finding(f) => Some(*f),
                _ => None,
            })
            .collect();
        assert_eq!(derived.len(), lines.len());
        for (d, l) in derived.iter().zip(&lines) {
            assert_eq!(d.line(true), l.line(true));
            assert_eq!(d.line(false), l.line(false));
            assert_eq!((d.class, d.frame, d.src, d.dst), (l.class, l.frame, l.src, l.dst));
        }
        assert!(derived.iter().any(
            |f| matches!(&f.about, crate::analysis::findings::About::FormField { name, .. } if name == "password")
        ));
        assert!(matches!(line("{\"type\":\"summary\",\"x\":1}"), Some(Line::Other)));
        assert!(line("not json").is_none());
    }
}

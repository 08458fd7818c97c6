//! Shared test harness: where the shared corpus is, and running the pipeline on a file.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use plainsight::analyze::{Scan, ScanError, scan};
use plainsight::dissect::Event;
use plainsight::findings::Finding;

/// The shared corpus of real captures: `$PLAINSIGHT_CORPUS`, else `../shared/corpus`.
/// In CI (`CI` set) a missing corpus is a failure; elsewhere the caller skips.
pub fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("PLAINSIGHT_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    if dir.join("INVENTORY.tsv").is_file() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!("the shared corpus is missing at {} (set PLAINSIGHT_CORPUS)", dir.display());
    }
    eprintln!("skipping: no corpus at {} (set PLAINSIGHT_CORPUS)", dir.display());
    None
}

/// Everything the pipeline produced for one file.
pub struct Run {
    pub events: Vec<Event>,
    pub findings: Vec<Finding>,
    pub scan: Scan,
}

pub fn run(path: &Path) -> Result<Run, ScanError> {
    let mut events = Vec::new();
    let mut findings = Vec::new();
    let scan = scan(
        path,
        None,
        &mut |e, f| {
            events.push(e.clone());
            findings.extend_from_slice(f);
        },
        &mut |_| {},
    )?;
    Ok(Run { events, findings, scan })
}

/// Whether tests that need root should run: as root, yes; in CI without root, fail.
pub fn need_root(what: &str) -> bool {
    let root = unsafe { libc_geteuid() } == 0;
    if root {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{what} needs root, and CI must run it as root");
    }
    eprintln!("skipping {what}: needs root (run the tests as root to include it)");
    false
}

unsafe extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

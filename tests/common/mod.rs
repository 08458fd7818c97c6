//! Shared test harness: where the shared corpus is, running the pipeline on a file, and
//! running the plainsight binary (with labs taken down when a test ends, even failing).
#![allow(dead_code)]

pub mod report;
pub mod room;

use std::path::{Path, PathBuf};

use plainsight::analysis::analyze::{Scan, ScanError, scan};
use plainsight::analysis::dissect::Event;
use plainsight::analysis::findings::Finding;

/// The shared corpus of real captures: `$PLAINSIGHT_CORPUS`, else `../shared/corpus`.
/// A missing corpus is recorded by [`skipped`]; the caller then skips.
pub fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("PLAINSIGHT_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    if dir.join("INVENTORY.tsv").is_file() {
        return Some(dir);
    }
    skipped(
        "corpus checks",
        &format!("no corpus at {} (set PLAINSIGHT_CORPUS; see README, \"The corpus\")", dir.display()),
    );
    None
}

/// Records a check that could not run. In CI (`CI` set) that is a failure; elsewhere the
/// line goes to standard error and to `$PLAINSIGHT_SKIPS`, which `scripts/test.sh` prints
/// at the end of the run, so a skip is never silent.
pub fn skipped(what: &str, why: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{what} could not run in CI: {why}");
    }
    let line = format!("{what}: SKIPPED — {why}");
    eprintln!("{line}");
    if let Some(p) = std::env::var_os("PLAINSIGHT_SKIPS") {
        use std::io::Write;
        // One write of the whole line: tests run in parallel threads, and an appended
        // write this small is not interleaved with another.
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(p) {
            let _ = f.write_all(format!("{line}\n").as_bytes());
        }
    }
}

/// Whether `tool` runs (`tool --version`); when it does not, the check is recorded as
/// skipped (a failure in CI).
pub fn have_tool(tool: &str, what: &str) -> bool {
    // Installed when it runs at all: not every tool knows `--version` (poppler's exit 99).
    let ok = std::process::Command::new(tool).arg("--version").output().is_ok();
    if !ok {
        skipped(what, &format!("{tool} is not installed"));
    }
    ok
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
    // SAFETY: geteuid takes nothing and cannot fail.
    let root = unsafe { libc_geteuid() } == 0;
    if root {
        return true;
    }
    skipped(what, "needs root (run the tests as root to include it)");
    false
}

unsafe extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

/// Waits until `ready` holds (a file a role writes once it is listening, say), checking
/// every 20 ms; fails the test after 20 s. A readiness signal, never a fixed sleep.
pub fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !ready() {
        assert!(start.elapsed() < std::time::Duration::from_secs(20), "{what} did not become ready within 20 s");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Runs the plainsight binary built for these tests.
pub fn ps(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_plainsight")).args(args).output().unwrap()
}

/// Runs it and returns its standard output; a failure fails the test, with both outputs.
pub fn ok(args: &[&str]) -> String {
    let out = ps(args);
    assert!(
        out.status.success(),
        "plainsight {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Takes the lab of that name down when dropped, so a failing test leaves nothing behind.
pub struct LabDown(pub &'static str);

impl Drop for LabDown {
    fn drop(&mut self) {
        let _ = ps(&["lab", "down", "--name", self.0]);
    }
}

/// Debian's Chromium, or the check `what` recorded as skipped (a failure in CI).
#[allow(dead_code)] // not every test binary drives a browser
pub fn chromium(what: &str) -> Option<&'static str> {
    let found = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| std::process::Command::new(c).arg("--version").output().is_ok_and(|o| o.status.success()));
    if found.is_none() {
        skipped(what, "chromium is not installed");
    }
    found
}

/// A path in cargo's temporary directory for this test target.
#[allow(dead_code)]
pub fn tmp(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name)
}

//! Bad arguments get a one-line error and exit status 2 (README, "Exit codes"), never a
//! panic: the edges are checked where clap reads them.

use std::process::Command;

#[test]
fn bad_arguments_get_a_clear_error_and_status_2() {
    let cases: &[&[&str]] = &[
        &["inject", "--duration", "nan"],
        &["inject", "--duration", "inf"],
        &["sniff", "--duration", "0"],
        &["sniff", "--duration", "1e300"],
        &["visit", "ftp://clinic.test/"],
        &["visit", "file:///etc/passwd"],
        &["visit", "http:///nohost"],
        &["demo", "--scenario", "nope"],
        &["demo", "--lab", "../etc"],
        &["lab", "up", "--name", "UPPER"],
        &["sniff", "--lab", "a b"],
        &["analyze", "/nonexistent/capture.pcap"],
        &["analyze", "--format", "zeek", "capture.pcap"],
    ];
    for args in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_plainsight")).args(*args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        let first = err.lines().next().unwrap_or("");
        assert!(first.starts_with("error: ") || first.starts_with("plainsight: "), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

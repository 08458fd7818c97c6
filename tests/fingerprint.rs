//! "Which article did she read?" in a lab (root): the attacker learns the site from the
//! intruder host, then guesses the visitor's HTTPS page loads from the intruder's capture
//! of the visitor (captures it did not learn from); with the site padding, no better than
//! a few times chance.

mod common;

use common::{LabDown as Down, ok, ps};

use std::process::Command;

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

/// Learns, evaluates 50 visits; returns the evaluation's JSON and its printed report.
fn learn_and_eval(lab: &str, json: &std::path::Path) -> (serde_json::Value, String) {
    let learned = ok(&["fingerprint", "learn", "--lab", lab, "--loads", "2"]);
    assert!(learned.contains("learned 24 page loads of 12 articles"), "{learned}");
    let report = ok(&["fingerprint", "eval", "--lab", lab, "--visits", "50", "--json", json.to_str().unwrap()]);
    let e: serde_json::Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
    assert_eq!(e["visits"], 50, "{report}");
    assert_eq!(e["articles"], 12);
    assert!((e["chance"].as_f64().unwrap() - 1.0 / 12.0).abs() < 1e-9);
    (e, report)
}

#[test]
fn the_article_read_over_https_is_guessed_from_sizes_unless_the_site_pads() {
    if !common::need_root("fingerprint (lab)") {
        return;
    }
    const LAB: &str = "pstest-fp";
    let _down = Down(LAB);
    let dir = tempfile::tempdir().unwrap();
    let _ = ps(&["lab", "down", "--name", LAB]);
    // Before learning, guessing says what is missing.
    ok(&["lab", "up", "--name", LAB]);
    let out = ps(&["fingerprint", "eval", "--lab", LAB, "--visits", "3"]);
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("fingerprint learn"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (e, report) = learn_and_eval(LAB, &dir.path().join("plain.json"));
    let correct = e["correct"].as_u64().unwrap();
    assert!(correct >= 40, "unpadded: only {correct} of 50 right (80% wanted):\n{report}");
    assert_eq!(e["padding"], "none");
    assert_eq!(e["overhead_bytes"], 0);
    // `guess` on the capture of the visitor's page loads (kept by eval; it reads each
    // article for 0.5 s): one load per visit, each named with a score and why.
    let capture = format!("/run/plainsight/{LAB}/fingerprint/visitor.pcapng");
    let guessed = ok(&["fingerprint", "guess", "--lab", LAB, "--gap", "0.3", &capture]);
    assert!(guessed.starts_with("50 HTTPS page load(s) to clinic.test"), "{guessed}");
    assert_eq!(guessed.matches("    why: saw ").count(), 50, "{guessed}");
    assert!(guessed.contains("192.0.2.10: read /articles/"), "{guessed}");

    // Live, inside sniff: each page load is named as it ends (after a pause of a second
    // with no new connection: the reader reading), the last one when the capture stops.
    let ready = dir.path().join("sniff.ready");
    let sniff = Command::new(env!("CARGO_BIN_EXE_plainsight"))
        .args(["sniff", "--lab", LAB, "--guess-articles", "--ready-file", ready.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    common::wait_until("the sniffer", || ready.exists());
    ok(&["visit", "--lab", LAB, "--page-only", "https://clinic.test/articles/migraine"]);
    std::thread::sleep(std::time::Duration::from_millis(1500)); // reading: the pause that ends a page load
    ok(&["visit", "--lab", LAB, "--page-only", "https://clinic.test/articles/depression"]);
    // SAFETY: kill takes two integers; the pid is our own child's.
    unsafe { libc_kill(sniff.id() as i32, 15) };
    let out = sniff.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let guesses: Vec<&str> = text.lines().filter(|l| l.starts_with("[guess]")).collect();
    assert_eq!(guesses.len(), 2, "{text}");
    assert!(guesses[0].contains("192.0.2.10 read /articles/migraine over HTTPS? score"), "{text}");
    assert!(guesses[1].contains("read /articles/depression over HTTPS?"), "{text}");

    // A real browser: Debian's Chromium reads the articles (the attacker learns with it too).
    if common::have_tool("chromium", "fingerprint eval --browser chromium") {
        let learned = ok(&["fingerprint", "learn", "--lab", LAB, "--loads", "1", "--browser", "chromium"]);
        assert!(
            learned.contains(
                "learned 12 page loads of 12 articles on clinic.test over HTTPS, from the intruder host with Chromium"
            ),
            "{learned}"
        );
        let json = dir.path().join("chromium.json");
        let report = ok(&[
            "fingerprint",
            "eval",
            "--lab",
            LAB,
            "--visits",
            "12",
            "--browser",
            "chromium",
            "--json",
            json.to_str().unwrap(),
        ]);
        let e: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        assert_eq!((e["visits"].as_u64(), e["browser"].as_str()), (Some(12), Some("chromium")), "{report}");
        assert!(e["correct"].as_u64().unwrap() >= 10, "Chromium: {} of 12 right (80% wanted):\n{report}", e["correct"]);
    }

    // The defence: the site pads; the attacker re-learns it, and does no better than a
    // few times chance (1 in 12).
    let out = ps(&["lab", "down", "--name", LAB]);
    assert!(out.status.success());
    let up = ok(&["lab", "up", "--name", LAB, "--pad"]);
    assert!(up.contains("padding: every body to the next power of two"), "{up}");
    let (e, report) = learn_and_eval(LAB, &dir.path().join("padded.json"));
    let correct = e["correct"].as_u64().unwrap();
    assert!(correct <= 15, "padded: {correct} of 50 right (30% at most wanted):\n{report}");
    assert!(e["padding"].as_str().unwrap().contains("power of two"));
    let overhead = e["overhead_percent"].as_f64().unwrap();
    assert!(e["overhead_bytes"].as_u64().unwrap() > 0 && overhead > 0.0, "{e}");
    assert!(report.contains("cost: ") && report.contains("more bytes per page load"), "{report}");
}

//! The lab for real, in network namespaces (root). In CI these run as root and fail if
//! the privilege is missing; elsewhere they skip with a message.

mod common;

use common::{LabDown as Down, ok, ps};

use std::path::Path;
use std::process::Command;

fn namespaces(prefix: &str) -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

/// Tears the lab down even when an assertion fails.
fn visit_json(lab: &str, start: &str, extra: &[&str]) -> serde_json::Value {
    let path = std::env::temp_dir().join(format!("visit-{lab}-{}.json", std::process::id()));
    let mut args = vec!["visit", "--lab", lab, "--json", path.to_str().unwrap(), start];
    args.extend_from_slice(extra);
    let out = ps(&args);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert!(out.status.success() || v["errors"].as_u64() > Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    v
}

#[test]
fn lab_lifecycle_visits_and_real_tools() {
    if !common::need_root("the lab test") {
        return;
    }
    let _down = Down("pstest-a");
    let _down2 = Down("pstest-b");
    ok(&["lab", "up", "--name", "pstest-a"]);
    ok(&["lab", "up", "--name", "pstest-a"]); // twice is harmless
    assert_eq!(namespaces("pstest-a-").len(), 5);
    let status = ok(&["lab", "status", "--name", "pstest-a"]);
    assert!(status.contains("running: site") && status.contains("/run/plainsight/pstest-a/ca.pem"), "{status}");
    let mode = std::fs::metadata("/run/plainsight/pstest-a/site.key").unwrap();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o077, 0, "keys are root-only");

    // A visit over HTTPS: every resource intact, logged in, article read.
    let v = visit_json("pstest-a", "https://clinic.test/", &[]);
    assert_eq!(v["errors"], 0, "{v:#}");
    assert_eq!(v["all_intact"], true);
    assert_eq!(v["logged_in"], true);
    assert_eq!(v["saw_account"], true);
    assert!(v["steps"].as_array().unwrap().iter().filter(|s| s["integrity"] == "intact").count() >= 8);
    // A bare name goes to http first, is redirected, and HSTS is learned.
    let v = visit_json("pstest-a", "clinic.test", &[]);
    assert_eq!(v["steps"][0]["url"], "http://clinic.test/");
    assert_eq!(v["steps"][0]["status"], 301);
    assert_eq!(v["hsts_hosts"][0], "clinic.test");
    // A wrong password gets the login error page.
    let v = visit_json("pstest-a", "https://clinic.test/", &["--password", "wrong"]);
    assert_eq!(v["logged_in"], false);
    assert!(v["steps"].as_array().unwrap().iter().any(|s| s["status"] == 401));

    // Real tools: curl in the visitor host with the lab CA; tcpdump on the intruder sees it.
    let ca = "/run/plainsight/pstest-a/ca.pem";
    // tcpdump says "listening on lan0" once its capture is open: curl starts only then (a
    // sleep is outrun by a busy machine, and tcpdump then waits for packets that passed).
    let mut dump = Command::new(env!("CARGO_BIN_EXE_plainsight"))
        .args([
            "lab",
            "exec",
            "--name",
            "pstest-a",
            "intruder",
            "--",
            "timeout",
            "20",
            "tcpdump",
            "-i",
            "lan0",
            "-nn",
            "-c",
            "3",
            "tcp port 443",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = std::io::BufReader::new(dump.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("listening on") {
        line.clear();
        assert!(std::io::BufRead::read_line(&mut said, &mut line).unwrap() > 0, "tcpdump ended before it listened");
    }
    let curl = ps(&[
        "lab",
        "exec",
        "--name",
        "pstest-a",
        "visitor",
        "--",
        "curl",
        "-sS",
        "--cacert",
        ca,
        "https://clinic.test/articles/living-with-hiv",
    ]);
    assert!(
        String::from_utf8_lossy(&curl.stdout).contains("Living with HIV"),
        "{}",
        String::from_utf8_lossy(&curl.stderr)
    );
    let seen = dump.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&seen.stdout).lines().count(),
        3,
        "tcpdump on the intruder saw the visitor's TLS"
    );
    let bad = ps(&["lab", "exec", "--name", "pstest-a", "visitor", "--", "curl", "-sS", "https://clinic.test/"]);
    assert!(!bad.status.success(), "without the lab CA, curl must refuse the site");

    // A second lab side by side.
    ok(&["lab", "up", "--name", "pstest-b"]);
    assert_eq!(visit_json("pstest-b", "https://clinic.test/", &[])["errors"], 0);
    assert_eq!(visit_json("pstest-a", "https://clinic.test/", &[])["errors"], 0);

    // kill -9 of everything in lab a, then `up` recovers.
    let pids = || -> Vec<String> {
        namespaces("pstest-a-")
            .iter()
            .flat_map(|ns| {
                let out = Command::new("ip").args(["netns", "pids", ns]).output().unwrap();
                String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_string).collect::<Vec<_>>()
            })
            .collect()
    };
    for pid in pids() {
        let _ = Command::new("kill").args(["-9", &pid]).status();
    }
    common::wait_until("the killed roles to be gone", || pids().is_empty());
    ok(&["lab", "up", "--name", "pstest-a"]);
    assert_eq!(visit_json("pstest-a", "https://clinic.test/", &[])["errors"], 0);

    // down leaves nothing: no namespace, no state, no resolver file.
    ok(&["lab", "down", "--name", "pstest-a"]);
    ok(&["lab", "down", "--name", "pstest-b"]);
    assert!(namespaces("pstest-a-").is_empty() && namespaces("pstest-b-").is_empty());
    assert!(!Path::new("/run/plainsight/pstest-a").exists());
    assert!(!Path::new("/etc/netns/pstest-a-visitor").exists());
}

#[test]
fn site_survives_bad_requests() {
    if !common::need_root("the site hardening test") {
        return;
    }
    let _down = Down("pstest-c");
    ok(&["lab", "up", "--name", "pstest-c", "--no-redirect"]);
    let exec = |script: &str| {
        Command::new(env!("CARGO_BIN_EXE_plainsight"))
            .args(["lab", "exec", "--name", "pstest-c", "visitor", "--", "bash", "-c", script])
            .output()
            .unwrap()
    };
    // Oversized headers: 431.
    let big = exec(
        "curl -s -o /dev/null -w '%{http_code}' -H \"X-Big: $(head -c 40000 /dev/zero | tr '\\0' a)\" http://clinic.test/",
    );
    assert_eq!(String::from_utf8_lossy(&big.stdout), "431");
    // A garbage request line: 400, and the site keeps serving.
    let garbage = exec("exec 3<>/dev/tcp/198.51.100.10/80; printf 'NOT HTTP AT ALL\\r\\n\\r\\n' >&3; head -c 12 <&3");
    assert!(String::from_utf8_lossy(&garbage.stdout).starts_with("HTTP/1.1 400"), "{:?}", garbage);
    // A slow client that never finishes its header is cut off by the header timeout (10 s),
    // not kept forever.
    let slow = exec(
        "exec 3<>/dev/tcp/198.51.100.10/80; printf 'GET / HT' >&3; start=$(date +%s); timeout 20 cat <&3 >/dev/null; rc=$?; echo \"$rc $(( $(date +%s) - start ))\"",
    );
    let text = String::from_utf8_lossy(&slow.stdout);
    let mut parts = text.split_whitespace();
    let (rc, secs): (i32, i32) = (parts.next().unwrap().parse().unwrap(), parts.next().unwrap().parse().unwrap());
    assert_eq!(rc, 0, "the site closed the slow connection (timeout would give 124)");
    assert!((8..=15).contains(&secs), "closed after {secs} s");
    let after = exec("curl -s -o /dev/null -w '%{http_code}' http://clinic.test/");
    assert_eq!(String::from_utf8_lossy(&after.stdout), "200");
}

#[test]
fn lab_up_without_root_changes_nothing() {
    // Run as nobody where possible; as a non-root user the plain call is enough.
    let out = if nix_is_root() {
        Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                env!("CARGO_BIN_EXE_plainsight"),
                "lab",
                "up",
                "--name",
                "pstest-d",
            ])
            .output()
            .unwrap()
    } else {
        ps(&["lab", "up", "--name", "pstest-d"])
    };
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs root"));
    assert!(namespaces("pstest-d-").is_empty());
}

fn nix_is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

/// `lab status` shows what nobody will stop but `lab down`: a role whose starter is gone,
/// and interception rules with no proxy behind them.
#[test]
fn status_reports_orphans_and_stale_rules() {
    if !common::need_root("the lab status test") {
        return;
    }
    const LAB: &str = "pstest-st";
    let _ = ps(&["lab", "down", "--name", LAB]);
    assert!(ps(&["lab", "up", "--name", LAB]).status.success());
    assert!(
        Command::new("ip")
            .args(["netns", "exec", &format!("{LAB}-intruder"), "nft", "add", "table", "ip", "plainsight_inject"])
            .status()
            .unwrap()
            .success()
    );
    // A sniffer whose starter exits at once: it is reparented to init.
    let starter = format!("{} sniff --lab {LAB} --duration 60 >/dev/null 2>&1 &", env!("CARGO_BIN_EXE_plainsight"));
    assert!(Command::new("sh").args(["-c", &starter]).status().unwrap().success());
    let status = || String::from_utf8_lossy(&ps(&["lab", "status", "--name", LAB]).stdout).into_owned();
    common::wait_until("the orphaned sniffer to show", || status().contains("sniff (orphaned"));
    let s = status();
    assert!(s.contains("stale interception rules"), "{s}");
    assert!(s.contains("running: site") && !s.contains("site (orphaned"), "the detached site is not an orphan: {s}");
    assert!(ps(&["lab", "down", "--name", LAB]).status.success());
    let left =
        String::from_utf8_lossy(&Command::new("pgrep").args(["-af", &format!("--lab {LAB}")]).output().unwrap().stdout)
            .into_owned();
    assert!(!left.lines().any(|l| l.contains("sniff")), "lab down left {left}");
}

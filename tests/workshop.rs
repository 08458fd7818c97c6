//! The workshop (root): three participants, each running a scripted reference solution of
//! every exercise in their own lab, as the exercise text tells them (sniff, curl, inject,
//! analyze); every checkpoint passes. The same answers submitted for another participant
//! fail, wrong answers fail, and no participant's sniffer sees another lab's traffic.

mod common;

use common::ps;

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const W: &str = "pstest-ws";
const PARTICIPANTS: u16 = 3;

fn lab(p: u16) -> String {
    format!("{W}-{p:02}")
}

struct Down;
impl Drop for Down {
    fn drop(&mut self) {
        let _ = ps(&["workshop", "down", "--name", W]);
    }
}

/// A background role, killed when dropped.
struct Bg(Child);
impl Drop for Bg {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}

fn show(p: u16, id: &str) -> String {
    let o = ps(&["workshop", "show", id, "--name", W, "--participant", &p.to_string()]);
    assert!(o.status.success(), "show {id} for {p}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs a check: passed, and what it printed.
fn check(p: u16, id: &str, answer: Option<&str>) -> (bool, String) {
    let ps_p = p.to_string();
    let mut args = vec!["workshop", "check", id, "--name", W, "--participant", &ps_p];
    if let Some(a) = answer {
        args.extend(["--answer", a]);
    }
    let o = ps(&args);
    let out = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    match o.status.code() {
        Some(0) => (true, out),
        Some(1) => (false, out),
        other => panic!("check {id} for {p} exited {other:?}: {out}"),
    }
}

/// Checks until the checkpoint passes: lab checkpoints pass once the bot has visited
/// after the participant acted (the evidence arrives with its next visit).
fn check_until(p: u16, id: &str, answer: Option<&str>) -> String {
    let start = Instant::now();
    loop {
        let (ok, out) = check(p, id, answer);
        if ok {
            return out;
        }
        assert!(start.elapsed() < Duration::from_secs(45), "participant {p}, {id}: never passed; last: {out}");
        std::thread::sleep(Duration::from_millis(400));
    }
}

/// Sniffs in participant `p`'s intruder host until `pick` finds what it wants in a line;
/// returns it and every line seen.
fn sniff_until(p: u16, args: &[&str], pick: impl Fn(&str) -> Option<String>) -> (String, Vec<String>) {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &format!("{}-intruder", lab(p)), env!("CARGO_BIN_EXE_plainsight"), "sniff", "--lab", &lab(p)]).args(args);
    let mut child = Bg(cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap());
    let out = child.0.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).unwrap_or_else(|_| panic!("participant {p}: the sniffer never showed what the exercise asks; it saw:\n{}", seen.join("\n")));
        let found = pick(&line);
        seen.push(line);
        if let Some(v) = found {
            return (v, seen);
        }
    }
}

/// `plainsight inject ARGS` in participant `p`'s intruder host, once it intercepts.
fn inject(p: u16, args: &[&str]) -> Bg {
    let ready = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("ws-inject-{p}.ready"));
    let _ = std::fs::remove_file(&ready);
    let log = std::fs::File::create(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("ws-inject-{p}.log"))).unwrap();
    let child = Command::new("ip")
        .args(["netns", "exec", &format!("{}-intruder", lab(p)), env!("CARGO_BIN_EXE_plainsight"), "inject", "--lab", &lab(p), "--ready-file"])
        .arg(&ready)
        .args(args)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let bg = Bg(child);
    common::wait_until("the participant's proxy", || ready.exists());
    bg
}

fn after<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    line.find(marker).map(|i| line[i + marker.len()..].trim())
}

/// What one participant found, exercise by exercise, and every line their sniffers saw.
struct Solved {
    answers: BTreeMap<&'static str, String>,
    sniffed: Vec<String>,
}

/// The reference solution of every exercise, as its text tells a participant.
fn solve(p: u16) -> Solved {
    let mut answers = BTreeMap::new();
    let mut sniffed = Vec::new();

    show(p, "password");
    let (pw, lines) = sniff_until(p, &["--reveal"], |l| after(l, "form field \"password\" in POST /login:").map(str::to_string));
    sniffed.extend(lines);
    let (ok, out) = check(p, "password", Some("not the password"));
    assert!(!ok && out.contains("NOT YET") && out.contains("hint 1"), "{out}");
    assert!(check(p, "password", Some(&pw)).0, "participant {p}: password {pw:?} did not pass");
    answers.insert("password", pw);

    show(p, "cookie");
    let (cookie, lines) = sniff_until(p, &["--reveal"], |l| after(l, "cookie session sent to clinic.test:").map(str::to_string));
    sniffed.extend(lines);
    let page = Command::new("ip").args(["netns", "exec", &format!("{}-intruder", lab(p)), "curl", "-s", "-H", &format!("Cookie: session={cookie}"), "http://clinic.test/account"]).output().unwrap();
    let page = String::from_utf8_lossy(&page.stdout).into_owned();
    let flag = page.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')).find(|w| w.starts_with("FLAG-")).unwrap_or_else(|| panic!("participant {p}: no flag on the account page: {page}")).to_string();
    assert!(check(p, "cookie", Some(&flag)).0, "participant {p}: the flag did not pass");
    answers.insert("cookie", flag);

    let text = format!("Participant {p} was on your Wi-Fi");
    show(p, "inject");
    let ad = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("ws-ad-{p}.html"));
    std::fs::write(&ad, format!("<p class=\"plainsight-ad\">{text}</p>")).unwrap();
    {
        let _proxy = inject(p, &["--ad", ad.to_str().unwrap()]);
        let (ok, out) = check(p, "inject", Some("Welcome to the clinic"));
        assert!(!ok && out.contains("site's own pages"), "{out}");
        check_until(p, "inject", Some(&text));
    }
    answers.insert("inject", text);

    show(p, "https");
    let (name, lines) = sniff_until(p, &[], |l| after(l, "TLS server name").map(|s| s.split_whitespace().next().unwrap_or("").to_string()));
    sniffed.extend(lines);
    assert!(check(p, "https", Some(&name)).0, "participant {p}: server name {name:?} did not pass");
    answers.insert("https", name);

    show(p, "forged");
    {
        let _proxy = inject(p, &["--tls", "mitm"]);
        let out = check_until(p, "forged", None);
        assert!(out.contains("UnknownIssuer") || out.contains("certificate"), "{out}");
    }

    show(p, "sslstrip");
    {
        let _proxy = inject(p, &["--tls", "strip"]);
        let (pw, lines) = sniff_until(p, &["--reveal"], |l| after(l, "form field \"password\" in POST /login:").map(str::to_string));
        sniffed.extend(lines);
        assert_ne!(Some(&pw), answers.get("password"), "the password must change between exercises");
        let (ok, _) = check(p, "sslstrip", Some(&answers["password"]));
        assert!(!ok, "participant {p}: the first exercise's password passed sslstrip");
        assert!(check(p, "sslstrip", Some(&pw)).0, "participant {p}: stripped password did not pass");
        answers.insert("sslstrip", pw);
    }

    show(p, "hsts");
    let (ok, out) = check(p, "hsts", None);
    assert!(!ok && out.contains("no `plainsight inject --tls strip` runs"), "{out}");
    {
        let _proxy = inject(p, &["--tls", "strip"]);
        check_until(p, "hsts", None);
    }

    let text = show(p, "capture");
    let handout = text.split('`').find(|s| s.ends_with("handout.pcap")).unwrap_or_else(|| panic!("no handout path in: {text}")).to_string();
    let o = ps(&["analyze", &handout]);
    let report = String::from_utf8_lossy(&o.stdout);
    let site = report.lines().filter_map(|l| after(l, "TLS server name")).map(|s| s.split_whitespace().next().unwrap_or("").to_string()).find(|s| s != "clinic.test").unwrap_or_else(|| panic!("analyze shows no other server name: {report}"));
    assert!(check(p, "capture", Some(&site)).0, "participant {p}: {site} did not pass");
    answers.insert("capture", site);

    // Which article over HTTPS: learn the site from the participant's own host, then let
    // the sniffer name the bot's page load from its sizes (this bot pauses 0.5-1 s between
    // visits: a load ends after 0.3 s without a new connection).
    show(p, "article");
    let learned = Command::new("ip").args(["netns", "exec", &format!("{}-intruder", lab(p)), env!("CARGO_BIN_EXE_plainsight"), "fingerprint", "learn", "--lab", &lab(p)]).output().unwrap();
    assert!(learned.status.success(), "participant {p}: fingerprint learn: {}", String::from_utf8_lossy(&learned.stderr));
    // The bot reads the same article at every visit: two guesses in a row that agree.
    let last = std::cell::RefCell::new(String::new());
    let (article, lines) = sniff_until(p, &["--guess-articles", "--guess-gap", "0.3"], |l| {
        let a = after(l, "read /articles/").and_then(|s| s.split_whitespace().next())?.to_string();
        (last.replace(a.clone()) == a).then_some(a)
    });
    sniffed.extend(lines);
    let (ok, out) = check(p, "article", Some(if article == "migraine" { "healthy-sleep" } else { "migraine" }));
    assert!(!ok && out.contains("not the article"), "{out}");
    assert!(check(p, "article", Some(&article)).0, "participant {p}: the guessed article {article:?} did not pass");
    answers.insert("article", article);
    Solved { answers, sniffed }
}

#[test]
fn three_participants_solve_every_exercise_in_their_own_lab() {
    if !common::need_root("the workshop test") {
        return;
    }
    let _ = ps(&["workshop", "down", "--name", W]);
    let _ = std::fs::remove_dir_all(format!("/var/lib/plainsight/{W}"));
    let _down = Down;
    let o = ps(&["workshop", "up", "--name", W, "--participants", &PARTICIPANTS.to_string(), "--key", "reference solution key", "--bot-interval", "0.5-1"]);
    assert!(o.status.success(), "workshop up: {}", String::from_utf8_lossy(&o.stderr));
    let listed = String::from_utf8_lossy(&ps(&["workshop", "exercises"]).stdout).into_owned();
    assert!(listed.lines().count() >= 8, "{listed}");

    let solved: Vec<Solved> = std::thread::scope(|s| {
        let handles: Vec<_> = (1..=PARTICIPANTS).map(|p| s.spawn(move || solve(p))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });

    // The trainer's view does not project the page the bot read in the article exercise:
    // that page is the answer.
    {
        let mut serve = Bg(Command::new(env!("CARGO_BIN_EXE_plainsight")).args(["workshop", "serve", "--name", W, "--listen", "127.0.0.1:0"]).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap());
        let mut first = String::new();
        std::io::BufReader::new(serve.0.stdout.take().unwrap()).read_line(&mut first).unwrap();
        let base = first.strip_prefix("view: ").and_then(|r| r.split_whitespace().next()).unwrap_or_else(|| panic!("no view line: {first:?}")).to_string();
        let page = Command::new("curl").args(["-s", &format!("{base}lab/{}/page", lab(1))]).output().unwrap();
        let page = String::from_utf8_lossy(&page.stdout);
        let title = plainsight::lab::site::articles::by_path(&format!("/articles/{}", solved[0].answers["article"])).unwrap().title;
        assert!(page.contains("stays hidden") && !page.contains(title), "{page}");
    }

    // Every participant passed every exercise, as the progress database says.
    let json: serde_json::Value = serde_json::from_slice(&ps(&["workshop", "progress", "--name", W, "--json"]).stdout).unwrap();
    let ids: Vec<String> = json["exercises"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    for row in json["participants"].as_array().unwrap() {
        for id in &ids {
            assert_eq!(row["exercises"][id]["passed"], true, "{id} in {row}");
        }
    }

    // Another participant's answers fail; no sniffer saw another lab's persona.
    let usernames: Vec<String> = (1..=PARTICIPANTS).map(|p| String::from_utf8_lossy(&std::fs::read(format!("/run/plainsight/{}/persona.json", lab(p))).unwrap()).into_owned()).map(|j| serde_json::from_str::<serde_json::Value>(&j).unwrap()["username"].as_str().unwrap().to_string()).collect();
    for p in 1..=PARTICIPANTS {
        let q = p % PARTICIPANTS + 1;
        let (ok, out) = check(q, "capture", Some(&solved[p as usize - 1].answers["capture"]));
        assert!(!ok, "participant {q} passed with participant {p}'s capture answer: {out}");
        for id in ["password", "cookie"] {
            show(q, id);
            let (ok, out) = check(q, id, Some(&solved[p as usize - 1].answers[id]));
            assert!(!ok, "participant {q} passed {id} with participant {p}'s answer: {out}");
        }
        let own = &usernames[p as usize - 1];
        assert!(solved[p as usize - 1].sniffed.iter().any(|l| l.contains(own.as_str())), "participant {p}'s sniffer never saw their own bot sign in");
        for (i, other) in usernames.iter().enumerate() {
            if i + 1 != p as usize && other != own {
                let leak: Vec<&String> = solved[p as usize - 1].sniffed.iter().filter(|l| l.contains(other.as_str())).collect();
                assert!(leak.is_empty(), "participant {p}'s sniffer saw participant {}'s traffic: {leak:?}", i + 1);
            }
        }
    }

    let status = String::from_utf8_lossy(&ps(&["workshop", "status", "--name", W]).stdout).into_owned();
    assert_eq!(status.matches("bot running").count(), PARTICIPANTS as usize, "{status}");
    let o = ps(&["workshop", "down", "--name", W]);
    assert!(o.status.success());
    let left: Vec<String> = String::from_utf8_lossy(&Command::new("ip").args(["netns", "list"]).output().unwrap().stdout).lines().filter(|l| l.starts_with(W)).map(str::to_string).collect();
    assert!(left.is_empty(), "namespaces left after workshop down: {left:?}");
    assert!(std::path::Path::new(&format!("/var/lib/plainsight/{W}/progress.db")).exists(), "workshop down removed the progress");
    // What this test made, it removes.
    std::fs::remove_dir_all(format!("/var/lib/plainsight/{W}")).unwrap();
}

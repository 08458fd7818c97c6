//! The workshop (root): three participants, each running a scripted reference solution of
//! every exercise in their own lab, as the exercise text tells them (sniff, curl, inject,
//! analyze); every checkpoint passes. The same answers submitted for another participant
//! fail, wrong answers fail, and no participant's sniffer sees another lab's traffic.

mod common;

use common::ps;
use common::room::{Login, Remote, Room};

use std::collections::BTreeMap;
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const W: &str = "pstest-ws";
const PARTICIPANTS: u16 = 3;

fn lab(p: u16) -> String {
    format!("{W}-{p:02}")
}

/// A background role, killed when dropped.
struct Bg(Child);
impl Drop for Bg {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}

/// A shell word: `s` in single quotes.
fn sq(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The trainer checks for participant `p` (root): passed, and what it printed.
fn trainer_check(p: u16, id: &str, answer: &str) -> (bool, String) {
    let o = ps(&["workshop", "check", id, "--name", W, "--participant", &p.to_string(), "--answer", answer]);
    (o.status.success(), format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
}

/// A participant checks from their sandbox: passed, and what it printed.
fn check(me: &Login, id: &str, answer: Option<&str>) -> (bool, String) {
    let cmd = match answer {
        Some(a) => format!("plainsight workshop check {id} --answer {}", sq(a)),
        None => format!("plainsight workshop check {id}"),
    };
    let o = me.run(&cmd);
    let out = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    match o.status.code() {
        Some(0) => (true, out),
        Some(1) => (false, out),
        other => panic!("participant {}: check {id} exited {other:?}: {out}", me.participant),
    }
}

/// Checks until the checkpoint passes: lab checkpoints pass once the bot has visited
/// after the participant acted (the evidence arrives with its next visit).
fn check_until(me: &Login, id: &str, answer: Option<&str>) -> String {
    let start = Instant::now();
    loop {
        let (ok, out) = check(me, id, answer);
        if ok {
            return out;
        }
        assert!(
            start.elapsed() < Duration::from_secs(45),
            "participant {}, {id}: never passed; last: {out}",
            me.participant
        );
        std::thread::sleep(Duration::from_millis(400));
    }
}

/// Sniffs in the participant's sandbox until `pick` finds what it wants in a line;
/// returns it and every line seen.
fn sniff_until(me: &Login, args: &str, pick: impl FnMut(&str) -> Option<String>) -> (String, Vec<String>) {
    let mut sniff = me.spawn(&format!("plainsight sniff {args}"));
    let found = sniff.until(
        Duration::from_secs(45),
        &format!("participant {}: what the exercise asks, in the sniffer", me.participant),
        pick,
    );
    (found, std::mem::take(&mut sniff.seen))
}

/// Waits until the participant's proxies of earlier exercises are gone: each ends with the
/// login it ran in, which the test's dropped `Remote` hung up.
fn proxies_gone(me: &Login) {
    common::wait_until(&format!("participant {}'s earlier proxy to end", me.participant), || {
        me.run("! pgrep -f '^plainsight inject' > /dev/null").status.success()
    });
}

/// `plainsight inject ARGS` in the participant's sandbox, once it intercepts.
fn inject(me: &Login, args: &str) -> Remote {
    // The proxy of the exercise before holds port 8080 until its login's hang-up reaches it.
    proxies_gone(me);
    let mut proxy = me.spawn(&format!("plainsight inject {args}"));
    proxy.until(Duration::from_secs(20), "the participant's proxy", |l| {
        l.starts_with("inject: intercepting").then_some(())
    });
    proxy
}

fn after<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    line.find(marker).map(|i| line[i + marker.len()..].trim())
}

/// What one participant found, exercise by exercise, and every line their sniffers saw.
struct Solved {
    answers: BTreeMap<&'static str, String>,
    sniffed: Vec<String>,
}

/// The reference solution of every exercise, as its text tells a participant, typed in
/// their sandbox over SSH.
fn solve(me: &Login) -> Solved {
    let p = me.participant;
    let mut answers = BTreeMap::new();
    let mut sniffed = Vec::new();

    me.ok("plainsight workshop show password");
    let (pw, lines) =
        sniff_until(me, "--reveal", |l| after(l, "form field \"password\" in POST /login:").map(str::to_string));
    sniffed.extend(lines);
    let (ok, out) = check(me, "password", Some("not the password"));
    assert!(!ok && out.contains("NOT YET") && out.contains("hint 1"), "{out}");
    assert!(check(me, "password", Some(&pw)).0, "participant {p}: password {pw:?} did not pass");
    answers.insert("password", pw);

    me.ok("plainsight workshop show cookie");
    let (cookie, lines) =
        sniff_until(me, "--reveal", |l| after(l, "cookie session sent to clinic.test:").map(str::to_string));
    sniffed.extend(lines);
    let page =
        me.ok(&format!("curl -s -H {} http://clinic.test/account/note", sq(&format!("Cookie: session={cookie}"))));
    let flag = page
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .find(|w| w.starts_with("FLAG-"))
        .unwrap_or_else(|| panic!("participant {p}: no flag on the note page: {page}"))
        .to_string();
    // Only the replayed session read it: the bot's visits in this exercise never opened
    // the note, and no page the bot received carried the flag (the lab's records, read as
    // root).
    let state = format!("/run/plainsight/{}", lab(p));
    let visits = std::fs::read_to_string(format!("{state}/bot-visits.jsonl")).unwrap();
    let cookie_visits: Vec<&str> = visits.lines().filter(|l| l.contains("\"exercise\":\"cookie\"")).collect();
    assert!(!cookie_visits.is_empty(), "participant {p}: no bot visit recorded in the cookie exercise");
    assert!(
        cookie_visits.iter().all(|v| !v.contains("/account/note") && !v.contains(flag.as_str())),
        "participant {p}'s bot opened the note"
    );
    for page in std::fs::read_dir(format!("{state}/bot-pages")).unwrap().flatten() {
        assert!(
            !std::fs::read_to_string(page.path()).unwrap_or_default().contains(flag.as_str()),
            "participant {p}'s bot received the flag in {}",
            page.path().display()
        );
    }
    assert!(check(me, "cookie", Some(&flag)).0, "participant {p}: the flag did not pass");
    answers.insert("cookie", flag);

    let text = format!("Participant {p} was on your Wi-Fi");
    me.ok("plainsight workshop show inject");
    me.ok(&format!("echo {} > /tmp/my-ad.html", sq(&format!("<p class=\"plainsight-ad\">{text}</p>"))));
    {
        let _proxy = inject(me, "--ad /tmp/my-ad.html");
        let (ok, out) = check(me, "inject", Some("Welcome to the clinic"));
        assert!(!ok && out.contains("site's own pages"), "{out}");
        check_until(me, "inject", Some(&text));
    }
    answers.insert("inject", text);

    me.ok("plainsight workshop show https");
    // The exercise asks for the bot's own portal: the clinic's public name, which a visit
    // still in flight from the exercise before may show first, is not the answer.
    let (name, lines) = sniff_until(me, "", |l| {
        after(l, "TLS server name")
            .and_then(|s| s.split_whitespace().next())
            .filter(|name| *name != "clinic.test")
            .map(str::to_string)
    });
    sniffed.extend(lines);
    let (ok, out) = check(me, "https", Some("clinic.test"));
    assert!(!ok && out.contains("public name"), "{out}");
    assert!(check(me, "https", Some(&name)).0, "participant {p}: server name {name:?} did not pass");
    answers.insert("https", name);

    me.ok("plainsight workshop show forged");
    {
        let _proxy = inject(me, "--tls mitm");
        let out = check_until(me, "forged", None);
        assert!(out.contains("UnknownIssuer") || out.contains("certificate"), "{out}");
    }

    me.ok("plainsight workshop show sslstrip");
    {
        let _proxy = inject(me, "--tls strip");
        let (pw, lines) =
            sniff_until(me, "--reveal", |l| after(l, "form field \"password\" in POST /login:").map(str::to_string));
        sniffed.extend(lines);
        assert_ne!(Some(&pw), answers.get("password"), "the password must change between exercises");
        let (ok, _) = check(me, "sslstrip", Some(&answers["password"]));
        assert!(!ok, "participant {p}: the first exercise's password passed sslstrip");
        assert!(check(me, "sslstrip", Some(&pw)).0, "participant {p}: stripped password did not pass");
        answers.insert("sslstrip", pw);
    }

    me.ok("plainsight workshop show hsts");
    proxies_gone(me);
    let (ok, out) = check(me, "hsts", None);
    assert!(!ok && out.contains("no `plainsight inject --tls strip` runs"), "{out}");
    {
        let _proxy = inject(me, "--tls strip");
        check_until(me, "hsts", None);
    }
    proxies_gone(me);

    let text = me.ok("plainsight workshop show capture");
    let handout = text
        .split('`')
        .find(|s| s.ends_with("handout.pcap"))
        .unwrap_or_else(|| panic!("no handout path in: {text}"))
        .to_string();
    let report = me.ok(&format!("plainsight analyze {}", sq(&handout)));
    let site = report
        .lines()
        .filter_map(|l| after(l, "TLS server name"))
        .map(|s| s.split_whitespace().next().unwrap_or("").to_string())
        .find(|s| s != "clinic.test")
        .unwrap_or_else(|| panic!("analyze shows no other server name: {report}"));
    assert!(check(me, "capture", Some(&site)).0, "participant {p}: {site} did not pass");
    answers.insert("capture", site);

    // Which article over HTTPS: learn the site from the participant's own host, then let
    // the sniffer name the bot's page load from its sizes (this bot pauses 0.5-1 s between
    // visits: a load ends after 0.3 s without a new connection).
    me.ok("plainsight workshop show article");
    me.ok("plainsight fingerprint learn");
    // The bot reads the same article at every visit: two guesses in a row that agree.
    let last = std::cell::RefCell::new(String::new());
    let (article, lines) = sniff_until(me, "--guess-articles --guess-gap 0.3", |l| {
        let a = after(l, "read /articles/").and_then(|s| s.split_whitespace().next())?.to_string();
        (last.replace(a.clone()) == a).then_some(a)
    });
    sniffed.extend(lines);
    let (ok, out) = check(me, "article", Some(if article == "migraine" { "healthy-sleep" } else { "migraine" }));
    assert!(!ok && out.contains("not the article"), "{out}");
    assert!(check(me, "article", Some(&article)).0, "participant {p}: the guessed article {article:?} did not pass");
    answers.insert("article", article);
    Solved { answers, sniffed }
}

#[test]
fn three_participants_solve_every_exercise_in_their_own_lab() {
    if !common::room::available("the workshop test") {
        return;
    }
    let room = Room::up(W, PARTICIPANTS, &["--key", "reference solution key", "--bot-interval", "0.5-1"]);
    let listed = String::from_utf8_lossy(&ps(&["workshop", "exercises"]).stdout).into_owned();
    assert!(listed.lines().count() >= 8, "{listed}");

    let solved: Vec<Solved> = std::thread::scope(|s| {
        let handles: Vec<_> = room.logins.iter().map(|me| s.spawn(move || solve(me))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });

    // The trainer's view does not project the page the bot read in the article exercise:
    // that page is the answer.
    {
        let mut serve = Bg(Command::new(env!("CARGO_BIN_EXE_plainsight"))
            .args(["workshop", "serve", "--name", W, "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap());
        let mut first = String::new();
        std::io::BufReader::new(serve.0.stdout.take().unwrap()).read_line(&mut first).unwrap();
        let base = first
            .strip_prefix("view: ")
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("no view line: {first:?}"))
            .to_string();
        let page = Command::new("curl").args(["-s", &format!("{base}lab/{}/page", lab(1))]).output().unwrap();
        let page = String::from_utf8_lossy(&page.stdout);
        let title = plainsight::lab::site::articles::by_path(&format!("/articles/{}", solved[0].answers["article"]))
            .unwrap()
            .title;
        assert!(page.contains("stays hidden") && !page.contains(title), "{page}");
    }

    // Every participant passed every exercise, as the progress database says.
    let json: serde_json::Value =
        serde_json::from_slice(&ps(&["workshop", "progress", "--name", W, "--json"]).stdout).unwrap();
    let ids: Vec<String> =
        json["exercises"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    for row in json["participants"].as_array().unwrap() {
        for id in &ids {
            assert_eq!(row["exercises"][id]["passed"], true, "{id} in {row}");
        }
    }

    // Another participant's answers fail; no sniffer saw another lab's persona.
    let usernames: Vec<String> = (1..=PARTICIPANTS)
        .map(|p| {
            String::from_utf8_lossy(&std::fs::read(format!("/run/plainsight/{}/persona.json", lab(p))).unwrap())
                .into_owned()
        })
        .map(|j| serde_json::from_str::<serde_json::Value>(&j).unwrap()["username"].as_str().unwrap().to_string())
        .collect();
    for p in 1..=PARTICIPANTS {
        let q = p % PARTICIPANTS + 1;
        let (ok, out) = trainer_check(q, "capture", &solved[p as usize - 1].answers["capture"]);
        assert!(!ok, "participant {q} passed with participant {p}'s capture answer: {out}");
        for id in ["password", "cookie"] {
            let o = ps(&["workshop", "show", id, "--name", W, "--participant", &q.to_string()]);
            assert!(o.status.success(), "show {id} for {q}: {}", String::from_utf8_lossy(&o.stderr));
            let (ok, out) = trainer_check(q, id, &solved[p as usize - 1].answers[id]);
            assert!(!ok, "participant {q} passed {id} with participant {p}'s answer: {out}");
        }
        let own = &usernames[p as usize - 1];
        assert!(
            solved[p as usize - 1].sniffed.iter().any(|l| l.contains(own.as_str())),
            "participant {p}'s sniffer never saw their own bot sign in"
        );
        for (i, other) in usernames.iter().enumerate() {
            if i + 1 != p as usize && other != own {
                let leak: Vec<&String> =
                    solved[p as usize - 1].sniffed.iter().filter(|l| l.contains(other.as_str())).collect();
                assert!(leak.is_empty(), "participant {p}'s sniffer saw participant {}'s traffic: {leak:?}", i + 1);
            }
        }
    }

    let status = String::from_utf8_lossy(&ps(&["workshop", "status", "--name", W]).stdout).into_owned();
    assert_eq!(status.matches("bot running").count(), PARTICIPANTS as usize, "{status}");
    // The cookie flag never crossed the network in the bot's own traffic.
    for p in 1..=PARTICIPANTS {
        let flag = &solved[p as usize - 1].answers["cookie"];
        assert!(
            !solved[p as usize - 1].sniffed.iter().any(|l| l.contains(flag.as_str())),
            "participant {p}'s sniffer saw the flag in the bot's own traffic"
        );
    }
    drop(room);
    let left: Vec<String> =
        String::from_utf8_lossy(&Command::new("ip").args(["netns", "list"]).output().unwrap().stdout)
            .lines()
            .filter(|l| l.starts_with(W))
            .map(str::to_string)
            .collect();
    assert!(left.is_empty(), "namespaces left after workshop down: {left:?}");
    assert!(
        std::path::Path::new(&format!("/var/lib/plainsight/{W}/progress.db")).exists(),
        "workshop down removed the progress"
    );
    // What this test made, it removes.
    std::fs::remove_dir_all(format!("/var/lib/plainsight/{W}")).unwrap();
}

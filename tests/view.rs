//! The trainer's live view (root, Chromium): `workshop serve` opened in Debian's headless
//! Chromium, driven through the DevTools protocol. The grid lists every participant and
//! shows a checkpoint passing within 2 s, without a reload; the lab view shows the bot's
//! password masked after an HTTP sign-in, and only names and sizes after an HTTPS one;
//! the bot's page is shown without loading anything it references. Requests without the
//! token on a non-loopback listener get 401, other methods 405. Screenshots are kept in
//! the target directory (`view-*.png`).

mod common;

use common::ps;

use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const W: &str = "pstest-view";

fn artefact(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name)
}

/// Processes killed, and the workshop (if any) removed, when the test ends however it
/// ends.
struct Cleanup(Vec<Child>, Option<&'static str>);
impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(w) = self.1 {
            let _ = ps(&["workshop", "down", "--name", w]);
            let _ = std::fs::remove_dir_all(format!("/var/lib/plainsight/{w}"));
        }
    }
}

/// Waits for a line of `child`'s output that `pick` accepts (a ready line).
fn ready_line(out: impl Read + Send + 'static, pick: impl Fn(&str) -> Option<String> + Send + 'static) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if let Some(v) = pick(&line) {
                let _ = tx.send(v);
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(30)).expect("no ready line within 30 s")
}

/// `plainsight workshop serve` (in a lab host with `netns`): its URL once it listens.
fn serve(netns: Option<&str>, listen: &str, cleanup: &mut Cleanup) -> String {
    serve_workshop(W, netns, listen, cleanup)
}

fn serve_workshop(name: &str, netns: Option<&str>, listen: &str, cleanup: &mut Cleanup) -> String {
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_plainsight")]);
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_plainsight")),
    };
    let mut child = cmd
        .args(["workshop", "serve", "--name", name, "--listen", listen])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    cleanup.0.push(child);
    ready_line(out, |l| l.strip_prefix("view: ").map(|r| r.split_whitespace().next().unwrap_or("").to_string()))
}

/// A request with a `Host` header of our choosing: the status code.
fn status_with_host(addr: &str, target: &str, host: &str) -> u16 {
    let o = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            &format!("Host: {host}"),
            &format!("http://{addr}{target}"),
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).trim().parse().unwrap_or(0)
}

/// Opens an event stream by hand: its status line's code (the stream stays open while
/// the returned socket lives).
fn open_stream(addr: &str, target: &str) -> (u16, TcpStream) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {target} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n").unwrap();
    let mut line = String::new();
    std::io::BufReader::new(s.try_clone().unwrap()).read_line(&mut line).unwrap();
    (line.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0), s)
}

/// A plain HTTP/1.1 request: status code and body.
fn http(addr: &str, method: &str, target: &str, netns: Option<&str>) -> (u16, String) {
    let mut args = vec!["curl", "-s", "-o", "/dev/stderr", "-w", "%{http_code}", "-X", method];
    let url = format!("http://{addr}{target}");
    args.push(&url);
    let o = match netns {
        Some(ns) => Command::new("ip").args(["netns", "exec", ns]).args(&args).output().unwrap(),
        None => Command::new(args[0]).args(&args[1..]).output().unwrap(),
    };
    (String::from_utf8_lossy(&o.stdout).trim().parse().unwrap_or(0), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// One page in Chromium, over the DevTools protocol.
struct Page {
    ws: tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>,
    next: u64,
}

impl Page {
    fn open(devtools: &str, url: &str) -> Page {
        let (status, body) = http(devtools, "PUT", &format!("/json/new?{url}"), None);
        assert_eq!(status, 200, "DevTools /json/new: {body}");
        let target: serde_json::Value = serde_json::from_str(&body).unwrap();
        let (ws, _) = tungstenite::connect(target["webSocketDebuggerUrl"].as_str().unwrap()).unwrap();
        Page { ws, next: 1 }
    }

    fn call(&mut self, method: &str, params: serde_json::Value) -> serde_json::Value {
        let id = self.next;
        self.next += 1;
        self.ws
            .send(tungstenite::Message::text(
                serde_json::json!({"id": id, "method": method, "params": params}).to_string(),
            ))
            .unwrap();
        loop {
            let m = self.ws.read().unwrap();
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(m.to_text().unwrap_or(""))
                && v["id"] == id
            {
                return v["result"].clone();
            }
        }
    }

    /// A JavaScript expression's value in the page.
    fn eval(&mut self, expr: &str) -> serde_json::Value {
        self.call("Runtime.evaluate", serde_json::json!({"expression": expr, "returnByValue": true}))["result"]["value"]
            .clone()
    }

    /// Waits until `expr` is true in the page (what it waits for is the page's own state).
    fn wait_for(&mut self, what: &str, expr: &str) {
        let start = Instant::now();
        while self.eval(expr) != serde_json::Value::Bool(true) {
            assert!(
                start.elapsed() < Duration::from_secs(40),
                "{what}: never true in the page: {expr}\n{}",
                self.eval("document.body.innerText")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn screenshot(&mut self, name: &str) {
        use base64::Engine;
        let shot = self.call("Page.captureScreenshot", serde_json::json!({"format": "png"}));
        let png = base64::engine::general_purpose::STANDARD.decode(shot["data"].as_str().unwrap()).unwrap();
        assert!(png.len() > 1000);
        std::fs::write(artefact(name), png).unwrap();
    }
}

/// Headless Chromium with a fresh profile (killed with `cleanup`): its DevTools address
/// once it listens.
fn devtools(chromium: &str, profile: &str, size: &str, cleanup: &mut Cleanup) -> String {
    let profile = artefact(profile);
    let _ = std::fs::remove_dir_all(&profile);
    let mut browser = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--remote-debugging-port=0",
        ])
        .arg(format!("--window-size={size}"))
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = browser.stderr.take().unwrap();
    cleanup.0.push(browser);
    ready_line(err, |l| {
        l.strip_prefix("DevTools listening on ws://").map(|r| r.split('/').next().unwrap_or("").to_string())
    })
}

fn persona_password(lab: &str) -> String {
    let j: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("/run/plainsight/{lab}/persona.json")).unwrap()).unwrap();
    j["password"].as_str().unwrap().to_string()
}

#[test]
fn the_trainer_sees_the_room_and_each_lab_live() {
    if !common::need_root("the trainer's view test") {
        return;
    }
    let Some(chromium) = common::chromium("the trainer's view in Chromium") else { return };
    let _ = ps(&["workshop", "down", "--name", W]);
    let _ = std::fs::remove_dir_all(format!("/var/lib/plainsight/{W}"));
    let mut cleanup = Cleanup(Vec::new(), Some(W));
    let o = ps(&[
        "workshop",
        "up",
        "--name",
        W,
        "--participants",
        "2",
        "--bot-interval",
        "0.5-1",
        "--key",
        "trainer view test key",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for (p, ex) in [("1", "password"), ("2", "https")] {
        assert!(ps(&["workshop", "show", ex, "--name", W, "--participant", p]).status.success());
    }
    let url = serve(None, "127.0.0.1:0", &mut cleanup);
    let addr = url.trim_start_matches("http://").trim_end_matches('/').to_string();

    // Read-only: every method but GET and HEAD gets 405.
    for m in ["POST", "PUT", "DELETE"] {
        assert_eq!(http(&addr, m, "/", None).0, 405, "{m}");
    }

    let devtools = devtools(chromium, "view-chromium-profile", "1280,900", &mut cleanup);

    // The grid: every participant; a checkpoint passing shows within 2 s, no reload.
    let mut grid = Page::open(&devtools, &url.to_string());
    grid.wait_for(
        "the grid's event stream",
        "document.getElementById('status').textContent.startsWith('Live: updated')",
    );
    let rows =
        grid.eval("Array.from(document.querySelectorAll('#grid tbody tr th')).map(e => e.textContent).join(' ')");
    assert_eq!(rows, serde_json::json!(format!("{W}-01 {W}-02")));
    let answer = persona_password(&format!("{W}-01"));
    let o = ps(&["workshop", "check", "password", "--name", W, "--participant", "1", "--answer", &answer]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    grid.wait_for(
        "the passed checkpoint in the grid",
        "document.getElementById('c-1-password').dataset.latencyMs !== undefined",
    );
    let latency: u64 =
        grid.eval("document.getElementById('c-1-password').dataset.latencyMs").as_str().unwrap().parse().unwrap();
    assert!(latency < 2000, "the grid showed the checkpoint {latency} ms after it passed");
    assert!(grid.eval("document.getElementById('c-1-password').textContent").as_str().unwrap().starts_with("done"));
    grid.screenshot("view-grid.png");

    // The HTTP lab: the bot's password, masked.
    let mut lab1 = Page::open(&devtools, &format!("{url}lab/{W}-01"));
    lab1.wait_for("the password in the HTTP lab's findings", "Array.from(document.querySelectorAll('#findings li.credential')).some(li => li.textContent.includes('\"password\"'))");
    let creds = lab1
        .eval("Array.from(document.querySelectorAll('#findings li.credential')).map(li => li.textContent).join('\\n')");
    let creds = creds.as_str().unwrap();
    assert!(creds.contains('*'), "the password is not masked: {creds}");
    assert!(!creds.contains(&answer), "the password is shown in clear: {creds}");
    lab1.wait_for("the HTTP visit in the timeline", "Array.from(document.querySelectorAll('#timeline tbody tr')).some(tr => tr.children[1].textContent.includes('signed in: yes'))");
    lab1.screenshot("view-lab-http.png");
    // The account page the bot received, as the view shows it: its flag masked.
    let persona: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("/run/plainsight/{W}-01/persona.json")).unwrap()).unwrap();
    let flag = persona["secret"].as_str().unwrap();
    let (_, shown) = http(&addr, "GET", &format!("/lab/{W}-01/page"), None);
    assert!(
        shown.contains("Private note") && !shown.contains(flag) && !shown.contains(&answer),
        "the bot's page shows an answer: {shown}"
    );

    // The HTTPS lab: the server name and sizes, nothing of the requests.
    let mut lab2 = Page::open(&devtools, &format!("{url}lab/{W}-02"));
    // The bot's own portal name is that lab's https answer: the projector masks it.
    lab2.wait_for(
        "the server name in the HTTPS lab's findings",
        "document.getElementById('findings').textContent.includes('TLS server name portal-******.clinic.test')",
    );
    lab2.wait_for(
        "the sizes in the HTTPS lab's findings",
        "document.getElementById('findings').textContent.includes('encrypted:')",
    );
    let classes = lab2.eval("Array.from(document.querySelectorAll('#findings li')).map(li => li.className).join(' ')");
    for leak in ["credential", "session-cookie", "url", "page-content"] {
        assert!(!classes.as_str().unwrap().split(' ').any(|c| c == leak), "the HTTPS lab shows {leak}: {classes}");
    }
    lab2.screenshot("view-lab-https.png");

    // The bot's page is shown without loading what it references: an injected image and
    // script pointing at a listener of this test never reach it.
    let trap = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    trap.set_nonblocking(true).unwrap();
    let trap_addr = trap.local_addr().unwrap();
    assert!(ps(&["workshop", "show", "inject", "--name", W, "--participant", "1"]).status.success());
    let ad = artefact("view-ad.html");
    std::fs::write(&ad, format!("<p class=\"plainsight-ad\">Tracked by the hotel</p><img src=\"http://{trap_addr}/pixel.png\"><script src=\"http://{trap_addr}/track.js\"></script>")).unwrap();
    let ready = artefact("view-inject.ready");
    let _ = std::fs::remove_file(&ready);
    let inject = Command::new("ip")
        .args([
            "netns",
            "exec",
            &format!("{W}-01-intruder"),
            env!("CARGO_BIN_EXE_plainsight"),
            "inject",
            "--lab",
            &format!("{W}-01"),
            "--ad",
        ])
        .arg(&ad)
        .arg("--ready-file")
        .arg(&ready)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    cleanup.0.push(inject);
    common::wait_until("the injecting proxy", || ready.exists());
    let start = Instant::now();
    loop {
        let (_, page) = http(&addr, "GET", &format!("/lab/{W}-01/page"), None);
        if page.contains("Tracked by the hotel") {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "the bot never received the page with the ad");
        std::thread::sleep(Duration::from_millis(200));
    }
    let loads: u64 = lab1.eval("document.body.dataset.pageLoads").as_str().unwrap().parse().unwrap();
    lab1.wait_for("the frame showing the page with the ad", &format!("+document.body.dataset.pageLoads > {loads}"));
    // The frame's load event waits for its images and scripts: whatever it would fetch,
    // it has tried by now.
    assert!(trap.accept().is_err(), "the view loaded something the bot's page references");
    let sandbox = lab1.eval("document.getElementById('page').getAttribute('sandbox')");
    assert_eq!(sandbox, serde_json::json!(""), "the frame runs no script");
    lab1.screenshot("view-lab-injected.png");

    // Elsewhere than loopback, every request needs the token.
    let ns = format!("{W}-01-intruder");
    let remote = serve(Some(&ns), "192.0.2.1:0", &mut cleanup);
    let (host, query) = remote.trim_start_matches("http://").split_once('/').unwrap();
    assert!(query.starts_with("?token="), "{remote}");
    assert_eq!(http(host, "GET", "/", Some(&ns)).0, 401);
    assert_eq!(http(host, "GET", "/?token=wrong-token-wrong-token", Some(&ns)).0, 401);
    assert_eq!(http(host, "GET", &format!("/{query}"), Some(&ns)).0, 200);
    assert_eq!(http(host, "POST", &format!("/{query}"), Some(&ns)).0, 405);
    let _ = std::io::stdout().flush();
}

/// `demo --serve`: the same view shows the demo's scenarios as they run: their state
/// changes live (no reload), and each scenario shows what the intruder read, masked.
#[test]
fn the_demo_view_shows_the_scenarios_as_they_run() {
    if !common::need_root("the demo's live view test") {
        return;
    }
    let Some(chromium) = common::chromium("the demo's live view in Chromium") else { return };
    const LAB: &str = "pstest-dview";
    let _ = ps(&["lab", "down", "--name", LAB]);
    let out = artefact("demo-view");
    let _ = std::fs::remove_dir_all(&out);
    let mut demo = Command::new(env!("CARGO_BIN_EXE_plainsight"))
        .args([
            "demo",
            "--quiet",
            "--lab",
            LAB,
            "--scenario",
            "http",
            "--scenario",
            "https",
            "--serve",
            "127.0.0.1:0",
            "--out",
        ])
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = demo.stdout.take().unwrap();
    let demo_pid = demo.id();
    let mut cleanup = Cleanup(vec![demo], None);
    let url =
        ready_line(stdout, |l| l.strip_prefix("view: ").map(|r| r.split_whitespace().next().unwrap_or("").to_string()));
    let devtools = devtools(chromium, "demo-view-chromium-profile", "1280,700", &mut cleanup);

    let mut index = Page::open(&devtools, &url);
    index.wait_for(
        "the view's event stream",
        "document.getElementById('status').textContent.startsWith('Live: updated')",
    );
    index.eval("window.sameDocument = true");
    index.wait_for("both scenarios done, live", "document.getElementById('s-http').textContent === 'done' && document.getElementById('s-https').textContent === 'done' && window.sameDocument === true");
    let learned = index
        .eval("document.getElementById('l-http').textContent + ' | ' + document.getElementById('l-https').textContent");
    let learned = learned.as_str().unwrap();
    let (http, https) = learned.split_once(" | ").unwrap();
    assert!(http.contains("credential") && !https.contains("credential"), "{learned}");
    index.screenshot("demo-view.png");

    let password = plainsight::lab::site::content::PASSWORD;
    let mut http_view = Page::open(&devtools, &format!("{url}scenario/http"));
    http_view.wait_for("the password, masked", "Array.from(document.querySelectorAll('#findings li.credential')).some(li => li.textContent.includes('\"password\"'))");
    let text = http_view.eval("document.body.innerText");
    assert!(!text.as_str().unwrap().contains(password), "the password is shown in clear");
    let mut https_view = Page::open(&devtools, &format!("{url}scenario/https"));
    https_view.wait_for(
        "the server name",
        "document.getElementById('findings').textContent.includes('TLS server name clinic.test')",
    );
    // Done, each scenario's page shows the report's pictures of it.
    let pictures =
        https_view.eval("['svg.network', 'svg.handshake'].map(q => document.querySelectorAll(q).length).join(' ')");
    assert_eq!(pictures.as_str().unwrap(), "1 1", "the https scenario's network and handshake pictures");
    let pictures =
        http_view.eval("['svg.network', 'svg.handshake'].map(q => document.querySelectorAll(q).length).join(' ')");
    assert_eq!(pictures.as_str().unwrap(), "1 0", "the http scenario's network picture, and no handshake");
    let classes =
        https_view.eval("Array.from(document.querySelectorAll('#findings li')).map(li => li.className).join(' ')");
    assert!(
        !classes.as_str().unwrap().split(' ').any(|c| ["credential", "url", "session-cookie"].contains(&c)),
        "{classes}"
    );

    // Ctrl-C ends it, and the lab is gone.
    assert!(Command::new("kill").args(["-INT", &demo_pid.to_string()]).status().unwrap().success());
    let demo = cleanup.0.remove(0);
    let status = wait_exit(demo);
    assert_eq!(status, Some(0), "the demo's exit status");
    let ns = String::from_utf8_lossy(&Command::new("ip").args(["netns", "list"]).output().unwrap().stdout).into_owned();
    assert!(!ns.contains(LAB), "{ns}");
}

/// Waits for a child to exit (at most 30 s) and returns its status code.
fn wait_exit(mut child: Child) -> Option<i32> {
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s.code();
        }
        assert!(start.elapsed() < Duration::from_secs(30), "the demo did not exit after Ctrl-C");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Each participant's page (root, Chromium, sshd): only their exercise and progress; a
/// right answer in its form turns the exercise to done; another participant's address
/// without its secret is 404. The view answers only its own Host names, keeps the
/// trainer's streams apart from the participants', restarts a lab's sniffer that died,
/// and neither `workshop up` nor `workshop serve` dies on a closed standard output.
#[test]
fn each_participant_has_a_page_of_their_own() {
    const W2: &str = "pstest-page";
    if !common::room::available("the participants' pages test") {
        return;
    }
    let Some(chromium) = common::chromium("the participants' pages in Chromium") else { return };
    let room = common::room::Room::up(W2, 2, &["--bot-interval", "0.5-1", "--key", "participant page test key"]);
    let mut cleanup = Cleanup(Vec::new(), None);

    // `workshop up` again, its output closed at once: it finishes (it used to panic).
    let port = room.login(1).port.to_string();
    let o = Command::new("bash")
        .args(["-c", &format!("{} workshop up --name {W2} --participants 2 --bot-interval 0.5-1 --key 'participant page test key' --ssh --ssh-port {port} --ssh-listen 127.0.0.1 | head -c0; echo ${{PIPESTATUS[0]}}", env!("CARGO_BIN_EXE_plainsight"))])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "0",
        "workshop up | head: {}",
        String::from_utf8_lossy(&o.stderr)
    );

    let url = serve_workshop(W2, None, "127.0.0.1:0", &mut cleanup);
    let addr = url.trim_start_matches("http://").trim_end_matches('/').to_string();
    // Only the names it listens on.
    assert_eq!(status_with_host(&addr, "/", &addr), 200);
    assert_eq!(status_with_host(&addr, "/", "rebinding.example:80"), 421);
    assert_eq!(status_with_host(&addr, "/", &format!("localhost:{}", addr.rsplit(':').next().unwrap())), 200);

    let page_of = |p: u16| room.login(p).page.split("/p/").nth(1).unwrap().to_string();
    let (s1, s2) = (page_of(1), page_of(2));
    assert_ne!(s1, s2);
    assert_eq!(http(&addr, "GET", &format!("/p/{s1}"), None).0, 200);
    for wrong in ["/p/2".to_string(), "/p/".to_string(), format!("/p/{}", &s2[..16]), format!("/p/{s2}x")] {
        assert_eq!(http(&addr, "GET", &wrong, None).0, 404, "{wrong}");
    }

    // Participant 1 opens the password exercise in their shell; their page shows it.
    room.login(1).ok("plainsight workshop show password");
    room.login(2).ok("plainsight workshop show https");
    let devtools = devtools(chromium, "page-chromium-profile", "1280,900", &mut cleanup);
    let mut page = Page::open(&devtools, &format!("{url}p/{s1}"));
    page.wait_for("the participant's exercise", "document.getElementById('exercise').dataset.id === 'password'");
    let text = page.eval("document.body.innerText");
    let text = text.as_str().unwrap();
    assert!(
        text.contains(&format!("{W2}-01")) && !text.contains(&format!("{W2}-02")),
        "participant 1's page shows another lab: {text}"
    );
    let shown = page.eval("document.getElementById('exercise').innerText");
    assert!(
        !shown.as_str().unwrap().contains("What does the intruder still see over HTTPS"),
        "participant 1's page shows participant 2's exercise: {shown}"
    );
    // A wrong answer: not yet, and the first hint.
    page.eval(
        "document.getElementById('answer').value = 'not the password'; document.getElementById('check').submit(); true",
    );
    page.wait_for(
        "the failed check",
        "!!document.getElementById('verdict') && document.getElementById('verdict').className === 'failed'",
    );
    assert!(page.eval("document.getElementById('hints').textContent").as_str().unwrap().contains("hint 1"));
    // The right one (the bot's password, read here as root): done.
    let pw = persona_password(&format!("{W2}-01"));
    page.eval(&format!(
        "document.getElementById('answer').value = {}; document.getElementById('check').submit(); true",
        serde_json::json!(pw)
    ));
    page.wait_for(
        "the passed check",
        "!!document.getElementById('verdict') && document.getElementById('verdict').className === 'passed'",
    );
    assert_eq!(page.eval("document.getElementById('p-password').textContent"), serde_json::json!("done"));
    page.wait_for("the sniffer's findings on the page", "document.querySelectorAll('#findings li').length > 0");
    let findings = page.eval("document.getElementById('findings').textContent");
    assert!(!findings.as_str().unwrap().contains(&pw), "the participant's page shows the password in clear");
    page.screenshot("view-participant.png");
    // The trainer's grid agrees.
    let progress: serde_json::Value =
        serde_json::from_slice(&ps(&["workshop", "progress", "--name", W2, "--json"]).stdout).unwrap();
    assert_eq!(progress["participants"][0]["exercises"]["password"]["passed"], true);
    assert!(progress["participants"][1]["exercises"].get("password").is_none());

    // A room opening many pages does not take the projector's streams.
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..70 {
        let (code, s) = open_stream(&addr, &format!("/p/{s2}/events"));
        if code == 503 {
            refused += 1;
        }
        held.push(s);
    }
    assert!(refused >= 60, "one participant's page opened {} event streams", 70 - refused);
    let (code, _grid) = open_stream(&addr, "/events");
    assert_eq!(code, 200, "the trainer's grid could not open its stream");
    drop(held);

    // A lab's sniffer that died (its lab went down) is started again by the next view.
    assert_eq!(http(&addr, "GET", &format!("/lab/{W2}-01"), None).0, 200);
    let sniffers = |lab: &str| -> Vec<String> {
        let o = Command::new("pgrep").args(["-f", &format!("sniff --lab {lab} --format jsonl")]).output().unwrap();
        String::from_utf8_lossy(&o.stdout).lines().map(str::to_string).collect()
    };
    let before = sniffers(&format!("{W2}-01"));
    assert!(!before.is_empty(), "the lab view started no sniffer");
    for pid in &before {
        let _ = Command::new("kill").arg(pid).status();
    }
    common::wait_until("the sniffer's end", || sniffers(&format!("{W2}-01")).iter().all(|p| !before.contains(p)));
    assert_eq!(http(&addr, "GET", &format!("/lab/{W2}-01"), None).0, 200);
    common::wait_until("a new sniffer", || !sniffers(&format!("{W2}-01")).is_empty());

    // `workshop serve`, its output closed: it serves on (it used to panic).
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let (r, w) = std::io::pipe().unwrap();
    drop(r);
    let mut closed = Command::new(env!("CARGO_BIN_EXE_plainsight"))
        .args(["workshop", "serve", "--name", W2, "--listen", &free.to_string()])
        .stdout(w)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    common::wait_until("the view with its output closed", || {
        TcpStream::connect(free).is_ok() || closed.try_wait().unwrap().is_some()
    });
    assert!(closed.try_wait().unwrap().is_none(), "workshop serve stopped when its output was closed");
    assert_eq!(http(&free.to_string(), "GET", "/", None).0, 200);
    let _ = closed.kill();
    let mut err = String::new();
    let _ = closed.stderr.take().unwrap().read_to_string(&mut err);
    let _ = closed.wait();
    assert!(!err.contains("panicked"), "{err}");
    drop(room);
}

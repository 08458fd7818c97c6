//! Secrets stay masked in every output format unless `--reveal`, wherever they travel in
//! an HTTP exchange: Basic auth, a form, a JSON body, the query string, URL userinfo, an
//! API key, a Bearer token, a Cookie and a Set-Cookie. With `--reveal`, every one shows.

use std::path::PathBuf;
use std::process::Command;

use plainsight::analysis::synth::{Conversation, PcapWriter};

/// Each secret, distinct and long enough that a masked form cannot contain it.
const SECRETS: [&str; 10] = [
    "basicpassw0rd",       // Basic auth (user "bob")
    "formpassw0rd",        // form field password
    "jsonpassw0rd",        // JSON body field
    "querypassw0rd",       // ?PASSWORD=
    "userinfopassw0rd",    // http://carol:...@host/
    "apikeyvalue123",      // ?api_key=
    "bearertokenvalue123", // Authorization: Bearer
    "cookievalue123",      // Cookie: sid=
    "setcookievalue123",   // Set-Cookie: session=
    "tokenvalue0123",      // ?token= in a redirect Location
];

/// The capture, written to a file of the calling test's own (`name`): two tests writing
/// one file truncated it under the other's memory map (SIGBUS).
fn capture(name: &str) -> PathBuf {
    let s = SECRETS;
    let basic = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(format!("bob:{}", s[0]))
    };
    let post = |path: &str, host: &str, ct: &str, body: String| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let requests = [
        format!(
            "GET /weatherstation/update.php?ID=KX1&PASSWORD={}&tempf=51 HTTP/1.1\r\nHost: iot.test\r\nAuthorization: Basic {basic}\r\n\r\n",
            s[3]
        ),
        post("/login", "shop.test", "application/x-www-form-urlencoded", format!("username=dave&password={}", s[1])),
        post("/api/login", "api.test", "application/json", format!("{{\"user\":\"erin\",\"password\":\"{}\"}}", s[2])),
        format!("GET http://carol:{}@proxy.test/files HTTP/1.1\r\nHost: proxy.test\r\n\r\n", s[4]),
        format!(
            "GET /v1/data?api_key={}&q=weather HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer {}\r\nCookie: sid={}\r\n\r\n",
            s[5], s[6], s[7]
        ),
    ];
    let responses = [
        "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nsuccess".to_string(),
        format!(
            "HTTP/1.1 302 Found\r\nLocation: /welcome?token={}\r\nSet-Cookie: session={}; HttpOnly\r\nContent-Length: 0\r\n\r\n",
            s[9], s[8]
        ),
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}".to_string(),
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_string(),
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]".to_string(),
    ];
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("secrets-{name}.pcap"));
    let mut w = PcapWriter::new(std::fs::File::create(&path).unwrap()).unwrap();
    let mut ts = 1_700_000_000_000_000i64;
    for (i, (req, resp)) in requests.iter().zip(&responses).enumerate() {
        let mut c = Conversation::new(
            format!("192.0.2.10:{}", 41000 + i).parse().unwrap(),
            "198.51.100.10:80".parse().unwrap(),
            1000,
            5000,
            1400,
        );
        c.handshake().send(true, req.as_bytes()).send(false, resp.as_bytes()).close();
        for seg in &c.segments {
            ts += 10;
            w.packet(ts, &c.frame(seg)).unwrap();
        }
    }
    w.into_inner();
    path
}

fn analyze(path: &PathBuf, format: &str, reveal: bool) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_plainsight"));
    cmd.args(["analyze", "--no-progress", "--format", format]).arg(path);
    if reveal {
        cmd.arg("--reveal");
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{format}: {}", String::from_utf8_lossy(&out.stderr));
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn no_output_format_shows_a_secret_without_reveal() {
    let path = capture("formats");
    for format in ["text", "jsonl", "json", "fields"] {
        let masked = analyze(&path, format, false);
        for s in SECRETS {
            assert!(!masked.contains(s), "{format} shows {s} without --reveal:\n{masked}");
        }
    }
    // With --reveal the findings (text, jsonl, json) show every one; `fields` shows the
    // request fields only (URI, Cookie, Authorization), so the secrets of bodies and
    // responses are not among its columns.
    for format in ["text", "jsonl", "json"] {
        let clear = analyze(&path, format, true);
        for s in SECRETS {
            assert!(clear.contains(s), "{format} --reveal does not show {s}:\n{clear}");
        }
    }
    let fields = analyze(&path, "fields", true);
    for s in [SECRETS[3], SECRETS[4], SECRETS[5], SECRETS[6], SECRETS[7]] {
        assert!(fields.contains(s), "fields --reveal does not show {s}:\n{fields}");
    }
}

#[test]
fn url_userinfo_and_query_secrets_are_credential_findings() {
    let run = common_run(&capture("findings"));
    let creds: Vec<String> = run
        .iter()
        .filter(|f| f.class == plainsight::analysis::findings::Class::Credential)
        .map(|f| f.line(true))
        .collect();
    for s in [SECRETS[3], SECRETS[4], SECRETS[5]] {
        assert!(creds.iter().any(|c| c.contains(s)), "{s} is not a credential finding: {creds:#?}");
    }
    assert!(creds.iter().any(|c| c.contains("password of user \"carol\" in the URL")), "{creds:#?}");
}

fn common_run(path: &std::path::Path) -> Vec<plainsight::analysis::findings::Finding> {
    let mut findings = Vec::new();
    plainsight::analysis::analyze::scan(path, None, &mut |_, f| findings.extend_from_slice(f), &mut |_| {}).unwrap();
    findings
}

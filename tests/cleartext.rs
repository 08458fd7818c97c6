//! Logins outside the web, against tshark's ground truth in `../shared/corpus/cleartext/`
//! (`F.creds.tsv`, `F.starttls.tsv`, made by the corpus's `tools/creds_gt.py`): every
//! FTP, POP3, IMAP, SMTP, Telnet, LDAP simple bind, SNMP community, NTLM authentication
//! (as the hashcat line) and HTTP Digest and Basic login tshark shows is found (protocol,
//! user name, secret),
//! every upgrade to TLS is seen with the server's answer, and no login is reported after
//! an accepted upgrade on the same connection.
//!
//! Kerberos is checked too: AS-REQ timestamps, TGS-REP tickets and AS-REP parts as the
//! lines hashcat takes, and the user names of the other messages.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use plainsight::analysis::dissect::Record;

/// The protocols plainsight reads logins of.
const READ: [&str; 11] =
    ["ftp", "pop3", "imap", "smtp", "snmp", "ldap", "telnet", "ntlm", "http-digest", "http-basic", "kerberos"];

/// Rows where tshark's ground truth is wrong and plainsight right, with why: the row's
/// secret must still be matched up to its encrypted part (user, realm, service).
const GROUND_TRUTH_WRONG: &[(&str, &str, &str)] = &[(
    "ndpi__kerberos-login.pcap",
    "UBUNTU64A$",
    "this TGS-REP carries pre-authentication data holding encrypted bytes before its ticket; creds_gt.py \
     takes the first cipher text of tshark's tree (that padata), plainsight the ticket's own enc-part, \
     which is what Kerberoasting cracks",
)];

/// Rows of a tab-separated file written by Python's csv module (a field may be quoted,
/// its quotes doubled), as maps from the header's names.
fn tsv(path: &Path) -> Vec<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut rows = Vec::new();
    let mut fields = Vec::new();
    let mut field = String::new();
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, '\t') => fields.push(std::mem::take(&mut field)),
            (false, '\n') => {
                fields.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut fields));
            }
            (false, '\r') => {}
            (false, c) => field.push(c),
        }
    }
    let header = rows.first().cloned().unwrap_or_default();
    rows.iter().skip(1).map(|r| header.iter().cloned().zip(r.iter().cloned()).collect()).collect()
}

#[test]
fn every_cleartext_login_tshark_shows_is_found_and_none_after_an_upgrade() {
    let Some(corpus) = common::corpus() else { return };
    let dir = corpus.join("cleartext");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng" || x == "cap"))
        .collect();
    files.sort();
    assert!(files.len() > 50, "the cleartext corpus holds {} captures", files.len());
    let (mut checked, mut upgrades, mut missing) = (0, 0, Vec::new());
    let mut not_read: BTreeMap<String, usize> = BTreeMap::new();
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let creds = tsv(&dir.join(format!("{name}.creds.tsv")));
        let starttls = tsv(&dir.join(format!("{name}.starttls.tsv")));
        let run = common::run(f).unwrap_or_else(|e| panic!("{name}: {e}"));
        let logins: Vec<(u64, Option<u64>, &plainsight::analysis::dissect::login::Login)> = run
            .events
            .iter()
            .filter_map(|e| match &e.record {
                Record::Login(l) => Some((e.frame, e.conn, l)),
                _ => None,
            })
            .collect();
        for row in &creds {
            let protocol = row["protocol"].as_str();
            if !READ.contains(&protocol) {
                *not_read.entry(protocol.to_string()).or_default() += 1;
                continue;
            }
            checked += 1;
            let secret = (!row["secret"].is_empty()).then(|| row["secret"].clone());
            // HTTP Basic is read by the HTTP dissector, as every request's credentials.
            let basic = run.events.iter().any(|e| match &e.record {
                Record::HttpRequest(q) => q.authorization.as_ref().is_some_and(|a| {
                    protocol == "http-basic" && a.user.as_deref() == Some(&row["username"]) && a.password == secret
                }),
                _ => false,
            });
            let wrong = GROUND_TRUTH_WRONG.iter().any(|(f, u, _)| *f == name && *u == row["username"]);
            let head = |s: &str| s.split("*$").next().unwrap_or_default().to_string();
            let same = |l: &plainsight::analysis::dissect::login::Login| match (&l.secret, &secret) {
                (Some(ours), Some(theirs)) if wrong => head(ours) == head(theirs) && ours != theirs,
                _ => l.secret == secret,
            };
            let found = basic
                || logins
                    .iter()
                    .any(|(_, _, l)| l.protocol.as_str() == protocol && l.username == row["username"] && same(l));
            if !found {
                missing.push(format!(
                    "{name}: {protocol} {:?} {:?} ({}, frame {}); read: {:?}",
                    row["username"],
                    row["secret"],
                    row["mechanism"],
                    row["frame"],
                    logins.iter().map(|(_, _, l)| (&l.username, &l.secret)).collect::<Vec<_>>()
                ));
            }
        }
        for row in &starttls {
            if !READ.contains(&row["protocol"].as_str()) {
                continue;
            }
            upgrades += 1;
            let seen: Vec<(u64, Option<u64>, bool)> = run
                .events
                .iter()
                .filter_map(|e| match &e.record {
                    Record::StartTls(s) if s.protocol.as_str() == row["protocol"] => {
                        Some((e.frame, e.conn, s.accepted))
                    }
                    _ => None,
                })
                .collect();
            assert!(!seen.is_empty(), "{name}: the upgrade {:?} at frame {} is not seen", row["command"], row["frame"]);
            for (frame, conn, accepted) in seen.iter().filter(|s| s.2) {
                let after: Vec<_> = logins.iter().filter(|(f, c, _)| c == conn && f > frame).collect();
                assert!(after.is_empty(), "{name}: a login read after the upgrade at frame {frame}: {after:?}");
                assert!(*accepted);
            }
        }
    }
    eprintln!(
        "cleartext: {checked} logins in FTP, POP3, IMAP, SMTP, Telnet, LDAP, SNMP, NTLM, Kerberos and HTTP and {upgrades} upgrades checked; not checked here: {}",
        not_read.iter().map(|(p, n)| format!("{p} {n}")).collect::<Vec<_>>().join(", ")
    );
    assert!(checked >= 30, "only {checked} logins checked");
    assert!(
        missing.is_empty(),
        "{} of {checked} logins tshark shows were not found:\n{}",
        missing.len(),
        missing.join("\n")
    );
}

/// No secret tshark shows crosses into any output without `--reveal`: the text report, the
/// JSON document, every jsonl record and finding, and the Zeek logs all mask it.
#[test]
fn no_cleartext_secret_is_written_without_reveal() {
    let Some(corpus) = common::corpus() else { return };
    let dir = corpus.join("cleartext");
    let tmp = tempfile::tempdir().unwrap();
    let (mut checked, mut leaks) = (0, Vec::new());
    let mut names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort();
    for f in names.iter().filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng" || x == "cap")) {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        // Secrets that cannot turn up by chance in other text: long enough, not part of the
        // user name (`anonymous`/`anonymous`), of the file's name (`public` in a name that
        // the text report prints) or a field's name (`password`).
        let secrets: Vec<String> = tsv(&dir.join(format!("{name}.creds.tsv")))
            .into_iter()
            .filter(|r| READ.contains(&r["protocol"].as_str()))
            .filter(|r| {
                let s = r["secret"].as_str();
                s.chars().count() >= 6 && !r["username"].contains(s) && !name.contains(s) && s != "password"
            })
            .map(|r| r["secret"].clone())
            .collect();
        if secrets.is_empty() {
            continue;
        }
        let zeek = tmp.path().join(&name);
        let mut outputs = Vec::new();
        for format in ["text", "json", "jsonl"] {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_plainsight"))
                .args(["analyze", "--no-progress", "--format", format])
                .arg(f)
                .output()
                .unwrap();
            outputs.push((format.to_string(), String::from_utf8_lossy(&out.stdout).into_owned()));
        }
        let status = std::process::Command::new(env!("CARGO_BIN_EXE_plainsight"))
            .args(["analyze", "--no-progress", "--format", "zeek", "--out"])
            .arg(&zeek)
            .arg(f)
            .status()
            .unwrap();
        assert!(status.success(), "{name}: analyze --format zeek failed");
        for log in std::fs::read_dir(&zeek).unwrap() {
            let log = log.unwrap().path();
            outputs.push((log.display().to_string(), std::fs::read_to_string(&log).unwrap()));
        }
        for secret in &secrets {
            checked += 1;
            for (what, text) in &outputs {
                if text.contains(secret.as_str()) {
                    leaks.push(format!("{name}: {secret:?} in {what}"));
                }
            }
        }
    }
    eprintln!("masking: {checked} secrets looked for in every output format");
    assert!(checked >= 30, "only {checked} secrets looked for");
    assert!(leaks.is_empty(), "{} secrets written without --reveal:\n{}", leaks.len(), leaks.join("\n"));
}

//! The intruder in the lab (root): the sniffer on the guest host sees the visitor's HTTP,
//! its pcapng agrees with tshark, real clients see the injected ad and refuse the forged
//! certificate, and bad input to the proxy is survived. One test without root checks the
//! ClientHello reader on a hello split into 1-byte segments.

mod common;
use common::tmp;

use common::{LabDown as Down, ps};

use std::process::{Command, Stdio};
use std::time::Duration;

fn in_host(lab: &str, host: &str, script: &str) -> std::process::Output {
    Command::new("ip").args(["netns", "exec", &format!("{lab}-{host}"), "bash", "-c", script]).output().unwrap()
}

#[test]
fn guest_sniffer_proxy_and_real_clients() {
    if !common::need_root("the intruder test") {
        return;
    }
    const LAB: &str = "pstest-i";
    let _down = Down(LAB);
    assert!(ps(&["lab", "up", "--name", LAB, "--no-redirect"]).status.success());

    // A fellow guest on the Wi-Fi sniffs; the visitor logs in over HTTP.
    let pcap = tmp("guest.pcapng");
    let _ = std::fs::remove_file(&pcap);
    let sniff = Command::new(env!("CARGO_BIN_EXE_plainsight"))
        .args(["sniff", "--lab", LAB, "--host", "guest", "--format", "jsonl", "--reveal", "-w"])
        .arg(&pcap)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Ready once the capture is open: the pcapng header is written then.
    common::wait_until("the guest's sniffer", || std::fs::metadata(&pcap).is_ok_and(|m| m.len() > 0));
    assert!(ps(&["visit", "--lab", LAB, "http://clinic.test/"]).status.success());
    // Stopped once the visit is over: it still reads every packet captured before.
    nix_kill(sniff.id()).unwrap();
    let out = sniff.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("correct horse battery staple"), "the guest read the password");
    assert!(text.contains("/articles/living-with-hiv"));
    let stats: serde_json::Value = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["type"] == "capture_stats")
        .unwrap();
    if common::have_tool("tshark", "intruder: the sniffer's pcapng read back by tshark") {
        let t = Command::new("tshark")
            .args(["-n", "-r"])
            .arg(&pcap)
            .args(["-T", "fields", "-e", "frame.number"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&t.stdout).lines().count() as u64, stats["written"].as_u64().unwrap());
        let c = Command::new("tshark")
            .args(["-r"])
            .arg(&pcap)
            .args(["-Y", "frame.comment contains \"password\"", "-T", "fields", "-e", "frame.number"])
            .output()
            .unwrap();
        assert!(!String::from_utf8_lossy(&c.stdout).trim().is_empty(), "the password's packet carries a comment");
    }

    // The proxy injects; curl in the visitor host sees the ad.
    let log = tmp("inject.jsonl");
    let errors = tmp("inject.log");
    let inject = Command::new(env!("CARGO_BIN_EXE_plainsight"))
        .args(["inject", "--lab", LAB, "--duration", "20"])
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(&errors).unwrap())
        .spawn()
        .unwrap();
    common::wait_until("the proxy", || std::fs::read_to_string(&errors).is_ok_and(|t| t.contains("intercepting")));
    let page = in_host(LAB, "visitor", "curl -s http://clinic.test/");
    assert!(String::from_utf8_lossy(&page.stdout).contains("plainsight-ad"));
    // Bad input: a non-TLS byte stream on 443 is logged and closed...
    in_host(
        LAB,
        "visitor",
        "exec 3<>/dev/tcp/198.51.100.10/443; printf 'GET / HTTP/1.1\\r\\n\\r\\n' >&3; timeout 3 cat <&3 >/dev/null",
    );
    // ... a request with both Content-Length and Transfer-Encoding is not relayed as is ...
    let smuggle = in_host(
        LAB,
        "visitor",
        "exec 3<>/dev/tcp/198.51.100.10/80; printf 'POST /login HTTP/1.1\\r\\nHost: clinic.test\\r\\nContent-Length: 4\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n0\\r\\n\\r\\nGET /account HTTP/1.1\\r\\nHost: clinic.test\\r\\n\\r\\n' >&3; timeout 3 cat <&3",
    );
    let answer = String::from_utf8_lossy(&smuggle.stdout);
    assert!(answer.starts_with("HTTP/1.1 400") || answer.starts_with("HTTP/1.1 401"), "{answer}");
    // ... oversized headers get 431, and the proxy keeps serving the others.
    let big = in_host(
        LAB,
        "visitor",
        "curl -s -o /dev/null -w '%{http_code}' -H \"X-Big: $(head -c 40000 /dev/zero | tr '\\0' a)\" http://clinic.test/",
    );
    assert_eq!(String::from_utf8_lossy(&big.stdout), "431");
    let after = in_host(LAB, "visitor", "curl -s http://clinic.test/login");
    assert!(String::from_utf8_lossy(&after.stdout).contains("plainsight-ad"));
    let _ = nix_kill(inject.id());
    let mut inject = inject;
    let _ = inject.wait();
    let outcomes = std::fs::read_to_string(&log).unwrap();
    assert!(outcomes.contains("not TLS"), "{outcomes}");
    assert!(outcomes.contains("\"outcome\":\"injected\""));
    // The rules are gone once it stopped.
    let rules = in_host(LAB, "intruder", "nft list ruleset");
    assert!(!String::from_utf8_lossy(&rules.stdout).contains("plainsight_inject"));

    // Under mitm, curl with the lab CA refuses the forged certificate (exit 60).
    let errors = tmp("inject-mitm.log");
    let inject = Command::new(env!("CARGO_BIN_EXE_plainsight"))
        .args(["inject", "--lab", LAB, "--tls", "mitm", "--duration", "6"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&errors).unwrap())
        .spawn()
        .unwrap();
    common::wait_until("the mitm proxy", || std::fs::read_to_string(&errors).is_ok_and(|t| t.contains("intercepting")));
    let curl = in_host(
        LAB,
        "visitor",
        &format!("curl -s --cacert /run/plainsight/{LAB}/ca.pem https://clinic.test/; echo \"rc=$?\""),
    );
    assert!(String::from_utf8_lossy(&curl.stdout).contains("rc=60"), "{}", String::from_utf8_lossy(&curl.stdout));
    let mut inject = inject;
    let _ = inject.wait();
}

fn nix_kill(pid: u32) -> std::io::Result<std::process::ExitStatus> {
    Command::new("kill").arg("-TERM").arg(pid.to_string()).status()
}

#[test]
fn client_hello_split_into_one_byte_segments_is_read() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let sender = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.set_nodelay(true).unwrap();
            for b in plainsight::analysis::synth::client_hello("clinic.test") {
                s.write_all(&[b]).await.unwrap();
                s.flush().await.unwrap();
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
            s
        });
        let (mut s, _) = l.accept().await.unwrap();
        let (bytes, sni, alpn) = plainsight::lab::intruder::tls::read_client_hello(&mut s).await.unwrap();
        assert_eq!(sni.as_deref(), Some("clinic.test"));
        assert_eq!(alpn, vec!["h2", "http/1.1"]);
        assert_eq!(bytes, plainsight::analysis::synth::client_hello("clinic.test"));
        drop(sender.await.unwrap());
        // And a non-TLS stream is refused with a reason, not a hang.
        let l2 = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a2 = l2.local_addr().unwrap();
        let _c = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let mut s = tokio::net::TcpStream::connect(a2).await.unwrap();
            s.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
            tokio::time::sleep(Duration::from_secs(1)).await;
        });
        let (mut s2, _) = l2.accept().await.unwrap();
        let err = plainsight::lab::intruder::tls::read_client_hello(&mut s2).await.unwrap_err();
        assert!(err.to_string().contains("not TLS"), "{err}");
    });
}

/// Regression: an idle visitor connection went straight into hyper and got its buffers
/// (tokio marks a new socket ready until a read finds nothing), 14.5 KB each. Now it
/// costs its socket and a small task until the first byte.
#[test]
fn idle_visitor_connections_cost_no_parser_buffers() {
    if !common::need_root("the idle-connection test") {
        return;
    }
    const LAB: &str = "pstest-idle";
    let _ = ps(&["lab", "down", "--name", LAB]);
    let up = ps(&["lab", "up", "--name", LAB, "--no-redirect"]);
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
    let _down = Down(LAB);
    let errors = tmp("inject-idle.log");
    let mut inject = Command::new(env!("CARGO_BIN_EXE_plainsight"))
        .args(["inject", "--lab", LAB])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&errors).unwrap())
        .spawn()
        .unwrap();
    let pid = inject.id();
    let rss = || -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    };
    let fds = || std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0);
    common::wait_until("the proxy", || std::fs::read_to_string(&errors).is_ok_and(|t| t.contains("intercepting")));
    let before = (rss(), fds());
    const N: usize = 800;
    let mut holder = Command::new("ip")
        .args(["netns", "exec", &format!("{LAB}-visitor"), "python3", "-c"])
        .arg(format!("import socket, time\nsocks = []\nfor i in range({N}):\n    s = socket.socket(); s.setblocking(False)\n    try: s.connect(('198.51.100.10', 80))\n    except BlockingIOError: pass\n    socks.append(s)\ntime.sleep(30)\n"))
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while fds() < before.1 + N - 20 && start.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    let (after, held) = (rss(), fds() - before.1);
    let _ = holder.kill();
    let _ = holder.wait();
    let _ = nix_kill(pid);
    let _ = inject.wait();
    assert!(held >= N - 20, "the proxy holds {held} of {N} connections");
    let per_conn = (after.saturating_sub(before.0)) * 1024 / held as u64;
    assert!(per_conn < 5_000, "{per_conn} bytes per idle connection (RSS {} -> {after} KiB for {held})", before.0);
}

/// Regression: after `kill -9` of `inject`, its nftables redirect stayed in the intruder's
/// namespace and the visitor's web traffic went nowhere until `lab down`. The rules now
/// belong to the proxy (`flags owner`) and die with it.
#[test]
fn killed_proxy_leaves_no_redirect() {
    if !common::need_root("the killed-proxy test") {
        return;
    }
    const LAB: &str = "pstest-k";
    let _ = ps(&["lab", "down", "--name", LAB]);
    assert!(ps(&["lab", "up", "--name", LAB, "--no-redirect"]).status.success());
    let _down = Down(LAB);
    let ready = tmp("inject-k.ready");
    let _ = std::fs::remove_file(&ready);
    let mut inject = Command::new(env!("CARGO_BIN_EXE_plainsight"))
        .args(["inject", "--lab", LAB, "--ready-file"])
        .arg(&ready)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    common::wait_until("the proxy", || ready.exists());
    let tables = || String::from_utf8_lossy(&in_host(LAB, "intruder", "nft list tables").stdout).into_owned();
    assert!(tables().contains("plainsight_inject"), "the redirect is in place");
    assert!(
        String::from_utf8_lossy(&in_host(LAB, "visitor", "curl -s http://clinic.test/").stdout)
            .contains("plainsight-ad")
    );
    inject.kill().unwrap();
    let _ = inject.wait();
    common::wait_until("the redirect to go with the proxy", || !tables().contains("plainsight_inject"));
    let page = in_host(LAB, "visitor", "curl -s --max-time 5 http://clinic.test/");
    let page = String::from_utf8_lossy(&page.stdout);
    assert!(
        page.contains("Welcome to the clinic") && !page.contains("plainsight-ad"),
        "the visitor reaches the site directly again: {page}"
    );
}

/// `sniff --with-keys`: the capture carries the lab site's TLS keys (Decryption Secrets
/// Blocks), so tshark reads the HTTPS requests from that file alone, and nothing of them
/// from the same capture with the secrets taken out.
#[test]
fn answer_key_capture_decrypts_the_sites_https() {
    if !common::need_root("the answer-key capture test") {
        return;
    }
    const LAB: &str = "pstest-keys";
    let _ = ps(&["lab", "down", "--name", LAB]);
    assert!(ps(&["lab", "up", "--name", LAB]).status.success());
    let _down = Down(LAB);
    let (cap, ready) = (tmp("keys.pcapng"), tmp("keys.ready"));
    let _ = std::fs::remove_file(&ready);
    let mut sniff = Command::new(env!("CARGO_BIN_EXE_plainsight"))
        .args(["sniff", "--lab", LAB, "--with-keys", "-w"])
        .arg(&cap)
        .arg("--ready-file")
        .arg(&ready)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    common::wait_until("the sniffer", || ready.exists());
    let visit = ps(&["visit", "--lab", LAB, "https://clinic.test/"]);
    assert!(visit.status.success(), "{}", String::from_utf8_lossy(&visit.stdout));
    nix_kill(sniff.id()).unwrap();
    assert!(sniff.wait().unwrap().success());
    // The key log is the site's, readable by root only.
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(format!("/run/plainsight/{LAB}/site-keys.log")).unwrap().permissions(),
    );
    assert_eq!(mode & 0o077, 0, "the key log is readable by others: {mode:o}");
    if !common::have_tool("tshark", "sniff --with-keys: tshark decrypts the capture")
        || !common::have_tool("editcap", "sniff --with-keys: the capture without its secrets")
    {
        return;
    }
    let requests = |file: &std::path::Path| {
        // The visitor speaks HTTP/2 to the site: each request as "METHOD\tPATH".
        let o = Command::new("tshark")
            .arg("-r")
            .arg(file)
            .args([
                "-Y",
                "http2.headers.method",
                "-T",
                "fields",
                "-E",
                "occurrence=f",
                "-e",
                "http2.headers.method",
                "-e",
                "http2.headers.path",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let with = requests(&cap);
    for want in ["GET\t/\n", "POST\t/login\n", "GET\t/account\n"] {
        assert!(with.contains(want), "tshark does not decrypt {want:?} with the keys: {with}");
    }
    let stripped = tmp("keys-stripped.pcapng");
    assert!(Command::new("editcap").arg("--discard-all-secrets").arg(&cap).arg(&stripped).status().unwrap().success());
    assert_eq!(requests(&stripped), "", "without the keys tshark reads no request");
}

//! Broken file framing: each damage gives a warning naming the byte offset, and the same
//! number of packets before the fault as tshark reads. Files that are not captures at all
//! get exit code 2 and a one-line error.

mod common;

use std::path::PathBuf;
use std::process::Command;

use plainsight::analysis::synth::{Conversation, PcapWriter, PcapngWriter};

/// 100 frames of a small HTTP exchange, as (frame bytes) in order.
fn frames() -> Vec<Vec<u8>> {
    let mut c = Conversation::new("192.0.2.10:40000".parse().unwrap(), "198.51.100.10:80".parse().unwrap(), 1, 1, 100);
    c.handshake();
    c.send(true, "GET / HTTP/1.1\r\nHost: clinic.test\r\nCookie: sid=1\r\n\r\n".repeat(200).as_bytes());
    c.segments.truncate(100);
    c.segments.iter().map(|s| c.frame(s)).collect()
}

fn pcap() -> (Vec<u8>, Vec<usize>) {
    let mut w = PcapWriter::new(Vec::new()).unwrap();
    let mut offsets = Vec::new();
    for (i, f) in frames().iter().enumerate() {
        offsets.push(24 + frames()[..i].iter().map(|f| f.len() + 16).sum::<usize>());
        w.packet(i as i64, f).unwrap();
    }
    (w.into_inner(), offsets)
}

fn tmp(name: &str, bytes: &[u8]) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Frames tshark reads before giving up, or `None` when tshark is not installed.
fn tshark_frames(path: &PathBuf) -> Option<u64> {
    if !common::have_tool("tshark", "framing: frame counts against tshark") {
        return None;
    }
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(path)
        .args(["-T", "fields", "-e", "frame.number"])
        .output()
        .unwrap();
    Some(String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.is_empty()).count() as u64)
}

fn check(name: &str, bytes: &[u8], fault_at: Option<usize>) {
    let path = tmp(name, bytes);
    let run = common::run(&path).unwrap();
    assert_eq!(run.scan.fault.as_ref().map(|f| f.offset as usize), fault_at, "{name}: {:?}", run.scan.fault);
    if let Some(t) = tshark_frames(&path) {
        assert_eq!(run.scan.counters.frames, t, "{name}: frames before the fault, plainsight vs tshark");
    }
    // The binary warns on standard error, names the offset, and exits 0 (3 with --strict).
    let out = Command::new(env!("CARGO_BIN_EXE_plainsight")).args(["analyze", "--strict"]).arg(&path).output().unwrap();
    match fault_at {
        Some(off) => {
            assert_eq!(out.status.code(), Some(3), "{name}");
            assert!(
                String::from_utf8_lossy(&out.stderr).contains(&format!("byte {off}")),
                "{name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        None => assert_eq!(out.status.code(), Some(0), "{name}"),
    }
}

#[test]
fn truncated_record() {
    let (p, offs) = pcap();
    check("truncated.pcap", &p[..offs[60] + 30], Some(offs[60]));
}

#[test]
fn record_claiming_two_gigabytes() {
    let (mut p, offs) = pcap();
    p[offs[50] + 8..offs[50] + 12].copy_from_slice(&0x8000_0000u32.to_le_bytes());
    check("huge.pcap", &p, Some(offs[50]));
}

#[test]
fn thousands_of_zero_length_records() {
    let (p, offs) = pcap();
    let mut q = p[..offs[10]].to_vec();
    for _ in 0..5000 {
        q.extend_from_slice(&[0; 16]);
    }
    q.extend_from_slice(&p[offs[10]..]);
    check("zeros.pcap", &q, None);
    assert_eq!(common::run(&tmp("zeros.pcap", &q)).unwrap().scan.counters.frames, 5100);
}

#[test]
fn bad_pcapng_block_length() {
    let mut w = PcapngWriter::new(Vec::new(), 1, 262_144).unwrap();
    let mut offs = Vec::new();
    let mut len = 48;
    for (i, f) in frames().iter().enumerate() {
        offs.push(len);
        len += 32 + f.len().div_ceil(4) * 4;
        w.packet(i as i64, f, f.len() as u32, None).unwrap();
    }
    let mut b = w.into_inner();
    check("good.pcapng", &b, None);
    b[offs[40] + 4..offs[40] + 8].copy_from_slice(&7u32.to_le_bytes());
    check("badlen.pcapng", &b, Some(offs[40]));
}

#[test]
fn not_a_capture_is_exit_2_with_one_line() {
    for (name, bytes) in [
        ("text.pcap", &b"hello, this is not a capture\n"[..]),
        ("empty.pcap", &b""[..]),
        ("badmagic.pcap", &[0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0][..]),
    ] {
        let path = tmp(name, bytes);
        let out = Command::new(env!("CARGO_BIN_EXE_plainsight")).arg("analyze").arg(&path).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{name}: {err}");
        assert!(err.contains(name), "{err}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_plainsight")).args(["analyze", "/no/such/file.pcap"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such file"));
    let out =
        Command::new(env!("CARGO_BIN_EXE_plainsight")).args(["analyze", env!("CARGO_TARGET_TMPDIR")]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is a directory"));
}

#[test]
fn gzip_and_stdin() {
    use std::io::Write;
    let (p, _) = pcap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&p).unwrap();
    let path = tmp("session.pcap.gz", &gz.finish().unwrap());
    assert_eq!(common::run(&path).unwrap().scan.counters.frames, 100);
    let mut child = Command::new(env!("CARGO_BIN_EXE_plainsight"))
        .args(["analyze", "--format", "json", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&p).unwrap();
    let out = child.wait_with_output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["summary"]["counters"]["frames"], 100);
}

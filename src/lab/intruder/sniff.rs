//! `plainsight sniff`: the eavesdropper, live. Captures with libpcap on a lab host's
//! interface, runs the same pipeline as `analyze`, prints findings as they happen, and
//! with `-w` writes pcapng in which every packet that carried a finding has a comment.
//!
//! Packets are held for a short while before being written, so that a finding completed a
//! few packets later can still be attached to the packet where its message began.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::analysis::capture::write::PcapngWriter;
use crate::analysis::capture::{Frame, Linktype};
use crate::analysis::dissect::Event;
use crate::analysis::findings::Finding;
use crate::analysis::pipeline::{Analyzer, Counters};
use crate::analysis::reassembly::Limits;
use crate::analysis::report::{JsonlReport, Report};

/// Checked options of `sniff`.
#[derive(Debug, Clone)]
pub struct Options {
    pub interface: String,
    pub filter: Option<String>,
    pub snaplen: i32,
    pub write: Option<PathBuf>,
    pub jsonl: bool,
    pub reveal: bool,
    pub duration: Option<Duration>,
    /// Switch to user `nobody` once the capture handle and output file are open.
    pub drop_privileges: bool,
    /// Created once the capture is open (the ready signal).
    pub ready_file: Option<PathBuf>,
}

/// What the capture saw.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Stats {
    pub captured: u64,
    pub written: u64,
    pub kernel_received: u64,
    pub kernel_dropped: u64,
    pub interface_dropped: u64,
    pub findings: u64,
    pub counters: Counters,
}

struct Held {
    number: u64,
    ts: i64,
    data: Vec<u8>,
    orig_len: u32,
    comments: Vec<String>,
    at: Instant,
}

/// Packets waiting to be written, so findings can still be attached to them.
struct Pending {
    held: VecDeque<Held>,
    out: Option<PcapngWriter<io::BufWriter<std::fs::File>>>,
    written: u64,
}

impl Pending {
    fn annotate(&mut self, f: &Finding) {
        if let Some(h) = self.held.iter_mut().find(|h| h.number == f.frame) {
            let c = format!("{}: {}", f.class, f.summary); // masked: a capture is handed out
            if !h.comments.contains(&c) && h.comments.len() < 16 {
                h.comments.push(c);
            }
        }
    }

    fn flush(&mut self, all: bool) -> io::Result<()> {
        while let Some(h) = self.held.front() {
            if !all && self.held.len() < 20_000 && h.at.elapsed() < Duration::from_secs(2) {
                break;
            }
            let h = self.held.pop_front().expect("front exists");
            if let Some(w) = self.out.as_mut() {
                let comment = (!h.comments.is_empty()).then(|| h.comments.join("; "));
                w.packet(h.ts, &h.data, h.orig_len, comment.as_deref())?;
                self.written += 1;
            }
        }
        if let Some(w) = self.out.as_mut() {
            w.flush()?;
        }
        Ok(())
    }
}

/// Drops root for user/group nobody (65534), keeping nothing.
pub fn drop_privileges() -> anyhow::Result<()> {
    use nix::unistd::{Gid, Uid, setgid, setgroups, setuid};
    if !Uid::effective().is_root() {
        return Ok(());
    }
    setgroups(&[]).context("dropping supplementary groups")?;
    setgid(Gid::from_raw(65534)).context("setgid nobody")?;
    setuid(Uid::from_raw(65534)).context("setuid nobody")?;
    Ok(())
}

/// Captures until `--duration` passes or `stop` is set (Ctrl-C).
pub fn run(opts: &Options, stop: &AtomicBool) -> anyhow::Result<Stats> {
    let mut cap = pcap::Capture::from_device(opts.interface.as_str())
        .with_context(|| format!("no interface {}", opts.interface))?
        .promisc(true)
        .snaplen(opts.snaplen)
        .immediate_mode(true)
        .timeout(200)
        .open()
        .with_context(|| format!("opening {} for capture", opts.interface))?
        // Non-blocking, with our own poll: in immediate mode libpcap may ignore the read
        // timeout, and a quiet interface must not keep Ctrl-C from working.
        .setnonblock()
        .context("non-blocking capture")?;
    if let Some(f) = &opts.filter {
        cap.filter(f, true).with_context(|| format!("bad filter {f:?}"))?;
    }
    let linktype = cap.get_datalink().0 as u32;
    let out = match &opts.write {
        Some(p) => {
            let f = std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?;
            Some(PcapngWriter::new(io::BufWriter::new(f), linktype as u16, opts.snaplen as u32)?)
        }
        None => None,
    };
    // Capturing from here on: the ready signal, while it can still be written as root.
    crate::lab::proc::signal_ready(opts.ready_file.as_deref())?;
    if opts.drop_privileges {
        drop_privileges()?;
    }
    let mut pending = Pending { held: VecDeque::new(), out, written: 0 };
    let mut analyzer = Analyzer::new(None, Limits::default()).map_err(anyhow::Error::msg)?;
    let stdout = io::stdout();
    let mut jsonl = JsonlReport::new(io::LineWriter::new(stdout.lock()), opts.reveal);
    let mut findings = 0u64;
    let mut printed: Vec<Finding> = Vec::new();
    let reveal = opts.reveal;
    let use_jsonl = opts.jsonl;
    let mut emit = |e: &Event, f: &[Finding], pending: &mut Pending| {
        findings += f.len() as u64;
        for x in f {
            pending.annotate(x);
        }
        if use_jsonl {
            let _ = jsonl.event(e, f);
        } else {
            for x in f {
                if !printed.iter().any(|p| p.class == x.class && p.summary == x.summary && p.secret == x.secret) {
                    println!("[frame {:>5}] {:<14} {}", x.frame, x.class.as_str(), x.line(reveal));
                    if printed.len() < 4096 {
                        printed.push(x.clone());
                    }
                }
            }
        }
    };
    let start = Instant::now();
    let mut number = 0u64;
    while !stop.load(Ordering::SeqCst) && opts.duration.is_none_or(|d| start.elapsed() < d) {
        match cap.next_packet() {
            Ok(p) => {
                number += 1;
                let ts = p.header.ts.tv_sec * 1_000_000 + p.header.ts.tv_usec;
                let frame = Frame { number, ts_micros: ts, linktype: Linktype(linktype), data: p.data, orig_len: p.header.len };
                pending.held.push_back(Held { number, ts, data: p.data.to_vec(), orig_len: p.header.len, comments: Vec::new(), at: Instant::now() });
                let mut batch: Vec<(Event, Vec<Finding>)> = Vec::new();
                analyzer.frame(&frame, &mut |e, f| batch.push((e.clone(), f.to_vec())));
                for (e, f) in &batch {
                    emit(e, f, &mut pending);
                }
            }
            Err(pcap::Error::TimeoutExpired) => {
                use std::os::fd::{AsRawFd, BorrowedFd};
                // SAFETY: the descriptor belongs to `cap`, which outlives this call.
                let fd = unsafe { BorrowedFd::borrow_raw(cap.as_raw_fd()) };
                let mut fds = [nix::poll::PollFd::new(fd, nix::poll::PollFlags::POLLIN)];
                let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(200u16));
            }
            Err(e) => return Err(e).context("capturing"),
        }
        pending.flush(false)?;
    }
    let mut batch: Vec<(Event, Vec<Finding>)> = Vec::new();
    let counters = analyzer.finish(&mut |e, f| batch.push((e.clone(), f.to_vec())));
    for (e, f) in &batch {
        emit(e, f, &mut pending);
    }
    pending.flush(true)?;
    let s = cap.stats().unwrap_or(pcap::Stat { received: 0, dropped: 0, if_dropped: 0 });
    let stats = Stats {
        captured: number,
        written: pending.written,
        kernel_received: s.received as u64,
        kernel_dropped: s.dropped as u64,
        interface_dropped: s.if_dropped as u64,
        findings,
        counters,
    };
    if opts.jsonl {
        #[derive(serde::Serialize)]
        struct Line<'a> {
            #[serde(rename = "type")]
            kind: &'static str,
            #[serde(flatten)]
            stats: &'a Stats,
        }
        println!("{}", serde_json::to_string(&Line { kind: "capture_stats", stats: &stats })?);
    }
    io::stdout().flush()?;
    eprintln!(
        "sniff: {} packets captured{}, {} received by the kernel filter, {} dropped by the kernel, {} findings",
        stats.captured,
        if opts.write.is_some() { format!(" ({} written)", stats.written) } else { String::new() },
        stats.kernel_received,
        stats.kernel_dropped,
        stats.findings
    );
    Ok(stats)
}

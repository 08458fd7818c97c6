//! `plainsight sniff`: the eavesdropper, live. Captures with libpcap on a lab host's
//! interface, runs the same pipeline as `analyze`, prints findings as they happen, and
//! with `-w` writes pcapng in which every packet that carried a finding has a comment.
//!
//! Packets are held for a short while before being written, so that a finding completed a
//! few packets later can still be attached to the packet where its message began.

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::analysis::capture::live::LiveCapture;
use crate::analysis::capture::write::{Annotated, PcapngWriter};
use crate::analysis::dissect::Event;
use crate::analysis::findings::Finding;
use crate::analysis::pipeline::{Analyzer, Counters};
use crate::analysis::reassembly::Limits;
use crate::analysis::report::{JsonlReport, Report};

/// Checked options of `sniff`.
#[derive(Debug, Clone)]
pub struct SniffOptions {
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
    /// The lab site's TLS key log: its new lines go into the capture as Decryption
    /// Secrets Blocks (`--with-keys`).
    pub keylog: Option<PathBuf>,
    /// Name the article behind each HTTPS page load as it ends (no connection open, and
    /// none started for the gap), with what `fingerprint learn` learned
    /// (`--guess-articles`, `--guess-gap`).
    pub guess: Option<(crate::analysis::fingerprint::Model, Duration)>,
}

/// Prints a guessed page load (a line of text, or a JSON line `article_guess`).
fn print_guess(
    jsonl: bool,
    load: &crate::analysis::fingerprint::Load,
    g: &crate::analysis::fingerprint::Guess,
) -> io::Result<()> {
    if jsonl {
        let line = serde_json::json!({"type": "article_guess", "ts": load.start_us, "client": load.client, "page": g.page, "score": g.score, "runners_up": g.runners_up, "tied": g.tied, "why": g.why});
        writeln!(io::stdout(), "{line}")
    } else {
        let others: Vec<String> = g.runners_up.iter().map(|(p, s)| format!("{p} {s:.3}")).collect();
        writeln!(
            io::stdout(),
            "[guess]       {} read {} over HTTPS? score {:.3}; then {}\n              why: {}",
            load.client,
            g.page,
            g.score,
            others.join(", "),
            g.why
        )
    }
}

/// Follows a TLS key log as it grows: whole new lines, each time some arrived.
struct KeyLog {
    file: std::fs::File,
    partial: Vec<u8>,
}

impl KeyLog {
    fn open(path: &std::path::Path) -> anyhow::Result<KeyLog> {
        let file = std::fs::File::open(path).with_context(|| {
            format!("opening the site's TLS key log {} (is the lab's site running?)", path.display())
        })?;
        Ok(KeyLog { file, partial: Vec::new() })
    }

    /// The complete lines written since the last call, if any.
    fn new_lines(&mut self) -> io::Result<Option<Vec<u8>>> {
        use std::io::Read;
        let mut buf = Vec::new();
        self.file.read_to_end(&mut buf)?;
        self.partial.extend_from_slice(&buf);
        let Some(end) = self.partial.iter().rposition(|b| *b == b'\n') else { return Ok(None) };
        let lines: Vec<u8> = self.partial.drain(..=end).collect();
        Ok(Some(lines))
    }
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

/// The capture file being written (`-w`), with findings as packet comments.
type Pending = Option<Annotated<io::BufWriter<std::fs::File>>>;

/// Where the sniffer's events and findings go: JSON lines or readable lines on standard
/// output, comments in the capture file, and the live article guesser.
struct Output<'a> {
    jsonl: Option<JsonlReport<io::LineWriter<io::StdoutLock<'static>>>>,
    reveal: bool,
    /// Readable lines already printed (each is printed once).
    printed: Vec<Finding>,
    findings: u64,
    live: Option<crate::analysis::fingerprint::Live>,
    stop: &'a AtomicBool,
}

impl Output<'_> {
    /// One event's findings: printed, and noted in the capture file. A reader that went
    /// away (`| grep -m1`, `| head`) ends the capture cleanly, as Ctrl-C does: the pcapng
    /// is still completed.
    fn emit(&mut self, e: &Event, f: &[Finding], pending: &mut Pending) {
        self.findings += f.len() as u64;
        if let Some(p) = pending.as_mut() {
            for x in f {
                // Masked whatever --reveal says: a capture is handed out.
                p.annotate(x.frame, format!("{}: {}", x.class, x.summary));
            }
        }
        if let Some(jsonl) = self.jsonl.as_mut() {
            if jsonl.event(e, f).is_err() {
                self.stop.store(true, Ordering::SeqCst);
            }
            return;
        }
        for x in f {
            if self.printed.iter().any(|p| p.class == x.class && p.summary == x.summary && p.secret == x.secret) {
                continue;
            }
            if writeln!(io::stdout(), "[frame {:>5}] {:<14} {}", x.frame, x.class.as_str(), x.line(self.reveal))
                .is_err()
            {
                self.stop.store(true, Ordering::SeqCst);
            }
            if self.printed.len() < 4096 {
                self.printed.push(x.clone());
            }
        }
    }

    /// Feeds the live guesser and prints the page loads it named (all of them at `end`).
    fn guess(&mut self, events: &[(Event, Vec<Finding>)], end: bool) {
        let Some(l) = self.live.as_mut() else { return };
        let mut done: Vec<_> = events.iter().flat_map(|(e, _)| l.event(e)).collect();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0);
        done.extend(if end { l.finish() } else { l.tick(now) });
        for (load, g) in done {
            if print_guess(self.jsonl.is_some(), &load, &g).is_err() {
                self.stop.store(true, Ordering::SeqCst);
            }
        }
    }

    /// A batch of events: emitted, then guessed from.
    fn batch(&mut self, batch: &[(Event, Vec<Finding>)], pending: &mut Pending, end: bool) {
        for (e, f) in batch {
            self.emit(e, f, pending);
        }
        self.guess(batch, end);
    }
}

/// Opens the capture file of `-w`, if asked.
fn open_pending(opts: &SniffOptions, cap: &LiveCapture) -> anyhow::Result<Pending> {
    let Some(p) = &opts.write else { return Ok(None) };
    let f = std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?;
    Ok(Some(Annotated::new(PcapngWriter::new(io::BufWriter::new(f), cap.linktype().0 as u16, opts.snaplen as u32)?)))
}

/// Captures until `--duration` passes or `stop` is set (Ctrl-C).
pub fn run(opts: &SniffOptions, stop: &AtomicBool) -> anyhow::Result<Stats> {
    let mut cap = LiveCapture::open(&opts.interface, opts.snaplen, opts.filter.as_deref())?;
    let mut pending = open_pending(opts, &cap)?;
    // Opened as root: the key log is readable by root only.
    let mut keylog = opts.keylog.as_deref().map(KeyLog::open).transpose()?;
    // Capturing from here on: the ready signal, while it can still be written as root.
    crate::lab::proc::signal_ready(opts.ready_file.as_deref())?;
    if opts.drop_privileges {
        drop_privileges()?;
    }
    let mut analyzer = Analyzer::new(None, Limits::default())?;
    let mut out = Output {
        jsonl: opts.jsonl.then(|| JsonlReport::new(io::LineWriter::new(io::stdout().lock()), opts.reveal)),
        reveal: opts.reveal,
        printed: Vec::new(),
        findings: 0,
        live: opts.guess.clone().map(|(m, gap)| crate::analysis::fingerprint::Live::new(m, gap)),
        stop,
    };
    let start = Instant::now();
    // Once stopped (the duration, Ctrl-C, SIGTERM), what the kernel already captured is
    // still read: a script that stops the sniffer after its visit loses none of it.
    let mut drained: Option<u32> = None;
    loop {
        if drained.is_none() && (stop.load(Ordering::SeqCst) || opts.duration.is_some_and(|d| start.elapsed() >= d)) {
            drained = Some(0);
        }
        let next = match drained.as_mut() {
            None => cap.next(stop)?,
            Some(n) if *n < 100_000 => {
                *n += 1;
                match cap.drain_next()? {
                    Some(f) => Some(f),
                    None => break,
                }
            }
            Some(_) => break,
        };
        let mut batch: Vec<(Event, Vec<Finding>)> = Vec::new();
        if let Some(frame) = next {
            // Keys first: a handshake's keys are logged by the site before its encrypted
            // records can reach the wire, so they land ahead of those packets in the file.
            if let (Some(k), Some(p)) = (keylog.as_mut(), pending.as_mut())
                && let Some(lines) = k.new_lines()?
            {
                p.tls_secrets(&lines)?;
            }
            if let Some(p) = pending.as_mut() {
                p.hold(frame.number, frame.ts_micros, frame.data, frame.orig_len);
            }
            analyzer.frame(&frame, &mut |e, f| batch.push((e.clone(), f.to_vec())));
        }
        out.batch(&batch, &mut pending, false);
        if let Some(p) = pending.as_mut() {
            p.flush(false)?;
        }
    }
    let mut batch: Vec<(Event, Vec<Finding>)> = Vec::new();
    let counters = analyzer.finish(&mut |e, f| batch.push((e.clone(), f.to_vec())));
    out.batch(&batch, &mut pending, true);
    if let Some(p) = pending.as_mut() {
        p.flush(true)?;
    }
    let s = cap.stats();
    let stats = Stats {
        captured: cap.frames(),
        written: pending.as_ref().map_or(0, Annotated::written),
        kernel_received: s.received,
        kernel_dropped: s.dropped,
        interface_dropped: s.if_dropped,
        findings: out.findings,
        counters,
    };
    drop(out);
    report_stats(opts, &stats)?;
    Ok(stats)
}

/// The capture's statistics: a JSON line with `--format jsonl`, and a line on standard error.
fn report_stats(opts: &SniffOptions, stats: &Stats) -> anyhow::Result<()> {
    if opts.jsonl {
        #[derive(serde::Serialize)]
        struct Line<'a> {
            #[serde(rename = "type")]
            kind: &'static str,
            #[serde(flatten)]
            stats: &'a Stats,
        }
        println!("{}", serde_json::to_string(&Line { kind: "capture_stats", stats })?);
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
    Ok(())
}

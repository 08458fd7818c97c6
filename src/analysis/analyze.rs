//! `plainsight analyze FILE`: runs the pipeline over a capture file and writes a report.
//!
//! Orchestration only: opening the file, the progress bar, the choice of report, and the
//! exit status (0 clean, 2 not a capture, 3 damaged with `--strict`).

use std::collections::BTreeMap;
use std::io::{self, IsTerminal};

use anyhow::Context;
use std::path::{Path, PathBuf};

use crate::analysis::capture::file::{CaptureFile, Fault, OpenError};
use crate::analysis::dissect::{Event, Record};
use crate::analysis::findings::Finding;
use crate::analysis::pipeline::{Analyzer, Counters};
use crate::analysis::reassembly::Limits;
use crate::analysis::report::{CaptureSummary, Format, JsonReport, JsonlReport, Report, TextReport};

/// Checked options of `analyze`.
#[derive(Debug, Clone)]
pub struct AnalyzeOptions {
    pub file: PathBuf,
    pub format: Format,
    /// Where `--format zeek` writes its logs.
    pub out: Option<PathBuf>,
    pub reveal: bool,
    pub filter: Option<String>,
    pub strict: bool,
    pub progress: bool,
    pub colour: bool,
}

/// How a run ended, mapped to the process exit code by `main`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnalyzeResult {
    Clean = 0,
    NotACapture = 2,
    Damaged = 3,
}

/// Why a file could not be scanned at all.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("{0}")]
    Filter(String),
    #[error("reading {name}: {source}")]
    Read { name: String, source: io::Error },
}

/// The result of scanning a file.
#[derive(Debug, Clone)]
pub struct Scan {
    pub name: String,
    pub counters: Counters,
    pub fault: Option<Fault>,
}

/// Runs the whole pipeline over the capture at `path`, handing every event and its
/// findings to `sink`; `progress` is told the bytes read now and then.
pub fn scan(
    path: &Path,
    filter: Option<&str>,
    sink: &mut dyn FnMut(&Event, &[Finding]),
    progress: &mut dyn FnMut(u64),
) -> Result<Scan, ScanError> {
    scan_with(path, filter, Wanted::Findings, sink, progress)
}

/// What a scan's reader needs: the work for anything else is not done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    /// Every record and its findings.
    Findings,
    /// Every record, no findings.
    Records,
    /// What field extraction prints (HTTP requests and TLS ClientHellos among the rest):
    /// no findings, and no connection summaries.
    Fields,
}

/// [`scan`], doing only what `wanted` needs.
pub fn scan_with(
    path: &Path,
    filter: Option<&str>,
    wanted: Wanted,
    sink: &mut dyn FnMut(&Event, &[Finding]),
    progress: &mut dyn FnMut(u64),
) -> Result<Scan, ScanError> {
    let mut file = CaptureFile::open(path)?;
    let mut analyzer = Analyzer::new(filter, Limits::default()).map_err(|e| ScanError::Filter(e.to_string()))?;
    analyzer = match wanted {
        Wanted::Findings => analyzer,
        Wanted::Records => analyzer.without_findings(),
        Wanted::Fields => analyzer.for_fields(),
    };
    let mut n = 0u64;
    let mut read = 0u64;
    let fault = file
        .for_each(&mut |frame| {
            analyzer.frame(frame, sink);
            n += 1;
            read += frame.data.len() as u64 + 16;
            if n.is_multiple_of(65536) {
                progress(read);
            }
        })
        .map_err(|source| ScanError::Read { name: file.name().to_string(), source })?;
    let counters = analyzer.finish(sink);
    Ok(Scan { name: file.name().to_string(), counters, fault })
}

impl From<AnalyzeResult> for crate::exit::Exit {
    fn from(o: AnalyzeResult) -> crate::exit::Exit {
        match o {
            AnalyzeResult::Clean => crate::exit::Exit::Ok,
            AnalyzeResult::NotACapture => crate::exit::Exit::Usage,
            AnalyzeResult::Damaged => crate::exit::Exit::Damaged,
        }
    }
}

pub fn run(opts: &AnalyzeOptions) -> anyhow::Result<AnalyzeResult> {
    let stdout = io::BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let mut report: Box<dyn Report> = match opts.format {
        Format::Text => Box::new(TextReport::new(stdout, opts.reveal, opts.colour)),
        Format::Jsonl => Box::new(JsonlReport::new(stdout, opts.reveal)),
        Format::Json => Box::new(JsonReport::new(stdout, opts.reveal)),
        Format::Fields => Box::new(crate::analysis::report::FieldsReport::new(stdout, opts.reveal)),
        Format::Zeek => {
            let Some(dir) = &opts.out else {
                anyhow::bail!("--format zeek writes its logs into a directory: give it with --out DIR")
            };
            let r = crate::analysis::report::ZeekReport::new(dir, opts.reveal)
                .with_context(|| format!("creating the logs in {}", dir.display()))?;
            Box::new(r)
        }
    };
    let size = std::fs::metadata(&opts.file).map(|m| m.len()).unwrap_or(0);
    let bar = (opts.progress && size > 64 << 20 && io::stderr().is_terminal()).then(|| {
        let b = indicatif::ProgressBar::new(size);
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                .expect("static template"),
        );
        b
    });
    let mut by_class = BTreeMap::new();
    let mut notices = Vec::new();
    let mut write_err: Option<io::Error> = None;
    let mut sink = |e: &Event, f: &[Finding]| {
        if write_err.is_some() {
            return;
        }
        for x in f {
            *by_class.entry(x.class).or_insert(0u64) += 1;
        }
        if let Record::Notice { protocol, message } = &e.record
            && notices.len() < 20
        {
            notices.push(format!("frame {}: {protocol}: {message}", e.frame));
        }
        if let Err(err) = report.event(e, f) {
            write_err = Some(err);
        }
    };
    let wanted = if opts.format == Format::Fields { Wanted::Fields } else { Wanted::Findings };
    let result = scan_with(&opts.file, opts.filter.as_deref(), wanted, &mut sink, &mut |n| {
        if let Some(b) = &bar {
            b.set_position(n)
        }
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let scan = match result {
        Ok(s) => s,
        Err(ScanError::Open(e)) if !matches!(e, OpenError::Io { .. }) => {
            eprintln!("plainsight: {e}");
            return Ok(AnalyzeResult::NotACapture);
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(e) = write_err {
        return Err(e.into());
    }
    let summary = CaptureSummary {
        source: scan.name.clone(),
        counters: scan.counters,
        fault: scan.fault.clone(),
        findings_by_class: by_class,
        notices,
    };
    report.finish(&summary)?;
    match scan.fault {
        Some(f) => {
            eprintln!(
                "plainsight: warning: {}: reading stopped at byte {}: {} ({} frames analysed before it)",
                scan.name, f.offset, f.reason, summary.counters.frames
            );
            Ok(if opts.strict { AnalyzeResult::Damaged } else { AnalyzeResult::Clean })
        }
        None => Ok(AnalyzeResult::Clean),
    }
}

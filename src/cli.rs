//! Command-line arguments as typed (clap), and their conversion into the checked options
//! each command takes. Nothing past this module sees a raw flag.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::report::Format;

/// Shows what an on-path intruder learns from plaintext HTTP, and what HTTPS hides.
#[derive(Debug, Parser)]
#[command(name = "plainsight", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Report what an eavesdropper learns from a pcap or pcapng capture.
    Analyze(AnalyzeArgs),
    /// Write a synthetic benchmark capture (for scripts/bench-analyze.sh).
    #[command(hide = true)]
    Synth(SynthArgs),
}

#[derive(Debug, clap::Args)]
pub struct SynthArgs {
    /// Output pcap file.
    #[arg(long)]
    pub out: PathBuf,
    /// HTTP transactions (ten per keep-alive connection).
    #[arg(long, default_value_t = 100_000)]
    pub transactions: u32,
    /// TLS handshakes.
    #[arg(long, default_value_t = 10_000)]
    pub tls: u32,
    /// Size of each HTML body in bytes.
    #[arg(long, default_value_t = 9_000)]
    pub body: usize,
    /// Write the small sample session (a login over HTTP, a visit over HTTPS) instead.
    #[arg(long)]
    pub sample: bool,
}

#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    /// Capture file (pcap or pcapng, optionally gzip-compressed); `-` reads standard input.
    pub file: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Show secrets (passwords, cookie values, tokens) instead of masking them.
    #[arg(long)]
    pub reveal: bool,
    /// Only analyse packets matching this BPF expression (libpcap syntax).
    #[arg(long, short = 'f')]
    pub filter: Option<String>,
    /// Exit with status 3 when the capture is damaged (default: a warning and status 0).
    #[arg(long)]
    pub strict: bool,
    /// Never show a progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// Colour: auto (when standard output is a terminal), always or never.
    #[arg(long, default_value = "auto", value_parser = ["auto", "always", "never"])]
    pub color: String,
}

impl AnalyzeArgs {
    pub fn options(&self) -> crate::analyze::Options {
        let colour = match self.color.as_str() {
            "always" => true,
            "never" => false,
            _ => std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        };
        crate::analyze::Options {
            file: self.file.clone(),
            format: self.format,
            reveal: self.reveal,
            filter: self.filter.clone(),
            strict: self.strict,
            progress: !self.no_progress,
            colour: colour && self.format == Format::Text,
        }
    }
}

//! The `plainsight` binary: parse arguments, run the command, map the outcome to an exit
//! code. Errors print their whole chain; a closed pipe (`| head`) is not an error.

use std::process::ExitCode;

use clap::Parser;
use plainsight::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Analyze(a) => plainsight::analyze::run(&a.options()).map(|o| o as u8),
        Command::Synth(s) => std::fs::File::create(&s.out)
            .and_then(|f| match s.sample {
                true => plainsight::synth::write_sample(f).map(|_| 0),
                false => plainsight::synth::benchmark_capture(f, s.transactions, s.tls, s.body),
            })
            .map(|frames| {
                if !s.sample {
                    eprintln!("wrote {frames} frames to {}", s.out.display());
                }
                0
            })
            .map_err(anyhow::Error::from),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)) {
                return ExitCode::SUCCESS;
            }
            eprintln!("plainsight: error: {e:#}");
            ExitCode::from(1)
        }
    }
}

//! The `plainsight` binary: parse arguments, dispatch to [`plainsight::commands`], map the
//! outcome to an exit code. Errors print their whole chain; a closed pipe (`| head`) is not
//! an error.

use std::process::ExitCode;

use clap::Parser;
use plainsight::cli::Cli;
use plainsight::exit::Exit;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.command.prints_only() {
        // SAFETY: called before any thread starts; restores the default disposition.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    match plainsight::commands::run(&cli) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            if e.downcast_ref::<plainsight::lab::proc::Interrupted>().is_some() {
                eprintln!("plainsight: interrupted; what it had started was stopped and removed");
                return ExitCode::from(Exit::Interrupted as u8);
            }
            if let Some(not) = e.downcast_ref::<plainsight::lab::run::NotInLab>() {
                eprintln!("plainsight: {not}");
                return ExitCode::from(Exit::Usage as u8);
            }
            eprintln!("plainsight: error: {e:#}");
            ExitCode::from(Exit::Failed as u8)
        }
    }
}

#[cfg(feature = "alloc-mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(feature = "alloc-jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

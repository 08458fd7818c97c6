//! One file per command (as cargo lays out its subcommands): each takes its parsed
//! arguments ([`crate::cli`]), runs the command on the layers below, and says how it went
//! ([`Exit`]). `main.rs` only parses and dispatches here.

pub mod analyze;
pub mod demo;
pub mod fingerprint;
pub mod inject;
pub mod lab;
pub mod site;
pub mod sniff;
pub mod synth;
pub mod visit;
pub mod workshop;

use crate::cli::{Cli, Command};
use crate::exit::Exit;
pub use crate::lab::proc::shutdown_signal;

/// Runs the command `cli` names.
pub fn run(cli: &Cli) -> anyhow::Result<Exit> {
    match &cli.command {
        Command::Analyze(a) => analyze::run(a),
        Command::Lab(l) => lab::run(l),
        Command::Site(s) => site::run(s),
        Command::Visit(v) => visit::run(v),
        Command::Sniff(s) => sniff::run(s),
        Command::Inject(i) => inject::run(i),
        Command::Demo(d) => demo::run(d),
        Command::Workshop(w) => workshop::run(w),
        Command::Fingerprint(f) => fingerprint::run(f),
        Command::Compare { site, visitor } => analyze::compare(site, visitor),
        Command::Synth(s) => synth::run(s),
    }
}

/// The runtime of the roles that serve (site, visitor, views): two worker threads.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?)
}

/// The proxy's runtime: one thread. A relay's work is short steps that wake one another
/// (the visitor's side, the site's side); across threads each wake-up is a futex call and
/// a cache miss. Measured under load: 63-85 µs of CPU per injected page on two worker
/// threads, 55-57 µs on one (docs/performance.md).
pub(crate) fn proxy_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}

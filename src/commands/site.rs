//! `plainsight site`: the lab's website, in the site host (or anywhere, for tests).

use super::{runtime, shutdown_signal};
use crate::exit::Exit;

pub fn run(args: &crate::cli::SiteArgs) -> anyhow::Result<Exit> {
    let opts = args.options()?;
    runtime()?.block_on(crate::lab::site::serve(opts, shutdown_signal()))?;
    Ok(Exit::Ok)
}

//! `plainsight analyze` (a capture in, what an eavesdropper learned out) and
//! `plainsight compare` (the site's and the visitor's captures side by side).

use std::path::Path;

use crate::exit::Exit;

pub fn run(args: &crate::cli::AnalyzeArgs) -> anyhow::Result<Exit> {
    crate::analysis::analyze::run(&args.options()).map(Exit::from)
}

pub fn compare(site: &Path, visitor: &Path) -> anyhow::Result<Exit> {
    print!("{}", crate::analysis::compare::compare(site, visitor)?);
    Ok(Exit::Ok)
}

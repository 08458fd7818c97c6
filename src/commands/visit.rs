//! `plainsight visit`: the scripted visitor, from the visitor host.

use super::runtime;
use crate::exit::Exit;

pub fn run(args: &crate::cli::VisitArgs) -> anyhow::Result<Exit> {
    let lab = crate::lab::Lab::new(&args.lab)?;
    // Run from the visitor's host when the lab is there (and we may enter it). In the
    // lab's containers, from this one.
    let in_container = crate::lab::container::this_host().is_some();
    if !in_container
        && crate::lab::run::privileged()
        && std::path::Path::new("/run/netns").join(lab.ns(crate::lab::Host::Visitor)).exists()
    {
        crate::lab::run::enter(&lab, crate::lab::Host::Visitor)?;
    }
    let opts = args.options(&lab);
    let v = runtime()?.block_on(crate::lab::visitor::visit(opts))?;
    println!("{}", crate::lab::visitor::outcome_line(&v));
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&v)?)?;
    }
    Ok(if v.errors == 0 { Exit::Ok } else { Exit::Failed })
}

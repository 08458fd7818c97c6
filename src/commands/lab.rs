//! `plainsight lab up | down | status | exec | host | doctor`: the lab's network and its
//! roles (namespaces here, or one container of `lab/compose.yaml`).

use crate::exit::Exit;

pub fn run(args: &crate::cli::LabArgs) -> anyhow::Result<Exit> {
    use crate::cli::LabAction;
    use crate::lab::{Lab, run};
    let lab = Lab::new(&args.name)?;
    if let LabAction::Doctor = args.action {
        let (text, ok) = run::doctor();
        print!("{text}");
        return Ok(if ok { Exit::Ok } else { Exit::Usage });
    }
    if !run::privileged() {
        eprintln!(
            "plainsight: the lab needs root (network namespaces): run it as root; `plainsight lab doctor` lists what else it needs"
        );
        return Ok(Exit::Usage);
    }
    match &args.action {
        LabAction::Up { no_redirect, no_hsts, insecure_cookies, tls12_only, pad, idle_timeout } => {
            let mut site = vec!["--idle-timeout".to_string(), idle_timeout.as_secs_f64().to_string()];
            for (on, flag) in [
                (*no_redirect, "--no-redirect"),
                (*no_hsts, "--no-hsts"),
                (*insecure_cookies, "--insecure-cookies"),
                (*tls12_only, "--tls12-only"),
                (*pad, "--pad"),
            ] {
                if on {
                    site.push(flag.to_string());
                }
            }
            run::up(&lab, &site)?;
            print!("{}", run::status(&lab));
            let on = |b: bool| if b { "yes" } else { "no" };
            println!(
                "  site: http redirects to https: {}, HSTS: {}, Secure/HttpOnly cookie: {}, TLS: {}, padding: {}",
                on(!*no_redirect),
                on(!*no_hsts),
                on(!*insecure_cookies),
                if *tls12_only { "1.2 only" } else { "1.3 and 1.2" },
                if *pad { "every body to the next power of two" } else { "no" }
            );
        }
        LabAction::Down => {
            run::down(&lab)?;
            println!("lab {} removed", lab.name);
        }
        LabAction::Status => print!("{}", run::status(&lab)),
        LabAction::Exec { host, command } => {
            use std::os::unix::process::CommandExt;
            if !run::existing(&lab).contains(&lab.ns(*host)) {
                anyhow::bail!("lab {} has no {} host (run `plainsight lab up` first)", lab.name, host.as_str());
            }
            let err = lab.command_in(*host, &command[0]).args(&command[1..]).exec();
            return Err(anyhow::anyhow!("running ip netns exec: {err}"));
        }
        LabAction::Host { role, demo, keep } => return lab_host(&lab, *role, demo.as_deref(), *keep),
        LabAction::Doctor => unreachable!("handled above"),
    }
    Ok(Exit::Ok)
}

/// `lab host ROLE`: one container of lab/compose.yaml; the visitor's also runs the demo.
fn lab_host(
    lab: &crate::lab::Lab,
    role: crate::lab::Host,
    demo: Option<&std::path::Path>,
    keep: bool,
) -> anyhow::Result<Exit> {
    let stop = crate::lab::proc::stop_on_signals();
    let out = demo.unwrap_or(std::path::Path::new("."));
    crate::demo::hosts::be_container_host(lab, role, demo, keep, stop, |summary| {
        super::demo::demo_outcome(summary, out, false)
    })
}

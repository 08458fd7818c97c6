//! `plainsight inject`: the intruder's intercepting proxy, or (`--race`) the racing guest.

use super::{proxy_runtime, shutdown_signal};
use crate::exit::Exit;

pub fn run(args: &crate::cli::InjectArgs) -> anyhow::Result<Exit> {
    use crate::lab::{Host, Lab, run};
    let lab = Lab::new(&args.lab)?;
    let ad = match &args.ad {
        Some(p) => std::fs::read_to_string(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
        None if args.pass_through => String::new(),
        None => crate::lab::intruder::inject::DEFAULT_AD.to_string(),
    };
    if args.race {
        let host = Lab::race_host();
        if !args.outside_lab {
            run::be_in(&lab, host)?;
        } else {
            eprintln!(
                "plainsight: WARNING: racing forged packets outside the lab: only on a network you own, with consent."
            );
        }
        let stop = crate::lab::proc::stop_on_signals();
        if let Some(d) = args.duration {
            std::thread::spawn(move || {
                std::thread::sleep(d);
                stop.store(true, std::sync::atomic::Ordering::SeqCst);
            });
        }
        let victim = (!args.outside_lab).then_some(crate::lab::VISITOR);
        let interface = if host == Host::Intruder { Lab::lan_interface() } else { "eth0".to_string() };
        crate::lab::intruder::race::run(&interface, victim, &ad, args.reveal, args.ready_file.as_deref(), stop)?;
        return Ok(Exit::Ok);
    }
    if args.outside_lab {
        eprintln!(
            "plainsight: WARNING: intercepting outside the lab. Tampering with other people's traffic without consent is illegal in most places."
        );
    } else {
        run::be_in(&lab, Host::Intruder)?;
    }
    let opts = args.options(&lab, ad);
    // Each visitor connection is a socket and its upstream another: allow as many as the
    // hard limit does (the soft one is often 1,024).
    if let Ok((soft, hard)) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        && soft < hard
    {
        let _ = nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, hard, hard);
    }
    let duration = args.duration;
    proxy_runtime()?.block_on(async move {
        let stop = async move {
            match duration {
                Some(d) => tokio::select! { _ = tokio::time::sleep(d) => {}, _ = shutdown_signal() => {} },
                None => shutdown_signal().await,
            }
        };
        crate::lab::intruder::run(opts, stop).await
    })?;
    Ok(Exit::Ok)
}

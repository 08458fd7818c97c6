//! The `plainsight` binary: parse arguments, run the command, map the outcome to an exit
//! code. Errors print their whole chain; a closed pipe (`| head`) is not an error.

use std::process::ExitCode;

use clap::Parser;
use plainsight::cli::{Cli, Command, Exit};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Commands that only print: a closed pipe (`| head`) ends them quietly, as it does any
    // Unix tool. The long-running roles keep ignoring SIGPIPE and end cleanly on the error.
    let prints_only = match &cli.command {
        Command::Workshop(w) => {
            use plainsight::cli::WorkshopAction as A;
            !matches!(
                w.action,
                A::Bot { .. }
                    | A::Up { .. }
                    | A::Serve { .. }
                    | A::Gate
                    | A::Holder { .. }
                    | A::Session { .. }
                    | A::Enter
                    | A::Shell { .. }
            )
        }
        Command::Lab(l) => matches!(l.action, plainsight::cli::LabAction::Status | plainsight::cli::LabAction::Doctor),
        Command::Compare { .. } => true,
        _ => false,
    };
    if prints_only {
        // SAFETY: called before any thread starts; restores the default disposition.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    let result = match &cli.command {
        Command::Analyze(a) => plainsight::analysis::analyze::run(&a.options()).map(Exit::from),
        Command::Lab(l) => lab(l),
        Command::Site(s) => site(s),
        Command::Visit(v) => visit(v),
        Command::Sniff(s) => sniff(s),
        Command::Inject(i) => inject(i),
        Command::Demo(d) => demo(d),
        Command::Workshop(w) => plainsight::workshop::command::run(w),
        Command::Fingerprint(f) => fingerprint(f),
        Command::Compare { site, visitor } => plainsight::analysis::compare::compare(site, visitor).map(|t| {
            print!("{t}");
            Exit::Ok
        }),
        Command::Synth(s) => std::fs::File::create(&s.out)
            .and_then(|f| match s.sample {
                true => plainsight::analysis::synth::write_sample(f).map(|_| 0),
                false => plainsight::analysis::synth::benchmark_capture_with(
                    f,
                    s.transactions,
                    s.tls,
                    s.body,
                    plainsight::analysis::synth::Shape {
                        one_byte: s.one_byte,
                        spread: s.spread,
                        interleave: s.interleave,
                    },
                ),
            })
            .map(|frames| {
                if !s.sample {
                    eprintln!("wrote {frames} frames to {}", s.out.display());
                }
                Exit::Ok
            })
            .map_err(anyhow::Error::from),
    };
    match result {
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

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?)
}

/// The proxy's runtime: one thread. A relay's work is short steps that wake one another
/// (the visitor's side, the site's side); across threads each wake-up is a futex call and
/// a cache miss. Measured under load: 63-85 µs of CPU per injected page on two worker
/// threads, 55-57 µs on one (docs/performance.md).
fn proxy_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}

use plainsight::lab::proc::shutdown_signal;

fn lab(args: &plainsight::cli::LabArgs) -> anyhow::Result<Exit> {
    use plainsight::cli::LabAction;
    use plainsight::lab::{Lab, run};
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
            let err = std::process::Command::new("ip").args(["netns", "exec", &lab.ns(*host)]).args(command).exec();
            return Err(anyhow::anyhow!("running ip netns exec: {err}"));
        }
        LabAction::Host { role, demo, keep } => return lab_host(&lab, *role, demo.as_deref(), *keep),
        LabAction::Doctor => unreachable!("handled above"),
    }
    Ok(Exit::Ok)
}

/// `lab host ROLE`: one container of lab/compose.yaml; the visitor's also runs the demo.
fn lab_host(
    lab: &plainsight::lab::Lab,
    role: plainsight::lab::Host,
    demo: Option<&std::path::Path>,
    keep: bool,
) -> anyhow::Result<Exit> {
    let stop = plainsight::lab::proc::stop_on_signals();
    let out = demo.unwrap_or(std::path::Path::new("."));
    plainsight::demo::hosts::be_container_host(lab, role, demo, keep, stop, |summary| demo_outcome(summary, out, false))
}

/// Prints the demo's table and says whether every scenario went as expected.
fn demo_outcome(summary: plainsight::demo::Summary, out: &std::path::Path, quiet: bool) -> Exit {
    print!("{}", plainsight::demo::report::table(&summary));
    if !quiet {
        println!("report: {}", out.join("report.html").display());
    }
    let bad: Vec<&str> = summary.scenarios.iter().filter(|o| !o.as_expected).map(|o| o.scenario.as_str()).collect();
    if !bad.is_empty() {
        eprintln!(
            "plainsight: unexpected outcome in: {} (the lines marked UNEXPECTED above say which cells)",
            bad.join(", ")
        );
        return Exit::Failed;
    }
    Exit::Ok
}

fn site(args: &plainsight::cli::SiteArgs) -> anyhow::Result<Exit> {
    let opts = args.options()?;
    runtime()?.block_on(plainsight::lab::site::serve(opts, shutdown_signal()))?;
    Ok(Exit::Ok)
}

fn visit(args: &plainsight::cli::VisitArgs) -> anyhow::Result<Exit> {
    let lab = plainsight::lab::Lab::new(&args.lab)?;
    // Run from the visitor's host when the lab is there (and we may enter it). In the
    // lab's containers, from this one.
    let in_container = plainsight::lab::container::this_host().is_some();
    if !in_container
        && plainsight::lab::run::privileged()
        && std::path::Path::new("/run/netns").join(lab.ns(plainsight::lab::Host::Visitor)).exists()
    {
        plainsight::lab::run::enter(&lab, plainsight::lab::Host::Visitor)?;
    }
    let opts = args.options(&lab);
    let v = runtime()?.block_on(plainsight::lab::visitor::visit(opts))?;
    println!("{}", plainsight::lab::visitor::outcome_line(&v));
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&v)?)?;
    }
    Ok(if v.errors == 0 { Exit::Ok } else { Exit::Failed })
}

fn sniff(args: &plainsight::cli::SniffArgs) -> anyhow::Result<Exit> {
    let keylog = args
        .with_keys
        .then(|| plainsight::lab::Lab::new(&args.lab).map(|lab| lab.state_dir().join(plainsight::lab::site::KEYLOG)))
        .transpose()?;
    let mut opts = args.options(keylog)?;
    if args.guess_articles {
        let lab = plainsight::lab::Lab::new(&args.lab)?;
        opts.guess = Some((
            plainsight::fingerprint::Model::load(&plainsight::fingerprint::run::model_path(&lab))?,
            args.guess_gap,
        ));
    }
    if args.outside_lab {
        eprintln!(
            "plainsight: WARNING: sniffing outside the lab. Capturing other people's traffic without their consent is illegal in most places; do this only on a network you own, with everyone's agreement."
        );
    } else {
        let lab = plainsight::lab::Lab::new(&args.lab)?;
        plainsight::lab::run::be_in(&lab, args.host)?;
    }
    let stop = plainsight::lab::proc::stop_on_signals();
    plainsight::lab::intruder::sniff::run(&opts, stop)?;
    Ok(Exit::Ok)
}

fn inject(args: &plainsight::cli::InjectArgs) -> anyhow::Result<Exit> {
    use plainsight::lab::{Host, Lab, run};
    let lab = Lab::new(&args.lab)?;
    let ad = match &args.ad {
        Some(p) => std::fs::read_to_string(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
        None if args.pass_through => String::new(),
        None => plainsight::lab::intruder::inject::DEFAULT_AD.to_string(),
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
        let stop = plainsight::lab::proc::stop_on_signals();
        if let Some(d) = args.duration {
            std::thread::spawn(move || {
                std::thread::sleep(d);
                stop.store(true, std::sync::atomic::Ordering::SeqCst);
            });
        }
        let victim = (!args.outside_lab).then_some(plainsight::lab::VISITOR);
        let interface = if host == Host::Intruder { Lab::lan_interface() } else { "eth0".to_string() };
        plainsight::lab::intruder::race::run(&interface, victim, &ad, args.reveal, args.ready_file.as_deref(), stop)?;
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
        plainsight::lab::intruder::run(opts, stop).await
    })?;
    Ok(Exit::Ok)
}

fn demo(args: &plainsight::cli::DemoArgs) -> anyhow::Result<Exit> {
    use plainsight::demo;
    if !plainsight::lab::run::privileged() {
        eprintln!(
            "plainsight: the demo builds a lab and needs root: run it as root (`plainsight lab doctor` lists what else it needs)"
        );
        return Ok(Exit::Usage);
    }
    let opts = args.options(plainsight::lab::proc::stop_on_signals());
    let hosts = demo::Hosts::Namespaces(plainsight::lab::Lab::new(&args.lab)?);
    if let Some(listen) = args.serve {
        serve_demo(&opts, listen, args.reveal)?;
    }
    let summary = demo::run(&opts, &hosts)?;
    let code = demo_outcome(summary, &opts.out, args.quiet);
    if args.serve.is_some() {
        eprintln!("demo: done; the live view stays up until Ctrl-C");
        while !opts.stop.load(std::sync::atomic::Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    Ok(code)
}

/// `demo --serve`: the live view of the scenarios as they run, in a thread of its own
/// (it ends with the process).
fn serve_demo(opts: &plainsight::demo::Options, listen: std::net::SocketAddr, reveal: bool) -> anyhow::Result<()> {
    use plainsight::workshop::serve;
    std::fs::create_dir_all(&opts.out)?;
    let run = serve::DemoRun {
        out: opts.out.clone(),
        scenarios: opts.scenarios.iter().map(|s| (s.name(), s.title(), s.over_https())).collect(),
    };
    let token = (!listen.ip().is_loopback()).then(plainsight::workshop::Key::generate);
    let view = serve::Options { listen, token: token.clone(), reveal };
    let rt = runtime()?;
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let ready = |addr: &std::net::SocketAddr| {
            let q = token.as_deref().map(|t| format!("?token={t}")).unwrap_or_default();
            let _ = ready_tx.send(format!("view: http://{addr}/{q} (read-only; the scenarios as they run)"));
        };
        if let Err(e) = rt.block_on(serve::serve(serve::Source::Demo(run), view, ready, std::future::pending())) {
            eprintln!("plainsight: the live view stopped: {e:#}");
        }
    });
    let line = ready_rx.recv().map_err(|_| anyhow::anyhow!("the live view did not start (is {listen} free?)"))?;
    println!("{line}");
    use std::io::Write;
    std::io::stdout().flush()?;
    Ok(())
}

fn fingerprint(args: &plainsight::cli::FingerprintArgs) -> anyhow::Result<Exit> {
    use plainsight::cli::FingerprintAction;
    use plainsight::fingerprint::{Model, run};
    let needs_root = !matches!(args.action, FingerprintAction::Guess { model: Some(_), .. });
    if needs_root && !plainsight::lab::run::privileged() && !plainsight::lab::run::in_sandbox() {
        eprintln!("plainsight: fingerprint uses the lab (network namespaces): run it as root");
        return Ok(Exit::Usage);
    }
    match &args.action {
        FingerprintAction::Learn { lab, loads, browser } => {
            let lab = plainsight::lab::Lab::new(lab)?;
            let stop = plainsight::lab::proc::stop_on_signals();
            let model = run::learn(&lab, *loads as usize, browser.is_some(), stop)?;
            print!("{}", run::learned_text(&model, &run::model_path(&lab)));
        }
        FingerprintAction::Guess { capture, lab, model, gap } => {
            let path = match model {
                Some(m) => m.clone(),
                None => run::model_path(&plainsight::lab::Lab::new(lab)?),
            };
            print!("{}", run::guess_text(&Model::load(&path)?, capture, *gap)?);
        }
        FingerprintAction::Eval { lab, visits, seed, browser, json } => {
            let lab = plainsight::lab::Lab::new(lab)?;
            let stop = plainsight::lab::proc::stop_on_signals();
            let seed = seed.unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
            let e = run::eval(&lab, *visits as usize, seed, browser.is_some(), stop)?;
            print!("{}", run::eval_text(&e));
            if let Some(p) = json {
                std::fs::write(p, serde_json::to_vec_pretty(&e)?)?;
            }
        }
    }
    Ok(Exit::Ok)
}

#[cfg(feature = "alloc-mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(feature = "alloc-jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

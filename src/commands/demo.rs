//! `plainsight demo`: every scenario through the lab, the table, the report; `--serve`
//! shows them live.

use super::runtime;
use crate::exit::Exit;

pub fn run(args: &crate::cli::DemoArgs) -> anyhow::Result<Exit> {
    use crate::demo;
    if let Some(dir) = &args.report_from {
        return report_again(dir, args.pdf.as_deref());
    }
    if !crate::lab::run::privileged() {
        eprintln!(
            "plainsight: the demo builds a lab and needs root: run it as root (`plainsight lab doctor` lists what else it needs)"
        );
        return Ok(Exit::Usage);
    }
    let opts = args.options(crate::lab::proc::stop_on_signals());
    let hosts = demo::Hosts::Namespaces(crate::lab::Lab::new(&args.lab)?);
    if let Some(listen) = args.serve {
        serve_demo(&opts, listen, args.reveal)?;
    }
    let summary = demo::run(&opts, &hosts)?;
    let code = demo_outcome(summary, &opts.out, args.quiet);
    if let Some(pdf) = &args.pdf {
        crate::lab::browser::print_to_pdf(&opts.out.join("report.html"), pdf)?;
        if !args.quiet {
            println!("handout: {}", pdf.display());
        }
    }
    if args.serve.is_some() {
        eprintln!("demo: done; the live view stays up until Ctrl-C");
        while !opts.stop.load(std::sync::atomic::Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    Ok(code)
}

/// `demo --report-from DIR`: report.html written again from a finished run.
fn report_again(dir: &std::path::Path, pdf: Option<&std::path::Path>) -> anyhow::Result<Exit> {
    let path = dir.join("summary.json");
    let bytes = std::fs::read(&path)
        .map_err(|e| anyhow::anyhow!("{}: {e} (is {} a demo's run?)", path.display(), dir.display()))?;
    let summary: crate::demo::DemoSummary =
        serde_json::from_slice(&bytes).map_err(|e| anyhow::anyhow!("{}: not a demo's summary: {e}", path.display()))?;
    let html = dir.join("report.html");
    std::fs::write(&html, crate::demo::report::html(&summary))?;
    println!("report: {}", html.display());
    if let Some(pdf) = pdf {
        crate::lab::browser::print_to_pdf(&html, pdf)?;
        println!("handout: {}", pdf.display());
    }
    Ok(Exit::Ok)
}

/// `demo --serve`: the live view of the scenarios as they run, in a thread of its own
/// (it ends with the process).
fn serve_demo(opts: &crate::demo::DemoOptions, listen: std::net::SocketAddr, reveal: bool) -> anyhow::Result<()> {
    use crate::views as serve;
    std::fs::create_dir_all(&opts.out)?;
    let run = serve::DemoRun {
        out: opts.out.clone(),
        scenarios: opts.scenarios.iter().map(|s| (s.name(), s.title(), s.over_https())).collect(),
    };
    let token = (!listen.ip().is_loopback()).then(crate::workshop::Key::generate);
    let view = serve::ViewOptions { listen, token: token.clone(), reveal };
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

/// Prints the demo's table and says whether every scenario went as expected.
pub(super) fn demo_outcome(summary: crate::demo::DemoSummary, out: &std::path::Path, quiet: bool) -> Exit {
    print!("{}", crate::demo::report::table(&summary));
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

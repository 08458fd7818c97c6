//! `plainsight workshop ...`: each action, from the trainer's root shell or from inside a
//! participant's sandbox.
//!
//! Inside a sandbox (its marker is there and this process is not root), `show`, `check`,
//! `hint` and `progress` ask the gate for the participant the kernel says is asking; the
//! trainer's root shell does them directly for the participant it names.

use std::io::Write;

use anyhow::Context;

use crate::cli::{WorkshopAction as A, WorkshopArgs};
use crate::exit::Exit;
use crate::workshop::gate::{self, Request};
use crate::workshop::say;
use crate::workshop::{self as ws, Workshop, desk, exercise, sandbox, ssh};

fn print_reply(r: &gate::Reply) -> Exit {
    let _ = std::io::stdout().write_all(r.out.as_bytes());
    let _ = std::io::stderr().write_all(r.err.as_bytes());
    if !r.err.is_empty() && !r.err.ends_with('\n') {
        eprintln!();
    }
    match r.code {
        0 => Exit::Ok,
        1 => Exit::Failed,
        _ => Exit::Usage,
    }
}

/// `--participant` as the trainer gives it (required outside a sandbox).
fn named(participant: Option<u16>, what: &str) -> anyhow::Result<u16> {
    participant.with_context(|| format!("whose? `plainsight workshop {what} ... --participant N` (inside a participant's sandbox it is always their own)"))
}

/// Runs one `workshop` action.
pub fn run(args: &WorkshopArgs) -> anyhow::Result<Exit> {
    if let A::Exercises = args.action {
        for e in exercise::all() {
            say(format_args!("{:<10} {}", e.id, e.title));
        }
        return Ok(Exit::Ok);
    }
    let root = crate::lab::run::privileged();
    // In a participant's sandbox: their own exercises, through the gate.
    if let (false, Some(marker)) = (root, sandbox::Marker::here()) {
        return in_sandbox(args, &marker);
    }
    let w = Workshop::new(&args.name)?;
    if let A::Enter = args.action {
        return enter(&w);
    }
    if !root {
        eprintln!(
            "plainsight: a workshop builds labs and reads its key: run it as root (participants run it inside their sandbox: `plainsight workshop shell N`, or over SSH)"
        );
        return Ok(Exit::Usage);
    }
    match &args.action {
        A::Up { .. } => up(&w, &args.action)?,
        A::Down => {
            let removed = ws::down(&w)?;
            say(format_args!(
                "workshop {} removed ({} labs, their accounts and sandboxes); progress kept in {}",
                w.name,
                removed.len(),
                w.data_dir().join(ws::progress::FILE).display()
            ));
        }
        A::Status => {
            let (text, healthy) = ws::status(&w)?;
            print!("{text}");
            return Ok(if healthy { Exit::Ok } else { Exit::Failed });
        }
        A::Shell { participant, host } => return shell(&w, *participant, *host),
        A::Show { id, participant } => {
            let p = named(*participant, "show")?;
            print!("{}", desk::show(&w, p, id, false)?);
        }
        A::Check { id, participant, answer } => {
            let p = named(*participant, "check")?;
            let a = desk::check(&w, p, id, answer.as_deref())?;
            print!("{}", a.text);
            return Ok(if a.passed { Exit::Ok } else { Exit::Failed });
        }
        A::Hint { id, participant } => {
            let p = named(*participant, "hint")?;
            print!("{}", desk::hint(&w, p, id.as_deref())?);
        }
        A::Progress { json } => progress(&w, *json)?,
        A::Handout { json, host, view } => handout(&w, *json, host.clone(), view.clone())?,
        A::Serve { listen, token, reveal } => serve(&w, *listen, token.clone(), *reveal)?,
        A::Bot { participant, interval } => {
            let lab = w.lab(*participant);
            ws::bot::run(&lab, *interval, crate::lab::proc::stop_on_signals())?;
        }
        A::Gate => gate::run(&w, crate::lab::proc::stop_on_signals())?,
        A::Holder { participant } => {
            sandbox::holder(&w, *participant, &account(&w, *participant)?, &gate::socket_path(&w))?
        }
        A::Session { participant, host, holder, command, term } => {
            let account = account(&w, *participant)?;
            let code =
                sandbox::session(&w, *participant, &account, *holder, *host, command.as_deref(), term.as_deref())?;
            std::process::exit(code);
        }
        A::Exercises | A::Enter => unreachable!("handled above"),
    }
    Ok(Exit::Ok)
}

/// `workshop up`: the labs, the bots, the sandboxes, the gate, and the SSH server if asked.
fn up(w: &Workshop, action: &A) -> anyhow::Result<()> {
    let A::Up {
        participants,
        key,
        bot_interval,
        ssh,
        ssh_port,
        ssh_listen,
        ssh_keys,
        memory_mb,
        max_processes,
        cpu_percent,
    } = action
    else {
        anyhow::bail!("workshop up: called for another action");
    };
    let o = ws::UpOptions {
        participants: *participants,
        key: key.clone(),
        bot_interval: *bot_interval,
        limits: sandbox::Limits { memory_mb: *memory_mb, processes: *max_processes, cpu_percent: *cpu_percent },
        ssh: ssh.then(|| ssh::Settings { port: *ssh_port, listen: ssh_listen.clone(), keys: ssh_keys.clone() }),
    };
    ws::up(w, &o)?;
    say(format_args!(
        "workshop {} up: {participants} labs ({}-01 ...); key in {} (root only)",
        w.name,
        w.name,
        w.dir().join("key").display()
    ));
    Ok(())
}

/// `workshop handout`: one card per participant (how to log in, where their page is).
fn handout(w: &Workshop, json: bool, host: Option<String>, view: Option<String>) -> anyhow::Result<()> {
    let host = host.or_else(|| ssh::reachable_addresses().into_iter().next()).unwrap_or_else(|| "127.0.0.1".into());
    let view = view.unwrap_or_else(|| format!("http://{host}:8088"));
    let cards = ssh::handout(w, &host, &view)?;
    if json {
        say(serde_json::to_string_pretty(&cards)?);
    } else {
        for c in &cards {
            say(card(w, c));
        }
    }
    Ok(())
}

/// Participant `p`'s account.
fn account(w: &Workshop, p: u16) -> anyhow::Result<sandbox::Account> {
    sandbox::accounts(w)
        .into_iter()
        .find(|a| a.participant == p)
        .with_context(|| format!("workshop {} has no account for participant {p}", w.name))
}

/// One participant's card, as printed for the handout.
fn card(w: &Workshop, c: &ssh::Card) -> String {
    let Some(port) = c.port else {
        return format!(
            "plainsight workshop {} — participant {}\n  your shell: the trainer opens it (plainsight workshop shell {}{})\n  your page:  {}\n",
            w.name,
            c.participant,
            c.participant,
            w.name_flag(),
            c.page
        );
    };
    let login = match &c.password {
        Some(pw) => format!("password:   {pw}"),
        None => "password:   none (your own SSH key)".to_string(),
    };
    format!(
        "plainsight workshop {} — participant {}\n  log in:     ssh -p {port} {}@{}\n  {login}\n  your page:  {}\n  the guest's host: ssh -t -p {port} {}@{} @guest\n",
        w.name, c.participant, c.user, c.host, c.page, c.user, c.host
    )
}

/// The actions a participant runs inside their sandbox.
fn in_sandbox(args: &WorkshopArgs, marker: &sandbox::Marker) -> anyhow::Result<Exit> {
    let own = |p: &Option<u16>| -> anyhow::Result<()> {
        if p.is_some_and(|p| p != marker.participant) {
            anyhow::bail!("you are participant {}: your sandbox reaches your own lab only", marker.participant);
        }
        Ok(())
    };
    let request = match &args.action {
        A::Show { id, participant } => {
            own(participant)?;
            Request::Show { exercise: id.clone() }
        }
        A::Check { id, participant, answer } => {
            own(participant)?;
            Request::Check { exercise: id.clone(), answer: answer.clone() }
        }
        A::Hint { id, participant } => {
            own(participant)?;
            Request::Hint { exercise: id.clone() }
        }
        A::Progress { .. } => Request::Progress,
        _ => {
            eprintln!(
                "plainsight: in your sandbox, `plainsight workshop` shows, checks, hints and your progress: show ID, check ID [--answer X], hint [ID], progress"
            );
            return Ok(Exit::Usage);
        }
    };
    Ok(print_reply(&gate::ask(std::path::Path::new(sandbox::SOCKET), &request)?))
}

/// `workshop enter`: an SSH login (run by the workshop's sshd as the participant). The
/// command after the login, if any, runs in the sandbox; `@guest [CMD]` on the guest host.
fn enter(w: &Workshop) -> anyhow::Result<Exit> {
    let original = std::env::var("SSH_ORIGINAL_COMMAND").ok().filter(|c| !c.trim().is_empty());
    let (host, command) = match original.as_deref().map(str::trim) {
        Some(c) if c == "@guest" || c.starts_with("@guest ") => {
            ("guest", c.strip_prefix("@guest").map(str::trim).filter(|r| !r.is_empty()).map(str::to_string))
        }
        Some(c) if c == "@intruder" || c.starts_with("@intruder ") => {
            ("intruder", c.strip_prefix("@intruder").map(str::trim).filter(|r| !r.is_empty()).map(str::to_string))
        }
        other => ("intruder", other.map(str::to_string)),
    };
    let reply = gate::ask(
        &gate::socket_path(w),
        &Request::Shell { host: host.into(), command, term: std::env::var("TERM").ok(), participant: None },
    )?;
    let _ = std::io::stderr().write_all(reply.err.as_bytes());
    std::process::exit(reply.code);
}

/// `workshop shell N`: participant N's sandboxed shell, from the trainer's root shell.
fn shell(w: &Workshop, participant: u16, host: crate::lab::Host) -> anyhow::Result<Exit> {
    use std::os::unix::process::CommandExt;
    let lab = w.participant(participant)?;
    if let Some(here) = crate::lab::container::this_host() {
        // In the lab's containers the participant's laptop is their lab: a plain shell.
        if here != host {
            anyhow::bail!(
                "this is the lab's {} container: run it in the {}'s (docker compose -f lab/compose.yaml exec {} plainsight workshop shell 1)",
                here.as_str(),
                host.as_str(),
                host.as_str()
            );
        }
        let shell = std::env::var("SHELL")
            .ok()
            .filter(|s| std::path::Path::new(s).exists())
            .unwrap_or_else(|| "/bin/bash".into());
        let err = std::process::Command::new(&shell)
            .env("PLAINSIGHT_LAB", &lab.name)
            .env("PS1", format!("[{} {}] \\w# ", lab.name, host.as_str()))
            .exec();
        return Err(anyhow::anyhow!("running {shell}: {err}"));
    }
    if gate::running(w).is_none() {
        anyhow::bail!(
            "workshop {}'s gate is not running: `plainsight workshop up{} --participants N` starts it again",
            w.name,
            w.name_flag()
        );
    }
    eprintln!(
        "plainsight: participant {participant}'s sandbox, on the {} host of lab {}: what they can reach, and nothing else. `exit` leaves.",
        host.as_str(),
        lab.name
    );
    let reply = gate::ask(
        &gate::socket_path(w),
        &Request::Shell {
            host: host.as_str().into(),
            command: None,
            term: std::env::var("TERM").ok(),
            participant: Some(participant),
        },
    )?;
    let _ = std::io::stderr().write_all(reply.err.as_bytes());
    std::process::exit(reply.code);
}

fn progress(w: &Workshop, json: bool) -> anyhow::Result<()> {
    let rec = w.recorded().ok();
    let table = ws::progress::Progress::existing(w)?.table()?;
    let exercises = exercise::all();
    let n = rec.map(|r| r.participants).unwrap_or_else(|| table.keys().copied().max().unwrap_or(0));
    if json {
        let rows: Vec<serde_json::Value> = (1..=n).map(|p| serde_json::json!({"participant": p, "lab": w.lab(p).name, "exercises": table.get(&p).cloned().unwrap_or_default()})).collect();
        say(serde_json::to_string_pretty(
            &serde_json::json!({"workshop": w.name, "exercises": exercises.iter().map(|e| &e.id).collect::<Vec<_>>(), "participants": rows}),
        )?);
        return Ok(());
    }
    let mut out = format!("{:<12}", "participant");
    for e in &exercises {
        out.push_str(&format!(" {:>9}", e.id));
    }
    out.push('\n');
    for p in 1..=n {
        out.push_str(&format!("{:<12}", w.lab(p).name));
        for e in &exercises {
            let s = match table.get(&p).and_then(|r| r.get(&e.id)) {
                Some(c) if c.passed => "done".to_string(),
                Some(c) => format!("{} tries", c.attempts),
                None => "-".into(),
            };
            out.push_str(&format!(" {s:>9}"));
        }
        out.push('\n');
    }
    print!("{out}");
    Ok(())
}

fn serve(w: &Workshop, listen: std::net::SocketAddr, token: Option<String>, reveal: bool) -> anyhow::Result<()> {
    w.recorded()?;
    let token = match token {
        Some(t) => Some(t),
        None if listen.ip().is_loopback() => None,
        None => Some(ws::Key::generate()),
    };
    let opts = crate::views::ViewOptions { listen, token: token.clone(), reveal };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(crate::views::serve(
        crate::views::Source::Workshop(w.clone()),
        opts,
        |addr| {
            let q = token.as_deref().map(|t| format!("?token={t}")).unwrap_or_default();
            for shown in crate::views::reachable(addr) {
                say(format_args!("view: http://{shown}/{q} (read-only; the progress grid; /lab/NAME for one lab)"));
            }
            let _ = std::io::stdout().flush();
        },
        crate::lab::proc::shutdown_signal(),
    ))
}

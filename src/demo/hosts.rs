//! Where the demo's roles run: the namespace lab it builds itself, or the containers of
//! `lab/compose.yaml` (through [`crate::lab::container`]). Everything after this is the
//! same for both.

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::Context;

use crate::lab::container::{self, Agent, Conductor, Job, JobSpec};
use crate::lab::proc::Role;
use crate::lab::{Host, Lab, run};

pub enum Hosts {
    /// The demo builds the namespace lab and starts the roles itself.
    Namespaces(Lab),
    /// The lab's containers run the roles; the demo runs in the visitor's.
    Containers { lab: Lab, conductor: Conductor, site: Mutex<Option<Job>> },
}

/// A role started on a host (a local one is stopped when dropped).
pub enum Proc {
    Local(Role),
    Remote(Job),
}

impl Hosts {
    pub fn lab(&self) -> &Lab {
        match self {
            Hosts::Namespaces(lab) | Hosts::Containers { lab, .. } => lab,
        }
    }

    /// Builds the lab (namespaces) or prepares it (containers: the CA, the site).
    pub fn up(&self) -> anyhow::Result<()> {
        match self {
            Hosts::Namespaces(lab) => run::up(lab, &[]),
            Hosts::Containers { lab, .. } => {
                run::write_pki(lab)?;
                self.restart_site(&[])
            }
        }
    }

    pub fn down(&self) {
        match self {
            Hosts::Namespaces(lab) => {
                let _ = run::down(lab);
            }
            Hosts::Containers { conductor, site, .. } => {
                if let Some(job) = site.lock().expect("site job").take() {
                    conductor.stop(&job);
                }
                conductor.finish();
            }
        }
    }

    /// (Re)starts the site with other options, waiting until it serves.
    pub fn restart_site(&self, flags: &[String]) -> anyhow::Result<()> {
        match self {
            Hosts::Namespaces(lab) => run::restart_site(lab, flags),
            Hosts::Containers { lab, conductor, site } => {
                let mut site = site.lock().expect("site job");
                if let Some(job) = site.take() {
                    conductor.stop(&job);
                }
                let state = lab.state_dir();
                let _ = std::fs::remove_file(state.join("site.ready"));
                let mut argv = vec!["plainsight".to_string()];
                argv.extend(run::site_args(lab, flags));
                let log = state.join("site.log");
                *site = Some(conductor.start(Host::Site, &JobSpec { argv, stdout: log.clone(), stderr: log })?);
                run::wait_site_ready(lab)
            }
        }
    }

    /// Starts `argv` on a host. `plainsight` commands are given `--lab`/`--host` and
    /// place themselves; other programs are run inside the host.
    pub fn start(&self, host: Host, argv: &[String], stdout: &Path, stderr: &Path) -> anyhow::Result<Proc> {
        match self {
            Hosts::Namespaces(lab) => {
                let cmd = if argv[0] == "plainsight" {
                    let mut c = Command::new(std::env::current_exe()?);
                    c.args(&argv[1..]);
                    c
                } else {
                    let mut c = Command::new("ip");
                    c.args(["netns", "exec", &lab.ns(host)]).args(argv);
                    c
                };
                Ok(Proc::Local(Role::spawn(cmd, &argv.join(" "), stdout, stderr)?))
            }
            Hosts::Containers { conductor, .. } => Ok(Proc::Remote(
                conductor
                    .start(host, &JobSpec { argv: argv.to_vec(), stdout: stdout.into(), stderr: stderr.into() })?,
            )),
        }
    }

    /// Runs `argv` on a host to its end (at most `timeout`, or until `stop`); returns its
    /// exit code.
    pub fn run(
        &self,
        host: Host,
        argv: &[String],
        stdout: &Path,
        stderr: &Path,
        timeout: Duration,
        stop: &AtomicBool,
    ) -> anyhow::Result<i32> {
        match self.start(host, argv, stdout, stderr)? {
            Proc::Local(role) => role.wait(timeout, stop),
            Proc::Remote(job) => match self {
                Hosts::Containers { conductor, .. } => conductor.wait(&job, timeout),
                Hosts::Namespaces(_) => unreachable!("remote jobs only exist in containers"),
            },
        }
    }

    /// Stops a role (SIGTERM, then SIGKILL after a grace period) and waits for it.
    pub fn stop(&self, p: Proc) {
        match p {
            Proc::Local(role) => role.stop(),
            Proc::Remote(job) => {
                if let Hosts::Containers { conductor, .. } = self {
                    conductor.stop(&job);
                }
            }
        }
    }
}

/// Is one host of the lab's containers (`lab host ROLE`): routes it, then runs what the
/// demo asks of it until the demo ends (or `stop`). With `demo` (the visitor), also runs
/// the demo from here, writing the report into that folder; with `keep`, the hosts stay
/// up afterwards for exercises. `report` shows the summary (before the hosts stop, or
/// while they stay up) and gives the exit code.
pub fn be_container_host(
    lab: &Lab,
    role: Host,
    demo: Option<&Path>,
    keep: bool,
    stop: &'static std::sync::atomic::AtomicBool,
    report: impl FnOnce(super::Summary) -> crate::exit::Exit,
) -> anyhow::Result<crate::exit::Exit> {
    if container::this_host() != Some(role) {
        anyhow::bail!(
            "`lab host {}` runs in the lab's {} container (lab/compose.yaml sets {}={})",
            role.as_str(),
            role.as_str(),
            container::ENV_HOST,
            role.as_str()
        );
    }
    let state = lab.state_dir();
    std::fs::create_dir_all(&state).with_context(|| format!("creating {}", state.display()))?;
    let mut agent = Agent::new(role, &state);
    agent.route()?;
    eprintln!("lab host {} ready", role.as_str());
    let Some(out) = demo else {
        agent.serve(stop)?;
        return Ok(crate::exit::Exit::Ok);
    };
    let serving = std::thread::spawn(move || agent.serve(stop));
    let hosts = Hosts::Containers {
        lab: lab.clone(),
        conductor: Conductor::begin(&state, Duration::from_secs(120))?,
        site: Default::default(),
    };
    let opts = super::Options {
        scenarios: super::scenario::Scenario::ALL.to_vec(),
        out: out.to_path_buf(),
        step: false,
        quiet: false,
        keep_lab: keep,
        browser: false,
        reveal: false,
        stop,
    };
    let summary = super::run(&opts, &hosts);
    if keep {
        eprintln!("lab host {}: the lab stays up for exercises (docker compose exec ...)", role.as_str());
    } else {
        hosts.down();
    }
    let code = report(summary?);
    serving.join().map_err(|_| anyhow::anyhow!("the visitor's host thread panicked"))??;
    Ok(code)
}

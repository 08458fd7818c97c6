//! Where the roles run: the namespace lab ([`crate::lab::run`]), or the containers of
//! `lab/compose.yaml` (through [`crate::lab::container`]). The demo and the workshop drive
//! either through [`Hosts`]; everything after this is the same for both.

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::lab::container::{Conductor, Job, JobSpec};
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
                    let mut c = lab.command_in(host, &argv[0]);
                    c.args(&argv[1..]);
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

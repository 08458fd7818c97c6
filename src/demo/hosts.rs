//! The demo run from the visitor's container (`lab host visitor --demo DIR`): the hosts
//! are the containers of `lab/compose.yaml`.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use crate::lab::container::{self, Agent, Conductor};
use crate::lab::hosts::Hosts;
use crate::lab::{Host, Lab};

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
    report: impl FnOnce(super::DemoSummary) -> crate::exit::Exit,
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
    let opts = super::DemoOptions {
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

//! plainsight: shows, on a real network, what an on-path intruder gets from plaintext HTTP
//! and what it does not get from HTTPS.
//!
//! # Layout
//!
//! The house has floors. A room uses the rooms below it, never one above it, and rooms on
//! the same floor do not use each other: no import points up, so none goes round in a
//! circle (`tests/layers.rs` checks it, and that this list matches `ls src`):
//!
//! ```text
//! commands/    one file per command: arguments in, an exit code out     (main.rs: parse, dispatch)
//! cli.rs       the clap structs and the checks of their values
//! views/       the live web views: the workshop's grid, a lab, the demo as it runs
//! demo/  workshop/   the scenarios side by side  |  one lab and bot per participant, checks, sandboxes
//! lab/         the network (namespaces or containers) and its roles: site, visitor, intruder
//! analysis/    capture -> decode -> tally, reassembly -> flow -> dissect -> findings -> pipeline -> report
//! exit.rs      the exit codes
//! ```
//!
//! - [`analysis`]: captures in, findings out. Data flows one way; each stage is a module
//!   and never imports a later one. [`analysis::pipeline`] chains them, for
//!   [`analysis::analyze`] (a file) and for the intruder's live sniffer; [`analysis::compare`]
//!   sets two captures side by side; [`analysis::fingerprint`] names the article behind an
//!   HTTPS page load from its sizes; [`analysis::synth`] writes captures with known content
//!   for tests, fuzzing and benchmarks.
//! - [`lab`]: the hosts and what runs on them. [`lab::run`] builds the namespaces,
//!   [`lab::container`] drives the same roles in containers, [`lab::hosts`] is either of
//!   them to the demo and the workshop, [`lab::proc`] starts, watches and stops role
//!   processes; the roles are [`lab::site`] (the website and its DNS), [`lab::visitor`] (the
//!   scripted browser) and [`lab::intruder`] (sniff, the injecting proxy, the racing guest);
//!   [`lab::browser`] drives headless Chromium in a host, [`lab::fingerprint`] learns the
//!   site's page loads from the intruder host, [`lab::pki`] makes the lab's certificates.
//! - [`demo`]: runs the scenarios through the lab and the analysis; [`demo`]'s `evidence`
//!   reads every role's output back into types, `observe` turns it into the table's cells,
//!   [`demo::report`] writes the table and report.html.
//! - [`workshop`]: a classroom of labs: [`workshop::bot`] (a persona visiting in a loop),
//!   [`workshop::exercise`] (`lab/exercises/*.md`), [`workshop::check`] (checkpoints from
//!   evidence), [`workshop::progress`] (SQLite), [`workshop::desk`] (show, check, hint,
//!   progress: the only writer of progress), [`workshop::sandbox`] (each participant's
//!   account, namespaces, mounts and cgroups), [`workshop::gate`] (the root daemon that
//!   holds the sandboxes and answers logins and checks on a Unix socket, by peer
//!   credentials), [`workshop::ssh`] (the workshop's own sshd, the handout).
//! - [`views`]: the trainer's view, each participant's page, and the demo's live view.
//! - [`cli`]: the arguments; [`commands`]: what each command does with them;
//!   [`exit`]: the exit codes (README, "Exit codes").

pub mod analysis;
pub mod cli;
pub mod commands;
pub mod demo;
pub mod exit;
pub mod lab;
pub mod views;
pub mod workshop;

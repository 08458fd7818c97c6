//! plainsight: shows, on a real network, what an on-path intruder gets from plaintext HTTP
//! and what it does not get from HTTPS.
//!
//! # Layout
//!
//! Two halves, and the demo on top of both:
//!
//! ```text
//! analysis/  capture -> decode -> reassembly -> dissect (http, tls, dns) -> findings -> report
//! lab/       the network (namespaces or containers), its roles: site, visitor, intruder (sniff + inject)
//! demo/      every role, scenario by scenario, side by side; the table and report.html
//! workshop/  one lab per participant, visitor bots, exercises checked from evidence, progress
//! fingerprint/ which article was read over HTTPS, guessed from sizes: learn, guess, eval
//! ```
//!
//! - [`analysis`]: captures in, findings out. Data flows one way; each stage is a module
//!   and never imports a later one. [`analysis::pipeline`] chains them, for
//!   [`analysis::analyze`] (a file) and for the intruder's live sniffer; [`analysis::compare`]
//!   sets two captures side by side; [`analysis::synth`] writes captures with known content
//!   for tests, fuzzing and benchmarks.
//! - [`lab`]: the hosts and what runs on them. [`lab::run`] builds the namespaces,
//!   [`lab::container`] drives the same roles in containers, [`lab::proc`] starts, watches
//!   and stops role processes; the roles are [`lab::site`] (the website and its DNS),
//!   [`lab::visitor`] (the scripted browser) and [`lab::intruder`] (sniff, the injecting
//!   proxy, the racing guest); [`lab::pki`] makes the lab's certificates.
//! - [`demo`]: runs the scenarios through the lab and the analysis, and writes the report.
//! - [`fingerprint`]: which article was read over HTTPS, from the sizes of its page load:
//!   [`fingerprint::run`] learns the site from the intruder host, guesses a capture's page
//!   loads, and measures the accuracy; [`fingerprint::Live`] guesses inside `sniff`.
//! - [`workshop`]: a classroom of labs: [`workshop::bot`] (a persona visiting in a loop),
//!   [`workshop::exercise`] (`lab/exercises/*.md`), [`workshop::check`] (checkpoints from
//!   evidence), [`workshop::progress`] (SQLite), [`workshop::desk`] (show, check, hint,
//!   progress: the only writer of progress), [`workshop::sandbox`] (each participant's
//!   account, namespaces, mounts and cgroups), [`workshop::gate`] (the root daemon that
//!   holds the sandboxes and answers logins and checks on a Unix socket, by peer
//!   credentials), [`workshop::ssh`] (the workshop's own sshd, the handout),
//!   [`workshop::serve`] (the trainer's view and each participant's page),
//!   [`workshop::command`] (the `workshop` actions).
//!
//! `main.rs` only parses arguments ([`cli`]: clap structs and the checks of their values)
//! and maps outcomes to exit codes ([`exit::Exit`]).

pub mod analysis;
pub mod cli;
pub mod demo;
pub mod exit;
pub mod fingerprint;
pub mod lab;
pub mod workshop;

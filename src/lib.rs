//! plainsight: shows, on a real network, what an on-path intruder gets from plaintext HTTP
//! and what it does not get from HTTPS.
//!
//! # Layout
//!
//! Data flows one way; each stage is a module and never imports a later one.
//!
//! ```text
//! capture  ->  decode  ->  reassembly  ->  dissect (http, tls, dns)  ->  findings  ->  report
//! ```
//!
//! - [`capture`]: frames from a pcap/pcapng file ([`capture::file`]) or a live interface
//!   ([`capture::live`], libpcap; also compiles BPF filters).
//! - [`decode`]: link layer, IP (with defragmentation), TCP/UDP headers, by etherparse.
//! - [`reassembly`]: TCP streams from segments: order, overlaps, gaps, bounded memory.
//! - [`dissect`]: HTTP/1.x, TLS and DNS records from the streams.
//! - [`findings`]: what was learned, classed by sensitivity, with secrets kept apart.
//! - [`report`]: text, JSON lines and JSON output.
//! - [`pipeline`]: the one place that chains the stages; used by `analyze` and `sniff`.
//!
//! The intruder: [`sniff`] (live capture through the pipeline) and [`intruder`] (the
//! injecting proxy and the HTTPS attacks).
//!
//! [`compare`] sets a site capture beside a visitor capture. [`demo`] runs every role, scenario by scenario, and writes the report.
//!
//! [`linger`] closes the servers' connections without losing their last answer.
//!
//! The lab, beside the pipeline: [`lab`] (namespaces, `ip`), [`site`] (the website and
//! DNS resolver), [`visitor`] (the scripted browser), [`pki`] (the lab CAs, rcgen).
//!
//! Commands: [`analyze`] runs the pipeline over a file; [`sniff`] over a live interface. [`synth`] writes synthetic
//! captures with known content (tests, fuzz seeds, benchmarks). `main.rs` only parses arguments
//! ([`cli`]) and maps outcomes to exit codes.

pub mod analyze;
pub mod capture;
pub mod cli;
pub mod compare;
pub mod decode;
pub mod demo;
pub mod dissect;
pub mod findings;
pub mod intruder;
pub mod lab;
pub mod linger;
pub mod pipeline;
pub mod pki;
pub mod reassembly;
pub mod report;
pub mod site;
pub mod sniff;
pub mod synth;
pub mod visitor;

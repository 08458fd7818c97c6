//! The analysis half: what an eavesdropper learns from a capture. Data flows one way, and
//! no stage imports a later one:
//!
//! ```text
//! capture  ->  decode  ->  tally, reassembly  ->  flow  ->  dissect (http, tls, dns, quic, udp)  ->  findings  ->  report
//!                                                      ->  pipeline  ->  analyze, compare, fingerprint
//! ```
//!
//! - [`capture`]: frames from a pcap/pcapng file ([`capture::file`]) or a live interface
//!   ([`capture::live`], libpcap; also compiles BPF filters); writing pcapng with comments.
//! - [`decode`]: link layer, IP (with defragmentation), TCP/UDP headers, by etherparse.
//! - [`tally`]: what every TCP packet adds to its connection: counts, endpoint states,
//!   history (Zeek's `conn_state` and `history`).
//! - [`reassembly`]: TCP streams from segments: order, overlaps, gaps, bounded memory.
//! - [`dissect`]: HTTP/1.x, TLS and DNS records from the streams; QUIC Initials and HTTP
//!   over UDP from datagrams.
//! - [`flow`]: the Community ID, and the records of a TCP connection and of a UDP flow, so
//!   that other tools (Zeek, Arkime, Elastic) can join them.
//! - [`findings`]: what was learned, classed by sensitivity, with secrets kept apart and
//!   masked (in URLs too).
//! - [`report`]: text, JSON lines, JSON, tab-separated fields and Zeek-style logs.
//! - [`pipeline`]: the one place that chains the stages, for files and live captures;
//!   [`prefetch`]: the cache hints it gives a frame or two ahead.
//! - [`analyze`]: `plainsight analyze`, the pipeline over a file; [`compare`]: two captures
//!   of the same exchanges side by side; [`synth`]: captures with known content (tests,
//!   fuzz seeds, benchmarks).

pub mod analyze;
pub mod capture;
pub mod compare;
pub mod decode;
pub mod dissect;
pub mod findings;
pub mod fingerprint;
pub mod flow;
pub mod pipeline;
pub mod prefetch;
pub mod reassembly;
pub mod report;
pub mod synth;
pub mod tally;

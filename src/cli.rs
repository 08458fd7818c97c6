//! Command-line arguments as typed (clap), and their conversion into the checked options
//! each command takes. Nothing past this module sees a raw flag.

use std::io::IsTerminal;
use std::path::PathBuf;

pub use crate::exit::Exit;
use clap::{Parser, Subcommand};

use crate::analysis::report::Format;

/// Shows what an on-path intruder learns from plaintext HTTP, and what HTTPS hides.
#[derive(Debug, Parser)]
#[command(name = "plainsight", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Report what an eavesdropper learns from a pcap or pcapng capture.
    Analyze(AnalyzeArgs),
    /// Build, inspect or remove the lab (network namespaces; needs root).
    Lab(LabArgs),
    /// Serve the lab's website (clinic.test) and its DNS resolver.
    Site(SiteArgs),
    /// Visit the site like a person: resolve, browse, log in, read, open the account.
    Visit(VisitArgs),
    /// Eavesdrop live on a lab host (libpcap): findings as they happen, pcapng with -w.
    Sniff(SniffArgs),
    /// The intruder's transparent proxy on the lab gateway: inject ads, attack HTTPS.
    Inject(InjectArgs),
    /// Run the visit over HTTP and HTTPS under attack, side by side, with a report.
    Demo(DemoArgs),
    /// A classroom: one lab per participant, a visitor bot in each, exercises checked
    /// from evidence, progress kept in SQLite.
    Workshop(WorkshopArgs),
    /// Which article was read over HTTPS? Guess it from the sizes an on-path observer
    /// sees: learn the site's pages, guess a capture, measure the accuracy.
    Fingerprint(FingerprintArgs),
    /// Compare what the site sent with what the visitor received (two captures).
    Compare {
        /// Capture taken at the site.
        site: PathBuf,
        /// Capture taken at the visitor.
        visitor: PathBuf,
    },
    /// Write a synthetic benchmark capture (for scripts/bench-analyze.sh).
    #[command(hide = true)]
    Synth(SynthArgs),
}

impl Command {
    /// Commands that only print: a closed pipe (`| head`) ends them quietly, as it does any
    /// Unix tool. The long-running roles keep ignoring SIGPIPE and end cleanly on the error.
    pub fn prints_only(&self) -> bool {
        match self {
            Command::Workshop(w) => {
                use WorkshopAction as A;
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
            Command::Lab(l) => matches!(l.action, LabAction::Status | LabAction::Doctor),
            Command::Compare { .. } => true,
            _ => false,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct FingerprintArgs {
    #[command(subcommand)]
    pub action: FingerprintAction,
}

#[derive(Debug, clap::Subcommand)]
pub enum FingerprintAction {
    /// Browse every article from the intruder host over HTTPS, capturing, and keep the
    /// sizes of each page load (the site is public: the attacker can read it too).
    Learn {
        #[arg(long, env = "PLAINSIGHT_LAB", default_value = "plainsight", value_parser = lab_name)]
        lab: String,
        /// Page loads of each article to learn.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=20))]
        loads: u16,
        /// Browse with Debian's headless Chromium instead of the scripted visitor.
        #[arg(long, value_parser = ["chromium"])]
        browser: Option<String>,
    },
    /// Name the article behind each HTTPS page load of a capture (pcap or pcapng).
    Guess {
        capture: PathBuf,
        /// The lab whose learned model to use.
        #[arg(long, env = "PLAINSIGHT_LAB", default_value = "plainsight", value_parser = lab_name)]
        lab: String,
        /// A model file instead (written by `learn`).
        #[arg(long)]
        model: Option<PathBuf>,
        /// A page load ends when no new connection starts for this many seconds.
        #[arg(long, value_parser = seconds, default_value = "1")]
        gap: std::time::Duration,
    },
    /// The visitor reads N articles in a random order, each as often as the others (give
    /// or take one), over HTTPS while the intruder captures; each page load is guessed
    /// from the capture: accuracy, chance, confusion.
    Eval {
        #[arg(long, env = "PLAINSIGHT_LAB", default_value = "plainsight", value_parser = lab_name)]
        lab: String,
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..=1000))]
        visits: u16,
        /// Seed of the random order of articles (default: the clock).
        #[arg(long)]
        seed: Option<u64>,
        /// The visitor browses with Debian's headless Chromium instead of the scripted
        /// visitor (learn with the same browser: an attacker tells browsers apart by JA4).
        #[arg(long, value_parser = ["chromium"])]
        browser: Option<String>,
        /// Also write the result as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
}

#[derive(Debug, clap::Args)]
pub struct SynthArgs {
    /// Output pcap file.
    #[arg(long)]
    pub out: PathBuf,
    /// HTTP transactions (ten per keep-alive connection).
    #[arg(long, default_value_t = 100_000)]
    pub transactions: u32,
    /// TLS handshakes.
    #[arg(long, default_value_t = 10_000)]
    pub tls: u32,
    /// Size of each HTML body in bytes.
    #[arg(long, default_value_t = 9_000)]
    pub body: usize,
    /// Write the small sample session (a login over HTTP, a visit over HTTPS) instead.
    #[arg(long)]
    pub sample: bool,
    /// Re-split every data segment into 1-byte segments (neighbours swapped).
    #[arg(long)]
    pub one_byte: bool,
    /// Spread addresses over the whole IPv4 space (default: two /16s).
    #[arg(long)]
    pub spread: bool,
    /// Keep this many connections open at once, their packets interleaved (default: one
    /// after another).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub interleave: u32,
}

#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    /// Capture file (pcap or pcapng, optionally gzip-compressed); `-` reads standard input.
    pub file: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// The directory for `--format zeek` (conn.log, http.log, ssl.log, dns.log, quic.log).
    #[arg(long, short = 'o', required_if_eq("format", "zeek"))]
    pub out: Option<PathBuf>,
    /// Show secrets (passwords, cookie values, tokens) instead of masking them.
    #[arg(long)]
    pub reveal: bool,
    /// Only analyse packets matching this BPF expression (libpcap syntax).
    #[arg(long, short = 'f')]
    pub filter: Option<String>,
    /// Exit with status 3 when the capture is damaged (default: a warning and status 0).
    #[arg(long)]
    pub strict: bool,
    /// Never show a progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// Colour: auto (when standard output is a terminal), always or never.
    #[arg(long, default_value = "auto", value_parser = ["auto", "always", "never"])]
    pub color: String,
}

impl AnalyzeArgs {
    pub fn options(&self) -> crate::analysis::analyze::AnalyzeOptions {
        let colour = match self.color.as_str() {
            "always" => true,
            "never" => false,
            _ => std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        };
        crate::analysis::analyze::AnalyzeOptions {
            file: self.file.clone(),
            format: self.format,
            out: self.out.clone(),
            reveal: self.reveal,
            filter: self.filter.clone(),
            strict: self.strict,
            progress: !self.no_progress,
            colour: colour && self.format == Format::Text,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct LabArgs {
    /// Lab name: the prefix of its namespaces, so several labs can coexist.
    #[arg(long, default_value = "plainsight", global = true, value_parser = lab_name)]
    pub name: String,
    #[command(subcommand)]
    pub action: LabAction,
}

#[derive(Debug, Subcommand)]
pub enum LabAction {
    /// Create the hosts and start the site and DNS resolver (harmless when already up).
    Up {
        /// No HTTP to HTTPS redirect on the site.
        #[arg(long)]
        no_redirect: bool,
        /// No HSTS header on the site's HTTPS responses.
        #[arg(long)]
        no_hsts: bool,
        /// Session cookie without Secure/HttpOnly.
        #[arg(long)]
        insecure_cookies: bool,
        /// The site offers only TLS 1.2 (its certificate then crosses the network in clear).
        #[arg(long)]
        tls12_only: bool,
        /// The site pads every response to a few size buckets (the defence against
        /// guessing the article read over HTTPS from its sizes; see `site --pad`).
        #[arg(long)]
        pad: bool,
        /// The site closes a connection that sends or takes nothing for this many seconds.
        #[arg(long, value_parser = seconds, default_value = "60")]
        idle_timeout: std::time::Duration,
    },
    /// Remove everything `up` made, also after a crash.
    Down,
    /// Hosts, addresses, running roles, the CA path.
    Status,
    /// Check what the lab needs, and say how to get what is missing.
    Doctor,
    /// Be one host of the lab's containers: lab/compose.yaml runs this in each. Routes the
    /// host through the intruder and runs what the demo asks of it.
    Host {
        #[arg(value_enum)]
        role: crate::lab::Host,
        /// Also run the demo from here (the visitor), writing the report into this folder.
        #[arg(long)]
        demo: Option<PathBuf>,
        /// After the demo, keep the hosts running for exercises (`docker compose exec`).
        #[arg(long, env = "PLAINSIGHT_KEEP", value_parser = clap::builder::FalseyValueParser::new())]
        keep: bool,
    },
    /// Run a command inside a host: `lab exec visitor -- curl http://clinic.test/`.
    Exec {
        #[arg(value_enum)]
        host: crate::lab::Host,
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
}

#[derive(Debug, clap::Args)]
pub struct WorkshopArgs {
    /// Workshop name: its labs are NAME-01, NAME-02, ...
    #[arg(long, default_value = "workshop", global = true, value_parser = workshop_name)]
    pub name: String,
    #[command(subcommand)]
    pub action: WorkshopAction,
}

#[derive(Debug, Subcommand)]
pub enum WorkshopAction {
    /// Create a lab, a visitor bot, a Unix account and a sandbox for each participant
    /// (harmless when already up).
    Up {
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=99))]
        participants: u16,
        /// The workshop key every persona, password and flag derives from (default: a
        /// random one, kept readable by root only in /run/plainsight-workshop/NAME/key).
        #[arg(long, env = "PLAINSIGHT_WORKSHOP_KEY", hide_env_values = true, value_parser = at_least_8)]
        key: Option<String>,
        /// Seconds between two visits of a bot, as LOW-HIGH (each pause drawn between).
        #[arg(long, default_value = "10-20", value_parser = interval)]
        bot_interval: (f64, f64),
        /// Participants log in over SSH, each straight into their sandbox (the workshop's
        /// own sshd; the machine's is untouched).
        #[arg(long)]
        ssh: bool,
        /// The port of the workshop's sshd.
        #[arg(long, default_value_t = 2222, requires = "ssh")]
        ssh_port: u16,
        /// The address the workshop's sshd listens on.
        #[arg(long, default_value = "0.0.0.0", requires = "ssh")]
        ssh_listen: String,
        /// Log in with keys instead of passwords: a folder of public keys named by
        /// participant (1.pub, 01.pub or the account's name.pub).
        #[arg(long, requires = "ssh")]
        ssh_keys: Option<std::path::PathBuf>,
        /// Memory of each participant's sandbox, in MiB.
        #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(64..=65536))]
        memory_mb: u64,
        /// Processes in each participant's sandbox at most.
        #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(16..=65536))]
        max_processes: u32,
        /// CPU of each participant's sandbox at most, in percent of one core.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(5..=6400))]
        cpu_percent: u32,
    },
    /// Remove every participant's lab, bot, account and sandbox, the sshd, and the key
    /// (progress is kept).
    Down,
    /// Labs, bots, what each is set up for, each bot's last visit; exit 1 if anything is down.
    Status,
    /// Open a participant's sandboxed shell on their lab's intruder host (or the guest's).
    Shell {
        participant: u16,
        #[arg(long, value_enum, default_value = "intruder")]
        host: crate::lab::Host,
    },
    /// List the exercises, one a line, id first.
    Exercises,
    /// Print an exercise and set the lab and bot up for it (in a sandbox: your own).
    Show {
        id: String,
        /// Whose lab (the trainer, as root); in a sandbox, always your own.
        #[arg(long)]
        participant: Option<u16>,
    },
    /// Check a checkpoint: exit 0 when it passes, 1 when not.
    Check {
        id: String,
        /// Whose lab (the trainer, as root); in a sandbox, always your own.
        #[arg(long)]
        participant: Option<u16>,
        #[arg(long)]
        answer: Option<String>,
    },
    /// The hints earned on an exercise (default: the one you are on).
    Hint {
        id: Option<String>,
        #[arg(long)]
        participant: Option<u16>,
    },
    /// Participants by exercises: passed, attempts (in a sandbox: your own row).
    Progress {
        #[arg(long)]
        json: bool,
    },
    /// What each participant needs to join: host, port, account, password, page.
    Handout {
        /// A list of objects (participant, user, password, port, page) instead of cards.
        #[arg(long)]
        json: bool,
        /// The address participants reach this machine at (default: its first global
        /// IPv4 address).
        #[arg(long)]
        host: Option<String>,
        /// Where `workshop serve` answers, as participants reach it (default:
        /// http://HOST:8088).
        #[arg(long)]
        view: Option<String>,
    },
    /// The trainer's live view (read-only): the room's progress, and each lab as the
    /// projector shows it; and each participant's own page.
    Serve {
        /// Where to listen; any address but loopback needs the token on every request
        /// (but the participants' pages, whose address is their secret).
        #[arg(long, default_value = "127.0.0.1:8088")]
        listen: std::net::SocketAddr,
        /// The token (default: none on loopback, a random one elsewhere, printed).
        #[arg(long, env = "PLAINSIGHT_VIEW_TOKEN", hide_env_values = true, value_parser = at_least_16)]
        token: Option<String>,
        /// Show secrets (what the intruder reads, the answers on the bots' pages) instead
        /// of masking them.
        #[arg(long)]
        reveal: bool,
    },
    /// Be a participant's visitor bot (`workshop up` starts one in each lab).
    #[command(hide = true)]
    Bot {
        #[arg(long)]
        participant: u16,
        #[arg(long, default_value = "10-20", value_parser = interval)]
        interval: (f64, f64),
    },
    /// Be the workshop's gate: sandboxes and checker (`workshop up` starts it).
    #[command(hide = true)]
    Gate,
    /// Make and hold one participant's sandbox (the gate starts one each).
    #[command(hide = true)]
    Holder {
        #[arg(long)]
        participant: u16,
    },
    /// One login into a sandbox, on this process's standard streams (the gate runs it).
    #[command(hide = true)]
    Session {
        #[arg(long)]
        participant: u16,
        #[arg(long, value_enum)]
        host: crate::lab::Host,
        #[arg(long)]
        holder: i32,
        #[arg(long)]
        command: Option<String>,
        #[arg(long)]
        term: Option<String>,
    },
    /// An SSH login: hands this terminal to the gate (the workshop's sshd runs it for
    /// every login, as the participant).
    #[command(hide = true)]
    Enter,
}

/// A secret given on the command line: long enough to be one.
fn secret_of(s: &str, min: usize) -> Result<String, String> {
    if s.chars().count() < min { Err(format!("must be at least {min} characters")) } else { Ok(s.to_string()) }
}

fn at_least_8(s: &str) -> Result<String, String> {
    secret_of(s, 8)
}

fn at_least_16(s: &str) -> Result<String, String> {
    secret_of(s, 16)
}

/// A workshop's name (checked by [`crate::workshop::Workshop::new`]).
pub fn workshop_name(s: &str) -> Result<String, String> {
    crate::workshop::Workshop::new(s).map(|w| w.name).map_err(|e| e.to_string())
}

/// `LOW-HIGH` seconds, 0.2 <= LOW <= HIGH <= 3600 (`10-20`); one number means both.
pub fn interval(s: &str) -> Result<(f64, f64), String> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let lo = seconds(a)?.as_secs_f64();
    let hi = seconds(b)?.as_secs_f64();
    if lo < 0.2 || hi < lo || hi > 3600.0 {
        return Err(format!("{s:?}: give LOW-HIGH seconds with 0.2 <= LOW <= HIGH <= 3600"));
    }
    Ok((lo, hi))
}

#[derive(Debug, clap::Args)]
pub struct SiteArgs {
    /// The lab state directory holding site.pem and site.key (written by `lab up`).
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Certificate (PEM); default STATE/site.pem.
    #[arg(long)]
    pub cert: Option<PathBuf>,
    /// Private key (PEM); default STATE/site.key.
    #[arg(long)]
    pub key: Option<PathBuf>,
    #[arg(long, default_value = "0.0.0.0:80")]
    pub http: std::net::SocketAddr,
    #[arg(long, default_value = "0.0.0.0:443")]
    pub https: std::net::SocketAddr,
    #[arg(long, default_value = "0.0.0.0:53")]
    pub dns: std::net::SocketAddr,
    /// Serve plain HTTP only (no HTTPS listener, no redirect).
    #[arg(long)]
    pub no_https: bool,
    #[arg(long)]
    pub no_redirect: bool,
    #[arg(long)]
    pub no_hsts: bool,
    #[arg(long)]
    pub insecure_cookies: bool,
    /// Offer only TLS 1.2 over HTTPS (the certificate then travels in clear).
    #[arg(long)]
    pub tls12_only: bool,
    /// The home page also loads a script and an image over plain http:// (mixed content).
    #[arg(long)]
    pub mixed_content: bool,
    /// The address the resolver gives for clinic.test.
    #[arg(long, default_value = "198.51.100.10")]
    pub site_ip: std::net::Ipv4Addr,
    /// Wait this long before each answer, as a server across the internet would.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Close a connection that sends or takes nothing for this many seconds (a silent
    /// client, a stalled body, an idle keep-alive).
    #[arg(long, value_parser = seconds, default_value = "60")]
    pub idle_timeout: std::time::Duration,
    /// Pad every response body to the next power of two (at least 16 KiB), uncompressed,
    /// so that page loads fall into a few size buckets: the defence against guessing
    /// which article was read from the sizes of its HTTPS traffic.
    #[arg(long)]
    pub pad: bool,
}

impl SiteArgs {
    pub fn options(&self) -> anyhow::Result<crate::lab::site::SiteOptions> {
        let from_state = |f: &str| self.state.as_ref().map(|d| d.join(f));
        let cert = self.cert.clone().or_else(|| from_state("site.pem"));
        let key = self.key.clone().or_else(|| from_state("site.key"));
        let https = !self.no_https;
        if https && (cert.is_none() || key.is_none()) {
            anyhow::bail!("HTTPS needs --state DIR or --cert and --key (or --no-https)");
        }
        Ok(crate::lab::site::SiteOptions {
            http: Some(self.http),
            https: https.then_some(self.https),
            dns: Some(self.dns),
            cert: cert.unwrap_or_default(),
            key: key.unwrap_or_default(),
            redirect_https: https && !self.no_redirect,
            hsts: !self.no_hsts,
            secure_cookies: !self.insecure_cookies,
            state: self.state.clone(),
            site_ip: self.site_ip,
            latency: std::time::Duration::from_millis(self.latency_ms.min(10_000)),
            idle_timeout: self.idle_timeout,
            tls12_only: self.tls12_only,
            mixed_content: self.mixed_content,
            persona: self.state.as_deref().map(crate::lab::site::content::Persona::of_lab).unwrap_or_default(),
            pad: self.pad,
        })
    }
}

#[derive(Debug, clap::Args)]
pub struct VisitArgs {
    /// Where to start: http://clinic.test/, https://clinic.test/, or a bare name typed
    /// into the address bar (tried over http first, as browsers do).
    #[arg(default_value = "clinic.test", value_parser = start_url)]
    pub start: String,
    /// CA certificate(s) to trust (PEM); default: the lab CA of --lab.
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// Also trust this CA (PEM): the compromised-device case, e.g. the intruder's CA.
    #[arg(long)]
    pub also_trust: Vec<PathBuf>,
    /// The site's manifest of SHA-256 hashes; default: the lab's.
    #[arg(long)]
    pub manifest: Option<PathBuf>,
    /// DNS resolver to ask.
    #[arg(long, default_value = "198.51.100.10:53")]
    pub resolver: std::net::SocketAddr,
    /// Start with a preloaded HSTS entry for the site (as if visited before).
    #[arg(long)]
    pub hsts_preload: bool,
    /// Write the visit as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Lab whose CA and manifest to use by default.
    #[arg(long, env = "PLAINSIGHT_LAB", default_value = "plainsight", value_parser = lab_name)]
    pub lab: String,
    /// Password to type (default: the persona's).
    #[arg(long)]
    pub password: Option<String>,
    /// Save every HTML page received into this directory.
    #[arg(long)]
    pub save: Option<PathBuf>,
    /// Load plain-HTTP scripts and images into HTTPS pages, as an old or careless client
    /// does (browsers block the scripts and upgrade the images).
    #[arg(long)]
    pub no_mixed_content_blocking: bool,
    /// Also download the app the site offers and check it against the SHA-256 its
    /// download page prints.
    #[arg(long)]
    pub download: bool,
    /// Resolve names over DNS over HTTPS (RFC 8484) at the resolver's address
    /// (https://clinic.test/dns-query) instead of plain DNS.
    #[arg(long)]
    pub doh: bool,
    /// Load the start page and what it references, and nothing more (no sign-in, no other
    /// page): a person opening a link to read one article.
    #[arg(long)]
    pub page_only: bool,
}

#[derive(Debug, clap::Args)]
pub struct SniffArgs {
    /// Lab to sniff in.
    #[arg(long, env = "PLAINSIGHT_LAB", default_value = "plainsight", value_parser = lab_name)]
    pub lab: String,
    /// Lab host to sniff from: the gateway (intruder) or a fellow guest on the Wi-Fi.
    #[arg(long, value_enum, default_value = "intruder")]
    pub host: crate::lab::Host,
    /// Interface (default: the intruder's guest-LAN side, lan0; eth0 elsewhere).
    #[arg(short, long)]
    pub interface: Option<String>,
    /// BPF capture filter.
    #[arg(short = 'f', long)]
    pub filter: Option<String>,
    /// Snap length.
    #[arg(short = 's', long, default_value_t = 262_144)]
    pub snaplen: i32,
    /// Write the capture here as pcapng, with a comment on every leaking packet.
    #[arg(short = 'w', long)]
    pub write: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: SniffFormat,
    /// Stop after this many seconds (default: at Ctrl-C).
    #[arg(long, value_parser = seconds)]
    pub duration: Option<std::time::Duration>,
    /// Show secrets instead of masking them.
    #[arg(long)]
    pub reveal: bool,
    /// Sniff in the current network namespace, outside any plainsight lab.
    #[arg(long)]
    pub outside_lab: bool,
    /// Keep root after opening the capture (default: switch to nobody).
    #[arg(long)]
    pub keep_privileges: bool,
    /// Create this (empty) file once the capture is open: a ready signal for scripts.
    #[arg(long)]
    pub ready_file: Option<PathBuf>,
    /// An answer-key capture: write the lab site's TLS keys into the pcapng (Decryption
    /// Secrets Blocks), so that Wireshark and tshark decrypt its HTTPS from the file alone.
    #[arg(long, requires = "write", conflicts_with = "outside_lab")]
    pub with_keys: bool,
    /// Name the article behind each HTTPS page load to the lab's site as it ends, from
    /// what `plainsight fingerprint learn` learned in this lab.
    #[arg(long, conflicts_with = "outside_lab")]
    pub guess_articles: bool,
    /// With --guess-articles: a page load ends when its connections closed and none
    /// started for this many seconds.
    #[arg(long, value_parser = seconds, default_value = "1", requires = "guess_articles")]
    pub guess_gap: std::time::Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SniffFormat {
    Text,
    Jsonl,
}

impl SniffArgs {
    /// The capture's checked options; `keylog` is the lab site's key log (`--with-keys`).
    pub fn options(&self, keylog: Option<PathBuf>) -> anyhow::Result<crate::lab::intruder::sniff::SniffOptions> {
        let interface = self.interface.clone().unwrap_or_else(|| {
            if self.host == crate::lab::Host::Intruder { crate::lab::Lab::lan_interface() } else { "eth0".into() }
        });
        Ok(crate::lab::intruder::sniff::SniffOptions {
            interface,
            filter: self.filter.clone(),
            snaplen: self.snaplen.clamp(64, 262_144),
            write: self.write.clone(),
            jsonl: self.format == SniffFormat::Jsonl,
            reveal: self.reveal,
            duration: self.duration,
            drop_privileges: !self.keep_privileges,
            ready_file: self.ready_file.clone(),
            keylog,
            guess: None,
        })
    }
}

#[derive(Debug, clap::Args)]
pub struct InjectArgs {
    /// Lab whose gateway to run on.
    #[arg(long, env = "PLAINSIGHT_LAB", default_value = "plainsight", value_parser = lab_name)]
    pub lab: String,
    /// What to do with HTTPS.
    #[arg(long, value_enum, default_value = "passthrough")]
    pub tls: crate::lab::intruder::TlsMode,
    /// The visitor was made to trust the intruder's CA (with --tls mitm): HTTPS falls.
    #[arg(long)]
    pub trusted_mitm: bool,
    /// HTML to inject instead of the default advertisement (lab/ad.html).
    #[arg(long)]
    pub ad: Option<PathBuf>,
    /// Relay HTTP without injecting anything (a baseline for benchmarks).
    #[arg(long, conflicts_with = "ad")]
    pub pass_through: bool,
    /// Also tamper with every other resource it can read: append to scripts, replace
    /// images, swap downloads for a harmless stand-in.
    #[arg(long, conflicts_with = "pass_through")]
    pub resources: bool,
    #[arg(long, default_value_t = 8080)]
    pub http_port: u16,
    #[arg(long, default_value_t = 8443)]
    pub tls_port: u16,
    /// Stop after this many seconds (default: at Ctrl-C).
    #[arg(long, value_parser = seconds)]
    pub duration: Option<std::time::Duration>,
    /// Run in the current network namespace, outside any plainsight lab.
    #[arg(long)]
    pub outside_lab: bool,
    /// Instead of a proxy: from the guest host (sees, cannot block), race forged answers
    /// against the site at the packet level.
    #[arg(long)]
    pub race: bool,
    /// Show the secrets the proxy reads (passwords, cookies, tokens in URLs) instead of
    /// masking them in its output.
    #[arg(long)]
    pub reveal: bool,
    /// Create this (empty) file once intercepting (or racing): a ready signal for scripts.
    #[arg(long)]
    pub ready_file: Option<PathBuf>,
    /// Close a visitor connection that sends or takes nothing for this many seconds (a
    /// silent client, a stalled body, an idle keep-alive).
    #[arg(long, value_parser = seconds, default_value = "60")]
    pub idle_timeout: std::time::Duration,
}

impl InjectArgs {
    /// The proxy's checked options in `lab`, injecting `ad`.
    pub fn options(&self, lab: &crate::lab::Lab, ad: String) -> crate::lab::intruder::InjectOptions {
        crate::lab::intruder::InjectOptions {
            tls: self.tls,
            trusted_mitm: self.trusted_mitm,
            ad,
            http_port: self.http_port,
            tls_port: self.tls_port,
            lan_if: crate::lab::Lab::lan_interface(),
            upstream_ca: lab.ca_pem(),
            ca_out: Some(lab.state_dir().join("intruder-ca.pem")),
            redirect: true,
            table: "plainsight_inject".into(),
            reveal: self.reveal,
            ready_file: self.ready_file.clone(),
            idle_timeout: self.idle_timeout,
            resources: self.resources,
        }
    }
}

impl VisitArgs {
    /// The visit's checked options in `lab` (its CA and manifest unless others are given).
    pub fn options(&self, lab: &crate::lab::Lab) -> crate::lab::visitor::VisitOptions {
        let persona = crate::lab::site::content::Persona::of_lab(&lab.state_dir());
        crate::lab::visitor::VisitOptions {
            start: self.start.clone(),
            ca: self.ca.clone().unwrap_or_else(|| lab.ca_pem()),
            also_trust: self.also_trust.clone(),
            manifest: self
                .manifest
                .clone()
                .or_else(|| Some(lab.state_dir().join("manifest.json")).filter(|p| p.exists())),
            resolver: self.resolver,
            hsts_preload: self.hsts_preload,
            password: self.password.clone().unwrap_or_else(|| persona.password.clone()),
            persona,
            save: self.save.clone(),
            live: true,
            block_mixed_content: !self.no_mixed_content_blocking,
            download: self.download,
            doh: self.doh,
            page_only: self.page_only,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Run only these scenarios (repeatable); default: all.
    #[arg(long, value_enum)]
    pub scenario: Vec<crate::demo::scenario::Scenario>,
    /// Report directory (default: ./plainsight-report/<timestamp>/).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Pause before each scenario and explain it (for presenting).
    #[arg(long)]
    pub step: bool,
    /// Print only the table.
    #[arg(long)]
    pub quiet: bool,
    /// Lab name for the demo.
    #[arg(long, default_value = "plainsight-demo", value_parser = lab_name)]
    pub lab: String,
    /// Leave the lab up afterwards (for exploring with `lab exec`).
    #[arg(long)]
    pub keep_lab: bool,
    /// Also load each scenario's page in a real browser (Debian's chromium, headless).
    #[arg(long, value_parser = ["chromium"])]
    pub browser: Option<String>,
    /// Show the secrets the intruder got (password, cookie) in the table's evidence and
    /// the report, instead of masking them.
    #[arg(long)]
    pub reveal: bool,
    /// Also serve the live view of the scenarios as they run (read-only; loopback unless
    /// another address is given, which then needs the token it prints); it stays up after
    /// the demo until Ctrl-C.
    #[arg(long, num_args = 0..=1, default_missing_value = "127.0.0.1:8088", value_name = "ADDR")]
    pub serve: Option<std::net::SocketAddr>,
    /// Also print the report to FILE as an A4 handout (needs Debian's chromium).
    #[arg(long, value_name = "FILE")]
    pub pdf: Option<PathBuf>,
    /// Run nothing: write report.html again (and --pdf) from the finished run in DIR (its
    /// summary.json and the files beside it), with this version's report.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["scenario", "out", "step", "keep_lab", "browser", "reveal", "serve"])]
    pub report_from: Option<PathBuf>,
}

impl DemoArgs {
    /// The demo's checked options; `stop` is set by Ctrl-C.
    pub fn options(&self, stop: &'static std::sync::atomic::AtomicBool) -> crate::demo::DemoOptions {
        use crate::demo::{report, scenario::Scenario};
        crate::demo::DemoOptions {
            scenarios: if self.scenario.is_empty() { Scenario::ALL.to_vec() } else { self.scenario.clone() },
            out: self.out.clone().unwrap_or_else(|| PathBuf::from("plainsight-report").join(report::timestamp())),
            step: self.step,
            quiet: self.quiet,
            keep_lab: self.keep_lab,
            browser: self.browser.is_some(),
            reveal: self.reveal,
            stop,
        }
    }
}

/// A lab's name: what prefixes its namespaces (checked by [`crate::lab::Lab::new`]).
pub fn lab_name(s: &str) -> Result<String, String> {
    crate::lab::Lab::new(s).map(|l| l.name).map_err(|e| e.to_string())
}

/// A number of seconds, finite and positive (`--duration 2.5`).
pub fn seconds(s: &str) -> Result<std::time::Duration, String> {
    let v: f64 = s.trim().parse().map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(v.is_finite() && v > 0.0 && v <= 1e7) {
        return Err(format!("{s} is not a positive number of seconds (at most 10,000,000)"));
    }
    Ok(std::time::Duration::from_secs_f64(v))
}

/// Where a visit starts: an http:// or https:// URL with a host, or a bare host name.
pub fn start_url(s: &str) -> Result<String, String> {
    match s.split_once("://") {
        Some((scheme, rest)) => {
            if !matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https") {
                return Err(format!("{scheme}:// is not a web address a browser visits (http:// or https://)"));
            }
            let uri: http::Uri = s.parse().map_err(|e| format!("{s:?} is not a URL: {e}"))?;
            if uri.host().is_none_or(str::is_empty) || rest.starts_with('/') {
                return Err(format!("{s:?} has no host"));
            }
            Ok(s.to_string())
        }
        None => {
            let ok = !s.is_empty()
                && s.len() <= 253
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == ':');
            if !ok {
                return Err(format!("{s:?} is neither a URL nor a host name"));
            }
            Ok(s.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_are_checked() {
        for bad in ["nan", "inf", "-1", "0", "x", "1e300"] {
            assert!(seconds(bad).is_err(), "{bad}");
        }
        assert_eq!(seconds("2.5").unwrap(), std::time::Duration::from_millis(2500));
        for bad in ["ftp://clinic.test/", "file:///etc/passwd", "http:///x", "javascript:alert(1)", "a b", ""] {
            assert!(start_url(bad).is_err(), "{bad}");
        }
        assert_eq!(interval("10-20").unwrap(), (10.0, 20.0));
        assert_eq!(interval("2").unwrap(), (2.0, 2.0));
        for bad in ["20-10", "0-1", "x", "1-99999"] {
            assert!(interval(bad).is_err(), "{bad}");
        }
        for good in ["clinic.test", "http://clinic.test/", "https://clinic.test:8443/x?y=1", "HTTP://clinic.test/"] {
            assert!(start_url(good).is_ok(), "{good}");
        }
    }
}

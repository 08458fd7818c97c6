//! `plainsight inject`: the intruder on the path. A transparent proxy on the lab's gateway:
//! nftables redirects the visitor's TCP 80 and 443 to it (rules made and removed by it,
//! only in the intruder's namespace), and it finds where each connection was going with
//! `SO_ORIGINAL_DST`.
//!
//! - [`http`]: plain HTTP passes through hyper; HTML gets an advertisement injected by a
//!   streaming rewriter ([`inject`]); every response gets a recorded outcome.
//! - [`tls`]: HTTPS by `--tls MODE`: passthrough (relay blind), mitm (forged certificate),
//!   tamper (flip bytes in encrypted records), strip (keep the visitor on HTTP).
//!
//! - [`race`]: from a fellow guest's seat, forged answers racing the real server.
//! - [`sniff`]: the eavesdropper: a live capture through the analysis pipeline.
//!
//! Every outcome is one JSON line ([`Interception`]) on standard output.

pub mod http;
pub mod inject;
pub mod race;
pub mod sniff;
pub mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use anyhow::{Context, bail};
use serde::Serialize;
use tokio::net::TcpStream;

/// What the intruder does with HTTPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    Passthrough,
    Mitm,
    Tamper,
    Strip,
}

/// Checked options of `inject`.
#[derive(Debug, Clone)]
pub struct InjectOptions {
    pub tls: TlsMode,
    /// The visitor trusts the intruder's CA (a compromised device): mitm then succeeds.
    pub trusted_mitm: bool,
    pub ad: String,
    pub http_port: u16,
    pub tls_port: u16,
    /// Interface the visitor's traffic arrives on.
    pub lan_if: String,
    /// CA to trust when the intruder itself talks HTTPS upstream (strip, trusted mitm).
    pub upstream_ca: PathBuf,
    /// Where to write the intruder CA certificate (so a lab can make a visitor trust it).
    pub ca_out: Option<PathBuf>,
    /// Install the nftables redirect (off for tests that connect to the proxy directly).
    pub redirect: bool,
    /// Table name for the rules (per lab).
    pub table: String,
    /// Write secrets in clear in the outcome lines (`--reveal`).
    pub reveal: bool,
    /// Created once intercepting (the ready signal).
    pub ready_file: Option<PathBuf>,
    /// A visitor connection with no byte in or out for this long is closed.
    pub idle_timeout: std::time::Duration,
    /// Tamper with scripts, images and downloads too, not only HTML pages.
    pub resources: bool,
}

/// Which part of the intruder an outcome comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The proxy, on plain HTTP.
    #[default]
    Http,
    /// The proxy, on HTTPS.
    Tls,
    /// The racing guest (forged answers, and the collector behind its forged form).
    Race,
}

/// One thing the intruder did or failed to do: a line of `inject`'s output, read back by
/// the demo.
#[derive(Debug, Clone, Serialize, serde::Deserialize, Default)]
#[serde(default)]
pub struct Interception {
    pub kind: Kind,
    pub client: String,
    pub server: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<TlsMode>,
    /// What came of it.
    pub outcome: Act,
    pub detail: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub bytes_to_server: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub bytes_to_client: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub records_tampered: u64,
    /// What the intruder read from the plaintext it handled (secrets masked unless `--reveal`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub learned: Vec<Learned>,
}

/// What came of one thing the intruder handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Act {
    /// An ad or a script was put into the page (or the script replaced).
    Injected,
    /// An image was replaced.
    Replaced,
    /// A download was swapped for the intruder's.
    Swapped,
    /// Passed on unchanged (nothing to rewrite, or not a page).
    #[default]
    Skipped,
    /// sslstrip: the visitor was kept on plain HTTP.
    Stripped,
    /// TLS bytes passed on without being read.
    Relayed,
    /// TLS records were tampered with, and the visitor's end detected it.
    Detected,
    /// TLS with a forged certificate the visitor accepted: the intruder read the plaintext.
    Read,
    /// The visitor refused the forged certificate (its own TLS alert).
    Refused,
    /// Something broke (see the detail).
    Failed,
    /// The racing guest collected a request it saw.
    Collected,
    /// The racing guest sent a forged answer.
    Forged,
}

impl Act {
    pub fn as_str(self) -> &'static str {
        match self {
            Act::Injected => "injected",
            Act::Replaced => "replaced",
            Act::Swapped => "swapped",
            Act::Skipped => "skipped",
            Act::Stripped => "stripped",
            Act::Relayed => "relayed",
            Act::Detected => "detected",
            Act::Read => "read",
            Act::Refused => "refused",
            Act::Failed => "failed",
            Act::Collected => "collected",
            Act::Forged => "forged",
        }
    }
}

impl std::fmt::Display for Act {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding the proxy itself made from traffic it could read.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Learned {
    pub class: crate::analysis::findings::Class,
    /// What it is about, typed.
    #[serde(flatten)]
    pub about: crate::analysis::findings::About,
    pub summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What goes wrong between the intruder and a peer; recorded in the outcome lines.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("connecting to {0} timed out")]
    ConnectTimeout(SocketAddr),
    #[error("connecting to {addr}: {source}")]
    Connect { addr: SocketAddr, source: std::io::Error },
    #[error("upstream TLS: {0}")]
    UpstreamTls(std::io::Error),
    #[error("{0:?} is not a server name: {1}")]
    ServerName(String, String),
    #[error("HTTP handshake with the site: {0}")]
    Handshake(hyper::Error),
    #[error("no ClientHello within 10 s")]
    HelloTimeout,
    #[error("reading the ClientHello: {0}")]
    HelloRead(std::io::Error),
    #[error("closed before a ClientHello")]
    HelloClosed,
    #[error("not TLS (a non-TLS byte stream on port 443)")]
    NotTls,
    #[error("ClientHello larger than 64 KiB")]
    HelloTooLarge,
    #[error("forging a certificate for {name}: {reason}")]
    Forge { name: String, reason: String },
}

/// Shared state of the proxy.
pub struct Ctx {
    pub opts: InjectOptions,
    pub intruder_ca: crate::lab::pki::Ca,
    pub upstream_tls: tokio_rustls::TlsConnector,
    /// Connections to sites, kept for the next visitor connection.
    pub pool: http::Pool,
}

impl Ctx {
    pub fn record(&self, o: Interception) {
        if let Ok(line) = serde_json::to_string(&o) {
            println!("{line}");
        }
    }
}

/// The nftables commands that send the visitor's web traffic to the proxy.
pub fn rules(opts: &InjectOptions) -> Vec<String> {
    let t = &opts.table;
    vec![
        format!("add table ip {t} {{ flags owner; }}"),
        format!("add chain ip {t} pre {{ type nat hook prerouting priority -100; }}"),
        format!("add rule ip {t} pre iifname \"{}\" tcp dport 80 redirect to :{}", opts.lan_if, opts.http_port),
        format!("add rule ip {t} pre iifname \"{}\" tcp dport 443 redirect to :{}", opts.lan_if, opts.tls_port),
    ]
}

fn nft(cmd: &str) -> anyhow::Result<()> {
    let out = Command::new("nft").arg(cmd).output().context("running nft (install nftables)")?;
    if !out.status.success() {
        bail!("nft {cmd}: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

/// The redirect, owned by an `nft -i` child through its netlink socket: the table is made
/// with `flags owner`, so the kernel deletes it, rules and all, when that socket closes.
/// The child ends (and the socket closes) when this is dropped (its input closes), when
/// this process ends in any way, even `kill -9` (the pipe closes, and the child also gets
/// SIGTERM by PDEATHSIG): no stale redirect outlives the proxy.
struct Rules {
    child: std::process::Child,
}

impl Rules {
    fn install(opts: &InjectOptions) -> anyhow::Result<Rules> {
        use std::io::Write;
        let t = &opts.table;
        // A table left by an older proxy that did not own it.
        let _ = nft(&format!("delete table ip {t}"));
        let mut cmd = Command::new("nft");
        cmd.arg("-i").stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::null());
        crate::lab::proc::die_with_parent(&mut cmd);
        let child = cmd.spawn().context("running nft -i (install nftables)")?;
        let mut rules = Rules { child };
        {
            let input = rules.child.stdin.as_mut().context("nft's input")?;
            for r in self::rules(opts) {
                writeln!(input, "{r}").context("writing to nft")?;
            }
            input.flush().context("writing to nft")?;
        }
        // nft applies each line as it reads it: ready once both redirects are in place.
        static NEVER: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        let listed = || {
            Command::new("nft")
                .args(["list", "table", "ip", t])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default()
        };
        crate::lab::proc::wait_ready("the redirect rules", std::time::Duration::from_secs(5), &NEVER, || {
            let l = listed();
            l.contains("dport 80 redirect") && l.contains("dport 443 redirect")
        })?;
        Ok(rules)
    }
}

impl Drop for Rules {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// The connection's original destination, from the nftables redirect.
pub fn original_dst(s: &TcpStream) -> anyhow::Result<SocketAddr> {
    use nix::sys::socket::{getsockopt, sockopt};
    let a = getsockopt(s, sockopt::OriginalDst).context("SO_ORIGINAL_DST")?;
    let ip = std::net::Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
    Ok(SocketAddr::new(ip.into(), u16::from_be(a.sin_port)))
}

/// The visitor's address and where it was going, for an intercepted connection
/// (`None`, logged, when the redirect left no original destination).
pub fn intercepted(client: &TcpStream) -> Option<(String, SocketAddr)> {
    let peer = client.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    match original_dst(client) {
        Ok(d) => Some((peer, d)),
        Err(e) => {
            eprintln!("inject: {peer}: {e:#}");
            None
        }
    }
}

/// Runs the proxy until `shutdown`; rules are removed on the way out.
pub async fn run(opts: InjectOptions, shutdown: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
    let intruder_ca = crate::lab::pki::Ca::generate("Free Hotel Wi-Fi Security CA")?;
    if let Some(p) = &opts.ca_out {
        crate::lab::pki::write_file(p, &intruder_ca.cert_pem, 0o644)?;
    }
    let upstream_tls =
        tokio_rustls::TlsConnector::from(Arc::new(crate::lab::pki::client_config(&[opts.upstream_ca.as_path()])?));
    let any = |port: u16| SocketAddr::from(([0, 0, 0, 0], port));
    let http_l =
        crate::lab::conn::listen(any(opts.http_port)).with_context(|| format!("binding port {}", opts.http_port))?;
    let tls_l =
        crate::lab::conn::listen(any(opts.tls_port)).with_context(|| format!("binding port {}", opts.tls_port))?;
    let _rules = if opts.redirect { Some(Rules::install(&opts)?) } else { None };
    eprintln!(
        "inject: intercepting HTTP on :{} and HTTPS on :{} (tls mode {:?})",
        opts.http_port, opts.tls_port, opts.tls
    );
    crate::lab::proc::signal_ready(opts.ready_file.as_deref())?;
    let ctx = Arc::new(Ctx { opts, intruder_ca, upstream_tls, pool: http::Pool::default() });
    let c1 = ctx.clone();
    let http_loop = async move {
        loop {
            match http_l.accept().await {
                Ok((s, _)) => {
                    tokio::spawn(http::connection(s, c1.clone(), None));
                }
                // Out of descriptors, say: back off instead of spinning on accept.
                Err(e) => crate::lab::conn::backoff("inject: accepting HTTP connections", &e).await,
            }
        }
    };
    let c2 = ctx.clone();
    let tls_loop = async move {
        loop {
            match tls_l.accept().await {
                Ok((s, _)) => {
                    tokio::spawn(tls::connection(s, c2.clone()));
                }
                Err(e) => crate::lab::conn::backoff("inject: accepting HTTPS connections", &e).await,
            }
        }
    };
    tokio::select! {
        _ = shutdown => {}
        _ = crate::lab::conn::trim_after_bursts() => {}
        _ = http_loop => {}
        _ = tls_loop => {}
    }
    let (kept, evicted) = tls::forged_stats();
    if kept > 0 {
        eprintln!(
            "inject: forged certificates kept for {kept} server names at the end, {evicted} evicted (at most {} kept)",
            tls::FORGED_KEPT
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_only_redirect_the_lan_side() {
        let opts = InjectOptions {
            tls: TlsMode::Passthrough,
            trusted_mitm: false,
            ad: String::new(),
            http_port: 8080,
            tls_port: 8443,
            lan_if: "lan0".into(),
            upstream_ca: PathBuf::new(),
            ca_out: None,
            redirect: true,
            table: "plainsight_inject".into(),
            reveal: false,
            ready_file: None,
            idle_timeout: std::time::Duration::from_secs(60),
            resources: false,
        };
        let r = rules(&opts);
        assert_eq!(r[2], "add rule ip plainsight_inject pre iifname \"lan0\" tcp dport 80 redirect to :8080");
        assert!(r.iter().all(|c| c.contains("plainsight_inject")));
    }
}

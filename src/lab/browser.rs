//! Debian's headless Chromium in a lab host, trusting the lab site by its key's pin only
//! (a certificate forged by another CA is still refused): the demo's `--browser chromium`
//! and `fingerprint learn --browser chromium` drive it.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::Context;

use crate::lab::{Host, Lab};

/// SHA-256 of the site certificate's public key, base64: Chromium trusts the lab site by
/// this pin only, so a certificate forged by another CA is still refused.
pub fn site_spki(lab: &Lab) -> anyhow::Result<String> {
    use base64::Engine;
    use rustls_pki_types::pem::PemObject;
    use sha2::Digest;
    let der = rustls_pki_types::CertificateDer::from_pem_file(lab.state_dir().join("site.pem"))
        .map_err(|e| anyhow::anyhow!("site.pem: {e}"))?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).map_err(|e| anyhow::anyhow!("site.pem: {e}"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(cert.public_key().raw)))
}

/// Chromium's own background calls that `--disable-background-networking` leaves on (the
/// network time service, optimisation hints, ...), off: only what a page asks for goes
/// out. (One flag: Chromium reads only the last `--disable-features`.)
pub const QUIET_FEATURES: &str = "--disable-features=NetworkTimeServiceQuerying,OptimizationHints,MediaRouter,Translate,AutofillServerCommunication,LensOverlay,AIModeOmniboxEntryPoint,AimEligibility,AimServerEligibility";

/// Headless Chromium in a lab host with a profile of its own, trusting the lab site by its
/// key's pin `spki`; add what to do and the URL.
pub fn headless(lab: &Lab, host: Host, profile: &Path, spki: &str) -> Command {
    let mut c = lab.command_in(host, "chromium");
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        QUIET_FEATURES,
        "--disable-domain-reliability",
        "--no-pings",
        "--disable-client-side-phishing-detection",
        "--disable-default-apps",
        "--window-size=1280,800",
        "--virtual-time-budget=3000",
        "--enable-logging=stderr",
        "--v=0",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .arg(format!("--ignore-certificate-errors-spki-list={spki}"))
    .stdin(Stdio::null());
    c
}

/// The error code of Chromium's error page (its `loadTimeData`: `"errorCode":"net::ERR_..."`).
fn interstitial_error(dom: &str) -> Option<String> {
    let at = dom.find("\"errorCode\":\"net::ERR_")? + "\"errorCode\":\"".len();
    let code: String = dom[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':').collect();
    Some(code)
}

/// What Chromium did with one URL: its DOM, the error it met, the mixed content it
/// blocked, and whether it drew a screenshot.
pub struct Loaded {
    pub dom: String,
    /// `net::ERR_...`, from its log or from its error page.
    pub error: Option<String>,
    /// Chromium's mixed-content console messages, each once.
    pub mixed_content: Vec<String>,
    /// The page loaded without an error and the screenshot was written.
    pub loaded: bool,
}

/// Loads `url` in headless Chromium in `host`, twice (a screenshot into `png`, then its DOM).
pub fn load(lab: &Lab, host: Host, profile: &Path, url: &str, png: &Path, flags: &[String]) -> anyhow::Result<Loaded> {
    let spki = site_spki(lab)?;
    let run = |extra: &str| -> anyhow::Result<std::process::Output> {
        headless(lab, host, profile, &spki)
            .args(flags)
            .arg(extra)
            .arg(url)
            .output()
            .context("running chromium (apt-get install chromium)")
    };
    let shot = run(&format!("--screenshot={}", png.display()))?;
    let dumped = run("--dump-dom")?;
    let dom = String::from_utf8_lossy(&dumped.stdout).into_owned();
    let stderr = format!("{}{}", String::from_utf8_lossy(&shot.stderr), String::from_utf8_lossy(&dumped.stderr));
    // Chromium logs the error on standard error (156); older builds (Debian's 148) log
    // nothing and show their interstitial, whose own data names the error.
    let error = stderr
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .find(|w| w.starts_with("net::ERR_"))
        .map(str::to_string)
        .or_else(|| interstitial_error(&dom));
    let mut mixed_content: Vec<String> = Vec::new();
    for m in stderr.lines().filter_map(mixed_content_message) {
        if !mixed_content.contains(&m) {
            mixed_content.push(m);
        }
    }
    let loaded = error.is_none() && png.metadata().is_ok_and(|m| m.len() > 0);
    Ok(Loaded { dom, error, mixed_content, loaded })
}

/// The message of a console line Chromium logs about mixed content:
/// `[...:INFO:CONSOLE:0] "Mixed Content: The page at ... This request has been blocked; ...", source: ...`.
fn mixed_content_message(line: &str) -> Option<String> {
    let start = line.find("\"Mixed Content:")? + 1;
    let rest = &line[start..];
    let end = rest.find("\", source:").unwrap_or(rest.len());
    Some(rest[..end].trim_end_matches('"').to_string())
}

/// Prints a local HTML file to PDF with headless Chromium (A4 as the page's print
/// stylesheet sets it, no header or footer). Chromium runs in a network namespace of its
/// own with nothing in it, so printing sends no packet anywhere.
pub fn print_to_pdf(html: &Path, pdf: &Path) -> anyhow::Result<()> {
    let html = std::fs::canonicalize(html).with_context(|| format!("{}", html.display()))?;
    let profile = std::env::temp_dir().join(format!("plainsight-pdf-{}", std::process::id()));
    let mut c = Command::new("unshare");
    if !crate::lab::run::privileged() {
        c.arg("--map-root-user");
    }
    c.args(["--net", "--", "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"])
        .args(["--disable-background-networking", "--disable-component-update", "--disable-sync", QUIET_FEATURES])
        .args(["--no-pdf-header-footer", "--run-all-compositor-stages-before-draw"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!("file://{}", html.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(profile.with_extension("log"))?);
    let _ = std::fs::remove_file(pdf);
    let mut child =
        c.spawn().context("running chromium in a network namespace of its own (apt-get install chromium)")?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_dir_all(&profile);
            let _ = std::fs::remove_file(profile.with_extension("log"));
            anyhow::bail!("chromium did not print {} within 60 s", html.display());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let _ = std::fs::remove_dir_all(&profile);
    let err = std::fs::read_to_string(profile.with_extension("log")).unwrap_or_default();
    let _ = std::fs::remove_file(profile.with_extension("log"));
    if !status.success() || !pdf.exists() {
        let last = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message");
        anyhow::bail!("chromium could not print {} to PDF ({status}): {last}", html.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_chromium_mixed_content_messages() {
        let line = "[1:1:1124/152805.97:INFO:CONSOLE:0] \"Mixed Content: The page at 'https://clinic.test/' was loaded over HTTPS, but requested an insecure script 'http://clinic.test/widget.js'. This request has been blocked; the content must be served over HTTPS.\", source: https://clinic.test/ (0)";
        let m = super::mixed_content_message(line).unwrap();
        assert!(m.starts_with("Mixed Content: The page at") && m.ends_with("must be served over HTTPS."), "{m}");
        assert_eq!(super::mixed_content_message("[x:INFO:CONSOLE:0] \"hello\", source: x"), None);
    }

    #[test]
    fn reads_the_error_of_chromiums_error_page() {
        let dom = r#"<script>loadTimeData.data = {"errorCode":"net::ERR_CERT_AUTHORITY_INVALID","expirationDate":"x"};</script>"#;
        assert_eq!(super::interstitial_error(dom).as_deref(), Some("net::ERR_CERT_AUTHORITY_INVALID"));
        assert_eq!(super::interstitial_error("<p>net::ERR_ in a page's text</p>"), None);
    }
}

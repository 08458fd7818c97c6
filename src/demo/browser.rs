//! `--browser chromium`: Debian's Chromium in the visitor host ([`crate::lab::browser`])
//! loads each scenario's page: a screenshot, the error it reports, and which powerful
//! features the page was offered (secure context).

use std::path::Path;

use super::Browser;
use super::scenario::Plan;
use crate::lab::{Host, Lab, browser};

/// The visitor's Chromium as the scenario describes it before the visit: where the
/// visitor knows the site's HSTS policy (`--hsts-preload` for the scripted visitor),
/// Chromium learned it on an earlier visit over HTTPS, in the profile it then uses. Run
/// before the intruder starts, as that earlier visit was on another day.
pub(super) fn prepare(lab: &Lab, plan: &Plan, dir: &Path) -> anyhow::Result<()> {
    let profile = dir.join("chromium-profile");
    let _ = std::fs::remove_dir_all(&profile);
    if plan.visitor_flags.contains(&"--hsts-preload") {
        let png = dir.join("browser-earlier-visit.png");
        let url = format!("https://{}/", crate::lab::SITE_NAME);
        let page = browser::load(lab, Host::Visitor, &profile, &url, &png, &flags(plan))?;
        if let Some(e) = page.error {
            anyhow::bail!("Chromium's earlier visit over HTTPS, to learn the site's HSTS policy, failed: {e}");
        }
    }
    Ok(())
}

/// Chromium's flags for the scenario's device. Where the visitor resolves names over DNS
/// over HTTPS (`--doh`), Chromium is given the site's address by a resolver rule instead:
/// its own resolver would ask in clear, and either way no DNS question for the site
/// crosses the gateway.
fn flags(plan: &Plan) -> Vec<String> {
    if plan.visitor_flags.contains(&"--doh") {
        vec![format!("--host-resolver-rules=MAP {} {}", crate::lab::SITE_NAME, crate::lab::SITE)]
    } else {
        Vec::new()
    }
}

/// Runs headless Chromium in the visitor host on the scenario's start page.
pub(super) fn chromium(lab: &Lab, plan: &Plan, dir: &Path) -> anyhow::Result<Browser> {
    let url = if plan.start.contains("://") { plan.start.to_string() } else { format!("http://{}/", plan.start) };
    let profile = dir.join("chromium-profile");
    let png = dir.join("browser.png");
    let page = browser::load(lab, Host::Visitor, &profile, &url, &png, &flags(plan))?;
    std::fs::write(dir.join("browser-dom.html"), &page.dom)?;
    let secure_context = page.dom.find("Secure context:").map(|i| {
        let rest = &page.dom[i..];
        rest[..rest.find('<').unwrap_or(rest.len())].trim().to_string()
    });
    let _ = std::fs::remove_dir_all(&profile);
    Ok(Browser {
        loaded: page.loaded,
        error: page.error,
        secure_context,
        ad_visible: page.dom.contains("plainsight-ad"),
        screenshot: page.loaded.then(|| png.display().to_string()),
        mixed_content: page.mixed_content,
    })
}

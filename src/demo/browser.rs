//! `--browser chromium`: Debian's Chromium in the visitor host ([`crate::lab::browser`])
//! loads each scenario's page: a screenshot, the error it reports, and which powerful
//! features the page was offered (secure context).

use std::path::Path;

use super::Browser;
use super::scenario::Plan;
use crate::lab::{Host, Lab, browser};

/// Runs headless Chromium in the visitor host on the scenario's start page.
pub(super) fn chromium(lab: &Lab, plan: &Plan, dir: &Path) -> anyhow::Result<Browser> {
    let url = if plan.start.contains("://") { plan.start.to_string() } else { format!("http://{}/", plan.start) };
    let profile = dir.join("chromium-profile");
    let png = dir.join("browser.png");
    let page = browser::load(lab, Host::Visitor, &profile, &url, &png)?;
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

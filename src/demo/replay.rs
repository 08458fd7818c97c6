//! The intruder replays the session cookie it stole, from its own host, and opens the
//! persona's account: the proof that reading a cookie is taking over the account.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use super::evidence::{self, Evidence};
use super::scenario::ReplayState;
use super::{Hosts, Replay, strings};
use crate::lab::Host;
use crate::lab::site::content;

/// The intruder replays the stolen session cookie, if it has one, and opens the account.
pub(super) fn replay(
    hosts: &Hosts,
    o: &Evidence,
    dir: &Path,
    stop: &std::sync::atomic::AtomicBool,
) -> anyhow::Result<Replay> {
    let cookie = o
        .finding(|f| evidence::is_site_session(f.class, &f.about))
        .and_then(|f| f.secret.clone())
        .or_else(|| o.proxy_read(evidence::is_site_session).and_then(|l| l.secret.clone()));
    let Some(cookie) = cookie else {
        return Ok(if o.visit.session {
            Replay {
                state: ReplayState::NotPossible,
                evidence: "the visitor holds a session cookie, but the intruder never saw it: it travelled encrypted"
                    .into(),
            }
        } else {
            Replay {
                state: ReplayState::NotTried,
                evidence: "the visitor never got a session from the site: there was nothing to steal".into(),
            }
        });
    };
    let lab = hosts.lab();
    let site = crate::lab::SITE;
    // Both schemes, each asked directly: curl drops a custom Cookie header on a redirect
    // that changes scheme or port, as a browser would not send a cookie it never had.
    for url in ["http://clinic.test/account", "https://clinic.test/account"] {
        let argv = strings(&[
            "curl",
            "-s",
            "--max-time",
            "5",
            "--cacert",
            &lab.ca_pem().display().to_string(),
            "--resolve",
            &format!("clinic.test:80:{site}"),
            "--resolve",
            &format!("clinic.test:443:{site}"),
            "-H",
            &format!("Cookie: session={cookie}"),
            url,
        ]);
        hosts
            .run(
                Host::Intruder,
                &argv,
                &dir.join("replay.html"),
                &dir.join("replay-errors.log"),
                Duration::from_secs(10),
                stop,
            )
            .context("running curl in the intruder host")?;
        let page = std::fs::read_to_string(dir.join("replay.html")).unwrap_or_default();
        if page.contains(content::FULL_NAME) {
            return Ok(Replay {
                state: ReplayState::AccountRead,
                evidence: format!(
                    "the intruder sent the stolen cookie from its own host to {url} and read the account page: {}, {} (replay.html)",
                    content::FULL_NAME,
                    content::DIAGNOSIS
                ),
            });
        }
    }
    Ok(Replay {
        state: ReplayState::Failed,
        evidence: "the intruder sent the stolen cookie over http and https; the site opened no account (replay.html)"
            .into(),
    })
}

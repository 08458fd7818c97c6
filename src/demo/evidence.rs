//! Every role's output read back into types: the one place that reads what the roles
//! wrote. The sniffer's events ([`Event`], from `findings.jsonl`, written with `--reveal`)
//! and the findings derived from them again, each with its typed [`About`]; the intruder's
//! interceptions ([`Interception`], `injector.jsonl`) and what its proxy read
//! ([`Learned`]); the visitor's visit (`visitor.json`).
//!
//! [`observe`](super::observe), the report and the replay decide on these types, never on a
//! finding's sentence or on untyped JSON: rewording a finding changes no verdict.

use std::path::Path;

use anyhow::Context;

use crate::analysis::dissect::{Event, Record, tls};
use crate::analysis::findings::{self, About, Class, Finding};
use crate::lab::intruder::{Interception, Learned};
use crate::lab::site::content;
use crate::lab::visitor::Visit;

/// What the roles recorded for one scenario.
pub(super) struct Evidence {
    /// Every event the intruder's sniffer recorded, in order.
    pub(super) events: Vec<Event>,
    /// Their findings, derived again from the events: typed, secrets in clear, URLs in the
    /// summaries masked (as a report shows them).
    pub(super) findings: Vec<Finding>,
    /// What the intruder's proxy or collector read itself.
    pub(super) learned: Vec<Learned>,
    pub(super) injector: Vec<Interception>,
    pub(super) visit: Visit,
    /// Over HTTPS: the intruder's guess of the article the visitor opened from a link.
    pub(super) guessed: Option<Result<Guessed, String>>,
}

/// The intruder's guess of an article from its page load's sizes.
pub(super) struct Guessed {
    pub(super) guess: crate::analysis::fingerprint::Guess,
    /// The site padded its responses (the intruder learned it padded).
    pub(super) padded: bool,
    /// Page loads the intruder learned.
    pub(super) learned: usize,
    /// The sizes it guessed from, for the report's chart.
    pub(super) sizes: super::ArticleSizes,
}

impl Evidence {
    /// Reads a scenario's directory. A role that wrote nothing leaves its part empty;
    /// only the visitor's result is required.
    pub(super) fn read(dir: &Path) -> anyhow::Result<Evidence> {
        let events = crate::analysis::report::read::events(
            &std::fs::read_to_string(dir.join("findings.jsonl")).unwrap_or_default(),
        );
        let mut findings = Vec::new();
        for e in &events {
            findings::derive(e, &mut findings);
        }
        let injector: Vec<Interception> = std::fs::read_to_string(dir.join("injector.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let learned = injector.iter().flat_map(|o| o.learned.iter().cloned()).collect();
        let visit =
            serde_json::from_slice(&std::fs::read(dir.join("visitor.json")).context("the visitor wrote no result")?)?;
        Ok(Evidence { events, findings, learned, injector, visit, guessed: None })
    }

    /// The first finding that `pred` accepts.
    pub(super) fn finding(&self, pred: impl Fn(&Finding) -> bool) -> Option<&Finding> {
        self.findings.iter().find(|f| pred(f))
    }

    /// The first thing the proxy read that `pred` accepts.
    pub(super) fn proxy_read(&self, pred: impl Fn(Class, &About) -> bool) -> Option<&Learned> {
        self.learned.iter().find(|l| pred(l.class, &l.about))
    }

    /// The TLS ServerHellos that crossed the gateway.
    pub(super) fn server_hellos(&self) -> impl Iterator<Item = &tls::ServerHello> {
        self.events.iter().filter_map(|e| match &e.record {
            Record::TlsServerHello(sh) => Some(sh),
            _ => None,
        })
    }

    /// The encrypted part of each TLS connection.
    pub(super) fn tls_traffic(&self) -> impl Iterator<Item = &tls::Traffic> {
        self.events.iter().filter_map(|e| match &e.record {
            Record::TlsTraffic(t) => Some(t),
            _ => None,
        })
    }

    pub(super) fn http_requests(&self) -> usize {
        self.events.iter().filter(|e| matches!(e.record, Record::HttpRequest(_))).count()
    }
}

/// The visitor's password, typed into the sign-in form.
pub(super) fn is_password(class: Class, about: &About) -> bool {
    class == Class::Credential && matches!(about, About::FormField { name, .. } if name == "password")
}

/// The site's session cookie, sent or set.
pub(super) fn is_session_cookie(class: Class, about: &About) -> bool {
    class == Class::SessionCookie
        && matches!(about, About::Cookie { name } | About::SetCookie { name } if name.contains("session"))
}

/// The site's own session cookie (named `session`), sent or set: the one to replay.
pub(super) fn is_site_session(class: Class, about: &About) -> bool {
    class == Class::SessionCookie
        && matches!(about, About::Cookie { name } | About::SetCookie { name } if name == "session")
}

/// A request for the sensitive article.
pub(super) fn is_sensitive_request(class: Class, about: &About) -> bool {
    class == Class::Url && matches!(about, About::Request { path, .. } if path.contains(content::SENSITIVE_ARTICLE))
}

/// A page whose title is the sensitive article's.
pub(super) fn is_sensitive_page(f: &Finding) -> bool {
    matches!(&f.about, About::Page { title: Some(t), .. } if t.contains(content::SENSITIVE_TITLE))
}

/// One of the site's own answers with a body, not the page a racing guest forged (which
/// the gateway also sees).
pub(super) fn is_site_answer(f: &Finding) -> bool {
    f.src == f.server
        && matches!(&f.about, About::Page { title, .. }
            if !title.as_deref().is_some_and(|t| t.contains(crate::lab::intruder::race::FORGED_TITLE)))
}

/// The server's own certificate, as it crossed the gateway (in clear only before TLS 1.3).
pub(super) fn is_site_certificate(f: &Finding) -> bool {
    f.src == f.server && matches!(f.about, About::Certificate { position: 0 })
}

/// A name of the site's: `clinic.test` or a name under it.
pub(super) fn is_site_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == crate::lab::SITE_NAME || name.ends_with(&format!(".{}", crate::lab::SITE_NAME))
}

/// The site's name in a DNS question or answer that crossed the gateway in clear.
pub(super) fn is_site_dns_name(f: &Finding) -> bool {
    f.class == Class::DnsName && is_site_name(&f.host)
}

/// The site's name in a TLS ClientHello (SNI).
pub(super) fn is_site_server_name(f: &Finding) -> bool {
    matches!(&f.about, About::ServerName { name, .. } if is_site_name(name))
}

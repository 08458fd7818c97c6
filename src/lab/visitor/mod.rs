//! `plainsight visit`: a scripted browser that behaves like a person on the site.
//!
//! It resolves the name through the lab DNS, opens the start URL (a bare name is tried
//! over http first, as a browser's address bar does), follows redirects, keeps cookies
//! (Secure ones only over HTTPS), remembers HSTS (optionally preloaded) and upgrades
//! http:// for such hosts, and loads the subresources a page references. Then it acts on
//! the pages it actually received, as a person would: it signs in through a sign-in form
//! a page shows (following a "Sign in" link to find one), reads the sensitive article and
//! opens the account page through links on those pages. What a page does not offer, it
//! does not do. TLS (rustls) trusts only the given CA, with the hostname checked as a
//! browser does. Every response is checked against the site's manifest: intact, modified
//! on the way, or not the site's page at all; a step counts as done only when the site's
//! own page arrived.

pub mod page;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::lab::site::content;

/// Checked options of a visit.
#[derive(Debug, Clone)]
pub struct VisitOptions {
    pub start: String,
    pub ca: PathBuf,
    /// Further CAs the visitor was made to trust (a compromised device).
    pub also_trust: Vec<PathBuf>,
    pub manifest: Option<PathBuf>,
    pub resolver: SocketAddr,
    pub hsts_preload: bool,
    /// Who signs in (the username typed, the name the account page must show).
    pub persona: content::Persona,
    /// The password typed (the persona's, unless told otherwise).
    pub password: String,
    /// Save every HTML page received here (`index.html`, `articles_x.html`, ...), and the
    /// subresources beside them (`style.css`, `logo.svg`), as received.
    pub save: Option<PathBuf>,
    /// Print each step to standard output as soon as it is done.
    pub live: bool,
    /// Block plain-HTTP scripts and stylesheets in HTTPS pages and upgrade plain-HTTP
    /// images to HTTPS, as browsers do.
    pub block_mixed_content: bool,
    /// Download the app the site offers and check its SHA-256.
    pub download: bool,
    /// Resolve names over DNS over HTTPS (RFC 8484) at the resolver's address, as
    /// `https://clinic.test/dns-query`, instead of plain DNS.
    pub doh: bool,
    /// Load the start page and what it references, and nothing more: a person opening a
    /// link to read one page.
    pub page_only: bool,
}

/// What the person was doing when a request went out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Opening the start address.
    #[default]
    Open,
    /// A stylesheet, script or image the page references.
    Subresource,
    /// Following a "Sign in" link to the sign-in form.
    LoginForm,
    /// Submitting the sign-in form.
    LogIn,
    /// Following the link to the sensitive article.
    ReadArticle,
    /// Following the link to the account page.
    Account,
    /// Following the link to the download page, and downloading the file.
    Download,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Open => "open",
            Action::Subresource => "subresource",
            Action::LoginForm => "login form",
            Action::LogIn => "log in",
            Action::ReadArticle => "read article",
            Action::Account => "account",
            Action::Download => "download",
        }
    }
}

/// What a response was, checked against the site's manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Integrity {
    /// Exactly what the site serves (SHA-256).
    Intact,
    /// Different from what the site serves at that path.
    Modified,
    /// Not checked: no body, no manifest entry, or no answer.
    #[default]
    Unchecked,
}

impl Integrity {
    pub fn as_str(self) -> &'static str {
        match self {
            Integrity::Intact => "intact",
            Integrity::Modified => "modified",
            Integrity::Unchecked => "unchecked",
        }
    }
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// One request of the visit and what came back.
#[derive(Debug, Clone, Serialize, serde::Deserialize, Default)]
#[serde(default)]
pub struct Step {
    /// What the person was doing.
    pub action: Action,
    /// When the step ended (microseconds since 1970), for the report's timeline.
    #[serde(skip_serializing_if = "is_zero")]
    pub at_us: i64,
    pub method: String,
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Decoded body size.
    pub bytes: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub integrity: Integrity,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<String>,
    /// `HTTP/2` when the server offered it over TLS (absent: HTTP/1.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The visitor's TLS library refused the server's certificate (its own verdict, typed;
    /// `error` says it in words).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub refused_certificate: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The body carries an injected advertisement (marked `plainsight-ad`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ad: bool,
    /// The step was an HSTS upgrade of an http:// URL, made without a request.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub hsts_upgrade: bool,
    /// The site's own page arrived (200, with a manifest entry, and intact or at least
    /// with the site's title): not an error, not a page someone else put in its place.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub site_page: bool,
    /// Why a step was not taken (the page offered no way to do it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// A plain-HTTP subresource of an HTTPS page (mixed content), loaded over HTTP.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub mixed: bool,
}

/// The app downloaded and checked against the SHA-256 its download page printed.
#[derive(Debug, Clone, Serialize, serde::Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct Download {
    pub url: String,
    /// The SHA-256 the download page showed (as received).
    pub expected_sha256: String,
    /// The SHA-256 of the file that arrived.
    pub sha256: String,
    pub matches: bool,
    pub bytes: usize,
    /// The file's first lines: what running it would have done.
    pub head: String,
}

/// The whole visit.
#[derive(Debug, Clone, Serialize, serde::Deserialize, Default)]
#[serde(default)]
pub struct Visit {
    pub start: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved: Option<IpAddr>,
    pub steps: Vec<Step>,
    /// Signed in: the sign-in led to the site's own account page.
    pub logged_in: bool,
    pub read_article: bool,
    pub saw_account: bool,
    pub hsts_hosts: Vec<String>,
    /// Every response with a manifest entry arrived intact.
    pub all_intact: bool,
    pub modified: usize,
    pub errors: usize,
    /// The visitor holds a cookie the site set (a session an intruder could steal).
    pub session: bool,
    /// Plain-HTTP scripts and stylesheets of HTTPS pages it refused to load (mixed
    /// content), as `kind url`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mixed_blocked: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download: Option<Download>,
    /// Names were resolved over DNS over HTTPS.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub doh: bool,
}

struct Browser {
    opts: VisitOptions,
    tls: tokio_rustls::TlsConnector,
    /// HTTP/2 connections kept open, one per `host:port`, with their TLS version: a page's
    /// subresources share its connection, as in a browser.
    h2: HashMap<String, (hyper::client::conn::http2::SendRequest<Full<Bytes>>, Option<String>)>,
    manifest: BTreeMap<String, content::Entry>,
    dns: HashMap<String, IpAddr>,
    hsts: HashSet<String>,
    /// host -> name -> (value, secure)
    cookies: HashMap<String, BTreeMap<String, (String, bool)>>,
    visit: Visit,
}

struct Fetched {
    status: u16,
    headers: http::HeaderMap,
    body: Vec<u8>,
    final_url: Uri,
    /// See [`Step::site_page`].
    site_page: bool,
}

/// Runs the visit; never fails as a whole: errors are recorded in the steps.
pub async fn visit(opts: VisitOptions) -> anyhow::Result<Visit> {
    let mut cas = vec![opts.ca.as_path()];
    cas.extend(opts.also_trust.iter().map(PathBuf::as_path));
    let mut cfg = crate::lab::pki::client_config(&cas)?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let manifest = match &opts.manifest {
        Some(p) => serde_json::from_slice(&std::fs::read(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?)?,
        None => BTreeMap::new(),
    };
    let mut b = Browser {
        tls: tokio_rustls::TlsConnector::from(Arc::new(cfg)),
        h2: HashMap::new(),
        manifest,
        dns: HashMap::new(),
        hsts: HashSet::new(),
        cookies: HashMap::new(),
        visit: Visit { start: opts.start.clone(), doh: opts.doh, ..Visit::default() },
        opts,
    };
    let start = typed_url(&b.opts.start);
    if b.opts.hsts_preload
        && let Some(h) = start.host()
    {
        b.hsts.insert(h.to_string());
    }
    if let Some(h) = start.host() {
        b.visit.resolved = b.resolve(h).await;
    }
    if b.opts.live {
        println!("{}", first_line(&b.visit));
    }
    b.browse(start).await;
    let v = &mut b.visit;
    v.hsts_hosts = b.hsts.iter().cloned().collect();
    v.modified = v.steps.iter().filter(|s| s.integrity == Integrity::Modified).count();
    v.errors = v.steps.iter().filter(|s| s.error.is_some()).count();
    v.all_intact = v.modified == 0 && v.steps.iter().any(|s| s.integrity == Integrity::Intact);
    v.session = typed_url(&v.start).host().and_then(|h| b.cookies.get(h)).is_some_and(|jar| !jar.is_empty());
    Ok(b.visit)
}

/// A page received: where it came from and what it offers.
struct Seen {
    url: Uri,
    page: page::Page,
}

/// `href` as seen on the page at `base`, as an absolute URL.
fn resolve_href(base: &Uri, href: &str) -> Option<Uri> {
    if href.is_empty() {
        return Some(base.clone());
    }
    let scheme_end = href.find(':').filter(|&i| !href[..i].contains(['/', '?', '#']));
    if scheme_end.is_some() {
        return href.parse().ok().filter(|u: &Uri| matches!(u.scheme_str(), Some("http" | "https")));
    }
    if href.starts_with("//") {
        return format!("{}:{href}", base.scheme_str().unwrap_or("http")).parse().ok();
    }
    if href.starts_with('/') {
        return Some(join(&origin(base), href));
    }
    let dir = base.path().rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    Some(join(&origin(base), &format!("{dir}/{href}")))
}

/// The form filled in as a person would: the username in the first text field, the
/// password in the password field, hidden fields as they are.
fn fill(form: &page::Form, username: &str, password: &str) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    let mut user_done = false;
    for i in &form.inputs {
        match i.kind.as_str() {
            "password" => {
                out.append_pair(&i.name, password);
            }
            "text" | "email" if !user_done => {
                out.append_pair(&i.name, username);
                user_done = true;
            }
            "hidden" => {
                out.append_pair(&i.name, &i.value);
            }
            _ => {}
        }
    }
    out.finish()
}

/// The SHA-256 a page prints: the first run of 64 hex digits after "SHA-256".
fn printed_sha256(text: &str) -> Option<String> {
    let rest = &text[text.find("SHA-256")? + "SHA-256".len()..];
    rest.split(|c: char| !c.is_ascii_hexdigit()).find(|w| w.len() == 64).map(str::to_ascii_lowercase)
}

/// What a person typing into the address bar gets: a bare name means http://name/.
fn typed_url(s: &str) -> Uri {
    let s = if s.contains("://") { s.to_string() } else { format!("http://{s}/") };
    s.parse().unwrap_or_else(|_| Uri::from_static("http://invalid/"))
}

fn origin(u: &Uri) -> String {
    format!("{}://{}", u.scheme_str().unwrap_or("http"), u.authority().map(|a| a.as_str()).unwrap_or(""))
}

fn join(origin: &str, path: &str) -> Uri {
    format!("{origin}{path}").parse().unwrap_or_else(|_| Uri::from_static("http://invalid/"))
}

impl Browser {
    /// The visit proper: open the start page, then act only on what the pages offer.
    async fn browse(&mut self, start: Uri) {
        let Some(home) = self.navigate(Action::Open, Method::GET, start, None).await else { return };
        let mut seen = vec![self.seen(&home)];
        let subs = seen[0].page.subresources.clone();
        for sub in subs {
            self.subresource(&home.final_url, &sub).await;
        }
        if self.opts.page_only {
            return;
        }
        // Sign in through a form a page shows, or the page a "Sign in" link leads to.
        let mut form = seen.iter().find_map(|s| s.page.sign_in_form().map(|f| (s.url.clone(), f.clone())));
        if form.is_none() {
            let link = seen.iter().find_map(|s| s.page.sign_in_link().and_then(|l| resolve_href(&s.url, &l.href)));
            if let Some(url) = link
                && let Some(p) = self.navigate(Action::LoginForm, Method::GET, url, None).await
            {
                let s = self.seen(&p);
                form = s.page.sign_in_form().map(|f| (s.url.clone(), f.clone()));
                seen.push(s);
            }
        }
        match form.and_then(|(at, f)| Some((resolve_href(&at, &f.action)?, f))) {
            None => self.skip(Action::LogIn, "no sign-in form on the pages received"),
            Some((target, f)) => {
                let body = fill(&f, &self.opts.persona.username.clone(), &self.opts.password.clone());
                let result = if f.method == "GET" {
                    let url = join(&origin(&target), &format!("{}?{body}", target.path()));
                    self.navigate(Action::LogIn, Method::GET, url, None).await
                } else {
                    self.navigate(Action::LogIn, Method::POST, target, Some(body)).await
                };
                if let Some(p) = result {
                    self.visit.logged_in = p.site_page
                        && p.final_url.path() == "/account"
                        && String::from_utf8_lossy(&p.body).contains(&self.opts.persona.full_name);
                    seen.push(self.seen(&p));
                }
            }
        }
        // Read the article and open the account, through links on the pages received.
        for (action, path) in [(Action::ReadArticle, content::SENSITIVE_ARTICLE), (Action::Account, "/account")] {
            let link = seen.iter().find_map(|s| s.page.link_to(path).and_then(|l| resolve_href(&s.url, &l.href)));
            let Some(url) = link else {
                self.skip(action, &format!("no link to {path} on the pages received"));
                continue;
            };
            if let Some(p) = self.navigate(action, Method::GET, url, None).await {
                let done = p.site_page && p.final_url.path() == path;
                let page = self.seen(&p);
                if path == "/account" {
                    self.visit.saw_account =
                        done && String::from_utf8_lossy(&p.body).contains(&self.opts.persona.full_name);
                } else {
                    self.visit.read_article = done;
                    // The article's pictures, as a browser shows them.
                    for sub in page.page.subresources.iter().filter(|s| s.kind == page::SubKind::Image) {
                        self.subresource(&p.final_url, sub).await;
                    }
                }
                seen.push(page);
            }
        }
        if self.opts.download {
            self.download(&seen).await;
        }
    }

    /// Loads a script, image or stylesheet of the page at `base`, as a browser would: only
    /// from the page's own host; a plain-HTTP one in an HTTPS page (mixed content) is
    /// blocked (scripts, stylesheets) or upgraded to HTTPS (images), unless told not to.
    async fn subresource(&mut self, base: &Uri, sub: &page::Sub) {
        let Some(mut url) = resolve_href(base, &sub.href) else { return };
        if url.host() != base.host() {
            return;
        }
        let mixed = base.scheme_str() == Some("https") && url.scheme_str() == Some("http");
        if mixed && self.opts.block_mixed_content {
            if sub.kind == page::SubKind::Image {
                url = join(
                    &format!("https://{}", url.host().unwrap_or("")),
                    url.path_and_query().map(|p| p.as_str()).unwrap_or("/"),
                );
            } else {
                let kind = if sub.kind == page::SubKind::Script { "script" } else { "stylesheet" };
                self.visit.mixed_blocked.push(format!("{kind} {url}"));
                let why = format!("blocked: a plain-HTTP {kind} ({url}) in an HTTPS page (mixed content)");
                self.push_step(Step {
                    action: Action::Subresource,
                    method: "GET".into(),
                    url: url.to_string(),
                    skipped: Some(why),
                    ..Step::default()
                });
                return;
            }
        }
        let before = self.visit.steps.len();
        self.navigate(Action::Subresource, Method::GET, url, None).await;
        if mixed && !self.opts.block_mixed_content {
            for st in &mut self.visit.steps[before..] {
                st.mixed = true;
            }
        }
    }

    /// Follows the link to the download page, downloads the file it offers and checks it
    /// against the SHA-256 that page prints, as a careful person would.
    async fn download(&mut self, seen: &[Seen]) {
        let link = seen
            .iter()
            .find_map(|s| s.page.link_to(content::DOWNLOAD_PAGE).and_then(|l| resolve_href(&s.url, &l.href)));
        let Some(url) = link else {
            self.skip(Action::Download, &format!("no link to {} on the pages received", content::DOWNLOAD_PAGE));
            return;
        };
        let Some(p) = self.navigate(Action::Download, Method::GET, url, None).await else { return };
        let text = String::from_utf8_lossy(&p.body).into_owned();
        let expected = printed_sha256(&text);
        let page = self.seen(&p);
        let file = page
            .page
            .links
            .iter()
            .find(|l| l.href.contains("/download/"))
            .and_then(|l| resolve_href(&page.url, &l.href));
        let (Some(expected), Some(file)) = (expected, file) else {
            self.skip(Action::Download, "the download page shows no file with its SHA-256");
            return;
        };
        let Some(f) = self.navigate(Action::Download, Method::GET, file.clone(), None).await else { return };
        let sha256 = hex::encode(Sha256::digest(&f.body));
        let head: String = String::from_utf8_lossy(&f.body).lines().take(3).collect::<Vec<_>>().join("\n");
        self.visit.download = Some(Download {
            url: file.to_string(),
            matches: sha256 == expected,
            expected_sha256: expected,
            sha256,
            bytes: f.body.len(),
            head,
        });
    }

    fn seen(&self, f: &Fetched) -> Seen {
        Seen { url: f.final_url.clone(), page: page::Page::read(&String::from_utf8_lossy(&f.body)) }
    }

    /// Records a step the pages gave no way to take.
    fn skip(&mut self, action: Action, why: &str) {
        self.push_step(Step { action, skipped: Some(why.into()), ..Step::default() });
    }

    fn push_step(&mut self, mut step: Step) {
        step.at_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0);
        if self.opts.live {
            use std::io::Write;
            println!("{}", step_line(&step));
            let _ = std::io::stdout().flush();
        }
        self.visit.steps.push(step);
    }

    async fn resolve(&mut self, host: &str) -> Option<IpAddr> {
        if let Ok(ip) = host.parse() {
            return Some(ip);
        }
        if let Some(ip) = self.dns.get(host) {
            return Some(*ip);
        }
        let q = crate::analysis::dissect::dns::query(0x5053, host)?;
        let answer = if self.opts.doh {
            self.doh(q).await?
        } else {
            let sock = tokio::net::UdpSocket::bind("0.0.0.0:0").await.ok()?;
            sock.send_to(&q, self.opts.resolver).await.ok()?;
            let mut buf = vec![0u8; 1500];
            let n = tokio::time::timeout(Duration::from_secs(3), sock.recv(&mut buf)).await.ok()?.ok()?;
            buf.truncate(n);
            buf
        };
        let m = crate::analysis::dissect::dns::parse(&answer)?;
        let ip: IpAddr = m.answers.iter().find_map(|a| a.rsplit(' ').next()?.parse().ok())?;
        self.dns.insert(host.to_string(), ip);
        Some(ip)
    }

    /// One DNS query over HTTPS (RFC 8484: POST, `application/dns-message`) to the lab's
    /// resolver, whose address the visitor was configured with, as a browser is with its
    /// DoH provider's.
    async fn doh(&self, query: Vec<u8>) -> Option<Vec<u8>> {
        let host = crate::lab::SITE_NAME;
        let tcp = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::TcpStream::connect((self.opts.resolver.ip(), 443)),
        )
        .await
        .ok()?
        .ok()?;
        let name = rustls_pki_types::ServerName::try_from(host.to_string()).ok()?;
        let tls = tokio::time::timeout(Duration::from_secs(5), self.tls.connect(name, tcp)).await.ok()?.ok()?;
        let req = Request::builder()
            .method(Method::POST)
            .uri("/dns-query")
            .header(header::HOST, host)
            .header(header::CONTENT_TYPE, "application/dns-message")
            .header(header::ACCEPT, "application/dns-message")
            .body(Full::new(Bytes::from(query)))
            .ok()?;
        let (parts, body) = send(TokioIo::new(tls), req).await.ok()?;
        (parts.status == 200).then_some(body)
    }

    /// One navigation with redirects followed; returns the final response.
    async fn navigate(
        &mut self,
        action: Action,
        mut method: Method,
        mut url: Uri,
        mut body: Option<String>,
    ) -> Option<Fetched> {
        for _ in 0..10 {
            let host = url.host().unwrap_or("").to_string();
            if url.scheme_str() == Some("http") && self.hsts.contains(&host) {
                let upgraded = join(
                    &format!("https://{}", url.authority().map(|a| a.as_str()).unwrap_or("")),
                    url.path_and_query().map(|p| p.as_str()).unwrap_or("/"),
                );
                self.push_step(Step {
                    action,
                    method: method.to_string(),
                    url: url.to_string(),
                    hsts_upgrade: true,
                    ..Step::default()
                });
                url = upgraded;
                continue;
            }
            let mut step = Step { action, method: method.to_string(), url: url.to_string(), ..Step::default() };
            let result = self.fetch(&method, &url, body.as_deref(), &mut step).await;
            let fetched = match result {
                Ok(f) => f,
                Err(e) => {
                    step.error = Some(e);
                    self.push_step(step);
                    return None;
                }
            };
            let mut fetched = fetched;
            self.check(&mut step, &mut fetched);
            self.save(&step, &fetched);
            self.push_step(step);
            if (300..400).contains(&fetched.status)
                && let Some(loc) = fetched.headers.get(header::LOCATION).and_then(|l| l.to_str().ok())
            {
                url = if loc.starts_with('/') { join(&origin(&url), loc) } else { loc.parse().unwrap_or(url) };
                if fetched.status == 303 || ((fetched.status == 301 || fetched.status == 302) && method == Method::POST)
                {
                    method = Method::GET;
                    body = None;
                }
                continue;
            }
            return Some(fetched);
        }
        None
    }

    fn save(&self, step: &Step, f: &Fetched) {
        let Some(dir) = &self.opts.save else { return };
        if f.status != 200 {
            return;
        }
        let name = f.final_url.path().trim_matches('/').replace('/', "_");
        let name = if name.is_empty() { "index".to_string() } else { name };
        let html = step.content_type.as_deref().unwrap_or("").contains("html");
        let path = if html || !name.contains('.') { dir.join(format!("{name}.html")) } else { dir.join(&name) };
        if !path.exists() {
            let _ = std::fs::create_dir_all(dir);
            let _ = std::fs::write(path, &f.body);
        }
    }

    fn check(&self, step: &mut Step, f: &mut Fetched) {
        step.status = Some(f.status);
        step.bytes = f.body.len();
        step.content_type = f.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
        let text = String::from_utf8_lossy(&f.body);
        step.ad = text.contains("plainsight-ad");
        step.title = crate::analysis::dissect::http::html_title(&f.body);
        if f.body.is_empty() {
            return;
        }
        let hash = hex::encode(Sha256::digest(&f.body));
        if f.status == 200
            && let Some(expected) = self.manifest.get(f.final_url.path())
        {
            let intact = expected.sha256 == hash;
            step.integrity = if intact { Integrity::Intact } else { Integrity::Modified };
            step.site_page = intact || (expected.title.is_some() && expected.title == step.title);
        }
        f.site_page = step.site_page;
        step.sha256 = Some(hash);
    }

    async fn fetch(
        &mut self,
        method: &Method,
        url: &Uri,
        body: Option<&str>,
        step: &mut Step,
    ) -> Result<Fetched, String> {
        let host = url.host().ok_or("URL without a host")?.to_string();
        let https = url.scheme_str() == Some("https");
        let port = url.port_u16().unwrap_or(if https { 443 } else { 80 });
        let cookie = self.cookie_header(&host, https);
        let authority = url.authority().map(|a| a.as_str().to_string()).unwrap_or_else(|| host.clone());
        let mut req = Request::builder()
            .method(method.clone())
            .header(header::USER_AGENT, format!("plainsight-visitor/1.0 ({}'s laptop)", self.opts.persona.username))
            .header(header::ACCEPT_ENCODING, "gzip")
            .header(header::ACCEPT, "text/html,*/*");
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        }
        let body = Full::new(Bytes::from(body.unwrap_or("").to_string()));
        let origin_key = format!("{host}:{port}");
        // HTTP/2: the whole URL goes in the request (:scheme, :authority, :path).
        let h2_request = |req: http::request::Builder, body| {
            req.uri(format!("https://{authority}{}", url.path_and_query().map(|p| p.as_str()).unwrap_or("/")))
                .body(body)
                .map_err(|e| e.to_string())
        };
        if let Some((mut sender, version)) = self.h2.remove(&origin_key)
            && sender.ready().await.is_ok()
        {
            step.tls = version.clone();
            step.http = Some("HTTP/2".into());
            let resp = exchange(sender.send_request(h2_request(req, body)?)).await;
            self.h2.insert(origin_key, (sender, version));
            return self.received(url, &host, https, resp?);
        }
        let ip = self.resolve(&host).await.ok_or_else(|| format!("cannot resolve {host}"))?;
        let tcp = tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect((ip, port)))
            .await
            .map_err(|_| format!("connecting to {ip}:{port} timed out"))?
            .map_err(|e| format!("connecting to {ip}:{port}: {e}"))?;
        let resp = if https {
            let name = rustls_pki_types::ServerName::try_from(host.clone()).map_err(|e| e.to_string())?;
            let tls = tokio::time::timeout(Duration::from_secs(5), self.tls.connect(name, tcp))
                .await
                .map_err(|_| "TLS handshake timed out".to_string())?
                .map_err(|e| {
                    step.refused_certificate = matches!(
                        e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()),
                        Some(rustls::Error::InvalidCertificate(_))
                    );
                    format!("TLS: {e}")
                })?;
            step.tls = tls.get_ref().1.protocol_version().map(|v| format!("{v:?}"));
            // HTTP/2 when the server offers it (ALPN), as browsers do.
            if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
                step.http = Some("HTTP/2".into());
                let (mut sender, conn) =
                    hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), TokioIo::new(tls))
                        .await
                        .map_err(|e| format!("HTTP/2: {}", chain(&e)))?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                let resp = exchange(sender.send_request(h2_request(req, body)?)).await;
                self.h2.insert(origin_key, (sender, step.tls.clone()));
                return self.received(url, &host, https, resp?);
            }
            let req = req
                .uri(url.path_and_query().map(|p| p.as_str()).unwrap_or("/"))
                .header(header::HOST, &authority)
                .body(body)
                .map_err(|e| e.to_string())?;
            send(TokioIo::new(tls), req).await?
        } else {
            let req = req
                .uri(url.path_and_query().map(|p| p.as_str()).unwrap_or("/"))
                .header(header::HOST, &authority)
                .body(body)
                .map_err(|e| e.to_string())?;
            send(TokioIo::new(tcp), req).await?
        };
        self.received(url, &host, https, resp)
    }

    /// Takes in a response: its cookies, HSTS, and its body decoded.
    fn received(
        &mut self,
        url: &Uri,
        host: &str,
        https: bool,
        resp: (http::response::Parts, Vec<u8>),
    ) -> Result<Fetched, String> {
        let host = host.to_string();
        let (parts, body) = resp;
        for sc in parts.headers.get_all(header::SET_COOKIE) {
            if let Ok(sc) = sc.to_str() {
                self.set_cookie(&host, sc);
            }
        }
        if https && parts.headers.contains_key(header::STRICT_TRANSPORT_SECURITY) {
            self.hsts.insert(host.clone());
        }
        let enc = parts
            .headers
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_ascii_lowercase());
        let body = match enc.as_deref() {
            None | Some("identity") => body,
            Some(e @ ("gzip" | "x-gzip" | "deflate" | "br")) => {
                crate::analysis::dissect::http::decode_body(&body, Some(e)).into_owned()
            }
            Some(other) => return Err(format!("content encoding {other} it did not ask for")),
        };
        Ok(Fetched {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
            final_url: url.clone(),
            site_page: false,
        })
    }

    fn cookie_header(&self, host: &str, https: bool) -> Option<String> {
        let jar = self.cookies.get(host)?;
        let pairs: Vec<String> =
            jar.iter().filter(|(_, (_, secure))| https || !secure).map(|(k, (v, _))| format!("{k}={v}")).collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }

    fn set_cookie(&mut self, host: &str, sc: &str) {
        let (name, value) = crate::analysis::findings::set_cookie_pair(sc);
        if name.is_empty() {
            return;
        }
        let secure = sc.split(';').skip(1).any(|a| a.trim().eq_ignore_ascii_case("secure"));
        self.cookies.entry(host.to_string()).or_default().insert(name.to_string(), (value.to_string(), secure));
    }
}

/// An error with its causes, as one line ("HTTP: connection error: decrypt error").
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

async fn send<I>(io: I, req: Request<Full<Bytes>>) -> Result<(http::response::Parts, Vec<u8>), String>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(io).await.map_err(|e| format!("HTTP: {}", chain(&e)))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    exchange(sender.send_request(req)).await
}

/// A response to a request sent, read whole (at most 16 MiB, within 10 s).
async fn exchange(
    sent: impl std::future::Future<Output = hyper::Result<http::Response<hyper::body::Incoming>>>,
) -> Result<(http::response::Parts, Vec<u8>), String> {
    let fut = async {
        let resp = sent.await.map_err(|e| format!("HTTP: {}", chain(&e)))?;
        let (parts, body) = resp.into_parts();
        let body = http_body_util::Limited::new(body, 16 << 20)
            .collect()
            .await
            .map_err(|e| format!("reading the body: {}", chain(e.as_ref())))?;
        Ok((parts, body.to_bytes().to_vec()))
    };
    tokio::time::timeout(Duration::from_secs(10), fut).await.map_err(|_| "no response within 10 s".to_string())?
}

/// One step as a line of the visit's log.
pub fn step_line(st: &Step) -> String {
    if st.hsts_upgrade {
        return format!("  {:<13} {} {} -> upgraded to https by HSTS", st.action.as_str(), st.method, st.url);
    }
    if let Some(why) = &st.skipped {
        return format!("  {:<13} not done: {why}", st.action.as_str());
    }
    let what = match (&st.status, &st.error) {
        (_, Some(e)) => format!("FAILED: {e}"),
        (Some(code), None) => {
            let tls = st
                .tls
                .as_ref()
                .map(|t| format!(" [{t}{}]", st.http.as_deref().map(|h| format!(", {h}")).unwrap_or_default()))
                .unwrap_or_default();
            let hash = st.sha256.as_ref().map(|h| format!(" sha256 {}…", &h[..12])).unwrap_or_default();
            let ad = if st.ad { " AD INJECTED" } else { "" };
            let whose = if st.integrity == Integrity::Modified && !st.site_page { " NOT THE SITE'S PAGE" } else { "" };
            format!("{code} {} B{hash} {}{whose}{tls}{ad}", st.bytes, st.integrity.as_str())
        }
        _ => String::new(),
    };
    format!("  {:<13} {} {} -> {what}", st.action.as_str(), st.method, crate::analysis::findings::mask_url(&st.url))
}

/// The visit's closing line.
pub fn outcome_line(v: &Visit) -> String {
    format!(
        "logged in: {}, read the article: {}, saw the account: {}, modified responses: {}, errors: {}",
        v.logged_in, v.read_article, v.saw_account, v.modified, v.errors
    )
}

/// The log's first line: where the visit starts and what the name resolved to, and how.
fn first_line(v: &Visit) -> String {
    let how = if v.doh { " over DNS over HTTPS" } else { "" };
    format!(
        "visit {} (resolved to {}{how})",
        v.start,
        v.resolved.map(|i| i.to_string()).unwrap_or_else(|| "nothing".into())
    )
}

/// The visit as a readable log, one line per step.
pub fn log(v: &Visit) -> String {
    let mut s = format!("{}\n", first_line(v));
    for st in &v.steps {
        s += &step_line(st);
        s.push('\n');
    }
    s += &outcome_line(v);
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_names_go_to_http_first() {
        assert_eq!(typed_url("clinic.test").to_string(), "http://clinic.test/");
        assert_eq!(typed_url("https://clinic.test/x").to_string(), "https://clinic.test/x");
    }

    #[test]
    fn finds_same_origin_subresources() {
        let home = String::from_utf8(content::resource("/").unwrap().body).unwrap();
        let hrefs = |html: &str| page::Page::read(html).subresources.into_iter().map(|s| s.href).collect::<Vec<_>>();
        assert_eq!(hrefs(&home), vec!["/style.css", "/app.js", "/logo.svg"]);
        assert!(hrefs("<img src=\"//evil.test/x.png\"><img src=\"data:x\">").is_empty());
        let mixed = String::from_utf8(content::home(true)).unwrap();
        assert_eq!(hrefs(&mixed)[3..], ["http://clinic.test/photo.svg", "http://clinic.test/widget.js"]);
    }

    #[test]
    fn the_printed_checksum_is_read_from_the_download_page() {
        let page = String::from_utf8(content::resource(content::DOWNLOAD_PAGE).unwrap().body).unwrap();
        assert_eq!(printed_sha256(&page), Some(content::app_sha256()));
        assert_eq!(printed_sha256("SHA-256: <code>abc</code>"), None);
    }

    #[test]
    fn forms_are_filled_and_links_resolved_as_a_browser_does() {
        let login = page::Page::read(&String::from_utf8(content::login_form(None)).unwrap());
        let f = login.sign_in_form().expect("the site's sign-in form");
        assert_eq!(fill(f, "alice", "a b&c"), "username=alice&password=a+b%26c");
        let base: Uri = "http://clinic.test/articles/x".parse().unwrap();
        assert_eq!(resolve_href(&base, "/login").unwrap().to_string(), "http://clinic.test/login");
        assert_eq!(resolve_href(&base, "y").unwrap().to_string(), "http://clinic.test/articles/y");
        assert_eq!(resolve_href(&base, "http://192.0.2.20/c").unwrap().to_string(), "http://192.0.2.20/c");
        assert!(resolve_href(&base, "javascript:alert(1)").is_none());
        assert!(resolve_href(&base, "ftp://x/").is_none());
    }
}

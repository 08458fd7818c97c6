//! `plainsight visit`: a scripted browser that behaves like a person on the site.
//!
//! It resolves the name through the lab DNS, opens the start URL (a bare name is tried
//! over http first, as a browser's address bar does), follows redirects, keeps cookies
//! (Secure ones only over HTTPS), remembers HSTS (optionally preloaded) and upgrades
//! http:// for such hosts, loads the subresources a page references, logs in, reads the
//! sensitive article and opens the account page. TLS (rustls) trusts only the given CA,
//! with the hostname checked as a browser does. Every response's SHA-256 is compared with
//! the site's manifest: what arrived is either intact or modified on the way.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
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

use crate::site::content;

/// Checked options of a visit.
#[derive(Debug, Clone)]
pub struct Options {
    pub start: String,
    pub ca: PathBuf,
    /// Further CAs the visitor was made to trust (a compromised device).
    pub also_trust: Vec<PathBuf>,
    pub manifest: Option<PathBuf>,
    pub resolver: SocketAddr,
    pub hsts_preload: bool,
    pub username: String,
    pub password: String,
    /// Save every HTML page received here (`index.html`, `articles_x.html`, ...).
    pub save: Option<PathBuf>,
}

/// One request of the visit and what came back.
#[derive(Debug, Clone, Serialize, serde::Deserialize, Default)]
#[serde(default)]
pub struct Step {
    /// What the person was doing (open, subresource, login, read, account).
    pub action: String,
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
    /// `intact`, `modified`, or `unchecked` (no manifest entry, or no body).
    pub integrity: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The body carries an injected advertisement (marked `plainsight-ad`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ad: bool,
    /// The step was an HSTS upgrade of an http:// URL, made without a request.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub hsts_upgrade: bool,
}

/// The whole visit.
#[derive(Debug, Clone, Serialize, serde::Deserialize, Default)]
#[serde(default)]
pub struct Visit {
    pub start: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved: Option<IpAddr>,
    pub steps: Vec<Step>,
    pub logged_in: bool,
    pub read_article: bool,
    pub saw_account: bool,
    pub hsts_hosts: Vec<String>,
    /// Every response with a manifest entry arrived intact.
    pub all_intact: bool,
    pub modified: usize,
    pub errors: usize,
}

struct Browser {
    opts: Options,
    tls: tokio_rustls::TlsConnector,
    manifest: BTreeMap<String, String>,
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
}

/// Runs the visit; never fails as a whole: errors are recorded in the steps.
pub async fn visit(opts: Options) -> anyhow::Result<Visit> {
    let mut cas = vec![opts.ca.as_path()];
    cas.extend(opts.also_trust.iter().map(PathBuf::as_path));
    let cfg = crate::pki::client_config(&cas)?;
    let manifest = match &opts.manifest {
        Some(p) => serde_json::from_slice(&std::fs::read(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?)?,
        None => BTreeMap::new(),
    };
    let mut b = Browser {
        tls: tokio_rustls::TlsConnector::from(Arc::new(cfg)),
        manifest,
        dns: HashMap::new(),
        hsts: HashSet::new(),
        cookies: HashMap::new(),
        visit: Visit { start: opts.start.clone(), ..Visit::default() },
        opts,
    };
    let start = typed_url(&b.opts.start);
    if b.opts.hsts_preload {
        if let Some(h) = start.host() {
            b.hsts.insert(h.to_string());
        }
    }
    if let Some(h) = start.host() {
        b.visit.resolved = b.resolve(h).await;
    }
    if let Some(page) = b.navigate("open", Method::GET, start.clone(), None).await {
        let origin = origin(&page.final_url);
        b.subresources(&page, &origin).await;
        b.navigate("login form", Method::GET, join(&origin, "/login"), None).await;
        let form = format!(
            "username={}&password={}",
            form_urlencoded::byte_serialize(b.opts.username.as_bytes()).collect::<String>(),
            form_urlencoded::byte_serialize(b.opts.password.as_bytes()).collect::<String>()
        );
        if let Some(p) = b.navigate("log in", Method::POST, join(&origin, "/login"), Some(form)).await {
            b.visit.logged_in = p.status == 200 && p.final_url.path() == "/account";
        }
        if let Some(p) = b.navigate("read article", Method::GET, join(&origin, content::SENSITIVE_ARTICLE), None).await {
            b.visit.read_article = p.status == 200;
        }
        if let Some(p) = b.navigate("account", Method::GET, join(&origin, "/account"), None).await {
            b.visit.saw_account = p.status == 200 && String::from_utf8_lossy(&p.body).contains(content::FULL_NAME);
        }
    }
    let v = &mut b.visit;
    v.hsts_hosts = b.hsts.iter().cloned().collect();
    v.modified = v.steps.iter().filter(|s| s.integrity == "modified").count();
    v.errors = v.steps.iter().filter(|s| s.error.is_some()).count();
    v.all_intact = v.modified == 0 && v.steps.iter().any(|s| s.integrity == "intact");
    Ok(b.visit)
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

/// Same-origin subresources a page references (`src=` and stylesheet `href=`).
pub fn subresource_paths(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["src=\"", "rel=\"stylesheet\" href=\""] {
        let mut rest = html;
        while let Some(i) = rest.find(attr) {
            rest = &rest[i + attr.len()..];
            if let Some(end) = rest.find('"') {
                let p = &rest[..end];
                if p.starts_with('/') && !p.starts_with("//") && !out.iter().any(|o| o == p) {
                    out.push(p.to_string());
                }
            }
        }
    }
    out
}

impl Browser {
    async fn resolve(&mut self, host: &str) -> Option<IpAddr> {
        if let Ok(ip) = host.parse() {
            return Some(ip);
        }
        if let Some(ip) = self.dns.get(host) {
            return Some(*ip);
        }
        let sock = tokio::net::UdpSocket::bind("0.0.0.0:0").await.ok()?;
        let q = crate::synth::dns_query(0x5053, host);
        sock.send_to(&q, self.opts.resolver).await.ok()?;
        let mut buf = vec![0u8; 1500];
        let n = tokio::time::timeout(Duration::from_secs(3), sock.recv(&mut buf)).await.ok()?.ok()?;
        let m = crate::dissect::dns::parse(&buf[..n])?;
        let ip: IpAddr = m.answers.iter().find_map(|a| a.rsplit(' ').next()?.parse().ok())?;
        self.dns.insert(host.to_string(), ip);
        Some(ip)
    }

    async fn subresources(&mut self, page: &Fetched, origin: &str) {
        let html = String::from_utf8_lossy(&page.body).into_owned();
        for p in subresource_paths(&html) {
            self.navigate("subresource", Method::GET, join(origin, &p), None).await;
        }
    }

    /// One navigation with redirects followed; returns the final response.
    async fn navigate(&mut self, action: &str, mut method: Method, mut url: Uri, mut body: Option<String>) -> Option<Fetched> {
        for _ in 0..10 {
            let host = url.host().unwrap_or("").to_string();
            if url.scheme_str() == Some("http") && self.hsts.contains(&host) {
                let upgraded = join(&format!("https://{}", url.authority().map(|a| a.as_str()).unwrap_or("")), url.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
                self.visit.steps.push(Step {
                    action: action.into(),
                    method: method.to_string(),
                    url: url.to_string(),
                    integrity: "unchecked".into(),
                    hsts_upgrade: true,
                    ..Step::default()
                });
                url = upgraded;
                continue;
            }
            let mut step = Step { action: action.into(), method: method.to_string(), url: url.to_string(), integrity: "unchecked".into(), ..Step::default() };
            let result = self.fetch(&method, &url, body.as_deref(), &mut step).await;
            let fetched = match result {
                Ok(f) => f,
                Err(e) => {
                    step.error = Some(e);
                    self.visit.steps.push(step);
                    return None;
                }
            };
            self.check(&mut step, &fetched);
            self.save(&step, &fetched);
            self.visit.steps.push(step);
            if (300..400).contains(&fetched.status) {
                if let Some(loc) = fetched.headers.get(header::LOCATION).and_then(|l| l.to_str().ok()) {
                    url = if loc.starts_with('/') { join(&origin(&url), loc) } else { loc.parse().unwrap_or(url) };
                    if fetched.status == 303 || ((fetched.status == 301 || fetched.status == 302) && method == Method::POST) {
                        method = Method::GET;
                        body = None;
                    }
                    continue;
                }
            }
            return Some(fetched);
        }
        None
    }

    fn save(&self, step: &Step, f: &Fetched) {
        let Some(dir) = &self.opts.save else { return };
        if f.status != 200 || !step.content_type.as_deref().unwrap_or("").contains("html") {
            return;
        }
        let name = f.final_url.path().trim_matches('/').replace('/', "_");
        let name = if name.is_empty() { "index".to_string() } else { name };
        let path = dir.join(format!("{name}.html"));
        if !path.exists() {
            let _ = std::fs::create_dir_all(dir);
            let _ = std::fs::write(path, &f.body);
        }
    }

    fn check(&self, step: &mut Step, f: &Fetched) {
        step.status = Some(f.status);
        step.bytes = f.body.len();
        step.content_type = f.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
        let text = String::from_utf8_lossy(&f.body);
        step.ad = text.contains("plainsight-ad");
        step.title = crate::dissect::http::html_title(&f.body);
        if f.body.is_empty() {
            return;
        }
        let hash = hex::encode(Sha256::digest(&f.body));
        if f.status == 200 {
            if let Some(expected) = self.manifest.get(f.final_url.path()) {
                step.integrity = if *expected == hash { "intact" } else { "modified" }.into();
            }
        }
        step.sha256 = Some(hash);
    }

    async fn fetch(&mut self, method: &Method, url: &Uri, body: Option<&str>, step: &mut Step) -> Result<Fetched, String> {
        let host = url.host().ok_or("URL without a host")?.to_string();
        let https = url.scheme_str() == Some("https");
        let port = url.port_u16().unwrap_or(if https { 443 } else { 80 });
        let ip = self.resolve(&host).await.ok_or_else(|| format!("cannot resolve {host}"))?;
        let tcp = tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect((ip, port)))
            .await
            .map_err(|_| format!("connecting to {ip}:{port} timed out"))?
            .map_err(|e| format!("connecting to {ip}:{port}: {e}"))?;
        let cookie = self.cookie_header(&host, https);
        let mut req = Request::builder()
            .method(method.clone())
            .uri(url.path_and_query().map(|p| p.as_str()).unwrap_or("/"))
            .header(header::HOST, url.authority().map(|a| a.as_str()).unwrap_or(&host))
            .header(header::USER_AGENT, "plainsight-visitor/1.0 (alice's laptop)")
            .header(header::ACCEPT_ENCODING, "gzip")
            .header(header::ACCEPT, "text/html,*/*");
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        }
        let req = req.body(Full::new(Bytes::from(body.unwrap_or("").to_string()))).map_err(|e| e.to_string())?;
        let resp = if https {
            let name = rustls_pki_types::ServerName::try_from(host.clone()).map_err(|e| e.to_string())?;
            let tls = tokio::time::timeout(Duration::from_secs(5), self.tls.connect(name, tcp))
                .await
                .map_err(|_| "TLS handshake timed out".to_string())?
                .map_err(|e| format!("TLS: {e}"))?;
            step.tls = tls.get_ref().1.protocol_version().map(|v| format!("{v:?}"));
            send(TokioIo::new(tls), req).await?
        } else {
            send(TokioIo::new(tcp), req).await?
        };
        let (parts, body) = resp;
        for sc in parts.headers.get_all(header::SET_COOKIE) {
            if let Ok(sc) = sc.to_str() {
                self.set_cookie(&host, sc);
            }
        }
        if https && parts.headers.contains_key(header::STRICT_TRANSPORT_SECURITY) {
            self.hsts.insert(host.clone());
        }
        let gz = parts.headers.get(header::CONTENT_ENCODING).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
        let body = if gz {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&body[..]).take(8 << 20).read_to_end(&mut out).map_err(|e| format!("bad gzip body: {e}"))?;
            out
        } else {
            body
        };
        Ok(Fetched { status: parts.status.as_u16(), headers: parts.headers, body, final_url: url.clone() })
    }

    fn cookie_header(&self, host: &str, https: bool) -> Option<String> {
        let jar = self.cookies.get(host)?;
        let pairs: Vec<String> = jar.iter().filter(|(_, (_, secure))| https || !secure).map(|(k, (v, _))| format!("{k}={v}")).collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }

    fn set_cookie(&mut self, host: &str, sc: &str) {
        let mut parts = sc.split(';');
        let Some((name, value)) = parts.next().and_then(|p| p.trim().split_once('=')) else { return };
        let secure = parts.any(|a| a.trim().eq_ignore_ascii_case("secure"));
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
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.map_err(|e| format!("HTTP: {}", chain(&e)))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let fut = async {
        let resp = sender.send_request(req).await.map_err(|e| format!("HTTP: {}", chain(&e)))?;
        let (parts, body) = resp.into_parts();
        let body = http_body_util::Limited::new(body, 16 << 20).collect().await.map_err(|e| format!("reading the body: {}", chain(e.as_ref())))?;
        Ok((parts, body.to_bytes().to_vec()))
    };
    tokio::time::timeout(Duration::from_secs(10), fut).await.map_err(|_| "no response within 10 s".to_string())?
}

/// The visit as a readable log, one line per step.
pub fn log(v: &Visit) -> String {
    let mut s = format!("visit {} (resolved to {})\n", v.start, v.resolved.map(|i| i.to_string()).unwrap_or_else(|| "nothing".into()));
    for st in &v.steps {
        if st.hsts_upgrade {
            s += &format!("  {:<13} {} {} -> upgraded to https by HSTS\n", st.action, st.method, st.url);
            continue;
        }
        let what = match (&st.status, &st.error) {
            (_, Some(e)) => format!("FAILED: {e}"),
            (Some(code), None) => {
                let tls = st.tls.as_ref().map(|t| format!(" [{t}]")).unwrap_or_default();
                let hash = st.sha256.as_ref().map(|h| format!(" sha256 {}…", &h[..12])).unwrap_or_default();
                let ad = if st.ad { " AD INJECTED" } else { "" };
                format!("{code} {} B{hash} {}{tls}{ad}", st.bytes, st.integrity)
            }
            _ => String::new(),
        };
        s += &format!("  {:<13} {} {} -> {what}\n", st.action, st.method, st.url);
    }
    s += &format!(
        "logged in: {}, read the article: {}, saw the account: {}, modified responses: {}, errors: {}\n",
        v.logged_in, v.read_article, v.saw_account, v.modified, v.errors
    );
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
        assert_eq!(subresource_paths(&home), vec!["/app.js", "/logo.svg", "/style.css"]);
        assert!(subresource_paths("<img src=\"//evil.test/x.png\"><img src=\"http://x/y\">").is_empty());
    }
}

//! Findings: what an eavesdropper learned, derived from dissected [`Event`]s, each with a
//! class, the connection and frame it came from, and the secret part kept apart so that
//! reports can mask it.
//!
//! Pure: no I/O.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use serde::Serialize;

use crate::analysis::dissect::http::FieldSource;
use crate::analysis::dissect::{Event, Record, dns, http, quic, tls};

/// How sensitive a finding is; the order is the report's order (most sensitive first).
/// Its names are written once, in [`Class::as_str`]; serde takes them from there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    Credential,
    SessionCookie,
    Url,
    PageContent,
    ServerName,
    DnsName,
    Metadata,
}

impl Class {
    pub const ALL: [Class; 7] = [
        Class::Credential,
        Class::SessionCookie,
        Class::Url,
        Class::PageContent,
        Class::ServerName,
        Class::DnsName,
        Class::Metadata,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Credential => "credential",
            Class::SessionCookie => "session-cookie",
            Class::Url => "url",
            Class::PageContent => "page-content",
            Class::ServerName => "server-name",
            Class::DnsName => "dns-name",
            Class::Metadata => "metadata",
        }
    }
}

impl Serialize for Class {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Class {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Class, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Class::ALL
            .into_iter()
            .find(|c| c.as_str() == name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown finding class {name:?}")))
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a finding is about, typed: what the demo, the checks and the views decide on.
/// The summary is a sentence for people, and may be reworded; this is not.
///
/// Carries no secret (those stay in [`Finding::secret`], masked by default).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum About {
    /// An HTTP request line: its method and its path (without the query, which may hold
    /// secrets).
    Request {
        method: String,
        path: String,
    },
    /// A password inside a URL's userinfo (`http://user:pw@host/`).
    UrlPassword {
        user: String,
    },
    /// An `Authorization` header: Basic (with a password), Digest, or a token.
    Authorization {
        scheme: String,
        user: Option<String>,
    },
    /// A cookie the client sent.
    Cookie {
        name: String,
    },
    /// A cookie the server set.
    SetCookie {
        name: String,
    },
    /// A field of a form, a JSON body or a query string.
    FormField {
        name: String,
        source: FieldSource,
    },
    UserAgent,
    /// A response with a body: its status, and its HTML title if it has one.
    Page {
        status: u16,
        title: Option<String>,
    },
    Redirect,
    /// The server name of a TLS ClientHello (in a QUIC Initial when `quic` names its version).
    ServerName {
        name: String,
        quic: Option<String>,
    },
    ClientHello,
    ServerHello {
        version: String,
    },
    /// A certificate of the server's chain, in clear (before TLS 1.3): 0 is the server's own.
    Certificate {
        position: usize,
    },
    Alert {
        name: String,
    },
    /// The sizes of a TLS connection's encrypted records.
    EncryptedTraffic,
    /// A QUIC connection's packets and sizes.
    QuicTraffic,
    DnsQuery {
        name: String,
    },
    DnsAnswer {
        name: String,
    },
    /// A login in a mail or file-transfer protocol (FTP, POP3, IMAP, SMTP).
    Login {
        protocol: String,
        user: String,
    },
    /// A request to upgrade such a session to TLS, and whether the server agreed.
    StartTls {
        protocol: String,
        accepted: bool,
    },
    /// Read back from a report, where the kind is not written.
    #[default]
    Unknown,
}

/// One thing learned.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Finding {
    pub class: Class,
    /// What it is about, typed (not written in reports: they carry the event it came from,
    /// and [`derive`] gives it again).
    #[serde(skip)]
    pub about: About,
    /// What was learned, without the secret itself.
    pub summary: String,
    /// The sensitive value (password, cookie value, token), masked unless revealed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// The host it concerns: HTTP Host, TLS server name, or the server address (shared by
    /// the findings of one event).
    pub host: Arc<str>,
    pub frame: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conn: Option<u64>,
    #[serde(serialize_with = "crate::analysis::flow::serialize_addr")]
    pub src: SocketAddr,
    #[serde(serialize_with = "crate::analysis::flow::serialize_addr")]
    pub dst: SocketAddr,
    /// The server side of the exchange (the destination of requests).
    #[serde(serialize_with = "crate::analysis::flow::serialize_addr")]
    pub server: SocketAddr,
    /// The summary with the secrets inside its URL in clear (shown only with `--reveal`);
    /// `None` when the summary hides nothing.
    #[serde(skip)]
    pub clear_summary: Option<String>,
}

impl Finding {
    /// The secret as it should be shown.
    pub fn shown_secret(&self, reveal: bool) -> Option<String> {
        self.secret.as_ref().map(|s| if reveal { s.clone() } else { mask(s) })
    }

    /// The summary as it should be shown: URLs inside it masked unless `reveal`.
    pub fn shown_summary(&self, reveal: bool) -> &str {
        match (&self.clear_summary, reveal) {
            (Some(clear), true) => clear,
            _ => &self.summary,
        }
    }

    /// `summary: secret` with the secrets masked unless `reveal`.
    pub fn line(&self, reveal: bool) -> String {
        match self.shown_secret(reveal) {
            Some(s) => format!("{}: {s}", self.shown_summary(reveal)),
            None => self.shown_summary(reveal).to_string(),
        }
    }

    /// A finding read back from output written with `--reveal` (summary and secret in
    /// clear), made maskable again.
    pub fn remasked(mut self) -> Finding {
        let masked = mask_urls_in(&self.summary);
        if masked != self.summary {
            self.clear_summary = Some(std::mem::replace(&mut self.summary, masked));
        }
        self
    }

    /// Says in the summary that the traffic came through a tunnel (`via` describes it).
    pub fn came_through(&mut self, via: &str) {
        self.summary = format!("{} ({via})", self.summary);
        if let Some(clear) = &mut self.clear_summary {
            *clear = format!("{clear} ({via})");
        }
    }

    /// The finding as a report shows it: secret and summary masked unless `reveal`.
    pub fn shown(&self, reveal: bool) -> Finding {
        Finding {
            summary: self.shown_summary(reveal).to_string(),
            secret: self.shown_secret(reveal),
            clear_summary: None,
            ..self.clone()
        }
    }

    /// [`shown`](Self::shown) without copying: what a report serialises, borrowed.
    pub fn view(&self, reveal: bool) -> View<'_> {
        View {
            kind: "finding",
            class: self.class,
            summary: self.shown_summary(reveal),
            secret: self
                .secret
                .as_deref()
                .map(|s| if reveal { std::borrow::Cow::Borrowed(s) } else { std::borrow::Cow::Owned(mask(s)) }),
            host: &self.host,
            frame: self.frame,
            conn: self.conn,
            src: self.src,
            dst: self.dst,
            server: self.server,
        }
    }
}

/// A [`Finding`] as shown, borrowed from it; serialises as the finding does.
#[derive(Debug, Serialize)]
pub struct View<'a> {
    /// Always `finding`: the line's type in `--format jsonl`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub class: Class,
    pub summary: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<std::borrow::Cow<'a, str>>,
    pub host: &'a str,
    pub frame: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conn: Option<u64>,
    #[serde(serialize_with = "crate::analysis::flow::serialize_addr")]
    pub src: SocketAddr,
    #[serde(serialize_with = "crate::analysis::flow::serialize_addr")]
    pub dst: SocketAddr,
    #[serde(serialize_with = "crate::analysis::flow::serialize_addr")]
    pub server: SocketAddr,
}

/// Masks a secret: `p******d (8 chars)`. A short one shows less: its first character
/// below 8 characters (`a*** (4 chars)`), nothing below 4.
pub fn mask(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len();
    match n {
        0 => "(empty)".to_string(),
        1..=3 => format!("{} ({n} chars)", "*".repeat(n)),
        4..=7 => format!("{}{} ({n} chars)", chars[0], "*".repeat(n - 1)),
        _ => format!("{}{}{} ({n} chars)", chars[0], "*".repeat((n - 2).min(10)), chars[n - 1]),
    }
}

/// Whether a form or JSON field name suggests a credential.
pub fn credential_name(name: &str) -> bool {
    let leaf = name.rsplit(['.', '[']).next().unwrap_or(name).as_bytes();
    [
        "user", "login", "email", "mail", "pass", "pwd", "token", "secret", "card", "cvv", "cvc", "ccnum", "pin",
        "otp", "ssn", "apikey", "api_key", "auth",
    ]
    .iter()
    .any(|k| contains_ignore_case(leaf, k.as_bytes()))
}

/// Whether `hay` contains `needle` (lower case), ignoring ASCII case; no copy.
fn contains_ignore_case(hay: &[u8], needle: &[u8]) -> bool {
    hay.len() >= needle.len() && hay.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle))
}

/// The `name=value` pairs of a `Cookie` header (names never empty).
pub fn cookie_pairs(header: &str) -> impl Iterator<Item = (&str, &str)> {
    header.split(';').map(str::trim).map(|p| p.split_once('=').unwrap_or((p, ""))).filter(|(n, _)| !n.is_empty())
}

/// The cookie a `Set-Cookie` header sets: (name, value), before its attributes.
pub fn set_cookie_pair(header: &str) -> (&str, &str) {
    let first = header.split(';').next().unwrap_or("").trim();
    first.split_once('=').unwrap_or((first, ""))
}

/// A `Cookie` header with every value masked.
pub fn mask_cookie_header(header: &str) -> String {
    cookie_pairs(header).map(|(n, v)| format!("{n}={}", mask(v))).collect::<Vec<_>>().join("; ")
}

/// A `Set-Cookie` header with its value masked, its attributes kept.
pub fn mask_set_cookie(header: &str) -> String {
    let (name, value) = set_cookie_pair(header);
    match header.split_once(';') {
        Some((_, attrs)) => format!("{name}={};{attrs}", mask(value)),
        None => format!("{name}={}", mask(value)),
    }
}

/// Whether a URL query parameter's name says its value is a secret: every credential
/// name, plus keys, session ids and signatures (`api_key`, `X-Api-Key`, `PHPSESSID`, `sig`).
pub fn secret_param(name: &str) -> bool {
    let n = name.as_bytes();
    let ends = |s: &str| n.len() >= s.len() && n[n.len() - s.len()..].eq_ignore_ascii_case(s.as_bytes());
    credential_name(name)
        || ends("key")
        || ends("sid")
        || contains_ignore_case(n, b"session")
        || name.eq_ignore_ascii_case("sig")
        || contains_ignore_case(n, b"signature")
        || name.eq_ignore_ascii_case("code")
}

/// `url` as it may be shown: the password of its userinfo (`http://user:pw@host/`) and
/// the values of secret query parameters masked (`?password=c*******e (8 chars)`).
/// Works on absolute URLs and on request targets (`/path?query`). Pure.
pub fn mask_url(url: &str) -> String {
    let (before_frag, frag) = match url.find('#') {
        Some(i) => url.split_at(i),
        None => (url, ""),
    };
    let (base, query) = match before_frag.find('?') {
        Some(i) => (&before_frag[..i], Some(&before_frag[i + 1..])),
        None => (before_frag, None),
    };
    let mut out = String::with_capacity(url.len());
    match userinfo(base) {
        Some((start, end, user, Some(pass))) => {
            out.push_str(&base[..start]);
            out.push_str(user);
            out.push(':');
            out.push_str(&mask(&percent_decode(pass)));
            out.push('@');
            out.push_str(&base[end..]);
        }
        _ => out.push_str(base),
    }
    if let Some(q) = query {
        out.push('?');
        let parts: Vec<String> = q
            .split('&')
            .map(|p| match p.split_once('=') {
                Some((k, v)) if secret_param(&decoded(k)) => format!("{k}={}", mask(&percent_decode(v))),
                _ => p.to_string(),
            })
            .collect();
        out.push_str(&parts.join("&"));
    }
    out.push_str(frag);
    out
}

/// The userinfo of an absolute URL: (start, end of `user:pass@`, user, password).
fn userinfo(base: &str) -> Option<(usize, usize, &str, Option<&str>)> {
    let start = base.find("://")? + 3;
    let rest = &base[start..];
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let at = authority.rfind('@')?;
    let info = &authority[..at];
    let (user, pass) = match info.split_once(':') {
        Some((u, p)) => (u, Some(p)),
        None => (info, None),
    };
    Some((start, start + at + 1, user, pass))
}

/// The user and password inside an absolute URL's userinfo, percent-decoded.
pub fn url_credentials(url: &str) -> Option<(String, String)> {
    let (_, _, user, pass) = userinfo(url.split(['?', '#']).next().unwrap_or(url))?;
    Some((percent_decode(user), percent_decode(pass?)))
}

/// [`percent_decode`] without a copy when there is nothing to decode.
fn decoded(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains(['%', '+']) { std::borrow::Cow::Owned(percent_decode(s)) } else { std::borrow::Cow::Borrowed(s) }
}

/// Whether [`mask_url`] would change `url`: a password in its userinfo, or a secret
/// query parameter.
fn url_has_secret(url: &str) -> bool {
    let before_frag = url.split('#').next().unwrap_or(url);
    let (base, query) = match before_frag.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (before_frag, None),
    };
    matches!(userinfo(base), Some((_, _, _, Some(_))))
        || query
            .is_some_and(|q| q.split('&').any(|p| p.split_once('=').is_some_and(|(k, _)| secret_param(&decoded(k)))))
}

fn percent_decode(s: &str) -> String {
    form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}

fn clip(s: &str, n: usize) -> std::borrow::Cow<'_, str> {
    if s.len() <= n {
        // No more characters than bytes: nothing to count.
        return std::borrow::Cow::Borrowed(s);
    }
    match s.char_indices().nth(n) {
        None => std::borrow::Cow::Borrowed(s),
        Some((end, _)) => std::borrow::Cow::Owned(format!("{}…", &s[..end])),
    }
}

/// Derives the findings of one event.
/// `format!` into a string sized for a finding's summary, so that it rarely grows.
macro_rules! text {
    ($($arg:tt)*) => {{
        use std::fmt::Write as _;
        let mut s = String::with_capacity(128);
        let _ = write!(s, $($arg)*);
        s
    }};
}

pub fn from_event(e: &Event) -> Vec<Finding> {
    let mut out = Vec::new();
    derive(e, &mut out);
    out
}

/// [`from_event`], appending to `out`: a caller deriving many events reuses one vector
/// (eight findings are an allocation large enough to make malloc sort its free lists).
pub fn derive(e: &Event, out: &mut Vec<Finding>) {
    let first = out.len();
    let from_server = matches!(
        &e.record,
        Record::HttpResponse(_) | Record::TlsServerHello(_) | Record::TlsCertificate(_) | Record::StartTls(_)
    ) || matches!(&e.record, Record::Dns(m) if m.response);
    let server = if from_server { e.src } else { e.dst };
    let mut o = Out { e, server, out, last_host: None };
    match &e.record {
        Record::HttpRequest(r) => http_request(&mut o, r),
        Record::HttpResponse(r) => http_response(&mut o, r),
        Record::TlsClientHello(ch) => tls_client_hello(&mut o, ch),
        Record::TlsServerHello(sh) => tls_server_hello(&mut o, sh),
        Record::TlsCertificate(c) => tls_certificate(&mut o, c),
        Record::TlsAlert(a) => tls_alert(&mut o, a),
        Record::TlsTraffic(t) => tls_traffic(&mut o, t),
        Record::Quic(q) => quic(&mut o, q),
        Record::Dns(m) => dns(&mut o, m),
        Record::Login(l) => login(&mut o, l),
        Record::StartTls(t) => start_tls(&mut o, t),
        Record::NoTls(n) => no_tls(&mut o, n),
        Record::Notice { .. }
        | Record::Connection(_)
        | Record::UdpFlow(_)
        | Record::TlsEstablished(_)
        | Record::Tunnel(_)
        | Record::Ftp(_)
        | Record::Smtp(_)
        | Record::Content(_) => {}
    }
    // URLs inside summaries carry secrets too (`?password=`, `user:pw@`): the summary is
    // masked, and the clear one kept for `--reveal`.
    for f in &mut out[first..] {
        if let Some(masked) = masked_urls_in(&f.summary) {
            f.clear_summary = Some(std::mem::replace(&mut f.summary, masked));
        }
    }
}

/// A login in clear, and whether the server had offered TLS.
fn login(o: &mut Out, l: &crate::analysis::dissect::login::Login) {
    let p = l.protocol.as_str().to_ascii_uppercase();
    let offered = match l.tls_offered {
        Some(true) => ", in clear although the server offered an upgrade to TLS",
        Some(false) => ", in clear: the server offered no upgrade to TLS",
        None => "",
    };
    let what = if l.secret.is_some() { "login" } else { "user name" };
    let summary = match l.protocol {
        crate::analysis::dissect::login::Protocol::Snmp => text!("SNMP community ({})", l.mechanism),
        crate::analysis::dissect::login::Protocol::Ldap => text!("LDAP simple bind as {:?}", l.username),
        crate::analysis::dissect::login::Protocol::Ntlm => {
            let who = match &l.domain {
                Some(d) => format!("{d}\\{}", l.username),
                None => l.username.clone(),
            };
            match (l.secret.is_some(), l.mechanism.as_str()) {
                (true, "NTLMv1") => {
                    text!("{} authentication of \"{who}\": a line hashcat cracks offline (mode 5500)", l.mechanism)
                }
                (true, _) => {
                    text!("{} authentication of \"{who}\": a line hashcat cracks offline (mode 5600)", l.mechanism)
                }
                (false, _) => text!("{} user name \"{who}\" (its server's challenge was not seen)", l.mechanism),
            }
        }
        _ => text!("{p} {what} of user {:?} ({}){offered}", l.username, l.mechanism),
    };
    let host = o.host_of_dst();
    o.push(
        Class::Credential,
        About::Login { protocol: l.protocol.as_str().into(), user: l.username.clone() },
        summary,
        l.secret.clone(),
        &host,
    );
}

/// An upgrade to TLS asked for: after an accepted one nothing is readable.
fn start_tls(o: &mut Out, t: &crate::analysis::dissect::login::StartTls) {
    let p = t.protocol.as_str().to_ascii_uppercase();
    let summary = if t.accepted {
        text!("{p} session upgraded to TLS ({}): nothing after it is readable", t.command)
    } else {
        text!("{p} upgrade to TLS refused ({} answered {:?}): the session stays in clear", t.command, t.reply)
    };
    let host = o.e.src.ip().to_string();
    o.push(
        Class::Metadata,
        About::StartTls { protocol: t.protocol.as_str().into(), accepted: t.accepted },
        summary,
        None,
        &host,
    );
}

/// A session left in clear: no upgrade offered, or the offer removed on the way.
fn no_tls(o: &mut Out, n: &crate::analysis::dissect::login::NoTls) {
    use crate::analysis::dissect::login::Protocol;
    let p = n.protocol.as_str().to_ascii_uppercase();
    let upgrade = match n.protocol {
        Protocol::Pop3 => "STLS",
        Protocol::Ftp => "AUTH TLS",
        _ => "STARTTLS",
    };
    let summary = if n.stripped {
        text!(
            "{p} server's offer of {upgrade} was removed on the way (its capability reads {:?}): the session stays in clear, as sslstrip does for the web",
            n.evidence
        )
    } else {
        text!("{p} server offered no {upgrade} (its capabilities end {:?}): the session stays in clear", n.evidence)
    };
    let host = o.e.src.ip().to_string();
    o.push(
        Class::Metadata,
        About::StartTls { protocol: n.protocol.as_str().into(), accepted: false },
        summary,
        None,
        &host,
    );
}

/// One event's findings as they are appended: the host string shared between them.
struct Out<'a> {
    e: &'a Event,
    server: SocketAddr,
    out: &'a mut Vec<Finding>,
    last_host: Option<Arc<str>>,
}

impl Out<'_> {
    fn push(&mut self, class: Class, about: About, summary: String, secret: Option<String>, host: &str) {
        let host = match &self.last_host {
            Some(h) if **h == *host => h.clone(),
            _ => self.last_host.insert(host.into()).clone(),
        };
        let e = self.e;
        self.out.push(Finding {
            class,
            about,
            summary,
            secret,
            host,
            frame: e.frame,
            conn: e.conn,
            src: e.src,
            dst: e.dst,
            server: self.server,
            clear_summary: None,
        });
    }

    fn host_of_dst(&self) -> String {
        self.e.dst.ip().to_string()
    }
}

/// An HTTP request: its URL, credentials (URL, Authorization, form fields), cookies, user agent.
fn http_request(o: &mut Out, r: &http::Request) {
    let host: std::borrow::Cow<str> = r.host.as_deref().map_or_else(|| o.host_of_dst().into(), Into::into);
    let url = if r.uri.starts_with('/') { text!("http://{host}{}", r.uri) } else { r.uri.clone() };
    let path = r.uri.split(['?', '#']).next().unwrap_or("").to_string();
    o.push(
        Class::Url,
        About::Request { method: r.method.clone(), path },
        text!("{} {}", r.method, clip(&url, 300)),
        None,
        &host,
    );
    if let Some((user, pass)) = url_credentials(&r.uri) {
        o.push(
            Class::Credential,
            About::UrlPassword { user: user.clone() },
            text!("password of user {user:?} in the URL"),
            Some(pass),
            &host,
        );
    }
    if let Some(a) = &r.authorization {
        let scheme = a.scheme.to_ascii_lowercase();
        if let Some(p) = &a.password {
            let user = a.user.clone().unwrap_or_default();
            o.push(
                Class::Credential,
                About::Authorization { scheme: a.scheme.clone(), user: Some(user.clone()) },
                text!("HTTP Basic password of user {user:?}"),
                Some(p.clone()),
                &host,
            );
        } else if scheme == "digest" {
            let user = a.user.clone().unwrap_or_default();
            o.push(
                Class::Credential,
                About::Authorization { scheme: a.scheme.clone(), user: Some(user.clone()) },
                text!("HTTP Digest authorization of user {user:?} (password not sent in clear)"),
                None,
                &host,
            );
        } else {
            let token = a.raw.split_once(' ').map_or(a.raw.clone(), |(_, t)| t.trim().to_string());
            o.push(
                Class::Credential,
                About::Authorization { scheme: a.scheme.clone(), user: None },
                text!("Authorization {} token", a.scheme),
                Some(token),
                &host,
            );
        }
    }
    for c in &r.cookies {
        for (name, value) in cookie_pairs(c) {
            o.push(
                Class::SessionCookie,
                About::Cookie { name: name.to_string() },
                text!("cookie {name} sent to {host}"),
                Some(value.to_string()),
                &host,
            );
        }
    }
    for f in &r.fields {
        let what = text!(
            "{} field {:?} in {} {}",
            f.source,
            f.name,
            r.method,
            clip(r.uri.split('?').next().unwrap_or(""), 80)
        );
        let about = About::FormField { name: f.name.clone(), source: f.source };
        if secret_param(&f.name) {
            o.push(Class::Credential, about, what, Some(f.value.clone()), &host);
        } else {
            o.push(Class::PageContent, about, text!("{what} = {:?}", clip(&f.value, 80)), None, &host);
        }
    }
    if let Some(ua) = &r.user_agent {
        o.push(Class::Metadata, About::UserAgent, text!("user agent {}", clip(ua, 120)), None, &host);
    }
}

/// An HTTP response: cookies it sets, the page, a redirect.
fn http_response(o: &mut Out, r: &http::Response) {
    let host: std::borrow::Cow<str> = r.for_host.as_deref().map_or_else(|| o.e.src.ip().to_string().into(), Into::into);
    let uri = r.for_uri.as_deref().unwrap_or("(to a request not seen)");
    for c in &r.set_cookies {
        let (name, value) = set_cookie_pair(c);
        let flags: Vec<&str> = c
            .split(';')
            .skip(1)
            .map(|a| a.trim())
            .filter(|a| {
                let a = a.to_ascii_lowercase();
                a == "secure" || a == "httponly"
            })
            .collect();
        let flags = if flags.is_empty() { String::new() } else { text!(" ({})", flags.join(", ")) };
        o.push(
            Class::SessionCookie,
            About::SetCookie { name: name.to_string() },
            text!("Set-Cookie {name}{flags} from {host}"),
            Some(value.to_string()),
            &host,
        );
    }
    if r.body_len > 0 || r.title.is_some() {
        let ct = r.content_type.as_deref().unwrap_or("unknown type");
        let title = r.title.as_ref().map(|t| text!(", title {t:?}")).unwrap_or_default();
        o.push(
            Class::PageContent,
            About::Page { status: r.status, title: r.title.clone() },
            text!("{} {} {}: {}, {} bytes{title}", r.status, r.reason, clip(uri, 120), ct, r.body_len),
            None,
            &host,
        );
    }
    if let Some(l) = &r.location {
        o.push(Class::Url, About::Redirect, text!("redirect from {} to {}", clip(uri, 120), clip(l, 200)), None, &host);
    }
}

/// A ClientHello: the server name (SNI) and the client's fingerprint.
fn tls_client_hello(o: &mut Out, ch: &tls::ClientHello) {
    let host = ch.sni.clone().unwrap_or_else(|| o.host_of_dst());
    // In a QUIC Initial, under keys anyone on the path derives from the packet.
    let carrier = ch.quic.as_ref().map(|v| text!(" (QUIC {v} Initial)")).unwrap_or_default();
    if let Some(sni) = &ch.sni {
        o.push(
            Class::ServerName,
            About::ServerName { name: sni.clone(), quic: ch.quic.clone() },
            text!("TLS server name {sni}{carrier}"),
            None,
            &host,
        );
    }
    let alpn = if ch.alpn.is_empty() { String::new() } else { text!(", ALPN {}", ch.alpn.join(",")) };
    o.push(Class::Metadata, About::ClientHello, text!("TLS ClientHello{carrier}{alpn}, JA4 {}", ch.ja4), None, &host);
}

/// A ServerHello: the version and cipher chosen.
fn tls_server_hello(o: &mut Out, sh: &tls::ServerHello) {
    let host = sh.server_name.clone().unwrap_or_else(|| o.e.src.ip().to_string());
    o.push(
        Class::Metadata,
        About::ServerHello { version: sh.version.clone() },
        text!("TLS ServerHello {} {}", sh.version, sh.cipher),
        None,
        &host,
    );
}

/// A certificate in clear (before TLS 1.3): the server's own names who it is.
fn tls_certificate(o: &mut Out, c: &tls::Certificate) {
    let names = if c.names.is_empty() { String::new() } else { text!(" for {}", c.names.join(", ")) };
    let class = if c.position == 0 { Class::ServerName } else { Class::Metadata };
    let host = c.server_name.clone().unwrap_or_else(|| o.e.src.ip().to_string());
    o.push(
        class,
        About::Certificate { position: c.position },
        text!("certificate #{} {}{names}, issued by {}", c.position, c.subject, c.issuer),
        None,
        &host,
    );
}

/// A TLS alert in clear.
fn tls_alert(o: &mut Out, a: &tls::Alert) {
    let host = a.server_name.clone().unwrap_or_else(|| o.e.src.ip().min(o.e.dst.ip()).to_string());
    let from = if o.e.conn.is_some() { text!(" from {}", o.e.src) } else { String::new() };
    o.push(
        Class::Metadata,
        About::Alert { name: a.name.clone() },
        text!("TLS alert {} (level {}){from}", a.name, a.level),
        None,
        &host,
    );
}

/// The encrypted part of a TLS connection: counts and sizes.
fn tls_traffic(o: &mut Out, t: &tls::Traffic) {
    o.push(
        Class::Metadata,
        About::EncryptedTraffic,
        text!(
            "encrypted: {} records / {} bytes to server, {} records / {} bytes to client",
            t.records_to_server,
            t.bytes_to_server,
            t.records_to_client,
            t.bytes_to_client
        ),
        None,
        &t.server_name.clone().unwrap_or_else(|| o.host_of_dst()),
    );
}

/// A QUIC connection: what its Initials and sizes show.
fn quic(o: &mut Out, q: &quic::QuicConnection) {
    let over = if q.alpn.iter().any(|a| a == "doq") {
        "DNS over QUIC"
    } else if q.alpn.iter().any(|a| a.starts_with("h3")) {
        "HTTP/3"
    } else {
        "QUIC"
    };
    o.push(
            Class::Metadata,
            About::QuicTraffic,
            text!(
                "{over} ({}): only the Initials are readable; encrypted: {} packets / {} bytes to server, {} packets / {} bytes to client",
                q.version,
                q.packets_to_server,
                q.bytes_to_server,
                q.packets_to_client,
                q.bytes_to_client
            ),
            None,
            &q.server_name.clone().unwrap_or_else(|| o.host_of_dst()),
        );
}

/// A DNS query or answer: the names.
fn dns(o: &mut Out, m: &dns::Message) {
    if m.response {
        for a in &m.answers {
            let name = a.split(' ').next().unwrap_or("");
            o.push(Class::DnsName, About::DnsAnswer { name: name.to_string() }, text!("DNS answer {a}"), None, name);
        }
    } else {
        for q in &m.questions {
            let name = q.split(' ').next().unwrap_or("");
            o.push(Class::DnsName, About::DnsQuery { name: name.to_string() }, text!("DNS lookup {q}"), None, name);
        }
    }
}

/// `text` with every URL-like word masked by [`mask_url`] (URLs hold no spaces).
pub fn mask_urls_in(text: &str) -> String {
    masked_urls_in(text).unwrap_or_else(|| text.to_string())
}

/// [`mask_urls_in`], or `None` when nothing in `text` needs masking (the usual case: no
/// copy is made then).
pub fn masked_urls_in(text: &str) -> Option<String> {
    memchr::memchr2(b'?', b'@', text.as_bytes())?;
    let mut out: Option<String> = None;
    // Bytes of `text` already in `out`, and where the current word starts.
    let (mut copied, mut pos) = (0, 0);
    for w in text.split(' ') {
        if w.contains(['?', '@']) && url_has_secret(w) {
            let m = mask_url(w);
            if m != w {
                let o = out.get_or_insert_with(|| String::with_capacity(text.len() + 16));
                o.push_str(&text[copied..pos]);
                o.push_str(&m);
                copied = pos + w.len();
            }
        }
        pos += w.len() + 1;
    }
    let mut o = out?;
    o.push_str(&text[copied..]);
    Some(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::dissect::http;

    #[test]
    fn urls_are_masked_where_secrets_travel() {
        assert_eq!(mask_url("http://u:secret@h/p?a=1"), "http://u:s***** (6 chars)@h/p?a=1");
        assert_eq!(mask_url("/x?api_key=abcd&q=w#f"), "/x?api_key=a*** (4 chars)&q=w#f");
        assert_eq!(mask_url("/x?PHPSESSID=abcd&Password=p%20w"), "/x?PHPSESSID=a*** (4 chars)&Password=*** (3 chars)");
        assert_eq!(mask_url("http://h/plain?q=1"), "http://h/plain?q=1");
        assert_eq!(masked_urls_in("GET http://h/plain?q=1"), None);
        for t in [
            "POST /a?password=hunter2 and http://u:pw@h/ x",
            " lead?token=abc  double http://h/?q=1 ",
            "a?b=c",
            "plain words",
        ] {
            let word_by_word = t
                .split(' ')
                .map(|w| if w.contains(['?', '@']) { mask_url(w) } else { w.to_string() })
                .collect::<Vec<_>>()
                .join(" ");
            assert_eq!(mask_urls_in(t), word_by_word, "{t:?}");
        }
        assert_eq!(mask_urls_in("POST /a?password=hunter2"), "POST /a?password=h****** (7 chars)");
        assert_eq!(url_credentials("http://u%40x:p%3Aw@h/"), Some(("u@x".into(), "p:w".into())));
        assert_eq!(url_credentials("http://u@h/"), None);
    }

    #[test]
    fn class_names_round_trip_through_serde() {
        for c in Class::ALL {
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
            assert_eq!(serde_json::from_str::<Class>(&json).unwrap(), c);
        }
        assert!(serde_json::from_str::<Class>("\"nope\"").is_err());
    }

    #[test]
    fn mask_keeps_ends_and_length() {
        assert_eq!(mask("password"), "p******d (8 chars)");
        assert_eq!(mask("alice"), "a**** (5 chars)");
        assert_eq!(mask("abcd"), "a*** (4 chars)");
        assert_eq!(mask("abc"), "*** (3 chars)");
        assert_eq!(mask("ab"), "** (2 chars)");
        assert_eq!(mask(""), "(empty)");
    }

    #[test]
    fn login_post_yields_credentials_and_cookies() {
        let req = http::Request {
            method: "POST".into(),
            uri: "/login".into(),
            host: Some("clinic.test".into()),
            cookies: vec!["sid=abc; theme=dark".into()],
            fields: vec![
                http::Field { name: "username".into(), value: "alice".into(), source: http::FieldSource::Form },
                http::Field { name: "password".into(), value: "hunter2".into(), source: http::FieldSource::Form },
                http::Field { name: "remember".into(), value: "1".into(), source: http::FieldSource::Form },
            ],
            ..Default::default()
        };
        let e = Event {
            frame: 4,
            ts: 0,
            conn: Some(0),
            src: "192.0.2.10:4000".parse().unwrap(),
            dst: "198.51.100.10:80".parse().unwrap(),
            record: Record::HttpRequest(req),
        };
        let f = from_event(&e);
        let creds: Vec<_> = f.iter().filter(|f| f.class == Class::Credential).map(|f| f.line(true)).collect();
        assert_eq!(
            creds,
            vec!["form field \"username\" in POST /login: alice", "form field \"password\" in POST /login: hunter2"]
        );
        assert_eq!(f.iter().filter(|f| f.class == Class::SessionCookie).count(), 2);
        assert!(f.iter().any(|f| f.class == Class::Url && f.summary == "POST http://clinic.test/login"));
        assert!(f.iter().all(|f| f.frame == 4));
        let user = f.iter().find(|f| f.class == Class::Credential).unwrap();
        assert_eq!(user.line(false), "form field \"username\" in POST /login: a**** (5 chars)");
    }
}

//! `plainsight site`: the lab's website (`clinic.test`) over HTTP (hyper) and HTTPS
//! (hyper + rustls, HTTP/2 and HTTP/1.1 by ALPN), and the lab's DNS resolver.
//!
//! Hardened as hyper allows: a header-read timeout (slow clients are cut off), limits on
//! header count and size (oversized headers get 431), bounded request bodies.

pub mod articles;
pub mod content;

use std::collections::{HashSet, VecDeque};
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::{TcpListener, UdpSocket};

/// The site's TLS key log in its state directory (NSS format, readable by root only):
/// what `sniff --with-keys` puts into answer-key captures.
pub const KEYLOG: &str = "site-keys.log";

/// Checked options of the site.
#[derive(Debug, Clone)]
pub struct SiteOptions {
    pub http: Option<SocketAddr>,
    pub https: Option<SocketAddr>,
    pub dns: Option<SocketAddr>,
    /// Certificate and key (PEM) for HTTPS.
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Redirect every HTTP request to HTTPS.
    pub redirect_https: bool,
    pub hsts: bool,
    pub secure_cookies: bool,
    /// Written when listening: `site.ready` and `manifest.json`.
    pub state: Option<PathBuf>,
    /// The address the resolver gives for the site's names.
    pub site_ip: Ipv4Addr,
    /// Delay before each HTTP answer (a distant server; used by the race scenario).
    pub latency: Duration,
    /// A connection with no byte in or out for this long is closed.
    pub idle_timeout: Duration,
    /// Offer only TLS 1.2 (the certificate then crosses the network in clear).
    pub tls12_only: bool,
    /// The home page also loads a script and an image over plain `http://`.
    pub mixed_content: bool,
    /// Who can sign in, and what the account page shows.
    pub persona: content::Persona,
    /// Pad every body to the next power of two, uncompressed ([`articles::pad`]): the
    /// defence against guessing pages from their sizes.
    pub pad: bool,
}

/// How a body goes out: gzipped (when the client accepts it and the site does not pad),
/// padded.
#[derive(Clone, Copy)]
struct Encode {
    gzip: bool,
    pad: bool,
}

impl Encode {
    const PLAIN: Encode = Encode { gzip: false, pad: false };
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Http,
    Https,
}

struct Ctx {
    opts: SiteOptions,
    sessions: Mutex<HashSet<String>>,
}

/// A body sent in pieces with no length, so HTTP/1.1 uses chunked encoding.
struct Chunks(VecDeque<Bytes>);

impl Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
    }
}

type Out = http_body_util::combinators::BoxBody<Bytes, Infallible>;

fn full(b: impl Into<Bytes>) -> Out {
    http_body_util::Full::new(b.into()).boxed()
}

fn token() -> String {
    let mut b = [0u8; 16];
    rustls::crypto::ring::default_provider().secure_random.fill(&mut b).expect("system randomness");
    hex::encode(b)
}

/// Runs the site until `shutdown` completes.
pub async fn serve(opts: SiteOptions, shutdown: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
    let ctx = Arc::new(Ctx { opts: opts.clone(), sessions: Mutex::new(HashSet::new()) });
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(addr) = opts.http {
        let l = crate::lab::conn::listen(addr).map_err(|e| anyhow::anyhow!("binding {addr}: {e}"))?;
        tasks.spawn(accept(l, None, ctx.clone()));
    }
    if let Some(addr) = opts.https {
        let mut cfg = crate::lab::pki::server_config(&opts.cert, &opts.key, opts.tls12_only)?;
        if let Some(dir) = &opts.state {
            cfg.key_log = Arc::new(crate::lab::pki::KeyLogFile::create(&dir.join(KEYLOG))?);
        }
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
        let l = crate::lab::conn::listen(addr).map_err(|e| anyhow::anyhow!("binding {addr}: {e}"))?;
        tasks.spawn(accept(l, Some(acceptor), ctx.clone()));
    }
    if let Some(addr) = opts.dns {
        let sock = UdpSocket::bind(addr).await.map_err(|e| anyhow::anyhow!("binding {addr}/udp: {e}"))?;
        tasks.spawn(resolver(sock, opts.site_ip));
    }
    if let Some(dir) = &opts.state {
        let manifest = serde_json::to_string_pretty(&content::manifest(opts.mixed_content, opts.pad, &opts.persona))?;
        std::fs::write(dir.join("manifest.json"), manifest)?;
        std::fs::write(dir.join("site.ready"), "")?;
    }
    eprintln!("site: serving (http {:?}, https {:?}, dns {:?})", opts.http, opts.https, opts.dns);
    tokio::select! {
        _ = shutdown => {}
        _ = crate::lab::conn::trim_after_bursts() => {}
        Some(r) = tasks.join_next() => { r??; }
    }
    Ok(())
}

async fn accept(listener: TcpListener, tls: Option<tokio_rustls::TlsAcceptor>, ctx: Arc<Ctx>) -> anyhow::Result<()> {
    loop {
        let (stream, _peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                crate::lab::conn::backoff("site: accepting connections", &e).await;
                continue;
            }
        };
        let ctx = ctx.clone();
        let ctx_idle = ctx.opts.idle_timeout;
        let tls = tls.clone();
        tokio::spawn(async move {
            let _open = crate::lab::conn::Open::count();
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(crate::lab::conn::header_timeout(ctx_idle))
                .max_headers(64)
                .max_buf_size(16 * 1024);
            builder.http2().timer(TokioTimer::new()).max_header_list_size(16 * 1024);
            let scheme = if tls.is_some() { Scheme::Https } else { Scheme::Http };
            let svc = hyper::service::service_fn(move |req| handle(req, ctx.clone(), scheme));
            let linger = crate::lab::conn::Linger::keep(&stream);
            let (stream, heard) = crate::lab::conn::watched(crate::lab::conn::idle_limited(stream, ctx_idle));
            let plain = tls.is_none();
            let result = match tls {
                None => builder.serve_connection(TokioIo::new(stream), svc).await,
                Some(acceptor) => match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                    Ok(Ok(s)) => builder.serve_connection(TokioIo::new(s), svc).await,
                    Ok(Err(e)) => {
                        eprintln!("site: TLS handshake failed: {e}");
                        return;
                    }
                    Err(_) => return,
                },
            };
            // Gave up waiting for the rest of a request head: say so (408) where the bytes
            // can be read; an idle kept-alive connection is closed without a word.
            let gave_up =
                result.as_ref().is_err_and(|e| e.downcast_ref::<hyper::Error>().is_some_and(hyper::Error::is_timeout));
            if let Err(e) = result {
                eprintln!("site: connection: {e}");
            }
            linger
                .close_after(if gave_up && plain && heard.mid_request() {
                    crate::lab::conn::REQUEST_TIMEOUT
                } else {
                    b""
                })
                .await;
        });
    }
}

fn session_of(req: &Request<Incoming>, ctx: &Ctx) -> bool {
    let sessions = ctx.sessions.lock().expect("no panics while held");
    req.headers().get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).any(|c| {
        c.split(';').filter_map(|p| p.trim().split_once('=')).any(|(k, v)| k == "session" && sessions.contains(v))
    })
}

async fn handle(req: Request<Incoming>, ctx: Arc<Ctx>, scheme: Scheme) -> Result<Response<Out>, Infallible> {
    if !ctx.opts.latency.is_zero() {
        tokio::time::sleep(ctx.opts.latency).await;
    }
    let path = req.uri().path().to_string();
    let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or(content_host()).to_string();
    let gzip = !ctx.opts.pad
        && req.headers().get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("gzip"));
    let enc = Encode { gzip, pad: ctx.opts.pad };
    let mut resp = if scheme == Scheme::Http && ctx.opts.redirect_https {
        let q = req.uri().query().map(|q| format!("?{q}")).unwrap_or_default();
        redirect(StatusCode::MOVED_PERMANENTLY, &format!("https://{host}{path}{q}"))
    } else {
        route(req, &ctx, scheme, &path, enc).await
    };
    if scheme == Scheme::Https && ctx.opts.hsts {
        resp.headers_mut().insert(header::STRICT_TRANSPORT_SECURITY, "max-age=31536000".parse().expect("static"));
    }
    resp.headers_mut().insert(header::SERVER, "clinic.test".parse().expect("static"));
    Ok(resp)
}

fn content_host() -> &'static str {
    crate::lab::SITE_NAME
}

fn redirect(status: StatusCode, to: &str) -> Response<Out> {
    let mut r = Response::new(full(Bytes::new()));
    *r.status_mut() = status;
    if let Ok(v) = to.parse() {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

fn html(status: StatusCode, body: Vec<u8>, enc: Encode) -> Response<Out> {
    send(status, content::Resource { content_type: "text/html; charset=utf-8", body, compressible: true }, enc, false)
}

fn send(status: StatusCode, mut res: content::Resource, enc: Encode, chunked: bool) -> Response<Out> {
    if enc.pad {
        res.body = articles::pad(res.content_type, res.body);
    }
    let (body, gz) = if enc.gzip && res.compressible { (content::gzip(&res.body), true) } else { (res.body, false) };
    let body: Out = if chunked {
        let third = body.len().div_ceil(3).max(1);
        Chunks(body.chunks(third).map(Bytes::copy_from_slice).collect()).boxed()
    } else {
        full(body)
    };
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, res.content_type.parse().expect("static"));
    h.insert(header::VARY, "Accept-Encoding".parse().expect("static"));
    if gz {
        h.insert(header::CONTENT_ENCODING, "gzip".parse().expect("static"));
    }
    r
}

async fn route(req: Request<Incoming>, ctx: &Ctx, scheme: Scheme, path: &str, enc: Encode) -> Response<Out> {
    let logged_in = session_of(&req, ctx);
    match (req.method().clone(), path) {
        (Method::GET | Method::HEAD, "/account") => {
            if logged_in {
                html(StatusCode::OK, content::account_page(&ctx.opts.persona), enc)
            } else {
                redirect(StatusCode::FOUND, "/login")
            }
        }
        (Method::GET | Method::HEAD, content::ACCOUNT_NOTE) => {
            if logged_in {
                html(StatusCode::OK, content::note_page(&ctx.opts.persona), enc)
            } else {
                redirect(StatusCode::FOUND, "/login")
            }
        }
        (Method::GET | Method::HEAD, "/.well-known/plainsight-manifest.json") => {
            let m =
                serde_json::to_vec_pretty(&content::manifest(ctx.opts.mixed_content, ctx.opts.pad, &ctx.opts.persona))
                    .expect("strings serialise");
            send(
                StatusCode::OK,
                content::Resource { content_type: "application/json", body: m, compressible: false },
                Encode::PLAIN,
                false,
            )
        }
        (Method::POST, "/dns-query") => dns_query(req, ctx).await,
        (Method::POST, "/login") => login(req, ctx, scheme, enc).await,
        (Method::GET | Method::HEAD, "/") if ctx.opts.mixed_content => html(StatusCode::OK, content::home(true), enc),
        (Method::GET | Method::HEAD, p) => match content::resource(p) {
            Some(res) => send(StatusCode::OK, res, enc, p == content::CHUNKED_PAGE),
            None => html(
                StatusCode::NOT_FOUND,
                b"<!doctype html><title>Not found</title><h1>Not found</h1>".to_vec(),
                Encode::PLAIN,
            ),
        },
        _ => {
            let mut r = html(
                StatusCode::METHOD_NOT_ALLOWED,
                b"<!doctype html><title>Method not allowed</title>".to_vec(),
                Encode::PLAIN,
            );
            r.headers_mut().insert(header::ALLOW, "GET, HEAD, POST".parse().expect("static"));
            r
        }
    }
}

/// The lab's resolver over DNS over HTTPS (RFC 8484): the same answers as on port 53,
/// inside TLS.
async fn dns_query(req: Request<Incoming>, ctx: &Ctx) -> Response<Out> {
    let query = match http_body_util::Limited::new(req.into_body(), 4096).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return html(
                StatusCode::PAYLOAD_TOO_LARGE,
                b"<!doctype html><title>Too large</title>".to_vec(),
                Encode::PLAIN,
            );
        }
    };
    match dns_answer(&query, ctx.opts.site_ip) {
        Some(answer) => send(
            StatusCode::OK,
            content::Resource { content_type: "application/dns-message", body: answer, compressible: false },
            Encode::PLAIN,
            false,
        ),
        None => html(StatusCode::BAD_REQUEST, b"<!doctype html><title>Not a DNS query</title>".to_vec(), Encode::PLAIN),
    }
}

/// The sign-in form's answer: a session cookie for the persona's password, the form again
/// for anything else.
async fn login(req: Request<Incoming>, ctx: &Ctx, scheme: Scheme, enc: Encode) -> Response<Out> {
    let body = match http_body_util::Limited::new(req.into_body(), 16 * 1024).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) if crate::lab::conn::timed_out(&*e) => {
            let mut r = html(
                StatusCode::REQUEST_TIMEOUT,
                content::login_form(Some("The form took too long to arrive.")),
                Encode::PLAIN,
            );
            r.headers_mut().insert(header::CONNECTION, "close".parse().expect("static"));
            return r;
        }
        Err(_) => {
            return html(StatusCode::PAYLOAD_TOO_LARGE, content::login_form(Some("Request too large.")), Encode::PLAIN);
        }
    };
    let mut user = String::new();
    let mut pass = String::new();
    for (k, v) in form_urlencoded::parse(&body) {
        match &*k {
            "username" => user = v.into_owned(),
            "password" => pass = v.into_owned(),
            _ => {}
        }
    }
    if user == ctx.opts.persona.username && pass == ctx.opts.persona.password {
        let t = token();
        ctx.sessions.lock().expect("no panics while held").insert(t.clone());
        let mut r = redirect(StatusCode::SEE_OTHER, "/account");
        let mut cookie = format!("session={t}; Path=/");
        if ctx.opts.secure_cookies {
            cookie.push_str("; HttpOnly");
            if scheme == Scheme::Https {
                cookie.push_str("; Secure");
            }
        }
        r.headers_mut().insert(header::SET_COOKIE, cookie.parse().expect("token is hex"));
        r
    } else {
        html(StatusCode::UNAUTHORIZED, content::login_form(Some("Wrong username or password.")), enc)
    }
}

/// The lab's DNS resolver: the site's names resolve to the site, anything else is NXDOMAIN.
async fn resolver(sock: UdpSocket, site_ip: Ipv4Addr) -> anyhow::Result<()> {
    let mut buf = vec![0u8; 1500];
    loop {
        let (n, peer) = sock.recv_from(&mut buf).await?;
        if let Some(answer) = dns_answer(&buf[..n], site_ip) {
            let _ = sock.send_to(&answer, peer).await;
        }
    }
}

/// The response to one DNS query (hickory-proto messages); `None` for garbage.
pub fn dns_answer(query: &[u8], site_ip: Ipv4Addr) -> Option<Vec<u8>> {
    use hickory_proto::op::{Message, MessageType, ResponseCode};
    use hickory_proto::rr::{RData, Record, RecordType, rdata::A};
    let q = Message::from_vec(query).ok()?;
    if q.metadata.message_type != MessageType::Query {
        return None;
    }
    let mut r = Message::response(q.metadata.id, q.metadata.op_code);
    r.metadata.authoritative = true;
    r.metadata.recursion_desired = q.metadata.recursion_desired;
    let mut known = false;
    for query in &q.queries {
        r.add_query(query.clone());
        let name = query.name.to_string().trim_end_matches('.').to_ascii_lowercase();
        // The site's name and one label under it (`www.`, a workshop's `portal-...`): the
        // site's certificate covers `*.clinic.test`.
        let under = name
            .strip_suffix(content_host())
            .and_then(|l| l.strip_suffix('.'))
            .is_some_and(|l| !l.is_empty() && !l.contains('.'));
        if name == content_host() || under {
            known = true;
            if query.query_type == RecordType::A {
                r.add_answer(Record::from_rdata(query.name.clone(), 60, RData::A(A(site_ip))));
            }
        }
    }
    if !known {
        r.metadata.response_code = ResponseCode::NXDomain;
    }
    // Over UDP without EDNS an answer has at most 512 bytes: a longer one goes out
    // truncated (TC set, records dropped) and the client may ask again over TCP.
    let bytes = r.to_vec().ok()?;
    if bytes.len() <= 512 {
        return Some(bytes);
    }
    r.metadata.truncation = true;
    r.answers.clear();
    if r.to_vec().ok()?.len() > 512 {
        r.queries.clear();
    }
    r.to_vec().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dns_answer_over_512_bytes_is_truncated() {
        use hickory_proto::op::{Message, MessageType, OpCode, Query};
        use hickory_proto::rr::{Name, RecordType};
        let mut q = Message::new(7, MessageType::Query, OpCode::Query);
        for _ in 0..80 {
            q.add_query(Query::query(Name::from_ascii("clinic.test").unwrap(), RecordType::A));
        }
        let a = dns_answer(&q.to_vec().unwrap(), Ipv4Addr::new(198, 51, 100, 10)).unwrap();
        assert!(a.len() <= 512, "{} bytes", a.len());
        let m = Message::from_vec(&a).unwrap();
        assert!(m.metadata.truncation);
        let one = crate::analysis::dissect::dns::query(8, "clinic.test").unwrap();
        let m = Message::from_vec(&dns_answer(&one, Ipv4Addr::new(198, 51, 100, 10)).unwrap()).unwrap();
        assert!(!m.metadata.truncation && m.answers.len() == 1);
    }

    #[test]
    fn resolver_answers_the_site_and_refuses_the_rest() {
        let q = crate::analysis::dissect::dns::query(9, "clinic.test").unwrap();
        let a =
            crate::analysis::dissect::dns::parse(&dns_answer(&q, Ipv4Addr::new(198, 51, 100, 10)).unwrap()).unwrap();
        assert_eq!(a.answers, vec!["clinic.test A 198.51.100.10"]);
        let q = crate::analysis::dissect::dns::query(9, "example.com").unwrap();
        let a =
            crate::analysis::dissect::dns::parse(&dns_answer(&q, Ipv4Addr::new(198, 51, 100, 10)).unwrap()).unwrap();
        assert!(a.answers.is_empty());
        assert_eq!(a.rcode.as_deref(), Some("Non-Existent Domain"));
        assert!(dns_answer(b"\x00\x01", Ipv4Addr::LOCALHOST).is_none());
        // One label under the site's name (a workshop's portal), no more, no less.
        let answers = |name: &str| {
            crate::analysis::dissect::dns::parse(
                &dns_answer(&crate::analysis::dissect::dns::query(9, name).unwrap(), Ipv4Addr::new(198, 51, 100, 10))
                    .unwrap(),
            )
            .unwrap()
            .answers
        };
        assert_eq!(answers("portal-a1b2c3.clinic.test"), vec!["portal-a1b2c3.clinic.test A 198.51.100.10"]);
        assert!(answers("a.b.clinic.test").is_empty());
        assert!(answers("evilclinic.test").is_empty());
    }
}

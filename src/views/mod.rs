//! `plainsight workshop serve`: the trainer's live view, read-only by design.
//!
//! - `/`: participants × exercises; cells turn to done as checkpoints pass (server-sent
//!   events from the progress database), with the time each took and who is stuck.
//! - `/lab/NAME`: the projector view of one lab: the page its bot last received (in a
//!   sandboxed frame, under a policy that loads nothing), what the intruder learns now
//!   (a sniffer on that lab's intruder host, secrets masked), and the bot's visits, HTTP
//!   and HTTPS side by side.
//!
//! `plainsight demo --serve` shows the demo's scenarios the same way as they run: `/` the
//! scenarios, plain HTTP and HTTPS side by side, and `/scenario/NAME` like a lab.
//!
//! Safe by default: loopback unless `--listen` says otherwise, and then a token on every
//! request; every method but GET and HEAD gets 405; a Content-Security-Policy that allows
//! nothing from elsewhere; bounded connections and event streams.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{broadcast, mpsc, watch};

use crate::analysis::findings::{Class, Finding};
use crate::analysis::report::read::{self, Line};
use crate::lab::{Host, Lab};
use crate::workshop::{Workshop, bot, exercise, progress};

/// Connections served at once; event streams open at once.
const MAX_CONNECTIONS: usize = 256;
const MAX_STREAMS: usize = 64;
/// Event streams open at once on one participant's page.
const MAX_PARTICIPANT_STREAMS: usize = 4;
/// Findings kept per lab for a view that opens later.
const RECENT: usize = 60;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; frame-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'";
/// The bot's page: nothing loads, nothing runs, and it cannot reach its parent.
const PAGE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox";

#[derive(Debug, Clone)]
pub struct ViewOptions {
    pub listen: SocketAddr,
    /// Required on every request (`?token=` or `Authorization: Bearer`); always set when
    /// the listener is not loopback.
    pub token: Option<String>,
    /// Show the secrets the intruder reads and the answers on the bot's pages (the flag,
    /// the password), instead of masking them.
    pub reveal: bool,
}

struct Feed {
    tx: broadcast::Sender<String>,
    recent: Mutex<VecDeque<String>>,
    sniffer: Mutex<tokio::process::Child>,
}

impl Feed {
    /// Whether its sniffer still runs (it dies with its lab: `workshop down`).
    fn alive(&self) -> bool {
        self.sniffer.lock().expect("no panics while held").try_wait().is_ok_and(|s| s.is_none())
    }
}

/// What the view shows: a workshop's labs, or a demo's scenarios as they run.
pub enum Source {
    Workshop(Workshop),
    Demo(DemoRun),
}

/// A demo run: its report folder and its scenarios (name, title, over HTTPS).
pub struct DemoRun {
    pub out: std::path::PathBuf,
    pub scenarios: Vec<(&'static str, &'static str, bool)>,
}

struct View {
    source: Source,
    opts: ViewOptions,
    check: Option<crate::workshop::Key>,
    progress: watch::Receiver<String>,
    feeds: Mutex<HashMap<String, Arc<Feed>>>,
    /// The trainer's event streams (the grid, the labs).
    streams: AtomicUsize,
    /// Each participant's page's event streams, bounded apart from the trainer's: a room
    /// opening pages never takes the projector's place.
    participant_streams: Mutex<HashMap<u16, usize>>,
    /// The `Host` headers it answers: the names and addresses it listens on. Any other
    /// (a DNS-rebinding page in the trainer's browser) gets 421.
    hosts: Vec<String>,
}

/// An event stream's body: frames as they come from a channel.
struct Stream {
    rx: mpsc::Receiver<Bytes>,
    _slot: StreamSlot,
}

/// Frees its place among the event streams when the stream ends: the trainer's, or one
/// participant's.
struct StreamSlot(Arc<View>, Option<u16>);
impl Drop for StreamSlot {
    fn drop(&mut self) {
        match self.1 {
            None => {
                self.0.streams.fetch_sub(1, Ordering::SeqCst);
            }
            Some(p) => {
                if let Some(n) = self.0.participant_streams.lock().expect("no panics while held").get_mut(&p) {
                    *n = n.saturating_sub(1);
                }
            }
        }
    }
}

impl Body for Stream {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.rx.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}

type Out = http_body_util::combinators::BoxBody<Bytes, Infallible>;

fn full(b: impl Into<Bytes>) -> Out {
    http_body_util::Full::new(b.into()).boxed()
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn respond(status: StatusCode, ctype: &str, body: Out, csp: &str) -> Response<Out> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, ctype.parse().expect("static"));
    h.insert(header::CONTENT_SECURITY_POLICY, csp.parse().expect("static"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, "nosniff".parse().expect("static"));
    h.insert(header::REFERRER_POLICY, "no-referrer".parse().expect("static"));
    h.insert(header::CACHE_CONTROL, "no-store".parse().expect("static"));
    r
}

fn text(status: StatusCode, msg: &str) -> Response<Out> {
    respond(status, "text/plain; charset=utf-8", full(format!("{msg}\n")), CSP)
}

/// Runs the view until `shutdown`.
pub async fn serve(
    source: Source,
    opts: ViewOptions,
    ready: impl FnOnce(&SocketAddr),
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|e| anyhow::anyhow!("binding {}: {e}", opts.listen))?;
    let addr = listener.local_addr()?;
    let (tx, rx) = watch::channel(String::new());
    match &source {
        Source::Workshop(ws) => {
            let ws = ws.clone();
            std::thread::spawn(move || poll_progress(&ws, &tx));
        }
        Source::Demo(run) => {
            let (out, scenarios) = (run.out.clone(), run.scenarios.clone());
            std::thread::spawn(move || poll_demo(&out, &scenarios, &tx));
        }
    }
    let check = opts.token.as_deref().map(crate::workshop::Key::new);
    let hosts = allowed_hosts(&addr);
    let view = Arc::new(View {
        source,
        opts,
        check,
        progress: rx,
        feeds: Mutex::new(HashMap::new()),
        streams: AtomicUsize::new(0),
        participant_streams: Mutex::new(HashMap::new()),
        hosts,
    });
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    ready(&addr);
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            a = listener.accept() => match a {
                Ok(s) => s,
                Err(e) => {
                    crate::lab::conn::backoff("view: accepting connections", &e).await;
                    continue;
                }
            },
        };
        // Over the bound, a connection waits for a free place (the kernel's backlog holds
        // the rest).
        let Ok(slot) = slots.clone().acquire_owned().await else { return Ok(()) };
        let view = view.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let svc = hyper::service::service_fn(move |req| {
                let view = view.clone();
                async move { Ok::<_, Infallible>(handle(req, view).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .max_buf_size(16 * 1024)
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

/// Reads the progress database every 250 ms; publishes it (JSON) when it changed.
fn poll_progress(ws: &Workshop, tx: &watch::Sender<String>) {
    let Ok(db) = progress::Progress::existing(ws) else { return };
    publish_changes(tx, || progress_json(ws, &db).ok());
}

/// Every 250 ms, makes the state (JSON) and publishes it when it changed; ends when no
/// one can listen any more.
fn publish_changes(tx: &watch::Sender<String>, mut state: impl FnMut() -> Option<String>) {
    loop {
        if let Some(json) = state() {
            tx.send_if_modified(|old| {
                let changed = *old != json;
                if changed {
                    *old = json.clone();
                }
                changed
            });
        }
        if tx.is_closed() {
            return;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Publishes the demo's scenarios (JSON) when their state changed: waiting, running
/// (its folder exists), done (its comparison is written), and what the intruder read.
fn poll_demo(out: &std::path::Path, scenarios: &[(&'static str, &'static str, bool)], tx: &watch::Sender<String>) {
    publish_changes(tx, || {
        let rows: Vec<serde_json::Value> = scenarios
            .iter()
            .map(|(name, title, https)| {
                let dir = out.join(name);
                let state = if dir.join("compare.txt").exists() { "done" } else if dir.exists() { "running" } else { "waiting" };
                serde_json::json!({"name": name, "title": title, "https": https, "state": state, "learned": learned(&dir.join("findings.jsonl"))})
            })
            .collect();
        Some(serde_json::json!({"scenarios": rows}).to_string())
    });
}

/// What an intruder's findings file holds, class by class: `credential 2, url 9, ...`.
fn learned(findings: &std::path::Path) -> String {
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    for line in std::fs::read_to_string(findings).unwrap_or_default().lines() {
        if let Some(Line::Finding(f)) = read::line(line) {
            *counts.entry(f.class.as_str()).or_default() += 1;
        }
    }
    counts.iter().map(|(c, n)| format!("{c} {n}")).collect::<Vec<_>>().join(", ")
}

/// A finding as the views send it to a page, and keep it in a feed.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Shown {
    class: Class,
    summary: String,
    secret: Option<String>,
    at_ms: u64,
}

impl Shown {
    /// `f` as written, its summary's URLs in clear when the writer revealed them.
    fn written(f: &Finding) -> Shown {
        Shown {
            class: f.class,
            summary: f.shown_summary(true).to_string(),
            secret: f.secret.clone(),
            at_ms: bot::now_ms(),
        }
    }

    fn json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A row of the visits' timeline: when, in which column (`http` or `https`), what.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct VisitRow {
    at_ms: u64,
    column: &'static str,
    what: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    exercise: Option<String>,
}

/// The grid as JSON: each participant's cells, when each exercise was first shown to
/// them, their current exercise.
fn progress_json(ws: &Workshop, db: &progress::Progress) -> anyhow::Result<String> {
    let n = ws.recorded().map(|r| r.participants).unwrap_or(0);
    let table = db.table()?;
    let current = db.current()?;
    let first = db.first_shown()?;
    let rows: Vec<serde_json::Value> = (1..=n)
        .map(|p| {
            let cells: BTreeMap<String, serde_json::Value> = table
                .get(&p)
                .map(|r| r.iter().map(|(ex, c)| (ex.clone(), serde_json::json!({"passed": c.passed, "attempts": c.attempts, "at_ms": c.at_ms, "shown_ms": first.get(&(p, ex.clone()))}))).collect())
                .unwrap_or_default();
            serde_json::json!({"participant": p, "lab": ws.lab(p).name, "cells": cells, "current": current.get(&p).map(|(ex, at)| serde_json::json!({"exercise": ex, "since_ms": at}))})
        })
        .collect();
    Ok(serde_json::to_string(&serde_json::json!({"participants": rows}))?)
}

fn token_ok(view: &View, req: &Request<hyper::body::Incoming>) -> bool {
    let Some(key) = &view.check else { return true };
    let expected = view.opts.token.as_deref().unwrap_or("");
    let from_query = req
        .uri()
        .query()
        .and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "token").map(|(_, v)| v.into_owned()));
    let from_header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    from_query.or(from_header).is_some_and(|t| key.same(&t, expected))
}

async fn handle(req: Request<hyper::body::Incoming>, view: Arc<View>) -> Response<Out> {
    if !host_ok(&view, &req) {
        return text(StatusCode::MISDIRECTED_REQUEST, "this view answers only at the addresses it listens on");
    }
    if let (Source::Workshop(ws), Some(rest)) = (&view.source, req.uri().path().strip_prefix("/p/")) {
        let rest = rest.to_string();
        let ws = ws.clone();
        return participant_route(req, view, &ws, &rest).await;
    }
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "read-only: the view changes nothing");
        r.headers_mut().insert(header::ALLOW, "GET, HEAD".parse().expect("static"));
        return r;
    }
    if !token_ok(&view, &req) {
        return text(StatusCode::UNAUTHORIZED, "this view needs its token: ?token=... (printed when it started)");
    }
    let path = req.uri().path().to_string();
    let q = view.opts.token.as_deref().map(|t| format!("?token={}", esc(t))).unwrap_or_default();
    let ws = match &view.source {
        Source::Workshop(ws) => ws,
        Source::Demo(run) => return demo_route(&view, run, &path, &q),
    };
    match path.as_str() {
        "/" => respond(StatusCode::OK, "text/html; charset=utf-8", full(grid_page(ws, &q)), CSP),
        "/view.css" | "/grid.js" | "/lab.js" => asset(&path),
        "/events" => progress_stream(&view),
        p => match p.strip_prefix("/lab/").map(|rest| rest.split_once('/').unwrap_or((rest, ""))) {
            Some((name, sub)) => match lab_of(ws, name) {
                None => text(StatusCode::NOT_FOUND, "no such lab in this workshop"),
                Some(lab) => lab_route(&view, lab, sub, &q),
            },
            None => text(StatusCode::NOT_FOUND, "not found"),
        },
    }
}

/// A participant's lab, for the trainer: its page, the page its bot last received, and
/// its live events.
fn lab_route(view: &Arc<View>, lab: Lab, sub: &str, q: &str) -> Response<Out> {
    match sub {
        "" => {
            let feed = feed(view, &lab);
            respond(StatusCode::OK, "text/html; charset=utf-8", full(lab_page(&lab, &feed, q, view.opts.reveal)), CSP)
        }
        "page" => bot_page(view, &lab),
        "events" => lab_events(view, lab),
        _ => text(StatusCode::NOT_FOUND, "not found"),
    }
}

/// The page the bot last received, masked (in the article exercise the page itself is the
/// answer, so it is not shown at all).
fn bot_page(view: &View, lab: &Lab) -> Response<Out> {
    let visits = bot::visits(lab);
    let page = visits
        .last()
        .and_then(|v| v.last_page.clone())
        .and_then(|f| std::fs::read(lab.state_dir().join(bot::PAGES_DIR).join(f)).ok());
    match page {
        // In the article exercise the page itself is the answer.
        Some(_) if !view.opts.reveal && visits.last().is_some_and(|v| v.start == bot::Start::Article) => {
            respond(StatusCode::OK, "text/html; charset=utf-8", full(ARTICLE_HIDDEN), PAGE_CSP)
        }
        Some(body) => {
            let body = if view.opts.reveal { body } else { masked_answers(lab, body) };
            respond(StatusCode::OK, "text/html; charset=utf-8", full(body), PAGE_CSP)
        }
        None => respond(
            StatusCode::OK,
            "text/html; charset=utf-8",
            full("<p>The bot has not finished a visit yet.</p>"),
            PAGE_CSP,
        ),
    }
}

/// The lab's live events: its gateway's findings, and the bot's visits as they change.
fn lab_events(view: &Arc<View>, lab: Lab) -> Response<Out> {
    let feed = feed(view, &lab);
    let mut rx = feed.tx.subscribe();
    let reveal = view.opts.reveal;
    event_stream(view, move |tx| async move {
        let mut seen_visit = 0;
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                f = rx.recv() => match f {
                    Ok(line) => {
                        let line = if reveal { line } else { hide_portals(&line) };
                        if tx.send(Bytes::from(format!("event: finding\ndata: {line}\n\n"))).await.is_err() { return }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => return,
                },
                _ = tick.tick() => {
                    let visits = bot::visits(&lab);
                    let last = visits.last().map(|v| v.at_ms).unwrap_or(0);
                    if last != seen_visit {
                        seen_visit = last;
                        let rows = timeline_rows(&visits);
                        let data = serde_json::json!({"at_ms": last, "rows": rows}).to_string();
                        if tx.send(Bytes::from(format!("event: visits\ndata: {data}\n\n"))).await.is_err() { return }
                    } else if tx.send(Bytes::from_static(b": keep-alive\n\n")).await.is_err() {
                        return;
                    }
                }
            }
        }
    })
}

/// The stylesheet and scripts.
fn asset(path: &str) -> Response<Out> {
    match path {
        "/view.css" => respond(StatusCode::OK, "text/css", full(STYLE), CSP),
        "/grid.js" => respond(StatusCode::OK, "application/javascript", full(GRID_JS), CSP),
        "/demo.js" => respond(StatusCode::OK, "application/javascript", full(DEMO_JS), CSP),
        _ => respond(StatusCode::OK, "application/javascript", full(LAB_JS), CSP),
    }
}

/// The grid's (or the demo's) state, pushed whenever it changes.
fn progress_stream(view: &Arc<View>) -> Response<Out> {
    let mut rx = view.progress.clone();
    event_stream(view, move |tx| async move {
        loop {
            let data = rx.borrow_and_update().clone();
            if tx.send(Bytes::from(format!("event: progress\ndata: {data}\n\n"))).await.is_err() {
                return;
            }
            tokio::select! {
                r = rx.changed() => if r.is_err() { return },
                _ = tokio::time::sleep(Duration::from_secs(15)) => {}
            }
        }
    })
}

/// The demo's routes: `/` its scenarios, `/scenario/NAME` (its page, its events) one of
/// them as the intruder and the visitor saw it.
fn demo_route(view: &Arc<View>, run: &DemoRun, path: &str, q: &str) -> Response<Out> {
    match path {
        "/" => respond(StatusCode::OK, "text/html; charset=utf-8", full(demo_page(run, q)), CSP),
        "/view.css" | "/demo.js" | "/lab.js" => asset(path),
        "/events" => progress_stream(view),
        p => {
            let Some((name, sub)) = p.strip_prefix("/scenario/").map(|rest| rest.split_once('/').unwrap_or((rest, "")))
            else {
                return text(StatusCode::NOT_FOUND, "not found");
            };
            let Some(&(name, title, _)) = run.scenarios.iter().find(|(n, _, _)| *n == name) else {
                return text(StatusCode::NOT_FOUND, "no such scenario in this demo");
            };
            let dir = run.out.join(name);
            match sub {
                "" => respond(
                    StatusCode::OK,
                    "text/html; charset=utf-8",
                    full(scenario_page(name, title, &dir, view.opts.reveal, q)),
                    CSP,
                ),
                "page" => {
                    let body = last_page(&dir.join("pages")).and_then(|f| std::fs::read(f).ok());
                    let body = match body {
                        Some(b) if view.opts.reveal => b,
                        Some(b) => mask_in(b, &crate::lab::site::content::Persona::default()),
                        None => b"<p>The visitor has not received a page yet.</p>".to_vec(),
                    };
                    respond(StatusCode::OK, "text/html; charset=utf-8", full(body), PAGE_CSP)
                }
                "events" => {
                    let (reveal, dir) = (view.opts.reveal, dir.clone());
                    event_stream(view, move |tx| async move {
                        let mut sent = 0usize;
                        let mut page_seen = None;
                        let mut tick = tokio::time::interval(Duration::from_millis(250));
                        loop {
                            tick.tick().await;
                            let text = std::fs::read_to_string(dir.join("findings.jsonl")).unwrap_or_default();
                            let end = text.rfind('\n').map(|e| e + 1).unwrap_or(0);
                            if end > sent {
                                for line in text[sent..end].lines() {
                                    if let Some(f) = shown_finding(line, reveal)
                                        && tx.send(Bytes::from(format!("event: finding\ndata: {f}\n\n"))).await.is_err()
                                    {
                                        return;
                                    }
                                }
                                sent = end;
                            }
                            let page = last_page(&dir.join("pages"))
                                .and_then(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
                            if page.is_some() && page != page_seen {
                                page_seen = page;
                                let visit = std::fs::read(dir.join("visitor.json"))
                                    .ok()
                                    .and_then(|b| serde_json::from_slice::<crate::lab::visitor::Visit>(&b).ok());
                                let rows: Vec<VisitRow> = visit
                                    .iter()
                                    .map(|v| VisitRow {
                                        at_ms: bot::now_ms(),
                                        column: if v
                                            .steps
                                            .iter()
                                            .any(|s| s.url.starts_with("http://") && !s.hsts_upgrade)
                                        {
                                            "http"
                                        } else {
                                            "https"
                                        },
                                        what: crate::lab::visitor::outcome_line(v),
                                        exercise: None,
                                    })
                                    .collect();
                                if tx
                                    .send(Bytes::from(format!(
                                        "event: visits\ndata: {}\n\n",
                                        serde_json::json!({"at_ms": bot::now_ms(), "rows": rows})
                                    )))
                                    .await
                                    .is_err()
                                {
                                    return;
                                }
                            } else if tx.send(Bytes::from_static(b": keep-alive\n\n")).await.is_err() {
                                return;
                            }
                        }
                    })
                }
                _ => text(StatusCode::NOT_FOUND, "not found"),
            }
        }
    }
}

/// The last HTML page a visit saved (its folder of pages), by time.
fn last_page(pages: &std::path::Path) -> Option<std::path::PathBuf> {
    std::fs::read_dir(pages)
        .ok()?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".html"))
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())
        .map(|e| e.path())
}

/// A finding line of an intruder's `findings.jsonl` as the view shows it (masked unless
/// `reveal`), or `None` for other lines.
fn shown_finding(line: &str, reveal: bool) -> Option<String> {
    let Line::Finding(f) = read::line(line)? else { return None };
    let f = f.shown(reveal);
    Some(Shown { class: f.class, summary: f.summary, secret: f.secret, at_ms: bot::now_ms() }.json())
}

fn demo_page(run: &DemoRun, q: &str) -> String {
    let mut h = String::with_capacity(4096);
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>plainsight demo</title><link rel=\"stylesheet\" href=\"/view.css{q}\"></head><body data-query=\"{q}\"><h1>The demo, as it runs</h1><p id=\"status\">Live: connecting…</p><div class=\"cols\">"
    );
    for (https, heading) in [(false, "Plain HTTP"), (true, "HTTPS")] {
        let _ = write!(
            h,
            "<section><h2>{heading}</h2><table><thead><tr><th>scenario</th><th>state</th><th>what the intruder read</th></tr></thead><tbody>"
        );
        for (name, title, _) in run.scenarios.iter().filter(|s| s.2 == https) {
            let _ = write!(
                h,
                "<tr><th><a href=\"/scenario/{name}{q}\">{}</a></th><td id=\"s-{name}\" class=\"waiting\">waiting</td><td id=\"l-{name}\"></td></tr>",
                esc(title)
            );
        }
        h.push_str("</tbody></table></section>");
    }
    let _ = write!(h, "</div><script src=\"/demo.js{q}\"></script></body></html>");
    h
}

fn scenario_page(name: &str, title: &str, dir: &std::path::Path, reveal: bool, q: &str) -> String {
    let recent: Vec<String> = std::fs::read_to_string(dir.join("findings.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| shown_finding(l, reveal))
        .collect();
    let page = page_with_frame(
        &format!("Scenario: {title}"),
        &format!("/scenario/{name}"),
        recent.iter().rev().take(RECENT),
        &[],
        q,
    );
    // Once the scenario is done, the report's pictures of it (they carry no secret).
    let done: Option<crate::demo::ScenarioResult> =
        std::fs::read(dir.join(crate::demo::RESULT_FILE)).ok().and_then(|b| serde_json::from_slice(&b).ok());
    match done {
        Some(o) => {
            use crate::demo::report::pictures;
            let mut pics = pictures::network(&o).into_string();
            pics.extend(pictures::handshake(&o).map(|m| m.into_string()));
            pics.extend(o.article_sizes.as_ref().map(|a| pictures::article_sizes(a, &o.scenario).into_string()));
            page.replacen(
                "<div class=\"cols\">",
                &format!("<div class=\"pictures\">{pics}</div><div class=\"cols\">"),
                1,
            )
        }
        None => page,
    }
}

/// An event stream fed by `feed` (which ends when the client is gone), within the bound.
fn event_stream<F, Fut>(view: &Arc<View>, feed: F) -> Response<Out>
where
    F: FnOnce(mpsc::Sender<Bytes>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    event_stream_of(view, None, feed)
}

/// An event stream counted against the trainer's bound (`who` None) or participant
/// `who`'s.
fn event_stream_of<F, Fut>(view: &Arc<View>, who: Option<u16>, feed: F) -> Response<Out>
where
    F: FnOnce(mpsc::Sender<Bytes>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    match who {
        None => {
            if view.streams.fetch_add(1, Ordering::SeqCst) >= MAX_STREAMS {
                view.streams.fetch_sub(1, Ordering::SeqCst);
                return text(StatusCode::SERVICE_UNAVAILABLE, "too many open views");
            }
        }
        Some(p) => {
            let mut open = view.participant_streams.lock().expect("no panics while held");
            let n = open.entry(p).or_insert(0);
            if *n >= MAX_PARTICIPANT_STREAMS {
                return text(StatusCode::SERVICE_UNAVAILABLE, "too many open copies of this page: close some");
            }
            *n += 1;
        }
    }
    let slot = StreamSlot(view.clone(), who);
    let (tx, rx) = mpsc::channel(32);
    tokio::spawn(feed(tx));
    eprintln!("view: an event stream opened ({} open)", view.streams.load(Ordering::SeqCst));
    let mut r = respond(StatusCode::OK, "text/event-stream", Stream { rx, _slot: slot }.boxed(), CSP);
    r.headers_mut().insert(header::CACHE_CONTROL, "no-store".parse().expect("static"));
    r
}

/// What the view shows for the bot's page in the article exercise, unless `--reveal`.
const ARTICLE_HIDDEN: &str = "<p>The bot read one of the clinic's articles over HTTPS. Which one is this exercise's answer: the page stays hidden (<code>workshop serve --reveal</code> shows it).</p>";

/// The bot's page with the lab's answers in it (its flag, its password) masked, so that a
/// projected page gives no participant's answer away.
fn masked_answers(lab: &Lab, body: Vec<u8>) -> Vec<u8> {
    mask_in(body, &crate::lab::site::content::Persona::of_lab(&lab.state_dir()))
}

/// `body` with the persona's flag and password masked.
fn mask_in(body: Vec<u8>, persona: &crate::lab::site::content::Persona) -> Vec<u8> {
    let mut page = String::from_utf8_lossy(&body).into_owned();
    for secret in
        [persona.secret.as_deref(), Some(persona.password.as_str())].into_iter().flatten().filter(|s| !s.is_empty())
    {
        page = page.replace(secret, &esc(&crate::analysis::findings::mask(secret)));
    }
    page.into_bytes()
}

fn lab_of(ws: &Workshop, name: &str) -> Option<Lab> {
    let n = ws.recorded().ok()?.participants;
    (1..=n).map(|p| ws.lab(p)).find(|l| l.name == name)
}

/// The lab's sniffer (started on the first view of it): findings, masked, as JSON lines.
fn feed(view: &View, lab: &Lab) -> Arc<Feed> {
    let mut feeds = view.feeds.lock().expect("no panics while held");
    // A sniffer whose lab went down (and maybe came up again with another bot) is dead:
    // its findings are the old lab's, so it starts afresh.
    if let Some(f) = feeds.get(&lab.name).filter(|f| f.alive()) {
        return f.clone();
    }
    let (tx, _) = broadcast::channel(256);
    let exe = std::env::current_exe().unwrap_or_else(|_| "plainsight".into());
    let mut std_cmd = if crate::workshop::in_containers() {
        std::process::Command::new(exe)
    } else {
        lab.command_in(Host::Intruder, exe)
    };
    crate::lab::proc::die_with_parent(&mut std_cmd);
    let mut cmd = tokio::process::Command::from(std_cmd);
    cmd.args(["sniff", "--lab", &lab.name, "--format", "jsonl"]);
    if view.opts.reveal {
        cmd.arg("--reveal");
    }
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("view: cannot start the sniffer of {}: {e}", lab.name);
            let (tx, _) = broadcast::channel(1);
            return Arc::new(Feed {
                tx,
                recent: Mutex::new(VecDeque::new()),
                sniffer: Mutex::new(tokio::process::Command::new("true").spawn().expect("true runs")),
            });
        }
    };
    let stdout = child.stdout.take().expect("piped");
    let feed = Arc::new(Feed { tx: tx.clone(), recent: Mutex::new(VecDeque::new()), sniffer: Mutex::new(child) });
    let weak = Arc::downgrade(&feed);
    tokio::spawn(async move {
        use tokio::io::AsyncBufReadExt;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let Some(Line::Finding(f)) = read::line(&line) else { continue };
            let shown = Shown::written(&f).json();
            let Some(feed) = weak.upgrade() else { return };
            let mut recent = feed.recent.lock().expect("no panics while held");
            recent.push_back(shown.clone());
            if recent.len() > RECENT {
                recent.pop_front();
            }
            drop(recent);
            let _ = tx.send(shown);
        }
    });
    feeds.insert(lab.name.clone(), feed.clone());
    feed
}

fn grid_page(ws: &Workshop, q: &str) -> String {
    let exercises = exercise::all();
    let mut h = String::with_capacity(8192);
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Workshop {name}</title><link rel=\"stylesheet\" href=\"/view.css{q}\"></head><body data-query=\"{q}\"><h1>Workshop <code>{name}</code></h1><p id=\"status\">Live: connecting…</p><table id=\"grid\"><thead><tr><th>participant</th>",
        name = esc(&ws.name)
    );
    for e in &exercises {
        let _ = write!(h, "<th title=\"{}\">{}</th>", esc(&e.title), esc(&e.id));
    }
    h.push_str("</tr></thead><tbody>");
    let n = ws.recorded().map(|r| r.participants).unwrap_or(0);
    let table = progress::Progress::existing(ws).and_then(|db| db.table()).unwrap_or_default();
    for p in 1..=n {
        let lab = ws.lab(p).name;
        let _ = write!(h, "<tr><th><a href=\"/lab/{lab}{q}\">{lab}</a></th>");
        for e in &exercises {
            let c = table.get(&p).and_then(|r| r.get(&e.id));
            let (class, label) = match c {
                Some(c) if c.passed => ("done", "done".to_string()),
                Some(c) => ("tried", format!("{} tries", c.attempts)),
                None => ("none", "–".to_string()),
            };
            let _ = write!(
                h,
                "<td id=\"c-{p}-{id}\" class=\"{class}\" data-passed=\"{}\">{label}</td>",
                c.is_some_and(|c| c.passed),
                id = esc(&e.id)
            );
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table><h2>Stuck longest</h2><ol id=\"stuck\"></ol><p id=\"latency\"></p>");
    let _ = write!(h, "<script src=\"/grid.js{q}\"></script></body></html>");
    h
}

/// The timeline rows: each visit, in the HTTP or the HTTPS column.
fn timeline_rows(visits: &[bot::BotVisit]) -> Vec<VisitRow> {
    visits
        .iter()
        .rev()
        .take(12)
        .map(|v| {
            let (column, moved) = visit_column(v);
            let mut what = format!("{} requests, signed in: {}", v.urls.len(), if v.logged_in { "yes" } else { "no" });
            if moved {
                what.push_str(", first request over HTTP, then HTTPS");
            }
            if !v.altered.is_empty() {
                let _ = write!(what, ", {} page(s) ALTERED", v.altered.len());
            }
            if let Some(e) = v.errors.first() {
                let _ = write!(what, ", refused: {e}");
            }
            VisitRow { at_ms: v.at_ms, column, what, exercise: Some(v.exercise.clone()) }
        })
        .collect()
}

/// Where a visit belongs: "https" when every request after the first went over HTTPS (a
/// first request over HTTP redirected to HTTPS is still an HTTPS visit, said as such),
/// "http" otherwise.
fn visit_column(v: &bot::BotVisit) -> (&'static str, bool) {
    let plain = |u: &String| u.starts_with("http://");
    match v.urls.split_first() {
        None => ("https", false),
        Some((first, rest)) if !rest.is_empty() && !rest.iter().any(plain) => ("https", plain(first)),
        Some(_) if v.urls.iter().any(plain) => ("http", false),
        Some(_) => ("https", false),
    }
}

fn lab_page(lab: &Lab, feed: &Feed, q: &str, reveal: bool) -> String {
    let recent: Vec<String> = feed
        .recent
        .lock()
        .expect("no panics while held")
        .iter()
        .rev()
        .map(|l| if reveal { l.clone() } else { hide_portals(l) })
        .collect();
    page_with_frame(
        &format!("Lab {}", lab.name),
        &format!("/lab/{}", lab.name),
        recent.iter(),
        &timeline_rows(&bot::visits(lab)),
        q,
    )
}

/// A lab's (or a scenario's) page: what the visitor received in a sandboxed frame, what
/// the intruder learns (newest first), the visits, HTTP and HTTPS side by side; `base`
/// is where its frame and events are.
fn page_with_frame<'a>(
    title: &str,
    base: &str,
    findings: impl Iterator<Item = &'a String>,
    visits: &[VisitRow],
    q: &str,
) -> String {
    let mut h = String::with_capacity(8192);
    let (title, base) = (esc(title), esc(base));
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title><link rel=\"stylesheet\" href=\"/view.css{q}\"></head><body data-query=\"{q}\" data-base=\"{base}\">\
<h1>{title}</h1><p id=\"status\">Live: connecting…</p><div class=\"cols\"><section><h2>What the visitor received</h2>\
<iframe id=\"page\" sandbox=\"\" referrerpolicy=\"no-referrer\" src=\"{base}/page{q}\" title=\"the page the visitor last received\"></iframe></section>\
<section><h2>What the intruder learns now</h2><ol id=\"findings\" reversed>"
    );
    for line in findings {
        h.push_str(&finding_li(line));
    }
    h.push_str("</ol></section></div><h2>The visits</h2><table id=\"timeline\"><thead><tr><th>when</th><th>over HTTP</th><th>over HTTPS</th></tr></thead><tbody>");
    for r in visits {
        let (http, https) = if r.column == "http" { (r.what.as_str(), "") } else { ("", r.what.as_str()) };
        let _ = write!(
            h,
            "<tr><td class=\"t\" data-ms=\"{}\"></td><td>{}</td><td>{}</td></tr>",
            r.at_ms,
            esc(http),
            esc(https)
        );
    }
    let _ = write!(h, "</tbody></table><script src=\"/lab.js{q}\"></script></body></html>");
    h
}

/// One finding as a list item (the same markup the script adds live).
fn finding_li(json: &str) -> String {
    let Ok(f) = serde_json::from_str::<Shown>(json) else { return String::new() };
    let secret = f.secret.as_deref().map(|s| format!(": <b>{}</b>", esc(s))).unwrap_or_default();
    format!(
        "<li class=\"{}\"><span class=\"class\">{}</span> {}{secret}</li>",
        f.class.as_str(),
        f.class.as_str(),
        esc(&f.summary)
    )
}

const STYLE: &str = "body{font-family:sans-serif;margin:1em 2em;color:#222}pre.text,pre#hints{white-space:pre-wrap;max-width:60em}pre#verdict{white-space:pre-wrap;padding:.5em}pre.passed{background:#cfc}pre.failed{background:#fec}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:center}\
td.done{background:#cfc}td.tried{background:#fec}.cols{display:flex;gap:2em}.cols section{flex:1;min-width:0}iframe{width:100%;height:28em;border:2px solid #888}\
#findings{font-family:monospace;font-size:.9em;max-height:28em;overflow:auto}#findings .class{color:#555}#findings li.credential,#findings li.session-cookie{color:#a00}\
#status{color:#555;font-size:.9em}\
.pictures{display:grid;grid-template-columns:repeat(auto-fit,minmax(480px,1fr));gap:1em;margin:1em 0}.pictures svg{width:100%;height:auto;border:1px solid #ccc}\n";

const GRID_JS: &str = r#"(function(){
var q=document.body.dataset.query||'';var firstRender={};
document.querySelectorAll('td[data-passed="true"]').forEach(function(td){firstRender[td.id]=true;});
function took(ms){var s=Math.round(ms/1000);return s<60?s+' s':Math.floor(s/60)+' min '+(s%60)+' s';}
var es=new EventSource('/events'+q);
es.addEventListener('progress',function(ev){
 var d=JSON.parse(ev.data),now=Date.now(),stuck=[];
 document.getElementById('status').textContent='Live: updated '+new Date().toLocaleTimeString();
 d.participants.forEach(function(p){
  Object.keys(p.cells).forEach(function(ex){
   var c=p.cells[ex],td=document.getElementById('c-'+p.participant+'-'+ex);if(!td)return;
   if(c.passed){
    if(td.dataset.passed!=='true'&&!firstRender[td.id]){var lat=now-c.at_ms;td.dataset.latencyMs=lat;
     document.getElementById('latency').textContent='Last checkpoint shown '+lat+' ms after it passed.';}
    td.dataset.passed='true';td.className='done';
    td.textContent=c.shown_ms?'done in '+took(c.at_ms-c.shown_ms):'done';
   }else{td.className='tried';td.textContent=c.attempts+' tries';}
  });
  if(p.current){var c=p.cells[p.current.exercise];if(!c||!c.passed)stuck.push([now-p.current.since_ms,p.lab,p.current.exercise,c?c.attempts:0]);}
 });
 stuck.sort(function(a,b){return b[0]-a[0];});
 var ol=document.getElementById('stuck');ol.textContent='';
 stuck.slice(0,5).forEach(function(s){var li=document.createElement('li');li.textContent=s[1]+' on '+s[2]+' for '+took(s[0])+' ('+s[3]+' tries)';ol.appendChild(li);});
});
es.onerror=function(){document.getElementById('status').textContent='Live: reconnecting…';};
})();
"#;

const DEMO_JS: &str = r#"(function(){
var q=document.body.dataset.query||'';
var es=new EventSource('/events'+q);
es.addEventListener('progress',function(ev){
 var d=JSON.parse(ev.data);
 document.getElementById('status').textContent='Live: updated '+new Date().toLocaleTimeString();
 d.scenarios.forEach(function(s){
  var st=document.getElementById('s-'+s.name),l=document.getElementById('l-'+s.name);if(!st)return;
  st.textContent=s.state;st.className=s.state==='done'?'done':s.state==='running'?'tried':'waiting';l.textContent=s.learned;
 });
});
es.onerror=function(){document.getElementById('status').textContent='Live: reconnecting…';};
})();
"#;

const LAB_JS: &str = r#"(function(){
var b=document.body,q=b.dataset.query||'',base=b.dataset.base;
function when(ms){return new Date(ms).toLocaleTimeString();}
document.querySelectorAll('td.t').forEach(function(td){td.textContent=when(+td.dataset.ms);});
var es=new EventSource(base+'/events'+q);
es.onopen=function(){document.getElementById('status').textContent='Live';};
var frame=document.getElementById('page');b.dataset.pageLoads='0';
if(frame)frame.addEventListener('load',function(){b.dataset.pageLoads=String(+b.dataset.pageLoads+1);});
es.addEventListener('finding',function(ev){
 var f=JSON.parse(ev.data),li=document.createElement('li'),c=document.createElement('span');
 li.className=f['class'];c.className='class';c.textContent=f['class'];li.appendChild(c);
 li.appendChild(document.createTextNode(' '+f.summary));
 if(f.secret){li.appendChild(document.createTextNode(': '));var s=document.createElement('b');s.textContent=f.secret;li.appendChild(s);}
 var ol=document.getElementById('findings');ol.insertBefore(li,ol.firstChild);
 while(ol.children.length>60)ol.removeChild(ol.lastChild);
});
es.addEventListener('visits',function(ev){
 var d=JSON.parse(ev.data),tb=document.querySelector('#timeline tbody');if(!tb||!frame)return;tb.textContent='';
 d.rows.forEach(function(r){var tr=document.createElement('tr');
  [when(r.at_ms),r.column==='http'?r.what:'',r.column==='https'?r.what:''].forEach(function(t){var td=document.createElement('td');td.textContent=t;tr.appendChild(td);});
  tb.appendChild(tr);});
 document.getElementById('page').src=base+'/page'+(q?q+'&':'?')+'v='+d.at_ms;
});
es.onerror=function(){document.getElementById('status').textContent='Live: reconnecting…';};
})();
"#;

/// The `Host` headers a listener on `addr` answers: what [`reachable`] lists, and
/// `localhost` for a loopback listener.
fn allowed_hosts(addr: &SocketAddr) -> Vec<String> {
    let mut out: Vec<String> = reachable(addr).iter().map(|a| a.to_string()).collect();
    if addr.ip().is_loopback() || addr.ip().is_unspecified() {
        out.push(format!("localhost:{}", addr.port()));
    }
    out
}

fn host_ok(view: &View, req: &Request<hyper::body::Incoming>) -> bool {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    host.is_some_and(|h| view.hosts.iter().any(|a| a.eq_ignore_ascii_case(h)))
}

/// Which participant a page secret belongs to (compared in constant time with each).
fn participant_of(ws: &Workshop, secret: &str) -> Option<(u16, crate::workshop::Key)> {
    let key = ws.key().ok()?;
    let n = ws.recorded().ok()?.participants;
    let p = (1..=n).fold(None, |found, p| if key.same(secret, &key.page_secret(p)) { Some(p) } else { found })?;
    Some((p, key))
}

/// A participant's own page: `/p/SECRET` (the page), `/p/SECRET/check` (POST, the form),
/// `/p/SECRET/events` (what a sniffer on their gateway reads now, masked). Anything else,
/// or a wrong secret, is 404: the address is the secret, the token is not needed.
async fn participant_route(
    req: Request<hyper::body::Incoming>,
    view: Arc<View>,
    ws: &Workshop,
    rest: &str,
) -> Response<Out> {
    let (secret, sub) = rest.split_once('/').unwrap_or((rest, ""));
    let Some((p, _key)) = participant_of(ws, secret) else {
        return text(StatusCode::NOT_FOUND, "not found");
    };
    let lab = ws.lab(p);
    let base = format!("/p/{secret}");
    match (req.method().clone(), sub) {
        (Method::GET | Method::HEAD, "") => {
            let ws = ws.clone();
            let feed = feed(&view, &lab);
            let findings: Vec<String> =
                feed.recent.lock().expect("no panics while held").iter().rev().cloned().collect();
            let reveal = view.opts.reveal;
            let html = tokio::task::spawn_blocking(move || participant_page(&ws, p, &base, None, &findings, reveal))
                .await
                .unwrap_or_default();
            respond(StatusCode::OK, "text/html; charset=utf-8", full(html), PARTICIPANT_CSP)
        }
        (Method::POST, "check") => {
            // A small form: at most 4 KiB.
            let body = match http_body_util::Limited::new(req.into_body(), 4096).collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => return text(StatusCode::PAYLOAD_TOO_LARGE, "that answer is too long"),
            };
            let field = |k: &str| form_urlencoded::parse(&body).find(|(n, _)| n == k).map(|(_, v)| v.into_owned());
            let (exercise, answer) = (field("exercise").unwrap_or_default(), field("answer"));
            let ws = ws.clone();
            let feed = feed(&view, &lab);
            let findings: Vec<String> =
                feed.recent.lock().expect("no panics while held").iter().rev().cloned().collect();
            let reveal = view.opts.reveal;
            let html = tokio::task::spawn_blocking(move || {
                let verdict =
                    crate::workshop::desk::check(&ws, p, &exercise, answer.as_deref().filter(|a| !a.trim().is_empty()))
                        .map(|a| (a.passed, a.text))
                        .unwrap_or_else(|e| (false, format!("{e:#}")));
                participant_page(&ws, p, &base, Some(verdict), &findings, reveal)
            })
            .await
            .unwrap_or_default();
            respond(StatusCode::OK, "text/html; charset=utf-8", full(html), PARTICIPANT_CSP)
        }
        (Method::GET, "events") => {
            let feed = feed(&view, &lab);
            let mut rx = feed.tx.subscribe();
            let reveal = view.opts.reveal;
            event_stream_of(&view, Some(p), move |tx| async move {
                loop {
                    let line = tokio::select! {
                        f = rx.recv() => match f {
                            Ok(line) => line,
                            Err(broadcast::error::RecvError::Lagged(_)) => continue,
                            Err(_) => return,
                        },
                        _ = tokio::time::sleep(Duration::from_secs(15)) => {
                            if tx.send(Bytes::from_static(b": keep-alive\n\n")).await.is_err() { return }
                            continue;
                        }
                    };
                    let line = hide_portals(&if reveal { masked_finding(&line) } else { line });
                    if tx.send(Bytes::from(format!("event: finding\ndata: {line}\n\n"))).await.is_err() {
                        return;
                    }
                }
            })
        }
        (Method::GET | Method::HEAD, "lab.js") => {
            respond(StatusCode::OK, "application/javascript", full(LAB_JS), PARTICIPANT_CSP)
        }
        (Method::GET | Method::HEAD, "view.css") => respond(StatusCode::OK, "text/css", full(STYLE), PARTICIPANT_CSP),
        _ => text(StatusCode::NOT_FOUND, "not found"),
    }
}

/// `text` with every workshop portal name's own part masked (`portal-******.clinic.test`):
/// in the `https` exercise that name is the answer, and a view must not be the sniffer
/// the participant is asked to run (nor the projector give it to the room).
fn hide_portals(text: &str) -> String {
    const P: &str = "portal-";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(P) {
        let after = &rest[i + P.len()..];
        let n = after.bytes().take_while(u8::is_ascii_hexdigit).count();
        out.push_str(&rest[..i + P.len()]);
        if n == 6 {
            out.push_str("******");
            rest = &after[6..];
        } else {
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// A finding line with its secret masked (a participant's page never shows one in clear,
/// even when the trainer's view reveals them: the sniffer is theirs to run).
fn masked_finding(line: &str) -> String {
    let Ok(mut f) = serde_json::from_str::<Shown>(line) else { return String::new() };
    f.secret = f.secret.as_deref().map(crate::analysis::findings::mask);
    f.json()
}

/// The participant's page: the exercise they are on, a form to check it, the verdict of
/// the last check, their hints, their progress, and what their gateway's sniffer reads.
fn participant_page(
    ws: &Workshop,
    p: u16,
    base: &str,
    verdict: Option<(bool, String)>,
    findings: &[String],
    reveal: bool,
) -> String {
    let lab = ws.lab(p);
    let current = progress::Progress::existing(ws)
        .ok()
        .and_then(|db| db.current().ok())
        .and_then(|mut c| c.remove(&p))
        .map(|(e, _)| e);
    let mut h = String::with_capacity(8192);
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Participant {p}</title><link rel=\"stylesheet\" href=\"{base}/view.css\"></head><body data-base=\"{base}\">\
<h1>Participant {p} <small>lab <code>{}</code></small></h1><p id=\"status\">Live: connecting…</p>",
        esc(&lab.name)
    );
    match current.as_deref().and_then(|id| exercise::find(id).ok()) {
        Some(ex) => {
            let _ = write!(h, "<section id=\"exercise\" data-id=\"{}\"><h2>{} — {}</h2><pre class=\"text\">{}</pre>", esc(&ex.id), esc(&ex.id), esc(&ex.title), esc(&ex.render(&lab.name, p, &crate::workshop::handout_path(&lab))));
            let _ = write!(h, "<form id=\"check\" method=\"post\" action=\"{base}/check\"><input type=\"hidden\" name=\"exercise\" value=\"{}\">", esc(&ex.id));
            if ex.check.needs_answer() {
                h.push_str("<label>Your answer <input name=\"answer\" id=\"answer\" autocomplete=\"off\" size=\"40\"></label> ");
            }
            h.push_str("<button id=\"check-button\">Check</button></form>");
            if let Some((passed, text)) = &verdict {
                let _ = write!(h, "<pre id=\"verdict\" class=\"{}\">{}</pre>", if *passed { "passed" } else { "failed" }, esc(text));
            }
            let hints = crate::workshop::desk::hint(ws, p, Some(&ex.id)).unwrap_or_default();
            let _ = write!(h, "<h3>Hints</h3><pre id=\"hints\">{}</pre></section>", esc(&hints));
        }
        None => h.push_str("<section id=\"exercise\"><h2>No exercise yet</h2><p>Open one in your shell: <code>plainsight workshop show password</code>.</p></section>"),
    }
    h.push_str("<h2>Your progress</h2><table id=\"progress\"><tbody>");
    let table = progress::Progress::existing(ws).and_then(|db| db.table()).unwrap_or_default();
    let mine = table.get(&p).cloned().unwrap_or_default();
    for e in exercise::all() {
        let (class, label) = match mine.get(&e.id) {
            Some(c) if c.passed => ("done", "done".to_string()),
            Some(c) => ("tried", format!("{} tries", c.attempts)),
            None => ("none", "–".to_string()),
        };
        let _ = write!(
            h,
            "<tr><th>{}</th><td id=\"p-{}\" class=\"{class}\">{label}</td><td>{}</td></tr>",
            esc(&e.id),
            esc(&e.id),
            esc(&e.title)
        );
    }
    h.push_str("</tbody></table><h2>What a sniffer on your gateway reads now</h2><ol id=\"findings\" reversed>");
    for line in findings {
        let line = hide_portals(&if reveal { masked_finding(line) } else { line.clone() });
        h.push_str(&finding_li(&line));
    }
    let _ = write!(h, "</ol><script src=\"{base}/lab.js\"></script></body></html>");
    h
}

/// A participant's page: loads only from here, posts only its own form.
const PARTICIPANT_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The addresses a browser can open for a listener on `addr`: itself, or for an
/// unspecified address (`0.0.0.0`) loopback and the machine's global addresses, never
/// `0.0.0.0` itself.
pub fn reachable(addr: &SocketAddr) -> Vec<SocketAddr> {
    if !addr.ip().is_unspecified() {
        return vec![*addr];
    }
    let mut out = vec![SocketAddr::from(([127, 0, 0, 1], addr.port()))];
    out.extend(
        crate::workshop::ssh::reachable_addresses()
            .iter()
            .filter_map(|a| a.parse::<std::net::IpAddr>().ok())
            .map(|ip| SocketAddr::new(ip, addr.port())),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Text from a capture, as hostile as it comes, in a scenario's page: its findings
    /// (summary, host, secret) and the title; nothing of it becomes markup.
    #[test]
    fn hostile_capture_text_stays_text_in_a_scenario_page() {
        const HOSTILE: &str = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)></svg>";
        let dir = std::env::temp_dir().join(format!("ps-view-hostile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let finding = serde_json::json!({"type": "finding", "class": "credential", "summary": HOSTILE, "secret": HOSTILE,
            "host": HOSTILE, "frame": 1, "src": "192.0.2.10:1", "dst": "198.51.100.10:80", "server": "198.51.100.10:80"});
        std::fs::write(dir.join("findings.jsonl"), format!("{finding}\n")).unwrap();
        for reveal in [false, true] {
            let page = scenario_page("http", HOSTILE, &dir, reveal, "");
            assert!(!page.contains("<script>alert") && !page.contains("<img src=x"), "{page}");
            assert!(page.contains("&lt;script&gt;"), "the finding is shown, escaped: {page}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn visit(urls: &[&str]) -> bot::BotVisit {
        bot::BotVisit {
            at_ms: 0,
            exercise: String::new(),
            start: bot::Start::Bare,
            logged_in: true,
            saw_account: true,
            urls: urls.iter().map(|u| u.to_string()).collect(),
            errors: vec![],
            refused_certificate: false,
            altered: vec![],
            last_page: None,
        }
    }

    #[test]
    fn a_visit_redirected_to_https_is_filed_under_https() {
        // It used to go under "over HTTP" for its first request alone.
        assert_eq!(
            visit_column(&visit(&["http://clinic.test/", "https://clinic.test/", "https://clinic.test/login"])),
            ("https", true)
        );
        assert_eq!(visit_column(&visit(&["https://clinic.test/", "https://clinic.test/login"])), ("https", false));
        assert_eq!(visit_column(&visit(&["http://clinic.test/", "http://clinic.test/login"])), ("http", false));
        // sslstrip: the first request and a later one over HTTP.
        assert_eq!(
            visit_column(&visit(&["http://clinic.test/", "https://clinic.test/x", "http://clinic.test/login"])),
            ("http", false)
        );
        assert_eq!(visit_column(&visit(&["http://clinic.test/"])), ("http", false));
    }

    #[test]
    fn portal_names_are_masked_in_views() {
        assert_eq!(
            hide_portals("TLS server name portal-a1b2c3.clinic.test"),
            "TLS server name portal-******.clinic.test"
        );
        assert_eq!(
            hide_portals("portal-a1b2c3.clinic.test A 1; portal-ffffff.x"),
            "portal-******.clinic.test A 1; portal-******.x"
        );
        assert_eq!(hide_portals("the portal- page, portal-xyz"), "the portal- page, portal-xyz");
    }

    #[test]
    fn an_unspecified_listener_shows_addresses_a_browser_can_open() {
        let shown = reachable(&"0.0.0.0:8088".parse().unwrap());
        assert!(shown.iter().all(|a| !a.ip().is_unspecified()), "{shown:?}");
        assert!(shown.contains(&"127.0.0.1:8088".parse().unwrap()));
        assert!(allowed_hosts(&"127.0.0.1:9".parse().unwrap()).contains(&"localhost:9".to_string()));
        assert_eq!(allowed_hosts(&"192.0.2.1:9".parse().unwrap()), vec!["192.0.2.1:9".to_string()]);
    }
}

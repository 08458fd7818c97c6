//! HTTP/1.x over a reassembled connection: requests and responses matched across
//! keep-alive and pipelining, bodies by `Content-Length`, chunked or until close,
//! `100 Continue`, gzip/deflate/br decoding, and what an eavesdropper reads from them
//! (URLs, cookies, `Authorization`, form and JSON fields, page titles).
//!
//! Headers are parsed by `httparse`. Memory is bounded: a header block may not exceed
//! [`MAX_HEAD`], only the first [`KEEP_BODY`] bytes of a body are kept (the rest is
//! counted), decompression stops at [`MAX_DECODED`], and at most [`MAX_PENDING`] requests
//! wait for their responses.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::{Event, Record, looks_like_request};

pub mod content;
pub mod fields;
mod lenient;
pub mod mime;

use crate::analysis::prefetch;
use crate::analysis::reassembly::{ConnInfo, Dir};
pub use content::{MAX_DECODED, decode_body};
use fields::looks_like_html;
pub use fields::{authorization, body_fields, html_title, query_fields};

/// Largest header block followed; larger ones are reported and skipped.
pub const MAX_HEAD: usize = 64 << 10;
/// Body bytes kept for forms and for decompressing titles and previews.
pub const KEEP_BODY: usize = 128 << 10;
/// Body bytes kept of an uncompressed response: enough for its `<title>` and preview.
pub const KEEP_PLAIN_RESPONSE: usize = 4 << 10;
/// Cap on decompressed output.
/// Requests waiting for a response.
pub const MAX_PENDING: usize = 256;
const MAX_HEADERS: usize = 128;

/// An HTTP request as seen on the wire.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Request {
    pub method: String,
    pub uri: String,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referer: Option<String>,
    /// Every `Cookie` header, as sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cookies: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Authorization>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    pub body_len: u64,
    /// Fields of a form-encoded or JSON body, and of the query string.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<Field>,
    /// Part of the body was lost from the capture.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub incomplete: bool,
    /// How the head departs from RFC 9112, when it does (it was read leniently, as the
    /// device meant it and as tshark reads it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub non_conforming: Option<String>,
}

/// The `Authorization` header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Authorization {
    pub scheme: String,
    /// The header value as sent.
    pub raw: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// A named value from a form, a JSON body or a query string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    pub value: String,
    pub source: FieldSource,
}

/// Where a [`Field`] was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldSource {
    Query,
    Form,
    Json,
}

impl FieldSource {
    pub fn as_str(self) -> &'static str {
        match self {
            FieldSource::Query => "query",
            FieldSource::Form => "form",
            FieldSource::Json => "json",
        }
    }
}

impl std::fmt::Display for FieldSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An HTTP response as seen on the wire.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub version: String,
    /// Method and URI of the request this answers, when it was seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub for_method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub for_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub for_host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub set_cookies: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hsts: Option<String>,
    /// `WWW-Authenticate` and `Proxy-Authenticate` challenges, as sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authenticate: Vec<String>,
    /// Body bytes on the wire (after de-chunking, before decompression).
    pub body_len: u64,
    /// The HTML `<title>`, if the body is HTML.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// What the body's first bytes say it is, whatever Content-Type claims: a MIME type
    /// named as Zeek names it ([`mime`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sniffed_type: Option<std::borrow::Cow<'static, str>>,
    /// The start of the decoded body, as text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub body_preview: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub incomplete: bool,
    /// How the head departs from RFC 9112, when it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub non_conforming: Option<String>,
}

/// Whether the connection stays HTTP.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    Continue,
    /// The connection switched protocol (101, CONNECT): stop parsing it as HTTP.
    Stop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    Size,
    Data(u64),
    DataEnd,
    Trailer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Head,
    Length(u64),
    Chunked(Chunk),
    UntilClose,
    /// Lost sync (gap, garbage, oversized header): look for the next message start.
    Lost,
    /// The protocol switched: ignore the rest.
    Done,
}

/// A message whose head was parsed and whose body is being read.
struct Open {
    /// How many body bytes to keep.
    keep: usize,
    /// An uncompressed response: keeping stops once its title and preview are in.
    plain: bool,
    frame: u64,
    ts: i64,
    record: Record,
    encoding: Option<String>,
    body: Vec<u8>,
    body_len: u64,
    incomplete: bool,
    /// Not written when it ends (a response nobody asked for: [`HttpConn::responses`]).
    quiet: bool,
}

/// One direction's parser.
struct Half {
    request_side: bool,
    buf: Vec<u8>,
    buf_frame: u64,
    state: State,
    open: Option<Box<Open>>,
}

/// What waits for a response.
struct Pending {
    method: String,
    uri: String,
    host: Option<String>,
}

/// HTTP state of one connection.
pub struct HttpConn {
    req_dir: Dir,
    halves: [Half; 2],
    pending: VecDeque<Pending>,
    keep_bodies: bool,
    /// Whether responses are written (see [`HttpConn::responses`]).
    responses: bool,
}

impl HttpConn {
    /// `req_dir` is the direction that carries requests.
    pub fn new(req_dir: Dir) -> HttpConn {
        let half = |request_side| Half { request_side, buf: Vec::new(), buf_frame: 0, state: State::Head, open: None };
        HttpConn {
            req_dir,
            halves: [half(true), half(false)],
            pending: VecDeque::new(),
            keep_bodies: true,
            responses: true,
        }
    }

    /// A connection whose client sent something that is not a request, and whose server
    /// answers in HTTP (a `400`): the client's side waits for a request start, the
    /// server's responses are read as answers to nothing.
    pub fn answering_garbage() -> HttpConn {
        let mut c = HttpConn::new(Dir::ToServer);
        c.halves[0].state = State::Lost;
        c
    }

    /// Without bodies, messages carry no title, preview or form fields (field extraction
    /// reads none, and copying the start of every body costs a third of its time).
    pub fn keep_bodies(mut self, keep: bool) -> HttpConn {
        self.keep_bodies = keep;
        self
    }

    /// Without responses, a response's head is read only for what delimits it and what it
    /// answers (its status), and the response is not written: field extraction prints
    /// requests only.
    pub fn responses(mut self, write: bool) -> HttpConn {
        self.responses = write;
        self
    }

    fn side(&self, dir: Dir) -> usize {
        if dir == self.req_dir { 0 } else { 1 }
    }

    /// Hints the CPU to load what the next bytes will touch: the messages being read, a
    /// buffered remainder, the oldest request waiting for its response.
    pub fn prefetch(&self) {
        for half in &self.halves {
            if let Some(open) = &half.open {
                prefetch::value(&**open);
            }
            if !half.buf.is_empty() {
                prefetch::bytes(half.buf.as_ptr(), 64);
            }
        }
        if let Some(p) = self.pending.front() {
            prefetch::value(p);
        }
    }

    pub fn data(
        &mut self,
        info: &ConnInfo,
        dir: Dir,
        mut data: &[u8],
        frame: u64,
        ts: i64,
        out: &mut Vec<Event>,
    ) -> Next {
        let side = self.side(dir);
        let half = &mut self.halves[side];
        match half.body_in_place(info, dir, data, out) {
            Some(rest) => data = rest,
            None => return Next::Continue,
        }
        // Messages are read in place from `data`; only what a message left incomplete is
        // kept, in `buf`, to be read with the next segment's bytes (no copy of every
        // segment: at a gateway, thousands of connections interleave).
        let buffered = !half.buf.is_empty();
        let mut buf = std::mem::take(&mut half.buf);
        if buffered {
            buf.extend_from_slice(data);
        } else {
            half.buf_frame = frame;
        }
        let bytes: &[u8] = if buffered { &buf } else { data };
        let mut pos = 0;
        let mut next = Next::Continue;
        loop {
            let half = &mut self.halves[side];
            let avail = &bytes[pos..];
            if avail.is_empty() && !matches!(half.state, State::Length(0) | State::Chunked(Chunk::Trailer)) {
                break;
            }
            let consumed = match half.state {
                State::Done => avail.len(),
                State::Lost => match resync(avail, half.request_side) {
                    Some(at) => {
                        half.state = State::Head;
                        at
                    }
                    None => avail.len().saturating_sub(16),
                },
                State::Head => {
                    let start_frame = if pos == 0 { half.buf_frame } else { frame };
                    match self.head(side, avail, start_frame, ts, info, dir, out) {
                        Some(n) => n,
                        None => break,
                    }
                }
                State::Length(rem) => {
                    let n = (rem.min(avail.len() as u64)) as usize;
                    add_body(&mut half.open, &avail[..n]);
                    half.state = State::Length(rem - n as u64);
                    if rem - n as u64 == 0 {
                        half.state = State::Head;
                        half.finish(info, dir, out);
                    }
                    n
                }
                State::UntilClose => {
                    add_body(&mut half.open, avail);
                    avail.len()
                }
                State::Chunked(c) => match half.chunked(c, avail, info, dir, out) {
                    Some(n) => n,
                    None => break,
                },
            };
            if consumed == 0 && self.halves[side].state != State::Head {
                // Only a completed head may consume nothing (a body of zero length).
                let half = &self.halves[side];
                if !matches!(half.state, State::Length(_) | State::Chunked(_)) {
                    break;
                }
            }
            pos += consumed;
            if side == 1 && self.halves[side].state == State::Done {
                next = Next::Stop;
            }
            if pos > bytes.len() {
                pos = bytes.len();
            }
        }
        let pos = pos.min(bytes.len());
        if buffered {
            buf.drain(..pos);
        } else {
            buf.extend_from_slice(&data[pos..]);
        }
        // A buffer that grew for a big head gives its memory back once it is empty.
        if buf.is_empty() && buf.capacity() > 16 << 10 {
            buf = Vec::new();
        }
        self.halves[side].buf = buf;
        self.halves[side].bound_buffer(info, dir, frame, ts, pos > 0, out);
        next
    }

    /// Parses a head at `pos`; returns bytes consumed, or `None` when more data is needed.
    #[allow(clippy::too_many_arguments)]
    fn head(
        &mut self,
        side: usize,
        avail: &[u8],
        start_frame: u64,
        ts: i64,
        info: &ConnInfo,
        dir: Dir,
        out: &mut Vec<Event>,
    ) -> Option<usize> {
        // Tolerate blank lines between messages.
        let blank = avail.iter().take_while(|c| **c == b'\r' || **c == b'\n').count();
        if blank > 0 {
            return Some(blank);
        }
        let parsed =
            if self.halves[side].request_side { parse_request(avail) } else { parse_response(avail, self.responses) };
        let (len, record, body) = match parsed {
            Ok(None) => return None,
            Err(why) => {
                out.push(Event::on(info, dir, start_frame, ts, notice(why)));
                self.halves[side].state = State::Lost;
                return Some(0);
            }
            Ok(Some(p)) => p,
        };
        let (record, state) = match record {
            Record::HttpRequest(req) => {
                if self.pending.len() < MAX_PENDING {
                    self.pending.push_back(Pending {
                        method: req.method.clone(),
                        uri: req.uri.clone(),
                        host: req.host.clone(),
                    });
                }
                let state = if req.method == "CONNECT" { State::Done } else { body.state(false) };
                (Record::HttpRequest(req), state)
            }
            Record::HttpResponse(mut resp) => {
                let informational = (100..200).contains(&resp.status) && resp.status != 101;
                let req = if informational { None } else { self.pending.pop_front() };
                let head_only = req.as_ref().is_some_and(|r| r.method == "HEAD")
                    || informational
                    || resp.status == 204
                    || resp.status == 304;
                let switched = resp.status == 101
                    || (req.as_ref().is_some_and(|r| r.method == "CONNECT") && (200..300).contains(&resp.status));
                if let Some(r) = req {
                    resp.for_method = Some(r.method);
                    resp.for_uri = Some(r.uri);
                    resp.for_host = r.host;
                }
                let state = if switched {
                    State::Done
                } else if head_only {
                    State::Length(0)
                } else {
                    body.state(true)
                };
                (Record::HttpResponse(resp), state)
            }
            other => (other, State::Lost),
        };
        let half = &mut self.halves[side];
        half.state = state;
        let plain_response = !half.request_side && body.encoding.as_deref().is_none_or(|e| e == "identity");
        let quiet = !half.request_side && !self.responses;
        half.open = Some(Box::new(Open {
            keep: if !self.keep_bodies {
                0
            } else if plain_response {
                KEEP_PLAIN_RESPONSE
            } else {
                KEEP_BODY
            },
            frame: start_frame,
            ts,
            record,
            plain: plain_response,
            encoding: body.encoding,
            body: Vec::new(),
            body_len: 0,
            incomplete: false,
            quiet,
        }));
        // A message whose length cannot be trusted is written now, bodiless; what follows
        // is searched for the next message (a request smuggled in its body, as Zeek reads it).
        if state == State::Done || state == State::Lost {
            half.finish(info, dir, out);
        }
        Some(len)
    }

    pub fn gap(&mut self, info: &ConnInfo, dir: Dir, len: u64, out: &mut Vec<Event>) {
        let side = self.side(dir);
        let half = &mut self.halves[side];
        if let Some(open) = half.open.as_mut() {
            open.incomplete = true;
        }
        match half.state {
            State::Length(rem) if len <= rem && half.buf.is_empty() => {
                half.state = State::Length(rem - len);
                half.body_len_only(len);
                if rem == len {
                    half.state = State::Head;
                    half.finish(info, dir, out);
                }
            }
            State::UntilClose => half.body_len_only(len),
            State::Done => {}
            _ => {
                half.finish(info, dir, out);
                half.buf.clear();
                half.state = State::Lost;
            }
        }
    }

    pub fn end(&mut self, info: &ConnInfo, out: &mut Vec<Event>) {
        for (side, dir) in [(0, self.req_dir), (1, self.req_dir.flip())] {
            let half = &mut self.halves[side];
            if let Some(open) = half.open.as_mut()
                && half.state != State::UntilClose
            {
                open.incomplete = true;
            }
            half.finish(info, dir, out);
        }
    }
}

/// Counts body bytes and keeps the first of them (see [`Open::keep`]).
fn add_body(open: &mut Option<Box<Open>>, data: &[u8]) {
    if let Some(open) = open.as_mut() {
        open.body_len += data.len() as u64;
        let room = open.keep.saturating_sub(open.body.len());
        if room == 0 {
            return;
        }
        let before = open.body.len();
        open.body.extend_from_slice(&data[..room.min(data.len())]);
        // An uncompressed page whose title has ended, with its preview in: the rest is
        // only counted (copying 4 KB of every page was a sixth of a report's time).
        if open.plain && open.body.len() >= PREVIEW {
            let from = if before < PREVIEW + 8 { 0 } else { before - 8 };
            let tail = &open.body[from..];
            static END: std::sync::LazyLock<[memchr::memmem::Finder<'static>; 2]> = std::sync::LazyLock::new(|| {
                [memchr::memmem::Finder::new(b"</title"), memchr::memmem::Finder::new(b"</TITLE")]
            });
            if END.iter().any(|f| f.find(tail).is_some()) {
                open.keep = open.body.len();
            }
        }
    }
}

/// Characters of a response body shown as its preview.
const PREVIEW: usize = 160;

impl Half {
    /// Fast path: body bytes with nothing buffered are counted in place, not copied.
    /// Returns what is left for the message reader, `None` when nothing is.
    #[inline]
    fn body_in_place<'a>(
        &mut self,
        info: &ConnInfo,
        dir: Dir,
        data: &'a [u8],
        out: &mut Vec<Event>,
    ) -> Option<&'a [u8]> {
        if !self.buf.is_empty() {
            return Some(data);
        }
        match self.state {
            State::Length(rem) if rem > 0 => {
                let n = rem.min(data.len() as u64) as usize;
                add_body(&mut self.open, &data[..n]);
                self.state = State::Length(rem - n as u64);
                if rem == n as u64 {
                    self.state = State::Head;
                    self.finish(info, dir, out);
                }
                let rest = &data[n..];
                (!rest.is_empty()).then_some(rest)
            }
            State::UntilClose | State::Done => {
                add_body(&mut self.open, data);
                None
            }
            _ => (!data.is_empty()).then_some(data),
        }
    }

    /// Keeps the buffered remainder bounded: a head larger than `MAX_HEAD` is skipped (with
    /// a notice), and a lost stream keeps only the bytes a resync may need. `advanced` says
    /// whether this segment's bytes were read, so the remainder now starts in `frame`.
    fn bound_buffer(&mut self, info: &ConnInfo, dir: Dir, frame: u64, ts: i64, advanced: bool, out: &mut Vec<Event>) {
        if self.state == State::Head && self.buf.len() > MAX_HEAD {
            out.push(Event::on(
                info,
                dir,
                self.buf_frame,
                ts,
                notice(format!("header block larger than {MAX_HEAD} bytes, skipped")),
            ));
            self.buf.clear();
            self.state = State::Lost;
        }
        if self.state == State::Lost && self.buf.len() > MAX_HEAD {
            let keep = self.buf.len() - 16;
            self.buf.drain(..keep);
        }
        if !self.buf.is_empty() && advanced {
            self.buf_frame = frame;
        }
    }

    fn body_len_only(&mut self, len: u64) {
        if let Some(open) = self.open.as_mut() {
            open.body_len += len;
        }
    }

    /// Steps the chunked decoder; returns bytes consumed or `None` for more data.
    fn chunked(&mut self, c: Chunk, avail: &[u8], info: &ConnInfo, dir: Dir, out: &mut Vec<Event>) -> Option<usize> {
        match c {
            Chunk::Size => {
                let Some(nl) = memchr::memchr(b'\n', avail) else {
                    if avail.len() > 1024 {
                        let n = avail.len();
                        self.lose(info, dir, "chunk size line too long", out);
                        return Some(n);
                    }
                    return None;
                };
                let line = &avail[..nl];
                let digits = line.split(|b| *b == b';').next().unwrap_or(&[]);
                let digits = digits.trim_ascii();
                match parse_hex(digits) {
                    Some(0) => self.state = State::Chunked(Chunk::Trailer),
                    Some(n) => self.state = State::Chunked(Chunk::Data(n)),
                    None => {
                        self.lose(info, dir, "invalid or overflowing chunk size", out);
                        return Some(nl + 1);
                    }
                }
                Some(nl + 1)
            }
            Chunk::Data(rem) => {
                let n = rem.min(avail.len() as u64) as usize;
                add_body(&mut self.open, &avail[..n]);
                self.state = State::Chunked(if rem == n as u64 { Chunk::DataEnd } else { Chunk::Data(rem - n as u64) });
                Some(n)
            }
            Chunk::DataEnd => {
                if avail.starts_with(b"\r\n") {
                    self.state = State::Chunked(Chunk::Size);
                    Some(2)
                } else if avail.starts_with(b"\n") {
                    self.state = State::Chunked(Chunk::Size);
                    Some(1)
                } else if avail.len() < 2 {
                    None
                } else {
                    self.lose(info, dir, "chunk not followed by CRLF", out);
                    Some(0)
                }
            }
            Chunk::Trailer => {
                let Some(nl) = memchr::memchr(b'\n', avail) else {
                    return if avail.len() > MAX_HEAD { Some(avail.len()) } else { None };
                };
                if avail[..nl].trim_ascii().is_empty() {
                    self.state = State::Head;
                    self.finish(info, dir, out);
                }
                Some(nl + 1)
            }
        }
    }

    fn lose(&mut self, info: &ConnInfo, dir: Dir, why: &str, out: &mut Vec<Event>) {
        let frame = self.open.as_ref().map_or(self.buf_frame, |o| o.frame);
        out.push(Event::on(info, dir, frame, 0, notice(why.to_string())));
        if let Some(o) = self.open.as_mut() {
            o.incomplete = true;
        }
        self.finish(info, dir, out);
        self.state = State::Lost;
    }

    /// Emits the open message, if any.
    fn finish(&mut self, info: &ConnInfo, dir: Dir, out: &mut Vec<Event>) {
        let Some(open) = self.open.take() else { return };
        if open.quiet {
            return;
        }
        let open = *open;
        let mut record = open.record;
        match &mut record {
            Record::HttpRequest(req) => {
                req.body_len = open.body_len;
                req.incomplete = open.incomplete;
                let body = decode_body(&open.body, open.encoding.as_deref());
                req.fields.extend(body_fields(req.content_type.as_deref(), &body));
            }
            Record::HttpResponse(resp) => {
                resp.body_len = open.body_len;
                resp.incomplete = open.incomplete;
                let body = decode_body(&open.body, open.encoding.as_deref());
                let is_html = resp.content_type.as_deref().is_some_and(|c| c.contains("html"));
                if is_html || looks_like_html(&body) {
                    resp.title = html_title(&body);
                }
                resp.sniffed_type = mime::sniff(&body).map(std::borrow::Cow::Borrowed);
                let text = String::from_utf8_lossy(&body[..body.len().min(PREVIEW)]);
                let end = text.char_indices().nth(120).map_or(text.len(), |(i, _)| i);
                resp.body_preview = text[..end].to_string();
            }
            _ => {}
        }
        out.push(Event::on(info, dir, open.frame, open.ts, record));
    }
}

fn notice(message: String) -> Record {
    Record::Notice { protocol: "http".into(), message }
}

/// How a message's body is delimited.
struct BodyInfo {
    length: Option<u64>,
    chunked: bool,
    encoding: Option<String>,
    bad_length: bool,
}

impl BodyInfo {
    fn state(&self, response: bool) -> State {
        if self.chunked {
            State::Chunked(Chunk::Size)
        } else if self.bad_length {
            State::Lost
        } else if let Some(n) = self.length {
            State::Length(n)
        } else if response {
            State::UntilClose
        } else {
            State::Length(0)
        }
    }
}

type Parsed = Result<Option<(usize, Record, BodyInfo)>, String>;

/// `b` as text, invalid UTF-8 replaced. Nearly every header is ASCII, which `is_ascii`
/// checks a word at a time (`from_utf8_lossy` goes byte by byte, and `from_utf8` costs
/// a hundred instructions on a short value).
fn text(b: &[u8]) -> String {
    if b.is_ascii() {
        // SAFETY: ASCII bytes are valid UTF-8.
        return unsafe { String::from_utf8_unchecked(b.to_vec()) };
    }
    String::from_utf8_lossy(b).into_owned()
}

fn body_info(headers: &[httparse::Header<'_>]) -> BodyInfo {
    let mut info = BodyInfo { length: None, chunked: false, encoding: None, bad_length: false };
    for h in headers {
        if h.name.eq_ignore_ascii_case("content-length") {
            // Digits only: `+3`, `-1` and overflowing values are refused, as hyper does.
            let v = h.value.trim_ascii();
            match std::str::from_utf8(v)
                .ok()
                .filter(|s| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
                .and_then(|s| s.parse().ok())
            {
                Some(n) if info.length.is_none_or(|m| m == n) => info.length = Some(n),
                _ => info.bad_length = true,
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            info.chunked = text(h.value).to_ascii_lowercase().trim_end().ends_with("chunked");
        } else if h.name.eq_ignore_ascii_case("content-encoding") {
            info.encoding = Some(text(h.value).trim().to_ascii_lowercase());
        }
    }
    info
}

/// `HTTP/1.x` from httparse's minor version (1 when it gave none).
fn http1_version(minor: Option<u8>) -> String {
    match minor.unwrap_or(1) {
        0 => "HTTP/1.0".to_string(),
        1 => "HTTP/1.1".to_string(),
        n => format!("HTTP/1.{n}"),
    }
}

/// Parses a request head. `Ok(None)`: incomplete.
fn parse_request(b: &[u8]) -> Parsed {
    let mut hs = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut hs);
    let mut cfg = httparse::ParserConfig::default();
    cfg.allow_multiple_spaces_in_request_line_delimiters(true);
    cfg.ignore_invalid_headers_in_requests(true);
    match cfg.parse_request(&mut req, b) {
        Ok(httparse::Status::Complete(n)) => {
            let version = http1_version(req.version);
            let r = request(req.method.unwrap_or(""), req.path.unwrap_or(""), version, req.headers, None);
            Ok(Some((n, Record::HttpRequest(r), body_info(req.headers))))
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(e) => match lenient::head(b, true) {
            Ok(None) => Ok(None),
            Ok(Some(h)) => {
                let headers: Vec<httparse::Header<'_>> =
                    h.headers.iter().map(|(n, v)| httparse::Header { name: n, value: v }).collect();
                let [method, uri, version] = h.parts;
                let r = request(&method, &uri, version, &headers, Some(h.non_conforming.join("; ")));
                Ok(Some((h.len, Record::HttpRequest(r), body_info(&headers))))
            }
            Err(()) => Err(format!("not an HTTP request head: {e}")),
        },
    }
}

fn request(
    method: &str,
    uri: &str,
    version: String,
    headers: &[httparse::Header<'_>],
    non_conforming: Option<String>,
) -> Request {
    let mut fields = query_fields(uri);
    fields.retain(|f| !f.name.is_empty());
    let mut r = Request {
        method: method.to_string(),
        uri: uri.to_string(),
        version,
        host: None,
        user_agent: None,
        referer: None,
        cookies: Vec::new(),
        authorization: None,
        content_type: None,
        body_len: 0,
        fields,
        incomplete: false,
        non_conforming,
    };
    // One pass over the headers; of a header that should come once, the first counts.
    let mut buf = [0u8; NAME_BUF];
    for h in headers {
        match lower_name(h.name, &mut buf) {
            b"host" => first_of(&mut r.host, h.value),
            b"user-agent" => first_of(&mut r.user_agent, h.value),
            b"referer" => first_of(&mut r.referer, h.value),
            b"cookie" => r.cookies.push(text(h.value)),
            b"authorization" if r.authorization.is_none() => r.authorization = Some(authorization(text(h.value))),
            b"content-type" => first_of(&mut r.content_type, h.value),
            _ => {}
        }
    }
    r
}

/// Sets `slot` to the header value `v` unless an earlier header of the name did.
fn first_of(slot: &mut Option<String>, v: &[u8]) {
    if slot.is_none() {
        *slot = Some(text(v));
    }
}

/// Longest header name [`lower_name`] compares (`strict-transport-security` and a margin).
const NAME_BUF: usize = 32;

/// A header's name in lower case, in `buf`; empty when too long to be one of ours.
fn lower_name<'a>(name: &str, buf: &'a mut [u8; NAME_BUF]) -> &'a [u8] {
    let n = name.as_bytes();
    if n.len() > NAME_BUF {
        return &[];
    }
    for (d, c) in buf.iter_mut().zip(n) {
        *d = c.to_ascii_lowercase();
    }
    &buf[..n.len()]
}

/// Parses a response head. `Ok(None)`: incomplete. Not `full`: the record holds the
/// status only (see [`HttpConn::responses`]).
fn parse_response(b: &[u8], full: bool) -> Parsed {
    let mut hs = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut hs);
    let mut cfg = httparse::ParserConfig::default();
    cfg.allow_obsolete_multiline_headers_in_responses(true);
    cfg.allow_spaces_after_header_name_in_responses(true);
    cfg.allow_multiple_spaces_in_response_status_delimiters(true);
    match cfg.parse_response(&mut resp, b) {
        Ok(httparse::Status::Complete(n)) if !full => {
            let r = Response { status: resp.code.unwrap_or(0), ..Response::default() };
            Ok(Some((n, Record::HttpResponse(r), body_info(resp.headers))))
        }
        Ok(httparse::Status::Complete(n)) => {
            let version = http1_version(resp.version);
            let r = response(resp.code.unwrap_or(0), resp.reason.unwrap_or(""), version, resp.headers, None);
            Ok(Some((n, Record::HttpResponse(r), body_info(resp.headers))))
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(e) => match lenient::head(b, false) {
            Ok(None) => Ok(None),
            Ok(Some(h)) => {
                let headers: Vec<httparse::Header<'_>> =
                    h.headers.iter().map(|(n, v)| httparse::Header { name: n, value: v }).collect();
                let [version, code, reason] = h.parts;
                let r =
                    response(code.parse().unwrap_or(0), &reason, version, &headers, Some(h.non_conforming.join("; ")));
                Ok(Some((h.len, Record::HttpResponse(r), body_info(&headers))))
            }
            Err(()) => Err(format!("not an HTTP response head: {e}")),
        },
    }
}

fn response(
    status: u16,
    reason: &str,
    version: String,
    headers: &[httparse::Header<'_>],
    non_conforming: Option<String>,
) -> Response {
    let mut r = Response { status, reason: reason.to_string(), version, non_conforming, ..Response::default() };
    let mut proxy = Vec::new();
    let mut buf = [0u8; NAME_BUF];
    for h in headers {
        match lower_name(h.name, &mut buf) {
            b"content-type" => first_of(&mut r.content_type, h.value),
            b"content-encoding" => first_of(&mut r.content_encoding, h.value),
            b"transfer-encoding" => first_of(&mut r.transfer_encoding, h.value),
            b"set-cookie" => r.set_cookies.push(text(h.value)),
            b"location" => first_of(&mut r.location, h.value),
            b"strict-transport-security" => first_of(&mut r.hsts, h.value),
            b"www-authenticate" => r.authenticate.push(text(h.value)),
            b"proxy-authenticate" => proxy.push(text(h.value)),
            _ => {}
        }
    }
    // The server's challenges first, then the proxy's.
    r.authenticate.append(&mut proxy);
    r
}

/// An HTTP message that is a whole UDP datagram (SSDP, UPnP: `M-SEARCH * HTTP/1.1`,
/// `NOTIFY`, and their `HTTP/1.1 200 OK` answers).
pub fn datagram(b: &[u8]) -> Option<Record> {
    let parsed = if b.starts_with(b"HTTP/1.") { parse_response(b, true) } else { parse_request(b) };
    match parsed {
        Ok(Some((_, record, _))) => Some(record),
        _ => None,
    }
}

/// Parses a chunk-size in hex; `None` when empty, not hex or larger than 2^60.
fn parse_hex(d: &[u8]) -> Option<u64> {
    if d.is_empty() || d.len() > 15 {
        return None;
    }
    let mut n = 0u64;
    for c in d {
        n = n * 16 + (*c as char).to_digit(16)? as u64;
    }
    Some(n)
}

/// Where the next message plausibly starts in `b`.
fn resync(b: &[u8], request_side: bool) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = memchr::memmem::find(&b[from..], b"HTTP/1.") {
        let at = from + i;
        if request_side {
            let line_start = b[..at].iter().rposition(|c| *c == b'\n').map_or(0, |p| p + 1);
            if looks_like_request(&b[line_start..]) && (line_start > 0 || from == 0) {
                return Some(line_start);
            }
        } else if at == 0 || b[at - 1] == b'\n' {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn info() -> ConnInfo {
        ConnInfo {
            id: 0,
            client: "192.0.2.10:40000".parse().unwrap(),
            server: "198.51.100.10:80".parse().unwrap(),
            first_frame: 1,
            first_ts: 0,
        }
    }

    fn run(req: &[u8], resp: &[u8], step: usize) -> Vec<Record> {
        let mut c = HttpConn::new(Dir::ToServer);
        let mut out = Vec::new();
        for (i, ch) in req.chunks(step).enumerate() {
            c.data(&info(), Dir::ToServer, ch, i as u64 + 1, 0, &mut out);
        }
        for (i, ch) in resp.chunks(step).enumerate() {
            c.data(&info(), Dir::ToClient, ch, 1000 + i as u64, 0, &mut out);
        }
        c.end(&info(), &mut out);
        out.into_iter().map(|e| e.record).collect()
    }

    const LOGIN: &[u8] = b"POST /login HTTP/1.1\r\nHost: clinic.test\r\nCookie: sid=abc123\r\nAuthorization: Basic YWxpY2U6czNjcmV0\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 30\r\n\r\nusername=alice&password=hunter\
GET /account HTTP/1.1\r\nHost: clinic.test\r\n\r\n";

    #[test]
    fn pipelined_requests_and_chunked_gzip_response() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"<html><head><title>My &amp; account</title></head></html>").unwrap();
        let gz = gz.finish().unwrap();
        let mut resp = b"HTTP/1.1 303 See Other\r\nLocation: /account\r\nSet-Cookie: sid=new; HttpOnly\r\nContent-Length: 0\r\n\r\n".to_vec();
        resp.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n");
        let (a, b) = gz.split_at(10);
        for part in [a, b] {
            resp.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
            resp.extend_from_slice(part);
            resp.extend_from_slice(b"\r\n");
        }
        resp.extend_from_slice(b"0\r\n\r\n");
        let req = LOGIN;
        for step in [1, 3, 7, 4096] {
            let recs = run(req, &resp, step);
            let Record::HttpRequest(login) = &recs[0] else { panic!("{recs:?}") };
            assert_eq!(login.method, "POST");
            assert_eq!(login.cookies, vec!["sid=abc123"]);
            let auth = login.authorization.as_ref().unwrap();
            assert_eq!((auth.user.as_deref(), auth.password.as_deref()), (Some("alice"), Some("s3cret")));
            assert_eq!(login.fields[0].name, "username");
            assert_eq!(login.fields[1].value, "hunter");
            let reqs: Vec<_> = recs
                .iter()
                .filter_map(|r| match r {
                    Record::HttpRequest(r) => Some(r.uri.as_str()),
                    _ => None,
                })
                .collect();
            assert_eq!(reqs, vec!["/login", "/account"]);
            let resps: Vec<_> = recs
                .iter()
                .filter_map(|r| match r {
                    Record::HttpResponse(r) => Some(r),
                    _ => None,
                })
                .collect();
            assert_eq!(resps[0].status, 303);
            assert_eq!(resps[0].set_cookies, vec!["sid=new; HttpOnly"]);
            assert_eq!(resps[1].title.as_deref(), Some("My & account"));
            assert_eq!(resps[1].for_uri.as_deref(), Some("/account"));
            assert_eq!(resps[1].body_len, gz.len() as u64);
        }
    }

    #[test]
    fn keep_alive_matches_responses_in_order() {
        let req =
            b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nHEAD /b HTTP/1.1\r\nHost: h\r\n\r\nGET /c HTTP/1.1\r\nHost: h\r\n\r\n";
        let resp = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        let recs = run(req, resp, 5);
        let got: Vec<_> = recs
            .iter()
            .filter_map(|r| match r {
                Record::HttpResponse(r) => Some((r.status, r.for_uri.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(
            got,
            vec![(100, None), (200, Some("/a".into())), (200, Some("/b".into())), (404, Some("/c".into()))]
        );
    }

    #[test]
    fn until_close_body_and_gap_in_body() {
        let mut c = HttpConn::new(Dir::ToServer);
        let mut out = Vec::new();
        c.data(&info(), Dir::ToServer, b"GET / HTTP/1.0\r\n\r\n", 1, 0, &mut out);
        c.data(
            &info(),
            Dir::ToClient,
            b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<title>T</title>",
            2,
            0,
            &mut out,
        );
        c.gap(&info(), Dir::ToClient, 100, &mut out);
        c.data(&info(), Dir::ToClient, b"tail", 3, 0, &mut out);
        c.end(&info(), &mut out);
        let Record::HttpResponse(r) = &out[1].record else { panic!() };
        assert_eq!(r.body_len, 16 + 100 + 4);
        assert_eq!(r.title.as_deref(), Some("T"));
    }

    #[test]
    fn bad_content_length_and_overflowing_chunk_are_refused() {
        let recs = run(b"POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\nabc", b"", 100);
        assert!(recs.iter().any(|r| matches!(r, Record::HttpRequest(_))));
        let recs = run(
            b"GET / HTTP/1.1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\n",
            100,
        );
        assert!(recs.iter().any(|r| matches!(r, Record::Notice { .. })), "{recs:?}");
    }

    #[test]
    fn title_is_found_in_any_case() {
        assert_eq!(html_title(b"<HTML><Head><TITLE lang=en>  A  &amp; B </Title>").as_deref(), Some("A & B"));
        assert_eq!(html_title(b"<title>unterminated"), None);
        assert_eq!(html_title(b"no title here <titl"), None);
    }

    #[test]
    fn json_and_digest() {
        let f = body_fields(Some("application/json"), br#"{"user":{"email":"a@b.c","password":"pw"},"n":3}"#);
        assert_eq!(f.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), vec!["n", "user.email", "user.password"]);
        let a = authorization(r#"Digest username="bob", realm="x", response="abc""#.to_string());
        assert_eq!(a.user.as_deref(), Some("bob"));
        assert_eq!(a.password, None);
    }

    #[test]
    fn basic_credentials_split_at_the_first_colon_whatever_their_bytes() {
        let basic = |raw: &str| {
            let a = authorization(raw.to_string());
            (a.scheme, a.raw, a.user.unwrap_or_default(), a.password.unwrap_or_default())
        };
        // "alice:pa:ss", with padding spaces kept in `raw`.
        let (scheme, raw, user, pass) = basic(" Basic YWxpY2U6cGE6c3M= ");
        assert_eq!(
            (scheme.as_str(), raw.as_str(), user.as_str(), pass.as_str()),
            ("Basic", " Basic YWxpY2U6cGE6c3M= ", "alice", "pa:ss")
        );
        // No colon: all of it is the user. Bytes that are not UTF-8 are replaced, not lost.
        assert_eq!(basic("basic Ym9i").2, "bob");
        assert_eq!(basic("basic Ym9i").3, "");
        assert_eq!(basic("Basic /zpwdw==").2, "\u{fffd}");
        assert_eq!(basic("Basic /zpwdw==").3, "pw");
        // Not base64: no user.
        assert_eq!(authorization("Basic !!".to_string()).user, None);
    }

    /// A weather station's upload (a real device's version `HTTP/1.0.8`): read as it was
    /// meant, its password found, and flagged non-conforming; its answer matched to it.
    #[test]
    fn a_device_that_gets_the_version_wrong_still_leaks() {
        let req = b"GET /weatherstation/updateweatherstation.php?ID=KXX1&PASSWORD=hunter22&tempf=50 HTTP/1.0.8\r\nHost: rtupdate.example\r\n\r\n";
        let resp = b"HTTP/1.0 200 OK\r\nContent-Length: 7\r\n\r\nsuccess";
        for step in [1, 7, req.len()] {
            let recs = run(req, resp, step);
            let Record::HttpRequest(r) = &recs[0] else { panic!("{recs:?}") };
            assert_eq!((r.method.as_str(), r.version.as_str()), ("GET", "HTTP/1.0.8"));
            assert_eq!(r.host.as_deref(), Some("rtupdate.example"));
            assert!(r.fields.iter().any(|f| f.name == "PASSWORD" && f.value == "hunter22"), "{r:?}");
            assert_eq!(r.non_conforming.as_deref(), Some("an HTTP version that does not exist"));
            let Record::HttpResponse(a) = &recs[1] else { panic!("{recs:?}") };
            assert_eq!((a.status, a.for_uri.as_deref()), (200, Some(r.uri.as_str())));
        }
    }

    #[test]
    fn resync_after_garbage() {
        let mut c = HttpConn::new(Dir::ToServer);
        let mut out = Vec::new();
        c.data(&info(), Dir::ToServer, b"GET / HTTP/1.1\r\n", 1, 0, &mut out);
        c.gap(&info(), Dir::ToServer, 10, &mut out);
        c.data(&info(), Dir::ToServer, b"junk\r\nGET /next HTTP/1.1\r\nHost: h\r\n\r\n", 2, 0, &mut out);
        let uris: Vec<_> = out
            .iter()
            .filter_map(|e| match &e.record {
                Record::HttpRequest(r) => Some(r.uri.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(uris, vec!["/next"]);
    }
}

//! Dissectors: what the reassembled bytes say. HTTP/1.x ([`http`]), TLS ([`tls`]), DNS
//! ([`dns`]) and QUIC's Initials ([`quic`], over UDP), each recognised by content rather than by port (DNS over TCP excepted, whose
//! messages carry no signature).
//!
//! Each dissector turns bytes into [`Record`]s: plain owned data, the unit that crosses
//! into the findings stage and into `--format jsonl`. [`ConnApp`] is the per-connection
//! state the reassembler drives; it picks a dissector from the first bytes of the stream.
//! [`udp`] keeps a record per UDP flow, bounded.

pub mod ber;
pub mod dns;
pub mod ftp;
pub mod http;
pub mod kerberos;
pub mod ldap;
pub mod login;
pub mod ntlm;
pub mod quic;
pub mod smtp;
pub mod snmp;
pub mod telnet;
pub mod tls;
pub mod udp;

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::analysis::flow::Service;
use crate::analysis::prefetch;
use crate::analysis::reassembly::{ConnInfo, Dir, End, Limits, StreamApp};

/// One thing a dissector read off the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    HttpRequest(http::Request),
    HttpResponse(http::Response),
    TlsClientHello(tls::ClientHello),
    TlsServerHello(tls::ServerHello),
    TlsCertificate(tls::Certificate),
    TlsAlert(tls::Alert),
    /// The TLS handshake finished (Zeek's `ssl_established`).
    TlsEstablished(tls::Established),
    /// Totals of a TLS connection: what the encrypted part still shows (counts, sizes).
    TlsTraffic(tls::Traffic),
    Dns(dns::Message),
    /// Totals of a QUIC connection: its IDs, and packets and bytes each way (all but the
    /// Initials encrypted).
    Quic(quic::QuicConnection),
    /// A TCP connection, when it ends (every one, whatever it carried).
    Connection(crate::analysis::flow::Connection),
    /// A UDP flow, at the capture's end.
    UdpFlow(crate::analysis::flow::UdpFlow),
    /// A tunnel's first packet: what is inside it is analysed as any other traffic.
    Tunnel(crate::analysis::flow::TunnelSeen),
    /// A login sent in clear in FTP, POP3, IMAP or SMTP.
    Login(login::Login),
    /// An FTP command and the server's reply (a line of Zeek's ftp.log).
    Ftp(ftp::FtpCommand),
    /// An SMTP mail transaction (a line of Zeek's smtp.log).
    Smtp(smtp::SmtpMessage),
    /// What the first bytes of a stream no protocol reader took are, as Zeek's file
    /// signatures name them: an FTP data connection's file, say. Once per direction.
    Content(Content),
    /// A request to upgrade such a session to TLS, and the answer.
    StartTls(login::StartTls),
    /// A session that stays in clear: no upgrade to TLS was offered, or the offer was
    /// removed on the way.
    NoTls(login::NoTls),
    /// Something the dissector could not follow (oversized header, lost sync, ...).
    Notice {
        protocol: std::borrow::Cow<'static, str>,
        message: String,
    },
}

/// The first bytes of one direction of an unrecognised stream, by their type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Content {
    /// Named as Zeek's `file-mime` signatures name it (see [`http::mime`]).
    pub mime_type: String,
}

/// A record with where it was seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Frame that carried the start of the message.
    pub frame: u64,
    /// Capture time, microseconds since the Unix epoch.
    pub ts: i64,
    /// Connection id (TCP only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conn: Option<u64>,
    /// Sender and receiver of the message.
    #[serde(serialize_with = "crate::analysis::flow::serialize_addr")]
    pub src: SocketAddr,
    #[serde(serialize_with = "crate::analysis::flow::serialize_addr")]
    pub dst: SocketAddr,
    #[serde(flatten)]
    pub record: Record,
}

impl Event {
    /// An event on a TCP connection, addressed by direction.
    pub fn on(info: &ConnInfo, dir: Dir, frame: u64, ts: i64, record: Record) -> Event {
        let (src, dst) = match dir {
            Dir::ToServer => (info.client, info.server),
            Dir::ToClient => (info.server, info.client),
        };
        Event { frame, ts, conn: Some(info.id), src, dst, record }
    }
}

/// Bytes to look at before deciding what a stream is.
const SNIFF: usize = 16;
/// Bytes of an unrecognised stream searched for HTTP or TLS further in (behind a SOCKS
/// or other proxy handshake).
const SCAN: usize = 1024;

enum Proto {
    /// Not yet known: the first bytes each way, held, and the frames they began in.
    Undecided {
        held: [Vec<u8>; 2],
        frames: [u64; 2],
    },
    Http(http::HttpConn),
    Tls(Box<tls::TlsConn>),
    Dns(Box<dns::DnsTcp>),
    /// FTP, POP3, IMAP or SMTP: read for logins until an upgrade to TLS.
    Login(Box<login::LoginConn>),
    /// LDAP: read for simple binds until StartTLS.
    Ldap(Box<ldap::LdapConn>),
    /// Telnet: what is typed at the login prompts.
    Telnet(Box<telnet::TelnetConn>),
    /// Not recognised at the start: the first bytes of each way are searched.
    Unknown([Vec<u8>; 2]),
    Other,
}

/// Where HTTP or TLS begins inside `b`, if it does.
fn embedded_start(b: &[u8]) -> Option<(usize, bool)> {
    (0..b.len()).find_map(|i| {
        let rest = &b[i..];
        if looks_like_request(rest) {
            Some((i, true))
        } else if rest.len() >= 6 && rest[0] == 22 && rest[1] == 3 && rest[2] <= 4 && rest[5] == 1 {
            Some((i, false))
        } else {
            None
        }
    })
}

/// What the login reader read, as events: logins from the client, answers to an upgrade
/// from the server.
fn login_events(info: &ConnInfo, dir: Dir, read: Vec<login::Stamped>, out: &mut Vec<Event>) {
    for s in read {
        let (dir, record) = match s.read {
            login::Read::Login(l) => (Dir::ToServer, Record::Login(l)),
            login::Read::StartTls(t) => (dir, Record::StartTls(t)),
            login::Read::NoTls(n) => (dir, Record::NoTls(n)),
            login::Read::Ftp(c) => (Dir::ToServer, Record::Ftp(c)),
            login::Read::Smtp(m) => (Dir::ToServer, Record::Smtp(*m)),
        };
        out.push(Event::on(info, dir, s.frame, s.ts, record));
    }
}

/// Per-connection dissection state.
pub struct ConnApp {
    proto: Proto,
    /// Payload bytes each way.
    bytes: [u64; 2],
    keep_bodies: bool,
    /// Whether the connection's summary is written when it ends ([`Limits::summaries`]).
    summaries: bool,
    /// Whether HTTP responses are written ([`Limits::responses`]).
    responses: bool,
    /// NTLM and Kerberos looked for in what is not HTTP or TLS (once such a stream is seen).
    ntlm: Option<Box<ntlm::NtlmScan>>,
    kerberos: Option<Box<kerberos::KerberosTcp>>,
    /// Set when the streams are over: what they were read as.
    service: Option<Option<Service>>,
}

/// Whether `b` starts like an HTTP request line (a known method and a space).
pub fn looks_like_request(b: &[u8]) -> bool {
    const METHODS: &[&[u8]] = &[
        b"GET ",
        b"POST ",
        b"HEAD ",
        b"PUT ",
        b"DELETE ",
        b"OPTIONS ",
        b"TRACE ",
        b"CONNECT ",
        b"PATCH ",
        b"PROPFIND ",
        b"PROPPATCH ",
        b"MKCOL ",
        b"COPY ",
        b"MOVE ",
        b"LOCK ",
        b"UNLOCK ",
        b"SEARCH ",
        b"REPORT ",
        b"QUERY ",
        b"NOTIFY ",
        b"SUBSCRIBE ",
        b"M-SEARCH ",
    ];
    METHODS.iter().any(|m| b.starts_with(m))
}

/// Whether `b` starts like a request line of any method, as devices write them: a known
/// method in any case (`OPTIONS` alone on its line too), or a token (`CCM_POST`) whose
/// line goes on to name an HTTP version. For the start of a stream or a datagram.
pub fn looks_like_any_request(b: &[u8]) -> bool {
    if looks_like_request(b) {
        return true;
    }
    let token = b.iter().take(25).take_while(|c| c.is_ascii_alphabetic() || **c == b'_' || **c == b'-').count();
    let after = b.get(token).copied();
    if token == 0 || !matches!(after, Some(b' ' | b'\r' | b'\n')) {
        return false;
    }
    if looks_like_request(&[&b[..token].to_ascii_uppercase()[..], b" "].concat()) {
        return true;
    }
    let line = &b[..b.len().min(1024)];
    let line = &line[..memchr::memchr(b'\n', line).unwrap_or(line.len())];
    after == Some(b' ')
        && b[..token].iter().all(|c| c.is_ascii_uppercase() || *c == b'_' || *c == b'-')
        && memchr::memmem::find(line, b"HTTP/").is_some()
}

/// Whether a prefix (possibly short) could still become a request line.
fn could_be_request(b: &[u8]) -> bool {
    b.len() < 10 && b.iter().all(|c| c.is_ascii_alphabetic() || *c == b'-' || *c == b'_')
}

impl ConnApp {
    /// What the stream is, from the bytes held so far in direction `dir`; `None` while
    /// too few to tell.
    fn decide(&self, info: &ConnInfo, dir: Dir) -> Option<Proto> {
        let Proto::Undecided { held, .. } = &self.proto else { return None };
        let b = &held[dir as usize];
        let port53 = info.server.port() == 53 || info.client.port() == 53;
        Some(if looks_like_any_request(b) {
            Proto::Http(self.http(http::HttpConn::new(dir)))
        } else if b.starts_with(b"HTTP/1.") {
            Proto::Http(self.http(http::HttpConn::new(dir.flip())))
        } else if tls::looks_like_tls(b) {
            Proto::Tls(Box::default())
        } else if port53 {
            Proto::Dns(Box::default())
        } else if login::looks_like(b, dir) {
            Proto::Login(Box::default())
        } else if dir == Dir::ToServer && ldap::looks_like(b) {
            Proto::Ldap(Box::default())
        } else if telnet::looks_like(b) {
            Proto::Telnet(Box::default())
        } else if b.len() < SNIFF && (could_be_request(b) || b"HTTP/1.".starts_with(b) || b.len() < 3) {
            return None;
        } else {
            Proto::Unknown(Default::default())
        })
    }
}

impl StreamApp for ConnApp {
    type Out = Vec<Event>;

    fn new(_: &ConnInfo, limits: &Limits) -> Self {
        ConnApp {
            proto: Proto::Undecided { held: Default::default(), frames: [0; 2] },
            bytes: [0; 2],
            keep_bodies: limits.keep_bodies,
            summaries: limits.summaries,
            responses: limits.responses,
            ntlm: None,
            kerberos: None,
            service: None,
        }
    }

    fn data(&mut self, info: &ConnInfo, dir: Dir, data: &[u8], frame: u64, ts: i64, out: &mut Vec<Event>) {
        self.bytes[dir as usize] += data.len() as u64;
        if let Proto::Undecided { held, frames } = &mut self.proto {
            let p = &mut held[dir as usize];
            if p.is_empty() {
                frames[dir as usize] = frame;
            }
            p.extend_from_slice(data);
            let Some(proto) = self.decide(info, dir) else { return };
            // Replay what was held, the deciding direction first.
            if let Proto::Undecided { held, frames } = std::mem::replace(&mut self.proto, proto) {
                for d in [dir, dir.flip()] {
                    if !held[d as usize].is_empty() {
                        self.dispatch(info, d, &held[d as usize], frames[d as usize], ts, out);
                    }
                }
            }
            return;
        }
        self.dispatch(info, dir, data, frame, ts, out);
    }

    fn gap(&mut self, info: &ConnInfo, dir: Dir, len: u64, out: &mut Vec<Event>) {
        match &mut self.proto {
            Proto::Http(h) => h.gap(info, dir, len, out),
            Proto::Tls(t) => t.gap(dir, len),
            Proto::Dns(d) => d.gap(dir),
            // A line cut by a hole cannot be trusted: stop reading.
            Proto::Login(_) | Proto::Ldap(_) | Proto::Telnet(_) => self.proto = Proto::Other,
            Proto::Undecided { held, .. } => held[dir as usize].clear(),
            Proto::Unknown(_) | Proto::Other => self.proto = Proto::Other,
        }
    }

    fn prefetch(&self) {
        match &self.proto {
            Proto::Http(h) => h.prefetch(),
            Proto::Tls(t) => prefetch::value(&**t),
            _ => {}
        }
    }

    fn close(&mut self, info: &ConnInfo, _why: End, out: &mut Vec<Event>) {
        if self.service.is_some() {
            return;
        }
        let service = match &mut self.proto {
            Proto::Http(h) => {
                h.end(info, out);
                Some(Service::Http)
            }
            Proto::Tls(t) => {
                t.end(info, out);
                Some(Service::Ssl)
            }
            Proto::Dns(_) => Some(Service::Dns),
            Proto::Login(l) => {
                let mut read = Vec::new();
                l.end(&mut read);
                login_events(info, Dir::ToServer, read, out);
                l.protocol().map(Service::from)
            }
            Proto::Ldap(_) => Some(Service::Ldap),
            Proto::Telnet(t) => {
                let mut logins = Vec::new();
                t.end(&mut logins);
                for l in logins {
                    out.push(Event::on(info, Dir::ToServer, info.first_frame, info.first_ts, Record::Login(l)));
                }
                Some(Service::Telnet)
            }
            _ => None,
        };
        self.service = Some(service);
        // Nothing more will be read: what the readers held goes now, while it is still in
        // cache, not when the connection stops lingering.
        self.proto = Proto::Other;
        self.ntlm = None;
        self.kerberos = None;
    }

    fn end(&mut self, info: &ConnInfo, why: End, tally: &crate::analysis::tally::Tally, out: &mut Vec<Event>) {
        self.close(info, why, out);
        if !self.summaries {
            return;
        }
        let service = self.service.flatten();
        let end = why;
        let c = crate::analysis::flow::Connection {
            community_id: crate::analysis::flow::community_id(crate::analysis::flow::TCP, info.client, info.server),
            service,
            bytes_to_server: self.bytes[Dir::ToServer as usize],
            bytes_to_client: self.bytes[Dir::ToClient as usize],
            missed_to_server: tally.missed[0],
            missed_to_client: tally.missed[1],
            packets_to_server: tally.pkts[0],
            packets_to_client: tally.pkts[1],
            ip_bytes_to_server: tally.ip_bytes[0],
            ip_bytes_to_client: tally.ip_bytes[1],
            duration_us: (tally.last_ts - info.first_ts).max(0),
            end,
            state: std::borrow::Cow::Borrowed(tally.conn_state(self.bytes)),
            history: tally.history_text().into(),
            tunnel_parent: None,
        };
        out.push(Event {
            frame: info.first_frame,
            ts: info.first_ts,
            conn: Some(info.id),
            src: info.client,
            dst: info.server,
            record: Record::Connection(c),
        });
    }
}

impl ConnApp {
    /// An HTTP reader for this connection: keeping bodies and writing responses as asked.
    fn http(&self, c: http::HttpConn) -> http::HttpConn {
        c.keep_bodies(self.keep_bodies).responses(self.responses)
    }

    /// The HTTP messages just read from `out[from..]`: NTLM in their authentication headers
    /// (a challenge, then the answer), and Digest answers.
    fn http_authentications(&mut self, info: &ConnInfo, from: usize, out: &mut Vec<Event>) {
        let mut found = Vec::new();
        for e in &out[from..] {
            let (dir, lines): (Dir, &[String]) = match &e.record {
                Record::HttpRequest(q) => match &q.authorization {
                    Some(a) if a.scheme.eq_ignore_ascii_case("digest") => {
                        found.extend(login::digest(&a.raw).map(|l| (e.frame, e.ts, l)));
                        continue;
                    }
                    Some(a) => (Dir::ToServer, std::slice::from_ref(&a.raw)),
                    None => continue,
                },
                Record::HttpResponse(r) => (Dir::ToClient, &r.authenticate),
                _ => continue,
            };
            for line in lines.iter().filter(|l| l.contains("TlRMTVNTUA")) {
                let mut logins = Vec::new();
                self.ntlm.get_or_insert_default().data(dir, format!("{line}\r\n").as_bytes(), &mut logins);
                found.extend(logins.into_iter().map(|l| (e.frame, e.ts, l)));
            }
        }
        for (frame, ts, l) in found {
            out.push(Event::on(info, Dir::ToServer, frame, ts, Record::Login(l)));
        }
    }

    /// After an accepted STARTTLS-style upgrade at `at` in `data`: the rest of the stream is
    /// TLS (a ClientHello names the server, and no more).
    #[allow(clippy::too_many_arguments)]
    fn upgrade_to_tls(
        &mut self,
        at: Option<usize>,
        info: &ConnInfo,
        dir: Dir,
        data: &[u8],
        frame: u64,
        ts: i64,
        out: &mut Vec<Event>,
    ) {
        let Some(at) = at else { return };
        self.proto = Proto::Tls(Box::default());
        if at < data.len() {
            self.dispatch(info, dir, &data[at..], frame, ts, out);
        }
    }

    fn dispatch(&mut self, info: &ConnInfo, dir: Dir, data: &[u8], frame: u64, ts: i64, out: &mut Vec<Event>) {
        match &mut self.proto {
            Proto::Http(h) => {
                let before = out.len();
                if h.data(info, dir, data, frame, ts, out) == http::Next::Stop {
                    // A tunnel (CONNECT, Upgrade): look for TLS or HTTP inside it.
                    self.proto = Proto::Unknown(Default::default());
                }
                self.http_authentications(info, before, out);
            }
            Proto::Tls(t) => t.data(info, dir, data, frame, ts, out),
            Proto::Dns(d) => d.data(info, dir, data, frame, ts, out),
            Proto::Login(l) => {
                let mut read = Vec::new();
                let tls_at = l.data(dir, data, frame, ts, &mut read);
                login_events(info, dir, read, out);
                self.upgrade_to_tls(tls_at, info, dir, data, frame, ts, out);
            }
            Proto::Ldap(l) => {
                let mut read = Vec::new();
                let tls_at = l.data(dir, data, &mut read);
                let read = read.into_iter().map(|read| login::Stamped { frame, ts, read }).collect();
                login_events(info, dir, read, out);
                self.upgrade_to_tls(tls_at, info, dir, data, frame, ts, out);
            }
            Proto::Telnet(t) => {
                let mut logins = Vec::new();
                t.data(dir, data, &mut logins);
                for l in logins {
                    out.push(Event::on(info, Dir::ToServer, frame, ts, Record::Login(l)));
                }
            }
            Proto::Unknown(scan) => {
                let client_sent = !scan[0].is_empty();
                let buf = &mut scan[dir as usize];
                if buf.is_empty()
                    && let Some(mime) = http::mime::sniff(data)
                {
                    let content = Content { mime_type: mime.to_string() };
                    out.push(Event::on(info, dir, frame, ts, Record::Content(content)));
                }
                buf.extend_from_slice(&data[..data.len().min(SCAN.saturating_sub(buf.len()))]);
                if let Some((at, is_http)) = embedded_start(buf) {
                    // What the other side sent so far belongs to the proxy handshake.
                    let rest = buf.split_off(at);
                    self.proto = if is_http {
                        Proto::Http(self.http(http::HttpConn::new(dir)))
                    } else {
                        Proto::Tls(Box::default())
                    };
                    self.dispatch(info, dir, &rest, frame, ts, out);
                } else if dir == Dir::ToClient && buf.starts_with(b"HTTP/1.") && client_sent {
                    // The server answers in HTTP what was not a request (a garbage request
                    // line, and its `400`): its responses are read, as Zeek logs them.
                    let answer = std::mem::take(buf);
                    self.proto = Proto::Http(self.http(http::HttpConn::answering_garbage()));
                    self.dispatch(info, dir, &answer, frame, ts, out);
                } else if scan.iter().all(|b| b.len() >= SCAN) {
                    self.proto = Proto::Other;
                }
            }
            Proto::Undecided { .. } | Proto::Other => {}
        }
        // SMB, DCE/RPC, LDAP, mail: NTLM may cross in any of them (HTTP's is read from its
        // headers; TLS hides it).
        if let Proto::Unknown(_) | Proto::Other | Proto::Login(_) | Proto::Ldap(_) = self.proto {
            let mut found = Vec::new();
            self.ntlm.get_or_insert_default().data(dir, data, &mut found);
            self.kerberos.get_or_insert_default().data(dir as usize, data, &mut found);
            for l in found {
                out.push(Event::on(info, Dir::ToServer, frame, ts, Record::Login(l)));
            }
        }
    }
}

//! `--format zeek --out DIR`: Zeek-style JSON logs (`conn.log`, `http.log`, `ssl.log`,
//! `dns.log`, `quic.log`, `tunnel.log`, `ftp.log`, `smtp.log`), so that tools built on Zeek's logs (Zeek clusters, Arkime,
//! Elastic and OpenSearch through Filebeat's Zeek module, Security Onion, Malcolm) ingest
//! what plainsight found unchanged. Field names are Zeek's where a field has a Zeek
//! equivalent; every line carries `uid` (the same for all records of one connection or
//! UDP flow) and conn.log the `community_id`. The fields of each log are listed in
//! `docs/events.md` ([`SCHEMA`], checked by a test). Secrets stay masked unless `--reveal`.
//!
//! HTTP requests wait for their response (one http.log line per transaction), TLS and
//! QUIC ClientHellos for their ServerHello (one ssl.log line per handshake), DNS queries
//! for their answer; whatever is still waiting when its connection ends, or the capture
//! does, is written as it is. At most [`MAX_WAITING`] of each wait; beyond, the oldest are
//! written.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::SocketAddr;
use std::path::Path;

use serde_json::{Map, Value, json};
use sha1::{Digest, Sha1};

use super::{CaptureSummary, Report, shown_record};
use crate::analysis::dissect::{Event, Record};
use crate::analysis::findings::Finding;
use crate::analysis::flow::{TCP, UDP, community_id};

/// The logs written, and the fields each line may carry.
pub const SCHEMA: &[(&str, &[&str])] = &[
    (
        "conn",
        &[
            "ts",
            "uid",
            "id.orig_h",
            "id.orig_p",
            "id.resp_h",
            "id.resp_p",
            "proto",
            "service",
            "duration",
            "orig_bytes",
            "resp_bytes",
            "conn_state",
            "missed_bytes",
            "history",
            "orig_pkts",
            "orig_ip_bytes",
            "resp_pkts",
            "resp_ip_bytes",
            "tunnel_parents",
            "community_id",
        ],
    ),
    (
        "http",
        &[
            "ts",
            "uid",
            "id.orig_h",
            "id.orig_p",
            "id.resp_h",
            "id.resp_p",
            "trans_depth",
            "method",
            "host",
            "uri",
            "referrer",
            "version",
            "user_agent",
            "request_body_len",
            "response_body_len",
            "status_code",
            "status_msg",
            "resp_mime_types",
            "username",
            "password",
            "cookie",
            "non_conforming",
        ],
    ),
    (
        "ssl",
        &[
            "ts",
            "uid",
            "id.orig_h",
            "id.orig_p",
            "id.resp_h",
            "id.resp_p",
            "version",
            "cipher",
            "server_name",
            "next_protocol",
            "established",
            "ja4",
            "client_alpn",
            "quic",
        ],
    ),
    (
        "dns",
        &[
            "ts",
            "uid",
            "id.orig_h",
            "id.orig_p",
            "id.resp_h",
            "id.resp_p",
            "proto",
            "trans_id",
            "query",
            "qclass",
            "qclass_name",
            "qtype",
            "qtype_name",
            "rcode",
            "rcode_name",
            "answers",
        ],
    ),
    (
        "quic",
        &[
            "ts",
            "uid",
            "id.orig_h",
            "id.orig_p",
            "id.resp_h",
            "id.resp_p",
            "version",
            "client_initial_dcid",
            "client_scid",
            "server_scid",
            "server_name",
            "client_protocol",
            "community_id",
        ],
    ),
    ("tunnel", &["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "tunnel_type", "action"]),
    (
        "ftp",
        &[
            "ts",
            "uid",
            "id.orig_h",
            "id.orig_p",
            "id.resp_h",
            "id.resp_p",
            "user",
            "password",
            "command",
            "arg",
            "mime_type",
            "file_size",
            "reply_code",
            "reply_msg",
            "data_channel.passive",
            "data_channel.orig_h",
            "data_channel.resp_h",
            "data_channel.resp_p",
        ],
    ),
    (
        "smtp",
        &[
            "ts",
            "uid",
            "id.orig_h",
            "id.orig_p",
            "id.resp_h",
            "id.resp_p",
            "trans_depth",
            "helo",
            "mailfrom",
            "rcptto",
            "date",
            "from",
            "to",
            "cc",
            "reply_to",
            "msg_id",
            "in_reply_to",
            "subject",
            "x_originating_ip",
            "first_received",
            "second_received",
            "last_reply",
            "path",
            "user_agent",
            "tls",
        ],
    ),
];

/// Transactions waiting for their other half, per kind, at most.
pub const MAX_WAITING: usize = 65_536;

/// A uid as Zeek writes them (`C` and base62), the same for every record of one flow: from
/// the flow's Community ID, and for TCP also the connection number (a port pair reused
/// later is another connection).
fn uid(e: &Event) -> String {
    uid_of(e.conn.map_or(UDP, |_| TCP), e.src, e.dst, e.conn)
}

/// The uid of a flow: its protocol, ends and (TCP) connection number.
fn uid_of(proto: u8, src: SocketAddr, dst: SocketAddr, conn: Option<u64>) -> String {
    let mut h = Sha1::new();
    h.update(community_id(proto, src, dst).as_bytes());
    h.update(conn.unwrap_or(u64::MAX).to_be_bytes());
    let mut n = u128::from_be_bytes(h.finalize()[..16].try_into().expect("20 bytes"));
    const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut s = String::from("C");
    for _ in 0..17 {
        s.push(DIGITS[(n % 62) as usize] as char);
        n /= 62;
    }
    s
}

/// `tunnel_parents`: the uid of the tunnel a flow came through (its tunnel.log line's).
fn tunnel_parents(m: &mut Map<String, Value>, outer: Option<[SocketAddr; 2]>) {
    if let Some([src, dst]) = outer {
        m.insert("tunnel_parents".into(), json!([uid_of(UDP, src, dst, None)]));
    }
}

/// `ts`, `uid` and the `id.*` fields, with the originator first.
fn base(e: &Event, orig: SocketAddr, resp: SocketAddr) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("ts".into(), json!(e.ts as f64 / 1e6));
    m.insert("uid".into(), json!(uid(e)));
    m.insert("id.orig_h".into(), json!(orig.ip().to_string()));
    m.insert("id.orig_p".into(), json!(orig.port()));
    m.insert("id.resp_h".into(), json!(resp.ip().to_string()));
    m.insert("id.resp_p".into(), json!(resp.port()));
    m
}

/// Sets `key` unless `v` is null or an empty string.
/// `duration`, `orig_bytes` and `resp_bytes`: Zeek sets them only when the duration is
/// above zero.
fn durations_and_sizes(m: &mut Map<String, Value>, duration_us: i64, (orig, resp): (u64, u64)) {
    if duration_us > 0 {
        m.insert("duration".into(), json!(duration_us as f64 / 1e6));
        m.insert("orig_bytes".into(), json!(orig));
        m.insert("resp_bytes".into(), json!(resp));
    }
}

/// `orig_pkts`, `orig_ip_bytes`, `resp_pkts`, `resp_ip_bytes`.
fn packet_counts(m: &mut Map<String, Value>, counts: [u64; 4]) {
    for (name, n) in ["orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes"].into_iter().zip(counts) {
        m.insert(name.into(), json!(n));
    }
}

fn put(m: &mut Map<String, Value>, key: &str, v: Value) {
    if !(v.is_null() || v.as_str() == Some("")) {
        m.insert(key.into(), v);
    }
}

/// Zeek's name for a QUIC version (its `QUIC::version_strings`): `1`, `quicv2`,
/// `draft-29`, and `unknown-<hex>` for the rest.
fn zeek_quic_version(v: &str) -> String {
    match v {
        "v1" => "1".into(),
        "v2" => "quicv2".into(),
        d if d.starts_with("draft-") => d.into(),
        other => format!("unknown-{}", other.trim_start_matches("0x").trim_start_matches('0')),
    }
}

/// Zeek's name for a DNS response code (its `DNS::base_errors`).
fn zeek_rcode(code: u16) -> String {
    const NAMES: [&str; 24] = [
        "NOERROR",
        "FORMERR",
        "SERVFAIL",
        "NXDOMAIN",
        "NOTIMP",
        "REFUSED",
        "YXDOMAIN",
        "YXRRSET",
        "NXRRSET",
        "NOTAUTH",
        "NOTZONE",
        "unassigned-11",
        "unassigned-12",
        "unassigned-13",
        "unassigned-14",
        "unassigned-15",
        "BADVERS",
        "BADKEY",
        "BADTIME",
        "BADMODE",
        "BADNAME",
        "BADALG",
        "BADTRUNC",
        "BADCOOKIE",
    ];
    NAMES.get(code as usize).map(|n| n.to_string()).unwrap_or_else(|| format!("?{code}"))
}

/// An answer as Zeek's dns.log writes it, from plainsight's `NAME TYPE DATA`: addresses
/// and names as they are (without the root's dot), the exchange of an MX, the target of an
/// SRV, the primary server of an SOA, `TXT <length> <text>`, a CAA's flags, tag and value,
/// and DNSSEC records summed up as Zeek does (`DS algo=8 digest_type=2`, `DNSKEY alg=8
/// flags=257 proto=3`, `RRSIG A example.com`, `NSEC example.com next.example.com`). Other
/// types keep their text.
fn zeek_answer(answer: &str) -> String {
    let mut parts = answer.splitn(3, ' ');
    let (name, kind, data) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let nodot = |s: &str| s.strip_suffix('.').unwrap_or(s).to_string();
    let word = |n: usize| data.split(' ').nth(n).map(nodot).unwrap_or_default();
    let raw = || base64::Engine::decode(&base64::engine::general_purpose::STANDARD, data).ok();
    let summed = match kind {
        "A" | "AAAA" => Some(data.to_string()),
        "CNAME" | "PTR" | "NS" | "DNAME" => Some(nodot(data)),
        "MX" => Some(word(1)),
        "SRV" => Some(word(3)),
        "SOA" => Some(word(0)),
        "TXT" => Some(format!("TXT {} {data}", data.len())),
        "CAA" => Some(data.replace('"', "")),
        "DS" => raw().filter(|r| r.len() >= 4).map(|r| format!("DS algo={} digest_type={}", r[2], r[3])),
        "DNSKEY" => raw()
            .filter(|r| r.len() >= 4)
            .map(|r| format!("DNSKEY alg={} flags={} proto={}", r[3], u16::from_be_bytes([r[0], r[1]]), r[2])),
        "RRSIG" => raw().filter(|r| r.len() > 18).map(|r| {
            let covered = hickory_proto::rr::RecordType::from(u16::from_be_bytes([r[0], r[1]]));
            let signer = wire_name(&r[18..]).unwrap_or_default();
            format!("RRSIG {covered} {}", if signer.is_empty() { "<Root>".into() } else { signer })
        }),
        "NSEC" => raw().and_then(|r| wire_name(&r)).map(|next| format!("NSEC {name} {next}")),
        _ => None,
    };
    summed.unwrap_or_else(|| data.to_string())
}

/// An uncompressed DNS name at the start of `b` (as RRSIG and NSEC carry them).
fn wire_name(b: &[u8]) -> Option<String> {
    let (mut labels, mut at) = (Vec::new(), 0);
    loop {
        let len = usize::from(*b.get(at)?);
        if len == 0 {
            return Some(labels.join("."));
        }
        if len > 63 || labels.len() > 127 {
            return None;
        }
        labels.push(String::from_utf8_lossy(b.get(at + 1..at + 1 + len)?).into_owned());
        at += 1 + len;
    }
}

/// Zeek's name for a DNS query class (its `DNS::classes`), `qclass-N` for the others
/// (mDNS's unicast-response bit included, as Zeek keeps it).
fn zeek_qclass(c: u16) -> String {
    match c {
        1 => "C_INTERNET".into(),
        2 => "C_CSNET".into(),
        3 => "C_CHAOS".into(),
        4 => "C_HESIOD".into(),
        254 => "C_NONE".into(),
        255 => "C_ANY".into(),
        n => format!("qclass-{n}"),
    }
}

/// Zeek's name for a DNS query type (its `DNS::query_types`): `*` for ANY, and
/// `query-<n>` for a type it does not name.
fn zeek_qtype(t: u16) -> String {
    let name = match t {
        1 => "A",
        2 => "NS",
        3 => "MD",
        4 => "MF",
        5 => "CNAME",
        6 => "SOA",
        7 => "MB",
        8 => "MG",
        9 => "MR",
        10 => "NULL",
        11 => "WKS",
        12 => "PTR",
        13 => "HINFO",
        14 => "MINFO",
        15 => "MX",
        16 => "TXT",
        17 => "RP",
        18 => "AFSDB",
        19 => "X25",
        20 => "ISDN",
        21 => "RT",
        22 => "NSAP",
        23 => "NSAP-PTR",
        24 => "SIG",
        25 => "KEY",
        26 => "PX",
        27 => "GPOS",
        28 => "AAAA",
        29 => "LOC",
        30 => "NXT",
        31 => "EID",
        32 => "NIMLOC",
        33 => "SRV",
        34 => "ATMA",
        35 => "NAPTR",
        36 => "KX",
        37 => "CERT",
        38 => "A6",
        39 => "DNAME",
        40 => "SINK",
        41 => "OPT",
        42 => "APL",
        43 => "DS",
        44 => "SSHFP",
        45 => "IPSECKEY",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        49 => "DHCID",
        50 => "NSEC3",
        51 => "NSEC3PARAM",
        52 => "TLSA",
        53 => "SMIMEA",
        55 => "HIP",
        56 => "NINFO",
        57 => "RKEY",
        58 => "TALINK",
        59 => "CDS",
        60 => "CDNSKEY",
        61 => "OPENPGPKEY",
        62 => "CSYNC",
        63 => "ZONEMD",
        64 => "SVCB",
        65 => "HTTPS",
        99 => "SPF",
        100 => "UINFO",
        101 => "UID",
        102 => "GID",
        103 => "UNSPEC",
        249 => "TKEY",
        250 => "TSIG",
        251 => "IXFR",
        252 => "AXFR",
        253 => "MAILB",
        254 => "MAILA",
        255 => "*",
        256 => "URI",
        257 => "CAA",
        32768 => "TA",
        32769 => "DLV",
        _ => return format!("query-{t}"),
    };
    name.to_string()
}

/// Zeek's name for a TLS version (its `SSL::version_strings`): `TLSv13`, `SSLv3`,
/// `DTLSv12`, `TLSv13-draftN` for a TLS 1.3 draft, `unknown-N` (decimal) for the rest.
fn zeek_version(v: &str) -> String {
    let number = match v {
        "SSL 3.0" => 0x0300,
        v if v.starts_with("TLS 1.") && v.len() == 7 => return format!("TLSv1{}", &v[6..]),
        v => match (v.strip_prefix("TLS 1.3 draft "), v.strip_prefix("0x")) {
            (Some(n), _) => 0x7f00 | n.parse::<u16>().unwrap_or(0),
            (_, Some(hex)) => u16::from_str_radix(hex, 16).unwrap_or(0),
            _ => return v.to_string(),
        },
    };
    match number {
        0x0002 => "SSLv2".into(),
        0x0300 => "SSLv3".into(),
        0xfeff => "DTLSv10".into(),
        0xfefd => "DTLSv12".into(),
        0xfefc => "DTLSv13".into(),
        n if n / 0xff == 0x7f => format!("TLSv13-draft{}", n % 0x7f),
        n => format!("unknown-{n}"),
    }
}

/// Lines waiting for their other half, by uid, oldest first.
#[derive(Default)]
struct Waiting {
    by_uid: HashMap<String, VecDeque<Map<String, Value>>>,
    order: VecDeque<String>,
    len: usize,
}

impl Waiting {
    fn push(&mut self, uid: String, line: Map<String, Value>, out: &mut impl Write) -> io::Result<()> {
        if self.len >= MAX_WAITING {
            while let Some(old) = self.order.pop_front() {
                if let Some(q) = self.by_uid.get_mut(&old)
                    && let Some(l) = q.pop_front()
                {
                    self.len -= 1;
                    write_line(out, &l)?;
                    break;
                }
            }
        }
        self.order.push_back(uid.clone());
        self.by_uid.entry(uid).or_default().push_back(line);
        self.len += 1;
        Ok(())
    }

    fn take(&mut self, uid: &str) -> Option<Map<String, Value>> {
        let q = self.by_uid.get_mut(uid)?;
        let l = q.pop_front();
        if q.is_empty() {
            self.by_uid.remove(uid);
        }
        if l.is_some() {
            self.len -= 1;
        }
        l
    }

    fn flush(&mut self, uid: &str, out: &mut impl Write) -> io::Result<()> {
        if let Some(q) = self.by_uid.remove(uid) {
            self.len -= q.len();
            for l in q {
                write_line(out, &l)?;
            }
        }
        Ok(())
    }

    fn flush_all(&mut self, out: &mut impl Write) -> io::Result<()> {
        for uid in std::mem::take(&mut self.order) {
            self.flush(&uid, out)?;
        }
        Ok(())
    }
}

fn write_line(out: &mut impl Write, m: &Map<String, Value>) -> io::Result<()> {
    serde_json::to_writer(&mut *out, m)?;
    out.write_all(b"\n")
}

/// Writes the five logs into a directory.
pub struct ZeekReport {
    conn: BufWriter<File>,
    http: BufWriter<File>,
    ssl: BufWriter<File>,
    dns: BufWriter<File>,
    quic: BufWriter<File>,
    tunnel: BufWriter<File>,
    ftp: BufWriter<File>,
    smtp: BufWriter<File>,
    reveal: bool,
    http_waiting: Waiting,
    ssl_waiting: Waiting,
    dns_waiting: Waiting,
    depth: HashMap<String, u64>,
}

impl ZeekReport {
    /// Creates `dir` if needed and the logs in it (replacing earlier ones).
    pub fn new(dir: &Path, reveal: bool) -> io::Result<ZeekReport> {
        std::fs::create_dir_all(dir)?;
        let open =
            |name: &str| File::create(dir.join(format!("{name}.log"))).map(|f| BufWriter::with_capacity(1 << 16, f));
        Ok(ZeekReport {
            conn: open("conn")?,
            http: open("http")?,
            ssl: open("ssl")?,
            dns: open("dns")?,
            quic: open("quic")?,
            tunnel: open("tunnel")?,
            ftp: open("ftp")?,
            smtp: open("smtp")?,
            reveal,
            http_waiting: Waiting::default(),
            ssl_waiting: Waiting::default(),
            dns_waiting: Waiting::default(),
            depth: HashMap::new(),
        })
    }
}

impl ZeekReport {
    /// A TCP connection ends: its conn.log line; what waits on it is written.
    fn tcp_connection(&mut self, e: &Event, uid: String, c: &crate::analysis::flow::Connection) -> io::Result<()> {
        let mut m = base(e, e.src, e.dst);
        m.insert("proto".into(), json!("tcp"));
        put(&mut m, "service", json!(c.service));
        // Zeek's sizes come from sequence numbers: what was missed counts as sent.
        let sizes = (c.bytes_to_server + c.missed_to_server, c.bytes_to_client + c.missed_to_client);
        durations_and_sizes(&mut m, c.duration_us, sizes);
        m.insert("conn_state".into(), json!(c.state));
        m.insert("missed_bytes".into(), json!(c.missed_to_server + c.missed_to_client));
        put(&mut m, "history", json!(c.history));
        let counts = [c.packets_to_server, c.ip_bytes_to_server, c.packets_to_client, c.ip_bytes_to_client];
        packet_counts(&mut m, counts);
        tunnel_parents(&mut m, c.tunnel_parent);
        m.insert("community_id".into(), json!(c.community_id));
        write_line(&mut self.conn, &m)?;
        // The connection is over: what still waits on it is written as it is.
        self.http_waiting.flush(&uid, &mut self.http)?;
        self.ssl_waiting.flush(&uid, &mut self.ssl)?;
        self.depth.remove(&uid);
        Ok(())
    }

    /// A UDP flow ends: its conn.log line.
    fn udp_flow(&mut self, e: &Event, uid: String, u: &crate::analysis::flow::UdpFlow) -> io::Result<()> {
        let mut m = base(e, e.src, e.dst);
        m.insert("proto".into(), json!("udp"));
        // Zeek lists every analyser that read the flow: QUIC's Initials carry a TLS handshake.
        match u.service {
            Some(crate::analysis::flow::Service::Quic) => {
                m.insert("service".into(), json!("quic,ssl"));
            }
            other => put(&mut m, "service", json!(other)),
        }
        durations_and_sizes(&mut m, u.duration_us, (u.bytes_to_server, u.bytes_to_client));
        // Zeek's `conn_state` for UDP: which sides sent anything.
        let state = match (u.packets_to_server > 0, u.packets_to_client > 0) {
            (true, true) => "SF",
            (true, false) => "S0",
            (false, true) => "SHR",
            (false, false) => "OTH",
        };
        m.insert("conn_state".into(), json!(state));
        m.insert("missed_bytes".into(), json!(0));
        put(&mut m, "history", json!(u.history));
        let counts = [u.packets_to_server, u.ip_bytes_to_server, u.packets_to_client, u.ip_bytes_to_client];
        packet_counts(&mut m, counts);
        tunnel_parents(&mut m, u.tunnel_parent);
        m.insert("community_id".into(), json!(u.community_id));
        write_line(&mut self.conn, &m)?;
        self.ssl_waiting.flush(&uid, &mut self.ssl)?;
        Ok(())
    }

    /// A request: held until its response (over TCP).
    fn http_request(&mut self, e: &Event, uid: String, q: &crate::analysis::dissect::http::Request) -> io::Result<()> {
        let mut m = base(e, e.src, e.dst);
        let depth = self.depth.entry(uid.clone()).or_insert(0);
        *depth += 1;
        m.insert("trans_depth".into(), json!(*depth));
        m.insert("method".into(), json!(q.method));
        put(&mut m, "host", json!(q.host));
        m.insert("uri".into(), json!(q.uri));
        put(&mut m, "referrer", json!(q.referer));
        put(&mut m, "version", json!(q.version.strip_prefix("HTTP/").unwrap_or(&q.version)));
        put(&mut m, "user_agent", json!(q.user_agent));
        m.insert("request_body_len".into(), json!(q.body_len));
        if let Some(a) = &q.authorization {
            put(&mut m, "username", json!(a.user));
            put(&mut m, "password", json!(a.password));
        }
        put(&mut m, "cookie", json!(q.cookies.join("; ")));
        put(&mut m, "non_conforming", json!(q.non_conforming));
        if e.conn.is_some() {
            self.http_waiting.push(uid, m, &mut self.http)?;
        } else {
            write_line(&mut self.http, &m)?; // over UDP: no answer to wait for
        }
        Ok(())
    }

    /// A response: completes its request's http.log line.
    fn http_response(
        &mut self,
        e: &Event,
        uid: String,
        a: &crate::analysis::dissect::http::Response,
    ) -> io::Result<()> {
        let mut m = match self.http_waiting.take(&uid) {
            Some(m) => m,
            None => {
                // An answer to no request read (a garbage request line, a request missed).
                let mut m = base(e, e.dst, e.src);
                let depth = self.depth.entry(uid.clone()).or_insert(0);
                *depth += 1;
                m.insert("trans_depth".into(), json!(*depth));
                put(&mut m, "method", json!(a.for_method));
                put(&mut m, "uri", json!(a.for_uri));
                m
            }
        };
        m.insert("status_code".into(), json!(a.status));
        // Zeek's `version` is the reply's.
        if let Some(v) = a.version.strip_prefix("HTTP/") {
            m.insert("version".into(), json!(v));
        }
        put(&mut m, "status_msg", json!(a.reason));
        m.insert("response_body_len".into(), json!(a.body_len));
        // Zeek sniffs the body, whatever Content-Type claims; unknown stays unset.
        if let Some(sniffed) = &a.sniffed_type {
            m.insert("resp_mime_types".into(), json!([sniffed]));
        }
        if a.non_conforming.is_some() && !m.contains_key("non_conforming") {
            put(&mut m, "non_conforming", json!(a.non_conforming));
        }
        write_line(&mut self.http, &m)?;
        Ok(())
    }

    /// A ClientHello: held until its ServerHello.
    fn client_hello(
        &mut self,
        e: &Event,
        uid: String,
        ch: &crate::analysis::dissect::tls::ClientHello,
    ) -> io::Result<()> {
        let mut m = base(e, e.src, e.dst);
        put(&mut m, "server_name", json!(ch.sni));
        m.insert("ja4".into(), json!(ch.ja4));
        if !ch.alpn.is_empty() {
            m.insert("client_alpn".into(), json!(ch.alpn));
        }
        m.insert("quic".into(), json!(ch.quic.is_some()));
        m.insert("established".into(), json!(false));
        self.ssl_waiting.push(uid, m, &mut self.ssl)?;
        Ok(())
    }

    /// A ServerHello: fills in its ssl.log line, which then waits for the handshake to
    /// finish (or the connection to end: `established` stays false). In QUIC only the
    /// Initials are read, so the finish is never seen: written now, as Zeek does.
    fn server_hello(
        &mut self,
        e: &Event,
        uid: String,
        sh: &crate::analysis::dissect::tls::ServerHello,
    ) -> io::Result<()> {
        let mut m = self.ssl_waiting.take(&uid).unwrap_or_else(|| base(e, e.dst, e.src));
        m.insert("version".into(), json!(zeek_version(&sh.version)));
        m.insert("cipher".into(), json!(sh.cipher));
        put(&mut m, "next_protocol", json!(sh.alpn));
        m.insert("established".into(), json!(false));
        if e.conn.is_some() { self.ssl_waiting.push(uid, m, &mut self.ssl) } else { write_line(&mut self.ssl, &m) }
    }

    /// The handshake finished: its ssl.log line is written, established.
    fn established(&mut self, uid: String) -> io::Result<()> {
        if let Some(mut m) = self.ssl_waiting.take(&uid) {
            m.insert("established".into(), json!(true));
            write_line(&mut self.ssl, &m)?;
        }
        Ok(())
    }

    /// A DNS query (held) or response (completes the dns.log line).
    fn dns(&mut self, e: &Event, uid: String, d: &crate::analysis::dissect::dns::Message) -> io::Result<()> {
        let query = |m: &mut Map<String, Value>| {
            if let Some(q) = d.questions.first() {
                let mut parts = q.split(' ');
                put(m, "query", json!(parts.next()));
                if let Some(c) = d.qclasses.first() {
                    m.insert("qclass".into(), json!(c));
                    m.insert("qclass_name".into(), json!(zeek_qclass(*c)));
                }
                match d.qtypes.first() {
                    Some(t) => {
                        m.insert("qtype".into(), json!(t));
                        m.insert("qtype_name".into(), json!(zeek_qtype(*t)));
                    }
                    None => put(m, "qtype_name", json!(parts.next())),
                }
            }
        };
        if !d.response {
            let mut m = base(e, e.src, e.dst);
            m.insert("proto".into(), json!(if e.conn.is_some() { "tcp" } else { "udp" }));
            m.insert("trans_id".into(), json!(d.id));
            query(&mut m);
            self.dns_waiting.push(format!("{uid}/{}", d.id), m, &mut self.dns)?;
        } else {
            let mut m = self.dns_waiting.take(&format!("{uid}/{}", d.id)).unwrap_or_else(|| {
                let mut m = base(e, e.dst, e.src);
                m.insert("proto".into(), json!(if e.conn.is_some() { "tcp" } else { "udp" }));
                m.insert("trans_id".into(), json!(d.id));
                query(&mut m);
                m
            });
            if let Some(code) = d.rcode_code {
                m.insert("rcode".into(), json!(code));
                m.insert("rcode_name".into(), json!(zeek_rcode(code)));
            } else {
                put(&mut m, "rcode_name", json!(d.rcode));
            }
            let answers: Vec<String> = d.answers.iter().map(|a| zeek_answer(a)).collect();
            if !answers.is_empty() {
                m.insert("answers".into(), json!(answers));
            }
            write_line(&mut self.dns, &m)?;
        }
        Ok(())
    }

    /// An FTP command and its reply: its ftp.log line. A file command's URL gets the
    /// server's address; a data channel its two ends, as Zeek writes them (passive: the
    /// client connects to the server's port; active: the server to the client's).
    fn ftp(&mut self, e: &Event, c: &crate::analysis::dissect::ftp::FtpCommand) -> io::Result<()> {
        use crate::analysis::dissect::ftp::SERVER;
        let mut m = base(e, e.src, e.dst);
        put(&mut m, "user", json!(c.user));
        put(&mut m, "password", json!(c.password));
        m.insert("command".into(), json!(c.command));
        let server = match e.dst.ip() {
            std::net::IpAddr::V6(v6) => format!("[{v6}]"),
            v4 => v4.to_string(),
        };
        put(&mut m, "arg", json!(c.arg.as_ref().map(|a| a.replacen(SERVER, &server, 1))));
        put(&mut m, "mime_type", json!(c.mime_type));
        put(&mut m, "file_size", json!(c.file_size));
        put(&mut m, "reply_code", json!(c.reply_code));
        put(&mut m, "reply_msg", json!(c.reply_msg));
        if let Some(d) = &c.data_channel {
            let orig = if d.passive { e.src.ip() } else { e.dst.ip() };
            let resp = d.target(e.src.ip(), e.dst.ip()).ip();
            m.insert("data_channel.passive".into(), json!(d.passive));
            m.insert("data_channel.orig_h".into(), json!(orig.to_string()));
            m.insert("data_channel.resp_h".into(), json!(resp.to_string()));
            m.insert("data_channel.resp_p".into(), json!(d.port));
        }
        write_line(&mut self.ftp, &m)
    }

    /// A mail transaction: its smtp.log line. `path` begins with the connection's server
    /// and client, then the addresses the Received headers trace, as Zeek's does.
    fn smtp(&mut self, e: &Event, s: &crate::analysis::dissect::smtp::SmtpMessage) -> io::Result<()> {
        let mut m = base(e, e.src, e.dst);
        m.insert("trans_depth".into(), json!(s.trans_depth));
        for (key, v) in [
            ("helo", &s.helo),
            ("mailfrom", &s.mailfrom),
            ("date", &s.date),
            ("from", &s.from),
            ("reply_to", &s.reply_to),
            ("msg_id", &s.msg_id),
            ("in_reply_to", &s.in_reply_to),
            ("subject", &s.subject),
            ("first_received", &s.first_received),
            ("second_received", &s.second_received),
            ("last_reply", &s.last_reply),
            ("user_agent", &s.user_agent),
        ] {
            put(&mut m, key, json!(v));
        }
        for (key, v) in [("rcptto", &s.rcptto), ("to", &s.to), ("cc", &s.cc)] {
            if !v.is_empty() {
                m.insert(key.into(), json!(v));
            }
        }
        put(&mut m, "x_originating_ip", json!(s.x_originating_ip.map(|ip| ip.to_string())));
        let mut path = vec![e.dst.ip(), e.src.ip()];
        for ip in &s.received_path {
            if path.last() != Some(ip) {
                path.push(*ip);
            }
        }
        m.insert("path".into(), json!(path.iter().map(ToString::to_string).collect::<Vec<_>>()));
        m.insert("tls".into(), json!(s.tls));
        write_line(&mut self.smtp, &m)
    }

    /// A QUIC connection: its quic.log line.
    fn quic(&mut self, e: &Event, q: &crate::analysis::dissect::quic::QuicConnection) -> io::Result<()> {
        let mut m = base(e, e.src, e.dst);
        m.insert("version".into(), json!(zeek_quic_version(&q.version)));
        m.insert("client_initial_dcid".into(), json!(q.client_dcid));
        put(&mut m, "client_scid", json!(q.client_scid));
        put(&mut m, "server_scid", json!(q.server_scid));
        put(&mut m, "server_name", json!(q.server_name));
        put(&mut m, "client_protocol", json!(q.alpn.first()));
        m.insert("community_id".into(), json!(q.community_id));
        write_line(&mut self.quic, &m)?;
        Ok(())
    }
}

impl Report for ZeekReport {
    fn event(&mut self, e: &Event, _: &[Finding]) -> io::Result<()> {
        let r = &*shown_record(&e.record, self.reveal);
        let uid = uid(e);
        match r {
            Record::Connection(c) => self.tcp_connection(e, uid, c),
            Record::UdpFlow(u) => self.udp_flow(e, uid, u),
            Record::HttpRequest(q) => self.http_request(e, uid, q),
            Record::HttpResponse(a) => self.http_response(e, uid, a),
            Record::TlsClientHello(ch) => self.client_hello(e, uid, ch),
            Record::TlsServerHello(sh) => self.server_hello(e, uid, sh),
            Record::TlsEstablished(_) => self.established(uid),
            Record::Dns(d) => self.dns(e, uid, d),
            Record::Quic(q) => self.quic(e, q),
            Record::Ftp(c) => self.ftp(e, c),
            Record::Smtp(m) => self.smtp(e, m),
            Record::Tunnel(t) => {
                // Zeek's line for a tunnel's discovery; the uid is its outer UDP flow's.
                let mut m = base(e, e.src, e.dst);
                m.insert("tunnel_type".into(), json!(t.zeek_type));
                m.insert("action".into(), json!("Tunnel::DISCOVER"));
                write_line(&mut self.tunnel, &m)
            }
            _ => Ok(()),
        }
    }

    fn finish(&mut self, _: &CaptureSummary) -> io::Result<()> {
        self.http_waiting.flush_all(&mut self.http)?;
        self.ssl_waiting.flush_all(&mut self.ssl)?;
        // Queries never answered.
        let mut dns = std::mem::take(&mut self.dns_waiting);
        dns.flush_all(&mut self.dns)?;
        for w in [
            &mut self.conn,
            &mut self.http,
            &mut self.ssl,
            &mut self.dns,
            &mut self.quic,
            &mut self.tunnel,
            &mut self.ftp,
        ] {
            w.flush()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_zeeks_own() {
        assert_eq!(zeek_rcode(0), "NOERROR");
        assert_eq!(zeek_rcode(3), "NXDOMAIN");
        assert_eq!(zeek_rcode(4000), "?4000");
        assert_eq!(zeek_qtype(255), "*");
        for (ours, zeeks) in [
            ("a.test A 192.0.2.1", "192.0.2.1"),
            ("a.test CNAME b.test.", "b.test"),
            ("a.test MX 10 mail.a.test.", "mail.a.test"),
            ("_s._tcp.a.test SRV 0 0 22 host.a.test.", "host.a.test"),
            ("a.test SOA ns.a.test. root.a.test. 1 2 3 4 5", "ns.a.test"),
            ("a.test TXT v=spf1 -all", "TXT 11 v=spf1 -all"),
            ("a.test CAA 0 issue \"ca.test\"", "0 issue ca.test"),
            ("a.test DS AAEIAgAAAAA=", "DS algo=8 digest_type=2"),
            ("a.test NSEC AWIEdGVzdAAABg==", "NSEC a.test b.test"),
            ("a.test HINFO I686 LINUX", "I686 LINUX"),
        ] {
            assert_eq!(zeek_answer(ours), zeeks, "{ours}");
        }
        assert_eq!(zeek_version("TLS 1.2"), "TLSv12");
        assert_eq!(zeek_version("TLS 1.3 draft 18"), "TLSv13-draft18");
        assert_eq!(zeek_version("0xfefd"), "DTLSv12");
        assert_eq!(zeek_version("0xfb17"), "unknown-64279");
        assert_eq!(zeek_qclass(1), "C_INTERNET");
        assert_eq!(zeek_qclass(3), "C_CHAOS");
        assert_eq!(zeek_qclass(32769), "qclass-32769");
        assert_eq!(zeek_qtype(99), "SPF");
        assert_eq!(zeek_qtype(249), "TKEY");
        assert_eq!(zeek_qtype(11), "WKS");
        assert_eq!(zeek_qtype(65280), "query-65280");
        assert_eq!(zeek_quic_version("v1"), "1");
        assert_eq!(zeek_quic_version("v2"), "quicv2");
        assert_eq!(zeek_quic_version("draft-29"), "draft-29");
        assert_eq!(zeek_quic_version("0x51303530"), "unknown-51303530");
    }
}

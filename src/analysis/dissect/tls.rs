//! TLS over a reassembled connection: what an on-path observer honestly gets.
//!
//! In clear: the ClientHello (server name, ALPN, offered versions and cipher suites, a JA4
//! fingerprint), the ServerHello (chosen version and cipher), the certificate chain in
//! TLS 1.2 and below (subject, issuer, names, validity) and alerts sent before encryption.
//! Encrypted: only the count and sizes of records each way. Nothing here ever claims to
//! see TLS 1.3 handshake or application content.
//!
//! Records are framed here; handshake messages are parsed by `tls-parser` and
//! certificates by `x509-parser`. Handshake messages may span records and records may
//! span segments; at most [`MAX_HANDSHAKE`] bytes of handshake are held per direction.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tls_parser::{TlsExtension, TlsMessage, TlsMessageHandshake};

use super::{Event, Record};
use crate::analysis::reassembly::{ConnInfo, Dir};

/// Handshake bytes held per direction while a message is incomplete.
pub const MAX_HANDSHAKE: usize = 256 << 10;
/// Largest record length accepted (2^14 plus the allowed expansion).
const MAX_RECORD: usize = 18_432;

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ClientHello {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alpn: Vec<String>,
    /// The legacy version field, e.g. `0x0303`.
    pub version: String,
    /// From the supported_versions extension, GREASE removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supported_versions: Vec<String>,
    pub cipher_suites: usize,
    /// Groups of the key shares offered (TLS 1.3), GREASE removed: `x25519`,
    /// `X25519MLKEM768`, ...
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_shares: Vec<String>,
    pub ja4: String,
    /// The ClientHello carries an Encrypted Client Hello extension: the real name is hidden.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ech: bool,
    /// Carried in QUIC Initial packets of this version (`v1`, `v2`, `draft-29`), not in TLS
    /// records over TCP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quic: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ServerHello {
    /// The name the client asked for (from its ClientHello), when seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// The negotiated version (supported_versions wins over the legacy field).
    pub version: String,
    pub cipher: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alpn: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Certificate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// 0 for the server's own certificate, then the chain.
    pub position: usize,
    pub subject: String,
    pub issuer: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    pub not_before: String,
    pub not_after: String,
}

/// The handshake finished, as Zeek decides it (its `ssl_established`): a record came after
/// both sides had switched to encryption (ChangeCipherSpec, or in TLS 1.3 without it, their
/// first encrypted record).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Established {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    pub level: u8,
    pub description: u8,
    pub name: String,
}

/// What the encrypted part of a connection shows.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Traffic {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    pub records_to_server: u64,
    pub bytes_to_server: u64,
    pub records_to_client: u64,
    pub bytes_to_client: u64,
    /// Alerts sent after encryption started (their content is hidden).
    pub encrypted_alerts: u64,
    /// The frames that carried the first encrypted record each way.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_encrypted_to_server: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_encrypted_to_client: Option<u64>,
    /// Parsing stopped early (not TLS after all, or data lost).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

/// Whether bytes start like a TLS record (handshake, alert or CCS, version 3.x).
pub fn looks_like_tls(b: &[u8]) -> bool {
    b.len() >= 3 && (20..=23).contains(&b[0]) && b[1] == 3 && b[2] <= 4
}

#[derive(Default)]
struct Half {
    /// Partial record header.
    header: Vec<u8>,
    /// Bytes left of the current record and its content type.
    in_record: usize,
    record_type: u8,
    /// Handshake bytes not yet parsed into messages.
    handshake: Vec<u8>,
    handshake_frame: u64,
    /// Frame that carried the first byte of the current record header.
    header_frame: u64,
    /// Alert bytes (an alert record may be split).
    alert: Vec<u8>,
    encrypted: bool,
    records: u64,
    bytes: u64,
    /// The frame of the first encrypted record's header.
    first_encrypted: Option<u64>,
    /// This side switched to encryption (Zeek's `STATE_ENCRYPTED`).
    switched: bool,
    stopped: bool,
}

/// TLS state of one connection.
#[derive(Default)]
pub struct TlsConn {
    halves: [Half; 2],
    tls13: bool,
    /// The server asked for another ClientHello (a HelloRetryRequest): the next
    /// ClientHello and ServerHello still travel in clear, whatever ChangeCipherSpec says.
    retry: bool,
    encrypted_alerts: u64,
    /// A ServerHello (not a HelloRetryRequest) was read; the handshake finished (see
    /// [`Established`]).
    server_hello: bool,
    established: bool,
    stopped: Option<String>,
    seen: bool,
    sni: Option<String>,
}

impl TlsConn {
    pub fn data(&mut self, info: &ConnInfo, dir: Dir, mut data: &[u8], frame: u64, ts: i64, out: &mut Vec<Event>) {
        self.seen = true;
        while !data.is_empty() && !self.halves[dir as usize].stopped {
            let h = &mut self.halves[dir as usize];
            if h.in_record == 0 {
                if h.header.is_empty() {
                    h.header_frame = frame;
                }
                let need = 5 - h.header.len();
                let take = need.min(data.len());
                h.header.extend_from_slice(&data[..take]);
                data = &data[take..];
                if h.header.len() < 5 {
                    return;
                }
                let hdr = std::mem::take(&mut h.header);
                let len = u16::from_be_bytes([hdr[3], hdr[4]]) as usize;
                if !looks_like_tls(&hdr) || len > MAX_RECORD || len == 0 {
                    self.stop(dir, "stream is not (or no longer) TLS records");
                    return;
                }
                let h = &mut self.halves[dir as usize];
                h.in_record = len;
                h.record_type = hdr[0];
                if hdr[0] == 22 && h.handshake.is_empty() {
                    h.handshake_frame = h.header_frame;
                }
                if hdr[0] == 23 || (h.encrypted && hdr[0] != 20) {
                    h.records += 1;
                    h.bytes += len as u64;
                    h.first_encrypted.get_or_insert(h.header_frame);
                }
                if hdr[0] == 21 && h.encrypted {
                    self.encrypted_alerts += 1;
                }
                self.switch(info, dir, hdr[0], frame, ts, out);
                continue;
            }
            let n = h.in_record.min(data.len());
            let body = &data[..n];
            data = &data[n..];
            h.in_record -= n;
            match h.record_type {
                22 if !h.encrypted => {
                    if h.handshake.len() + n > MAX_HANDSHAKE {
                        self.stop(dir, "handshake message too large");
                        return;
                    }
                    h.handshake.extend_from_slice(body);
                    self.handshake_messages(info, dir, ts, out);
                }
                21 if !h.encrypted => {
                    h.alert.extend_from_slice(body);
                    while h.alert.len() >= 2 {
                        let (level, description) = (h.alert[0], h.alert[1]);
                        h.alert.drain(..2);
                        let name = alert_name(description).to_string();
                        let server_name = self.sni.clone();
                        out.push(Event::on(info, dir, frame, ts, Record::TlsAlert(Alert { server_name, level, description, name })));
                    }
                }
                20
                    // ChangeCipherSpec: from here on this side's handshake is encrypted
                    // (in TLS 1.3 it is a compatibility no-op, and encryption began already;
                    // after a HelloRetryRequest the client's second ClientHello follows it
                    // in clear).
                    if !self.retry => {
                        h.encrypted = true;
                    }
                _ => {}
            }
        }
    }

    fn handshake_messages(&mut self, info: &ConnInfo, dir: Dir, ts: i64, out: &mut Vec<Event>) {
        loop {
            let h = &mut self.halves[dir as usize];
            if h.handshake.len() < 4 {
                return;
            }
            let len = u32::from_be_bytes([0, h.handshake[1], h.handshake[2], h.handshake[3]]) as usize;
            if h.handshake.len() < 4 + len {
                return;
            }
            let msg: Vec<u8> = h.handshake.drain(..4 + len).collect();
            let frame = h.handshake_frame;
            let rec = match tls_parser::parse_tls_message_handshake(&msg) {
                Ok((_, TlsMessage::Handshake(hs))) => self.handshake(dir, hs, &msg),
                _ => Vec::new(),
            };
            for r in rec {
                out.push(Event::on(info, dir, frame, ts, r));
            }
            if self.halves[dir as usize].encrypted {
                self.halves[dir as usize].handshake.clear();
                return;
            }
        }
    }

    fn handshake(&mut self, dir: Dir, hs: TlsMessageHandshake<'_>, raw: &[u8]) -> Vec<Record> {
        match hs {
            TlsMessageHandshake::ClientHello(ch) => {
                let ch = client_hello(&ch, raw);
                if self.sni.is_none() {
                    self.sni = ch.sni.clone();
                }
                vec![Record::TlsClientHello(ch)]
            }
            TlsMessageHandshake::ServerHello(sh) => {
                let (hello, tls13) = server_hello(&sh, self.sni.clone());
                self.retry = sh.random == HELLO_RETRY_REQUEST;
                self.server_hello |= !self.retry;
                if tls13 && !self.retry {
                    // TLS 1.3: everything after the ServerHello is encrypted, both ways.
                    self.tls13 = true;
                    self.halves[dir as usize].encrypted = true;
                }
                vec![Record::TlsServerHello(hello)]
            }
            TlsMessageHandshake::Certificate(c) => c
                .cert_chain
                .iter()
                .enumerate()
                .take(16)
                .map(|(i, raw)| {
                    Record::TlsCertificate(Certificate { server_name: self.sni.clone(), ..certificate(i, raw.data) })
                })
                .collect(),
            TlsMessageHandshake::Finished(_) => {
                self.halves[dir as usize].encrypted = true;
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// A record of `kind` begins on `dir`: Zeek's `established` (a record from a side
    /// that has switched, once both have), and the switches themselves.
    fn switch(&mut self, info: &ConnInfo, dir: Dir, kind: u8, frame: u64, ts: i64, out: &mut Vec<Event>) {
        let both = self.halves.iter().all(|h| h.switched);
        if both && self.server_hello && kind != 20 && !self.established {
            self.established = true;
            let e = Established { server_name: self.sni.clone() };
            out.push(Event::on(info, dir, frame, ts, Record::TlsEstablished(e)));
        }
        let h = &mut self.halves[dir as usize];
        if kind == 20 || (kind == 23 && self.tls13) {
            h.switched = true;
        }
    }

    fn stop(&mut self, dir: Dir, why: &str) {
        self.halves[dir as usize].stopped = true;
        self.stopped.get_or_insert_with(|| why.to_string());
    }

    pub fn gap(&mut self, dir: Dir, len: u64) {
        let h = &mut self.halves[dir as usize];
        if h.in_record as u64 >= len && h.header.is_empty() && (h.record_type == 23 || h.encrypted) {
            h.in_record -= len as usize; // lost bytes inside an encrypted record: framing holds
        } else {
            self.stop(dir, "data lost from the capture");
        }
    }

    pub fn end(&mut self, info: &ConnInfo, out: &mut Vec<Event>) {
        if !self.seen {
            return;
        }
        let [c, s] = &self.halves;
        let t = Traffic {
            server_name: self.sni.clone(),
            records_to_server: c.records,
            bytes_to_server: c.bytes,
            records_to_client: s.records,
            bytes_to_client: s.bytes,
            encrypted_alerts: self.encrypted_alerts,
            first_encrypted_to_server: c.first_encrypted,
            first_encrypted_to_client: s.first_encrypted,
            stopped: self.stopped.clone(),
        };
        out.push(Event::on(info, Dir::ToServer, info.first_frame, 0, Record::TlsTraffic(t)));
    }
}

/// The `random` of a ServerHello that is a HelloRetryRequest (RFC 8446 §4.1.3).
const HELLO_RETRY_REQUEST: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91, 0xc2, 0xa2, 0x11,
    0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// A ServerHello's record, and whether it chose TLS 1.3.
fn server_hello(sh: &tls_parser::TlsServerHelloContents<'_>, server_name: Option<String>) -> (ServerHello, bool) {
    let mut version = sh.version.0;
    let mut alpn = None;
    if let Some(ext) = sh.ext
        && let Ok((_, exts)) = tls_parser::parse_tls_server_hello_extensions(ext)
    {
        for e in exts {
            match e {
                TlsExtension::SupportedVersions(v) if !v.is_empty() => version = v[0].0,
                TlsExtension::ALPN(p) if !p.is_empty() => alpn = Some(String::from_utf8_lossy(p[0]).into_owned()),
                _ => {}
            }
        }
    }
    let tls13 = version == 0x0304 || version & 0xff00 == 0x7f00;
    (ServerHello { server_name, version: version_name(version), cipher: cipher_name(sh.cipher.0), alpn }, tls13)
}

/// One whole handshake message (type, 3-byte length, body) read on its own, as QUIC
/// carries them in CRYPTO frames: a ClientHello or a ServerHello, or `None`.
pub fn hello(msg: &[u8], server_name: Option<String>) -> Option<Record> {
    match tls_parser::parse_tls_message_handshake(msg) {
        Ok((_, TlsMessage::Handshake(TlsMessageHandshake::ClientHello(ch)))) => {
            Some(Record::TlsClientHello(client_hello(&ch, msg)))
        }
        Ok((_, TlsMessage::Handshake(TlsMessageHandshake::ServerHello(sh)))) => {
            Some(Record::TlsServerHello(server_hello(&sh, server_name).0))
        }
        _ => None,
    }
}

fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

fn client_hello(ch: &tls_parser::TlsClientHelloContents<'_>, _raw: &[u8]) -> ClientHello {
    let mut out = ClientHello { version: format!("0x{:04x}", ch.version.0), ..Default::default() };
    let ciphers: Vec<u16> = ch.ciphers.iter().map(|c| c.0).filter(|c| !is_grease(*c)).collect();
    out.cipher_suites = ciphers.len();
    let mut ext_types = Vec::new();
    let mut sig_algs: Vec<u16> = Vec::new();
    if let Some(ext) = ch.ext {
        ext_types = raw_extension_types(ext);
        if let Ok((_, exts)) = tls_parser::parse_tls_client_hello_extensions(ext) {
            for e in exts {
                match e {
                    TlsExtension::SNI(names) => {
                        out.sni = names.first().map(|(_, n)| String::from_utf8_lossy(n).into_owned());
                    }
                    TlsExtension::ALPN(p) => {
                        out.alpn = p.iter().map(|p| String::from_utf8_lossy(p).into_owned()).collect()
                    }
                    TlsExtension::SupportedVersions(v) => {
                        out.supported_versions =
                            v.iter().map(|v| v.0).filter(|v| !is_grease(*v)).map(|v| format!("0x{v:04x}")).collect();
                    }
                    TlsExtension::SignatureAlgorithms(s) => sig_algs = s,
                    TlsExtension::KeyShare(b) => out.key_shares = key_share_groups(b),
                    _ => {}
                }
            }
        }
    }
    out.ech = ext_types.contains(&0xfe0d);
    out.ja4 = ja4(ch.version.0, &ciphers, &ext_types, &sig_algs, out.sni.is_some(), &out.alpn, &out.supported_versions);
    out
}

/// The groups of a ClientHello's key_share extension (a list of group, key pairs).
fn key_share_groups(b: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = b.get(2..).unwrap_or(&[]);
    while rest.len() >= 4 {
        let group = u16::from_be_bytes([rest[0], rest[1]]);
        let len = u16::from_be_bytes([rest[2], rest[3]]) as usize;
        if !is_grease(group) {
            out.push(group_name(group));
        }
        rest = rest.get(4 + len..).unwrap_or(&[]);
    }
    out
}

/// A named group's name (RFC 8446, RFC 7919 and the hybrid post-quantum ones).
fn group_name(g: u16) -> String {
    match g {
        0x0017 => "secp256r1".into(),
        0x0018 => "secp384r1".into(),
        0x0019 => "secp521r1".into(),
        0x001d => "x25519".into(),
        0x001e => "x448".into(),
        0x0100..=0x0104 => format!("ffdhe{}", [2048, 3072, 4096, 6144, 8192][(g - 0x0100) as usize]),
        0x11eb => "SecP256r1MLKEM768".into(),
        0x11ec => "X25519MLKEM768".into(),
        0x11ed => "SecP384r1MLKEM1024".into(),
        0x6399 => "X25519Kyber768Draft00".into(),
        _ => format!("0x{g:04x}"),
    }
}

/// Extension type codes in order, read straight from the extensions block.
fn raw_extension_types(mut b: &[u8]) -> Vec<u16> {
    let mut types = Vec::new();
    while b.len() >= 4 {
        let t = u16::from_be_bytes([b[0], b[1]]);
        let len = u16::from_be_bytes([b[2], b[3]]) as usize;
        types.push(t);
        b = b.get(4 + len..).unwrap_or(&[]);
    }
    types
}

/// The JA4 TLS client fingerprint (FoxIO's specification), e.g. `t13d1516h2_8daaf6152771_e5627efa2ab1`.
pub fn ja4(
    legacy: u16,
    ciphers: &[u16],
    exts: &[u16],
    sig_algs: &[u16],
    sni: bool,
    alpn: &[String],
    versions: &[String],
) -> String {
    let top = versions
        .iter()
        .filter_map(|v| u16::from_str_radix(v.trim_start_matches("0x"), 16).ok())
        .max()
        .unwrap_or(legacy);
    let ver = match top {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0002 => "s2",
        _ => "00",
    };
    let exts: Vec<u16> = exts.iter().copied().filter(|e| !is_grease(*e)).collect();
    // Built in one string, the hashed lists in one reused buffer: a hello is read at every
    // TLS connection's start, and a `format!` per value was most of its cost.
    let mut out = String::with_capacity(36);
    out.push('t');
    out.push_str(ver);
    out.push(if sni { 'd' } else { 'i' });
    for n in [ciphers.len(), exts.len()] {
        let n = n.min(99) as u8;
        out.extend([char::from(b'0' + n / 10), char::from(b'0' + n % 10)]);
    }
    match alpn.first().map(|a| a.as_bytes()) {
        Some(&[f, .., l]) | Some(&[f @ l]) if f.is_ascii_alphanumeric() && l.is_ascii_alphanumeric() => {
            out.extend([char::from(f), char::from(l)]);
        }
        Some(&[f, .., l]) | Some(&[f @ l]) => out.extend([hex_digit(f >> 4), hex_digit(l & 0xf)]),
        _ => out.push_str("00"),
    }
    let mut list = String::new();
    let mut c = ciphers.to_vec();
    c.sort_unstable();
    hex_list(&mut list, &c);
    out.push('_');
    push_hash12(&mut out, &list);
    let mut e: Vec<u16> = exts.iter().copied().filter(|e| *e != 0x0000 && *e != 0x0010).collect();
    e.sort_unstable();
    list.clear();
    hex_list(&mut list, &e);
    if !sig_algs.is_empty() && !list.is_empty() {
        list.push('_');
        hex_list(&mut list, sig_algs);
    }
    out.push('_');
    push_hash12(&mut out, &list);
    out
}

/// The lower-case hex digit of the low four bits of `v`.
fn hex_digit(v: u8) -> char {
    char::from(b"0123456789abcdef"[usize::from(v & 0xf)])
}

/// Appends `values` as JA4 lists them: four hex digits each, comma-separated.
fn hex_list(out: &mut String, values: &[u16]) {
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_hex(out, &v.to_be_bytes());
    }
}

/// Appends `bytes` in lower-case hex.
fn push_hex(out: &mut String, bytes: &[u8]) {
    out.extend(bytes.iter().flat_map(|b| [hex_digit(b >> 4), hex_digit(*b)]));
}

/// Appends JA4's hash of a list: the first 12 hex digits of its SHA-256, or twelve zeros
/// for an empty list.
fn push_hash12(out: &mut String, list: &str) {
    if list.is_empty() {
        out.push_str("000000000000");
    } else {
        let digest = Sha256::digest(list.as_bytes());
        push_hex(out, &digest[..6]);
    }
}

fn certificate(position: usize, der: &[u8]) -> Certificate {
    use x509_parser::prelude::*;
    match X509Certificate::from_der(der) {
        Ok((_, cert)) => {
            let mut names = Vec::new();
            if let Ok(Some(san)) = cert.subject_alternative_name() {
                for n in &san.value.general_names {
                    match n {
                        GeneralName::DNSName(d) => names.push(d.to_string()),
                        GeneralName::IPAddress(ip) => names.push(format!("ip:{}", hex::encode(ip))),
                        _ => {}
                    }
                }
            }
            Certificate {
                server_name: None,
                position,
                subject: cert.subject().to_string(),
                issuer: cert.issuer().to_string(),
                names,
                not_before: cert.validity().not_before.to_string(),
                not_after: cert.validity().not_after.to_string(),
            }
        }
        Err(e) => Certificate { position, subject: format!("(unparsable certificate: {e})"), ..Default::default() },
    }
}

pub fn version_name(v: u16) -> String {
    match v {
        0x0300 => "SSL 3.0".into(),
        0x0301 => "TLS 1.0".into(),
        0x0302 => "TLS 1.1".into(),
        0x0303 => "TLS 1.2".into(),
        0x0304 => "TLS 1.3".into(),
        v if v & 0xff00 == 0x7f00 => format!("TLS 1.3 draft {}", v & 0xff),
        v => format!("0x{v:04x}"),
    }
}

fn cipher_name(id: u16) -> String {
    match tls_parser::TlsCipherSuite::from_id(id) {
        Some(c) => c.name.to_string(),
        None => format!("0x{id:04x}"),
    }
}

/// RFC 8446 alert descriptions.
pub fn alert_name(d: u8) -> &'static str {
    match d {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        22 => "record_overflow",
        40 => "handshake_failure",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        109 => "missing_extension",
        110 => "unsupported_extension",
        112 => "unrecognized_name",
        116 => "certificate_required",
        120 => "no_application_protocol",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> ConnInfo {
        ConnInfo {
            id: 0,
            client: "192.0.2.10:40000".parse().unwrap(),
            server: "198.51.100.10:443".parse().unwrap(),
            first_frame: 1,
            first_ts: 0,
        }
    }

    #[test]
    fn client_hello_in_one_byte_pieces() {
        let rec = crate::analysis::synth::client_hello("clinic.test");
        let mut t = TlsConn::default();
        let mut out = Vec::new();
        for (i, b) in rec.chunks(1).enumerate() {
            t.data(&info(), Dir::ToServer, b, i as u64 + 1, 0, &mut out);
        }
        assert_eq!(out.len(), 1);
        let Record::TlsClientHello(ch) = &out[0].record else { panic!() };
        assert_eq!(ch.sni.as_deref(), Some("clinic.test"));
        assert_eq!(ch.alpn, vec!["h2", "http/1.1"]);
        assert_eq!(ch.supported_versions, vec!["0x0304", "0x0303"]);
        assert!(ch.ja4.starts_with("t13d0204h2_"), "{}", ch.ja4);
        assert_eq!(out[0].frame, 1);
    }

    /// A HelloRetryRequest, the client's compatibility ChangeCipherSpec, its second
    /// ClientHello, then the real ServerHello: both ClientHellos and both ServerHellos read.
    #[test]
    fn every_client_hello_after_a_hello_retry_request() {
        let ch = crate::analysis::synth::client_hello("clinic.test");
        let server_hello = |random: [u8; 32]| {
            let mut body = vec![0x03, 0x03];
            body.extend_from_slice(&random);
            body.extend_from_slice(&[0, 0x13, 0x01, 0, 0, 6, 0x00, 0x2b, 0, 2, 0x03, 0x04]);
            let mut msg = vec![2, 0, 0, body.len() as u8];
            msg.extend_from_slice(&body);
            let mut rec = vec![22, 3, 3, 0, msg.len() as u8];
            rec.extend_from_slice(&msg);
            rec
        };
        let ccs = [20u8, 3, 3, 0, 1, 1];
        let mut t = TlsConn::default();
        let mut out = Vec::new();
        t.data(&info(), Dir::ToServer, &ch, 1, 0, &mut out);
        t.data(&info(), Dir::ToClient, &[server_hello(HELLO_RETRY_REQUEST), ccs.to_vec()].concat(), 2, 0, &mut out);
        t.data(&info(), Dir::ToServer, &[ccs.to_vec(), ch.clone()].concat(), 3, 0, &mut out);
        t.data(&info(), Dir::ToClient, &server_hello([7; 32]), 4, 0, &mut out);
        let kinds: Vec<&str> = out
            .iter()
            .map(|e| match e.record {
                Record::TlsClientHello(_) => "client",
                Record::TlsServerHello(_) => "server",
                _ => "other",
            })
            .collect();
        assert_eq!(kinds, ["client", "server", "client", "server"]);
        // The server's ChangeCipherSpec and its first encrypted record: now established.
        let mut app = vec![23, 3, 3, 0, 5];
        app.extend_from_slice(b"\x01\x02\x03\x04\x05");
        t.data(&info(), Dir::ToClient, &[ccs.to_vec(), app.clone()].concat(), 5, 0, &mut out);
        assert!(matches!(out[4].record, Record::TlsEstablished(_)), "{:?}", out[4]);
        t.data(&info(), Dir::ToServer, &app, 6, 0, &mut out);
        assert_eq!(out.len(), 5, "once");
    }

    /// Zeek's `established`: after both ChangeCipherSpecs, at the next record; a
    /// handshake the server breaks off with an alert never is.
    #[test]
    fn established_once_both_sides_switched() {
        let ch = crate::analysis::synth::client_hello("clinic.test");
        let sh = crate::analysis::synth::server_hello();
        let fin = crate::analysis::synth::finished();
        let established = |steps: &[(Dir, Vec<u8>)]| {
            let (mut t, mut out) = (TlsConn::default(), Vec::new());
            for (i, (dir, bytes)) in steps.iter().enumerate() {
                t.data(&info(), *dir, bytes, i as u64 + 1, 0, &mut out);
            }
            out.iter().find(|e| matches!(e.record, Record::TlsEstablished(_))).map(|e| e.frame)
        };
        let full = [
            (Dir::ToServer, ch.clone()),
            (Dir::ToClient, sh.clone()),
            (Dir::ToServer, fin.clone()),
            (Dir::ToClient, fin.clone()),
        ];
        assert_eq!(established(&full), Some(4), "at the server's Finished");
        let refused = [(Dir::ToServer, ch), (Dir::ToClient, sh), (Dir::ToClient, vec![21, 3, 3, 0, 2, 2, 40])];
        assert_eq!(established(&refused), None);
    }

    #[test]
    fn ja4_matches_reference_example() {
        // The example in FoxIO's JA4 README (Chrome): ciphers and extensions as listed there.
        let ciphers = [
            0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d,
            0x002f, 0x0035,
        ];
        let exts = [
            0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023, 0x0012, 0x002b, 0xff01,
            0x000b, 0x000a, 0x0015,
        ];
        let sigs = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601];
        let j = ja4(0x0303, &ciphers, &exts, &sigs, true, &["h2".into()], &["0x0304".into(), "0x0303".into()]);
        assert_eq!(j, "t13d1516h2_8daaf6152771_e5627efa2ab1");
    }

    /// JA4 as its specification reads, value by value (the implementation builds the
    /// same text in one buffer).
    fn ja4_plainly(ciphers: &[u16], exts: &[u16], sigs: &[u16], sni: bool, alpn: Option<&[u8]>) -> String {
        let exts: Vec<u16> = exts.iter().copied().filter(|e| !is_grease(*e)).collect();
        let alpn_code = match alpn {
            Some(a) if !a.is_empty() => {
                let (f, l) = (a[0], a[a.len() - 1]);
                if f.is_ascii_alphanumeric() && l.is_ascii_alphanumeric() {
                    format!("{}{}", f as char, l as char)
                } else {
                    let h = hex::encode([f, l]);
                    format!("{}{}", &h[..1], &h[3..])
                }
            }
            _ => "00".to_string(),
        };
        let hash12 = |s: String| {
            if s.is_empty() {
                "000000000000".to_string()
            } else {
                hex::encode(Sha256::digest(s.as_bytes()))[..12].to_string()
            }
        };
        let list = |v: &[u16]| v.iter().map(|c| format!("{c:04x}")).collect::<Vec<_>>().join(",");
        let mut c = ciphers.to_vec();
        c.sort_unstable();
        let mut e: Vec<u16> = exts.iter().copied().filter(|e| *e != 0x0000 && *e != 0x0010).collect();
        e.sort_unstable();
        let mut cs = list(&e);
        if !sigs.is_empty() && !cs.is_empty() {
            cs = format!("{cs}_{}", list(sigs));
        }
        let sni = if sni { 'd' } else { 'i' };
        format!(
            "t13{sni}{:02}{:02}{alpn_code}_{}_{}",
            c.len().min(99),
            exts.len().min(99),
            hash12(list(&c)),
            hash12(cs)
        )
    }

    #[test]
    fn ja4_is_the_specifications_text_for_every_shape_of_hello() {
        let many: Vec<u16> = (1..=120).collect();
        let alpns: [Option<&[u8]>; 6] = [None, Some(b""), Some(b"h2"), Some(b"x"), Some(b"-ab\xff"), Some(b"\x01")];
        let lists: [&[u16]; 4] = [&[], &[0x1301, 0x0a0a, 0x002f], &[0x0000, 0x0010], &many];
        for ciphers in lists {
            for exts in lists {
                for sigs in [&[][..], &[0x0403, 0x0804]] {
                    for alpn in alpns {
                        for sni in [true, false] {
                            let alpn_list: Vec<String> =
                                alpn.map(|a| String::from_utf8_lossy(a).into_owned()).into_iter().collect();
                            let want_alpn = alpn_list.first().map(|a| a.as_bytes());
                            let got = ja4(0x0303, ciphers, exts, sigs, sni, &alpn_list, &["0x0304".into()]);
                            assert_eq!(got, ja4_plainly(ciphers, exts, sigs, sni, want_alpn), "{alpn:?} {ciphers:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn encrypted_records_are_counted_not_read() {
        let mut t = TlsConn::default();
        let mut out = Vec::new();
        let mut app = vec![23, 3, 3, 0, 5];
        app.extend_from_slice(b"\x01\x02\x03\x04\x05");
        t.data(&info(), Dir::ToClient, &app, 1, 0, &mut out);
        t.data(&info(), Dir::ToClient, &app, 2, 0, &mut out);
        t.data(&info(), Dir::ToServer, &[21, 3, 3, 0, 2, 2, 20], 3, 0, &mut out);
        t.end(&info(), &mut out);
        let Record::TlsAlert(a) = &out[0].record else { panic!("{out:?}") };
        assert_eq!(a.name, "bad_record_mac");
        let Record::TlsTraffic(tr) = &out[1].record else { panic!() };
        assert_eq!((tr.records_to_client, tr.bytes_to_client), (2, 10));
    }

    #[test]
    fn not_tls_stops_quietly() {
        let mut t = TlsConn::default();
        let mut out = Vec::new();
        t.data(&info(), Dir::ToServer, b"\x16\x03\x01\xff\xffgarbage", 1, 0, &mut out);
        t.end(&info(), &mut out);
        let Record::TlsTraffic(tr) = &out[0].record else { panic!() };
        assert!(tr.stopped.is_some());
    }
}

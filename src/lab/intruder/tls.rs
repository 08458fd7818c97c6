//! The intruder's HTTPS side. It reads the ClientHello (all an on-path party learns before
//! encryption: the server name, ALPN), then by mode:
//! - `passthrough`: relays the bytes blind, counting sizes;
//! - `mitm`: answers with a certificate for that name forged by its own CA, and records
//!   how the visitor refused it (or, when the visitor was made to trust that CA, reads and
//!   injects as on HTTP: the one way HTTPS falls);
//! - `tamper`: relays the handshake, then flips a byte in every encrypted record from the
//!   server, and records the visitor aborting;
//! - `strip`: HTTPS that still arrives here comes from a visitor who knew the site's HSTS
//!   policy: nothing can be stripped, it is relayed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use super::{Act, Ctx, Interception, ProxyError, TlsMode};
use crate::analysis::dissect::{Record, tls::TlsConn};
use crate::analysis::reassembly::{ConnInfo, Dir};

/// A stream whose first bytes were already read (the ClientHello), replayed first.
pub struct Prefixed<S> {
    prefix: Vec<u8>,
    pos: usize,
    inner: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        if self.pos < self.prefix.len() {
            let n = buf.remaining().min(self.prefix.len() - self.pos);
            let start = self.pos;
            buf.put_slice(&self.prefix[start..start + n]);
            self.pos += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Reads until a whole ClientHello is in; returns the bytes and its server name and ALPN.
/// `Err` when the stream is not TLS or stalls.
pub async fn read_client_hello(s: &mut TcpStream) -> Result<(Vec<u8>, Option<String>, Vec<String>), ProxyError> {
    let info = ConnInfo {
        id: 0,
        client: "0.0.0.0:0".parse().expect("literal"),
        server: "0.0.0.0:0".parse().expect("literal"),
        first_frame: 0,
        first_ts: 0,
    };
    let mut parser = TlsConn::default();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let n = tokio::time::timeout(left, s.read(&mut chunk))
            .await
            .map_err(|_| ProxyError::HelloTimeout)?
            .map_err(ProxyError::HelloRead)?;
        if n == 0 {
            return Err(ProxyError::HelloClosed);
        }
        if buf.is_empty() && !crate::analysis::dissect::tls::looks_like_tls(&chunk[..n.min(3)]) && n >= 3 {
            return Err(ProxyError::NotTls);
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut out = Vec::new();
        parser.data(&info, Dir::ToServer, &chunk[..n], 0, 0, &mut out);
        if let Some(ch) = out.iter().find_map(|e| match &e.record {
            Record::TlsClientHello(ch) => Some(ch.clone()),
            _ => None,
        }) {
            return Ok((buf, ch.sni, ch.alpn));
        }
        if buf.len() > 64 << 10 {
            return Err(ProxyError::HelloTooLarge);
        }
    }
}

pub async fn connection(mut client: TcpStream, ctx: Arc<Ctx>) {
    let _open = crate::lab::conn::Open::count();
    let Some((peer, dst)) = super::intercepted(&client) else { return };
    let mode = ctx.opts.tls;
    let mut o = Interception {
        kind: super::Kind::Tls,
        client: peer.clone(),
        server: dst.to_string(),
        mode: Some(mode),
        ..Interception::default()
    };
    let (hello, sni, alpn) = match read_client_hello(&mut client).await {
        Ok(h) => h,
        Err(e) => {
            o.outcome = Act::Failed;
            o.detail = e.to_string();
            ctx.record(o);
            return;
        }
    };
    o.sni = sni.clone();
    let seen = format!(
        "ClientHello: server name {}, ALPN {}",
        sni.as_deref().unwrap_or("(none)"),
        if alpn.is_empty() { "(none)".into() } else { alpn.join(",") }
    );
    match mode {
        TlsMode::Passthrough | TlsMode::Strip => {
            let (up, down, _) = relay(client, hello, dst, false, ctx.opts.idle_timeout).await;
            o.bytes_to_server = up;
            o.bytes_to_client = down;
            o.outcome = Act::Relayed;
            o.detail = if mode == TlsMode::Strip {
                format!("the visitor came over HTTPS (it knew the site's HSTS policy): nothing to strip; {seen}")
            } else {
                format!("relayed blind; the intruder saw only the {seen}, addresses, sizes and timing")
            };
            ctx.record(o);
        }
        TlsMode::Tamper => {
            let (up, down, tampered) = relay(client, hello, dst, true, ctx.opts.idle_timeout).await;
            o.bytes_to_server = up;
            o.bytes_to_client = down;
            o.records_tampered = tampered;
            o.outcome = if tampered > 0 { Act::Detected } else { Act::Relayed };
            o.detail = format!(
                "flipped a byte in {tampered} encrypted record(s) from the server; the visitor's TLS authenticates every record, so it aborted instead of accepting modified bytes"
            );
            ctx.record(o);
        }
        TlsMode::Mitm => mitm(client, hello, dst, sni, o, ctx).await,
    }
}

/// Relays both ways after sending the held ClientHello; with `tamper`, flips the first
/// payload byte of every server application-data record once the client has started
/// sending encrypted data. Returns bytes each way and records tampered. A side that sends
/// nothing for `idle` ends the relay.
async fn relay(client: TcpStream, hello: Vec<u8>, dst: SocketAddr, tamper: bool, idle: Duration) -> (u64, u64, u64) {
    let Ok(Ok(mut server)) = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(dst)).await else {
        return (0, 0, 0);
    };
    if server.write_all(&hello).await.is_err() {
        return (0, 0, 0);
    }
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let client_encrypted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = client_encrypted.clone();
    let up = async move {
        let mut total = hello.len() as u64;
        let mut rec = RecordScanner::default();
        let mut buf = vec![0u8; 16 << 10];
        loop {
            let n = match tokio::time::timeout(idle, cr.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => n,
                _ => break,
            };
            rec.scan(&mut buf[..n], |t, _| {
                if t == 23 {
                    flag.store(true, std::sync::atomic::Ordering::SeqCst);
                }
                false
            });
            total += n as u64;
            if sw.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = sw.shutdown().await;
        total
    };
    let down = async move {
        let mut total = 0u64;
        let mut tampered = 0u64;
        let mut rec = RecordScanner::default();
        let mut buf = vec![0u8; 16 << 10];
        loop {
            let n = match tokio::time::timeout(idle, sr.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => n,
                _ => break,
            };
            if tamper {
                let active = client_encrypted.load(std::sync::atomic::Ordering::SeqCst);
                tampered += rec.scan(&mut buf[..n], |t, first| t == 23 && first && active);
            }
            total += n as u64;
            if cw.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = cw.shutdown().await;
        (total, tampered)
    };
    let (u, (d, t)) = tokio::join!(up, down);
    (u, d, t)
}

/// Follows TLS record framing across reads; the callback sees each payload byte's record
/// type and whether it is the record's first payload byte, and returns whether to flip it.
#[derive(Default)]
struct RecordScanner {
    header: Vec<u8>,
    remaining: usize,
    kind: u8,
    first: bool,
}

impl RecordScanner {
    fn scan(&mut self, data: &mut [u8], mut flip: impl FnMut(u8, bool) -> bool) -> u64 {
        let mut flipped = 0;
        let mut i = 0;
        while i < data.len() {
            if self.remaining == 0 {
                self.header.push(data[i]);
                i += 1;
                if self.header.len() == 5 {
                    self.kind = self.header[0];
                    self.remaining = u16::from_be_bytes([self.header[3], self.header[4]]) as usize;
                    self.first = true;
                    self.header.clear();
                }
                continue;
            }
            let n = self.remaining.min(data.len() - i);
            if flip(self.kind, self.first) {
                data[i] ^= 0x5a;
                flipped += 1;
            }
            self.first = false;
            self.remaining -= n;
            i += n;
        }
        flipped
    }
}

/// How a handshake with a forged certificate ended, from the visitor's side: a refusal only
/// when the visitor said so (a TLS alert); anything else (garbage, a closed connection) is
/// a failed handshake, not a refusal. Returns (outcome, detail).
fn handshake_end(e: &std::io::Error, name: &str) -> (Act, String) {
    let alert = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()).and_then(|r| match r {
        rustls::Error::AlertReceived(a) => Some(*a),
        _ => None,
    });
    match alert {
        Some(a) => (
            Act::Refused,
            format!(
                "the visitor refused the forged certificate for {name} (alert {a:?}); the intruder learned nothing beyond the ClientHello"
            ),
        ),
        None => (
            Act::Failed,
            format!(
                "the handshake with the visitor broke off ({e}); the intruder learned nothing beyond the ClientHello"
            ),
        ),
    }
}

/// Forged certificates made so far are kept for this many server names at most (a
/// client naming thousands of hosts must not grow the proxy without bound).
pub const FORGED_KEPT: usize = 256;

/// The forged certificates, least recently used first out.
#[derive(Default)]
struct Forged {
    configs: HashMap<String, Arc<rustls::ServerConfig>>,
    /// Names, least recently used first.
    order: std::collections::VecDeque<String>,
    evicted: u64,
}

impl Forged {
    fn get(&mut self, name: &str) -> Option<Arc<rustls::ServerConfig>> {
        let c = self.configs.get(name)?.clone();
        if let Some(i) = self.order.iter().position(|n| n == name) {
            let n = self.order.remove(i).expect("found above");
            self.order.push_back(n);
        }
        Some(c)
    }

    fn put(&mut self, name: &str, c: Arc<rustls::ServerConfig>) {
        if self.configs.len() >= FORGED_KEPT
            && let Some(old) = self.order.pop_front()
        {
            self.configs.remove(&old);
            self.evicted += 1;
        }
        if self.configs.insert(name.to_string(), c).is_none() {
            self.order.push_back(name.to_string());
        }
    }
}

static FORGED: Mutex<Option<Forged>> = Mutex::new(None);

/// How many server names have a forged certificate kept, and how many were evicted.
pub fn forged_stats() -> (usize, u64) {
    FORGED.lock().expect("no panics while held").as_ref().map_or((0, 0), |f| (f.configs.len(), f.evicted))
}

/// Forged certificates, one per server name.
fn forged(ctx: &Ctx, name: &str) -> Result<Arc<rustls::ServerConfig>, ProxyError> {
    if let Some(c) = FORGED.lock().expect("no panics while held").get_or_insert_with(Forged::default).get(name) {
        return Ok(c);
    }
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let fail = |reason: String| ProxyError::Forge { name: name.to_string(), reason };
    let leaf = ctx.intruder_ca.issue(&[name]).map_err(|e| fail(e.to_string()))?;
    let chain = vec![
        CertificateDer::from_pem_slice(leaf.cert_pem.as_bytes()).map_err(|e| fail(e.to_string()))?,
        CertificateDer::from_pem_slice(ctx.intruder_ca.cert_pem.as_bytes()).map_err(|e| fail(e.to_string()))?,
    ];
    let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).map_err(|e| fail(e.to_string()))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(rustls::crypto::ring::default_provider().into())
        .with_safe_default_protocol_versions()
        .map_err(|e| fail(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| fail(e.to_string()))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    let cfg = Arc::new(cfg);
    FORGED.lock().expect("no panics while held").get_or_insert_with(Forged::default).put(name, cfg.clone());
    Ok(cfg)
}

async fn mitm(
    client: TcpStream,
    hello: Vec<u8>,
    dst: SocketAddr,
    sni: Option<String>,
    mut o: Interception,
    ctx: Arc<Ctx>,
) {
    let name = sni.clone().unwrap_or_else(|| dst.ip().to_string());
    let cfg = match forged(&ctx, &name) {
        Ok(c) => c,
        Err(e) => {
            o.outcome = Act::Failed;
            o.detail = e.to_string();
            ctx.record(o);
            return;
        }
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
    // After the handshake as before it: a visitor that goes silent, or stalls a body, is
    // closed after the idle limit (hyper's header timer covers the wait for a request).
    let stream =
        Prefixed { prefix: hello, pos: 0, inner: crate::lab::conn::idle_limited(client, ctx.opts.idle_timeout) };
    match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
        Ok(Ok(tls)) => {
            o.outcome = Act::Read;
            o.detail = format!(
                "the visitor ACCEPTED a certificate for {name} forged by the intruder's CA (it was made to trust that CA): HTTPS is broken, the intruder reads and changes everything"
            );
            ctx.record(o.clone());
            let upstream = super::http::Upstream::Tls(name);
            super::http::serve(hyper_util::rt::TokioIo::new(tls), o.client, dst, upstream, ctx).await;
        }
        Ok(Err(e)) => {
            (o.outcome, o.detail) = handshake_end(&e, &name);
            ctx.record(o);
        }
        Err(_) => {
            o.outcome = Act::Refused;
            o.detail = "the visitor gave up on the forged certificate (handshake timed out)".into();
            ctx.record(o);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forged_certificates_are_bounded_least_recently_used_first() {
        let cfg = Arc::new(
            rustls::ServerConfig::builder_with_provider(rustls::crypto::ring::default_provider().into())
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_cert_resolver(Arc::new(rustls::server::ResolvesServerCertUsingSni::new())),
        );
        let mut f = Forged::default();
        for i in 0..FORGED_KEPT {
            f.put(&format!("h{i}.test"), cfg.clone());
        }
        assert!(f.get("h0.test").is_some(), "h0 used again: now the most recent");
        f.put("new.test", cfg.clone());
        assert_eq!((f.configs.len(), f.evicted), (FORGED_KEPT, 1));
        assert!(f.get("h0.test").is_some() && f.get("h1.test").is_none(), "the least recently used went");
        for i in 0..4000 {
            f.put(&format!("flood{i}.test"), cfg.clone());
        }
        assert_eq!(f.configs.len(), FORGED_KEPT);
        assert_eq!(f.order.len(), FORGED_KEPT);
    }

    /// Regression: garbage after a valid ClientHello was reported as the visitor refusing
    /// the forged certificate; only a TLS alert from the visitor is a refusal.
    #[test]
    fn only_an_alert_is_a_refusal() {
        let io = |e: rustls::Error| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        let (o, d) =
            handshake_end(&io(rustls::Error::AlertReceived(rustls::AlertDescription::UnknownCA)), "clinic.test");
        assert_eq!(o, Act::Refused);
        assert!(d.contains("UnknownCA"), "{d}");
        let (o, _) = handshake_end(
            &io(rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType)),
            "clinic.test",
        );
        assert_eq!(o, Act::Failed);
        let (o, _) = handshake_end(&std::io::Error::from(std::io::ErrorKind::UnexpectedEof), "clinic.test");
        assert_eq!(o, Act::Failed);
    }

    #[test]
    fn scanner_flips_first_byte_of_each_app_data_record_across_reads() {
        let mut stream = Vec::new();
        for (t, len) in [(22u8, 3usize), (23, 4), (23, 2)] {
            stream.extend_from_slice(&[t, 3, 3, 0, len as u8]);
            stream.extend(std::iter::repeat_n(0u8, len));
        }
        for split in 1..stream.len() {
            let mut s = RecordScanner::default();
            let mut data = stream.clone();
            let (a, b) = data.split_at_mut(split);
            let n = s.scan(a, |t, first| t == 23 && first) + s.scan(b, |t, first| t == 23 && first);
            assert_eq!(n, 2, "split at {split}");
            assert_eq!(data[13], 0x5a);
            assert_eq!(data[22], 0x5a);
            assert_eq!(data.iter().filter(|b| **b == 0x5a).count(), 2);
        }
    }
}

//! The lab's servers' connections, from listen to close: a listen backlog sized for
//! bursts ([`listen`]), a limit on idle time ([`idle_limited`]), and closing without
//! losing the last answer ([`Linger`]), as nginx's `lingering_close` does.
//!
//! On closing: When a server answers (a 400 to a malformed request, say) and
//! closes while the client's later bytes are still arriving, the kernel answers those
//! bytes with a reset, and the reset makes the client throw away the answer it had not
//! read yet: an empty reply. So the server keeps its own handle on the socket: once the
//! HTTP layer is done, it sends FIN after the answer, then reads and discards what still
//! comes, bounded in time and bytes, before the socket closes.
//!
//! [`idle_limited`] bounds the other end of a connection's life: no byte in or out for a
//! while, and it is closed.

use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use tokio::io::AsyncReadExt;

/// Connections waiting to be accepted, at most (std and mio use 128, which a burst of a
/// room's clients overflows: the kernel then resets them).
pub const BACKLOG: u32 = 1024;

/// A listener on `addr` with a [`BACKLOG`]-deep queue.
pub fn listen(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let s = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    s.set_reuseaddr(true)?;
    s.bind(addr)?;
    s.listen(BACKLOG)
}

/// The longest a client may take to send a request's head (hyper's timer also covers the
/// wait for the first byte and for the next request on a kept-alive connection): nginx's
/// `client_header_timeout` is 60 s; this is 10 s, or three quarters of a shorter idle
/// limit (so that hyper's timer, which leads to a 408, fires before the idle limit's, which
/// only closes).
pub fn header_timeout(idle: Duration) -> Duration {
    (idle * 3 / 4).min(Duration::from_secs(10))
}

/// What a server says when it gives up waiting for a request (RFC 9110 §15.5.9).
pub const REQUEST_TIMEOUT: &[u8] = b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";

/// Whether `e`, or what caused it, is a time limit running out (hyper's header timer, or an
/// [`idle_limited`] read or write).
pub fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(e) = cur {
        if e.downcast_ref::<hyper::Error>().is_some_and(hyper::Error::is_timeout)
            || e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        cur = e.source();
    }
    false
}

/// Whether part of a request arrived since the last answer went out: what tells a client
/// that stalled in the middle of a request (it gets a 408) from a kept-alive connection
/// that simply stayed idle (it is closed without a word, as nginx closes it). A 408 sent on
/// an idle connection meets the next request that the client (a proxy's pool, a browser)
/// sends on it just then, and answers that request instead.
#[derive(Clone, Default)]
pub struct Heard(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Heard {
    /// True when bytes came in after the last bytes went out. (Bytes of a pipelined
    /// request read before the previous answer left count as answered: such a connection
    /// is closed without a 408.)
    pub fn mid_request(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// `inner`, noting in [`Heard`] whether it was last read from or written to.
pub struct Watched<S> {
    inner: S,
    heard: Heard,
}

/// `inner` watched: see [`Heard`].
pub fn watched<S>(inner: S) -> (Watched<S>, Heard) {
    let heard = Heard::default();
    (Watched { inner, heard: heard.clone() }, heard)
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Watched<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.heard.0.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        r
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let r = std::pin::Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, std::task::Poll::Ready(Ok(n)) if n > 0) {
            self.heard.0.store(false, std::sync::atomic::Ordering::Relaxed);
        }
        r
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let r = std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, std::task::Poll::Ready(Ok(n)) if n > 0) {
            self.heard.0.store(false, std::sync::atomic::Ordering::Relaxed);
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// How long a closing connection keeps reading the client's leftovers.
const LINGER: Duration = Duration::from_secs(2);
/// How much of them it reads at most.
const LINGER_BYTES: usize = 256 << 10;

/// `stream` with a limit on each read and write: one that waits longer than `idle` fails,
/// and the server closes the connection (a silent client, a stalled body, an idle
/// keep-alive, a client that stops reading).
pub fn idle_limited(
    stream: tokio::net::TcpStream,
    idle: Duration,
) -> std::pin::Pin<Box<tokio_io_timeout::TimeoutStream<tokio::net::TcpStream>>> {
    let mut s = tokio_io_timeout::TimeoutStream::new(stream);
    s.set_read_timeout(Some(idle));
    s.set_write_timeout(Some(idle));
    Box::pin(s)
}

/// After a failed accept (out of descriptors or memory, say): log it at most once a second,
/// and wait 100 ms instead of retrying at once (a spin that starves the connections
/// already open, and the ones that would free descriptors).
pub async fn backoff(what: &str, e: &std::io::Error) {
    static LAST: std::sync::Mutex<Option<std::time::Instant>> = std::sync::Mutex::new(None);
    let now = std::time::Instant::now();
    let say = {
        let mut last = LAST.lock().expect("no panics while held");
        let due = last.is_none_or(|t| now.duration_since(t) > Duration::from_secs(1));
        if due {
            *last = Some(now);
        }
        due
    };
    if say {
        eprintln!("{what}: {e}; backing off");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Connections open now in this process, and the most open since memory was last handed
/// back to the system.
static OPEN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static PEAK: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Counts one open connection while it lives (for [`trim_after_bursts`]).
pub struct Open(());

impl Open {
    pub fn count() -> Open {
        use std::sync::atomic::Ordering::Relaxed;
        let n = OPEN.fetch_add(1, Relaxed) + 1;
        PEAK.fetch_max(n, Relaxed);
        Open(())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        OPEN.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Hands freed memory back to the system after a burst of connections has passed. glibc
/// keeps what a burst freed (5,000 slow requests left the proxy at 290 MB, for good);
/// `malloc_trim` returns it. Checked once a second: when fewer than a quarter of the
/// burst's connections are still open, trim. docs/performance.md has the figures against
/// mimalloc and jemalloc.
pub async fn trim_after_bursts() {
    use std::sync::atomic::Ordering::Relaxed;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (open, peak) = (OPEN.load(Relaxed), PEAK.load(Relaxed));
        if peak >= 64 && open <= peak / 4 {
            #[cfg(target_env = "gnu")]
            // SAFETY: malloc_trim only returns free pages to the system; any thread may call it.
            unsafe {
                libc::malloc_trim(0);
            }
            PEAK.store(open, Relaxed);
        }
    }
}

/// A second handle on a connection's socket, kept while the HTTP layer owns the first.
pub struct Linger(Option<OwnedFd>);

impl Linger {
    /// Keeps a handle on `stream`'s socket (a duplicate descriptor).
    pub fn keep(stream: &tokio::net::TcpStream) -> Linger {
        Linger(stream.as_fd().try_clone_to_owned().ok())
    }

    /// Call once the HTTP layer dropped its side: FIN after what was sent, then drain.
    pub async fn close(self) {
        self.close_after(&[]).await
    }

    /// [`close`](Self::close), sending `last` first: a 408 when the HTTP layer gave up
    /// waiting for the rest of a request head (plain HTTP only: on TLS these bytes would be
    /// garbage; and not on an idle kept-alive connection, see [`Heard`]).
    pub async fn close_after(self, last: &[u8]) {
        use tokio::io::AsyncWriteExt;
        let Some(fd) = self.0 else { return };
        let std = std::net::TcpStream::from(fd);
        if std.set_nonblocking(true).is_err() {
            return;
        }
        let Ok(mut s) = tokio::net::TcpStream::from_std(std) else { return };
        if !last.is_empty() {
            let _ = tokio::time::timeout(LINGER, s.write_all(last)).await;
        }
        let _ = s.shutdown().await;
        let deadline = tokio::time::Instant::now() + LINGER;
        // On the heap: this future lives inside every connection's task, idle ones too.
        let mut buf = vec![0u8; 4096];
        let mut left = LINGER_BYTES;
        while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            if n == 0 || n >= left {
                break;
            }
            left -= n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[test]
    fn listeners_queue_a_burst() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let l = listen("127.0.0.1:0".parse().unwrap()).unwrap();
            let addr = l.local_addr().unwrap();
            // 600 connections before any accept: more than std's backlog of 128.
            let mut held = Vec::new();
            for _ in 0..600 {
                held.push(
                    std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("queued, not dropped"),
                );
            }
            let mut accepted = 0;
            while tokio::time::timeout(Duration::from_millis(200), l.accept()).await.is_ok_and(|r| r.is_ok()) {
                accepted += 1;
            }
            assert_eq!(accepted, 600);
        });
    }

    /// The server answers the first bytes and drops its side while the client is still
    /// sending: with the linger, the client reads the whole answer, not a reset.
    #[test]
    fn answer_survives_a_client_still_sending() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = l.local_addr().unwrap();
            let server = tokio::spawn(async move {
                let (mut s, _) = l.accept().await.unwrap();
                let keep = Linger::keep(&s);
                let mut first = [0u8; 16];
                s.read_exact(&mut first).await.unwrap();
                s.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n").await.unwrap();
                drop(s);
                keep.close().await;
            });
            let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
            for _ in 0..12 {
                c.write_all(b"0123456789abcdef").await.unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let mut answer = Vec::new();
            c.read_to_end(&mut answer).await.unwrap();
            assert!(answer.starts_with(b"HTTP/1.1 400"), "{:?}", String::from_utf8_lossy(&answer));
            server.await.unwrap();
        });
    }
}

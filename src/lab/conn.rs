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

/// How long a closing connection keeps reading the client's leftovers.
const LINGER: Duration = Duration::from_secs(2);
/// How much of them it reads at most.
const LINGER_BYTES: usize = 256 << 10;

/// `stream` with a limit on each read and write: one that waits longer than `idle` fails,
/// and the server closes the connection (a silent client, a stalled body, an idle
/// keep-alive, a client that stops reading).
pub fn idle_limited(stream: tokio::net::TcpStream, idle: Duration) -> std::pin::Pin<Box<tokio_io_timeout::TimeoutStream<tokio::net::TcpStream>>> {
    let mut s = tokio_io_timeout::TimeoutStream::new(stream);
    s.set_read_timeout(Some(idle));
    s.set_write_timeout(Some(idle));
    Box::pin(s)
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
        let Some(fd) = self.0 else { return };
        let std = std::net::TcpStream::from(fd);
        let _ = std.shutdown(std::net::Shutdown::Write);
        if std.set_nonblocking(true).is_err() {
            return;
        }
        let Ok(mut s) = tokio::net::TcpStream::from_std(std) else { return };
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
                held.push(std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("queued, not dropped"));
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

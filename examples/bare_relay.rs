//! The ceiling for `scripts/bench-proxy.sh`: the least a hyper relay can do. It forwards
//! each visitor connection's requests over one connection of its own to a fixed site
//! (the lab's, by default) and passes responses back untouched: no original-destination
//! lookup, no header hygiene, no records, no injection. Not part of plainsight.
//! Usage: bare_relay LISTEN_PORT SITE_ADDR

use std::sync::Arc;

use hyper_util::rt::TokioIo;
use tokio::sync::Mutex;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().as_deref().unwrap_or("8080").parse()?;
    let site: std::net::SocketAddr = args.next().as_deref().unwrap_or("198.51.100.10:80").parse()?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("0.0.0.0", port)).await?;
        loop {
            let (visitor, _) = listener.accept().await?;
            tokio::spawn(async move {
                let Ok(up) = tokio::net::TcpStream::connect(site).await else { return };
                let Ok((sender, conn)) = hyper::client::conn::http1::handshake(TokioIo::new(up)).await else { return };
                tokio::spawn(conn);
                let sender = Arc::new(Mutex::new(sender));
                let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let sender = sender.clone();
                    async move {
                        let mut s = sender.lock().await;
                        s.ready().await?;
                        s.send_request(req).await
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(visitor), svc).await;
            });
        }
    })
}

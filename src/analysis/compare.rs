//! `plainsight compare SITE VISITOR`: the same exchanges seen from two vantage points.
//! For HTTP, per exchange, whether the response changed on the way and where (status,
//! headers, body size, title); for TLS, the content cannot be compared (that is the
//! point), only whether the records match in count and size. When the visitor received
//! over plain HTTP what the site sent over TLS to another address (sslstrip), each such
//! exchange is said to be relayed, and by whom.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use crate::analysis::dissect::{Record, http::Response, tls::Traffic};

/// What one capture shows, in order.
#[derive(Default)]
struct Side {
    /// (method url) -> responses in order.
    http: BTreeMap<String, Vec<Response>>,
    tls: Vec<Traffic>,
    /// Client addresses of the TLS connections (the side that did not listen on the port).
    tls_clients: std::collections::BTreeSet<std::net::IpAddr>,
    /// Client addresses of the HTTP exchanges.
    http_clients: std::collections::BTreeSet<std::net::IpAddr>,
    /// (server, client) pairs that already had an answer to a request.
    answered: std::collections::HashSet<(std::net::SocketAddr, std::net::SocketAddr)>,
    /// Answers that came on such a pair after its connection ended, with no request of
    /// their own: they lost a race for the same place in the stream.
    late: Vec<(std::net::SocketAddr, Response)>,
}

/// The key of an exchange: `GET http://host/uri`, or a response whose request the capture
/// does not hold.
fn key(r: &Response) -> String {
    match (&r.for_method, &r.for_uri) {
        (Some(m), Some(u)) => {
            let url = match &r.for_host {
                Some(h) if u.starts_with('/') => format!("http://{h}{u}"),
                _ => u.clone(),
            };
            format!("{m} {}", crate::analysis::findings::mask_url(&url))
        }
        _ => format!("(a {} response to no request in the capture)", r.status),
    }
}

fn read(path: &Path) -> anyhow::Result<Side> {
    let mut side = Side::default();
    crate::analysis::analyze::scan(
        path,
        None,
        &mut |e, _| match &e.record {
            Record::HttpResponse(r) => {
                if r.for_method.is_none() && side.answered.contains(&(e.src, e.dst)) {
                    side.late.push((e.src, r.clone()));
                    return;
                }
                if r.for_method.is_some() {
                    side.answered.insert((e.src, e.dst));
                }
                side.http.entry(key(r)).or_default().push(r.clone());
                side.http_clients.insert(e.dst.ip());
            }
            Record::TlsTraffic(t) => {
                side.tls.push(t.clone());
                side.tls_clients.insert(if e.src.port() > e.dst.port() { e.src.ip() } else { e.dst.ip() });
            }
            _ => {}
        },
        &mut |_| {},
    )?;
    Ok(side)
}

/// Differences between what the site sent and what the visitor received.
pub fn differences(sent: &Response, got: &Response) -> Vec<String> {
    let mut d = Vec::new();
    let mut field = |name: &str, a: String, b: String| {
        if a != b {
            d.push(format!("{name}: {a:?} -> {b:?}"));
        }
    };
    field("status", sent.status.to_string(), got.status.to_string());
    field("content-type", sent.content_type.clone().unwrap_or_default(), got.content_type.clone().unwrap_or_default());
    field(
        "content-encoding",
        sent.content_encoding.clone().unwrap_or_default(),
        got.content_encoding.clone().unwrap_or_default(),
    );
    field("location", sent.location.clone().unwrap_or_default(), got.location.clone().unwrap_or_default());
    field("strict-transport-security", sent.hsts.clone().unwrap_or_default(), got.hsts.clone().unwrap_or_default());
    field("set-cookie", sent.set_cookies.join(" | "), got.set_cookies.join(" | "));
    field("title", sent.title.clone().unwrap_or_default(), got.title.clone().unwrap_or_default());
    if sent.content_encoding == got.content_encoding {
        field("body bytes", sent.body_len.to_string(), got.body_len.to_string());
        if sent.body_len == got.body_len {
            field("body start", sent.body_preview.clone(), got.body_preview.clone());
        }
    } else {
        d.push(format!("body re-encoded ({} bytes -> {} bytes)", sent.body_len, got.body_len));
    }
    d
}

/// The comparison as text.
pub fn compare(site: &Path, visitor: &Path) -> anyhow::Result<String> {
    let (a, b) = (read(site)?, read(visitor)?);
    let mut out = String::new();
    let keys: std::collections::BTreeSet<&String> = a.http.keys().chain(b.http.keys()).collect();
    let (mut same, mut changed, mut relayed) = (0, 0, 0);
    // The site spoke TLS only to addresses that are not the visitor's: whatever plain HTTP
    // the visitor got came through someone in between.
    let go_between: Vec<String> =
        a.tls_clients.iter().filter(|c| !b.http_clients.contains(c)).map(|c| c.to_string()).collect();
    let stripped = a.http.is_empty() && !a.tls.is_empty() && !b.http.is_empty() && !go_between.is_empty();
    for k in keys {
        let (sa, sb) =
            (a.http.get(k).map(Vec::as_slice).unwrap_or(&[]), b.http.get(k).map(Vec::as_slice).unwrap_or(&[]));
        for i in 0..sa.len().max(sb.len()) {
            match (sa.get(i), sb.get(i)) {
                (Some(x), Some(y)) => {
                    let d = differences(x, y);
                    if d.is_empty() {
                        same += 1;
                        let _ = writeln!(out, "same      {k}");
                    } else {
                        changed += 1;
                        let _ = writeln!(out, "CHANGED   {k}: {}", d.join("; "));
                    }
                }
                (Some(_), None) => {
                    let _ = writeln!(out, "MISSING   {k}: sent by the site, never reached the visitor");
                }
                (None, Some(y)) if stripped => {
                    relayed += 1;
                    let title = y.title.as_ref().map(|t| format!(", title {t:?}")).unwrap_or_default();
                    let _ = writeln!(
                        out,
                        "RELAYED   {k}: received by the visitor over plain HTTP ({} {}{title}, {} bytes); the site sent its answers over TLS to {}, not to the visitor",
                        y.status,
                        y.reason,
                        y.body_len,
                        go_between.join(", ")
                    );
                }
                (None, Some(_)) => {
                    let _ = writeln!(out, "EXTRA     {k}: received by the visitor, never sent by the site");
                }
                (None, None) => {}
            }
        }
    }
    if !a.tls.is_empty() || !b.tls.is_empty() {
        let total = |v: &[Traffic]| {
            (v.iter().map(|t| t.records_to_client).sum::<u64>(), v.iter().map(|t| t.bytes_to_client).sum::<u64>())
        };
        let (ra, ba) = total(&a.tls);
        let (rb, bb) = total(&b.tls);
        if stripped {
            let _ = writeln!(
                out,
                "TLS: the site sent {ra} records / {ba} B over {} TLS connection(s); the visitor received none over TLS",
                a.tls.len()
            );
        } else {
            let _ = writeln!(
                out,
                "TLS: content cannot be compared (it is encrypted); {} connection(s) at the site, {} at the visitor; records to the visitor {ra}/{ba} B sent, {rb}/{bb} B received: {}",
                a.tls.len(),
                b.tls.len(),
                if (ra, ba) == (rb, bb) { "they match" } else { "they differ" }
            );
        }
    }
    for (from, r) in &b.late {
        let title = r.title.as_ref().map(|t| format!(", title {t:?}")).unwrap_or_default();
        let _ = writeln!(
            out,
            "LATE      a {} answer from {from}{title}: it reached the visitor after another answer had already filled that place in the connection, so the visitor's TCP discarded it (it lost a race)",
            r.status
        );
    }
    if stripped {
        let _ = writeln!(
            out,
            "The site spoke only TLS, to {}; the visitor spoke only plain HTTP: an intruder in between downgraded the visit (sslstrip). What it changed shows in the visitor's own check.",
            go_between.join(", ")
        );
    }
    let relayed = if relayed > 0 { format!(", {relayed} relayed from TLS to plain HTTP") } else { String::new() };
    let _ = writeln!(out, "{same} HTTP exchange(s) identical, {changed} changed on the way{relayed}");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injected_page_is_reported_changed() {
        let sent = Response {
            status: 200,
            content_type: Some("text/html".into()),
            content_encoding: Some("gzip".into()),
            body_len: 500,
            title: Some("T".into()),
            ..Default::default()
        };
        let mut got = sent.clone();
        got.content_encoding = None;
        got.body_len = 1400;
        let d = differences(&sent, &got);
        assert!(d.iter().any(|x| x.starts_with("content-encoding")));
        assert!(d.iter().any(|x| x.contains("500 bytes -> 1400 bytes")));
        assert!(differences(&sent, &sent).is_empty());
    }
}

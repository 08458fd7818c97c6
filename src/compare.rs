//! `plainsight compare SITE VISITOR`: the same exchanges seen from two vantage points.
//! For HTTP, per exchange, whether the response changed on the way and where (status,
//! headers, body size, title); for TLS, the content cannot be compared (that is the
//! point), only whether the records match in count and size.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use crate::dissect::{Record, http::Response, tls::Traffic};

/// What one capture shows, in order.
#[derive(Default)]
struct Side {
    /// (method uri) -> responses in order.
    http: BTreeMap<String, Vec<Response>>,
    tls: Vec<Traffic>,
}

fn read(path: &Path) -> anyhow::Result<Side> {
    let mut side = Side::default();
    crate::analyze::scan(
        path,
        None,
        &mut |e, _| match &e.record {
            Record::HttpResponse(r) => {
                let key = format!("{} {}", r.for_method.as_deref().unwrap_or("?"), r.for_uri.as_deref().unwrap_or("?"));
                side.http.entry(key).or_default().push(r.clone());
            }
            Record::TlsTraffic(t) => side.tls.push(t.clone()),
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
    field("content-encoding", sent.content_encoding.clone().unwrap_or_default(), got.content_encoding.clone().unwrap_or_default());
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
    let (mut same, mut changed) = (0, 0);
    for k in keys {
        let (sa, sb) = (a.http.get(k).map(Vec::as_slice).unwrap_or(&[]), b.http.get(k).map(Vec::as_slice).unwrap_or(&[]));
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
                (None, Some(_)) => {
                    let _ = writeln!(out, "EXTRA     {k}: received by the visitor, never sent by the site");
                }
                (None, None) => {}
            }
        }
    }
    if !a.tls.is_empty() || !b.tls.is_empty() {
        let total = |v: &[Traffic]| (v.iter().map(|t| t.records_to_client).sum::<u64>(), v.iter().map(|t| t.bytes_to_client).sum::<u64>());
        let (ra, ba) = total(&a.tls);
        let (rb, bb) = total(&b.tls);
        let _ = writeln!(
            out,
            "TLS: content cannot be compared (it is encrypted); {} connection(s) at the site, {} at the visitor; records to the visitor {ra}/{ba} B sent, {rb}/{bb} B received: {}",
            a.tls.len(),
            b.tls.len(),
            if (ra, ba) == (rb, bb) { "they match" } else { "they differ" }
        );
    }
    let _ = writeln!(out, "{same} HTTP exchange(s) identical, {changed} changed on the way");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injected_page_is_reported_changed() {
        let sent = Response { status: 200, content_type: Some("text/html".into()), content_encoding: Some("gzip".into()), body_len: 500, title: Some("T".into()), ..Default::default() };
        let mut got = sent.clone();
        got.content_encoding = None;
        got.body_len = 1400;
        let d = differences(&sent, &got);
        assert!(d.iter().any(|x| x.starts_with("content-encoding")));
        assert!(d.iter().any(|x| x.contains("500 bytes -> 1400 bytes")));
        assert!(differences(&sent, &sent).is_empty());
    }
}

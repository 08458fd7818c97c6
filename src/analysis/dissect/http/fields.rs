//! What an eavesdropper reads inside HTTP messages: `Authorization` (Basic credentials
//! decoded), the fields of the query string, of form and JSON bodies, and page titles.
//! Pure.

use base64::Engine;

use super::{Authorization, Field, FieldSource};

/// Decodes an `Authorization` value; Basic credentials are split into user and password.
pub fn authorization(raw: String) -> Authorization {
    let v = raw.trim();
    let (scheme, rest) = v.split_once(' ').unwrap_or((v, ""));
    let (scheme, mut user, mut password) = (scheme.to_string(), None, None);
    if scheme.eq_ignore_ascii_case("basic") {
        // Decoded in place: the user is the decoded string cut at its first colon.
        if let Ok(dec) = base64::engine::general_purpose::STANDARD.decode(rest.trim()) {
            let mut dec = String::from_utf8(dec).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
            let pass = match dec.find(':') {
                Some(i) => {
                    let p = dec[i + 1..].to_string();
                    dec.truncate(i);
                    p
                }
                None => String::new(),
            };
            (user, password) = (Some(dec), Some(pass));
        }
    } else if scheme.eq_ignore_ascii_case("digest") {
        user = rest
            .split(',')
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("username"))
            .map(|(_, v)| v.trim().trim_matches('"').to_string());
    }
    Authorization { scheme, raw, user, password }
}

/// Fields of the query string of `uri`.
pub fn query_fields(uri: &str) -> Vec<Field> {
    let Some((_, q)) = uri.split_once('?') else { return Vec::new() };
    form_urlencoded::parse(q.as_bytes())
        .take(64)
        .map(|(k, v)| Field { name: k.into_owned(), value: v.into_owned(), source: FieldSource::Query })
        .collect()
}

/// Fields of a form-encoded or JSON body.
pub fn body_fields(content_type: Option<&str>, body: &[u8]) -> Vec<Field> {
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    if ct.contains("x-www-form-urlencoded") {
        form_urlencoded::parse(body)
            .take(256)
            .map(|(k, v)| Field { name: k.into_owned(), value: v.into_owned(), source: FieldSource::Form })
            .collect()
    } else if ct.contains("json") {
        let mut out = Vec::new();
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
            json_fields("", &v, &mut out, 0);
        }
        out
    } else {
        Vec::new()
    }
}

fn json_fields(prefix: &str, v: &serde_json::Value, out: &mut Vec<Field>, depth: usize) {
    if depth > 16 || out.len() >= 256 {
        return;
    }
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                let name = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                json_fields(&name, v, out, depth + 1);
            }
        }
        serde_json::Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                json_fields(&format!("{prefix}[{i}]"), v, out, depth + 1);
            }
        }
        serde_json::Value::String(s) => {
            out.push(Field { name: prefix.to_string(), value: s.clone(), source: FieldSource::Json })
        }
        serde_json::Value::Null => {}
        other => out.push(Field { name: prefix.to_string(), value: other.to_string(), source: FieldSource::Json }),
    }
}

pub(super) fn looks_like_html(b: &[u8]) -> bool {
    let head = &b[..b.len().min(512)];
    find_ci(head, b"<html").is_some() || find_ci(head, b"<!doctype html").is_some()
}

/// Finds `needle` (lowercase ASCII) in `hay`, ignoring ASCII case, without copying.
fn find_ci(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let first = needle[0];
    let mut from = 0;
    while let Some(i) = memchr::memchr2(first, first.to_ascii_uppercase(), &hay[from..]) {
        let at = from + i;
        if hay.get(at..at + needle.len()).is_some_and(|w| w.eq_ignore_ascii_case(needle)) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// The text of the first `<title>` element (looked for in the first 16 KiB).
pub fn html_title(b: &[u8]) -> Option<String> {
    let b = &b[..b.len().min(16 << 10)];
    let start = find_ci(b, b"<title")?;
    let open_end = start + memchr::memchr(b'>', &b[start..])? + 1;
    let close = open_end + find_ci(&b[open_end..], b"</title")?;
    let t = String::from_utf8_lossy(&b[open_end..close]);
    let t = t.split_whitespace().collect::<Vec<_>>().join(" ");
    let t =
        t.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#39;", "'");
    (!t.is_empty()).then(|| t.chars().take(200).collect())
}

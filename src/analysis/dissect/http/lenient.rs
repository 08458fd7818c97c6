//! Heads that `httparse` rightly refuses but real devices send, read as tshark reads them,
//! so that what they leak is reported: a version like `HTTP/1.0.8`, no version at all
//! (HTTP/0.9), a space inside the target, obs-folded header lines, bare LF line ends.
//!
//! The request line is split as tshark splits it: the method up to the first space, the
//! target up to the next one, the version is the rest of the line. Each departure from
//! RFC 9112 is named in [`Head::non_conforming`].

/// A head read leniently: its start line's three parts, its header lines, and what in it
/// does not conform.
pub struct Head {
    /// Bytes of the head, up to and including the blank line (or the only line, HTTP/0.9).
    pub len: usize,
    pub parts: [String; 3],
    pub headers: Vec<(String, Vec<u8>)>,
    pub non_conforming: Vec<&'static str>,
}

/// The end of the line starting at `from`: (end of its text, start of the next line).
fn line_end(b: &[u8], from: usize) -> Option<(usize, usize)> {
    let nl = from + memchr::memchr(b'\n', &b[from..])?;
    let end = if nl > from && b[nl - 1] == b'\r' { nl - 1 } else { nl };
    Some((end, nl + 1))
}

/// Whether the line at `from` reads like a header (`Name: value`).
fn header_line(line: &[u8]) -> bool {
    match memchr::memchr(b':', line) {
        Some(colon) => colon > 0 && line[..colon].iter().all(|c| c.is_ascii_graphic()),
        None => false,
    }
}

/// Reads a head at the start of `b`. `Ok(None)`: not all of it has arrived; `Err` when
/// the first line is not a plausible start line.
pub fn head(b: &[u8], request: bool) -> Result<Option<Head>, ()> {
    let Some((first_end, mut at)) = line_end(b, 0) else {
        return if b.len() > super::MAX_HEAD { Err(()) } else { Ok(None) };
    };
    let line = &b[..first_end];
    if line.is_empty() || line.len() > 8192 || line.iter().any(|c| c.is_ascii_control() && *c != b'\t') {
        return Err(());
    }
    let text = String::from_utf8_lossy(line);
    let mut non_conforming = Vec::new();
    if b[first_end] != b'\r' {
        non_conforming.push("bare LF line ends");
    }
    let (a, rest) = text.split_once(' ').unwrap_or((&text, ""));
    let (m, v) = rest.split_once(' ').unwrap_or((rest, ""));
    let parts = [a.to_string(), m.to_string(), v.to_string()];
    if request {
        if !a.bytes().all(|c| c.is_ascii_alphabetic() || c == b'_' || c == b'-') || a.len() > 24 {
            return Err(());
        }
        if a.bytes().any(|c| c.is_ascii_lowercase()) {
            non_conforming.push("lower-case method");
        }
        if m.is_empty() {
            non_conforming.push("no request target");
        }
        if v.is_empty() {
            non_conforming.push("no HTTP version (HTTP/0.9 or a broken line)");
        } else if v != "HTTP/1.1" && v != "HTTP/1.0" {
            non_conforming.push(if v.contains(' ') {
                "a space inside the request target"
            } else {
                "an HTTP version that does not exist"
            });
        }
    } else {
        if !a.starts_with("HTTP/") || m.len() != 3 || !m.bytes().all(|c| c.is_ascii_digit()) {
            return Err(());
        }
        if a != "HTTP/1.1" && a != "HTTP/1.0" {
            non_conforming.push("an HTTP version that does not exist");
        }
        if v.is_empty() {
            non_conforming.push("no reason phrase");
        }
    }
    // HTTP/0.9: one line, no headers. Otherwise header lines up to a blank line.
    // Until the next line is in, a line that names a version has headers coming.
    let headers_follow = match line_end(b, at) {
        Some((end, _)) => end == at || header_line(&b[at..end]) || b[at] == b' ' || b[at] == b'\t',
        // A partial next line that may still become a header: wait for it.
        None if b.len() > at => {
            header_line(&b[at..]) || b[at..].iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
        }
        None => !request || text.contains("HTTP/"),
    };
    let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
    if !headers_follow && request {
        return Ok(Some(Head { len: at, parts, headers, non_conforming }));
    }
    loop {
        let Some((end, next)) = line_end(b, at) else {
            return if b.len() > super::MAX_HEAD { Err(()) } else { Ok(None) };
        };
        if end == at {
            return Ok(Some(Head { len: next, parts, headers, non_conforming }));
        }
        let l = &b[at..end];
        if l[0] == b' ' || l[0] == b'\t' {
            if let Some((_, v)) = headers.last_mut() {
                v.push(b' ');
                v.extend_from_slice(l.trim_ascii());
                if !non_conforming.contains(&"obs-fold header lines") {
                    non_conforming.push("obs-fold header lines");
                }
            }
        } else if let Some(colon) = memchr::memchr(b':', l) {
            let name = String::from_utf8_lossy(l[..colon].trim_ascii()).into_owned();
            if headers.len() < super::MAX_HEADERS {
                headers.push((name, l[colon + 1..].trim_ascii().to_vec()));
            }
        }
        at = next;
        if at > super::MAX_HEAD {
            return Err(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(b: &[u8]) -> Head {
        head(b, true).expect("plausible").expect("complete")
    }

    #[test]
    fn request_lines_split_as_tshark_splits_them() {
        for (line, want) in [
            ("GET /weather?ID=1&PASSWORD=x HTTP/1.0.8", ["GET", "/weather?ID=1&PASSWORD=x", "HTTP/1.0.8"]),
            ("GET /Hello Arkime HTTP/1.0", ["GET", "/Hello", "Arkime HTTP/1.0"]),
            ("CONNECT mail:25 / HTTP/1.0", ["CONNECT", "mail:25", "/ HTTP/1.0"]),
            ("GET HTTP/1.1", ["GET", "HTTP/1.1", ""]),
            ("OPTIONS ", ["OPTIONS", "", ""]),
            ("get / HTTP/1.1", ["get", "/", "HTTP/1.1"]),
        ] {
            let h = req(format!("{line}\r\nHost: x\r\n\r\n").as_bytes());
            assert_eq!(h.parts, want.map(str::to_string), "{line}");
            assert_eq!(h.headers, vec![("Host".to_string(), b"x".to_vec())], "{line}");
            assert!(!h.non_conforming.is_empty(), "{line}");
        }
    }

    #[test]
    fn folded_headers_bare_lf_and_http09() {
        let h = req(b"POST /a HTTP/1.1\nX-Long: one\n two\nHost: h\n\nbody");
        assert_eq!(h.headers[0], ("X-Long".to_string(), b"one two".to_vec()));
        assert_eq!(h.len, b"POST /a HTTP/1.1\nX-Long: one\n two\nHost: h\n\n".len());
        assert!(h.non_conforming.contains(&"bare LF line ends") && h.non_conforming.contains(&"obs-fold header lines"));
        assert!(head(b"GET / HTTP/1.0.8\r\n", true).unwrap().is_none(), "a version: headers to come");
        let h = req(b"GET /\r\n<html>");
        assert_eq!((h.len, h.parts[1].as_str(), h.headers.len()), (7, "/", 0));
        assert!(head(b"GET / HTTP/1.1\r\nHost: x\r\n", true).unwrap().is_none(), "incomplete");
        assert!(head(b"\x16\x03\x01\x02\x00\r\n", true).is_err());
        let r = head(b"HTTP/1.1 200\r\nA: b\r\n\r\n", false).unwrap().unwrap();
        assert_eq!(r.non_conforming, vec!["no reason phrase"]);
    }
}

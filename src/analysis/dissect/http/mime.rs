//! What a body is, from its first bytes, named as Zeek names it: http.log's
//! `resp_mime_types` comes from Zeek's `file-mime` signatures, whatever Content-Type claims.
//!
//! - Binary formats are told by the `infer` crate. Where Zeek's signatures call a type by
//!   another name (`application/x-dosexec` for a PE, `application/x-gzip`), the name is
//!   Zeek's ([`zeek_name`]).
//! - Text formats, which `infer` does not tell apart (plain text, HTML, XML, JSON, RSS,
//!   Atom), are matched with Zeek's own signatures from
//!   `base/frameworks/files/magic/general.sig`, each with its strength; the strongest match
//!   wins, as in Zeek ([`TEXT`]).
//!
//! Only the first [`BOF`] bytes are looked at, as Zeek's `default_file_bof_buffer_size`.

use std::sync::LazyLock;

use regex::bytes::RegexSet;

/// Bytes of a body looked at.
pub const BOF: usize = 4096;

/// An optional byte-order mark, then blank lines and comments (Zeek's prefix of its XML
/// and HTML signatures).
macro_rules! markup {
    ($tail:literal) => {
        concat!(
            r"^(\xef\xbb\xbf|\xff\xfe|\xfe\xff)?([\x0d\x0a[:blank:]]*(<!--.*-->)?[\x0d\x0a[:blank:]]*)*",
            r"(<\?xml .*\?>)?([\x0d\x0a[:blank:]]*(<!--.*-->)?[\x0d\x0a[:blank:]]*)*",
            $tail
        )
    };
}

/// Zeek's text signatures: pattern (anchored at the body's start, as Zeek's are), MIME
/// type, strength.
const TEXT: &[(&str, &str, i32)] = &[
    (r"^(\xef\xbb\xbf|(\x00\x00)?\xfe\xff|\xff\xfe(\x00\x00)?)?[[:space:]\x20-\x7E]{10}", "text/plain", -20),
    (
        r#"^(\xef\xbb\xbf|\xff\xfe|\xfe\xff)?[\x0d\x0a[:blank:]]*\{[\x0d\x0a[:blank:]]*("[^"]{1,}"|[a-zA-Z][a-zA-Z0-9\\_]*)[\x0d\x0a[:blank:]]*:[\x0d\x0a[:blank:]]*("|\[|\{|[0-9]|true|false)"#,
        "text/json",
        1,
    ),
    (
        r#"^(\xef\xbb\xbf|\xff\xfe|\xfe\xff)?[\x0d\x0a[:blank:]]*\[[\x0d\x0a[:blank:]]*(((("[^"]{1,}"|[0-9]{1,}(\.[0-9]{1,})?|true|false)[\x0d\x0a[:blank:]]*,)|\{|\[)[\x0d\x0a[:blank:]]*)"#,
        "text/json",
        1,
    ),
    (r"^(\xef\xbb\xbf|\xff\xfe|\xfe\xff)?[\x0d\x0a[:blank:]]*(\[\]|\{\})[\x0d\x0a[:blank:]]*\z", "text/json", 0),
    (
        r"^(\xef\xbb\xbf|\xff\xfe|\xfe\xff)?([\x0d\x0a[:blank:]]*(<!--.*-->)?[\x0d\x0a[:blank:]]*)*\x00?<\x00?\?\x00?x\x00?m\x00?l\x00? \x00?",
        "application/xml",
        10,
    ),
    (
        markup!(
            r"<(![dD][oO][cC][tT][yY][pP][eE] {1,}[hH][tT][mM][lL]|[hH][tT][mM][lL]|[mM][eE][tT][aA] {1,}[hH][tT][tT][pP]-[eE][qQ][uU][iI][vV])"
        ),
        "text/html",
        100,
    ),
    (markup!(r"<![dD][oO][cC][tT][yY][pP][eE] {1,}[hH][tT][mM][lL]"), "text/html", 49),
    (markup!(r"<([hH][eE][aA][dD]|[hH][tT][mM][lL]|[tT][iI][tT][lL][eE]|[bB][oO][dD][yY])"), "text/html", 20),
    (markup!(r"<[rR][sS][sS]"), "text/rss", 90),
    (
        markup!(r#"<([rR][sS][sS][^>]*xmlns:atom|[fF][eE][eE][dD][^>]*xmlns=["']?http://www.w3.org/2005/Atom["']?)"#),
        "text/atom",
        100,
    ),
];

static TEXT_SET: LazyLock<RegexSet> = LazyLock::new(|| {
    // Bytes, not UTF-8: a body is any bytes. `.` stops at a line's end, as in Zeek.
    RegexSet::new(TEXT.iter().map(|(p, _, _)| format!("(?-u){p}"))).expect("Zeek's signatures compile")
});

/// Zeek's name for a type `infer` names otherwise (its signatures' `file-mime`).
fn zeek_name(infer: &'static str) -> &'static str {
    match infer {
        "application/vnd.microsoft.portable-executable" => "application/x-dosexec",
        "application/gzip" => "application/x-gzip",
        "application/vnd.rar" => "application/x-rar",
        "application/java" => "application/x-java-applet",
        "image/vnd.microsoft.icon" => "image/x-icon",
        "application/x-mach-binary" => "application/x-mach-o-executable",
        other => other,
    }
}

/// The MIME type a body's first bytes show, named as Zeek names it; `None` when nothing
/// matches (Zeek leaves the field unset then).
pub fn sniff(body: &[u8]) -> Option<&'static str> {
    let bof = &body[..body.len().min(BOF)];
    if bof.is_empty() {
        return None;
    }
    if let Some(t) = infer::get(bof) {
        let name = t.mime_type();
        // infer's HTML and XML matchers are looser than Zeek's: those are Zeek's own below.
        if !matches!(name, "text/html" | "text/xml") {
            return Some(zeek_name(name));
        }
    }
    TEXT_SET.matches(bof).into_iter().map(|i| TEXT[i]).max_by_key(|(_, _, strength)| *strength).map(|(_, m, _)| m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_named_as_zeek_names_them() {
        for (body, zeek) in [
            (&b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"[..], Some("image/png")),
            (b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0", Some("application/x-dosexec")),
            (b"\x1f\x8b\x08\0\0\0\0\0\0\x03", Some("application/x-gzip")),
            (b"<!DOCTYPE html><html><body>hi</body></html>", Some("text/html")),
            (b"\xef\xbb\xbf\r\n<!-- hi -->\n<html lang=en>", Some("text/html")),
            (b"<?xml version=\"1.0\"?><rss version=\"2.0\">", Some("text/rss")),
            (b"<?xml version=\"1.0\"?><note>x</note>", Some("application/xml")),
            (b"  {\"a\": [1, 2]}", Some("text/json")),
            (b"[1, 2, 3]", Some("text/json")),
            (b"{}", Some("text/json")),
            (b"just words, more than ten", Some("text/plain")),
            (b"short", None),
            (b"\x00\x01\x02\x03\x04\x05\x06\x07", None),
            (b"", None),
        ] {
            assert_eq!(sniff(body), zeek, "{:?}", String::from_utf8_lossy(body));
        }
    }

    /// Only the first [`BOF`] bytes count: a JSON document longer than that is still JSON.
    #[test]
    fn only_the_beginning_is_read() {
        let mut long = b"{\"k\": \"".to_vec();
        long.resize(BOF * 4, b'a');
        assert_eq!(sniff(&long), Some("text/json"));
    }
}

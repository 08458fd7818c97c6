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

/// Zeek's name for what `infer` found in `bof` (its signatures' `file-mime`, from
/// `base/frameworks/files/magic/*.sig`); `None` where Zeek's signature for the format is
/// stricter than infer's and does not match (the text signatures decide then).
fn zeek_name(found: infer::Type, bof: &[u8]) -> Option<&'static str> {
    Some(match found.mime_type() {
        "application/vnd.microsoft.portable-executable" => "application/x-dosexec",
        "application/gzip" => "application/x-gzip",
        "application/vnd.rar" => "application/x-rar",
        "application/java" => "application/x-java-applet",
        "image/vnd.microsoft.icon" => "image/x-icon",
        "application/x-mach-binary" => "application/x-mach-o-executable",
        "application/vnd.debian.binary-package" => "application/x-debian-package",
        "application/x-unix-archive" => "application/x-archive",
        // Zeek's one signature for OLE compound files.
        "application/x-ole-storage" => "application/msword",
        // Zeek's file-bmp wants a known DIB header size after the file header.
        "image/bmp" => match bof.get(14..16) {
            Some([0x0c | 0x28 | 0x40 | 0x6c | 0x7c | 0x80, 0]) => "image/x-ms-bmp",
            _ => return None,
        },
        "application/font-sfnt" if found.extension() == "otf" => "application/vnd.ms-opentype",
        "application/font-sfnt" => "application/x-font-ttf",
        "application/font-woff" if found.extension() == "woff2" => "application/font-woff2",
        // ELF by its e_type, in the file's byte order.
        "application/x-executable" => {
            let e_type = match bof.get(5) {
                Some(2) => bof.get(16..18).map(|t| u16::from_be_bytes([t[0], t[1]])),
                _ => bof.get(16..18).map(|t| u16::from_le_bytes([t[0], t[1]])),
            };
            match e_type {
                Some(1) => "application/x-object",
                Some(2) => "application/x-executable",
                Some(3) => "application/x-sharedlib",
                Some(4) => "application/x-coredump",
                _ => return None,
            }
        }
        other => other,
    })
}

/// The MIME type a body's first bytes show, named as Zeek names it; `None` when nothing
/// matches (Zeek leaves the field unset then).
pub fn sniff(body: &[u8]) -> Option<&'static str> {
    let bof = &body[..body.len().min(BOF)];
    if bof.is_empty() {
        return None;
    }
    if let Some(t) = infer::get(bof) {
        // infer's HTML and XML matchers are looser than Zeek's: those are Zeek's own below.
        if !matches!(t.mime_type(), "text/html" | "text/xml")
            && let Some(name) = zeek_name(t, bof)
        {
            return Some(name);
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
            (b"BM\x36\x00\x0c\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00\x00\x00", Some("image/x-ms-bmp")),
            (b"BMW drivers, more than ten bytes of text", Some("text/plain")),
            (b"wOF2\x00\x01\x00\x00\x00\x00\x10\x00", Some("application/font-woff2")),
            (b"wOFF\x00\x01\x00\x00\x00\x00\x10\x00", Some("application/font-woff")),
            (b"OTTO\x00\x0a\x00\x80\x00\x03", Some("application/vnd.ms-opentype")),
            (b"\x00\x01\x00\x00\x00\x0a\x00\x80\x00\x03", Some("application/x-font-ttf")),
            (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\0\0\0\0\0\0\0\0", Some("application/msword")),
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

    /// ELF files are named by their type, as Zeek's four ELF signatures do, in either byte
    /// order.
    #[test]
    fn elf_files_are_named_by_their_type() {
        for (order, e_type, zeek) in [
            (1u8, 1u16, Some("application/x-object")),
            (1, 2, Some("application/x-executable")),
            (1, 3, Some("application/x-sharedlib")),
            (2, 4, Some("application/x-coredump")),
            (2, 2, Some("application/x-executable")),
            (1, 9, None),
        ] {
            let mut elf = vec![0u8; 64];
            elf[..7].copy_from_slice(&[0x7f, b'E', b'L', b'F', 2, order, 1]);
            let t = if order == 2 { e_type.to_be_bytes() } else { e_type.to_le_bytes() };
            elf[16..18].copy_from_slice(&t);
            assert_eq!(sniff(&elf), zeek, "byte order {order}, e_type {e_type}");
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

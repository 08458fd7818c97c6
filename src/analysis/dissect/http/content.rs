//! Content decoding: undoing gzip, deflate (zlib or raw) and br, the one place that does
//! it for the dissector (whole bodies, capped), the intruder's proxy (as the body streams)
//! and the visitor (whole bodies).

use std::io::{Read, Write};

/// Decompression stops after this many bytes of output.
pub const MAX_DECODED: u64 = 1 << 20;

/// Undoes gzip, deflate (zlib or raw) and br; the output is capped at [`MAX_DECODED`].
/// An unknown or broken encoding yields what could be decoded (possibly nothing).
pub fn decode_body<'a>(body: &'a [u8], encoding: Option<&str>) -> std::borrow::Cow<'a, [u8]> {
    use std::borrow::Cow;
    let mut out = Vec::new();
    let enc = encoding.unwrap_or("identity");
    let res = match enc {
        "gzip" | "x-gzip" => flate2::read::MultiGzDecoder::new(body).take(MAX_DECODED).read_to_end(&mut out),
        "deflate" => {
            let r = flate2::read::ZlibDecoder::new(body).take(MAX_DECODED).read_to_end(&mut out);
            if r.is_err() || out.is_empty() {
                out.clear();
                flate2::read::DeflateDecoder::new(body).take(MAX_DECODED).read_to_end(&mut out)
            } else {
                r
            }
        }
        "br" => brotli_decompressor::Decompressor::new(body, 4096).take(MAX_DECODED).read_to_end(&mut out),
        "identity" | "" => return Cow::Borrowed(body),
        _ => return Cow::Owned(Vec::new()),
    };
    let _ = res; // a truncated stream still gives its decoded prefix
    Cow::Owned(out)
}

/// Undoes a content encoding as the body streams (the proxy's rewriting): feed the body
/// as it comes, take what decodes so far, and finish at its end.
pub enum Decoder {
    Plain,
    Gzip(flate2::write::MultiGzDecoder<Vec<u8>>),
    Deflate(flate2::write::ZlibDecoder<Vec<u8>>),
    Br(Box<brotli_decompressor::DecompressorWriter<Vec<u8>>>),
}

impl Decoder {
    pub fn new(enc: &str) -> Decoder {
        match enc {
            "gzip" | "x-gzip" => Decoder::Gzip(flate2::write::MultiGzDecoder::new(Vec::new())),
            "deflate" => Decoder::Deflate(flate2::write::ZlibDecoder::new(Vec::new())),
            "br" => Decoder::Br(Box::new(brotli_decompressor::DecompressorWriter::new(Vec::new(), 4096))),
            _ => Decoder::Plain,
        }
    }

    pub fn feed(&mut self, data: &[u8]) -> std::io::Result<Vec<u8>> {
        match self {
            Decoder::Plain => Ok(data.to_vec()),
            Decoder::Gzip(d) => d.write_all(data).and_then(|_| d.flush()).map(|_| std::mem::take(d.get_mut())),
            Decoder::Deflate(d) => d.write_all(data).and_then(|_| d.flush()).map(|_| std::mem::take(d.get_mut())),
            Decoder::Br(d) => d.write_all(data).and_then(|_| d.flush()).map(|_| std::mem::take(d.get_mut())),
        }
    }

    /// What the decoder still holds at the end of the body.
    pub fn finish(self) -> Vec<u8> {
        match self {
            Decoder::Plain => Vec::new(),
            Decoder::Gzip(d) => d.finish().unwrap_or_default(),
            Decoder::Deflate(d) => d.finish().unwrap_or_default(),
            Decoder::Br(d) => d.into_inner().unwrap_or_default(),
        }
    }
}

//! Streaming HTML injection with lol_html: the advertisement goes in at the start of
//! `<body>`, chunk by chunk, without holding the page. Pure: bytes in, bytes out.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use lol_html::html_content::ContentType;
use lol_html::send;

/// The default advertisement (banner and tracking script), from `lab/ad.html`.
pub const DEFAULT_AD: &str = include_str!("../../../lab/ad.html");

type Sink = Box<dyn FnMut(&[u8]) + Send>;

/// Rewrites one HTML document.
pub struct Injector {
    rewriter: send::HtmlRewriter<'static, Sink>,
    out: Arc<Mutex<Vec<u8>>>,
    injected: Arc<AtomicBool>,
}

/// Why a page cannot be rewritten.
#[derive(Debug, thiserror::Error)]
#[error("HTML rewriting failed: {0}")]
pub struct RewriteError(String);

impl Injector {
    pub fn new(ad: &str) -> Injector {
        let out = Arc::new(Mutex::new(Vec::new()));
        let injected = Arc::new(AtomicBool::new(false));
        let sink_out = out.clone();
        let flag = injected.clone();
        let ad = ad.to_string();
        // The selector is parsed once per process, not once per page.
        static BODY: std::sync::OnceLock<lol_html::Selector> = std::sync::OnceLock::new();
        let body = BODY.get_or_init(|| "body".parse().expect("a valid selector"));
        let handlers =
            lol_html::ElementContentHandlers::default().element(move |el: &mut lol_html::send::Element<'_, '_>| {
                if !flag.swap(true, Ordering::SeqCst) {
                    el.prepend(&ad, ContentType::Html);
                }
                Ok(())
            });
        let settings =
            send::Settings::new_send().append_element_content_handler((std::borrow::Cow::Borrowed(body), handlers));
        let sink: Sink = Box::new(move |c: &[u8]| sink_out.lock().expect("no panics while held").extend_from_slice(c));
        Injector { rewriter: send::HtmlRewriter::new(settings, sink), out, injected }
    }

    /// Feeds a chunk of the page; returns the rewritten bytes ready so far.
    pub fn write(&mut self, chunk: &[u8]) -> Result<Vec<u8>, RewriteError> {
        self.rewriter.write(chunk).map_err(|e| RewriteError(e.to_string()))?;
        Ok(std::mem::take(&mut *self.out.lock().expect("no panics while held")))
    }

    /// Ends the page; returns the last bytes and whether the ad went in.
    pub fn end(self) -> Result<(Vec<u8>, bool), RewriteError> {
        let out = self.out.clone();
        let injected = self.injected.clone();
        self.rewriter.end().map_err(|e| RewriteError(e.to_string()))?;
        let rest = std::mem::take(&mut *out.lock().expect("no panics while held"));
        Ok((rest, injected.load(Ordering::SeqCst)))
    }
}

/// What the intruder does with `--resources` to a response that is not an HTML page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tamper {
    /// A script: code of its own appended (it runs with the page's full powers).
    Script,
    /// An image: replaced by the intruder's.
    Image,
    /// A download: swapped for a stand-in that only says it was swapped (a real attacker
    /// sends malware).
    Download,
}

/// Appended to every script: it puts a banner on the page that loaded the script.
pub const SCRIPT_PAYLOAD: &str = "\n;/* added on the way by the intruder (plainsight lab) */\n\
document.addEventListener('DOMContentLoaded',function(){var b=document.createElement('div');b.id='plainsight-ad';\
b.style.cssText='background:#fd0;border:2px solid #c00;padding:.5em';\
b.textContent='This script was rewritten on its way: the intruder now runs code in this page.';document.body.prepend(b);});\n";

/// The image every image is replaced with.
pub const INTRUDER_IMAGE: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 120 60\"><rect width=\"120\" height=\"60\" fill=\"#fd0\"/>\
<text x=\"8\" y=\"36\" font-size=\"13\" fill=\"#c00\">REPLACED by intruder</text></svg>\n";

/// What a swapped download contains: harmless, and it says what happened.
pub const STAND_IN: &str = "#!/bin/sh\n# SWAPPED on its way by the intruder (plainsight lab): a real attacker would send malware here.\n\
echo \"This is not the clinic app: the intruder swapped the download. Had it been malware, it would be running now.\"\n";

/// Which tampering applies to a response, from its content type, its path and its
/// Content-Disposition; `None` for HTML (the ad injector's) and for anything else.
pub fn tamper_kind(content_type: &str, path: &str, disposition: Option<&str>) -> Option<Tamper> {
    let ct = content_type.to_ascii_lowercase();
    let attachment = disposition.is_some_and(|d| d.trim_start().to_ascii_lowercase().starts_with("attachment"));
    if ct.contains("text/html") {
        None
    } else if attachment
        || ct.starts_with("application/octet-stream")
        || [".sh", ".exe", ".msi", ".dmg", ".apk", ".deb", ".zip"].iter().any(|e| path.ends_with(e))
    {
        Some(Tamper::Download)
    } else if ct.contains("javascript") || ct.contains("ecmascript") {
        Some(Tamper::Script)
    } else if ct.starts_with("image/") {
        Some(Tamper::Image)
    } else {
        None
    }
}

/// The tampered body, its content type, and what was done (for the outcome line).
pub fn tamper(kind: Tamper, original: &[u8], content_type: &str) -> (Vec<u8>, String, &'static str) {
    match kind {
        Tamper::Script => {
            let mut b = original.to_vec();
            b.extend_from_slice(SCRIPT_PAYLOAD.as_bytes());
            (b, content_type.to_string(), "script rewritten: code appended")
        }
        Tamper::Image => (INTRUDER_IMAGE.as_bytes().to_vec(), "image/svg+xml".into(), "image replaced"),
        Tamper::Download => (STAND_IN.as_bytes().to_vec(), content_type.to_string(), "download swapped for a stand-in"),
    }
}

/// Whether a Content-Security-Policy would block the injected inline script.
pub fn csp_blocks_inline(csp: &str) -> bool {
    let directive = |name: &str| {
        csp.split(';').map(str::trim).find(|d| d.split_whitespace().next() == Some(name)).map(str::to_string)
    };
    match directive("script-src").or_else(|| directive("default-src")) {
        Some(d) => !d.contains("'unsafe-inline'"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injects_once_at_body_start_across_chunk_boundaries() {
        let page = b"<html><head><title>t</title></head><body class=x><p>hello</p></body></html>";
        for step in [1, 3, 7, 1000] {
            let mut inj = Injector::new("<b id=plainsight-ad>AD</b>");
            let mut out = Vec::new();
            for c in page.chunks(step) {
                out.extend(inj.write(c).unwrap());
            }
            let (rest, done) = inj.end().unwrap();
            out.extend(rest);
            assert!(done);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                "<html><head><title>t</title></head><body class=x><b id=plainsight-ad>AD</b><p>hello</p></body></html>"
            );
        }
    }

    #[test]
    fn no_body_no_injection() {
        let mut inj = Injector::new("AD");
        let mut out = inj.write(b"just text").unwrap();
        let (rest, done) = inj.end().unwrap();
        out.extend(rest);
        assert!(!done);
        assert_eq!(out, b"just text");
    }

    #[test]
    fn every_kind_of_resource_is_tampered_with() {
        assert_eq!(tamper_kind("text/html; charset=utf-8", "/", None), None);
        assert_eq!(tamper_kind("application/javascript", "/app.js", None), Some(Tamper::Script));
        assert_eq!(tamper_kind("image/png", "/a.png", None), Some(Tamper::Image));
        assert_eq!(tamper_kind("application/octet-stream", "/x", None), Some(Tamper::Download));
        assert_eq!(tamper_kind("text/plain", "/setup.sh", None), Some(Tamper::Download));
        assert_eq!(tamper_kind("image/png", "/a.png", Some("attachment; filename=a.png")), Some(Tamper::Download));
        assert_eq!(tamper_kind("text/css", "/s.css", None), None);
        let (js, ct, _) = tamper(Tamper::Script, b"var a=1;", "text/javascript");
        assert!(js.starts_with(b"var a=1;") && js.ends_with(SCRIPT_PAYLOAD.as_bytes()) && ct == "text/javascript");
        assert_eq!(tamper(Tamper::Image, b"PNG", "image/png").1, "image/svg+xml");
        assert_eq!(tamper(Tamper::Download, b"app", "application/octet-stream").0, STAND_IN.as_bytes());
    }

    #[test]
    fn csp() {
        assert!(csp_blocks_inline("default-src 'self'"));
        assert!(csp_blocks_inline("script-src 'self' https://cdn.test; img-src *"));
        assert!(!csp_blocks_inline("script-src 'self' 'unsafe-inline'"));
        assert!(!csp_blocks_inline("img-src *"));
    }
}

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
        let handlers = lol_html::ElementContentHandlers::default().element(move |el: &mut lol_html::send::Element<'_, '_>| {
            if !flag.swap(true, Ordering::SeqCst) {
                el.prepend(&ad, ContentType::Html);
            }
            Ok(())
        });
        let settings = send::Settings::new_send().append_element_content_handler((std::borrow::Cow::Borrowed(body), handlers));
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

/// Whether a Content-Security-Policy would block the injected inline script.
pub fn csp_blocks_inline(csp: &str) -> bool {
    let directive = |name: &str| csp.split(';').map(str::trim).find(|d| d.split_whitespace().next() == Some(name)).map(str::to_string);
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
            assert_eq!(String::from_utf8(out).unwrap(), "<html><head><title>t</title></head><body class=x><b id=plainsight-ad>AD</b><p>hello</p></body></html>");
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
    fn csp() {
        assert!(csp_blocks_inline("default-src 'self'"));
        assert!(csp_blocks_inline("script-src 'self' https://cdn.test; img-src *"));
        assert!(!csp_blocks_inline("script-src 'self' 'unsafe-inline'"));
        assert!(!csp_blocks_inline("img-src *"));
    }
}

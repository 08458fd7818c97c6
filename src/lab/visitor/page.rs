//! What a person sees on a received page and can act on: its links (with their text), its
//! forms (action, method, inputs) and the same-origin subresources a browser would load.
//! Pure: reads HTML with lol_html, does no I/O.

use std::cell::RefCell;

use lol_html::{RewriteStrSettings, element, rewrite_str, text};

/// A link and the words a person reads on it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Link {
    pub href: String,
    pub text: String,
}

/// An input of a form.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Input {
    pub name: String,
    /// The `type` attribute, lowercase (`text` when absent).
    pub kind: String,
    pub value: String,
}

/// A form as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Form {
    /// The `action` attribute as written (empty: the page's own URL).
    pub action: String,
    /// `GET` or `POST`.
    pub method: String,
    pub inputs: Vec<Input>,
}

impl Form {
    /// Whether the form asks for a password (a sign-in form, to a person).
    pub fn asks_password(&self) -> bool {
        self.inputs.iter().any(|i| i.kind == "password")
    }
}

/// What a subresource is: browsers block a plain-HTTP script or stylesheet in an HTTPS
/// page, and upgrade a plain-HTTP image to HTTPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubKind {
    Script,
    Stylesheet,
    Image,
}

/// A script, image or stylesheet a page references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sub {
    /// As written: a path (`/style.css`) or an absolute `http(s)://` URL.
    pub href: String,
    pub kind: SubKind,
}

/// What a page offers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Page {
    pub links: Vec<Link>,
    pub forms: Vec<Form>,
    /// Scripts, images and stylesheets, in document order: paths, and absolute http(s)
    /// URLs (the visitor loads those of its page's own host only).
    pub subresources: Vec<Sub>,
}

impl Page {
    /// Reads a page; markup lol_html cannot follow yields what was read up to there.
    pub fn read(html: &str) -> Page {
        let page = RefCell::new(Page::default());
        let loadable = |p: &str| {
            (p.starts_with('/') && !p.starts_with("//")) || p.starts_with("http://") || p.starts_with("https://")
        };
        let add_sub = |p: Option<String>, kind: SubKind| {
            if let Some(href) = p.filter(|p| loadable(p)) {
                let mut pg = page.borrow_mut();
                if !pg.subresources.iter().any(|s| s.href == href) {
                    pg.subresources.push(Sub { href, kind });
                }
            }
        };
        let handlers = vec![
            element!("a[href]", |el| {
                page.borrow_mut()
                    .links
                    .push(Link { href: el.get_attribute("href").unwrap_or_default(), text: String::new() });
                Ok(())
            }),
            text!("a[href]", |t| {
                if let Some(l) = page.borrow_mut().links.last_mut() {
                    l.text.push_str(t.as_str());
                }
                Ok(())
            }),
            element!("form", |el| {
                let method = el.get_attribute("method").unwrap_or_else(|| "get".into()).to_ascii_uppercase();
                page.borrow_mut().forms.push(Form {
                    action: el.get_attribute("action").unwrap_or_default(),
                    method,
                    inputs: Vec::new(),
                });
                Ok(())
            }),
            element!("form input[name]", |el| {
                let input = Input {
                    name: el.get_attribute("name").unwrap_or_default(),
                    kind: el.get_attribute("type").unwrap_or_else(|| "text".into()).to_ascii_lowercase(),
                    value: el.get_attribute("value").unwrap_or_default(),
                };
                if let Some(f) = page.borrow_mut().forms.last_mut() {
                    f.inputs.push(input);
                }
                Ok(())
            }),
            element!("script[src]", |el| {
                add_sub(el.get_attribute("src"), SubKind::Script);
                Ok(())
            }),
            element!("img[src]", |el| {
                add_sub(el.get_attribute("src"), SubKind::Image);
                Ok(())
            }),
            element!("link[rel=stylesheet][href]", |el| {
                add_sub(el.get_attribute("href"), SubKind::Stylesheet);
                Ok(())
            }),
        ];
        let settings = handlers.into_iter().fold(RewriteStrSettings::new(), |s, h| s.append_element_content_handler(h));
        let _ = rewrite_str(html, settings);
        let mut p = page.into_inner();
        for l in &mut p.links {
            l.text = l.text.split_whitespace().collect::<Vec<_>>().join(" ");
        }
        p
    }

    /// The first form that asks for a password.
    pub fn sign_in_form(&self) -> Option<&Form> {
        self.forms.iter().find(|f| f.asks_password())
    }

    /// The first link a person would click to sign in ("Sign in", "Log in", or a link to
    /// a login page).
    pub fn sign_in_link(&self) -> Option<&Link> {
        self.links.iter().find(|l| {
            let t = l.text.to_ascii_lowercase();
            let h = l.href.to_ascii_lowercase();
            t.contains("sign in") || t.contains("log in") || h.ends_with("/login") || h.ends_with("/signin")
        })
    }

    /// The first link whose target path is `path`.
    pub fn link_to(&self, path: &str) -> Option<&Link> {
        self.links.iter().find(|l| {
            l.href == path || l.href.split(['?', '#']).next().is_some_and(|h| h.ends_with(path) && h.contains("://"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_links_forms_and_subresources() {
        let p = Page::read(
            "<html><head><link rel=\"stylesheet\" href=\"/s.css\"><script src=\"/a.js\"></script></head><body>\
<a href=\"/login\"> Sign\n in </a><a href=\"/articles/x\">X</a><img src=\"//cdn.test/i.png\"><img src=\"/i.png\">\
<form method=\"post\" action=\"http://192.0.2.20/collect\"><input name=\"u\"><input name=\"p\" type=\"PASSWORD\"><button>Go</button></form></body></html>",
        );
        let subs: Vec<(&str, SubKind)> = p.subresources.iter().map(|s| (s.href.as_str(), s.kind)).collect();
        assert_eq!(subs, vec![("/s.css", SubKind::Stylesheet), ("/a.js", SubKind::Script), ("/i.png", SubKind::Image)]);
        assert_eq!(p.sign_in_link().map(|l| l.text.as_str()), Some("Sign in"));
        let f = p.sign_in_form().expect("a password form");
        assert_eq!((f.method.as_str(), f.action.as_str()), ("POST", "http://192.0.2.20/collect"));
        assert_eq!(f.inputs.iter().map(|i| i.kind.as_str()).collect::<Vec<_>>(), vec!["text", "password"]);
        assert!(p.link_to("/articles/x").is_some());
        assert!(p.link_to("/account").is_none());
    }

    #[test]
    fn a_page_without_forms_offers_no_sign_in() {
        let p = Page::read("<p>Free Wi-Fi</p><a href=\"/offer\">Offer</a>");
        assert!(p.sign_in_form().is_none() && p.sign_in_link().is_none());
    }
}

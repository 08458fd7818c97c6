//! The website's content: `clinic.test`, a small health site whose articles alone can
//! disclose a condition. Pure: pages are built from constants, so their SHA-256 manifest
//! is known before any request is served.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

/// The demo's persona: what the visitor types and what the account page shows. A
/// workshop gives each lab its own ([`Persona`], in the lab's `persona.json`).
pub const USERNAME: &str = "alice";
pub const PASSWORD: &str = "correct horse battery staple";
pub const FULL_NAME: &str = "Alice Martin";
pub const INSURANCE_NO: &str = "FR-2 84 05 75 112 031 44";
pub const DIAGNOSIS: &str = "HIV, under treatment since 2021";
/// The sensitive article the visitor reads.
pub const SENSITIVE_ARTICLE: &str = "/articles/living-with-hiv";
/// The same article as a link gives it (`visit --page-only` opens it in the demo).
pub const SENSITIVE_URL: &str = "https://clinic.test/articles/living-with-hiv";
pub const SENSITIVE_TITLE: &str = "Living with HIV: your first year of treatment";
/// The page served with chunked transfer encoding.
pub const CHUNKED_PAGE: &str = "/articles/flu-season";
/// The download page (it prints the file's SHA-256) and the software it offers.
pub const DOWNLOAD_PAGE: &str = "/download";
pub const DOWNLOAD_FILE: &str = "/download/clinic-app.sh";
/// What `--mixed-content` adds to the HTTPS home page over plain `http://`: a script
/// (a chat widget) and an image, as a careless page embeds them.
pub const MIXED_SCRIPT: &str = "/widget.js";
pub const MIXED_IMAGE: &str = "/photo.svg";

/// Who signs in: the demo's Alice, or a workshop participant's own persona.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Persona {
    pub username: String,
    pub password: String,
    pub full_name: String,
    pub insurance_no: String,
    pub diagnosis: String,
    /// A workshop's flag, shown on the account page (exercise: replay the session cookie).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// A workshop's article (its path's last part) the bot reads over HTTPS (exercise:
    /// guess which article).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub article: Option<String>,
    /// A workshop's own name for the site (`portal-XXXXXX.clinic.test`), which the bot
    /// opens over HTTPS in the exercises about what HTTPS still shows: the answer is in the
    /// traffic (DNS, SNI), nowhere else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub portal: Option<String>,
}

impl Default for Persona {
    fn default() -> Persona {
        Persona {
            username: USERNAME.into(),
            password: PASSWORD.into(),
            full_name: FULL_NAME.into(),
            insurance_no: INSURANCE_NO.into(),
            diagnosis: DIAGNOSIS.into(),
            secret: None,
            article: None,
            portal: None,
        }
    }
}

/// The file in a lab's state directory that holds its persona (a workshop writes it).
pub const PERSONA_FILE: &str = "persona.json";

impl Persona {
    /// The persona of the lab whose state directory is `state`: its `persona.json`, or
    /// Alice when there is none (or it cannot be read).
    pub fn of_lab(state: &std::path::Path) -> Persona {
        std::fs::read(state.join(PERSONA_FILE)).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
    }
}

/// A response body and how to send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// Whether gzip is worth applying when the client accepts it.
    pub compressible: bool,
}

fn page(title: &str, body: &str) -> Vec<u8> {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
<link rel=\"stylesheet\" href=\"/style.css\"><script src=\"/app.js\" defer></script></head>\n\
<body><header><img src=\"/logo.svg\" alt=\"Clinic\" width=\"40\"> <a href=\"/\">clinic.test</a> \
<nav><a href=\"/articles/living-with-hiv\">HIV</a> <a href=\"/articles/healthy-sleep\">Sleep</a> \
<a href=\"/articles/flu-season\">Flu</a> <a href=\"/login\">Sign in</a> <a href=\"/account\">My account</a></nav></header>\n\
<main>{body}</main>\n<aside id=\"secure-context\">Checking this page's security context…</aside>\n</body></html>\n"
    )
    .into_bytes()
}

const STYLE: &str = "body{font-family:sans-serif;max-width:46em;margin:auto;color:#222}\
header{display:flex;gap:1em;align-items:center;border-bottom:1px solid #ccc}\
nav a{margin-right:.8em}.error{color:#a00}#secure-context{margin-top:2em;font-size:.9em;color:#555}\n";

/// Shows whether the page runs in a secure context and which powerful APIs the browser offers.
const SCRIPT: &str = "document.addEventListener('DOMContentLoaded',function(){\
var s=window.isSecureContext,f=[];\
if('serviceWorker' in navigator)f.push('service workers');\
if(navigator.mediaDevices&&navigator.mediaDevices.getUserMedia)f.push('camera and microphone');\
if('geolocation' in navigator&&s)f.push('geolocation');\
if(window.crypto&&window.crypto.subtle)f.push('Web Crypto');\
var e=document.getElementById('secure-context');\
if(e)e.textContent=(s?'Secure context: yes':'Secure context: NO')+' | powerful features offered: '+(f.length?f.join(', '):'none');});\n";

const LOGO: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 40 40\"><rect width=\"40\" height=\"40\" rx=\"8\" fill=\"#2a7\"/><path d=\"M16 8h8v8h8v8h-8v8h-8v-8H8v-8h8z\" fill=\"#fff\"/></svg>\n";

/// The software offered for download: a harmless script.
const APP: &str = "#!/bin/sh\n# The clinic app (plainsight lab): prints your next appointment.\necho \"clinic.test: your next appointment is on 14 December, 09:30.\"\n";

/// A chat widget, the kind of third-party script pages embed.
const WIDGET: &str = "document.addEventListener('DOMContentLoaded',function(){var e=document.getElementById('chat');if(e)e.textContent='Chat with a nurse: online';});\n";

const PHOTO: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 120 60\"><rect width=\"120\" height=\"60\" fill=\"#def\"/><circle cx=\"30\" cy=\"30\" r=\"18\" fill=\"#2a7\"/><text x=\"55\" y=\"36\" font-size=\"14\">Our team</text></svg>\n";

/// The home page; with `mixed`, it also loads a script and an image over plain HTTP.
pub fn home(mixed: bool) -> Vec<u8> {
    let extra = if mixed {
        format!(
            "<p id=\"chat\">Chat with a nurse: loading…</p><img src=\"http://{SITE}{MIXED_IMAGE}\" alt=\"Our team\" width=\"120\"><script src=\"http://{SITE}{MIXED_SCRIPT}\"></script>",
            SITE = crate::lab::SITE_NAME
        )
    } else {
        String::new()
    };
    let list: String = super::articles::ARTICLES
        .iter()
        .map(|a| format!("<li><a href=\"{}\">{}</a></li>", a.path(), a.title))
        .collect();
    page(
        "Clinic — health information you can trust",
        &format!(
            "<h1>Welcome to the clinic</h1><p>Read our articles, or <a href=\"/login\">sign in</a> to see your records.</p>\
<ul>{list}<li><a href=\"{DOWNLOAD_PAGE}\">Get the clinic app</a></li></ul>{extra}"
        ),
    )
}

/// `body` gzipped as the site sends it to a client that accepts gzip.
pub fn gzip(body: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut e, body).expect("writing to a Vec");
    e.finish().expect("writing to a Vec")
}

/// The SHA-256 of the downloadable app, as its download page prints it.
pub fn app_sha256() -> String {
    hex::encode(Sha256::digest(APP.as_bytes()))
}

/// A static resource by path (everything except the login and account pages).
pub fn resource(path: &str) -> Option<Resource> {
    let html = |body| Some(Resource { content_type: "text/html; charset=utf-8", body, compressible: true });
    match path {
        "/" => html(home(false)),
        DOWNLOAD_PAGE => html(page(
            "Get the clinic app",
            &format!(
                "<h1>Get the clinic app</h1><p><a href=\"{DOWNLOAD_FILE}\">clinic-app.sh</a> ({} bytes)</p>\
<p>Check it before you run it. SHA-256: <code id=\"sha256\">{}</code></p>",
                APP.len(),
                app_sha256()
            ),
        )),
        DOWNLOAD_FILE => {
            Some(Resource { content_type: "application/octet-stream", body: APP.into(), compressible: false })
        }
        MIXED_SCRIPT => {
            Some(Resource { content_type: "application/javascript", body: WIDGET.into(), compressible: true })
        }
        MIXED_IMAGE => Some(Resource { content_type: "image/svg+xml", body: PHOTO.into(), compressible: false }),
        "/login" => html(login_form(None)),
        "/style.css" => Some(Resource { content_type: "text/css", body: STYLE.into(), compressible: true }),
        "/app.js" => Some(Resource { content_type: "application/javascript", body: SCRIPT.into(), compressible: true }),
        "/logo.svg" => Some(Resource { content_type: "image/svg+xml", body: LOGO.into(), compressible: false }),
        p if p.starts_with("/articles/") => super::articles::by_path(p).and_then(|a| html(page(a.title, &a.body()))),
        p => super::articles::picture(p).map(|b| Resource {
            content_type: "image/png",
            body: b.to_vec(),
            compressible: false,
        }),
    }
}

/// The login form, with an error message after a failed attempt.
pub fn login_form(error: Option<&str>) -> Vec<u8> {
    let err = error.map(|e| format!("<p class=\"error\">{e}</p>")).unwrap_or_default();
    page(
        "Sign in",
        &format!(
            "<h1>Sign in</h1>{err}<form method=\"post\" action=\"/login\"><label>Username <input name=\"username\"></label>\
<label>Password <input name=\"password\" type=\"password\"></label><button>Sign in</button></form>"
        ),
    )
}

/// Where a workshop's flag is shown: a page of the account that the visitor never opens,
/// so that the flag never crosses the network unless someone replays the session.
pub const ACCOUNT_NOTE: &str = "/account/note";

/// The persona's account page: a link to the private note, not the note itself.
pub fn account_page(p: &Persona) -> Vec<u8> {
    let secret = p
        .secret
        .as_ref()
        .map(|_| format!("<dt>Private note</dt><dd><a href=\"{ACCOUNT_NOTE}\">Open the private note</a></dd>"))
        .unwrap_or_default();
    page(
        "My account",
        &format!(
            "<h1>My account</h1><dl><dt>Name</dt><dd>{}</dd><dt>Health insurance number</dt><dd>{}</dd>\
<dt>Diagnosis</dt><dd>{}</dd><dt>Next appointment</dt><dd>14 December, 09:30, Dr. Okafor</dd>{secret}</dl>",
            p.full_name, p.insurance_no, p.diagnosis
        ),
    )
}

/// The persona's private note (the workshop's flag), for a signed-in session only.
pub fn note_page(p: &Persona) -> Vec<u8> {
    let body = match &p.secret {
        Some(s) => format!("<h1>Private note</h1><p id=\"secret\">{s}</p>"),
        None => "<h1>Private note</h1><p>No note.</p>".to_string(),
    };
    page("Private note", &body)
}

/// Every path the site serves the same to everyone (not the account page).
pub fn paths() -> Vec<String> {
    let fixed =
        ["/", "/login", "/style.css", "/app.js", "/logo.svg", DOWNLOAD_PAGE, DOWNLOAD_FILE, MIXED_SCRIPT, MIXED_IMAGE];
    let articles = super::articles::ARTICLES.iter().map(|a| a.path());
    fixed.iter().map(|p| p.to_string()).chain(articles).chain(super::articles::picture_paths()).collect()
}

/// What the site serves at one path: the SHA-256 of the decoded body, and the page's
/// title (so a visitor can tell the site's page, even altered on the way, from another).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

impl Entry {
    fn of(body: &[u8]) -> Entry {
        Entry { sha256: hex::encode(Sha256::digest(body)), title: crate::analysis::dissect::http::html_title(body) }
    }
}

/// Every resource the site serves (decoded bodies), by path; `mixed` as the site's
/// `--mixed-content`, `pad` as its `--pad`, the account page as `persona` sees it.
pub fn manifest(mixed: bool, pad: bool, persona: &Persona) -> BTreeMap<String, Entry> {
    let sent = |content_type: &str, body: Vec<u8>| {
        Entry::of(&if pad { super::articles::pad(content_type, body) } else { body })
    };
    let mut m: BTreeMap<String, Entry> = paths()
        .into_iter()
        .map(|p| {
            let r = resource(&p).expect("listed");
            (p, sent(r.content_type, r.body))
        })
        .collect();
    m.insert("/".into(), sent("text/html", home(mixed)));
    m.insert("/account".into(), sent("text/html", account_page(persona)));
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_path_exists_and_links_resolve() {
        for p in paths() {
            assert!(resource(&p).is_some(), "{p}");
        }
        let home = String::from_utf8(resource("/").unwrap().body).unwrap();
        let articles = crate::lab::site::articles::ARTICLES.iter().map(|a| a.path());
        for link in ["/style.css", "/app.js", "/logo.svg", SENSITIVE_ARTICLE, CHUNKED_PAGE, "/login"]
            .map(String::from)
            .into_iter()
            .chain(articles)
        {
            assert!(home.contains(&format!("\"{link}\"")), "{link}");
        }
        let alice = Persona::default();
        assert_eq!(manifest(false, false, &alice).len(), paths().len() + 1);
        assert_ne!(manifest(true, false, &alice)["/"], manifest(false, false, &alice)["/"]);
        assert_ne!(manifest(false, true, &alice)[SENSITIVE_ARTICLE], manifest(false, false, &alice)[SENSITIVE_ARTICLE]);
        assert_eq!(manifest(false, true, &alice)[DOWNLOAD_FILE], manifest(false, false, &alice)[DOWNLOAD_FILE]);
        let download = String::from_utf8(resource(DOWNLOAD_PAGE).unwrap().body).unwrap();
        assert!(download.contains(&app_sha256()) && download.contains(DOWNLOAD_FILE));
        assert!(String::from_utf8(account_page(&alice)).unwrap().contains(DIAGNOSIS));
        let flagged = Persona { secret: Some("FLAG-1".into()), ..Persona::default() };
        // The flag is on a page the visitor never opens, not on the account page it does.
        assert!(!String::from_utf8(account_page(&flagged)).unwrap().contains("FLAG-1"));
        assert!(String::from_utf8(account_page(&flagged)).unwrap().contains(ACCOUNT_NOTE));
        assert!(String::from_utf8(note_page(&flagged)).unwrap().contains("FLAG-1"));
    }
}

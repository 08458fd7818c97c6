//! The demo's scenarios: how the lab is set for each, what the intruder does, how the
//! visitor starts, and what must happen. Pure data.

use serde::{Deserialize, Serialize};

use crate::lab::intruder::TlsMode;

/// A scenario. Its name is written once, in [`Scenario::name`]; clap takes it from there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Http,
    Https,
    /// The site speaks only TLS 1.2: its certificate crosses the gateway in clear.
    HttpsTls12,
    HttpsMitm,
    HttpsTamper,
    Sslstrip,
    SslstripHsts,
    TrustedMitm,
    /// A fellow guest races forged answers against the site, over HTTP.
    Race,
    /// The same race against HTTPS.
    RaceHttps,
    /// An HTTPS page that loads a script and an image over plain HTTP.
    HttpsMixed,
    /// The site's software download, over HTTP and over HTTPS.
    HttpDownload,
    HttpsDownload,
    /// HTTPS with the name resolved over DNS over HTTPS.
    HttpsDoh,
    /// HTTPS with the site padding every response to a few size buckets.
    HttpsPadded,
}

/// What reached the visitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Got {
    /// Every page arrived as the site sent it (SHA-256 manifest).
    Intact,
    /// The site's pages arrived, altered on the way.
    Modified,
    /// Pages arrived, but none was the site's: the attacker's took their place.
    Forged,
    /// No page at all: the connection was broken.
    Refused,
    /// Nothing could be checked.
    Unknown,
}

impl Got {
    pub fn as_str(self) -> &'static str {
        match self {
            Got::Intact => "intact",
            Got::Modified => "modified",
            Got::Forged => "forged",
            Got::Refused => "refused",
            Got::Unknown => "unknown",
        }
    }
}

/// What came of replaying a stolen session cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReplayState {
    /// The intruder sent the cookie and read the persona's account page.
    AccountRead,
    /// It sent the cookie; the account did not open.
    Failed,
    /// The visitor had a session, but the intruder never saw its cookie (encrypted).
    NotPossible,
    /// The visitor never got a session: there was nothing to steal.
    NotTried,
}

impl ReplayState {
    pub fn as_str(self) -> &'static str {
        match self {
            ReplayState::AccountRead => "account read",
            ReplayState::Failed => "failed",
            ReplayState::NotPossible => "not possible",
            ReplayState::NotTried => "not tried",
        }
    }
}

/// The rows of what the intruder learned, one field each: `Leaks<Cell>` is what a run
/// showed, `Leaks<bool>` what a scenario expects.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct Leaks<T> {
    pub password: T,
    pub session_cookie: T,
    pub sensitive_article: T,
    pub page_contents: T,
    pub dns_name: T,
    pub tls_server_name: T,
    /// The site's certificate (subject, issuer), read from the handshake: in clear up to
    /// TLS 1.2, encrypted in TLS 1.3.
    pub certificate: T,
    pub addresses: T,
    pub requests_and_sizes: T,
    /// Which article the visitor read: from the URL, or guessed from the sizes of its
    /// HTTPS page load against what the intruder learned of every article.
    pub article_inferred: T,
}

impl<T> Leaks<T> {
    /// (key, label, short label, value) of every row, in the table's order.
    pub fn rows(&self) -> [(&'static str, &'static str, &'static str, &T); 10] {
        [
            ("password", "Password", "Pwd", &self.password),
            ("session_cookie", "Session cookie", "Cookie", &self.session_cookie),
            ("sensitive_article", "Sensitive article (URL, title)", "Article", &self.sensitive_article),
            ("page_contents", "Page contents", "Pages", &self.page_contents),
            ("dns_name", "DNS name", "DNS", &self.dns_name),
            ("tls_server_name", "TLS server name", "SNI", &self.tls_server_name),
            ("certificate", "Certificate seen by the intruder", "Cert", &self.certificate),
            ("addresses", "Addresses", "Addr", &self.addresses),
            ("requests_and_sizes", "Number and sizes of requests", "Sizes", &self.requests_and_sizes),
            (
                "article_inferred",
                "Which article the intruder inferred (URL, or sizes)",
                "Guess",
                &self.article_inferred,
            ),
        ]
    }
}

/// What HTTPS leaves visible in every HTTPS scenario: DNS, the server name, addresses,
/// sizes, and the article Alice opens from a link, guessed from its page load's sizes (the
/// intruder learned every article's beforehand).
const METADATA_ONLY: Leaks<bool> = Leaks {
    password: false,
    session_cookie: false,
    sensitive_article: false,
    page_contents: false,
    dns_name: true,
    tls_server_name: true,
    certificate: false,
    addresses: true,
    requests_and_sizes: true,
    article_inferred: true,
};

/// Plain HTTP: everything but a TLS server name and a certificate (there is no TLS).
const EVERYTHING_OVER_HTTP: Leaks<bool> = Leaks {
    password: true,
    session_cookie: true,
    sensitive_article: true,
    page_contents: true,
    tls_server_name: false,
    ..METADATA_ONLY
};

/// The expected outcome of every row, checked after the run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Expect {
    pub intruder: Leaks<bool>,
    pub visitor: Got,
    /// The site's own pages reached the visitor.
    pub site_pages: bool,
    pub replay: ReplayState,
    /// A plain-HTTP script or image got into the visitor's HTTPS page.
    pub mixed_content: bool,
    /// The download arrived swapped (its SHA-256 differs from the one its page printed).
    pub download_swapped: bool,
}

/// What the intruder does in a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attack {
    /// The injecting proxy on the gateway, with what it does to HTTPS, and whether it
    /// also tampers with scripts, images and downloads (`inject --resources`).
    Proxy { tls: TlsMode, trusted_mitm: bool, resources: bool },
    /// A fellow guest races forged answers from the guest LAN.
    Race,
}

impl Attack {
    /// The `plainsight inject` arguments for this attack (after `--lab NAME`).
    pub fn inject_args(self) -> Vec<String> {
        match self {
            Attack::Proxy { tls, trusted_mitm, resources } => {
                let mode = clap::ValueEnum::to_possible_value(&tls).expect("no skipped variants");
                let mut v = vec!["--tls".to_string(), mode.get_name().to_string()];
                if trusted_mitm {
                    v.push("--trusted-mitm".into());
                }
                if resources {
                    v.push("--resources".into());
                }
                v
            }
            Attack::Race => vec!["--race".into()],
        }
    }
}

/// How a scenario is run.
pub struct Plan {
    pub site_flags: Vec<&'static str>,
    pub attack: Attack,
    pub start: &'static str,
    pub visitor_flags: Vec<&'static str>,
    pub expect: Expect,
}

impl clap::ValueEnum for Scenario {
    fn value_variants<'a>() -> &'a [Self] {
        &Scenario::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()).help(self.title()))
    }
}

impl Scenario {
    pub const ALL: [Scenario; 15] = [
        Scenario::Http,
        Scenario::Https,
        Scenario::HttpsTls12,
        Scenario::HttpsMitm,
        Scenario::HttpsTamper,
        Scenario::Sslstrip,
        Scenario::SslstripHsts,
        Scenario::TrustedMitm,
        Scenario::Race,
        Scenario::RaceHttps,
        Scenario::HttpsMixed,
        Scenario::HttpDownload,
        Scenario::HttpsDownload,
        Scenario::HttpsDoh,
        Scenario::HttpsPadded,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Http => "http",
            Scenario::Https => "https",
            Scenario::HttpsTls12 => "https-tls12",
            Scenario::HttpsMitm => "https-mitm",
            Scenario::HttpsTamper => "https-tamper",
            Scenario::Sslstrip => "sslstrip",
            Scenario::SslstripHsts => "sslstrip-hsts",
            Scenario::TrustedMitm => "trusted-mitm",
            Scenario::Race => "race",
            Scenario::RaceHttps => "race-https",
            Scenario::HttpsMixed => "https-mixed",
            Scenario::HttpDownload => "http-download",
            Scenario::HttpsDownload => "https-download",
            Scenario::HttpsDoh => "https-doh",
            Scenario::HttpsPadded => "https-padded",
        }
    }

    /// Whether the visit it shows runs over HTTPS (where the page comes from; sslstrip
    /// keeps the visitor on plain HTTP, HSTS keeps it on HTTPS).
    pub fn over_https(self) -> bool {
        !matches!(self, Scenario::Http | Scenario::Sslstrip | Scenario::Race | Scenario::HttpDownload)
    }

    pub fn title(self) -> &'static str {
        match self {
            Scenario::Http => "Plain HTTP",
            Scenario::Https => "HTTPS, intruder relays",
            Scenario::HttpsTls12 => "HTTPS, TLS 1.2 only",
            Scenario::HttpsMitm => "HTTPS, forged certificate",
            Scenario::HttpsTamper => "HTTPS, tampered records",
            Scenario::Sslstrip => "sslstrip, no HSTS",
            Scenario::SslstripHsts => "sslstrip vs HSTS",
            Scenario::TrustedMitm => "Visitor trusts intruder CA",
            Scenario::Race => "Guest races forgeries (HTTP)",
            Scenario::RaceHttps => "Guest races forgeries (HTTPS)",
            Scenario::HttpsMixed => "HTTPS page, plain-HTTP script",
            Scenario::HttpDownload => "Download over HTTP",
            Scenario::HttpsDownload => "Download over HTTPS",
            Scenario::HttpsDoh => "HTTPS, DNS over HTTPS",
            Scenario::HttpsPadded => "HTTPS, site pads its sizes",
        }
    }

    /// What the trainer says before it runs (`--step`).
    pub fn explain(self) -> &'static str {
        match self {
            Scenario::Http => {
                "Alice reads a health article and signs in over plain HTTP, on hotel Wi-Fi. Everything crosses the gateway in clear: watch the intruder read her password and her diagnosis, inject an advert into every page, and replay her cookie to open her account. Integrity and privacy are both gone."
            }
            Scenario::Https => {
                "The same visit over HTTPS. The intruder still relays every packet, but sees only what TLS does not hide: the DNS lookup, the server name, addresses, sizes and timing. Pages arrive exactly as the site sent them."
            }
            Scenario::HttpsTls12 => {
                "The same visit, but the site speaks only TLS 1.2. The pages are just as protected, yet the handshake shows more: the site's certificate (who it is, who vouched for it, until when) crosses the gateway in clear. TLS 1.3 encrypts it; here the intruder reads it off the wire."
            }
            Scenario::HttpsMitm => {
                "The intruder answers with its own certificate for clinic.test. Alice's browser checks who signed it, finds an authority it does not trust, and refuses to talk: the attacker gets nothing but the ClientHello."
            }
            Scenario::HttpsTamper => {
                "The intruder flips bytes inside the encrypted records. TLS authenticates every record, so Alice's browser notices at once and drops the connection instead of showing altered content."
            }
            Scenario::Sslstrip => {
                "Alice types 'clinic.test' without https://. Her first request goes out in clear; the intruder answers it and keeps her on HTTP while talking HTTPS to the site itself. Without HSTS, HTTPS never gets a chance."
            }
            Scenario::SslstripHsts => {
                "The same attack, but Alice's browser already knows the site's HSTS policy (an earlier visit, or the preload list). It never sends that first plain request, so there is nothing to strip."
            }
            Scenario::TrustedMitm => {
                "The one way HTTPS falls: Alice's device was made to trust the intruder's certificate authority (malware, a 'security' app, a corporate middlebox). Then the forged certificate is accepted and the intruder reads and changes everything. Guard what your devices trust."
            }
            Scenario::Race => {
                "Now the attacker is just another guest on the Wi-Fi: it can see every frame but cannot stop any. It forges the site's answer and sends it first (the site is far away, 20 ms). Alice's browser takes the first answer it gets: the attacker's page."
            }
            Scenario::HttpsMixed => {
                "The page comes over HTTPS, but it loads a chat widget script and a photo over plain http://. The intruder cannot touch the page, so it rewrites the script on its way, and a script runs with the page's full powers: the whole HTTPS page is now the intruder's. That is why browsers block plain-HTTP scripts in HTTPS pages (and upgrade images); this visitor stands for an old or careless client that does not."
            }
            Scenario::HttpDownload => {
                "Alice downloads the clinic's app over plain HTTP. The intruder swaps the file on its way (here for a harmless stand-in that says so; a real attacker sends malware), rewrites the site's script and replaces its logo: every resource without HTTPS is the intruder's. The checksum on the download page catches it only because this intruder left the page alone."
            }
            Scenario::HttpsDownload => {
                "The same download over HTTPS: the intruder can neither read nor change the file, the script or the image. The file's SHA-256 matches the one its page printed."
            }
            Scenario::HttpsDoh => {
                "The HTTPS visit again, but Alice's device asks for the site's address over DNS over HTTPS instead of plain DNS. The DNS question no longer crosses the gateway in clear; the server name in the ClientHello, the addresses and the sizes still do."
            }
            Scenario::HttpsPadded => {
                "The HTTPS visit again, but the site pads every response up to a power of two, so that every article's page load weighs the same. The intruder learns the padded site as before, but its guess of the article Alice opened is now no better than chance; the price is paid in bytes."
            }
            Scenario::RaceHttps => {
                "The same race against HTTPS. The forged bytes arrive first again, but they are not a valid TLS record: Alice's browser rejects them and aborts. An attacker who cannot block can, at most, break the connection."
            }
        }
    }

    pub fn plan(self) -> Plan {
        use ReplayState::{AccountRead, NotPossible, NotTried};
        let proxy = |tls| Attack::Proxy { tls, trusted_mitm: false, resources: false };
        let tampering = |tls| Attack::Proxy { tls, trusted_mitm: false, resources: true };
        let plan = |site_flags: Vec<&'static str>, attack, start, visitor_flags: Vec<&'static str>, expect| Plan {
            site_flags,
            attack,
            start,
            visitor_flags,
            expect,
        };
        // The usual expectation: the site's pages arrive, no mixed content, no download.
        let expect = |intruder, visitor, replay| Expect {
            intruder,
            visitor,
            site_pages: true,
            replay,
            mixed_content: false,
            download_swapped: false,
        };
        let (http, https) = ("http://clinic.test/", "https://clinic.test/");
        let refused = |attack| Plan {
            site_flags: vec![],
            attack,
            start: https,
            visitor_flags: vec![],
            expect: Expect {
                site_pages: false,
                ..expect(Leaks { article_inferred: false, ..METADATA_ONLY }, Got::Refused, NotTried)
            },
        };
        let passthrough = proxy(TlsMode::Passthrough);
        match self {
            Scenario::Http => plan(
                vec!["--no-https"],
                passthrough,
                http,
                vec![],
                expect(EVERYTHING_OVER_HTTP, Got::Modified, AccountRead),
            ),
            Scenario::Https => {
                plan(vec![], passthrough, https, vec![], expect(METADATA_ONLY, Got::Intact, NotPossible))
            }
            Scenario::HttpsTls12 => plan(
                vec!["--tls12-only"],
                passthrough,
                https,
                vec![],
                expect(Leaks { certificate: true, ..METADATA_ONLY }, Got::Intact, NotPossible),
            ),
            Scenario::HttpsMitm => refused(proxy(TlsMode::Mitm)),
            Scenario::HttpsTamper => refused(proxy(TlsMode::Tamper)),
            Scenario::Sslstrip => plan(
                vec!["--no-hsts"],
                proxy(TlsMode::Strip),
                "clinic.test",
                vec![],
                expect(EVERYTHING_OVER_HTTP, Got::Modified, AccountRead),
            ),
            Scenario::SslstripHsts => plan(
                vec![],
                proxy(TlsMode::Strip),
                "clinic.test",
                vec!["--hsts-preload"],
                expect(METADATA_ONLY, Got::Intact, NotPossible),
            ),
            Scenario::TrustedMitm => plan(
                vec![],
                Attack::Proxy { tls: TlsMode::Mitm, trusted_mitm: true, resources: false },
                https,
                vec!["--also-trust", "{state}/intruder-ca.pem"],
                expect(Leaks { tls_server_name: true, ..EVERYTHING_OVER_HTTP }, Got::Modified, AccountRead),
            ),
            // The forged sign-in form takes the password; the site's own pages never reach
            // the visitor, who therefore never signs in to the site nor reads the article.
            // The gateway still sees the site's answers (they lose the race, not the wire).
            Scenario::Race => plan(
                vec!["--no-https", "--latency-ms", "20"],
                Attack::Race,
                http,
                vec![],
                Expect {
                    site_pages: false,
                    ..expect(
                        Leaks {
                            session_cookie: false,
                            sensitive_article: false,
                            article_inferred: false,
                            ..EVERYTHING_OVER_HTTP
                        },
                        Got::Forged,
                        NotTried,
                    )
                },
            ),
            Scenario::RaceHttps => Plan { site_flags: vec!["--latency-ms", "20"], ..refused(Attack::Race) },
            // The scripts it loads over plain HTTP are the intruder's to read and rewrite.
            Scenario::HttpsMixed => plan(
                vec!["--mixed-content", "--no-redirect", "--no-hsts"],
                tampering(TlsMode::Passthrough),
                https,
                vec!["--no-mixed-content-blocking"],
                Expect {
                    mixed_content: true,
                    ..expect(Leaks { page_contents: true, ..METADATA_ONLY }, Got::Modified, NotPossible)
                },
            ),
            Scenario::HttpDownload => plan(
                vec!["--no-https"],
                tampering(TlsMode::Passthrough),
                http,
                vec!["--download"],
                Expect { download_swapped: true, ..expect(EVERYTHING_OVER_HTTP, Got::Modified, AccountRead) },
            ),
            Scenario::HttpsDoh => plan(
                vec![],
                passthrough,
                https,
                vec!["--doh"],
                expect(Leaks { dns_name: false, ..METADATA_ONLY }, Got::Intact, NotPossible),
            ),
            Scenario::HttpsPadded => plan(
                vec!["--pad"],
                passthrough,
                https,
                vec![],
                expect(Leaks { article_inferred: false, ..METADATA_ONLY }, Got::Intact, NotPossible),
            ),
            Scenario::HttpsDownload => plan(
                vec![],
                tampering(TlsMode::Passthrough),
                https,
                vec!["--download"],
                expect(METADATA_ONLY, Got::Intact, NotPossible),
            ),
        }
    }
}

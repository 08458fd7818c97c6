//! The demo's scenarios: how the lab is set for each, what the intruder does, how the
//! visitor starts, and what must happen. Pure data.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    Http,
    Https,
    HttpsMitm,
    HttpsTamper,
    Sslstrip,
    SslstripHsts,
    TrustedMitm,
    /// A fellow guest races forged answers against the site, over HTTP.
    Race,
    /// The same race against HTTPS.
    RaceHttps,
}

/// The expected outcome, checked after the run.
#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct Expect {
    pub password_leaks: bool,
    pub server_name_visible: bool,
    /// intact, modified or refused.
    pub visitor: &'static str,
}

/// How a scenario is run.
pub struct Plan {
    pub site_flags: Vec<&'static str>,
    /// Arguments of `plainsight inject`, or none for a purely passive intruder.
    pub inject: Option<Vec<&'static str>>,
    /// Race from the guest host instead of a proxy on the gateway.
    pub race: bool,
    pub start: &'static str,
    pub visitor_flags: Vec<&'static str>,
    pub expect: Expect,
}

impl Scenario {
    pub const ALL: [Scenario; 9] = [
        Scenario::Http,
        Scenario::Https,
        Scenario::HttpsMitm,
        Scenario::HttpsTamper,
        Scenario::Sslstrip,
        Scenario::SslstripHsts,
        Scenario::TrustedMitm,
        Scenario::Race,
        Scenario::RaceHttps,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Http => "http",
            Scenario::Https => "https",
            Scenario::HttpsMitm => "https-mitm",
            Scenario::HttpsTamper => "https-tamper",
            Scenario::Sslstrip => "sslstrip",
            Scenario::SslstripHsts => "sslstrip-hsts",
            Scenario::TrustedMitm => "trusted-mitm",
            Scenario::Race => "race",
            Scenario::RaceHttps => "race-https",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Scenario::Http => "Plain HTTP",
            Scenario::Https => "HTTPS, intruder relays",
            Scenario::HttpsMitm => "HTTPS, forged certificate",
            Scenario::HttpsTamper => "HTTPS, tampered records",
            Scenario::Sslstrip => "sslstrip, no HSTS",
            Scenario::SslstripHsts => "sslstrip vs HSTS",
            Scenario::TrustedMitm => "Visitor trusts intruder CA",
            Scenario::Race => "Guest races forged answers (HTTP)",
            Scenario::RaceHttps => "Guest races forged answers (HTTPS)",
        }
    }

    /// What the trainer says before it runs (`--step`).
    pub fn explain(self) -> &'static str {
        match self {
            Scenario::Http => "Alice reads a health article and signs in over plain HTTP, on hotel Wi-Fi. Everything crosses the gateway in clear: watch the intruder read her password and her diagnosis, inject an advert into every page, and replay her cookie to open her account. Integrity and privacy are both gone.",
            Scenario::Https => "The same visit over HTTPS. The intruder still relays every packet, but sees only what TLS does not hide: the DNS lookup, the server name, addresses, sizes and timing. Pages arrive exactly as the site sent them.",
            Scenario::HttpsMitm => "The intruder answers with its own certificate for clinic.test. Alice's browser checks who signed it, finds an authority it does not trust, and refuses to talk: the attacker gets nothing but the ClientHello.",
            Scenario::HttpsTamper => "The intruder flips bytes inside the encrypted records. TLS authenticates every record, so Alice's browser notices at once and drops the connection instead of showing altered content.",
            Scenario::Sslstrip => "Alice types 'clinic.test' without https://. Her first request goes out in clear; the intruder answers it and keeps her on HTTP while talking HTTPS to the site itself. Without HSTS, HTTPS never gets a chance.",
            Scenario::SslstripHsts => "The same attack, but Alice's browser already knows the site's HSTS policy (an earlier visit, or the preload list). It never sends that first plain request, so there is nothing to strip.",
            Scenario::TrustedMitm => "The one way HTTPS falls: Alice's device was made to trust the intruder's certificate authority (malware, a 'security' app, a corporate middlebox). Then the forged certificate is accepted and the intruder reads and changes everything. Guard what your devices trust.",
            Scenario::Race => "Now the attacker is just another guest on the Wi-Fi: it can see every frame but cannot stop any. It forges the site's answer and sends it first (the site is far away, 20 ms). Alice's browser takes the first answer it gets: the attacker's page.",
            Scenario::RaceHttps => "The same race against HTTPS. The forged bytes arrive first again, but they are not a valid TLS record: Alice's browser rejects them and aborts. An attacker who cannot block can, at most, break the connection.",
        }
    }

    pub fn plan(self) -> Plan {
        let passthrough = Some(vec!["--tls", "passthrough"]);
        match self {
            Scenario::Http => Plan {
                site_flags: vec!["--no-https"],
                inject: passthrough,
                race: false,
                start: "http://clinic.test/",
                visitor_flags: vec![],
                expect: Expect { password_leaks: true, server_name_visible: false, visitor: "modified" },
            },
            Scenario::Https => Plan {
                site_flags: vec![],
                inject: passthrough,
                race: false,
                start: "https://clinic.test/",
                visitor_flags: vec![],
                expect: Expect { password_leaks: false, server_name_visible: true, visitor: "intact" },
            },
            Scenario::HttpsMitm => Plan {
                site_flags: vec![],
                inject: Some(vec!["--tls", "mitm"]),
                race: false,
                start: "https://clinic.test/",
                visitor_flags: vec![],
                expect: Expect { password_leaks: false, server_name_visible: true, visitor: "refused" },
            },
            Scenario::HttpsTamper => Plan {
                site_flags: vec![],
                inject: Some(vec!["--tls", "tamper"]),
                race: false,
                start: "https://clinic.test/",
                visitor_flags: vec![],
                expect: Expect { password_leaks: false, server_name_visible: true, visitor: "refused" },
            },
            Scenario::Sslstrip => Plan {
                site_flags: vec!["--no-hsts"],
                inject: Some(vec!["--tls", "strip"]),
                race: false,
                start: "clinic.test",
                visitor_flags: vec![],
                expect: Expect { password_leaks: true, server_name_visible: false, visitor: "modified" },
            },
            Scenario::SslstripHsts => Plan {
                site_flags: vec![],
                inject: Some(vec!["--tls", "strip"]),
                race: false,
                start: "clinic.test",
                visitor_flags: vec!["--hsts-preload"],
                expect: Expect { password_leaks: false, server_name_visible: true, visitor: "intact" },
            },
            Scenario::TrustedMitm => Plan {
                site_flags: vec![],
                inject: Some(vec!["--tls", "mitm", "--trusted-mitm"]),
                race: false,
                start: "https://clinic.test/",
                visitor_flags: vec!["--also-trust", "{state}/intruder-ca.pem"],
                expect: Expect { password_leaks: true, server_name_visible: true, visitor: "modified" },
            },
            Scenario::Race => Plan {
                site_flags: vec!["--no-https", "--latency-ms", "20"],
                inject: Some(vec!["--race"]),
                race: true,
                start: "http://clinic.test/",
                visitor_flags: vec![],
                expect: Expect { password_leaks: true, server_name_visible: false, visitor: "modified" },
            },
            Scenario::RaceHttps => Plan {
                site_flags: vec!["--latency-ms", "20"],
                inject: Some(vec!["--race"]),
                race: true,
                start: "https://clinic.test/",
                visitor_flags: vec![],
                expect: Expect { password_leaks: false, server_name_visible: true, visitor: "refused" },
            },
        }
    }
}

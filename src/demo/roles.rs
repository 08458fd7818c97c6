//! The one place where what the demo asks of a role becomes a command line: a typed
//! request in, the host it runs on and its arguments out (the role reads them back with
//! clap, in namespaces or in the lab's containers alike).

use std::path::PathBuf;

use super::scenario::Attack;
use crate::lab::{Host, Lab};

/// What the demo asks one role to do.
pub enum Request {
    /// Capture on `host` (secrets in clear, for the demo's own evidence), writing pcapng.
    Sniff { host: Host, pcap: PathBuf, ready: PathBuf },
    /// The intruder's attack: the proxy on the gateway, or the racing guest.
    Inject { attack: Attack, ready: PathBuf },
    /// The visitor, from `start`, writing its visit and the pages it received.
    Visit { start: &'static str, flags: Vec<&'static str>, json: PathBuf, pages: PathBuf },
    /// End every TCP connection of a host (after a race, so they leak into no capture).
    EndConnections { host: Host },
    /// The intruder learns every article's HTTPS page load (`fingerprint learn`).
    Learn,
}

impl Request {
    /// The host it runs on and its command line (`plainsight ...` runs the same binary).
    pub fn command(&self, lab: &Lab) -> (Host, Vec<String>) {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<String>>();
        let path = |p: &PathBuf| p.display().to_string();
        let name = lab.name.as_str();
        match self {
            Request::Sniff { host, pcap, ready } => {
                let mut v = s(&[
                    "plainsight",
                    "sniff",
                    "--lab",
                    name,
                    "--host",
                    host.as_str(),
                    "--format",
                    "jsonl",
                    "--reveal",
                ]);
                v.extend(["--ready-file".into(), path(ready), "-w".into(), path(pcap)]);
                if *host != Host::Intruder {
                    v.extend(s(&["-i", "eth0"]));
                }
                (*host, v)
            }
            Request::Inject { attack, ready } => {
                let mut v = s(&["plainsight", "inject", "--lab", name, "--reveal", "--ready-file"]);
                v.push(path(ready));
                v.extend(attack.inject_args());
                let host = if *attack == Attack::Race { Lab::race_host() } else { Host::Intruder };
                (host, v)
            }
            Request::Visit { start, flags, json, pages } => {
                let mut v = s(&["plainsight", "visit", "--lab", name, "--json"]);
                v.extend([path(json), "--save".into(), path(pages)]);
                v.extend(flags.iter().map(|f| f.replace("{state}", &lab.state_dir().display().to_string())));
                v.push(start.to_string());
                (Host::Visitor, v)
            }
            Request::EndConnections { host } => (*host, s(&["ss", "-K", "-tn", "state", "connected"])),
            Request::Learn => {
                (Host::Intruder, s(&["plainsight", "fingerprint", "learn", "--lab", name, "--loads", "2"]))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::intruder::TlsMode;

    #[test]
    fn requests_become_the_roles_command_lines() {
        let lab = Lab::new("t").unwrap();
        let (host, v) =
            Request::Sniff { host: Host::Site, pcap: "/o/site.pcapng".into(), ready: "/o/r".into() }.command(&lab);
        assert_eq!(host, Host::Site);
        assert_eq!(
            v.join(" "),
            "plainsight sniff --lab t --host site --format jsonl --reveal --ready-file /o/r -w /o/site.pcapng -i eth0"
        );
        let (host, v) = Request::Inject {
            attack: Attack::Proxy { tls: TlsMode::Mitm, trusted_mitm: true, resources: false },
            ready: "/o/r".into(),
        }
        .command(&lab);
        assert_eq!(
            (host, v.join(" ").as_str()),
            (Host::Intruder, "plainsight inject --lab t --reveal --ready-file /o/r --tls mitm --trusted-mitm")
        );
        let (host, _) = Request::Inject { attack: Attack::Race, ready: "/o/r".into() }.command(&lab);
        assert_eq!(host, Lab::race_host());
        let (_, v) = Request::Visit {
            start: "clinic.test",
            flags: vec!["--also-trust", "{state}/intruder-ca.pem"],
            json: "/o/v.json".into(),
            pages: "/o/p".into(),
        }
        .command(&lab);
        assert_eq!(
            v.join(" "),
            "plainsight visit --lab t --json /o/v.json --save /o/p --also-trust /run/plainsight/t/intruder-ca.pem clinic.test"
        );
    }
}

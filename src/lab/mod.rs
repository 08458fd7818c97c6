//! The lab: a visitor, a fellow guest, an intruder (the hotel's gateway) and a website,
//! each in its own network namespace, joined by a guest LAN that floods every frame to
//! every port (a hub, like a shared radio medium) and an upstream link.
//!
//! ```text
//!  visitor 192.0.2.10 ─┐
//!  guest   192.0.2.20 ─┼─ br0 (ageing 0, in NAME-lan) ─ 192.0.2.1 intruder 198.51.100.1 ── 198.51.100.10 site (+DNS)
//! ```
//!
//! Only documentation ranges are used, and only inside the lab's own namespaces: the
//! machine's own namespace gets no address, route, rule or sysctl. The plan (names,
//! addresses, commands) is pure and tested here; [`run`] carries it out with `ip`, and
//! [`container`] drives the same roles in the containers of `lab/compose.yaml`.
//!
//! The roles: [`site`] (the website and its DNS resolver), [`visitor`] (a scripted
//! browser), [`intruder`] (the sniffer, the injecting proxy and the racing guest), each
//! a process started, watched and stopped through [`proc`]; [`pki`] makes the lab's
//! certificates, [`conn`] keeps the servers' connections in bounds (listen backlog, idle limits, lingering close).

pub mod browser;
pub mod conn;
pub mod container;
pub mod fingerprint;
pub mod hosts;
pub mod intruder;
pub mod pki;
pub mod proc;
pub mod run;
pub mod site;
pub mod visitor;

use std::net::Ipv4Addr;
use std::path::PathBuf;

/// The lab's hosts. Their names are written once, in [`Host::as_str`]; clap takes them
/// from there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    Visitor,
    Guest,
    Intruder,
    Site,
    /// The namespace holding the guest LAN's bridge (not a host anyone uses).
    Lan,
}

impl Host {
    pub const ALL: [Host; 5] = [Host::Lan, Host::Visitor, Host::Guest, Host::Intruder, Host::Site];
    pub fn as_str(self) -> &'static str {
        match self {
            Host::Visitor => "visitor",
            Host::Guest => "guest",
            Host::Intruder => "intruder",
            Host::Site => "site",
            Host::Lan => "lan",
        }
    }
}

impl clap::ValueEnum for Host {
    fn value_variants<'a>() -> &'a [Self] {
        &Host::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()))
    }
}

pub const VISITOR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
pub const GUEST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 20);
pub const GATEWAY_LAN: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const GATEWAY_WAN: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
pub const SITE: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
/// The site's name, served by the lab's DNS resolver on the site host.
pub const SITE_NAME: &str = "clinic.test";

/// One lab, identified by its name (the prefix of its namespaces).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lab {
    pub name: String,
}

/// A bad lab name.
#[derive(Debug, thiserror::Error)]
#[error("lab name {0:?} must be 1-20 characters of a-z, 0-9 and '-'")]
pub struct BadName(pub String);

impl Lab {
    pub fn new(name: &str) -> Result<Lab, BadName> {
        let ok = !name.is_empty()
            && name.len() <= 20
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok { Ok(Lab { name: name.to_string() }) } else { Err(BadName(name.to_string())) }
    }

    /// The namespace of a host: `NAME-visitor` and so on.
    pub fn ns(&self, host: Host) -> String {
        format!("{}-{}", self.name, host.as_str())
    }

    /// `program` in a host's namespace (`ip netns exec NAME-HOST program`); add its arguments.
    pub fn command_in(&self, host: Host, program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
        command_in_ns(&self.ns(host), program)
    }

    /// Where the lab keeps its CA, keys, logs and pids.
    pub fn state_dir(&self) -> PathBuf {
        PathBuf::from("/run/plainsight").join(&self.name)
    }

    /// The host a racing guest works from: the fellow guest in the namespace lab; in the
    /// containers, the intruder's LAN side (it forwards every packet, as a guest cannot
    /// block any, and sees them all).
    pub fn race_host() -> Host {
        if container::this_host().is_some() { Host::Intruder } else { Host::Guest }
    }

    /// The intruder's interface on the guest LAN.
    pub fn lan_interface() -> String {
        match container::this_host() {
            Some(_) => container::interface_with(GATEWAY_LAN).unwrap_or_else(|| "eth0".into()),
            None => "lan0".into(),
        }
    }

    /// The intruder's interface on the site's side (`fingerprint learn` captures there).
    pub fn wan_interface() -> String {
        match container::this_host() {
            Some(_) => container::interface_with(GATEWAY_WAN).unwrap_or_else(|| "eth1".into()),
            None => "wan0".into(),
        }
    }

    /// The lab CA certificate, for real clients (`curl --cacert`).
    pub fn ca_pem(&self) -> PathBuf {
        self.state_dir().join("ca.pem")
    }

    /// Addresses of a host, as `interface address/prefix`.
    pub fn addresses(host: Host) -> Vec<(&'static str, Ipv4Addr, u8)> {
        match host {
            Host::Visitor => vec![("eth0", VISITOR, 24)],
            Host::Guest => vec![("eth0", GUEST, 24)],
            Host::Intruder => vec![("lan0", GATEWAY_LAN, 24), ("wan0", GATEWAY_WAN, 24)],
            Host::Site => vec![("eth0", SITE, 24)],
            Host::Lan => vec![],
        }
    }

    /// Every `ip` command (as arguments) that builds the lab, in order. Each runs with
    /// `-n NAMESPACE` or inside a namespace: none addresses the machine's own namespace.
    pub fn plan_up(&self) -> Vec<Vec<String>> {
        let mut cmds: Vec<Vec<String>> = Vec::new();
        let mut ip = |args: &[&str]| cmds.push(args.iter().map(|s| s.to_string()).collect());
        for h in Host::ALL {
            ip(&["netns", "add", &self.ns(h)]);
        }
        let lan = self.ns(Host::Lan);
        ip(&["-n", &lan, "link", "add", "br0", "type", "bridge", "ageing_time", "0", "stp_state", "0"]);
        for (h, ifname) in [(Host::Visitor, "eth0"), (Host::Guest, "eth0"), (Host::Intruder, "lan0")] {
            let ns = self.ns(h);
            ip(&["-n", &ns, "link", "add", ifname, "type", "veth", "peer", "name", h.as_str(), "netns", &lan]);
            ip(&["-n", &lan, "link", "set", h.as_str(), "master", "br0", "up"]);
        }
        ip(&[
            "-n",
            &self.ns(Host::Intruder),
            "link",
            "add",
            "wan0",
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &self.ns(Host::Site),
        ]);
        ip(&["-n", &lan, "link", "set", "br0", "up"]);
        ip(&["-n", &lan, "link", "set", "lo", "up"]);
        for h in [Host::Visitor, Host::Guest, Host::Intruder, Host::Site] {
            let ns = self.ns(h);
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
            for (ifname, addr, prefix) in Lab::addresses(h) {
                ip(&["-n", &ns, "addr", "add", &format!("{addr}/{prefix}"), "dev", ifname]);
                ip(&["-n", &ns, "link", "set", ifname, "up"]);
            }
        }
        for (h, via) in [(Host::Visitor, GATEWAY_LAN), (Host::Guest, GATEWAY_LAN), (Host::Site, GATEWAY_WAN)] {
            ip(&["-n", &self.ns(h), "route", "add", "default", "via", &via.to_string()]);
        }
        cmds
    }

    /// The sysctls set inside each namespace (never in the machine's own).
    pub fn plan_sysctls(&self) -> Vec<(String, &'static str)> {
        let mut v = vec![(self.ns(Host::Intruder), "net.ipv4.ip_forward=1")];
        for h in Host::ALL {
            // The lab speaks IPv4 only: no IPv6 chatter in the captures.
            v.push((self.ns(h), "net.ipv6.conf.all.disable_ipv6=1"));
        }
        v
    }
}

/// `program` in the network namespace `ns` (`ip netns exec NS program`); add its arguments.
pub fn command_in_ns(ns: &str, program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
    let mut c = std::process::Command::new("ip");
    c.args(["netns", "exec", ns]).arg(program);
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_never_touches_the_root_namespace() {
        let lab = Lab::new("plainsight").unwrap();
        for cmd in lab.plan_up() {
            let namespaced = cmd[0] == "-n" || (cmd[0] == "netns" && cmd[1] == "add");
            assert!(namespaced, "{cmd:?}");
            if cmd[0] == "-n" {
                assert!(cmd[1].starts_with("plainsight-"), "{cmd:?}");
            }
            // Any peer moved elsewhere goes into one of the lab's namespaces.
            if let Some(i) = cmd.iter().position(|a| a == "netns")
                && cmd[0] == "-n"
            {
                assert!(cmd[i + 1].starts_with("plainsight-"));
            }
        }
        for (ns, _) in lab.plan_sysctls() {
            assert!(ns.starts_with("plainsight-"));
        }
    }

    #[test]
    fn only_documentation_ranges() {
        for h in Host::ALL {
            for (_, a, _) in Lab::addresses(h) {
                let o = a.octets();
                assert!((o[0], o[1], o[2]) == (192, 0, 2) || (o[0], o[1], o[2]) == (198, 51, 100), "{a}");
            }
        }
    }

    #[test]
    fn names_are_checked_and_prefix_everything() {
        assert!(Lab::new("Bad Name").is_err());
        assert!(Lab::new("").is_err());
        let lab = Lab::new("w1").unwrap();
        assert_eq!(lab.ns(Host::Visitor), "w1-visitor");
        assert_eq!(lab.state_dir(), PathBuf::from("/run/plainsight/w1"));
    }
}

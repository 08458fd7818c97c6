//! "Which article did she read?": guessing the page behind an HTTPS page load from what
//! an on-path observer sees of it: how many TLS connections, how many bytes each carried
//! back (records are encrypted, not their sizes). The site is public, so the attacker
//! browses it first and keeps a profile of every page ([`learn`](run::learn)); a visitor's
//! page load is then named after the nearest profile ([`Model::guess`]), with a score and
//! why. [`run`] drives it in a lab: learn, guess a capture, evaluate over many visits.
//!
//! A closed world of one site's pages is the attacker's best case (Panchenko et al., NDSS
//! 2016, found that such attacks do not scale to the open web); padding every response to
//! a few size buckets (`lab up --pad`) takes most of it away, at a price in bytes.

pub mod run;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::analysis::dissect::Record;

/// One TLS connection as an observer sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conn {
    /// When its ClientHello passed, microseconds since the epoch.
    pub start_us: i64,
    pub client: IpAddr,
    pub server: SocketAddr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// Encrypted bytes each way (TLS record payloads after the handshake went dark).
    pub bytes_down: u64,
    pub bytes_up: u64,
    pub records_up: u64,
}

/// The TLS connections of one capture, in the order they started.
pub fn connections(capture: &Path) -> anyhow::Result<Vec<Conn>> {
    let mut by_id: BTreeMap<u64, Conn> = BTreeMap::new();
    let mut sink = |e: &crate::analysis::dissect::Event, _: &[crate::analysis::findings::Finding]| {
        let Some(id) = e.conn else { return };
        match &e.record {
            Record::TlsClientHello(ch) => {
                by_id.entry(id).or_insert(Conn { start_us: e.ts, client: e.src.ip(), server: e.dst, server_name: ch.sni.clone(), bytes_down: 0, bytes_up: 0, records_up: 0 });
            }
            Record::TlsTraffic(t) => {
                if let Some(c) = by_id.get_mut(&id) {
                    c.bytes_down = t.bytes_to_client;
                    c.bytes_up = t.bytes_to_server;
                    c.records_up = t.records_to_server;
                }
            }
            _ => {}
        }
    };
    crate::analysis::analyze::scan_with(capture, None, false, &mut sink, &mut |_| {}).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut conns: Vec<Conn> = by_id.into_values().collect();
    conns.sort_by_key(|c| c.start_us);
    Ok(conns)
}

/// One page load: the connections a client opened to the site for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Load {
    pub start_us: i64,
    pub client: IpAddr,
    /// Bytes back on each connection, largest first.
    pub down: Vec<u64>,
    pub up: u64,
}

impl Load {
    pub fn of(conns: &[&Conn]) -> Option<Load> {
        let first = conns.first()?;
        let mut down: Vec<u64> = conns.iter().map(|c| c.bytes_down).collect();
        down.sort_unstable_by(|a, b| b.cmp(a));
        Some(Load { start_us: first.start_us, client: first.client, down, up: conns.iter().map(|c| c.bytes_up).sum() })
    }

    pub fn total(&self) -> u64 {
        self.down.iter().sum()
    }

    /// How far apart two loads are, as a share of the larger: the bytes each connection
    /// carried back, largest with largest (a missing connection counts whole).
    pub fn distance(&self, other: &Load) -> f64 {
        let n = self.down.len().max(other.down.len());
        let at = |v: &[u64], i: usize| v.get(i).copied().unwrap_or(0) as f64;
        let diff: f64 = (0..n).map(|i| (at(&self.down, i) - at(&other.down, i)).abs()).sum();
        diff / (self.total().max(other.total()).max(1) as f64)
    }

    pub fn describe(&self) -> String {
        format!("{} over {} connection{}", kib(self.total()), self.down.len(), if self.down.len() == 1 { "" } else { "s" })
    }
}

fn kib(b: u64) -> String {
    format!("{:.1} KiB", b as f64 / 1024.0)
}

/// Cuts a client's connections to the site into page loads: a load ends when no new
/// connection starts for `gap` (a person reads a page for longer than a browser takes
/// to fetch it).
pub fn page_loads(conns: &[Conn], server_name: &str, gap_us: i64) -> Vec<Load> {
    let mut by_client: BTreeMap<IpAddr, Vec<&Conn>> = BTreeMap::new();
    for c in conns.iter().filter(|c| c.server_name.as_deref() == Some(server_name)) {
        by_client.entry(c.client).or_default().push(c);
    }
    let mut loads = Vec::new();
    for (_, cs) in by_client {
        let mut cur: Vec<&Conn> = Vec::new();
        for c in cs {
            if cur.last().is_some_and(|l| c.start_us - l.start_us > gap_us) {
                loads.extend(Load::of(&cur));
                cur.clear();
            }
            cur.push(c);
        }
        loads.extend(Load::of(&cur));
    }
    loads.sort_by_key(|l| l.start_us);
    loads
}

/// A page load learned: which page it was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub page: String,
    pub load: Load,
}

/// What the attacker learned of one site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub server_name: String,
    /// Whether the site padded its responses while learning.
    pub padded: bool,
    /// What the attacker browsed with: `visitor` (the scripted one) or `chromium`.
    #[serde(default = "scripted")]
    pub browser: String,
    pub samples: Vec<Sample>,
}

fn scripted() -> String {
    "visitor".into()
}

/// Loads nearer than this share of their size cannot be told apart: a few bytes of
/// header (a date, a cookie) move a page load that much from one visit to the next.
pub const TIE: f64 = 0.005;

/// A guess and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Guess {
    pub page: String,
    /// 1 - distance to the nearest learned load of that page (1: identical sizes).
    pub score: f64,
    /// The next two pages, with their scores.
    pub runners_up: Vec<(String, f64)>,
    /// Other pages whose nearest load is within [`TIE`] of the best (then the sizes cannot
    /// tell them apart, and the guess among them is arbitrary).
    pub tied: usize,
    pub why: String,
}

impl Model {
    /// Reads a model written by `fingerprint learn`.
    pub fn load(path: &Path) -> anyhow::Result<Model> {
        let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("{}: {e} (run `plainsight fingerprint learn` first)", path.display()))?;
        serde_json::from_slice(&bytes).map_err(|e| anyhow::anyhow!("{}: not a fingerprint model: {e}", path.display()))
    }

    /// Pages learned, each once.
    pub fn pages(&self) -> Vec<String> {
        let mut p: Vec<String> = self.samples.iter().map(|s| s.page.clone()).collect();
        p.sort();
        p.dedup();
        p
    }

    /// The page whose learned loads come nearest `load` (nearest neighbour on sizes).
    pub fn guess(&self, load: &Load) -> Option<Guess> {
        let mut best: BTreeMap<&str, (f64, &Load)> = BTreeMap::new();
        for s in &self.samples {
            let d = load.distance(&s.load);
            let e = best.entry(&s.page).or_insert((d, &s.load));
            if d < e.0 {
                *e = (d, &s.load);
            }
        }
        let mut ranked: Vec<(&str, f64, &Load)> = best.into_iter().map(|(p, (d, l))| (p, d, l)).collect();
        ranked.sort_by(|a, b| a.1.total_cmp(&b.1));
        let (page, d, nearest) = *ranked.first()?;
        let tied = ranked[1..].iter().filter(|r| r.1 - d < TIE).count();
        let score = (1.0 - d).max(0.0);
        let mut why = format!("saw {}; {page} loaded as {} when learned ({:.1}% apart)", load.describe(), nearest.describe(), d * 100.0);
        match ranked.get(1) {
            Some(&(p2, d2, _)) if tied == 0 => why.push_str(&format!("; next nearest {p2} ({:.1}% apart)", d2 * 100.0)),
            _ if tied > 0 => why.push_str(&format!("; {tied} other pages load within {:.1}% of that: the sizes cannot tell them apart", TIE * 100.0)),
            _ => {}
        }
        Some(Guess { page: page.to_string(), score, runners_up: ranked[1..].iter().take(2).map(|r| (r.0.to_string(), (1.0 - r.1).max(0.0))).collect(), tied, why })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(start_s: f64, client: u8, down: u64) -> Conn {
        Conn {
            start_us: (start_s * 1e6) as i64,
            client: IpAddr::from([192, 0, 2, client]),
            server: "198.51.100.10:443".parse().unwrap(),
            server_name: Some("clinic.test".into()),
            bytes_down: down,
            bytes_up: 500,
            records_up: 2,
        }
    }

    #[test]
    fn loads_are_cut_at_pauses_and_per_client() {
        let cs = vec![conn(0.0, 1, 100), conn(0.2, 1, 50_000), conn(0.3, 2, 7), conn(5.0, 1, 900)];
        let loads = page_loads(&cs, "clinic.test", 1_000_000);
        assert_eq!(loads.len(), 3);
        assert_eq!(loads[0].down, vec![50_000, 100]);
        assert_eq!(loads[1].down, vec![7]);
        assert_eq!(loads[2].down, vec![900]);
        assert!(page_loads(&cs, "other.test", 1_000_000).is_empty());
    }

    #[test]
    fn nearest_page_wins_and_ties_are_said() {
        let l = |v: &[u64]| Load { start_us: 0, client: IpAddr::from([192, 0, 2, 1]), down: v.to_vec(), up: 0 };
        let model = Model {
            server_name: "clinic.test".into(),
            padded: false,
            browser: scripted(),
            samples: vec![
                Sample { page: "/a".into(), load: l(&[100_000, 40_000]) },
                Sample { page: "/b".into(), load: l(&[120_000, 40_000]) },
                Sample { page: "/c".into(), load: l(&[60_000]) },
            ],
        };
        let g = model.guess(&l(&[101_000, 40_100])).unwrap();
        assert_eq!(g.page, "/a");
        assert_eq!(g.runners_up[0].0, "/b");
        assert!(g.score > 0.99 && g.tied == 0 && g.why.contains("/b"), "{g:?}");
        let same = Model { samples: vec![Sample { page: "/a".into(), load: l(&[1000]) }, Sample { page: "/b".into(), load: l(&[1000]) }], ..model };
        let g = same.guess(&l(&[1000])).unwrap();
        assert_eq!(g.tied, 1);
        assert!(g.why.contains("cannot tell"), "{}", g.why);
    }
}

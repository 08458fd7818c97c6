//! "Which article did she read?": guessing the page behind an HTTPS page load from what
//! an on-path observer sees of it: how many TLS connections, how many bytes each carried
//! back (records are encrypted, not their sizes). The site is public, so the attacker
//! browses it first and keeps a profile of every page ([`crate::lab::fingerprint::learn`]);
//! a visitor's page load is then named after the nearest profile ([`Model::guess`]), with
//! a score and why; [`Live`] guesses as a sniffer reads. Pure: the lab drives it
//! ([`crate::lab::fingerprint`]: learn, guess a capture, evaluate over many visits).
//!
//! A closed world of one site's pages is the attacker's best case (Panchenko et al., NDSS
//! 2016, found that such attacks do not scale to the open web); padding every response to
//! a few size buckets (`lab up --pad`) takes most of it away, at a price in bytes.

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
    /// Encrypted bytes and records each way (after the handshake went dark).
    pub bytes_down: u64,
    pub bytes_up: u64,
    pub records_up: u64,
    #[serde(default)]
    pub records_down: u64,
}

/// The TLS connections of one capture, in the order they started.
pub fn connections(capture: &Path) -> anyhow::Result<Vec<Conn>> {
    let mut by_id: BTreeMap<u64, Conn> = BTreeMap::new();
    let mut sink = |e: &crate::analysis::dissect::Event, _: &[crate::analysis::findings::Finding]| {
        let Some(id) = e.conn else { return };
        match &e.record {
            Record::TlsClientHello(ch) => {
                by_id.entry(id).or_insert(Conn {
                    start_us: e.ts,
                    client: e.src.ip(),
                    server: e.dst,
                    server_name: ch.sni.clone(),
                    bytes_down: 0,
                    bytes_up: 0,
                    records_up: 0,
                    records_down: 0,
                });
            }
            Record::TlsTraffic(t) => {
                if let Some(c) = by_id.get_mut(&id) {
                    c.bytes_down = t.bytes_to_client;
                    c.bytes_up = t.bytes_to_server;
                    c.records_up = t.records_to_server;
                    c.records_down = t.records_to_client;
                }
            }
            _ => {}
        }
    };
    crate::analysis::analyze::scan_with(
        capture,
        None,
        crate::analysis::analyze::Wanted::Records,
        &mut sink,
        &mut |_| {},
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
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
    /// Encrypted records each way (up: about one per request), over all its connections.
    #[serde(default)]
    pub records_up: u64,
    #[serde(default)]
    pub records_down: u64,
}

impl Load {
    pub fn of(conns: &[&Conn]) -> Option<Load> {
        let first = conns.first()?;
        let mut down: Vec<u64> = conns.iter().map(|c| c.bytes_down).collect();
        down.sort_unstable_by(|a, b| b.cmp(a));
        Some(Load {
            start_us: first.start_us,
            client: first.client,
            down,
            up: conns.iter().map(|c| c.bytes_up).sum(),
            records_up: conns.iter().map(|c| c.records_up).sum(),
            records_down: conns.iter().map(|c| c.records_down).sum(),
        })
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
        format!(
            "{} over {} connection{}",
            kib(self.total()),
            self.down.len(),
            if self.down.len() == 1 { "" } else { "s" }
        )
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
        let bytes = std::fs::read(path)
            .map_err(|e| anyhow::anyhow!("{}: {e} (run `plainsight fingerprint learn` first)", path.display()))?;
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
        let mut why = format!(
            "saw {}; {page} loaded as {} when learned ({:.1}% apart)",
            load.describe(),
            nearest.describe(),
            d * 100.0
        );
        match ranked.get(1) {
            Some(&(p2, d2, _)) if tied == 0 => why.push_str(&format!("; next nearest {p2} ({:.1}% apart)", d2 * 100.0)),
            _ if tied > 0 => why.push_str(&format!(
                "; {tied} other pages load within {:.1}% of that: the sizes cannot tell them apart",
                TIE * 100.0
            )),
            _ => {}
        }
        Some(Guess {
            page: page.to_string(),
            score,
            runners_up: ranked[1..].iter().take(2).map(|r| (r.0.to_string(), (1.0 - r.1).max(0.0))).collect(),
            tied,
            why,
        })
    }
}

/// Guesses page loads as a capture goes (`sniff --guess-articles`): a client's
/// connections to the model's site make one page load until none is open and none has
/// started for `gap`; then the load is named.
pub struct Live {
    model: Model,
    gap_us: i64,
    /// Connections to the site whose ClientHello passed, by connection id, until they end.
    open: std::collections::HashMap<u64, Conn>,
    /// Per client, the ended connections of its current page load.
    ended: BTreeMap<IpAddr, Vec<Conn>>,
}

impl Live {
    pub fn new(model: Model, gap: std::time::Duration) -> Live {
        Live { model, gap_us: gap.as_micros() as i64, open: Default::default(), ended: BTreeMap::new() }
    }

    /// Takes in one event of the pipeline; returns the page loads it completed.
    pub fn event(&mut self, e: &crate::analysis::dissect::Event) -> Vec<(Load, Guess)> {
        let Some(id) = e.conn else { return Vec::new() };
        let mut done = Vec::new();
        match &e.record {
            Record::TlsClientHello(ch) if ch.sni.as_deref() == Some(self.model.server_name.as_str()) => {
                done.extend(self.complete(e.src.ip(), e.ts));
                // At most this many connections followed at once (a flood costs no memory).
                if self.open.len() < 65_536 {
                    self.open.insert(
                        id,
                        Conn {
                            start_us: e.ts,
                            client: e.src.ip(),
                            server: e.dst,
                            server_name: ch.sni.clone(),
                            bytes_down: 0,
                            bytes_up: 0,
                            records_up: 0,
                            records_down: 0,
                        },
                    );
                }
            }
            Record::TlsTraffic(t) => {
                if let Some(mut c) = self.open.remove(&id) {
                    (c.bytes_down, c.bytes_up, c.records_up, c.records_down) =
                        (t.bytes_to_client, t.bytes_to_server, t.records_to_server, t.records_to_client);
                    let group = self.ended.entry(c.client).or_default();
                    if group.len() < 1024 {
                        group.push(c);
                    }
                }
            }
            _ => {}
        }
        done
    }

    /// The page loads over by `now_us` (microseconds since the epoch).
    pub fn tick(&mut self, now_us: i64) -> Vec<(Load, Guess)> {
        let clients: Vec<IpAddr> = self.ended.keys().copied().collect();
        clients.into_iter().filter_map(|c| self.complete(c, now_us)).collect()
    }

    /// Every page load left, at the capture's end.
    pub fn finish(&mut self) -> Vec<(Load, Guess)> {
        self.tick(i64::MAX)
    }

    fn complete(&mut self, client: IpAddr, now_us: i64) -> Option<(Load, Guess)> {
        let open_here = self.open.values().filter(|c| c.client == client);
        let last_start =
            open_here.clone().map(|c| c.start_us).chain(self.ended.get(&client)?.iter().map(|c| c.start_us)).max()?;
        if open_here.count() > 0 && now_us != i64::MAX || now_us.saturating_sub(last_start) <= self.gap_us {
            return None;
        }
        let group = self.ended.remove(&client)?;
        let load = Load::of(&group.iter().collect::<Vec<_>>())?;
        let guess = self.model.guess(&load)?;
        Some((load, guess))
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
            records_down: 9,
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
    fn live_loads_end_when_their_connections_closed_and_a_pause_passed() {
        use crate::analysis::dissect::{Event, tls};
        let l = |v: &[u64]| Load {
            start_us: 0,
            client: IpAddr::from([192, 0, 2, 1]),
            down: v.to_vec(),
            up: 0,
            records_up: 0,
            records_down: 0,
        };
        let model = Model {
            server_name: "clinic.test".into(),
            padded: false,
            browser: scripted(),
            samples: vec![
                Sample { page: "/a".into(), load: l(&[100_000]) },
                Sample { page: "/b".into(), load: l(&[50_000]) },
            ],
        };
        let mut live = Live::new(model, std::time::Duration::from_secs(1));
        let (client, server): (SocketAddr, SocketAddr) =
            ("192.0.2.10:40000".parse().unwrap(), "198.51.100.10:443".parse().unwrap());
        let hello = |id, ts, sni: &str| Event {
            frame: 1,
            ts,
            conn: Some(id),
            src: client,
            dst: server,
            record: Record::TlsClientHello(tls::ClientHello { sni: Some(sni.into()), ..Default::default() }),
        };
        let end = |id, ts, down| Event {
            frame: 2,
            ts,
            conn: Some(id),
            src: server,
            dst: client,
            record: Record::TlsTraffic(tls::Traffic { bytes_to_client: down, ..Default::default() }),
        };
        assert!(live.event(&hello(1, 0, "clinic.test")).is_empty());
        assert!(live.event(&hello(9, 0, "elsewhere.test")).is_empty(), "another site is not followed");
        assert!(live.tick(5_000_000).is_empty(), "a connection still open: the load goes on");
        assert!(live.event(&end(1, 100_000, 100_300)).is_empty());
        assert!(live.tick(900_000).is_empty(), "no pause yet");
        let done = live.tick(1_200_000);
        assert_eq!(done.len(), 1);
        assert_eq!((done[0].0.down.clone(), done[0].1.page.as_str()), (vec![100_300], "/a"));
        // The next load: its connection ends at the capture's end.
        assert!(live.event(&hello(2, 3_000_000, "clinic.test")).is_empty());
        assert!(live.event(&end(2, 3_100_000, 49_900)).is_empty());
        let done = live.finish();
        assert_eq!((done.len(), done[0].1.page.as_str()), (1, "/b"));
        assert!(live.finish().is_empty());
    }

    #[test]
    fn nearest_page_wins_and_ties_are_said() {
        let l = |v: &[u64]| Load {
            start_us: 0,
            client: IpAddr::from([192, 0, 2, 1]),
            down: v.to_vec(),
            up: 0,
            records_up: 0,
            records_down: 0,
        };
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
        let same = Model {
            samples: vec![
                Sample { page: "/a".into(), load: l(&[1000]) },
                Sample { page: "/b".into(), load: l(&[1000]) },
            ],
            ..model
        };
        let g = same.guess(&l(&[1000])).unwrap();
        assert_eq!(g.tied, 1);
        assert!(g.why.contains("cannot tell"), "{}", g.why);
    }
}

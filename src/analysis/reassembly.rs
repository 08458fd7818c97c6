//! TCP reassembly: turns segments into the two ordered byte streams of each connection.
//!
//! What it handles, and how:
//! - **Order.** Each direction keeps `next`, the stream offset it expects. Sequence numbers
//!   are unwrapped to 64-bit stream offsets (the candidate nearest `next`), so wrap-around
//!   at 2^32 is invisible above this module.
//! - **Retransmissions and overlaps.** Bytes already delivered are never delivered again:
//!   the first copy wins, as most receivers do. Out-of-order segments wait in a map keyed
//!   by offset until the hole before them fills.
//! - **Loss.** A hole is skipped (and reported to the stream as a gap of known length,
//!   never hidden) when the peer acknowledges data beyond it, when the buffered bytes pass
//!   the per-connection or global cap, or when the connection ends.
//! - **Mid-stream starts.** Without a SYN the first data segment fixes the stream origin.
//! - **Every packet counts.** Each connection also keeps a [`Tally`]: packets and IP bytes
//!   each way, endpoint states and the history string, as Zeek defines them. Any packet
//!   opens a connection (a bare ACK too: Zeek's partial connections), and a connection that
//!   closed or was reset stays [`CLOSE_DELAY_MICROS`] longer, so that the last ACKs and
//!   RSTs count in it instead of opening another.
//! - **Bounded memory.** Per-connection and global caps on buffered out-of-order bytes, a
//!   cap on live connections (the least recently active are evicted first), and idle
//!   connections closed after a timeout. Everything dropped is counted in [`Stats`].
//!
//! The application above (the dissectors) is a [`StreamApp`]; this module is pure.

use std::collections::BTreeMap;
use std::hash::BuildHasher;

/// Connection table hasher: fast, and seeded per process so crafted addresses cannot
/// force collisions.
type Hasher = foldhash::fast::RandomState;
use std::net::SocketAddr;

use crate::analysis::decode::TcpMeta;
use crate::analysis::prefetch;
use crate::analysis::tally::Tally;

/// How long a closed or reset connection stays to count its last packets (Zeek's
/// `tcp_close_delay` and `tcp_reset_delay`), in capture time.
pub const CLOSE_DELAY_MICROS: i64 = 5_000_000;

/// Direction of data within a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dir {
    /// From the connection's client (the SYN sender, or the best guess) to its server.
    ToServer,
    ToClient,
}

impl Dir {
    fn index(self) -> usize {
        self as usize
    }
    pub fn flip(self) -> Dir {
        match self {
            Dir::ToServer => Dir::ToClient,
            Dir::ToClient => Dir::ToServer,
        }
    }
}

/// Identity of a connection, as the report shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ConnInfo {
    /// Sequential connection number (0-based, in order of first packet).
    pub id: u64,
    pub client: SocketAddr,
    pub server: SocketAddr,
    /// Frame number of the first packet seen.
    pub first_frame: u64,
    /// Its capture time, microseconds since the Unix epoch.
    pub first_ts: i64,
}

/// Why a connection's streams ended (in reports: `closed`, `reset`, `idle`, `evicted`, `open`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum End {
    Closed,
    Reset,
    Idle,
    Evicted,
    /// Still open at the capture's end.
    #[serde(rename = "open")]
    EndOfCapture,
}

/// What the reassembler drives: one instance per connection.
pub trait StreamApp {
    type Out;
    fn new(info: &ConnInfo, limits: &Limits) -> Self;
    /// In-order bytes of one direction; `frame` carried (the start of) them.
    fn data(&mut self, info: &ConnInfo, dir: Dir, data: &[u8], frame: u64, ts: i64, out: &mut Self::Out);
    /// `len` bytes of `dir` were never seen; data continues after them.
    fn gap(&mut self, info: &ConnInfo, dir: Dir, len: u64, out: &mut Self::Out);
    /// The connection closed (FINs both ways, or a RST): no more data will come, though its
    /// last packets are still counted until [`end`](Self::end). Not called for connections
    /// that end otherwise.
    fn close(&mut self, _info: &ConnInfo, _why: End, _out: &mut Self::Out) {}
    /// The connection is over; `tally` is what all its packets added up to.
    fn end(&mut self, info: &ConnInfo, why: End, tally: &Tally, out: &mut Self::Out);
    /// Hints the CPU to load the state that the next bytes will touch (see [`prefetch`]).
    fn prefetch(&self) {}
}

/// Memory and time limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub per_conn_ooo: usize,
    pub global_ooo: usize,
    pub max_conns: usize,
    pub idle_micros: i64,
    /// Whether dissectors keep the start of message bodies (for titles, previews and
    /// forms); field extraction, which reads none of them, turns it off.
    pub keep_bodies: bool,
    /// Whether each connection's summary (its conn.log line) is written when it ends;
    /// field extraction, which prints none, turns it off, and with it what only the
    /// summary needs: the per-packet tally, and closed connections lingering.
    pub summaries: bool,
    /// Whether HTTP responses are written (their heads are read all the same, to find
    /// where the next message starts); field extraction, which prints none, turns it off.
    pub responses: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_conn_ooo: 256 << 10,
            global_ooo: 16 << 20,
            max_conns: 32_768,
            idle_micros: 300_000_000,
            keep_bodies: true,
            summaries: true,
            responses: true,
        }
    }
}

/// Counters for the summary.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Stats {
    pub connections: u64,
    pub segments: u64,
    pub bytes_delivered: u64,
    pub retransmitted_bytes: u64,
    pub out_of_order_segments: u64,
    pub gaps: u64,
    pub gap_bytes: u64,
    pub evicted_connections: u64,
    pub idle_closed_connections: u64,
    /// Out-of-order bytes dropped because a cap was reached.
    pub dropped_ooo_bytes: u64,
}

#[derive(Default)]
struct Half {
    /// Sequence number of stream offset 0, once known.
    base: Option<u32>,
    next: u64,
    ooo: BTreeMap<u64, (Vec<u8>, u64, i64)>,
    ooo_bytes: usize,
    fin_at: Option<u64>,
    /// Mid-stream, a lone first byte is held back: it may be a keep-alive probe (one old
    /// byte at `next - 1`), which the following segment will overlap.
    tentative: Option<(u32, u8, u64, i64)>,
}

impl Half {
    /// Unwraps a sequence number to the stream offset nearest `next`.
    fn offset(&self, seq: u32) -> i64 {
        let base = self.base.unwrap_or(seq);
        let rel = seq.wrapping_sub(base) as i64;
        let next = self.next as i64;
        let mut cand = (next & !0xffff_ffff) | rel;
        if cand - next > 1 << 31 {
            cand -= 1 << 32;
        } else if next - cand > 1 << 31 {
            cand += 1 << 32;
        }
        cand
    }
    fn done(&self) -> bool {
        self.fin_at.is_some_and(|f| self.next >= f)
    }
    /// Sets the stream's base from the first segment seen mid-stream, holding back a lone
    /// first byte (see `tentative`). Returns the held byte when the next segment follows
    /// it: it is the stream's first byte after all.
    #[inline]
    fn find_base(&mut self, seq: u32, payload: &[u8], frame: u64, ts: i64) -> Option<([u8; 1], u64, i64)> {
        if self.base.is_some() {
            return None;
        }
        match self.tentative.take() {
            None if payload.len() == 1 => self.tentative = Some((seq, payload[0], frame, ts)),
            Some((tseq, byte, tframe, tts)) if seq == tseq.wrapping_add(1) => {
                self.base = Some(tseq);
                return Some(([byte], tframe, tts));
            }
            _ => self.base = Some(seq),
        }
        None
    }
}

/// Whether `src` is the client: the SYN sender (a SYN-ACK comes from the server); without
/// a handshake, the side on the lower, well-known-looking port is the server.
fn src_is_client(src: SocketAddr, dst: SocketAddr, tcp: &TcpMeta) -> bool {
    if tcp.syn {
        tcp.ack.is_none()
    } else {
        !(src.port() < dst.port() && src.port() < 1024 || src.port() == 80 || src.port() == 443)
    }
}

struct Conn<A> {
    /// Its endpoints (the table's key is made from them: see [`Conn::key`]).
    info: ConnInfo,
    halves: [Half; 2],
    app: A,
    last_seen: u64,
    last_ts: i64,
    tally: Tally,
    /// When and how it closed; it lingers [`CLOSE_DELAY_MICROS`] after.
    closing: Option<(i64, End)>,
    /// Set while it ends: holes skipped then are not content gaps (Zeek does not count
    /// them either).
    ending: bool,
}

impl<A> Conn<A> {
    /// Its key in the table, from its endpoints (not stored: 64 bytes less to load per
    /// packet).
    fn key(&self) -> Key {
        key(self.info.client, self.info.server)
    }
}

impl<A: StreamApp> Conn<A> {
    /// A connection whose first packet is being read (`flipped`: it came from the server).
    fn new(info: ConnInfo, flipped: bool, limits: &Limits) -> Self {
        Conn {
            info,
            halves: Default::default(),
            app: A::new(&info, limits),
            last_seen: 0,
            last_ts: info.first_ts,
            tally: Tally::new(flipped, info.first_ts),
            closing: None,
            ending: false,
        }
    }
}

/// A connection's key: both endpoints, the lower first so both directions find the same
/// entry. IPv4 pairs pack into one integer (cheap to hash and compare).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Key {
    V4(u128),
    Other(SocketAddr, SocketAddr),
}

fn key(a: SocketAddr, b: SocketAddr) -> Key {
    match (a, b) {
        (SocketAddr::V4(x), SocketAddr::V4(y)) => {
            // Address then port, as integers: the order `SocketAddr` has, without its
            // field-by-field comparison (this runs several times per packet).
            let end = |e: std::net::SocketAddrV4| (u64::from(e.ip().to_bits()) << 16) | u64::from(e.port());
            let (x, y) = (end(x), end(y));
            let (lo, hi) = if x <= y { (x, y) } else { (y, x) };
            Key::V4((u128::from(lo) << 64) | u128::from(hi))
        }
        _ if a <= b => Key::Other(a, b),
        _ => Key::Other(b, a),
    }
}

/// The live connections: a hash table of boxed connections.
///
/// On a busy capture thousands of connections take turns, so the connection a segment
/// belongs to is rarely in the CPU's cache, and waiting for it was a fifth of the time. The
/// table holds only pointers (9 bytes a slot with its control byte: 72 KB for 5,000
/// connections, which stays cached), so
/// [`Reassembler::prefetch`] can find the next frame's connection without touching it and
/// ask the CPU to load it while the current frame is handled.
struct Table<A> {
    index: hashbrown::HashTable<Box<Conn<A>>>,
    hasher: Hasher,
}

impl<A> Table<A> {
    fn new() -> Self {
        Table { index: hashbrown::HashTable::new(), hasher: Hasher::default() }
    }

    fn len(&self) -> usize {
        self.index.len()
    }

    fn hash(&self, k: &Key) -> u64 {
        self.hasher.hash_one(k)
    }

    fn get(&self, h: u64, k: &Key) -> Option<&Conn<A>> {
        self.index.find(h, |c| c.key() == *k).map(|c| &**c)
    }

    /// The connection with key `k` (hash `h`), or a vacancy for it.
    fn entry(&mut self, h: u64, k: &Key) -> hashbrown::hash_table::Entry<'_, Box<Conn<A>>> {
        let hasher = &self.hasher;
        self.index.entry(h, |c| c.key() == *k, |c| hasher.hash_one(c.key()))
    }

    fn remove(&mut self, k: &Key) -> Option<Box<Conn<A>>> {
        let h = self.hash(k);
        Some(self.index.find_entry(h, |c| c.key() == *k).ok()?.remove().0)
    }

    fn iter(&self) -> impl Iterator<Item = &Conn<A>> {
        self.index.iter().map(|c| &**c)
    }

    /// Asks the CPU to load the connection with hash `h` into its cache. Reads only the
    /// table's own slots; never waits for the connection itself.
    fn prefetch(&self, h: u64) {
        // Every slot whose hash tag matches (almost always just the one) is loaded; `false`
        // keeps the lookup from comparing keys, which would wait for the load.
        self.index.find(h, |c| {
            prefetch::value(&**c);
            false
        });
    }
}

/// The reassembler for all connections of a capture.
pub struct Reassembler<A: StreamApp> {
    conns: Table<A>,
    limits: Limits,
    ooo_total: usize,
    tick: u64,
    next_id: u64,
    last_sweep_ts: i64,
    pub stats: Stats,
}

impl<A: StreamApp> Reassembler<A> {
    pub fn new(limits: Limits) -> Self {
        Reassembler {
            conns: Table::new(),
            limits,
            ooo_total: 0,
            tick: 0,
            next_id: 0,
            last_sweep_ts: i64::MIN,
            stats: Stats::default(),
        }
    }

    /// Whether dissectors keep the start of bodies (see [`Limits::keep_bodies`]).
    pub fn keep_bodies(&mut self, keep: bool) {
        self.limits.keep_bodies = keep;
    }

    /// Only what field extraction prints: no connection summaries ([`Limits::summaries`])
    /// and no HTTP responses ([`Limits::responses`]).
    pub fn fields_only(&mut self) {
        self.limits.summaries = false;
        self.limits.responses = false;
    }

    /// Connections currently tracked.
    pub fn live(&self) -> usize {
        self.conns.len()
    }

    /// Starts loading the state of the connection between `a` and `b` into the CPU's
    /// cache, ahead of its segment: call it with the endpoints of the frame after next
    /// before feeding the current one. Changes nothing.
    pub fn prefetch(&self, a: SocketAddr, b: SocketAddr) {
        let k = key(a, b);
        self.conns.prefetch(self.conns.hash(&k));
    }

    /// The second step, a frame later: the connection is cached by now, so its
    /// application's own allocations can be found and loaded in turn.
    pub fn prefetch_app(&self, a: SocketAddr, b: SocketAddr) {
        let k = key(a, b);
        if let Some(c) = self.conns.get(self.conns.hash(&k), &k) {
            c.app.prefetch();
        }
    }

    /// Feeds one TCP segment.
    #[allow(clippy::too_many_arguments)]
    pub fn segment(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        tcp: &TcpMeta,
        payload: &[u8],
        ip_len: u32,
        frame: u64,
        ts: i64,
        out: &mut A::Out,
    ) {
        self.tick += 1;
        self.stats.segments += 1;
        self.maybe_sweep(ts, out);
        let k = key(src, dst);
        let h = self.conns.hash(&k);
        if self.conns.len() >= self.limits.max_conns && self.conns.get(h, &k).is_none() {
            self.evict_oldest(out);
        }
        let limits = self.limits;
        // On a port pair whose connection has closed, a new SYN opens a new connection; so
        // does data (what still crosses in clear, after a forged FIN or RST, is read).
        let reopens = tcp.syn && tcp.ack.is_none() || !payload.is_empty();
        // One lookup per segment: the connection, or a new one (two when it reopens).
        let conn = loop {
            match self.conns.entry(h, &k) {
                hashbrown::hash_table::Entry::Occupied(o) if reopens && o.get().closing.is_some() => {
                    let why = o.get().closing.map_or(End::Closed, |c| c.1);
                    self.finish(k, why, out);
                }
                hashbrown::hash_table::Entry::Occupied(o) => break o.into_mut(),
                hashbrown::hash_table::Entry::Vacant(v) => {
                    let (client, server) = if src_is_client(src, dst, tcp) { (src, dst) } else { (dst, src) };
                    let info = ConnInfo { id: self.next_id, client, server, first_frame: frame, first_ts: ts };
                    self.next_id += 1;
                    self.stats.connections += 1;
                    break v.insert(Box::new(Conn::new(info, src != client, &limits))).into_mut();
                }
            }
        };
        conn.last_seen = self.tick;
        conn.last_ts = ts;
        let dir = if src == conn.info.client { Dir::ToServer } else { Dir::ToClient };
        if limits.summaries {
            conn.tally.packet(dir == Dir::ToServer, tcp, payload.len(), ip_len, ts);
        }
        if conn.closing.is_some() {
            return; // counted; nothing after the close is part of the streams
        }
        let st = &mut self.stats;
        let total = &mut self.ooo_total;

        if tcp.syn {
            let h = &mut conn.halves[dir.index()];
            if h.base.is_none() || h.next == 0 {
                h.base = Some(tcp.seq.wrapping_add(1));
                h.next = 0;
            }
        }
        // An acknowledgement past a hole in the other direction means the hole's bytes were
        // sent and lost from the capture: stop waiting for them.
        if let Some(ack) = tcp.ack {
            let other = dir.flip();
            let h = &conn.halves[other.index()];
            if h.base.is_some() && !h.ooo.is_empty() {
                let acked = h.offset(ack);
                if acked > h.next as i64 {
                    skip_holes(conn, other, acked as u64, st, total, out);
                }
            }
        }
        if !payload.is_empty() {
            let seq = if tcp.syn { tcp.seq.wrapping_add(1) } else { tcp.seq };
            if let Some((byte, tframe, tts)) = conn.halves[dir.index()].find_base(seq, payload, frame, ts) {
                accept(conn, dir, 0, &byte, tframe, tts, &limits, st, total, out);
            }
            let h = &mut conn.halves[dir.index()];
            if h.base.is_some() {
                let off = h.offset(seq);
                accept(conn, dir, off, payload, frame, ts, &limits, st, total, out);
            }
        }
        let h = &mut conn.halves[dir.index()];
        if tcp.fin && h.base.is_some() {
            let seq = if tcp.syn { tcp.seq.wrapping_add(1) } else { tcp.seq };
            let end = h.offset(seq) + payload.len() as i64;
            h.fin_at = Some(end.max(0) as u64);
        }
        if tcp.rst {
            close(conn, End::Reset, ts, st, total, out);
        } else if conn.halves[0].done() && conn.halves[1].done() {
            close(conn, End::Closed, ts, st, total, out);
        }
    }

    /// Ends every connection (end of capture).
    pub fn finish_all(&mut self, out: &mut A::Out) {
        let mut keys: Vec<_> = self.conns.iter().map(|c| (c.info.id, c.key())).collect();
        keys.sort_unstable();
        for (_, k) in keys {
            self.finish(k, End::EndOfCapture, out);
        }
    }

    fn finish(&mut self, k: Key, why: End, out: &mut A::Out) {
        if let Some(mut conn) = self.conns.remove(&k) {
            let why = conn.closing.map_or(why, |c| c.1);
            conn.ending = true;
            for dir in [Dir::ToServer, Dir::ToClient] {
                skip_holes(&mut conn, dir, u64::MAX, &mut self.stats, &mut self.ooo_total, out);
            }
            match why {
                End::Evicted => self.stats.evicted_connections += 1,
                End::Idle => self.stats.idle_closed_connections += 1,
                _ => {}
            }
            let info = conn.info;
            conn.app.end(&info, why, &conn.tally, out);
        }
    }

    /// Closes connections idle for longer than the limit, and ends those closed for longer
    /// than the close delay; runs about once per capture second.
    fn maybe_sweep(&mut self, ts: i64, out: &mut A::Out) {
        if ts < self.last_sweep_ts + 1_000_000 && ts >= self.last_sweep_ts {
            return;
        }
        self.last_sweep_ts = ts;
        let idle = self.limits.idle_micros;
        // Lingering only makes the summary right: without summaries, a closed connection
        // ends at the next sweep.
        let delay = if self.limits.summaries { CLOSE_DELAY_MICROS } else { 0 };
        let over = |c: &Conn<A>| match c.closing {
            Some((at, _)) => ts - at > delay,
            None => ts - c.last_ts > idle,
        };
        let stale: Vec<_> = self.conns.iter().filter(|c| over(c)).map(|c| (c.info.id, c.key())).collect();
        let mut stale = stale;
        stale.sort_unstable();
        for (_, k) in stale {
            self.finish(k, End::Idle, out);
        }
    }

    /// Evicts the least recently active eighth of the connections at once, so the cost of
    /// finding them is shared by many new connections.
    fn evict_oldest(&mut self, out: &mut A::Out) {
        let mut ages: Vec<_> = self.conns.iter().map(|c| (c.last_seen, c.key())).collect();
        let n = (ages.len() / 8).max(1);
        ages.select_nth_unstable(n - 1);
        let mut victims: Vec<_> = ages[..n].to_vec();
        victims.sort_unstable();
        for (_, k) in victims {
            self.finish(k, End::Evicted, out);
        }
    }
}

/// The connection closed: what its streams still hold is delivered, and the application
/// told, now; it stays only to count its last packets.
fn close<A: StreamApp>(conn: &mut Conn<A>, why: End, ts: i64, st: &mut Stats, total: &mut usize, out: &mut A::Out) {
    conn.closing = Some((ts, why));
    conn.ending = true;
    for dir in [Dir::ToServer, Dir::ToClient] {
        skip_holes(conn, dir, u64::MAX, st, total, out);
    }
    let info = conn.info;
    conn.app.close(&info, why, out);
}

/// Places a segment at stream offset `off` of `dir`.
#[allow(clippy::too_many_arguments)]
fn accept<A: StreamApp>(
    conn: &mut Conn<A>,
    dir: Dir,
    off: i64,
    payload: &[u8],
    frame: u64,
    ts: i64,
    limits: &Limits,
    st: &mut Stats,
    total: &mut usize,
    out: &mut A::Out,
) {
    let h = &mut conn.halves[dir.index()];
    let end = off + payload.len() as i64;
    let next = h.next as i64;
    if end <= next {
        st.retransmitted_bytes += payload.len() as u64;
        return;
    }
    if off <= next {
        let fresh = &payload[(next - off) as usize..];
        st.retransmitted_bytes += (next - off) as u64;
        deliver(conn, dir, fresh, frame, ts, st, out);
        drain(conn, dir, st, total, out);
        return;
    }
    // Out of order: keep it, unless that would pass a cap; then give up on the oldest hole.
    st.out_of_order_segments += 1;
    let off = off as u64;
    loop {
        let h = &conn.halves[dir.index()];
        let fits = h.ooo_bytes + payload.len() <= limits.per_conn_ooo && *total + payload.len() <= limits.global_ooo;
        if fits {
            break;
        }
        if h.ooo.is_empty() {
            // Nothing buffered to give up: this segment alone is too big to hold.
            let gap = off - h.next;
            report_gap(conn, dir, gap, st, out);
            deliver(conn, dir, payload, frame, ts, st, out);
            return;
        }
        let first = *h.ooo.keys().next().expect("not empty");
        skip_holes(conn, dir, first, st, total, out);
        let h = &conn.halves[dir.index()];
        if (h.next as i64) >= off as i64 {
            // The drain caught up with this segment: place it in order.
            return accept(conn, dir, off as i64, payload, frame, ts, limits, st, total, out);
        }
    }
    let h = &mut conn.halves[dir.index()];
    match h.ooo.get(&off) {
        Some((old, _, _)) if old.len() >= payload.len() => st.retransmitted_bytes += payload.len() as u64,
        prev => {
            let old_len = prev.map_or(0, |(v, _, _)| v.len());
            h.ooo_bytes = h.ooo_bytes + payload.len() - old_len;
            *total = *total + payload.len() - old_len;
            h.ooo.insert(off, (payload.to_vec(), frame, ts));
        }
    }
}

fn deliver<A: StreamApp>(
    conn: &mut Conn<A>,
    dir: Dir,
    data: &[u8],
    frame: u64,
    ts: i64,
    st: &mut Stats,
    out: &mut A::Out,
) {
    if data.is_empty() {
        return;
    }
    conn.halves[dir.index()].next += data.len() as u64;
    st.bytes_delivered += data.len() as u64;
    let info = conn.info;
    conn.app.data(&info, dir, data, frame, ts, out);
}

fn report_gap<A: StreamApp>(conn: &mut Conn<A>, dir: Dir, len: u64, st: &mut Stats, out: &mut A::Out) {
    if len == 0 {
        return;
    }
    conn.halves[dir.index()].next += len;
    let letter = !conn.ending;
    conn.tally.gap(dir == Dir::ToServer, len, letter);
    st.gaps += 1;
    st.gap_bytes += len;
    let info = conn.info;
    conn.app.gap(&info, dir, len, out);
}

/// Delivers buffered segments that are now in order.
fn drain<A: StreamApp>(conn: &mut Conn<A>, dir: Dir, st: &mut Stats, total: &mut usize, out: &mut A::Out) {
    loop {
        let h = &mut conn.halves[dir.index()];
        let Some(entry) = h.ooo.first_entry() else { return };
        let start = *entry.key();
        if start > h.next {
            return;
        }
        let (data, frame, ts) = entry.remove();
        h.ooo_bytes -= data.len();
        *total -= data.len();
        let end = start + data.len() as u64;
        if end <= h.next {
            st.retransmitted_bytes += data.len() as u64;
            continue;
        }
        let skip = (h.next - start) as usize;
        st.retransmitted_bytes += skip as u64;
        deliver(conn, dir, &data[skip..], frame, ts, st, out);
    }
}

/// Skips holes (reporting each as a gap) and delivers buffered data up to `upto`.
fn skip_holes<A: StreamApp>(
    conn: &mut Conn<A>,
    dir: Dir,
    upto: u64,
    st: &mut Stats,
    total: &mut usize,
    out: &mut A::Out,
) {
    loop {
        drain(conn, dir, st, total, out);
        let h = &conn.halves[dir.index()];
        let Some(&first) = h.ooo.keys().next() else { return };
        if first > upto {
            return;
        }
        let gap = first - h.next;
        report_gap(conn, dir, gap, st, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records what the reassembler delivers, as text.
    struct Rec;
    #[derive(Default)]
    struct Log(Vec<String>);
    impl StreamApp for Rec {
        type Out = Log;
        fn new(_: &ConnInfo, _: &Limits) -> Self {
            Rec
        }
        fn data(&mut self, _: &ConnInfo, dir: Dir, data: &[u8], _: u64, _: i64, out: &mut Log) {
            out.0.push(format!("{dir:?}:{}", String::from_utf8_lossy(data)));
        }
        fn gap(&mut self, _: &ConnInfo, dir: Dir, len: u64, out: &mut Log) {
            out.0.push(format!("{dir:?}:gap{len}"));
        }
        fn close(&mut self, _: &ConnInfo, why: End, out: &mut Log) {
            out.0.push(format!("close:{why:?}"));
        }
        fn end(&mut self, _: &ConnInfo, why: End, _: &Tally, out: &mut Log) {
            out.0.push(format!("end:{why:?}"));
        }
    }

    const C: &str = "192.0.2.10:40000";
    const S: &str = "198.51.100.10:80";

    #[test]
    fn a_key_is_the_same_both_ways_and_its_own_for_each_pair() {
        let addrs: Vec<SocketAddr> = [
            "192.0.2.10:80",
            "192.0.2.10:81",
            "192.0.2.11:80",
            "0.0.0.80:2",
            "0.0.0.0:20482",
            "[2001:db8::1]:80",
            "[::ffff:192.0.2.10]:80",
        ]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
        let mut seen = std::collections::HashMap::new();
        for a in &addrs {
            for b in &addrs {
                assert_eq!(key(*a, *b), key(*b, *a), "{a} {b}");
                let pair = if a <= b { (a, b) } else { (b, a) };
                assert_eq!(*seen.entry(key(*a, *b)).or_insert(pair), pair, "two pairs share a key");
            }
        }
    }

    fn seg(r: &mut Reassembler<Rec>, from_client: bool, seq: u32, flags: &str, data: &[u8], log: &mut Log) {
        let (a, b) = if from_client { (C, S) } else { (S, C) };
        let meta = TcpMeta {
            seq,
            ack: None,
            syn: flags.contains('S'),
            fin: flags.contains('F'),
            rst: flags.contains('R'),
            window: 1,
        };
        r.segment(a.parse().unwrap(), b.parse().unwrap(), &meta, data, 40, 1, 0, log);
    }

    fn joined(log: &Log) -> String {
        let mut s = String::new();
        for l in &log.0 {
            if let Some(d) = l.strip_prefix("ToServer:")
                && !d.starts_with("gap")
            {
                s.push_str(d);
                continue;
            }
            s.push('|');
            s.push_str(l);
            s.push('|');
        }
        s
    }

    #[test]
    fn reorders_and_trims_overlaps() {
        let mut r = Reassembler::<Rec>::new(Limits::default());
        let mut log = Log::default();
        seg(&mut r, true, 99, "S", b"", &mut log);
        seg(&mut r, true, 106, "", b"world", &mut log);
        seg(&mut r, true, 100, "", b"hello ", &mut log);
        seg(&mut r, true, 103, "", b"lo wor", &mut log); // full overlap
        seg(&mut r, true, 110, "", b"d!", &mut log); // partial overlap
        seg(&mut r, true, 112, "F", b"", &mut log);
        seg(&mut r, false, 500, "F", b"", &mut log);
        assert_eq!(joined(&log), "hello world!");
        r.finish_all(&mut log);
    }

    #[test]
    fn sequence_wraps_around() {
        let mut r = Reassembler::<Rec>::new(Limits::default());
        let mut log = Log::default();
        seg(&mut r, true, u32::MAX - 3, "S", b"", &mut log);
        seg(&mut r, true, 1, "", b"efgh", &mut log);
        seg(&mut r, true, u32::MAX - 2, "", b"abcd", &mut log);
        assert_eq!(joined(&log), "abcdefgh");
    }

    #[test]
    fn mid_stream_and_gap_reported_at_end() {
        let mut r = Reassembler::<Rec>::new(Limits::default());
        let mut log = Log::default();
        seg(&mut r, true, 5000, "", b"abc", &mut log);
        seg(&mut r, true, 5010, "", b"xyz", &mut log);
        r.finish_all(&mut log);
        assert_eq!(joined(&log), "abc|ToServer:gap7|xyz|end:EndOfCapture|");
        assert_eq!(r.stats.gaps, 1);
        assert_eq!(r.stats.gap_bytes, 7);
    }

    #[test]
    fn keep_alive_probe_is_not_data() {
        let mut r = Reassembler::<Rec>::new(Limits::default());
        let mut log = Log::default();
        seg(&mut r, true, 1000, "", b"x", &mut log); // probe: one old byte
        seg(&mut r, true, 1000, "", b"GET /", &mut log);
        seg(&mut r, true, 1005, "", b" HTTP", &mut log);
        assert_eq!(joined(&log), "GET / HTTP");
        let mut log = Log::default();
        let mut r = Reassembler::<Rec>::new(Limits::default());
        seg(&mut r, true, 1000, "", b"G", &mut log); // a real one-byte first segment
        seg(&mut r, true, 1001, "", b"ET /", &mut log);
        assert_eq!(joined(&log), "GET /");
    }

    #[test]
    fn ack_past_hole_skips_it() {
        let mut r = Reassembler::<Rec>::new(Limits::default());
        let mut log = Log::default();
        seg(&mut r, true, 0, "S", b"", &mut log);
        seg(&mut r, true, 1, "", b"ab", &mut log);
        seg(&mut r, true, 5, "", b"ef", &mut log);
        let meta = TcpMeta { seq: 9, ack: Some(7), syn: false, fin: false, rst: false, window: 1 };
        r.segment(S.parse().unwrap(), C.parse().unwrap(), &meta, b"", 40, 2, 0, &mut log);
        assert_eq!(joined(&log), "ab|ToServer:gap2|ef");
    }

    #[test]
    fn per_connection_cap_bounds_buffering() {
        let limits = Limits { per_conn_ooo: 10, ..Limits::default() };
        let mut r = Reassembler::<Rec>::new(limits);
        let mut log = Log::default();
        seg(&mut r, true, 0, "S", b"", &mut log);
        seg(&mut r, true, 101, "", b"0123456789", &mut log);
        seg(&mut r, true, 111, "", b"abc", &mut log);
        assert_eq!(joined(&log), "|ToServer:gap100|0123456789abc");
        assert_eq!(r.ooo_total, 0);
    }

    #[test]
    fn connection_cap_evicts_oldest() {
        let limits = Limits { max_conns: 8, ..Limits::default() };
        let mut r = Reassembler::<Rec>::new(limits);
        let mut log = Log::default();
        for port in 0..100u16 {
            let meta = TcpMeta { seq: 1, ack: None, syn: false, fin: false, rst: false, window: 1 };
            let src = SocketAddr::new("192.0.2.1".parse().unwrap(), 10000 + port);
            r.segment(src, S.parse().unwrap(), &meta, b"GET", 40, 1, 0, &mut log);
            assert!(r.live() <= 8);
        }
        assert!(r.stats.evicted_connections >= 92);
    }

    #[test]
    fn rst_ends_connection() {
        let mut r = Reassembler::<Rec>::new(Limits::default());
        let mut log = Log::default();
        seg(&mut r, true, 0, "S", b"", &mut log);
        seg(&mut r, true, 1, "", b"hi", &mut log);
        seg(&mut r, false, 0, "R", b"", &mut log);
        // It lingers for the close delay: a last ACK after the RST is counted in it.
        let ack = TcpMeta { seq: 3, ack: Some(1), syn: false, fin: false, rst: false, window: 1 };
        r.segment(C.parse().unwrap(), S.parse().unwrap(), &ack, b"", 40, 4, 0, &mut log);
        assert_eq!(r.live(), 1);
        assert_eq!(log.0.last().unwrap(), "close:Reset", "the application is told at once, the record waits");
        // A packet of another connection after the delay ends it.
        let meta = TcpMeta { seq: 1, ack: None, syn: true, fin: false, rst: false, window: 1 };
        let other = "192.0.2.11:40000".parse().unwrap();
        r.segment(other, S.parse().unwrap(), &meta, b"", 40, 9, CLOSE_DELAY_MICROS + 1_000_001, &mut log);
        assert_eq!(r.live(), 1);
        assert_eq!(log.0.last().unwrap(), "end:Reset");
    }

    #[test]
    fn without_summaries_a_closed_connection_ends_at_the_next_sweep() {
        let mut r = Reassembler::<Rec>::new(Limits::default());
        r.fields_only();
        let mut log = Log::default();
        seg(&mut r, true, 0, "S", b"", &mut log);
        seg(&mut r, false, 0, "R", b"", &mut log);
        assert_eq!(r.live(), 1);
        // A packet of another connection a second and a bit later: the sweep ends it.
        let meta = TcpMeta { seq: 1, ack: None, syn: true, fin: false, rst: false, window: 1 };
        let other = "192.0.2.11:40000".parse().unwrap();
        r.segment(other, S.parse().unwrap(), &meta, b"", 40, 9, 1_000_001, &mut log);
        assert_eq!(r.live(), 1);
        assert_eq!(log.0.last().unwrap(), "end:Reset");
    }

    #[test]
    fn a_new_syn_on_a_closed_port_pair_is_a_new_connection() {
        let mut r = Reassembler::<Rec>::new(Limits::default());
        let mut log = Log::default();
        seg(&mut r, true, 0, "S", b"", &mut log);
        seg(&mut r, true, 1, "", b"one", &mut log);
        seg(&mut r, true, 4, "R", b"", &mut log);
        seg(&mut r, true, 900, "S", b"", &mut log);
        seg(&mut r, false, 0, "S", b"", &mut log);
        seg(&mut r, true, 901, "", b"two", &mut log);
        // Data after a close is a new (mid-stream) connection too: it crossed in clear.
        seg(&mut r, true, 904, "F", b"", &mut log);
        seg(&mut r, false, 1, "F", b"", &mut log);
        seg(&mut r, false, 1, "", b"three", &mut log);
        r.finish_all(&mut log);
        assert_eq!(
            log.0,
            [
                "ToServer:one",
                "close:Reset",
                "end:Reset",
                "ToServer:two",
                "close:Closed",
                "end:Closed",
                "ToClient:three",
                "end:EndOfCapture"
            ]
        );
    }

    /// Each connection's stream, by connection number.
    struct ById;
    impl StreamApp for ById {
        type Out = BTreeMap<u64, String>;
        fn new(_: &ConnInfo, _: &Limits) -> Self {
            ById
        }
        fn data(&mut self, info: &ConnInfo, _: Dir, data: &[u8], _: u64, _: i64, out: &mut Self::Out) {
            out.entry(info.id).or_default().push_str(&String::from_utf8_lossy(data));
        }
        fn gap(&mut self, info: &ConnInfo, _: Dir, _: u64, out: &mut Self::Out) {
            out.entry(info.id).or_default().push_str("|gap|");
        }
        fn end(&mut self, info: &ConnInfo, why: End, _: &Tally, out: &mut Self::Out) {
            out.entry(info.id).or_default().push_str(&format!("|{why:?}"));
        }
    }

    #[test]
    fn connections_ended_and_begun_in_turn_never_mix_streams() {
        let mut r = Reassembler::<ById>::new(Limits::default());
        let mut out = BTreeMap::new();
        let server: SocketAddr = S.parse().unwrap();
        let client = |n: u16| SocketAddr::new("192.0.2.1".parse().unwrap(), 20000 + n);
        let send = |r: &mut Reassembler<ById>,
                    out: &mut BTreeMap<u64, String>,
                    n: u16,
                    seq: u32,
                    flags: &str,
                    data: &[u8]| {
            let meta =
                TcpMeta { seq, ack: None, syn: flags.contains('S'), fin: false, rst: flags.contains('R'), window: 1 };
            // A prefetch of another connection (and of one never seen) changes nothing.
            r.prefetch(client(n.wrapping_mul(7) % 300), server);
            r.prefetch_app(client(n + 1), server);
            r.segment(client(n), server, &meta, data, 40, 1, 0, out);
        };
        // 300 connections open at once; every third is reset as soon as it has spoken, and
        // the next ones take the slots it left, while the others go on speaking in turn.
        for n in 0..300u16 {
            send(&mut r, &mut out, n, 0, "S", b"");
            send(&mut r, &mut out, n, 1, "", format!("<{n}>").as_bytes());
            if n % 3 == 0 {
                send(&mut r, &mut out, n, 1 + format!("<{n}>").len() as u32, "R", b"");
            }
        }
        // The reset ones stay for the close delay, counting any last packets.
        assert_eq!(r.live(), 300);
        for n in (0..300u16).filter(|n| n % 3 != 0) {
            send(&mut r, &mut out, n, 1 + format!("<{n}>").len() as u32, "", format!("[{n}]").as_bytes());
        }
        r.finish_all(&mut out);
        assert_eq!(out.len(), 300);
        for (id, stream) in &out {
            let n = *id;
            let want = if n % 3 == 0 { format!("<{n}>|Reset") } else { format!("<{n}>[{n}]|EndOfCapture") };
            assert_eq!(stream, &want, "connection {n}");
        }
    }
}

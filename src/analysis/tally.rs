//! What every packet of a TCP connection adds to its record, whatever it carries: packets
//! and IP bytes each way, the time of its last packet, the state of each endpoint and the
//! history string. These follow Zeek's definitions (its TCP analyzer's endpoint states and
//! `update_history`, and `conn_state` in `base/protocols/conn`), so that conn.log's
//! `conn_state`, `history`, `duration` and `*_pkts`/`*_ip_bytes` mean what Zeek's do.
//!
//! Pure: no I/O. One [`Tally`] per connection, fed every segment by the reassembler.

use crate::analysis::decode::TcpMeta;

/// An endpoint's state, as Zeek's TCP analyzer tracks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum State {
    #[default]
    Inactive,
    SynSent,
    SynAckSent,
    /// Seen mid-stream, without its SYN.
    Partial,
    Established,
    Closed,
    Reset,
}

/// One endpoint: its state and what its history letters need to remember.
#[derive(Debug, Clone, Copy, Default)]
struct Endpoint {
    state: State,
    prev: State,
    /// A FIN or RST from it was seen: its part of the duration is over.
    did_close: bool,
    /// History letters already written (bit per letter kind).
    seen: u16,
    last_syn: Option<u32>,
    last_fin: Option<u32>,
    last_rst: Option<u32>,
    /// Retransmissions, zero windows and content gaps, and the count at which each next
    /// writes its letter again (1, 10, 100, ...).
    scaled: [(u32, u32); 3],
    /// One past the highest sequence number sent, once known.
    high: Option<u32>,
}

impl Endpoint {
    fn set(&mut self, s: State) {
        self.prev = self.state;
        self.state = s;
    }
}

const SYN: u16 = 1;
const FIN: u16 = 2;
const RST: u16 = 4;
const DATA: u16 = 8;
const ACK: u16 = 16;
const MULTI: u16 = 32;
const FIN_RST: u16 = 64;

/// Letters kept at most: repeated SYNs, FINs or RSTs with new sequence numbers would
/// otherwise grow it without bound.
pub const MAX_HISTORY: usize = 64;

/// The scaled letters: retransmission, zero window, content gap.
const RXMIT: usize = 0;
const ZERO_WINDOW: usize = 1;
const GAP: usize = 2;

/// What the packets of one TCP connection add up to.
#[derive(Debug, Clone)]
pub struct Tally {
    /// Packets and IP bytes (headers included), to the server and to the client.
    pub pkts: [u64; 2],
    pub ip_bytes: [u64; 2],
    /// The capture time of the last packet before both sides had closed.
    pub last_ts: i64,
    /// Bytes of each stream that were never seen (Zeek's `missed_bytes` is their sum).
    pub missed: [u64; 2],
    /// The history letters, kept in place (no allocation per connection).
    history: [u8; MAX_HISTORY],
    history_len: u8,
    ends: [Endpoint; 2],
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            pkts: [0; 2],
            ip_bytes: [0; 2],
            last_ts: 0,
            missed: [0; 2],
            history: [0; MAX_HISTORY],
            history_len: 0,
            ends: Default::default(),
        }
    }
}

impl Tally {
    /// A new connection whose first packet came from its server (the roles were decided
    /// by port, or by a SYN-ACK): Zeek marks such a flip with `^`.
    pub fn new(flipped: bool, ts: i64) -> Tally {
        let mut t = Tally { last_ts: ts, ..Tally::default() };
        if flipped {
            t.history[0] = b'^';
            t.history_len = 1;
        }
        t
    }

    /// One segment from the client (`to_server`) or the server, `len` payload bytes, in an
    /// IP packet of `ip_len` bytes, carrying a TCP window of `window`.
    pub fn packet(&mut self, to_server: bool, tcp: &TcpMeta, len: usize, ip_len: u32, ts: i64) {
        let i = usize::from(!to_server);
        self.pkts[i] += 1;
        self.ip_bytes[i] += u64::from(ip_len);
        if !(self.ends[0].did_close && self.ends[1].did_close) {
            self.last_ts = ts;
        }
        // Zeek's order: the packet's letter, then its window, then its sequence numbers.
        self.history(i, tcp, len);
        let (end, peer) = pair(&mut self.ends, i);
        if tcp.window == 0 && !tcp.rst && peer.state != State::Closed && end.state != State::Reset {
            self.scaled(i, ZERO_WINDOW, 'W');
        }
        self.retransmission(i, tcp, len);
        self.update_state(i, tcp, len);
    }

    /// One direction's stream skipped `len` bytes it never saw (a content gap); `letter`
    /// whether history shows it (not for the holes left when the connection ends).
    pub fn gap(&mut self, to_server: bool, len: u64, letter: bool) {
        let i = usize::from(!to_server);
        self.missed[i] += len;
        if letter {
            self.scaled(i, GAP, 'G');
        }
    }

    fn add(&mut self, i: usize, c: char) {
        let n = usize::from(self.history_len);
        if n < MAX_HISTORY {
            self.history[n] = if i == 0 { c as u8 } else { c.to_ascii_lowercase() as u8 };
            self.history_len += 1;
        }
    }

    /// Writes `c` unless this endpoint already has it; whether it had.
    fn once(&mut self, i: usize, bit: u16, c: char) -> bool {
        if self.ends[i].seen & bit != 0 {
            return true;
        }
        self.ends[i].seen |= bit;
        self.add(i, c);
        false
    }

    /// A letter written at the 1st, 10th, 100th ... occurrence.
    fn scaled(&mut self, i: usize, which: usize, c: char) {
        let (count, next) = &mut self.ends[i].scaled[which];
        *count = count.saturating_add(1);
        if *next == 0 {
            *next = 1;
        }
        if *count == *next {
            *next = next.saturating_mul(10);
            self.add(i, c);
        }
    }

    /// Zeek's `update_history`: one letter per kind of packet, except that a SYN, FIN or
    /// RST with a new sequence number is written again.
    fn history(&mut self, i: usize, tcp: &TcpMeta, len: usize) {
        let flags = u8::from(tcp.syn) + u8::from(tcp.fin) + u8::from(tcp.rst);
        if flags > 1 {
            if tcp.fin && tcp.rst {
                self.once(i, FIN_RST, 'I');
            } else {
                self.once(i, MULTI, 'Q');
            }
        } else if tcp.syn {
            let c = if tcp.ack.is_some() { 'H' } else { 'S' };
            if self.once(i, SYN, c) && self.ends[i].last_syn != Some(tcp.seq) {
                self.add(i, c);
            }
            self.ends[i].last_syn = Some(tcp.seq);
        } else if tcp.fin {
            let at = tcp.seq.wrapping_add(len as u32);
            if self.once(i, FIN, 'F') && self.ends[i].last_fin != Some(at) {
                self.add(i, 'F');
            }
            self.ends[i].last_fin = Some(at);
        } else if tcp.rst {
            if self.once(i, RST, 'R') && self.ends[i].last_rst != Some(tcp.seq) {
                self.add(i, 'R');
            }
            self.ends[i].last_rst = Some(tcp.seq);
        } else if len > 0 {
            self.once(i, DATA, 'D');
        } else if tcp.ack.is_some() {
            self.once(i, ACK, 'A');
        }
    }

    /// Payload that does not reach past what this endpoint already sent is a
    /// retransmission (`T`).
    fn retransmission(&mut self, i: usize, tcp: &TcpMeta, len: usize) {
        let span = len as u32 + u32::from(tcp.syn) + u32::from(tcp.fin);
        let end = tcp.seq.wrapping_add(if tcp.rst { 0 } else { span });
        let e = &mut self.ends[i];
        match e.high {
            Some(high) if (end.wrapping_sub(high) as i32) <= 0 => {
                if len > 0 && !tcp.rst && !tcp.syn && e.state != State::Reset {
                    self.scaled(i, RXMIT, 'T');
                }
            }
            _ if tcp.rst && e.high.is_some() => {}
            _ => e.high = Some(end),
        }
    }

    /// Zeek's endpoint state machine, for the endpoint `i` that sent this segment.
    fn update_state(&mut self, i: usize, tcp: &TcpMeta, len: usize) {
        let (e, p) = pair(&mut self.ends, i);
        let is_orig = i == 0;
        match e.state {
            State::Inactive => {
                if tcp.syn {
                    if is_orig {
                        e.set(if tcp.ack.is_some() { State::SynAckSent } else { State::SynSent });
                    } else {
                        if p.state == State::SynSent {
                            p.set(State::Established);
                        }
                        e.set(State::Established);
                    }
                }
                if tcp.fin {
                    e.set(State::Closed);
                }
                if tcp.rst {
                    e.set(State::Reset);
                }
                if e.state == State::Inactive {
                    if !is_orig && len == 0 && p.state == State::SynSent {
                        // An ACK of the SYN before the SYN-ACK: not a partial connection.
                    } else if tcp.ack.is_some() && p.state == State::Established {
                        e.set(State::Established);
                    } else {
                        e.set(State::Partial);
                    }
                }
            }
            State::SynSent | State::SynAckSent => {
                if tcp.fin {
                    e.set(State::Closed);
                }
                if tcp.rst {
                    e.set(State::Reset);
                }
            }
            State::Established | State::Partial => {
                if tcp.syn && e.state == State::Partial && p.state == State::Inactive && tcp.ack.is_none() {
                    e.set(State::SynSent);
                }
                if tcp.fin && !tcp.rst {
                    e.set(State::Closed);
                    if p.state == State::Reset && p.prev == State::Closed {
                        // The peer's FIN then RST was a normal close after all.
                        p.set(State::Closed);
                    }
                }
                if tcp.rst {
                    e.set(State::Reset);
                }
            }
            State::Closed => {
                if tcp.rst && p.state != State::Closed {
                    e.set(State::Reset);
                }
            }
            State::Reset => {}
        }
        if tcp.fin || tcp.rst {
            e.did_close = true;
        }
    }

    /// Whether both endpoints are done (closed or reset).
    pub fn both_done(&self) -> bool {
        self.ends.iter().all(|e| matches!(e.state, State::Closed | State::Reset))
    }

    /// The history string so far (`^` first if the roles were flipped).
    pub fn history_text(&self) -> &str {
        std::str::from_utf8(&self.history[..usize::from(self.history_len)]).expect("ASCII letters")
    }

    /// Zeek's `conn_state` for TCP. `bytes` are the payload bytes each way.
    pub fn conn_state(&self, bytes: [u64; 2]) -> &'static str {
        use State::*;
        let (os, rs) = (self.ends[0].state, self.ends[1].state);
        let o_inactive = matches!(os, Inactive | Partial);
        let r_inactive = matches!(rs, Inactive | Partial);
        if rs == Reset {
            if matches!(os, SynSent | SynAckSent) || (os == Reset && bytes == [0, 0]) {
                "REJ"
            } else if o_inactive {
                "RSTRH"
            } else {
                "RSTR"
            }
        } else if os == Reset {
            if !r_inactive {
                "RSTO"
            } else if syn_then_reset(self.history_text()) {
                "RSTOS0"
            } else {
                "OTH"
            }
        } else if rs == Closed && os == Closed {
            "SF"
        } else if os == Closed {
            if r_inactive { "SH" } else { "S2" }
        } else if rs == Closed {
            if o_inactive { "SHR" } else { "S3" }
        } else if os == SynSent && rs == Inactive {
            "S0"
        } else if os == Established && rs == Established {
            "S1"
        } else {
            "OTH"
        }
    }
}

/// Zeek's test for RSTOS0, `^?S[^HAFGIQ]*R.*`: the originator sent a SYN, then a RST,
/// with no SYN-ACK, ACK, FIN, gap or odd flags of its own between.
fn syn_then_reset(history: &str) -> bool {
    let h = history.strip_prefix('^').unwrap_or(history);
    let Some(rest) = h.strip_prefix('S') else { return false };
    for c in rest.chars() {
        match c {
            'R' => return true,
            'H' | 'A' | 'F' | 'G' | 'I' | 'Q' => return false,
            _ => {}
        }
    }
    false
}

/// Endpoint `i` and its peer, both mutable.
fn pair(ends: &mut [Endpoint; 2], i: usize) -> (&mut Endpoint, &mut Endpoint) {
    let [a, b] = ends;
    if i == 0 { (a, b) } else { (b, a) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds packets written as `>S` (client SYN), `<SA` (server SYN-ACK), `>A`, `>D`
    /// (data), `<F`, `>R` ...; returns (conn_state, history).
    fn run(packets: &[&str]) -> (String, String) {
        let flipped = packets.first().is_some_and(|p| p.starts_with('<'));
        let mut t = Tally::new(flipped, 0);
        let mut seq = [1000u32, 5000u32];
        let mut bytes = [0u64; 2];
        for (n, p) in packets.iter().enumerate() {
            let to_server = p.starts_with('>');
            let f = &p[1..];
            let i = usize::from(!to_server);
            let len = if f.contains('D') { 10 } else { 0 };
            let tcp = TcpMeta {
                seq: seq[i],
                ack: (f.contains('A') || (f.contains('D') && n > 0)).then_some(1),
                syn: f.contains('S'),
                fin: f.contains('F'),
                rst: f.contains('R'),
                window: if f.contains('W') { 0 } else { 100 },
            };
            t.packet(to_server, &tcp, len, 40 + len as u32, n as i64);
            bytes[i] += len as u64;
            seq[i] = seq[i].wrapping_add(len as u32 + u32::from(tcp.syn) + u32::from(tcp.fin));
        }
        (t.conn_state(bytes).into(), t.history_text().into())
    }

    /// Each of Zeek's TCP states, from the packets its documentation describes.
    #[test]
    fn every_conn_state_as_zeek_defines_it() {
        let cases: &[(&[&str], &str, &str)] = &[
            (&[">S"], "S0", "S"),
            (&[">S", "<SA", ">A"], "S1", "ShA"),
            (&[">S", "<SA", ">A", ">D", "<D", ">FA", "<FA", ">A"], "SF", "ShADdFf"),
            (&[">S", "<R"], "REJ", "Sr"),
            (&[">S", "<SA", ">A", ">FA"], "S2", "ShAF"),
            (&[">S", "<SA", ">A", "<FA"], "S3", "ShAf"),
            (&[">S", "<SA", ">A", ">D", ">R"], "RSTO", "ShADR"),
            (&[">S", "<SA", ">A", "<D", "<R"], "RSTR", "ShAdr"),
            (&[">S", ">R"], "RSTOS0", "SR"),
            (&["<SA", "<R"], "RSTRH", "^hr"),
            (&[">S", ">F"], "SH", "SF"),
            (&["<SA", "<F"], "SHR", "^hf"),
            (&[">D", "<D"], "OTH", "Dd"),
        ];
        for (packets, state, history) in cases {
            assert_eq!(run(packets), (state.to_string(), history.to_string()), "{packets:?}");
        }
    }

    #[test]
    fn retransmissions_and_zero_windows_are_scaled_letters() {
        let mut t = Tally::new(false, 0);
        let d = |seq| TcpMeta { seq, ack: Some(1), syn: false, fin: false, rst: false, window: 9 };
        t.packet(true, &d(1), 10, 50, 0);
        for _ in 0..10 {
            t.packet(true, &d(1), 10, 50, 1); // the same bytes again
        }
        assert_eq!(t.history_text(), "DTT", "1st and 10th retransmission");
        let z = TcpMeta { window: 0, ..d(1) };
        t.packet(false, &TcpMeta { seq: 7, ..z }, 0, 40, 2);
        assert_eq!(t.history_text(), "DTTaw");
        assert_eq!((t.pkts, t.ip_bytes), ([11, 1], [550, 40]));
    }

    #[test]
    fn the_duration_ends_when_both_sides_have_closed_and_history_is_bounded() {
        let mut t = Tally::new(false, 0);
        let p = |seq, fin| TcpMeta { seq, ack: Some(1), syn: false, fin, rst: false, window: 9 };
        t.packet(true, &p(1, false), 5, 45, 10);
        t.packet(true, &p(6, true), 0, 40, 20);
        t.packet(false, &p(9, true), 0, 40, 30);
        t.packet(true, &p(7, false), 0, 40, 40); // the last ACK
        assert_eq!(t.last_ts, 30);
        assert_eq!(t.pkts, [3, 1]);
        for seq in 0..1000 {
            t.packet(true, &TcpMeta { seq, ack: None, syn: true, fin: false, rst: false, window: 9 }, 0, 40, 50);
        }
        assert!(t.history_text().len() <= MAX_HISTORY);
    }
}

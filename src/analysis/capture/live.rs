//! Live capture with libpcap (the `pcap` crate), and BPF filters compiled by libpcap.
//!
//! A live interface is the second source of [`Frame`]s, beside files: the intruder's
//! sniffer and its racing guest both read frames from a [`LiveCapture`]. The BPF compiler
//! is also used by `analyze --filter` on capture files, so that a filter means the same
//! thing in both.

use std::sync::atomic::{AtomicBool, Ordering};

use super::{Frame, Linktype};

/// Why a live capture could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("opening {interface} for capture: {source}")]
    Open { interface: String, source: pcap::Error },
    #[error("bad filter {expr:?}: {source}")]
    Filter { expr: String, source: pcap::Error },
    #[error("capturing on {interface}: {source}")]
    Read { interface: String, source: pcap::Error },
    #[error("bad filter {expr:?}: {reason}")]
    Compile { expr: String, reason: String },
}

/// Frames from a live interface: promiscuous, delivered at once (immediate mode), read
/// without blocking past a stop request.
/// The capture ring's size (see [`LiveCapture::open`]).
pub const BUFFER_BYTES: i32 = 16 << 20;

pub struct LiveCapture {
    cap: pcap::Capture<pcap::Active>,
    interface: String,
    linktype: Linktype,
    number: u64,
}

/// What the kernel counted for a capture.
#[derive(Debug, Clone, Copy, Default)]
pub struct LiveStats {
    pub received: u64,
    pub dropped: u64,
    pub if_dropped: u64,
}

impl LiveCapture {
    /// Opens `interface` with this snap length and an optional BPF filter.
    pub fn open(interface: &str, snaplen: i32, filter: Option<&str>) -> Result<LiveCapture, LiveError> {
        let open = |source| LiveError::Open { interface: interface.to_string(), source };
        let mut cap = pcap::Capture::from_device(interface)
            .map_err(open)?
            .promisc(true)
            .snaplen(snaplen)
            .immediate_mode(true)
            .timeout(200)
            // The kernel's ring holds frames until they are read. In immediate mode its
            // slots have a fixed size (on veth, with offloads, 64 KiB, each in a 128 KiB
            // block): libpcap's default 2 MB held 32 frames, and a sniffer that lost the CPU
            // for a moment lost packets (a whole TLS connection, in a test under load).
            // 16 MB holds 256 frames (a whole visit) and maps 32 MB.
            .buffer_size(BUFFER_BYTES)
            .open()
            .map_err(open)?
            // Non-blocking, with our own poll: in immediate mode libpcap may ignore the read
            // timeout, and a quiet interface must not keep a stop request waiting.
            .setnonblock()
            .map_err(open)?;
        if let Some(f) = filter {
            cap.filter(f, true).map_err(|source| LiveError::Filter { expr: f.to_string(), source })?;
        }
        let linktype = Linktype(cap.get_datalink().0 as u32);
        Ok(LiveCapture { cap, interface: interface.to_string(), linktype, number: 0 })
    }

    pub fn linktype(&self) -> Linktype {
        self.linktype
    }

    /// The next frame, waiting at most about 200 ms; `Ok(None)` when none came in that
    /// time or `stop` is set (the caller checks `stop` and its own deadline).
    pub fn next(&mut self, stop: &AtomicBool) -> Result<Option<Frame<'_>>, LiveError> {
        if stop.load(Ordering::SeqCst) {
            return Ok(None);
        }
        use std::os::fd::AsRawFd;
        let raw = self.cap.as_raw_fd();
        match self.cap.next_packet() {
            Ok(p) => {
                self.number += 1;
                let ts_micros = p.header.ts.tv_sec * 1_000_000 + p.header.ts.tv_usec;
                Ok(Some(Frame {
                    number: self.number,
                    ts_micros,
                    linktype: self.linktype,
                    data: p.data,
                    orig_len: p.header.len,
                    ahead: [&[]; 2],
                }))
            }
            Err(pcap::Error::TimeoutExpired) => {
                // SAFETY: the descriptor belongs to `cap`, which outlives this call.
                let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(raw) };
                let mut fds = [nix::poll::PollFd::new(fd, nix::poll::PollFlags::POLLIN)];
                let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(200u16));
                Ok(None)
            }
            Err(source) => Err(LiveError::Read { interface: self.interface.clone(), source }),
        }
    }

    /// Frames delivered so far.
    /// The next frame already captured, without waiting: `None` once the capture buffer
    /// is empty. After a stop, this drains what the kernel captured before it.
    pub fn drain_next(&mut self) -> Result<Option<Frame<'_>>, LiveError> {
        match self.cap.next_packet() {
            Ok(p) => {
                self.number += 1;
                let ts_micros = p.header.ts.tv_sec * 1_000_000 + p.header.ts.tv_usec;
                Ok(Some(Frame {
                    number: self.number,
                    ts_micros,
                    linktype: self.linktype,
                    data: p.data,
                    orig_len: p.header.len,
                    ahead: [&[]; 2],
                }))
            }
            Err(pcap::Error::TimeoutExpired | pcap::Error::NoMorePackets) => Ok(None),
            Err(source) => Err(LiveError::Read { interface: self.interface.clone(), source }),
        }
    }

    pub fn frames(&self) -> u64 {
        self.number
    }

    /// The kernel's counters.
    pub fn stats(&mut self) -> LiveStats {
        self.cap
            .stats()
            .map(|s| LiveStats {
                received: s.received as u64,
                dropped: s.dropped as u64,
                if_dropped: s.if_dropped as u64,
            })
            .unwrap_or_default()
    }
}

/// A compiled BPF program for one link type.
pub struct BpfFilter {
    expr: String,
    programs: Vec<(Linktype, pcap::BpfProgram)>,
}

impl BpfFilter {
    /// Checks the expression now (against Ethernet) so that a typo is reported before any
    /// work is done; programs for other link types are compiled when first needed.
    pub fn new(expr: &str) -> Result<BpfFilter, LiveError> {
        let mut f = BpfFilter { expr: expr.to_string(), programs: Vec::new() };
        f.program(Linktype(1))?;
        Ok(f)
    }

    fn program(&mut self, lt: Linktype) -> Result<&pcap::BpfProgram, LiveError> {
        if let Some(i) = self.programs.iter().position(|(l, _)| *l == lt) {
            return Ok(&self.programs[i].1);
        }
        let compile = |reason: String| LiveError::Compile { expr: self.expr.clone(), reason };
        let dead = pcap::Capture::dead(pcap::Linktype(lt.0 as i32)).map_err(|e| compile(e.to_string()))?;
        let prog = dead.compile(&self.expr, true).map_err(|e| compile(e.to_string()))?;
        self.programs.push((lt, prog));
        Ok(&self.programs.last().expect("just pushed").1)
    }

    /// Whether the frame passes. A link type the expression cannot apply to rejects.
    pub fn matches(&mut self, frame: &Frame<'_>) -> bool {
        match self.program(frame.linktype) {
            Ok(p) => p.filter(frame.data),
            Err(_) => false,
        }
    }
}

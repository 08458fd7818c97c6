//! Where frames come from: a capture file ([`file`]) or a live interface ([`live`]).
//!
//! Both produce the same [`Frame`], so everything after this stage (decode, reassembly,
//! dissection, findings) is shared between `plainsight analyze` and `plainsight sniff`.

pub mod file;
pub mod live;
pub mod write;

/// A link-layer type number as assigned by tcpdump.org (`LINKTYPE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Linktype(pub u32);

/// One captured frame, borrowed from the source's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// 1-based frame number, as Wireshark counts them.
    pub number: u64,
    /// Capture time, microseconds since the Unix epoch.
    pub ts_micros: i64,
    pub linktype: Linktype,
    /// The captured bytes (may be shorter than `orig_len` when a snap length applied).
    pub data: &'a [u8],
    pub orig_len: u32,
    /// The bytes of the two frames that follow, when the reader already holds them (a
    /// memory-mapped file); empty otherwise. A hint that lets the pipeline prefetch, no more.
    pub ahead: [&'a [u8]; 2],
}

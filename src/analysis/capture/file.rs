//! Capture files: classic pcap (either byte order, micro- or nanosecond) and pcapng
//! (several sections and interfaces, enhanced and simple packet blocks), optionally
//! gzip-compressed, from a path or from standard input.
//!
//! The file formats are parsed by `pcap-parser`; this module adds what a forensic reader
//! needs on top: the interface table of each pcapng section, the byte offset of every
//! block, and a precise account of where and why reading stopped when a file is damaged.
//! A damaged file is not an error: the frames before the damage are delivered and the
//! fault is returned as a [`Fault`] for the report.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use pcap_parser::nom;
use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapNGPacketBlock;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{PcapBlockOwned, PcapError};

use super::{Frame, Linktype};

/// The largest record tshark (and libpcap) accept; larger ones mark a corrupt file.
pub const MAX_RECORD: u32 = 262_144;
/// Reader buffer: large enough for the largest accepted record plus block framing.
const BUFFER: usize = 1 << 20;

/// Why a capture could not be opened at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    #[error("{path}: no such file")]
    Missing { path: PathBuf },
    #[error("{path}: is a directory, expected a pcap or pcapng file")]
    Directory { path: PathBuf },
    #[error("{path}: cannot read: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: empty file, expected a pcap or pcapng capture")]
    Empty { path: PathBuf },
    #[error("{path}: not a capture file (first bytes {magic}), expected pcap (a1b2c3d4/a1b23c4d) or pcapng (0a0d0d0a)")]
    NotCapture { path: PathBuf, magic: String },
    #[error("{path}: capture header cut short after {len} bytes")]
    ShortHeader { path: PathBuf, len: usize },
}

/// Where and why reading stopped before the end of the file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Fault {
    /// Byte offset (in the uncompressed stream) of the block or record that failed.
    pub offset: u64,
    /// What was wrong there.
    pub reason: String,
}

/// One pcapng interface (or the single link of a classic pcap file).
#[derive(Debug, Clone, Copy)]
struct Interface {
    linktype: Linktype,
    /// Timestamp units per second.
    resolution: u64,
    offset_secs: i64,
}

/// A capture file being read.
pub struct CaptureFile {
    name: String,
    source: Source,
    state: State,
    offset: u64,
}

/// Where the blocks come from.
enum Source {
    /// Any input, through pcap-parser's streaming reader.
    Stream(Box<dyn PcapReaderIterator + Send>),
    /// A plain classic-pcap file, memory-mapped: records are parsed in place, no copy.
    Mapped { map: memmap2::Mmap, header: pcap_parser::PcapHeader },
}

/// What the blocks read so far establish: the interfaces of the current section.
#[derive(Default)]
struct State {
    interfaces: Vec<Interface>,
    frames: u64,
}

impl CaptureFile {
    /// Opens `path` (`-` is standard input), transparently un-gzipping it.
    pub fn open(path: &Path) -> Result<CaptureFile, OpenError> {
        let name = path.display().to_string();
        let io_err = |source| OpenError::Io { path: path.into(), source };
        let raw: Box<dyn Read + Send> = if path == Path::new("-") {
            Box::new(io::stdin())
        } else {
            match std::fs::metadata(path) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(OpenError::Missing { path: path.into() });
                }
                Err(e) => return Err(io_err(e)),
                Ok(m) if m.is_dir() => return Err(OpenError::Directory { path: path.into() }),
                Ok(_) => {}
            }
            Box::new(File::open(path).map_err(io_err)?)
        };
        if path != Path::new("-")
            && let Some(mapped) = map_classic(path)
        {
            return Ok(CaptureFile { name, source: mapped, state: State::default(), offset: 0 });
        }
        // No buffering of our own for plain files: pcap-parser reads in large blocks.
        let mut raw = raw;
        let head = read_prefix(&mut raw, 2).map_err(io_err)?;
        let mut stream: Box<dyn Read + Send> = if head.starts_with(&[0x1f, 0x8b]) {
            let gz = BufReader::with_capacity(1 << 20, io::Cursor::new(head).chain(raw));
            Box::new(flate2::read::MultiGzDecoder::new(gz))
        } else {
            Box::new(io::Cursor::new(head).chain(raw))
        };
        // pcap-parser looks at one read() for the first block: give it a full one.
        let prefix = read_prefix(&mut stream, 1 << 20).map_err(io_err)?;
        if prefix.is_empty() {
            return Err(OpenError::Empty { path: path.into() });
        }
        let magic = hex::encode(&prefix[..prefix.len().min(4)]);
        let known = ["d4c3b2a1", "a1b2c3d4", "4d3cb2a1", "a1b23c4d", "0a0d0d0a"];
        if !known.contains(&magic.as_str()) {
            return Err(OpenError::NotCapture { path: path.into(), magic });
        }
        let len = prefix.len();
        let chained = io::Cursor::new(prefix).chain(stream);
        let reader = match pcap_parser::create_reader(BUFFER, chained) {
            Ok(r) => r,
            Err(PcapError::Incomplete(_)) | Err(PcapError::Eof) => {
                return Err(OpenError::ShortHeader { path: path.into(), len });
            }
            Err(_) => return Err(OpenError::NotCapture { path: path.into(), magic }),
        };
        Ok(CaptureFile { name, source: Source::Stream(reader), state: State::default(), offset: 0 })
    }

    /// The name given when opening (for messages).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Bytes of the (uncompressed) capture consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Delivers every frame to `sink` in file order. Returns `Ok(None)` at a clean end,
    /// `Ok(Some(fault))` when the file is damaged, `Err` only for an I/O failure.
    pub fn for_each(&mut self, sink: &mut dyn FnMut(&Frame<'_>)) -> io::Result<Option<Fault>> {
        let reader = match &mut self.source {
            Source::Stream(r) => r,
            Source::Mapped { map, header } => {
                let (fault, offset) = walk_mapped(map, header, &mut self.state, sink);
                self.offset = offset;
                return Ok(fault);
            }
        };
        let mut stalls = 0u32;
        loop {
            let (len, fault) = match reader.next() {
                Ok((len, block)) => (len, self.state.visit(block, [&[]; 2], sink)),
                Err(PcapError::Eof) => return Ok(None),
                Err(PcapError::Incomplete(_)) => {
                    stalls += 1;
                    if stalls > 64 {
                        return Ok(Some(self.fault("block never completes")));
                    }
                    if reader.refill().is_err() {
                        return Err(io::Error::other(format!("{}: read error", self.name)));
                    }
                    continue;
                }
                Err(PcapError::UnexpectedEof) => {
                    return Ok(Some(self.fault(CUT_SHORT)));
                }
                Err(PcapError::BufferTooSmall) => {
                    return Ok(Some(self.fault(&format!("record claims more than {} bytes", BUFFER))));
                }
                Err(PcapError::ReadError) => {
                    return Err(io::Error::other(format!("{}: read error", self.name)));
                }
                Err(e) => {
                    let what: String = format!("malformed block ({e:?})").chars().take(120).collect();
                    return Ok(Some(Fault { offset: self.offset, reason: what }));
                }
            };
            if let Some(reason) = fault {
                return Ok(Some(self.fault(&reason)));
            }
            stalls = 0;
            // No shift per block: refill() moves the remainder once, when more data is needed.
            reader.consume_noshift(len);
            self.offset += len as u64;
        }
    }

    fn fault(&self, reason: &str) -> Fault {
        Fault { offset: self.offset, reason: reason.to_string() }
    }
}

impl State {
    /// Handles one block; returns a reason when the block itself shows the file is corrupt.
    /// `ahead`: the next frame's bytes, when known (see [`Frame::ahead`]).
    fn visit<'a>(
        &mut self,
        block: PcapBlockOwned<'a>,
        ahead: [&'a [u8]; 2],
        sink: &mut dyn FnMut(&Frame<'_>),
    ) -> Option<String> {
        match block {
            PcapBlockOwned::LegacyHeader(h) => {
                let resolution = if h.is_nanosecond_precision() { 1_000_000_000 } else { 1_000_000 };
                self.interfaces =
                    vec![Interface { linktype: Linktype(h.network.0 as u32), resolution, offset_secs: 0 }];
            }
            PcapBlockOwned::Legacy(b) => {
                if b.caplen > MAX_RECORD {
                    return Some(format!("record claims {} bytes, more than the maximum of {MAX_RECORD}", b.caplen));
                }
                let iface = self.interfaces.first().copied()?;
                let frac = b.ts_usec as u64 * 1_000_000 / iface.resolution;
                self.frames += 1;
                sink(&Frame {
                    number: self.frames,
                    ts_micros: b.ts_sec as i64 * 1_000_000 + frac as i64,
                    linktype: iface.linktype,
                    data: b.data,
                    orig_len: b.origlen,
                    ahead,
                });
            }
            PcapBlockOwned::NG(Block::SectionHeader(_)) => self.interfaces.clear(),
            PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                self.interfaces.push(Interface {
                    linktype: Linktype(idb.linktype.0 as u32),
                    resolution: idb.ts_resolution().unwrap_or(1_000_000).max(1),
                    offset_secs: idb.ts_offset(),
                });
            }
            PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                let Some(iface) = self.interfaces.get(epb.if_id as usize).copied() else {
                    return Some(format!("packet names interface {} that was never described", epb.if_id));
                };
                let ts = ((epb.ts_high as u64) << 32) | epb.ts_low as u64;
                let secs = (ts / iface.resolution) as i64 + iface.offset_secs;
                let frac = ((ts % iface.resolution) as u128 * 1_000_000 / iface.resolution as u128) as i64;
                self.frames += 1;
                sink(&Frame {
                    number: self.frames,
                    ts_micros: secs.saturating_mul(1_000_000).saturating_add(frac),
                    linktype: iface.linktype,
                    data: epb.packet_data(),
                    orig_len: epb.origlen,
                    ahead: [&[]; 2],
                });
            }
            PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                let iface = self.interfaces.first().copied()?;
                self.frames += 1;
                sink(&Frame {
                    number: self.frames,
                    ts_micros: 0,
                    linktype: iface.linktype,
                    data: spb.packet_data(),
                    orig_len: spb.origlen,
                    ahead: [&[]; 2],
                });
            }
            PcapBlockOwned::NG(_) => {}
        }
        None
    }
}

const CUT_SHORT: &str = "file ends in the middle of a record";

/// Maps `path` when it is a plain (not compressed) classic pcap file in standard format.
fn map_classic(path: &Path) -> Option<Source> {
    let f = File::open(path).ok()?;
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    // SAFETY: the map is read-only; a capture file changed underneath by another process
    // gives garbage frames (which the parsers survive), not undefined behaviour in safe code
    // that checks every length.
    let map = unsafe { memmap2::Mmap::map(&f) }.ok()?;
    let (_, header) = pcap_parser::parse_pcap_header(&map).ok()?;
    if header.is_modified_format() {
        return None;
    }
    Some(Source::Mapped { map, header })
}

/// Walks a mapped classic pcap file; returns the fault (if any) and the final offset.
fn walk_mapped(
    map: &memmap2::Mmap,
    header: &pcap_parser::PcapHeader,
    state: &mut State,
    sink: &mut dyn FnMut(&Frame<'_>),
) -> (Option<Fault>, u64) {
    /// Pages behind the read position are handed back every this many bytes, so the
    /// mapping never counts against memory (RSS) by more than that.
    const RELEASE: usize = 16 << 20;
    /// How far ahead of the read position the file's bytes are prefetched.
    const AHEAD: usize = 4096;
    let data: &[u8] = map;
    let _ = map.advise(memmap2::Advice::Sequential);
    let mut released = 0usize;
    let be = header.is_bigendian();
    let parse = if be { pcap_parser::parse_pcap_frame_be } else { pcap_parser::parse_pcap_frame };
    state.visit(PcapBlockOwned::LegacyHeader(header.clone()), [&[]; 2], sink);
    let mut pos = header.size();
    while pos < data.len() {
        let fault = |reason: &str| (Some(Fault { offset: pos as u64, reason: reason.to_string() }), pos as u64);
        let Some(caplen) = data.get(pos + 8..pos + 12) else { return fault(CUT_SHORT) };
        let caplen = if be {
            u32::from_be_bytes(caplen.try_into().expect("4 bytes"))
        } else {
            u32::from_le_bytes(caplen.try_into().expect("4 bytes"))
        };
        if caplen > MAX_RECORD {
            return fault(&format!("record claims {caplen} bytes, more than the maximum of {MAX_RECORD}"));
        }
        match parse(&data[pos..]) {
            Ok((rest, block)) => {
                let len = data.len() - pos - rest.len();
                // The next two records' bytes, as far as the file holds them: a prefetch hint.
                let record = |at: usize| -> Option<(&[u8], usize)> {
                    let c: [u8; 4] = data.get(at.checked_add(8)?..at.checked_add(12)?)?.try_into().ok()?;
                    let caplen = if be { u32::from_be_bytes(c) } else { u32::from_le_bytes(c) };
                    let end = (at + 16).saturating_add(caplen as usize);
                    Some((&data[(at + 16).min(data.len())..end.min(data.len())], end))
                };
                let (first, after) = record(pos + len).unwrap_or((&[], usize::MAX));
                let ahead = [first, record(after).map_or(&[][..], |r| r.0)];
                if let Some(reason) = state.visit(PcapBlockOwned::Legacy(block), ahead, sink) {
                    return fault(&reason);
                }
                // The file's bytes a few pages on, as many as this record took: without it a
                // tenth of the time went to waiting for each new page of the mapping.
                crate::analysis::prefetch::bytes(data.as_ptr().wrapping_add(pos + AHEAD), len);
                pos += len;
                if pos - released > RELEASE {
                    let upto = pos & !0xfff;
                    // SAFETY: every frame before `pos` has been handed to the sink and dropped;
                    // nothing borrows those pages any more, and the mapping is read-only, so
                    // they are simply re-read from the page cache if ever touched again.
                    let _ = unsafe {
                        map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, released, upto - released)
                    };
                    released = upto;
                }
            }
            Err(nom::Err::Incomplete(_)) => return fault(CUT_SHORT),
            Err(_) => return fault("malformed record"),
        }
    }
    (None, pos as u64)
}

/// Reads up to `n` bytes (fewer only at end of input).
fn read_prefix(r: &mut dyn Read, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(n);
    r.take(n as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A classic pcap file (little-endian, Ethernet) with one record per payload; the last
    /// record may be cut short by `cut` bytes.
    fn pcap(payloads: &[&[u8]], cut: usize) -> tempfile::NamedTempFile {
        let mut b = Vec::new();
        for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
            if v == 0x0004_0002 {
                b.extend_from_slice(&2u16.to_le_bytes());
                b.extend_from_slice(&4u16.to_le_bytes());
            } else {
                b.extend_from_slice(&v.to_le_bytes());
            }
        }
        for (i, p) in payloads.iter().enumerate() {
            for v in [i as u32, 0, p.len() as u32, p.len() as u32] {
                b.extend_from_slice(&v.to_le_bytes());
            }
            b.extend_from_slice(p);
        }
        b.truncate(b.len() - cut);
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), &b).unwrap();
        f
    }

    #[test]
    fn a_mapped_file_hands_each_frame_the_two_that_follow() {
        let payloads: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 60 + usize::from(i)]).collect();
        let refs: Vec<&[u8]> = payloads.iter().map(|p| &p[..]).collect();
        let file = pcap(&refs, 0);
        let mut cap = CaptureFile::open(file.path()).unwrap();
        let mut seen = Vec::new();
        let fault =
            cap.for_each(&mut |f| seen.push((f.data.to_vec(), f.ahead[0].to_vec(), f.ahead[1].to_vec()))).unwrap();
        assert!(fault.is_none());
        assert_eq!(seen.len(), 5);
        for (i, (data, next, after)) in seen.iter().enumerate() {
            assert_eq!(data, &payloads[i]);
            assert_eq!(next, payloads.get(i + 1).unwrap_or(&Vec::new()), "frame {i}'s next");
            assert_eq!(after, payloads.get(i + 2).unwrap_or(&Vec::new()), "frame {i}'s after next");
        }
        // A last record cut short: the hint holds what the file has, and the reader still
        // reports the cut as a fault.
        let file = pcap(&refs, 10);
        let mut cap = CaptureFile::open(file.path()).unwrap();
        let mut seen = Vec::new();
        let fault = cap.for_each(&mut |f| seen.push(f.ahead[0].len())).unwrap();
        assert!(fault.is_some());
        assert_eq!(seen, vec![61, 62, 63, 64 - 10]);
    }
}

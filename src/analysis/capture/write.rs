//! Writing captures: pcapng with per-packet comments, which is how `sniff -w` marks the
//! packets that leaked something (Wireshark and tshark show the comments).

use std::io::{self, Write};

/// Writes pcapng: one section, one Ethernet interface (microseconds), enhanced packet
/// blocks with an optional comment each (what `sniff -w` uses to mark leaking packets).
pub struct PcapngWriter<W: Write> {
    out: W,
}

fn pad4(n: usize) -> usize {
    n.div_ceil(4) * 4
}

impl<W: Write> PcapngWriter<W> {
    pub fn new(mut out: W, linktype: u16, snaplen: u32) -> io::Result<Self> {
        // Section header: magic, version 1.0, unknown section length, no options.
        let shb_len = 28u32;
        out.write_all(&0x0a0d_0d0au32.to_le_bytes())?;
        out.write_all(&shb_len.to_le_bytes())?;
        out.write_all(&0x1a2b_3c4du32.to_le_bytes())?;
        out.write_all(&1u16.to_le_bytes())?;
        out.write_all(&0u16.to_le_bytes())?;
        out.write_all(&(-1i64).to_le_bytes())?;
        out.write_all(&shb_len.to_le_bytes())?;
        // Interface description.
        let idb_len = 20u32;
        out.write_all(&1u32.to_le_bytes())?;
        out.write_all(&idb_len.to_le_bytes())?;
        out.write_all(&linktype.to_le_bytes())?;
        out.write_all(&0u16.to_le_bytes())?;
        out.write_all(&snaplen.to_le_bytes())?;
        out.write_all(&idb_len.to_le_bytes())?;
        Ok(PcapngWriter { out })
    }

    pub fn packet(&mut self, ts_micros: i64, data: &[u8], orig_len: u32, comment: Option<&str>) -> io::Result<()> {
        let opts_len = comment.map_or(0, |c| 4 + pad4(c.len()) + 4);
        let len = 28 + pad4(data.len()) + opts_len + 4;
        let ts = ts_micros as u64;
        let mut b = Vec::with_capacity(len);
        b.extend_from_slice(&6u32.to_le_bytes());
        b.extend_from_slice(&(len as u32).to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        b.extend_from_slice(&(ts as u32).to_le_bytes());
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(&orig_len.to_le_bytes());
        b.extend_from_slice(data);
        b.resize(28 + pad4(data.len()), 0);
        if let Some(c) = comment {
            b.extend_from_slice(&1u16.to_le_bytes());
            b.extend_from_slice(&(c.len() as u16).to_le_bytes());
            b.extend_from_slice(c.as_bytes());
            b.resize(b.len() + pad4(c.len()) - c.len(), 0);
            b.extend_from_slice(&[0; 4]); // opt_endofopt
        }
        b.extend_from_slice(&(len as u32).to_le_bytes());
        self.out.write_all(&b)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}


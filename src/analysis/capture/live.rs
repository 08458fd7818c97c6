//! Live capture with libpcap (the `pcap` crate), and BPF filters compiled by libpcap.
//!
//! Live sniffing is a second source of [`Frame`]s; the BPF compiler is also used by
//! `analyze --filter` on capture files, so that a filter means the same thing in both.

use super::{Frame, Linktype};

/// A compiled BPF program for one link type.
pub struct BpfFilter {
    expr: String,
    programs: Vec<(Linktype, pcap::BpfProgram)>,
}

impl BpfFilter {
    /// Checks the expression now (against Ethernet) so that a typo is reported before any
    /// work is done; programs for other link types are compiled when first needed.
    pub fn new(expr: &str) -> Result<BpfFilter, String> {
        let mut f = BpfFilter { expr: expr.to_string(), programs: Vec::new() };
        f.program(Linktype(1))?;
        Ok(f)
    }

    fn program(&mut self, lt: Linktype) -> Result<&pcap::BpfProgram, String> {
        if let Some(i) = self.programs.iter().position(|(l, _)| *l == lt) {
            return Ok(&self.programs[i].1);
        }
        let dead = pcap::Capture::dead(pcap::Linktype(lt.0 as i32)).map_err(|e| e.to_string())?;
        let prog = dead
            .compile(&self.expr, true)
            .map_err(|e| format!("bad filter {:?}: {e}", self.expr))?;
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

//! Arbitrary segment sequences (sequence numbers, flags, payload sizes) through the
//! reassembler and the dissectors behind it.
#![no_main]
use plainsight::analysis::decode::TcpMeta;
use plainsight::analysis::dissect::ConnApp;
use plainsight::analysis::reassembly::{Limits, Reassembler};
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let limits = Limits { per_conn_ooo: 4096, global_ooo: 16384, max_conns: 4, idle_micros: 1_000_000, ..Limits::default() };
    let mut r = Reassembler::<ConnApp>::new(limits);
    let mut out = Vec::new();
    let c = "192.0.2.10:40000".parse().unwrap();
    let s = "198.51.100.10:80".parse().unwrap();
    for (i, chunk) in data.chunks(12).enumerate() {
        if chunk.len() < 6 {
            break;
        }
        let seq = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        let flags = chunk[4];
        let payload = &chunk[5..];
        let meta = TcpMeta { seq, ack: (flags & 16 != 0).then_some(seq ^ 0x5a5a), syn: flags & 2 != 0, fin: flags & 1 != 0, rst: flags & 4 != 0, window: u16::from(flags & 32) };
        let (a, b) = if flags & 128 != 0 { (s, c) } else { (c, s) };
        r.segment(a, b, &meta, payload, 40 + payload.len() as u32, i as u64, i as i64 * 1000, &mut out);
        out.clear();
    }
    r.finish_all(&mut out);
});

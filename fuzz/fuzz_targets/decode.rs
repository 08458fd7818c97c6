//! Any bytes as a frame of each link type, tunnels inside included.
#![no_main]
use plainsight::analysis::capture::{Frame, Linktype};
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&lt, rest)) = data.split_first() else { return };
    let lts = [0u32, 1, 7, 9, 12, 50, 101, 105, 108, 113, 127, 129, 228, 229, 239, 276];
    let lt = lts[lt as usize % lts.len()];
    let mut d = plainsight::analysis::decode::Decoder::default();
    let frame = Frame { number: 1, ts_micros: 0, linktype: Linktype(lt), data: rest, orig_len: rest.len() as u32, ahead: [&[]; 2] };
    let _ = d.decode(&frame);
    let _ = d.tunnel();
});

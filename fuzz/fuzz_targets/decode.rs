//! Any bytes as a frame of each link type.
#![no_main]
use plainsight::analysis::capture::{Frame, Linktype};
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&lt, rest)) = data.split_first() else { return };
    let lt = [0u32, 1, 9, 12, 50, 101, 105, 108, 113, 127, 228, 229, 239, 276][lt as usize % 14];
    let mut d = plainsight::analysis::decode::Decoder::default();
    let _ = d.decode(&Frame { number: 1, ts_micros: 0, linktype: Linktype(lt), data: rest, orig_len: rest.len() as u32 });
});

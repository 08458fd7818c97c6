//! Any bytes as a capture file: the reader and the whole pipeline behind it.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("plainsight-fuzz-{}.pcap", std::process::id()));
    std::fs::write(&path, data).unwrap();
    let _ = plainsight::analysis::analyze::scan(&path, None, &mut |_, _| {}, &mut |_| {});
});

//! Any bytes as each direction of an HTTP, TLS or DNS stream, split at a fuzzed point.
#![no_main]
use plainsight::analysis::dissect::ConnApp;
use plainsight::analysis::reassembly::{ConnInfo, Dir, End, StreamApp};
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else { return };
    let at = (split as usize).min(rest.len());
    let info = ConnInfo { id: 0, client: "192.0.2.10:40000".parse().unwrap(), server: "198.51.100.10:53".parse().unwrap(), first_frame: 1 };
    let mut out = Vec::new();
    let mut app = ConnApp::new(&info);
    app.data(&info, Dir::ToServer, &rest[..at], 1, 0, &mut out);
    app.data(&info, Dir::ToClient, &rest[at..], 2, 0, &mut out);
    app.gap(&info, Dir::ToClient, 7, &mut out);
    app.data(&info, Dir::ToServer, &rest[at..], 3, 0, &mut out);
    app.end(&info, End::Closed, &mut out);
    let _ = plainsight::analysis::dissect::dns::parse(rest);
});

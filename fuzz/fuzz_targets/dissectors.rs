//! Any bytes as each direction of a TCP stream (HTTP, TLS, DNS, the login protocols, NTLM
//! and Kerberos are all recognised by content), split at a fuzzed point.
#![no_main]
use plainsight::analysis::dissect::ConnApp;
use plainsight::analysis::reassembly::{ConnInfo, Dir, End, Limits, StreamApp};
use plainsight::analysis::tally::Tally;
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else { return };
    let at = (split as usize).min(rest.len());
    let port = [53u16, 80, 88, 389, 445, 21, 23, 110][usize::from(split) % 8];
    let server = std::net::SocketAddr::new("198.51.100.10".parse().unwrap(), port);
    let info = ConnInfo { id: 0, client: "192.0.2.10:40000".parse().unwrap(), server, first_frame: 1, first_ts: 0 };
    let mut out = Vec::new();
    let mut app = ConnApp::new(&info, &Limits::default());
    app.data(&info, Dir::ToServer, &rest[..at], 1, 0, &mut out);
    app.data(&info, Dir::ToClient, &rest[at..], 2, 0, &mut out);
    app.gap(&info, Dir::ToClient, 7, &mut out);
    app.data(&info, Dir::ToServer, &rest[at..], 3, 0, &mut out);
    app.close(&info, End::Closed, &mut out);
    app.end(&info, End::Closed, &Tally::default(), &mut out);
    let _ = plainsight::analysis::dissect::dns::parse(rest);
});

//! Any bytes through the readers of logins found by content in datagrams and lines:
//! Kerberos, SNMP, HTTP Digest, and NTLM messages raw or base64, split at a fuzzed point.
#![no_main]
use plainsight::analysis::dissect::{kerberos, login, ntlm, snmp};
use plainsight::analysis::reassembly::Dir;
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = kerberos::read(data);
    let _ = snmp::login(data);
    let _ = login::digest(&String::from_utf8_lossy(data));
    let Some((&split, rest)) = data.split_first() else { return };
    let at = (split as usize).min(rest.len());
    let (mut scan, mut out) = (ntlm::NtlmScan::default(), Vec::new());
    for dir in [Dir::ToClient, Dir::ToServer] {
        scan.data(dir, &rest[..at], &mut out);
        scan.data(dir, &rest[at..], &mut out);
    }
    let mut tcp = kerberos::KerberosTcp::default();
    tcp.data(0, &rest[..at], &mut out);
    tcp.data(0, &rest[at..], &mut out);
});

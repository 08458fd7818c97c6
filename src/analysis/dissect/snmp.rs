//! SNMP v1 and v2c: the community string, SNMP's password, travels in clear in every
//! message. Recognised by content (a message's exact shape: version, community, a PDU) on
//! any UDP port.

use super::ber::{integer, tlv};
use super::login::{Login, Protocol};

/// The login an SNMP v1/v2c message carries: its community (an empty one is none).
pub fn login(b: &[u8]) -> Option<Login> {
    let (0x30, message, _) = tlv(b)? else { return None };
    let (0x02, version, rest) = tlv(message)? else { return None };
    let mechanism = match integer(version)? {
        0 => "v1",
        1 => "v2c",
        _ => return None,
    };
    let (0x04, community, rest) = tlv(rest)? else { return None };
    let pdu = *rest.first()?;
    if !(0xa0..=0xa8).contains(&pdu) || community.is_empty() {
        return None;
    }
    Some(Login {
        protocol: Protocol::Snmp,
        mechanism: mechanism.into(),
        username: String::new(),
        secret: Some(String::from_utf8_lossy(community).into_owned()),
        tls_offered: None,
        domain: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_get_request_gives_its_community_and_other_datagrams_nothing() {
        // v2c GetRequest, community "public".
        let m = [
            0x30, 0x19, 0x02, 0x01, 0x01, 0x04, 0x06, b'p', b'u', b'b', b'l', b'i', b'c', 0xa0, 0x0c, 0x02, 0x02, 0x12,
            0x34, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x30, 0x00,
        ];
        let l = login(&m).unwrap();
        assert_eq!((l.mechanism.as_str(), l.secret.as_deref()), ("v2c", Some("public")));
        assert!(login(b"GET / HTTP/1.1\r\n").is_none());
        assert!(login(&m[..10]).is_none());
    }
}

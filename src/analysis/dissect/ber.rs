//! The few BER (ASN.1) rules SNMP and LDAP need: a tag, a definite length (short or long
//! form, at most 4 length bytes), and the content, read without copying and never past
//! the input.

/// One element: its tag byte, its content, and what follows it.
pub fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = b.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        (rest[..n].iter().fold(0usize, |a, &d| (a << 8) | d as usize), &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The whole length of the element `b` starts with, once its header is there: `None`
/// while the header is incomplete or not a definite length.
pub fn element_len(b: &[u8]) -> Option<usize> {
    let first = *b.get(1)?;
    if first < 0x80 {
        return Some(2 + first as usize);
    }
    let n = (first & 0x7f) as usize;
    if n == 0 || n > 4 || b.len() < 2 + n {
        return None;
    }
    Some(2 + n + b[2..2 + n].iter().fold(0usize, |a, &d| (a << 8) | d as usize))
}

/// A small non-negative INTEGER's value.
pub fn integer(content: &[u8]) -> Option<u64> {
    (!content.is_empty() && content.len() <= 8).then(|| content.iter().fold(0u64, |a, &d| (a << 8) | d as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_short_long_and_hostile() {
        assert_eq!(tlv(&[0x04, 0x02, b'h', b'i', 9]), Some((0x04, &b"hi"[..], &[9u8][..])));
        let long = [&[0x04, 0x81, 0x03][..], b"abc"].concat();
        assert_eq!(tlv(&long).map(|t| t.1), Some(&b"abc"[..]));
        assert_eq!(tlv(&[0x04, 0x85, 1, 1, 1, 1, 1]), None);
        assert_eq!(tlv(&[0x04, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(tlv(&[0x04]), None);
        assert_eq!(element_len(&[0x30, 0x82, 0x01, 0x00]), Some(260));
    }
}

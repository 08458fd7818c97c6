//! Compact JSON for the streamed reports: a serde serializer that writes exactly what
//! `serde_json::to_writer` writes, into a `Vec<u8>`, with strings escaped eight bytes at a
//! time.
//!
//! Why not serde_json itself: it checks every byte of every string and key against a table
//! one at a time, which made writing a busy capture's events cost a fifth as much as
//! analysing it. The tests hold this serializer to serde_json's output byte for byte.

use serde::ser::{self, Error as _, Serialize};

type Error = serde_json::Error;

/// Appends `value` as `serde_json::to_writer` would write it.
pub fn write<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<(), Error> {
    value.serialize(Json { out })
}

/// Appends `s` as a JSON string, escaped as serde_json escapes it: `\"`, `\\`, the short
/// forms `\b \t \n \f \r`, `\u00XX` (lower-case hex) for the other control characters,
/// everything else (DEL and all of UTF-8 included) as it is.
#[inline]
pub fn string(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    out.reserve(b.len() + 2);
    out.push(b'"');
    // Most strings need no escaping at all: one check, one copy.
    let clean = clean_prefix(b);
    out.extend_from_slice(&b[..clean]);
    if clean < b.len() {
        escape(out, b, clean);
    }
    out.push(b'"');
}

/// The rest of `b` from `from`, escaped.
#[cold]
fn escape(out: &mut Vec<u8>, b: &[u8], from: usize) {
    let mut start = from;
    for (i, &c) in b.iter().enumerate().skip(from) {
        let short = match c {
            b'"' => b'"',
            b'\\' => b'\\',
            0x08 => b'b',
            b'\t' => b't',
            b'\n' => b'n',
            0x0c => b'f',
            b'\r' => b'r',
            0..0x20 => b'u',
            _ => continue,
        };
        out.extend_from_slice(&b[start..i]);
        if short == b'u' {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[usize::from(c >> 4)], HEX[usize::from(c & 15)]]);
        } else {
            out.extend_from_slice(&[b'\\', short]);
        }
        start = i + 1;
    }
    out.extend_from_slice(&b[start..]);
}

/// How many bytes at the start of `b` need no escaping: all of them, or (roughly) up to
/// the first that does. Eight bytes at a time; a string of eight bytes or more ends with
/// its last eight, read again.
#[inline]
fn clean_prefix(b: &[u8]) -> usize {
    let word = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("eight bytes"));
    if b.len() < 8 {
        return b.iter().position(|&c| c < 0x20 || c == b'"' || c == b'\\').unwrap_or(b.len());
    }
    let mut i = 0;
    while i + 8 <= b.len() {
        if needs_escape(word(i)) {
            return i;
        }
        i += 8;
    }
    if needs_escape(word(b.len() - 8)) { i } else { b.len() }
}

/// Whether any of the eight bytes in `w` is a control character, `"` or `\`. Exact as a
/// yes/no (the usual "has a byte less than n" and "has a zero byte" tricks).
fn needs_escape(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let control = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    control | zero(w ^ (ONES * u64::from(b'"'))) | zero(w ^ (ONES * u64::from(b'\\'))) != 0
}

fn integer(out: &mut Vec<u8>, n: impl itoa::Integer) -> Result<(), Error> {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    Ok(())
}

fn text(out: &mut Vec<u8>, s: &str) -> Result<(), Error> {
    string(out, s);
    Ok(())
}

/// Floats are rare here (none on the hot path): serde_json writes them (ryu, `null` when
/// not finite).
fn float<F: Serialize>(out: &mut Vec<u8>, f: F) -> Result<(), Error> {
    serde_json::to_writer(out, &f)
}

/// The serializer: a value, written where it stands.
struct Json<'a> {
    out: &'a mut Vec<u8>,
}

/// An array or object being written: whether a comma goes before the next element, and
/// whether a variant's wrapping object must be closed at the end.
pub struct Compound<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
    close: &'static [u8],
}

impl<'a> Compound<'a> {
    fn open(out: &'a mut Vec<u8>, open: &[u8], close: &'static [u8]) -> Self {
        out.extend_from_slice(open);
        Compound { out, first: true, close }
    }

    fn comma(&mut self) {
        if !std::mem::take(&mut self.first) {
            self.out.push(b',');
        }
    }

    fn element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        self.comma();
        v.serialize(Json { out: self.out })
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &str, v: &T) -> Result<(), Error> {
        self.comma();
        string(self.out, key);
        self.out.push(b':');
        v.serialize(Json { out: self.out })
    }

    fn end(self) -> Result<(), Error> {
        self.out.extend_from_slice(self.close);
        Ok(())
    }
}

impl<'a> ser::Serializer for Json<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.out.extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        integer(self.out, v)
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        integer(self.out, v)
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        integer(self.out, v)
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        integer(self.out, v)
    }
    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        integer(self.out, v)
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        integer(self.out, v)
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        integer(self.out, v)
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        integer(self.out, v)
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        integer(self.out, v)
    }
    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        integer(self.out, v)
    }
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        float(self.out, v)
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        float(self.out, v)
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        text(self.out, v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        text(self.out, v)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        let mut seq = Compound::open(self.out, b"[", b"]");
        for b in v {
            seq.element(b)?;
        }
        seq.end()
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), Error> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<(), Error> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> Result<(), Error> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        let mut map = Compound::open(self.out, b"{", b"}");
        map.field(variant, v)?;
        map.end()
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'a>, Error> {
        Ok(Compound::open(self.out, b"[", b"]"))
    }
    fn serialize_tuple(self, _: usize) -> Result<Compound<'a>, Error> {
        self.serialize_seq(None)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Compound<'a>, Error> {
        self.serialize_seq(None)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'a>, Error> {
        self.out.push(b'{');
        string(self.out, variant);
        Ok(Compound::open(self.out, b":[", b"]}"))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Compound<'a>, Error> {
        Ok(Compound::open(self.out, b"{", b"}"))
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Compound<'a>, Error> {
        self.serialize_map(None)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'a>, Error> {
        self.out.push(b'{');
        string(self.out, variant);
        Ok(Compound::open(self.out, b":{", b"}}"))
    }
    fn collect_str<T: std::fmt::Display + ?Sized>(self, v: &T) -> Result<(), Error> {
        self.serialize_str(&v.to_string())
    }
}

impl ser::SerializeSeq for Compound<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        self.element(v)
    }
    fn end(self) -> Result<(), Error> {
        Compound::end(self)
    }
}

impl ser::SerializeTuple for Compound<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        self.element(v)
    }
    fn end(self) -> Result<(), Error> {
        Compound::end(self)
    }
}

impl ser::SerializeTupleStruct for Compound<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        self.element(v)
    }
    fn end(self) -> Result<(), Error> {
        Compound::end(self)
    }
}

impl ser::SerializeTupleVariant for Compound<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        self.element(v)
    }
    fn end(self) -> Result<(), Error> {
        Compound::end(self)
    }
}

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.comma();
        key.serialize(Key { out: self.out })?;
        self.out.push(b':');
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        v.serialize(Json { out: self.out })
    }
    fn end(self) -> Result<(), Error> {
        Compound::end(self)
    }
}

impl ser::SerializeStruct for Compound<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, v: &T) -> Result<(), Error> {
        self.field(key, v)
    }
    fn end(self) -> Result<(), Error> {
        Compound::end(self)
    }
}

impl ser::SerializeStructVariant for Compound<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, v: &T) -> Result<(), Error> {
        self.field(key, v)
    }
    fn end(self) -> Result<(), Error> {
        Compound::end(self)
    }
}

/// A map key: JSON keys are strings, so serde_json quotes numbers and booleans used as
/// keys, and refuses what has no string form.
struct Key<'a> {
    out: &'a mut Vec<u8>,
}

impl Key<'_> {
    fn quoted(self, n: impl itoa::Integer) -> Result<(), Error> {
        self.out.push(b'"');
        integer(self.out, n)?;
        self.out.push(b'"');
        Ok(())
    }

    /// serde_json quotes a finite float key, and refuses the others.
    fn float<F: Serialize>(self, finite: bool, f: F) -> Result<(), Error> {
        if !finite {
            return Err(Error::custom("float key must be finite (got NaN or +/-inf)"));
        }
        self.out.push(b'"');
        float(self.out, f)?;
        self.out.push(b'"');
        Ok(())
    }
}

fn key_must_be_a_string() -> Error {
    Error::custom("key must be a string")
}

impl ser::Serializer for Key<'_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = ser::Impossible<(), Error>;
    type SerializeTuple = ser::Impossible<(), Error>;
    type SerializeTupleStruct = ser::Impossible<(), Error>;
    type SerializeTupleVariant = ser::Impossible<(), Error>;
    type SerializeMap = ser::Impossible<(), Error>;
    type SerializeStruct = ser::Impossible<(), Error>;
    type SerializeStructVariant = ser::Impossible<(), Error>;

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        text(self.out, v)
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        text(self.out, v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<(), Error> {
        text(self.out, variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> Result<(), Error> {
        v.serialize(self)
    }
    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        text(self.out, if v { "true" } else { "false" })
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.quoted(v)
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.quoted(v)
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.quoted(v)
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        self.quoted(v)
    }
    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        self.quoted(v)
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.quoted(v)
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.quoted(v)
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.quoted(v)
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.quoted(v)
    }
    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        self.quoted(v)
    }
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        self.float(v.is_finite(), v)
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        self.float(v.is_finite(), v)
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_none(self) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), Error> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(key_must_be_a_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;
    use std::collections::BTreeMap;

    fn serde_string(s: &str) -> Vec<u8> {
        serde_json::to_vec(s).unwrap()
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let mut cases: Vec<String> = vec![
            String::new(),
            "plain".into(),
            "exactly8".into(),
            "sixteen bytes ok".into(),
            "\"quoted\" and \\back\\slashed".into(),
            "tab\there, line\nend, cr\r, bell\x07, nul\0, esc\x1b, del\x7f, unit\x1f".into(),
            "caf\u{e9} \u{1f600} \u{2028} \u{fffd}".into(),
            "long run without anything to escape, then one at the end\"".into(),
        ];
        // Every byte value that can stand alone in a string, at every position of strings
        // of 1 to 19 bytes (shorter than a word, a word, a word and a tail).
        for c in (0u8..0x80).map(char::from) {
            for len in 1..20 {
                for at in 0..len {
                    cases.push(format!("{}{c}{}", "x".repeat(at), "y".repeat(len - 1 - at)));
                }
            }
        }
        for s in &cases {
            let clean = clean_prefix(s.as_bytes());
            assert!(!s.as_bytes()[..clean].iter().any(|&c| c < 0x20 || c == b'"' || c == b'\\'), "{s:?}");
            let mut ours = Vec::new();
            string(&mut ours, s);
            assert_eq!(ours, serde_string(s), "{s:?}");
        }
    }

    #[test]
    fn the_escape_test_is_exact_for_every_byte_in_every_position() {
        for b in 0u8..=255 {
            let must = b < 0x20 || b == b'"' || b == b'\\';
            for pos in 0..8 {
                // The other bytes are harmless, and also the hardest neighbours (0x20, 0x21,
                // 0x23, 0x5d and high bytes sit right beside the tested values).
                for filler in [b'a', 0x20, 0x21, 0x23, 0x5b, 0x5d, 0x7f, 0x80, 0xff] {
                    let mut w = [filler; 8];
                    w[pos] = b;
                    assert_eq!(needs_escape(u64::from_le_bytes(w)), must, "byte {b:#x} at {pos} among {filler:#x}");
                }
            }
        }
    }

    /// Every shape serde can hand a serializer, as derive writes them.
    #[derive(Serialize)]
    struct Shapes {
        yes: bool,
        small: (i8, i16, i32, i64, i128),
        large: (u8, u16, u32, u64, u128),
        floats: Vec<f64>,
        single: f32,
        letters: Vec<char>,
        text: String,
        absent: Option<u8>,
        present: Option<&'static str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        skipped: Option<u8>,
        unit: (),
        unit_struct: UnitStruct,
        newtype: Newtype,
        variants: Vec<Variant>,
        empty: Vec<u8>,
        nested: Vec<Vec<u32>>,
        by_name: BTreeMap<String, i32>,
        by_number: BTreeMap<u16, &'static str>,
        by_negative: BTreeMap<i64, u8>,
        by_flag: BTreeMap<bool, u8>,
        by_variant: BTreeMap<Variant, u8>,
        by_newtype: BTreeMap<Newtype, u8>,
        by_char: BTreeMap<char, u8>,
        by_option: BTreeMap<Option<u8>, u8>,
        by_float: Vec<BTreeMap<FloatKey, u8>>,
        #[serde(flatten)]
        flattened: Tagged,
        raw: Bytes,
    }

    #[derive(Serialize)]
    struct UnitStruct;

    #[derive(Serialize, PartialEq, Eq, PartialOrd, Ord)]
    struct Newtype(&'static str);

    #[derive(Serialize, PartialEq, Eq, PartialOrd, Ord)]
    enum Variant {
        Plain,
        Wrapped(u8),
        Pair(u8, &'static str),
        Named { a: u8, b: Option<u8> },
    }

    #[derive(Serialize)]
    #[serde(tag = "type", rename_all = "snake_case")]
    enum Tagged {
        Inner(Inner),
    }

    #[derive(Serialize)]
    struct Inner {
        method: &'static str,
        list: Vec<&'static str>,
    }

    struct Bytes(&'static [u8]);
    impl Serialize for Bytes {
        fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(self.0)
        }
    }

    /// A float ordered totally, to be a map key.
    struct FloatKey(f64);
    impl PartialEq for FloatKey {
        fn eq(&self, other: &Self) -> bool {
            self.cmp(other).is_eq()
        }
    }
    impl Eq for FloatKey {}
    impl PartialOrd for FloatKey {
        fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
            Some(self.cmp(other))
        }
    }
    impl Ord for FloatKey {
        fn cmp(&self, other: &Self) -> std::cmp::Ordering {
            self.0.total_cmp(&other.0)
        }
    }
    impl Serialize for FloatKey {
        fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_f64(self.0)
        }
    }

    fn shapes() -> Shapes {
        Shapes {
            yes: true,
            small: (i8::MIN, -300, i32::MIN, i64::MIN, i128::MIN),
            large: (u8::MAX, u16::MAX, u32::MAX, u64::MAX, u128::MAX),
            floats: vec![0.0, -0.0, 1.5, 1e300, -2.5e-8, f64::NAN, f64::INFINITY, 100.0],
            single: 0.1,
            letters: vec!['a', '"', '\\', '\n', '\u{1}', '\u{e9}', '\u{1f600}'],
            text: "caf\u{e9} \"q\" \t\r\n\u{7}\u{7f} long enough to take the eight-byte path".into(),
            absent: None,
            present: Some("x"),
            skipped: None,
            unit: (),
            unit_struct: UnitStruct,
            newtype: Newtype("n\"t"),
            variants: vec![
                Variant::Plain,
                Variant::Wrapped(1),
                Variant::Pair(2, "two"),
                Variant::Named { a: 3, b: None },
            ],
            empty: vec![],
            nested: vec![vec![], vec![1, 2], vec![3]],
            by_name: BTreeMap::from([("a\"b".into(), -1), ("".into(), 0)]),
            by_number: BTreeMap::from([(0, "zero"), (65535, "max")]),
            by_negative: BTreeMap::from([(-5, 1)]),
            by_flag: BTreeMap::from([(false, 0), (true, 1)]),
            by_variant: BTreeMap::from([(Variant::Plain, 1)]),
            by_newtype: BTreeMap::from([(Newtype("k"), 1)]),
            by_char: BTreeMap::from([('\t', 1), ('z', 2)]),
            by_option: BTreeMap::from([(Some(7), 1)]),
            by_float: vec![BTreeMap::from([(FloatKey(1.5), 1), (FloatKey(-0.0), 2)])],
            flattened: Tagged::Inner(Inner { method: "GET", list: vec!["a", "b"] }),
            raw: Bytes(&[0, 1, 255]),
        }
    }

    #[test]
    fn every_shape_is_written_as_serde_json_writes_it() {
        let mut ours = Vec::new();
        write(&mut ours, &shapes()).unwrap();
        assert_eq!(String::from_utf8(ours).unwrap(), serde_json::to_string(&shapes()).unwrap());
    }

    #[test]
    fn keys_serde_json_refuses_are_refused() {
        let refused =
            |ours: Result<(), Error>, theirs: Result<String, Error>| assert!(ours.is_err() && theirs.is_err());
        let map = BTreeMap::from([(FloatKey(f64::NAN), 1)]);
        refused(write(&mut Vec::new(), &map), serde_json::to_string(&map));
        let map = BTreeMap::from([(vec![1u8], 1)]);
        refused(write(&mut Vec::new(), &map), serde_json::to_string(&map));
        let map = BTreeMap::from([(None::<u8>, 1)]);
        refused(write(&mut Vec::new(), &map), serde_json::to_string(&map));
    }
}

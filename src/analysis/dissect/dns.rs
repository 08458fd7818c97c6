//! DNS messages over UDP and TCP, parsed by `hickory-proto`: the names a visitor looks up
//! and the addresses it gets back, readable by anyone on the path (unless DNS itself is
//! encrypted, which the lab does not do).

use serde::{Deserialize, Serialize};

use super::{Event, Record};
use crate::analysis::reassembly::{ConnInfo, Dir};

/// A DNS query or response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub id: u16,
    pub response: bool,
    /// `NAME TYPE` per question.
    pub questions: Vec<String>,
    /// `NAME TYPE DATA` per answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answers: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rcode: Option<String>,
    /// The questions' types as numbers (Zeek's `qtype`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub qtypes: Vec<u16>,
    /// The questions' classes as numbers (Zeek's `qclass`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub qclasses: Vec<u16>,
    /// The response code as a number (Zeek's `rcode`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rcode_code: Option<u16>,
}

/// A query for `name`'s A record, as a stub resolver sends it (the visitor's lookups);
/// `None` when `name` is not a valid DNS name.
pub fn query(id: u16, name: &str) -> Option<Vec<u8>> {
    use hickory_proto::op::{Message, MessageType, OpCode, Query};
    use hickory_proto::rr::{Name, RecordType};
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).ok()?, RecordType::A));
    m.to_vec().ok()
}

/// Parses one DNS message; `None` when it is not one.
pub fn parse(b: &[u8]) -> Option<Message> {
    use hickory_proto::op::MessageType;
    let m = hickory_proto::op::Message::from_vec(b).ok()?;
    let response = m.metadata.message_type == MessageType::Response;
    let questions = m.queries.iter().map(|q| format!("{} {}", trim_dot(&q.name.to_string()), q.query_type)).collect();
    let answers = m
        .answers
        .iter()
        .take(64)
        .map(|r| format!("{} {} {}", trim_dot(&r.name.to_string()), r.record_type(), r.data))
        .collect();
    Some(Message {
        id: m.metadata.id,
        response,
        questions,
        answers,
        rcode: response.then(|| m.metadata.response_code.to_string()),
        qtypes: m.queries.iter().map(|q| u16::from(q.query_type)).collect(),
        qclasses: m.queries.iter().map(|q| u16::from(q.query_class)).collect(),
        rcode_code: response.then(|| u16::from(m.metadata.response_code)),
    })
}

fn trim_dot(s: &str) -> String {
    s.strip_suffix('.').unwrap_or(s).to_string()
}

/// DNS over TCP: messages framed by a 2-byte length.
#[derive(Default)]
pub struct DnsTcp {
    buf: [Vec<u8>; 2],
    lost: [bool; 2],
}

impl DnsTcp {
    pub fn data(&mut self, info: &ConnInfo, dir: Dir, data: &[u8], frame: u64, ts: i64, out: &mut Vec<Event>) {
        let i = dir as usize;
        if self.lost[i] {
            return;
        }
        self.buf[i].extend_from_slice(data);
        while self.buf[i].len() >= 2 {
            let len = u16::from_be_bytes([self.buf[i][0], self.buf[i][1]]) as usize;
            if self.buf[i].len() < 2 + len {
                break;
            }
            if let Some(m) = parse(&self.buf[i][2..2 + len]) {
                out.push(Event::on(info, dir, frame, ts, Record::Dns(m)));
            }
            self.buf[i].drain(..2 + len);
        }
    }

    pub fn gap(&mut self, dir: Dir) {
        self.lost[dir as usize] = true;
        self.buf[dir as usize].clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query for clinic.test A, as dig sends it.
    pub const QUERY: &[u8] = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x06clinic\x04test\x00\x00\x01\x00\x01";

    #[test]
    fn query_and_answer() {
        let q = parse(QUERY).unwrap();
        assert_eq!(q.questions, vec!["clinic.test A"]);
        assert!(!q.response);
        let mut a = QUERY.to_vec();
        a[2] = 0x81;
        a[3] = 0x80;
        a[7] = 1;
        a.extend_from_slice(b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\xc6\x33\x64\x0a");
        let r = parse(&a).unwrap();
        assert!(r.response);
        assert_eq!(r.answers, vec!["clinic.test A 198.51.100.10"]);
    }

    #[test]
    fn garbage_is_not_dns() {
        assert!(parse(b"\x00").is_none());
        assert!(parse(&QUERY[..20]).is_none());
    }
}

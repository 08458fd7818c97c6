//! An SMTP session as Zeek's smtp.log writes it: one line per mail transaction, with the
//! HELO, the envelope (`MAIL FROM`, `RCPT TO`), the message's headers (Date, From, To, Cc,
//! Reply-To, Message-ID, In-Reply-To, Subject, X-Originating-IP, the first two Received
//! and the path they trace, the mailer), the server's last reply and whether the session
//! went on in TLS.
//!
//! Zeek's rules ([its `smtp/main.zeek`]): a transaction is written when the server answers
//! the message's final `.`, when a new `MAIL FROM` comes, when the session upgrades to
//! TLS or ends, and only once the client did something (`MAIL`, `RCPT`, `STARTTLS`). Only
//! the message's top-level headers are read, at most [`MAX_HEADERS`] of them and
//! [`MAX_VALUE`] bytes each; the body is skipped.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// Header lines read per message, at most.
pub const MAX_HEADERS: usize = 256;
/// Bytes kept of a header's value (folded lines joined), at most.
pub const MAX_VALUE: usize = 8192;

/// One smtp.log line.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SmtpMessage {
    /// The transaction's number in its session, from 1.
    pub trans_depth: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub helo: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mailfrom: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rcptto: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cc: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msg_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x_originating_ip: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_received: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub second_received: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_reply: Option<String>,
    /// The addresses the Received headers name, in order (the report puts the
    /// connection's server and client first, as Zeek's `path` does).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub received_path: Vec<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    pub tls: bool,
}

/// What was written: the line and the frame and time it began at.
pub type Written = (u64, i64, SmtpMessage);

/// One session's state.
#[derive(Debug, Default)]
pub struct SmtpSession {
    current: SmtpMessage,
    /// When the current line began (Zeek's `network_time()` at `new_smtp_log`).
    began: Option<(u64, i64)>,
    activity: bool,
    messages: u32,
    helo: Option<String>,
    /// Reading the message's headers: the one being read (name, value), and how many.
    in_headers: bool,
    header: Option<(String, String)>,
    headers: usize,
    /// The message's `.` was sent: its answer ends the transaction.
    dot_sent: bool,
}

impl SmtpSession {
    fn begin(&mut self, at: (u64, i64)) {
        self.began.get_or_insert(at);
    }

    /// Writes the current line if the client did something, and starts the next one.
    fn flush(&mut self, at: (u64, i64), out: &mut Vec<Written>) {
        if std::mem::take(&mut self.activity) {
            let (frame, ts) = self.began.unwrap_or(at);
            out.push((frame, ts, std::mem::take(&mut self.current)));
            self.began = Some(at);
        }
        self.current = SmtpMessage { trans_depth: self.messages + 1, helo: self.helo.clone(), ..Default::default() };
    }

    /// A command from the client.
    pub fn command(&mut self, verb: &str, arg: &str, at: (u64, i64), out: &mut Vec<Written>) {
        self.begin(at);
        if self.current.trans_depth == 0 {
            self.current.trans_depth = self.messages + 1;
        }
        let after_colon = |prefix: &str| {
            arg.get(..prefix.len()).filter(|p| p.eq_ignore_ascii_case(prefix)).map(|_| &arg[prefix.len()..])
        };
        match verb {
            "HELO" | "EHLO" => {
                self.helo = Some(arg.to_string());
                self.current.helo = Some(arg.to_string());
            }
            "RCPT" => {
                if let Some(rest) = after_colon("TO:") {
                    for a in email_addresses(rest) {
                        let a = a.replace("ORCPT=rfc822;", "").replace("ORCPT=rfc822", "");
                        if !self.current.rcptto.contains(&a) {
                            self.current.rcptto.push(a);
                        }
                    }
                    self.activity = true;
                }
            }
            "MAIL" => {
                if let Some(rest) = after_colon("FROM:") {
                    self.flush(at, out);
                    self.current.mailfrom = email_addresses(rest).into_iter().next();
                    self.activity = true;
                }
            }
            _ => {}
        }
    }

    /// A line of the server's reply (`code text`); `last` when the reply ends with it.
    pub fn reply(&mut self, line: &str, last: bool, at: (u64, i64), out: &mut Vec<Written>) {
        self.begin(at);
        let (code, msg) = (line.get(..3).unwrap_or(line), line.get(4..).unwrap_or(""));
        self.current.last_reply = Some(format!("{code} {msg}"));
        if last && std::mem::take(&mut self.dot_sent) {
            self.messages += 1;
            self.flush(at, out);
            self.began = Some(at);
        }
    }

    /// A line of the message (after `DATA`, dot-stuffing removed), up to its end.
    pub fn message_line(&mut self, line: &str) {
        if !self.in_headers {
            return;
        }
        if line.is_empty() {
            self.end_header();
            self.in_headers = false;
        } else if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = self.header.as_mut()
                && value.len() + line.len() <= MAX_VALUE
            {
                value.push_str(line);
            }
        } else {
            self.end_header();
            self.headers += 1;
            if self.headers > MAX_HEADERS {
                self.in_headers = false;
            } else if let Some((name, value)) = line.split_once(':') {
                let value = value.trim_start();
                self.header = Some((name.trim().to_ascii_uppercase(), value[..value.len().min(MAX_VALUE)].to_string()));
            }
        }
    }

    /// The client began a message (`354` to its `DATA`).
    pub fn message_begins(&mut self) {
        self.in_headers = true;
        self.headers = 0;
    }

    /// The message's final `.` was sent.
    pub fn message_ends(&mut self) {
        self.end_header();
        self.in_headers = false;
        self.dot_sent = true;
    }

    /// The server accepted STARTTLS: the rest is TLS; the line is written.
    pub fn starttls(&mut self, at: (u64, i64), out: &mut Vec<Written>) {
        self.current.tls = true;
        self.activity = true;
        self.flush(at, out);
    }

    /// The session ended.
    pub fn end(&mut self, at: (u64, i64), out: &mut Vec<Written>) {
        self.end_header();
        self.flush(at, out);
    }

    fn end_header(&mut self) {
        let Some((name, value)) = self.header.take() else { return };
        let m = &mut self.current;
        match name.as_str() {
            "MESSAGE-ID" => m.msg_id = Some(value),
            "RECEIVED" => {
                if let Some(ip) = received_address(&value)
                    && m.received_path.last() != Some(&ip)
                {
                    m.received_path.push(ip);
                }
                m.second_received = m.first_received.replace(value);
            }
            "IN-REPLY-TO" => m.in_reply_to = Some(value),
            "SUBJECT" => m.subject = Some(value),
            "FROM" => m.from = Some(value),
            "REPLY-TO" => m.reply_to = Some(value),
            "DATE" => m.date = Some(value),
            "TO" => add_all(&mut m.to, mime_addresses(&value)),
            "CC" => add_all(&mut m.cc, mime_addresses(&value)),
            "X-ORIGINATING-IP" => m.x_originating_ip = ip_addresses(&value).into_iter().next(),
            "X-MAILER" | "USER-AGENT" | "X-USER-AGENT" => m.user_agent = Some(value),
            _ => {}
        }
    }
}

fn add_all(set: &mut Vec<String>, items: Vec<String>) {
    for i in items {
        if !set.contains(&i) {
            set.push(i);
        }
    }
}

/// The e-mail addresses in a command's argument (`<a@b.example> SIZE=10`).
fn email_addresses(s: &str) -> Vec<String> {
    s.split(|c: char| matches!(c, '<' | '>' | ',' | ';' | ':') || c.is_whitespace())
        .filter(|t| t.contains('@') && !t.starts_with('@') && !t.ends_with('@'))
        .map(str::to_string)
        .collect()
}

/// A To or Cc header's addresses, each with its display name (Zeek's
/// `split_mime_email_addresses`): split at commas outside quotes.
fn mime_addresses(s: &str) -> Vec<String> {
    let (mut out, mut part, mut quoted) = (Vec::new(), String::new(), false);
    for c in s.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                part.push(c);
            }
            ',' if !quoted => out.push(std::mem::take(&mut part)),
            c => part.push(c),
        }
    }
    out.push(part);
    out.into_iter().map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect()
}

/// The IP addresses written in a header (`[192.0.2.1]`, `(198.51.100.7)`, bare).
fn ip_addresses(s: &str) -> Vec<IpAddr> {
    s.split(|c: char| !(c.is_ascii_hexdigit() || c == '.' || c == ':'))
        .filter_map(|t| t.trim_matches(':').parse::<IpAddr>().ok())
        .filter(|ip| ip.is_ipv4() || s.contains(&format!("[{ip}")) || s.contains(&format!("IPv6:{ip}")))
        .collect()
}

/// The address a Received header traces (Zeek's `find_address_in_smtp_header`: the
/// second one named when there are several, the first otherwise).
fn received_address(value: &str) -> Option<IpAddr> {
    let ips = ip_addresses(value);
    ips.get(1).or(ips.first()).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transaction_is_a_line_as_zeek_writes_it() {
        let (mut s, mut out) = (SmtpSession::default(), Vec::new());
        s.reply("220 mx.example ESMTP", true, (1, 10), &mut out);
        s.command("EHLO", "client.example", (2, 20), &mut out);
        s.reply("250 mx.example", true, (3, 30), &mut out);
        s.command("MAIL", "FROM:<alice@example.org> SIZE=120", (4, 40), &mut out);
        s.command("RCPT", "TO:<bob@example.net>", (5, 50), &mut out);
        s.command("RCPT", "To: <carol@example.net>", (5, 50), &mut out);
        s.command("DATA", "", (6, 60), &mut out);
        s.message_begins();
        for line in [
            "Received: from client.example (client.example [192.0.2.7])",
            "\tby mx.example (198.51.100.2) with ESMTP",
            "Subject: quarterly",
            " figures",
            "From: Alice <alice@example.org>",
            "To: \"Bob, B.\" <bob@example.net>, carol@example.net",
            "X-Mailer: mutt",
            "",
            "Subject: not a header, the body",
        ] {
            s.message_line(line);
        }
        s.message_ends();
        s.reply("250 2.0.0 queued", true, (7, 70), &mut out);
        s.command("QUIT", "", (8, 80), &mut out);
        s.end((9, 90), &mut out);
        assert_eq!(out.len(), 1, "{out:?}");
        let (frame, ts, m) = &out[0];
        assert_eq!((*frame, *ts), (1, 10));
        assert_eq!(m.trans_depth, 1);
        assert_eq!(m.helo.as_deref(), Some("client.example"));
        assert_eq!(m.mailfrom.as_deref(), Some("alice@example.org"));
        assert_eq!(m.rcptto, ["bob@example.net", "carol@example.net"]);
        assert_eq!(m.subject.as_deref(), Some("quarterly figures"));
        assert_eq!(m.to, ["\"Bob, B.\" <bob@example.net>", "carol@example.net"]);
        assert_eq!(m.user_agent.as_deref(), Some("mutt"));
        assert_eq!(m.last_reply.as_deref(), Some("250 2.0.0 queued"));
        assert_eq!(m.received_path, ["198.51.100.2".parse::<IpAddr>().unwrap()]);
        assert!(!m.tls);
    }

    /// A session with no transaction writes nothing; one that upgrades writes `tls`.
    #[test]
    fn only_client_activity_is_written_and_starttls_is() {
        let (mut s, mut out) = (SmtpSession::default(), Vec::new());
        s.command("EHLO", "me", (1, 1), &mut out);
        s.command("QUIT", "", (2, 2), &mut out);
        s.end((3, 3), &mut out);
        assert!(out.is_empty());
        s.command("STARTTLS", "", (4, 4), &mut out);
        s.starttls((5, 5), &mut out);
        assert!(matches!(&out[..], [(_, _, m)] if m.tls && m.helo.as_deref() == Some("me")));
    }

    #[test]
    fn headers_are_bounded() {
        let mut s = SmtpSession::default();
        s.message_begins();
        s.message_line("Subject: x");
        for _ in 0..100_000 {
            s.message_line(" yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy");
        }
        assert!(s.header.as_ref().unwrap().1.len() <= MAX_VALUE);
        for i in 0..10_000 {
            s.message_line(&format!("X-{i}: v"));
        }
        assert!(!s.in_headers);
    }
}

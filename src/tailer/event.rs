//! A valid event as the tailer writes it, and what both parsers (`parse` and `fast_parse`)
//! share to build one: the envelope object, timestamps, lone surrogate escapes.

use std::borrow::Cow;

use chrono::DateTime;

/// A valid event, in the shape of a `raw_events` row (without its source position). Fields
/// borrow from the line where they can.
#[derive(Debug, Clone, PartialEq)]
pub struct Event<'a> {
    pub message_id: Cow<'a, str>,
    pub kind: Cow<'a, str>,
    /// Microseconds since the Unix epoch, UTC.
    pub event_time_us: i64,
    pub user_id: Option<Cow<'a, str>>,
    pub query: Option<Cow<'a, str>>,
    pub term: Option<Cow<'a, str>>,
    pub sticker_ids: Option<Vec<Cow<'a, str>>>,
    /// `properties` exactly as sent (JSON text).
    pub properties: Option<Cow<'a, str>>,
    /// `context` exactly as sent (JSON text).
    pub context: Option<Cow<'a, str>>,
    /// `anonymousId` (a non-string one as its JSON text), also when `userId` is there.
    pub anonymous_id: Option<Cow<'a, str>>,
    /// Every member without a column of its own ([`envelope_object`]).
    pub envelope: Cow<'a, str>,
}

/// The members whose columns keep them exactly: every other one goes in `envelope`.
pub(super) const OWN_COLUMNS: [&str; 4] = ["messageId", "type", "properties", "context"];

/// The members of an event that have no column of their own (the timestamp as sent,
/// `userId`, `anonymousId`, `sentAt`, `integrations`, …) as one JSON object: keys in sorted
/// order, values exactly as sent (numbers as written, escapes kept). With `messageId`,
/// `type`, `properties` and `context`, it gives the event back as it was sent.
pub(super) fn envelope_object<'k>(mut members: Vec<(Cow<'k, str>, &str)>) -> String {
    members.sort_by(|a, b| a.0.cmp(&b.0));
    let size: usize = members.iter().map(|(k, v)| k.len() + v.len() + 4).sum();
    let mut out = String::with_capacity(size + 2);
    out.push('{');
    for (i, (key, value)) in members.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // Most keys need no escaping: written as they are, without serde_json's allocation.
        match key.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
            false => {
                out.push('"');
                out.push_str(key);
                out.push('"');
            }
            true => {
                out.push_str(&serde_json::to_string(key.as_ref()).expect("a string serializes"))
            }
        }
        out.push(':');
        out.push_str(value);
    }
    out.push('}');
    out
}

/// `text` with every `\uXXXX` escape of an unpaired surrogate replaced by `\uFFFD`, an escape
/// of the same length. Backslashes only occur inside JSON strings, so no string tracking is
/// needed; `\\` is skipped as a pair.
pub(super) fn replace_lone_surrogates(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let escape_at = |i: usize| -> Option<u16> {
        let hex = bytes.get(i + 2..i + 6)?;
        (bytes.get(i..i + 2)? == b"\\u")
            .then(|| u16::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok())
            .flatten()
    };
    let mut lone = Vec::new();
    let mut i = 0;
    while let Some(found) = memchr::memchr(b'\\', &bytes[i..]) {
        i += found;
        match escape_at(i) {
            Some(0xD800..=0xDBFF) if matches!(escape_at(i + 6), Some(0xDC00..=0xDFFF)) => i += 12,
            Some(0xD800..=0xDFFF) => {
                lone.push(i);
                i += 6;
            }
            _ => i += 2,
        }
        if i >= bytes.len() {
            break;
        }
    }
    if lone.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut fixed = bytes.to_vec();
    for at in lone {
        fixed[at + 2..at + 6].copy_from_slice(b"FFFD");
    }
    Cow::Owned(String::from_utf8(fixed).expect("ASCII replaced by ASCII"))
}

pub(super) fn parse_timestamp(text: &str) -> Result<i64, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_micros())
        .map_err(|e| format!("field `timestamp` is not an RFC 3339 timestamp ({text:?}: {e})"))
}

//! Turning one log line into an [`Event`] or a readable reason to quarantine it.
//!
//! Pure: bytes in, value out. The validity rules are those of `docs/contract.md` ("Events");
//! every rejection names the field that was wrong so that whoever reads the quarantine
//! can fix the producer.
//!
//! Two decisions the contract leaves open:
//! - `properties` and `context` are kept as the JSON text sent: absent is SQL NULL, a JSON
//!   `null` is the text `null`.
//! - A `\uD800`-style lone surrogate escape is accepted wherever it is, in keys and values,
//!   at any depth: JSON text columns keep it byte for byte; a string decoded into a column
//!   (`messageId`, `query`, sticker ids, …) gets U+FFFD in its place, as it has no UTF-8 form.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::event::{envelope_object, parse_timestamp, replace_lone_surrogates, Event, OWN_COLUMNS};
use super::fast_parse::parse_fast;
use crate::contract::normalize_term;

/// The envelope as it appears on the wire. Values stay raw so that each one can be checked
/// with a message naming it, and `properties`/`context` can be kept byte for byte.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "messageId", borrow)]
    message_id: Option<&'a RawValue>,
    #[serde(rename = "type", borrow)]
    kind: Option<&'a RawValue>,
    #[serde(borrow)]
    timestamp: Option<&'a RawValue>,
    #[serde(rename = "userId", borrow)]
    user_id: Option<&'a RawValue>,
    #[serde(rename = "anonymousId", borrow)]
    anonymous_id: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    properties: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    context: Option<&'a RawValue>,
}

/// `Some` whenever the field is there, `null` included (serde's `Option` maps `null` to
/// `None`); an absent field is `None` through `#[serde(default)]`.
fn present<'de, D>(deserializer: D) -> Result<Option<&'de RawValue>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    <&RawValue>::deserialize(deserializer).map(Some)
}

#[derive(Deserialize, Default)]
struct Properties<'a> {
    #[serde(borrow)]
    query: Option<&'a RawValue>,
    #[serde(borrow)]
    results: Option<&'a RawValue>,
    #[serde(borrow)]
    sticker_id: Option<&'a RawValue>,
    #[serde(borrow)]
    sticker_ids: Option<&'a RawValue>,
}

/// Parses one line (without its line terminator). `Err` holds the quarantine reason.
pub fn parse_line(line: &[u8]) -> Result<Event<'_>, String> {
    match parse_fast(line) {
        Some(event) => Ok(event),
        None => parse_reference(line),
    }
}

/// The reference parser: serde_json and the rules spelled out one by one. It has the last
/// word on every line the fast path passes on, and the wording of every rejection.
pub(super) fn parse_reference(line: &[u8]) -> Result<Event<'static>, String> {
    let text = std::str::from_utf8(line)
        .map_err(|e| format!("invalid UTF-8 at byte {} of the line", e.valid_up_to()))?;
    if !text.trim_start().starts_with('{') {
        return Err("not a JSON object: every line must be one JSON object".into());
    }
    // Parsed with lone surrogates replaced (same length, so positions agree with `text`).
    let parsed = replace_lone_surrogates(text);
    let envelope: Envelope =
        serde_json::from_str(&parsed).map_err(|e| format!("invalid JSON: {e}"))?;
    // Every member, for those without a column of their own (a repeated key: the last one).
    let members: std::collections::HashMap<Cow<str>, &RawValue> =
        serde_json::from_str(&parsed).map_err(|e| format!("invalid JSON: {e}"))?;
    // JSON text columns are cut from the line as sent.
    let as_sent = |raw: &RawValue| {
        let start = raw.get().as_ptr() as usize - parsed.as_ptr() as usize;
        text[start..start + raw.get().len()].to_owned()
    };

    let message_id = required_string(envelope.message_id, "messageId")?;
    let kind = required_string(envelope.kind, "type")?;
    let timestamp = required_string(envelope.timestamp, "timestamp")?;
    let event_time_us = parse_timestamp(&timestamp)?;
    let user_id = match envelope.user_id {
        Some(raw) => Some(lenient_string(raw)),
        None => envelope.anonymous_id.map(lenient_string),
    };

    let typed = TypedFields::extract(&kind, envelope.properties)?;
    let term = typed
        .query
        .as_deref()
        .map(|query| normalize_term(query).into_owned().into());
    Ok(Event {
        message_id: message_id.into(),
        kind: kind.into(),
        event_time_us,
        user_id: user_id.map(Cow::Owned),
        query: typed.query.map(Cow::Owned),
        term,
        sticker_ids: typed
            .sticker_ids
            .map(|ids| ids.into_iter().map(Cow::Owned).collect()),
        properties: envelope.properties.map(|raw| as_sent(raw).into()),
        context: envelope.context.map(|raw| as_sent(raw).into()),
        anonymous_id: envelope.anonymous_id.map(|raw| lenient_string(raw).into()),
        envelope: {
            let sent: Vec<(Cow<str>, String)> = members
                .into_iter()
                .filter(|(key, _)| !OWN_COLUMNS.contains(&key.as_ref()))
                .map(|(key, raw)| (key, as_sent(raw)))
                .collect();
            envelope_object(sent.iter().map(|(k, v)| (k.clone(), v.as_str())).collect()).into()
        },
    })
}

/// The fields that depend on the event type.
struct TypedFields {
    query: Option<String>,
    sticker_ids: Option<Vec<String>>,
}

impl TypedFields {
    fn extract(kind: &str, properties: Option<&RawValue>) -> Result<Self, String> {
        let known = matches!(kind, "search" | "select" | "report");
        let props: Properties = match properties {
            Some(raw) if raw.get().starts_with('{') => serde_json::from_str(raw.get())
                .map_err(|e| format!("invalid field `properties`: {e}"))?,
            Some(raw) if known => {
                return Err(format!(
                    "field `properties` must be an object, found {}",
                    json_kind(raw)
                ))
            }
            _ if known => {
                return Err(format!(
                    "missing field `properties` ({kind} events need it)"
                ))
            }
            _ => Properties::default(),
        };
        if !known {
            // Other types follow the envelope rules alone; keep a string query if there is one.
            let query = props.query.and_then(|raw| string_value(raw).ok());
            return Ok(Self {
                query,
                sticker_ids: None,
            });
        }
        let query = Some(required_field(props.query, "properties.query", false)?);
        let sticker_ids = match kind {
            "search" => match props.results {
                Some(raw) => Some(string_array(raw, "properties.results", false)?),
                None => None,
            },
            "select" => Some(vec![required_field(
                props.sticker_id,
                "properties.sticker_id",
                false,
            )?]),
            _ => match props.sticker_ids {
                Some(raw) => Some(string_array(raw, "properties.sticker_ids", true)?),
                None => return Err("missing field `properties.sticker_ids`".into()),
            },
        };
        Ok(Self { query, sticker_ids })
    }
}

fn required_string(raw: Option<&RawValue>, name: &str) -> Result<String, String> {
    required_field(raw, name, true)
}

fn required_field(raw: Option<&RawValue>, name: &str, non_empty: bool) -> Result<String, String> {
    let raw = raw.ok_or_else(|| format!("missing field `{name}`"))?;
    let value = string_value(raw)
        .map_err(|found| format!("field `{name}` must be a string, found {found}"))?;
    if non_empty && value.is_empty() {
        return Err(format!("field `{name}` must not be empty"));
    }
    Ok(value)
}

fn string_array(raw: &RawValue, name: &str, non_empty: bool) -> Result<Vec<String>, String> {
    let items: Vec<&RawValue> = serde_json::from_str(raw.get()).map_err(|_| {
        format!(
            "field `{name}` must be an array of strings, found {}",
            json_kind(raw)
        )
    })?;
    if non_empty && items.is_empty() {
        return Err(format!("field `{name}` must not be an empty array"));
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            string_value(item)
                .map_err(|found| format!("field `{name}[{i}]` must be a string, found {found}"))
        })
        .collect()
}

/// The string a raw JSON value holds, or the kind of value it is instead.
fn string_value(raw: &RawValue) -> Result<String, &'static str> {
    if raw.get().starts_with('"') {
        serde_json::from_str(raw.get()).map_err(|_| "a malformed string")
    } else {
        Err(json_kind(raw))
    }
}

/// `userId`/`anonymousId` are not part of validity: a non-string id is kept as its JSON text.
fn lenient_string(raw: &RawValue) -> String {
    string_value(raw).unwrap_or_else(|_| raw.get().to_owned())
}

fn json_kind(raw: &RawValue) -> &'static str {
    match raw.get().as_bytes().first() {
        Some(b'"') => "a string",
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str) -> Event<'_> {
        parse_line(line.as_bytes()).unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    fn reason(line: &[u8]) -> String {
        parse_line(line).expect_err("line should be quarantined")
    }

    #[test]
    fn the_three_design_examples_parse() {
        let search = ok(
            r#"{"messageId":"m-1","type":"search","timestamp":"2026-11-23T10:00:00.123Z","userId":"u-42","context":{"app":{"version":"5.1.0"},"os":{"name":"iOS"}},"properties":{"query":"Cat in a park","results":["st_000001","st_000002"],"latency_ms":18}}"#,
        );
        assert_eq!(search.message_id, "m-1");
        assert_eq!(search.event_time_us, 1_795_428_000_123_000);
        assert_eq!(search.user_id.as_deref(), Some("u-42"));
        assert_eq!(search.term.as_deref(), Some("cat in a park"));
        assert_eq!(
            search.sticker_ids,
            Some(vec!["st_000001".into(), "st_000002".into()])
        );
        assert_eq!(
            search.properties.as_deref(),
            Some(
                r#"{"query":"Cat in a park","results":["st_000001","st_000002"],"latency_ms":18}"#
            )
        );
        assert_eq!(
            search.context.as_deref(),
            Some(r#"{"app":{"version":"5.1.0"},"os":{"name":"iOS"}}"#)
        );

        let select = ok(
            r#"{"messageId":"m-2","type":"select","timestamp":"2026-11-23T10:00:04Z","userId":"u-42","properties":{"query":"Cat in a park","sticker_id":"st_000002","position":1}}"#,
        );
        assert_eq!(select.sticker_ids, Some(vec!["st_000002".into()]));
        assert_eq!(select.context, None);

        let report = ok(
            r#"{"messageId":"m-3","type":"report","timestamp":"2026-11-23T12:00:00+02:00","anonymousId":"a-9","properties":{"query":"cat in a park","sticker_ids":["st_000007","st_000009"],"reason":"offensive"}}"#,
        );
        assert_eq!(report.user_id.as_deref(), Some("a-9"));
        // 12:00 at +02:00 is 10:00 UTC.
        assert_eq!(report.event_time_us, 1_795_428_000_000_000);
    }

    #[test]
    fn user_id_falls_back_to_anonymous_id_when_null() {
        let e = ok(
            r#"{"messageId":"m","type":"x","timestamp":"2026-01-01T00:00:00Z","userId":null,"anonymousId":"a"}"#,
        );
        assert_eq!(e.user_id.as_deref(), Some("a"));
        let e = ok(r#"{"messageId":"m","type":"x","timestamp":"2026-01-01T00:00:00Z","userId":7}"#);
        assert_eq!(e.user_id.as_deref(), Some("7"));
    }

    #[test]
    fn a_json_null_is_kept_as_null_text_and_an_absent_field_as_none() {
        let e = ok(
            r#"{"messageId":"m","type":"x","timestamp":"2026-01-01T00:00:00Z","properties":null,"context":null}"#,
        );
        assert_eq!(e.properties.as_deref(), Some("null"));
        assert_eq!(e.context.as_deref(), Some("null"));
        let e = ok(r#"{"messageId":"m","type":"x","timestamp":"2026-01-01T00:00:00Z"}"#);
        assert_eq!((e.properties, e.context), (None, None));
        let why = reason(
            br#"{"messageId":"m","type":"search","timestamp":"2026-01-01T00:00:00Z","properties":null}"#,
        );
        assert!(
            why.contains("`properties` must be an object, found null"),
            "{why}"
        );
    }

    #[test]
    fn lone_surrogates_are_accepted_in_keys_and_values_at_any_depth() {
        let line = r#"{"messageId":"m\uD800","type":"search","timestamp":"2026-01-01T00:00:00Z","\uDC00top":1,"context":{"k\uD800":{"\uDFFFdeep":"v\uDBFF"}},"properties":{"query":"cat\uD800","q\uDC00":["\uD83D\uDE00","\\uD800"]}}"#;
        let e = ok(line);
        assert_eq!(e.message_id, "m\u{FFFD}");
        assert_eq!(e.query.as_deref(), Some("cat\u{FFFD}"));
        // JSON text columns are byte for byte as sent, escapes included.
        assert_eq!(
            e.properties.as_deref(),
            Some(r#"{"query":"cat\uD800","q\uDC00":["\uD83D\uDE00","\\uD800"]}"#)
        );
        assert_eq!(
            e.context.as_deref(),
            Some(r#"{"k\uD800":{"\uDFFFdeep":"v\uDBFF"}}"#)
        );
        // A valid pair and an escaped backslash are left alone.
        assert_eq!(
            replace_lone_surrogates(r#""\uD83D\uDE00 \\uD800""#),
            r#""\uD83D\uDE00 \\uD800""#
        );
        assert_eq!(
            replace_lone_surrogates(r#""\uD83D\uD83D\uDE00""#),
            r#""\uFFFD\uD83D\uDE00""#
        );
        assert_eq!(replace_lone_surrogates(r#""x\u""#), r#""x\u""#);
    }

    #[test]
    fn other_types_need_only_the_envelope() {
        let e = ok(
            r#"{"messageId":"m","type":"app_open","timestamp":"2026-01-01T00:00:00.123456789-05:30","properties":[1,2]}"#,
        );
        assert_eq!(e.kind, "app_open");
        assert_eq!(e.query, None);
        assert_eq!(e.sticker_ids, None);
        assert_eq!(e.properties.as_deref(), Some("[1,2]"));
    }

    #[test]
    fn search_query_may_be_empty_and_results_absent() {
        let e = ok(
            r#"{"messageId":"m","type":"search","timestamp":"2026-01-01T00:00:00Z","properties":{"query":""}}"#,
        );
        assert_eq!(e.term.as_deref(), Some(""));
        assert_eq!(e.sticker_ids, None);
    }

    #[test]
    fn each_kind_of_bad_line_names_what_is_wrong() {
        let cases: &[(&[u8], &str)] = &[
            (b"{not json", "invalid JSON"),
            (b"[1,2]", "not a JSON object"),
            (b"\xff\xfe{}", "invalid UTF-8 at byte 0"),
            (br#"{"type":"x","timestamp":"2026-01-01T00:00:00Z"}"#, "missing field `messageId`"),
            (br#"{"messageId":"","type":"x","timestamp":"2026-01-01T00:00:00Z"}"#, "`messageId` must not be empty"),
            (br#"{"messageId":5,"type":"x","timestamp":"2026-01-01T00:00:00Z"}"#, "`messageId` must be a string, found a number"),
            (br#"{"messageId":"m","timestamp":"2026-01-01T00:00:00Z"}"#, "missing field `type`"),
            (br#"{"messageId":"m","type":"x","timestamp":"yesterday"}"#, "not an RFC 3339 timestamp"),
            (br#"{"messageId":"m","type":"x","timestamp":"2026-01-01 00:00:00"}"#, "not an RFC 3339 timestamp"),
            (br#"{"messageId":"m","type":"search","timestamp":"2026-01-01T00:00:00Z"}"#, "missing field `properties`"),
            (br#"{"messageId":"m","type":"search","timestamp":"2026-01-01T00:00:00Z","properties":{}}"#, "missing field `properties.query`"),
            (br#"{"messageId":"m","type":"search","timestamp":"2026-01-01T00:00:00Z","properties":{"query":"a","results":["x",3]}}"#, "`properties.results[1]` must be a string, found a number"),
            (br#"{"messageId":"m","type":"select","timestamp":"2026-01-01T00:00:00Z","properties":{"query":"a"}}"#, "missing field `properties.sticker_id`"),
            (br#"{"messageId":"m","type":"report","timestamp":"2026-01-01T00:00:00Z","properties":{"query":"a","sticker_ids":[]}}"#, "`properties.sticker_ids` must not be an empty array"),
            (br#"{"messageId":"m","type":"report","timestamp":"2026-01-01T00:00:00Z","properties":{"query":"a","sticker_ids":"st_1"}}"#, "must be an array of strings, found a string"),
            (br#"{"messageId":"m","type":"report","timestamp":"2026-01-01T00:00:00Z","properties":"x"}"#, "`properties` must be an object"),
            (br#"{"messageId":"a","messageId":"b","type":"x","timestamp":"2026-01-01T00:00:00Z"}"#, "duplicate field `messageId`"),
        ];
        for (line, expected) in cases {
            let got = reason(line);
            assert!(
                got.contains(expected),
                "{}: got {got:?}, expected it to contain {expected:?}",
                String::from_utf8_lossy(line)
            );
        }
    }
}

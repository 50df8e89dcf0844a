//! The fast path for a well-formed event line: one pass over its bytes that checks the JSON
//! and borrows every field from the line (a string is copied only when it has escapes).
//!
//! It never rejects a line. Whatever it is not sure of returns `None`, and the reference
//! parser ([`super::parse`]) decides and words the quarantine reason: any JSON or validity
//! error, a duplicate key, an escaped key in the envelope or `properties`, nesting deeper
//! than [`MAX_DEPTH`]. So the quarantine is the reference's by construction, and
//! randomized tests hold the accepted events to the reference's, field for field.

use std::borrow::Cow;

use chrono::NaiveDate;

use super::event::{envelope_object, parse_timestamp, replace_lone_surrogates, Event, OWN_COLUMNS};
use crate::contract::normalize_term;
use crate::json_bytes::find_quote_backslash_or_control;

/// Deeper values go to the reference parser (serde_json's own limit is 128).
const MAX_DEPTH: u32 = 64;

/// The event on `line`, when the line is a plainly valid one.
pub fn parse_fast(line: &[u8]) -> Option<Event<'_>> {
    let text = std::str::from_utf8(line).ok()?;
    let mut cursor = Cursor { text, pos: 0 };
    let mut envelope = Envelope::default();
    cursor.skip_whitespace();
    cursor.members(|cursor, key| {
        let key = key?;
        // `properties` is read for its fields as it is checked, in the one pass.
        let value = match key {
            "properties" if cursor.peek() == Some(b'{') => {
                let start = cursor.pos;
                envelope.props = Properties::read(cursor, 1)?;
                Value {
                    start,
                    end: cursor.pos,
                    kind: Kind::Object,
                }
            }
            _ => cursor.value(1)?,
        };
        envelope.set(key, value)
    })?;
    cursor.skip_whitespace();
    if cursor.pos != text.len() {
        return None;
    }
    envelope.event(text)
}

/// A checked JSON value: where it is on the line and what it is.
#[derive(Clone, Copy, Debug)]
struct Value {
    start: usize,
    end: usize,
    kind: Kind,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Null,
    String {
        escaped: bool,
    },
    Object,
    Array,
    /// A number or a boolean.
    Scalar,
}

/// The envelope's fields as found; `None` when absent.
#[derive(Default)]
struct Envelope<'a> {
    /// Members without a column of their own, in line order.
    others: Vec<(&'a str, Value)>,
    message_id: Option<Value>,
    kind: Option<Value>,
    timestamp: Option<Value>,
    user_id: Option<Value>,
    anonymous_id: Option<Value>,
    properties: Option<Value>,
    /// The fields of `properties`, when it is an object.
    props: Properties<'a>,
    context: Option<Value>,
}

impl<'a> Envelope<'a> {
    /// Records a field; a second `messageId` (say) is the reference's to reject, and an
    /// escaped key the reference's to read.
    fn set(&mut self, key: &'a str, value: Value) -> Option<()> {
        if !OWN_COLUMNS.contains(&key) {
            // A repeated member: the reference decides which one stays.
            if self.others.iter().any(|(seen, _)| *seen == key) {
                return None;
            }
            self.others.push((key, value));
        }
        let slot = match key {
            "messageId" => &mut self.message_id,
            "type" => &mut self.kind,
            "timestamp" => &mut self.timestamp,
            "userId" => &mut self.user_id,
            "anonymousId" => &mut self.anonymous_id,
            "properties" => &mut self.properties,
            "context" => &mut self.context,
            _ => return Some(()),
        };
        set_once(slot, value)
    }

    /// The validity rules of `docs/contract.md`, as `parse::parse_line` applies them.
    fn event(self, text: &'a str) -> Option<Event<'a>> {
        let message_id = non_empty_string(text, self.message_id)?;
        let kind = non_empty_string(text, self.kind)?;
        let timestamp = non_empty_string(text, self.timestamp)?;
        let event_time_us =
            utc_timestamp_us(&timestamp).or_else(|| parse_timestamp(&timestamp).ok())?;
        let user_id = not_null(self.user_id)
            .or(not_null(self.anonymous_id))
            .map(|value| lenient_string(text, value));
        let known = matches!(&*kind, "search" | "select" | "report");
        let props = match self.properties {
            Some(value) if value.kind == Kind::Object => self.props,
            _ if known => return None,
            _ => Properties::default(),
        };
        let (query, sticker_ids) = if known {
            let query = string(text, props.query)?;
            let sticker_ids = match &*kind {
                "search" => match props.results {
                    Some(results) => Some(results.strings?),
                    None => None,
                },
                "select" => Some(vec![string(text, props.sticker_id)?]),
                // A report names at least one sticker.
                _ => Some(props.sticker_ids?.strings.filter(|ids| !ids.is_empty())?),
            };
            (Some(query), sticker_ids)
        } else {
            (string(text, props.query), None)
        };
        let as_sent = |value: Value| Cow::Borrowed(&text[value.start..value.end]);
        let members = self
            .others
            .iter()
            .map(|(key, value)| (Cow::Borrowed(*key), &text[value.start..value.end]))
            .collect();
        Some(Event {
            anonymous_id: not_null(self.anonymous_id).map(|value| lenient_string(text, value)),
            envelope: Cow::Owned(envelope_object(members)),
            term: query.as_ref().map(|query| match query {
                Cow::Borrowed(query) => normalize_term(query),
                Cow::Owned(query) => Cow::Owned(normalize_term(query).into_owned()),
            }),
            message_id,
            kind,
            event_time_us,
            user_id,
            query,
            sticker_ids,
            properties: self.properties.map(as_sent),
            context: self.context.map(as_sent),
        })
    }
}

/// The fields of `properties` the event types use (`null` counts as absent).
#[derive(Default)]
struct Properties<'a> {
    query: Option<Value>,
    results: Option<Listed<'a>>,
    sticker_id: Option<Value>,
    sticker_ids: Option<Listed<'a>>,
}

impl<'a> Properties<'a> {
    /// Reads (and checks) the object at the cursor, a value at `depth`.
    fn read(cursor: &mut Cursor<'a>, depth: u32) -> Option<Self> {
        let mut props = Self::default();
        cursor.members(|cursor, key| match key? {
            "query" => set_once(&mut props.query, cursor.value(depth + 1)?),
            "results" => set_once(&mut props.results, cursor.listed(depth + 1)?),
            "sticker_id" => set_once(&mut props.sticker_id, cursor.value(depth + 1)?),
            "sticker_ids" => set_once(&mut props.sticker_ids, cursor.listed(depth + 1)?),
            _ => cursor.value(depth + 1).map(drop),
        })?;
        props.query = not_null(props.query);
        props.results = props.results.filter(|listed| listed.kind != Kind::Null);
        props.sticker_id = not_null(props.sticker_id);
        props.sticker_ids = props.sticker_ids.filter(|listed| listed.kind != Kind::Null);
        Some(props)
    }
}

/// A field that should hold sticker ids: what kind of value it is, and its items when it
/// is an array of strings only.
struct Listed<'a> {
    kind: Kind,
    strings: Option<Vec<Cow<'a, str>>>,
}

/// Records a field; `None` (the reference's to reject) if it was already there, even as `null`.
fn set_once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    slot.replace(value).is_none().then_some(())
}

fn not_null(value: Option<Value>) -> Option<Value> {
    value.filter(|v| v.kind != Kind::Null)
}

/// The string a value holds (`None` for absent, `null` or another kind of value).
fn string(text: &str, value: Option<Value>) -> Option<Cow<'_, str>> {
    let value = value?;
    let Kind::String { escaped } = value.kind else {
        return None;
    };
    let inner = &text[value.start + 1..value.end - 1];
    Some(match escaped {
        false => Cow::Borrowed(inner),
        true => Cow::Owned(unescape(inner)),
    })
}

fn non_empty_string(text: &str, value: Option<Value>) -> Option<Cow<'_, str>> {
    string(text, not_null(value)).filter(|s| !s.is_empty())
}

/// The microseconds since the epoch of a timestamp in the form nearly every event sends,
/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, read without chrono's general RFC 3339 parser (which
/// took ~2% of ingest). `None` for any other form (offsets, leap seconds, lower case) and
/// for dates that do not exist: chrono's parser decides those.
fn utc_timestamp_us(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let at = |i: usize, byte: u8| bytes.get(i) == Some(&byte);
    let shape = at(4, b'-') && at(7, b'-') && at(10, b'T') && at(13, b':') && at(16, b':');
    if !shape || bytes.last() != Some(&b'Z') || bytes.len() < 20 {
        return None;
    }
    let number = |digits: &[u8]| {
        digits.iter().try_fold(0i64, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
        })
    };
    let (year, month, day) = (
        number(&bytes[0..4])?,
        number(&bytes[5..7])?,
        number(&bytes[8..10])?,
    );
    let (hour, minute, second) = (
        number(&bytes[11..13])?,
        number(&bytes[14..16])?,
        number(&bytes[17..19])?,
    );
    let micros = match &bytes[19..bytes.len() - 1] {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            number(digits)? * 10i64.pow(9 - digits.len() as u32) / 1000
        }
        _ => return None,
    };
    let time = NaiveDate::from_ymd_opt(year as i32, month as u32, day as u32)?.and_hms_opt(
        hour as u32,
        minute as u32,
        second as u32,
    )?;
    Some(time.and_utc().timestamp() * 1_000_000 + micros)
}

/// A user id that is not a string is kept as its JSON text, lone surrogates replaced as the
/// reference does.
fn lenient_string(text: &str, value: Value) -> Cow<'_, str> {
    match value.kind {
        Kind::String { .. } => string(text, Some(value)).expect("a string"),
        _ => replace_lone_surrogates(&text[value.start..value.end]),
    }
}

/// A string's content with its escapes decoded. A surrogate escape without its pair becomes
/// U+FFFD, as the reference's `replace_lone_surrogates` does. `inner` has been checked.
fn unescape(inner: &str) -> String {
    let mut out = String::with_capacity(inner.len());
    let mut rest = inner;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let (decoded, used) = match rest.as_bytes()[at + 1] {
            b'u' => unicode_escape(&rest[at..]),
            b'b' => ('\u{8}', 2),
            b'f' => ('\u{c}', 2),
            b'n' => ('\n', 2),
            b'r' => ('\r', 2),
            b't' => ('\t', 2),
            other => (other as char, 2),
        };
        out.push(decoded);
        rest = &rest[at + used..];
    }
    out.push_str(rest);
    out
}

/// The character of the `\uXXXX` escape (or surrogate pair) that `escape` starts with, and
/// the bytes it used.
fn unicode_escape(escape: &str) -> (char, usize) {
    let unit = |at: usize| {
        let hex = escape.get(at..at + 6)?.strip_prefix("\\u")?;
        u32::from_str_radix(hex, 16).ok()
    };
    let first = unit(0).expect("checked escape");
    match first {
        0xD800..=0xDBFF => match unit(6) {
            Some(low @ 0xDC00..=0xDFFF) => {
                let c = 0x10000 + ((first - 0xD800) << 10) + (low - 0xDC00);
                (
                    char::from_u32(c).expect("a surrogate pair is a character"),
                    12,
                )
            }
            _ => (char::REPLACEMENT_CHARACTER, 6),
        },
        _ => (
            char::from_u32(first).unwrap_or(char::REPLACEMENT_CHARACTER),
            6,
        ),
    }
}

/// A position on the line, moving over checked JSON.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.pos += 1;
        Some(byte)
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.next()? == byte).then_some(())
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\t' | b'\r')) {
            self.pos += 1;
        }
    }

    fn value(&mut self, depth: u32) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        let start = self.pos;
        let kind = match self.peek()? {
            b'"' => return self.string(),
            b'{' => {
                self.members(|cursor, _| cursor.value(depth + 1).map(drop))?;
                Kind::Object
            }
            b'[' => {
                self.array(depth, |_| Some(()))?;
                Kind::Array
            }
            b'n' => {
                self.literal("null")?;
                Kind::Null
            }
            b't' => {
                self.literal("true")?;
                Kind::Scalar
            }
            b'f' => {
                self.literal("false")?;
                Kind::Scalar
            }
            _ => {
                self.number()?;
                Kind::Scalar
            }
        };
        Some(Value {
            start,
            end: self.pos,
            kind,
        })
    }

    /// An object, whose members' values `member` reads: it gets the cursor at the value and
    /// the member's key (`None` if it has escapes).
    fn members(
        &mut self,
        mut member: impl FnMut(&mut Self, Option<&'a str>) -> Option<()>,
    ) -> Option<()> {
        self.eat(b'{')?;
        self.skip_whitespace();
        if self.peek()? == b'}' {
            self.pos += 1;
            return Some(());
        }
        loop {
            let key = self.string()?;
            let plain = key.kind == (Kind::String { escaped: false });
            let name = plain.then(|| &self.text[key.start + 1..key.end - 1]);
            self.skip_whitespace();
            self.eat(b':')?;
            self.skip_whitespace();
            member(self, name)?;
            self.skip_whitespace();
            match self.next()? {
                b',' => self.skip_whitespace(),
                b'}' => return Some(()),
                _ => return None,
            }
        }
    }

    /// A value at `depth` that should be an array of strings, those strings gathered as it
    /// is checked.
    fn listed(&mut self, depth: u32) -> Option<Listed<'a>> {
        if self.peek()? != b'[' || depth > MAX_DEPTH {
            let kind = self.value(depth)?.kind;
            return Some(Listed {
                kind,
                strings: None,
            });
        }
        // One allocation for the usual list of up to 16 stickers.
        let mut strings = Some(Vec::with_capacity(16));
        let text = self.text;
        self.array(depth, |item| {
            match (&mut strings, item.kind) {
                (Some(items), Kind::String { .. }) => items.push(string(text, Some(item))?),
                _ => strings = None,
            }
            Some(())
        })?;
        Some(Listed {
            kind: Kind::Array,
            strings,
        })
    }

    fn array(&mut self, depth: u32, mut item: impl FnMut(Value) -> Option<()>) -> Option<()> {
        self.eat(b'[')?;
        self.skip_whitespace();
        if self.peek()? == b']' {
            self.pos += 1;
            return Some(());
        }
        loop {
            item(self.value(depth + 1)?)?;
            self.skip_whitespace();
            match self.next()? {
                b',' => self.skip_whitespace(),
                b']' => return Some(()),
                _ => return None,
            }
        }
    }

    /// A string: JSON escapes only, no raw control characters.
    fn string(&mut self) -> Option<Value> {
        let start = self.pos;
        self.eat(b'"')?;
        let bytes = self.text.as_bytes();
        let mut escaped = false;
        loop {
            self.pos += find_quote_backslash_or_control(&bytes[self.pos..])?;
            match bytes[self.pos] {
                b'"' => {
                    self.pos += 1;
                    return Some(Value {
                        start,
                        end: self.pos,
                        kind: Kind::String { escaped },
                    });
                }
                b'\\' => {
                    escaped = true;
                    self.pos += match *bytes.get(self.pos + 1)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => 2,
                        b'u' if is_hex4(bytes.get(self.pos + 2..self.pos + 6)?) => 6,
                        _ => return None,
                    };
                }
                _ => return None,
            }
        }
    }

    fn literal(&mut self, word: &str) -> Option<()> {
        self.text[self.pos..]
            .starts_with(word)
            .then(|| self.pos += word.len())
    }

    /// JSON's number grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    fn number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.next()? {
            b'0' => {}
            b'1'..=b'9' => self.skip_digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            self.digits()?;
        }
        Some(())
    }

    /// One digit or more.
    fn digits(&mut self) -> Option<()> {
        self.next().filter(u8::is_ascii_digit)?;
        self.skip_digits();
        Some(())
    }

    fn skip_digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
    }
}

fn is_hex4(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_hexdigit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tailer::parse::parse_reference;
    use rand::seq::{IndexedRandom, SliceRandom};
    use rand::{rngs::StdRng, Rng, SeedableRng};

    /// Random event lines, mostly valid, with the escapes, spacing and odd values the
    /// contract allows, and now and then a line the fast path must leave to the reference.
    struct Lines(StdRng);

    impl Lines {
        fn pick<T: Copy>(&mut self, items: &[T]) -> T {
            *items.choose(&mut self.0).unwrap()
        }

        fn chance(&mut self, p: f64) -> bool {
            self.0.random_bool(p)
        }

        fn space(&mut self) -> &'static str {
            self.pick(&["", "", "", "", " ", "\t", " \r\n "])
        }

        fn string(&mut self) -> String {
            let pieces = [
                "cat",
                "Cat In",
                "  ",
                "ｃａｔ",
                "é",
                "😀",
                "\u{3000}",
                "\\n",
                "\\\"",
                "\\\\",
                "\\/",
                "\\u0041",
                "\\u00e9",
                "\\uD83D\\uDE00",
                "\\uD800",
                "\\uDC00x",
                "\\u0000",
                "\\t",
                "\\b\\f\\r",
                "park",
                "0123456789abcdef",
            ];
            let n = self.0.random_range(0..4);
            let body: String = (0..n).map(|_| self.pick(&pieces)).collect();
            format!("\"{body}\"")
        }

        fn number(&mut self) -> String {
            self.pick(&[
                "0",
                "-1",
                "12",
                "3.25",
                "-0.5e10",
                "1E+2",
                "7e-3",
                "123456789012345678901234567890",
            ])
            .to_owned()
        }

        fn value(&mut self, depth: u32) -> String {
            let choice = self.0.random_range(0..if depth > 3 { 4 } else { 6 });
            match choice {
                0 => self.string(),
                1 => self.number(),
                2 => self.pick(&["true", "false"]).to_owned(),
                3 => "null".to_owned(),
                4 => {
                    let n = self.0.random_range(0..4);
                    let members = (0..n)
                        .map(|_| (self.string(), self.value(depth + 1)))
                        .collect();
                    self.object(members)
                }
                _ => {
                    let n = self.0.random_range(0..4);
                    let items: Vec<String> = (0..n).map(|_| self.value(depth + 1)).collect();
                    self.array(&items)
                }
            }
        }

        fn array(&mut self, items: &[String]) -> String {
            let sep = format!("{},{}", self.space(), self.space());
            format!("[{}{}{}]", self.space(), items.join(&sep), self.space())
        }

        fn object(&mut self, mut members: Vec<(String, String)>) -> String {
            members.shuffle(&mut self.0);
            let members: Vec<String> = members
                .into_iter()
                .map(|(k, v)| format!("{k}{}:{}{v}", self.space(), self.space()))
                .collect();
            let sep = format!("{},{}", self.space(), self.space());
            format!("{{{}{}{}}}", self.space(), members.join(&sep), self.space())
        }

        fn string_array(&mut self) -> String {
            let n = self.0.random_range(0..4);
            let mut items: Vec<String> = (0..n).map(|_| self.string()).collect();
            if self.chance(0.05) {
                items.push(self.value(2));
            }
            self.array(&items)
        }

        fn properties(&mut self) -> String {
            let mut members = Vec::new();
            if self.chance(0.95) {
                let query = if self.chance(0.95) {
                    self.string()
                } else {
                    self.value(2)
                };
                members.push(("\"query\"".to_owned(), query));
            }
            for key in ["\"results\"", "\"sticker_ids\""] {
                if self.chance(0.5) {
                    let value = if self.chance(0.9) {
                        self.string_array()
                    } else {
                        self.value(2)
                    };
                    members.push((key.to_owned(), value));
                }
            }
            if self.chance(0.5) {
                let id = if self.chance(0.95) {
                    self.string()
                } else {
                    self.value(2)
                };
                members.push(("\"sticker_id\"".to_owned(), id));
            }
            for _ in 0..self.0.random_range(0..3) {
                let (key, value) = (
                    self.pick(&["\"latency_ms\"", "\"reason\"", "\"x\""]),
                    self.value(1),
                );
                members.push((key.to_owned(), value));
            }
            if self.chance(0.02) {
                members.push(("\"query\"".to_owned(), "null".to_owned()));
            }
            self.object(members)
        }

        fn line(&mut self) -> String {
            let mut members = Vec::new();
            let mut add = |lines: &mut Self, key: &str, value: String| {
                // Now and then an escaped key, which the reference reads as the same key.
                let key = match lines.chance(0.01) {
                    true => format!("\"\\u{:04x}{}", key.as_bytes()[0], &key[1..]),
                    false => format!("\"{key}\""),
                };
                members.push((key, value));
            };
            let id = match self.0.random_range(0..40) {
                0 => "\"\"".to_owned(),
                1 => self.value(1),
                _ => format!("\"m-{}\"", self.0.random_range(0..1000)),
            };
            add(self, "messageId", id);
            let kind = self.pick(&[
                "\"search\"",
                "\"select\"",
                "\"report\"",
                "\"app_open\"",
                "\"se\\u0061rch\"",
            ]);
            add(self, "type", kind.to_owned());
            let timestamp = self.pick(&[
                "\"2026-11-23T10:00:00Z\"",
                "\"2026-11-23T23:59:59.999999+05:30\"",
                "\"2026-11-23T10:00:00.123456789-01:00\"",
                "\"2026-11-23t10:00:00z\"",
                "\"2026-11-23 10:00:00\"",
                "\"yesterday\"",
            ]);
            add(self, "timestamp", timestamp.to_owned());
            for key in ["userId", "anonymousId"] {
                if self.chance(0.6) {
                    let user = match self.0.random_range(0..20) {
                        0 => "null".to_owned(),
                        1 => self.value(1),
                        _ => self.string(),
                    };
                    add(self, key, user);
                }
            }
            if self.chance(0.95) {
                let props = if self.chance(0.95) {
                    self.properties()
                } else {
                    self.value(1)
                };
                add(self, "properties", props);
            }
            if self.chance(0.5) {
                let context = self.value(0);
                add(self, "context", context);
            }
            if self.chance(0.3) {
                let value = self.value(1);
                add(self, "extra", value);
            }
            if self.chance(0.01) {
                add(self, "type", "\"search\"".to_owned());
            }
            format!("{}{}{}", self.space(), self.object(members), self.space())
        }

        /// `line` with one byte deleted, inserted, replaced, or the line cut short.
        fn damage(&mut self, line: &str) -> Vec<u8> {
            let mut bytes = line.as_bytes().to_vec();
            let at = self.0.random_range(0..bytes.len());
            let byte = self.pick(b"\"\\,:{}[]0-e.unt \x01\x7f\xff");
            match self.0.random_range(0..4) {
                0 => drop(bytes.remove(at)),
                1 => bytes.insert(at, byte),
                2 => bytes[at] = byte,
                _ => bytes.truncate(at),
            }
            bytes
        }
    }

    /// Checks the fast path against the reference on `line`; whether it took the line.
    fn agrees(line: &[u8]) -> bool {
        let reference = parse_reference(line);
        match parse_fast(line) {
            Some(fast) => {
                assert_eq!(
                    Ok(&fast),
                    reference.as_ref(),
                    "{}",
                    String::from_utf8_lossy(line)
                );
                true
            }
            None => false,
        }
    }

    #[test]
    fn accepts_only_what_the_reference_accepts_and_reads_it_the_same() {
        let mut lines = Lines(StdRng::seed_from_u64(14));
        let (mut valid, mut taken, mut damaged_taken) = (0, 0, 0);
        for _ in 0..40_000 {
            let line = lines.line();
            let reference_ok = parse_reference(line.as_bytes()).is_ok();
            let fast_ok = agrees(line.as_bytes());
            valid += reference_ok as u32;
            taken += fast_ok as u32;
            for _ in 0..3 {
                damaged_taken += agrees(&lines.damage(&line)) as u32;
            }
        }
        // Both kinds of line are exercised, and the fast path takes nearly every valid one.
        assert!(valid > 5_000 && valid < 35_000, "{valid} valid lines");
        assert!(
            taken as f64 > 0.95 * valid as f64,
            "{taken} of {valid} valid lines taken"
        );
        assert!(damaged_taken > 1_000, "{damaged_taken}");
    }

    #[test]
    fn leaves_what_it_is_not_sure_of_to_the_reference() {
        let base = r#""type":"x","timestamp":"2026-01-01T00:00:00Z""#;
        for line in [
            format!(r#"{{"messageId":"m",{base},"messageId":"n"}}"#),
            format!(r#"{{"\u006dessageId":"m",{base}}}"#),
            format!(
                r#"{{"messageId":"m",{base},"context":{}}}"#,
                "[".repeat(70) + &"]".repeat(70)
            ),
            format!(r#"{{"messageId":"m",{base},"properties":{{"query":null,"query":"a"}}}}"#),
        ] {
            assert!(parse_fast(line.as_bytes()).is_none(), "{line}");
        }
        let user = format!(r#"{{"messageId":"m",{base},"userId":{{"a\uD800":"b"}}}}"#);
        let event = parse_fast(user.as_bytes()).unwrap();
        assert_eq!(event.user_id.as_deref(), Some(r#"{"a\uFFFD":"b"}"#));
        assert_eq!(Ok(event), parse_reference(user.as_bytes()));
    }

    #[test]
    fn timestamps_read_without_chrono_are_read_as_chrono_reads_them() {
        let mut rng = StdRng::seed_from_u64(21);
        let mut read = 0;
        for _ in 0..100_000 {
            let mut text = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                rng.random_range(900..2200),
                rng.random_range(0..14),
                rng.random_range(0..33),
                rng.random_range(0..25),
                rng.random_range(0..61),
                rng.random_range(0..62),
            );
            if rng.random_bool(0.7) {
                let digits = rng.random_range(0..12);
                text.push('.');
                text.extend((0..digits).map(|_| char::from(b'0' + rng.random_range(0..10))));
            }
            text.push_str(["Z", "Z", "z", "+02:00", ""][rng.random_range(0..5)]);
            if rng.random_bool(0.05) {
                text = text.replacen('T', " ", 1);
            }
            let chrono = parse_timestamp(&text).ok();
            if let Some(fast) = utc_timestamp_us(&text) {
                assert_eq!(Some(fast), chrono, "{text}");
                read += 1;
            }
        }
        assert!(read > 10_000, "{read} read without chrono");
        assert_eq!(
            utc_timestamp_us("2026-11-23T10:00:00.123456789Z"),
            Some(1_795_428_000_123_456)
        );
        assert_eq!(utc_timestamp_us("1969-12-31T23:59:59.5Z"), Some(-500_000));
    }

    #[test]
    fn borrows_plain_strings_and_decodes_escaped_ones() {
        let line = br#"{"messageId":"m-1","type":"search","timestamp":"2026-11-23T10:00:00Z","properties":{"query":"cat \u00e9\uD83D\uDE00\uD800","results":["a"]}}"#;
        let event = parse_fast(line).unwrap();
        assert!(matches!(event.message_id, Cow::Borrowed("m-1")));
        assert_eq!(event.query.as_deref(), Some("cat é😀\u{FFFD}"));
        assert!(matches!(event.term, Some(Cow::Owned(_))));
        assert_eq!(Ok(event), parse_reference(line));
    }

    #[test]
    fn the_generated_logs_are_read_as_the_reference_reads_them() {
        use crate::generate::{Catalog, EventGenerator, GeneratorConfig};
        let catalog = Catalog::new();
        let config = GeneratorConfig {
            events: 5000,
            days: 2,
            start: chrono::NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
            servers: 2,
            seed: 5,
            weekly: false,
        };
        let lines: Vec<Vec<u8>> = EventGenerator::new(&catalog, config).by_server().concat();
        let taken = lines.iter().filter(|line| agrees(line)).count();
        assert!(
            taken as f64 > 0.9 * lines.len() as f64,
            "{taken} of {}",
            lines.len()
        );
    }
}

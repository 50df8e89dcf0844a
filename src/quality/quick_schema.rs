//! The common keywords of a tracking plan's schemas, checked while scanning an event's JSON
//! text: `type`, `required`, `properties`, `additionalProperties: false`, `enum` of strings,
//! `minimum`, `minItems` and `items`. Parsing every text into a JSON document for the
//! `jsonschema` crate was most of what a plan cost at ingest; this says "valid" without one.
//! It only ever answers "valid for certain": anything else (a fault, a keyword it does not
//! know, a key or an enum's string written with escapes) goes to `jsonschema`, which stays
//! the authority on what broke.

use serde_json::Value;

use super::scan::Scan;

/// A schema as far as the fast path understands it.
#[derive(Debug)]
pub enum QuickSchema {
    /// Has a keyword (or a form of one) the fast path does not check: ask `jsonschema`.
    Unknown,
    Node(Box<Node>),
}

#[derive(Debug, Default)]
pub struct Node {
    /// The JSON Schema types allowed, as [`type_bit`]s (none: any).
    types: Option<u8>,
    required: Vec<String>,
    /// A few keys each: a list is faster to search than a map.
    properties: Vec<(String, QuickSchema)>,
    no_additional: bool,
    strings: Option<Vec<String>>,
    minimum: Option<f64>,
    min_items: Option<u64>,
    items: Option<QuickSchema>,
}

const OBJECT: u8 = 1;
const ARRAY: u8 = 2;
const STRING: u8 = 4;
const BOOLEAN: u8 = 8;
const NULL: u8 = 16;
/// Any number; an integer is also [`INTEGER`].
const NUMBER: u8 = 32;
const INTEGER: u8 = 64;

/// The bit of a JSON Schema type name.
fn type_bit(name: &str) -> Option<u8> {
    Some(match name {
        "object" => OBJECT,
        "array" => ARRAY,
        "string" => STRING,
        "boolean" => BOOLEAN,
        "null" => NULL,
        "number" => NUMBER,
        "integer" => INTEGER,
        _ => return None,
    })
}

/// Keywords that change nothing about validity.
const ANNOTATIONS: [&str; 5] = ["title", "description", "$comment", "examples", "default"];

impl QuickSchema {
    pub fn compile(schema: &Value) -> QuickSchema {
        Self::node(schema).map_or(QuickSchema::Unknown, |n| QuickSchema::Node(Box::new(n)))
    }

    fn node(schema: &Value) -> Option<Node> {
        let mut node = Node::default();
        for (keyword, value) in schema.as_object()? {
            match keyword.as_str() {
                "type" => {
                    let names: Vec<&str> = match value {
                        Value::String(one) => vec![one.as_str()],
                        Value::Array(many) => {
                            many.iter().map(Value::as_str).collect::<Option<_>>()?
                        }
                        _ => return None,
                    };
                    let bits = names
                        .into_iter()
                        .map(type_bit)
                        .collect::<Option<Vec<u8>>>()?;
                    node.types = Some(bits.into_iter().fold(0, |all, bit| all | bit));
                }
                "required" => {
                    node.required = value
                        .as_array()?
                        .iter()
                        .map(|k| k.as_str().map(str::to_owned))
                        .collect::<Option<_>>()?
                }
                "properties" => {
                    for (key, schema) in value.as_object()? {
                        node.properties.push((key.clone(), Self::compile(schema)));
                    }
                }
                "additionalProperties" => node.no_additional = !value.as_bool()?,
                "enum" => {
                    node.strings = Some(
                        value
                            .as_array()?
                            .iter()
                            .map(|v| v.as_str().map(str::to_owned))
                            .collect::<Option<_>>()?,
                    )
                }
                "minimum" => node.minimum = Some(value.as_f64()?),
                "minItems" => node.min_items = Some(value.as_u64()?),
                "items" => node.items = Some(Self::compile(value)),
                other if ANNOTATIONS.contains(&other) => {}
                _ => return None,
            }
        }
        Some(node)
    }

    /// Whether `text` is certainly valid (`false`: ask `jsonschema`).
    pub fn surely_valid(&self, text: &str) -> bool {
        let mut scan = Scan::new(text);
        self.value(&mut scan) == Some(true) && scan.peek().is_none()
    }

    /// Checks the value at the cursor and moves past it; `Some(true)` only when valid.
    fn value(&self, scan: &mut Scan<'_>) -> Option<bool> {
        let QuickSchema::Node(node) = self else {
            return Some(false);
        };
        let first = scan.peek()?;
        let bit = match first {
            b'{' => OBJECT,
            b'[' => ARRAY,
            b'"' => STRING,
            b't' | b'f' => BOOLEAN,
            b'n' => NULL,
            _ => NUMBER,
        };
        if bit == NUMBER {
            let token = scan.token();
            let allowed = node.types.is_none_or(|types| types & NUMBER != 0);
            // An integer-only type or a minimum needs the value; the rest only its kind.
            if !allowed || node.minimum.is_some() {
                let n = number(token)?;
                let integer_ok = node
                    .types
                    .is_some_and(|types| types & INTEGER != 0 && n.fract() == 0.0);
                if !(allowed || integer_ok) || node.minimum.is_some_and(|min| n < min) {
                    return Some(false);
                }
            }
            // An enum of strings holds no number.
            return Some(node.strings.is_none());
        }
        if node.types.is_some_and(|types| types & bit == 0) {
            return Some(false);
        }
        match first {
            b'{' => node.object(scan),
            b'[' => node.array(scan),
            b'"' => match &node.strings {
                Some(strings) => {
                    let text = scan.string()?;
                    Some(strings.iter().any(|s| s == text))
                }
                None => scan.skip_string().map(|()| true),
            },
            _ => {
                scan.token();
                // An enum of strings holds no boolean or null.
                Some(node.strings.is_none())
            }
        }
    }
}

/// The value of a JSON number: most are small integers, read without the float parser.
fn number(token: &str) -> Option<f64> {
    let digits = token.strip_prefix('-').unwrap_or(token);
    if (1..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        let n = digits
            .bytes()
            .fold(0i64, |n, b| n * 10 + i64::from(b - b'0'));
        return Some(if digits.len() < token.len() { -n } else { n } as f64);
    }
    token.parse().ok()
}

impl Node {
    fn object(&self, scan: &mut Scan<'_>) -> Option<bool> {
        if self.strings.is_some() {
            return Some(false);
        }
        scan.bump();
        let mut found = 0;
        while let Some(key) = scan.next_key()? {
            match self.properties.iter().find(|(name, _)| name == key) {
                Some((_, schema)) => {
                    if !schema.value(scan)? {
                        return Some(false);
                    }
                }
                None if self.no_additional => return Some(false),
                None => scan.skip_value()?,
            }
            // Keys are unique in what the tailer stores (serde_json keeps the last).
            found += usize::from(self.required.iter().any(|r| r == key));
        }
        Some(found == self.required.len())
    }

    fn array(&self, scan: &mut Scan<'_>) -> Option<bool> {
        if self.strings.is_some() {
            return Some(false);
        }
        scan.bump();
        let mut count = 0u64;
        while scan.next_element()? {
            count += 1;
            match &self.items {
                Some(schema) => {
                    if !schema.value(scan)? {
                        return Some(false);
                    }
                }
                None => scan.skip_value()?,
            }
        }
        Some(self.min_items.is_none_or(|min| count >= min))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn surely_valid_only_where_jsonschema_finds_it_valid() {
        let schema = json!({
            "type": "object", "required": ["query", "position"], "additionalProperties": false,
            "properties": {
                "query": {"type": "string", "description": "what was typed"},
                "position": {"type": "integer", "minimum": 1},
                "results": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                "reason": {"enum": ["spam", "other"]},
                "app": {"type": "object", "properties": {"version": {"type": ["string", "null"]}}}
            }
        });
        let quick = QuickSchema::compile(&schema);
        let exact = jsonschema::draft202012::new(&schema).unwrap();
        let texts = [
            r#"{"query":"cat","position":3}"#,
            r#"{"query":"cat","position":3.0,"results":["a","b"],"reason":"spam"}"#,
            r#" { "position" : 1 , "query" : "x" , "app" : { "version" : null } } "#,
            r#"{"query":"cat","position":0}"#,
            r#"{"query":"cat","position":"3"}"#,
            r#"{"query":"cat"}"#,
            r#"{"query":"cat","position":2,"extra":1}"#,
            r#"{"query":"cat","position":2,"results":[]}"#,
            r#"{"query":"cat","position":2,"results":[1]}"#,
            r#"{"query":"cat","position":2,"reason":"rude"}"#,
            r#"{"query":"cat","position":2,"reason":3}"#,
            r#"{"query":"cat","position":2,"app":{"version":5}}"#,
            r#"{"query":"cat","position":2.5}"#,
            r#"{"query":"c\"at","position":2}"#,
            r#"{"q\u0075ery":"cat","position":2}"#,
            r#"{"query":"cat","position":2,"reason":"sp\u0061m"}"#,
            r#"[1]"#,
            r#"{"query":"cat","position":2} trailing"#,
        ];
        let mut valid = 0;
        for text in texts {
            let value: Option<Value> = serde_json::from_str(text).ok();
            let truth = value.as_ref().is_some_and(|v| exact.is_valid(v));
            let fast = quick.surely_valid(text);
            assert!(!fast || truth, "said valid, is not: {text}");
            valid += usize::from(fast);
            // The fast path answers every valid text without escapes.
            if truth && !text.contains('\\') {
                assert!(fast, "valid, not seen as such: {text}");
            }
        }
        // The fourth has an escaped string, which it skips; an escaped key or enum's
        // string it leaves to jsonschema.
        assert_eq!(valid, 4);
        // Numbers: integer-only, number, minimum, and types side by side.
        let numbers = json!({"type": "object", "properties": {
            "i": {"type": "integer"}, "n": {"type": "number", "minimum": 0},
            "m": {"type": ["integer", "string"]}, "b": {"type": "boolean"}}});
        let quick = QuickSchema::compile(&numbers);
        let exact = jsonschema::draft202012::new(&numbers).unwrap();
        for text in [
            r#"{"i":3,"n":0.5,"m":"x","b":true}"#,
            r#"{"i":3.5}"#,
            r#"{"i":-7,"m":2}"#,
            r#"{"n":-1}"#,
            r#"{"m":2.5}"#,
            r#"{"b":1}"#,
            r#"{"b":null}"#,
            r#"{"i":1e2}"#,
            r#"{"i":-12,"n":-0}"#,
            r#"{"n":123456789012345678901234}"#,
        ] {
            let truth = exact.is_valid(&serde_json::from_str(text).unwrap());
            assert_eq!(quick.surely_valid(text), truth, "{text}");
        }
        // Keywords it does not know leave every text to jsonschema.
        let pattern = QuickSchema::compile(&json!({"type": "string", "pattern": "^a"}));
        assert!(!pattern.surely_valid(r#""abc""#));
    }
}

//! The common keywords of a tracking plan's schemas, checked while scanning an event's JSON
//! text: `type`, `required`, `properties`, `additionalProperties: false`, `enum` of strings,
//! `minimum`, `minItems` and `items`. Parsing every text into a JSON document for the
//! `jsonschema` crate was most of what a plan cost at ingest; this says "valid" without one.
//! It only ever answers "valid for certain": anything else (a fault, a keyword it does not
//! know, text with escapes) goes to `jsonschema`, which stays the authority on what broke.

use std::collections::HashMap;

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
    /// JSON Schema type names allowed (none: any).
    types: Option<Vec<String>>,
    required: Vec<String>,
    properties: HashMap<String, QuickSchema>,
    no_additional: bool,
    strings: Option<Vec<String>>,
    minimum: Option<f64>,
    min_items: Option<u64>,
    items: Option<QuickSchema>,
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
                    node.types = Some(match value {
                        Value::String(one) => vec![one.clone()],
                        Value::Array(many) => many
                            .iter()
                            .map(|t| t.as_str().map(str::to_owned))
                            .collect::<Option<_>>()?,
                        _ => return None,
                    })
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
                        node.properties.insert(key.clone(), Self::compile(schema));
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
        let Some(mut scan) = Scan::unescaped(text) else {
            return false;
        };
        self.value(&mut scan) == Some(true) && scan.peek().is_none()
    }

    /// Checks the value at the cursor and moves past it; `Some(true)` only when valid.
    fn value(&self, scan: &mut Scan<'_>) -> Option<bool> {
        let QuickSchema::Node(node) = self else {
            return Some(false);
        };
        let first = scan.peek()?;
        let json_type = match first {
            b'{' => "object",
            b'[' => "array",
            b'"' => "string",
            b't' | b'f' => "boolean",
            b'n' => "null",
            _ => "number",
        };
        let number = match json_type {
            "number" => Some(scan.token().parse::<f64>().ok()?),
            _ => None,
        };
        if let Some(types) = &node.types {
            let integer = number.is_some_and(|n| n.fract() == 0.0);
            let allowed = types
                .iter()
                .any(|t| t == json_type || (t == "integer" && integer));
            if !allowed {
                return Some(false);
            }
        }
        if let (Some(minimum), Some(n)) = (node.minimum, number) {
            if n < minimum {
                return Some(false);
            }
        }
        match first {
            b'{' => node.object(scan),
            b'[' => node.array(scan),
            b'"' => {
                let text = scan.string()?;
                Some(
                    node.strings
                        .as_ref()
                        .is_none_or(|s| s.iter().any(|s| s == text)),
                )
            }
            _ => {
                if number.is_none() {
                    scan.token();
                }
                // An enum of strings holds no number, boolean or null.
                Some(node.strings.is_none())
            }
        }
    }
}

impl Node {
    fn object(&self, scan: &mut Scan<'_>) -> Option<bool> {
        if self.strings.is_some() {
            return Some(false);
        }
        scan.bump();
        let mut found = 0;
        while let Some(key) = scan.next_key()? {
            match self.properties.get(key) {
                Some(schema) => {
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
        assert_eq!(valid, 3);
        // Keywords it does not know leave every text to jsonschema.
        let pattern = QuickSchema::compile(&json!({"type": "string", "pattern": "^a"}));
        assert!(!pattern.surely_valid(r#""abc""#));
    }
}

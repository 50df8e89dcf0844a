//! What a day of `raw_events` looks like, in the few numbers the checks compare: rows per
//! event type and source, the property keys and their JSON value types, and the search terms.
//! Built from the rows (pure), so a day is read once however many checks and later days use it.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

/// Deeper property objects are counted as one `object` value: a map keyed by ids would
/// otherwise make every id a "new key".
const MAX_KEY_DEPTH: usize = 3;

/// At most this many distinct keys are profiled per event type (the rest are not: the memory
/// of a check stays bounded whatever the events hold).
const MAX_KEYS_PER_TYPE: usize = 500;

/// Rows of one day, summed.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct DayProfile {
    /// Rows per (type, source).
    pub volume: BTreeMap<(String, String), u64>,
    /// Per type: events, and per key path the events holding it by JSON value type.
    pub keys: BTreeMap<String, TypeKeys>,
    /// Search rows with a term, per (term, source).
    pub terms: HashMap<(String, String), u64>,
    /// Search rows with a term.
    pub searches: u64,
    pub reports: u64,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct TypeKeys {
    pub events: u64,
    /// Key path (`position`, `app.version`, `context.os.name`) → JSON type → events.
    pub paths: BTreeMap<String, BTreeMap<&'static str, u64>>,
}

/// One row as the profile reads it.
pub struct Row<'a> {
    pub kind: &'a str,
    pub source: &'a str,
    pub properties: Option<&'a str>,
    pub context: Option<&'a str>,
    pub term: Option<&'a str>,
}

impl DayProfile {
    pub fn add(&mut self, row: &Row<'_>) {
        let source = source_name(row.source);
        *self
            .volume
            .entry((row.kind.to_owned(), source.to_owned()))
            .or_default() += 1;
        let keys = self.keys.entry(row.kind.to_owned()).or_default();
        keys.events += 1;
        for (prefix, text) in [("", row.properties), ("context.", row.context)] {
            // Unparseable text cannot be here (the tailer checked it); skip it if it is.
            if let Some(Value::Object(object)) = text.and_then(|t| serde_json::from_str(t).ok()) {
                let mut path = prefix.to_owned();
                add_keys(&mut keys.paths, &mut path, &object, 1);
            }
        }
        match (row.kind, row.term) {
            ("search", Some(term)) if !term.is_empty() => {
                self.searches += 1;
                *self
                    .terms
                    .entry((term.to_owned(), source.to_owned()))
                    .or_default() += 1;
            }
            ("report", _) => self.reports += 1,
            _ => {}
        }
    }

    /// Adds what `other` counted (the same day, other rows).
    pub fn merge(&mut self, other: DayProfile) {
        for (key, n) in other.volume {
            *self.volume.entry(key).or_default() += n;
        }
        for (kind, keys) in other.keys {
            let mine = self.keys.entry(kind).or_default();
            mine.events += keys.events;
            for (path, types) in keys.paths {
                let into = mine.paths.entry(path).or_default();
                for (json_type, n) in types {
                    *into.entry(json_type).or_default() += n;
                }
            }
        }
        for (key, n) in other.terms {
            *self.terms.entry(key).or_default() += n;
        }
        self.searches += other.searches;
        self.reports += other.reports;
    }

    /// Whether the day has any rows at all (a day before the warehouse began has none and is
    /// no baseline).
    pub fn is_empty(&self) -> bool {
        self.volume.is_empty()
    }

    /// Rows of every type from `source`.
    pub fn source_rows(&self, source: &str) -> u64 {
        self.volume
            .iter()
            .filter(|((_, s), _)| s == source)
            .map(|(_, n)| n)
            .sum()
    }

    /// Search rows per term, over every source.
    pub fn term_totals(&self) -> HashMap<&str, u64> {
        let mut totals: HashMap<&str, u64> = HashMap::new();
        for ((term, _), n) in &self.terms {
            *totals.entry(term.as_str()).or_default() += n;
        }
        totals
    }
}

fn add_keys(
    paths: &mut BTreeMap<String, BTreeMap<&'static str, u64>>,
    path: &mut String,
    object: &serde_json::Map<String, Value>,
    depth: usize,
) {
    let base = path.len();
    for (key, value) in object {
        path.truncate(base);
        path.push_str(key);
        if !paths.contains_key(path.as_str()) && paths.len() >= MAX_KEYS_PER_TYPE {
            continue;
        }
        *paths
            .entry(path.clone())
            .or_default()
            .entry(json_type(value))
            .or_default() += 1;
        if let (Value::Object(inner), true) = (value, depth < MAX_KEY_DEPTH) {
            path.push('.');
            add_keys(paths, path, inner, depth + 1);
        }
    }
    path.truncate(base);
}

/// A JSON value's type as JSON Schema names it (an integer is a `number` too: `3` and `3.5`
/// are one type to a client).
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A log file's name without logrotate's suffixes: `app.jsonl.1`, `app.jsonl.2.gz`,
/// `app.jsonl-20261123` and `app.jsonl-20261123.gz` are all `app.jsonl`, one source.
pub fn source_name(path: &str) -> &str {
    let mut name = path.strip_suffix(".gz").unwrap_or(path);
    if let Some((head, tail)) = name.rsplit_once('.') {
        if !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()) {
            name = head;
        }
    }
    if let Some((head, tail)) = name.rsplit_once('-') {
        if tail.len() == 8 && tail.bytes().all(|b| b.is_ascii_digit()) {
            name = head;
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotated_names_are_one_source() {
        for rotated in [
            "/var/log/app.jsonl",
            "/var/log/app.jsonl.1",
            "/var/log/app.jsonl.2.gz",
            "/var/log/app.jsonl-20261123",
            "/var/log/app.jsonl-20261123.gz",
        ] {
            assert_eq!(source_name(rotated), "/var/log/app.jsonl", "{rotated}");
        }
        assert_eq!(source_name("logs/server-01.jsonl"), "logs/server-01.jsonl");
        assert_eq!(source_name("a-2026.log"), "a-2026.log");
    }

    #[test]
    fn profiles_volume_keys_and_terms() {
        let mut day = DayProfile::default();
        let row = |kind, source, properties, term| Row {
            kind,
            source,
            properties: Some(properties),
            context: Some(r#"{"app":{"version":"5.1"}}"#),
            term,
        };
        day.add(&row(
            "search",
            "s.jsonl",
            r#"{"query":"Cat","n":1}"#,
            Some("cat"),
        ));
        day.add(&row(
            "search",
            "s.jsonl.1",
            r#"{"query":"cat","n":"1"}"#,
            Some("cat"),
        ));
        day.add(&row(
            "report",
            "t.jsonl",
            r#"{"deep":{"a":{"b":{"c":1}}}}"#,
            None,
        ));
        assert_eq!(day.volume[&("search".into(), "s.jsonl".into())], 2);
        assert_eq!(day.source_rows("s.jsonl"), 2);
        let search = &day.keys["search"];
        assert_eq!(search.events, 2);
        assert_eq!(
            search.paths["n"],
            BTreeMap::from([("number", 1), ("string", 1)])
        );
        assert_eq!(search.paths["context.app.version"]["string"], 2);
        let report = &day.keys["report"];
        assert!(report.paths.contains_key("deep.a.b"));
        assert!(!report.paths.contains_key("deep.a.b.c"), "depth is bounded");
        assert_eq!((day.searches, day.reports), (2, 1));
        assert_eq!(day.term_totals()["cat"], 2);
    }
}

//! What a day of `raw_events` looks like, in the few numbers the checks compare: rows per
//! event type and source, the property keys and their JSON value types, and the search terms.
//! Built from the rows (pure), so a day is read once however many checks and later days use it.

use std::collections::{BTreeMap, HashMap};

use super::scan::Scan;

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
    /// Counts one row (tests; whole batches are counted through a [`Tally`]).
    pub fn add(&mut self, row: &Row<'_>) {
        let mut tally = Tally::default();
        tally.add(row);
        self.merge(tally.into_profile());
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

/// The JSON value types a key path is counted by, as JSON Schema names them (an integer is
/// a `number` too: `3` and `3.5` are one type to a client).
#[derive(Clone, Copy, PartialEq)]
enum JsonType {
    Array,
    Boolean,
    Null,
    Number,
    Object,
    String,
}

impl JsonType {
    /// The type of the JSON value whose first byte is `first`.
    fn starting_with(first: u8) -> JsonType {
        match first {
            b'{' => JsonType::Object,
            b'[' => JsonType::Array,
            b'"' => JsonType::String,
            b't' | b'f' => JsonType::Boolean,
            b'n' => JsonType::Null,
            _ => JsonType::Number,
        }
    }
}

/// [`JsonType`]s' names, in their order.
pub const JSON_TYPES: [&str; 6] = ["array", "boolean", "null", "number", "object", "string"];

type Hasher = ahash::RandomState;

/// Events per JSON type (in [`JSON_TYPES`]'s order) at each key path.
type Paths = HashMap<String, [u64; JSON_TYPES.len()], Hasher>;

/// The counts of a run of rows, keyed by the rows' own text: counting a row allocates
/// nothing. A check reads millions of rows, so this is where its time goes. A row's
/// `properties` is walked as it comes (ids and queries make nearly every one distinct:
/// hashing it to find repeats would cost more than it saves); its `context` repeats (one
/// per app version and platform), so each distinct context text is counted and walked
/// once, in [`Tally::into_profile`], which makes the run's [`DayProfile`].
#[derive(Default)]
pub struct Tally<'a> {
    volume: HashMap<(&'a str, &'a str), u64, Hasher>,
    /// Per type, the key paths of the properties counted so far.
    keys: HashMap<&'a str, Paths, Hasher>,
    /// (type, context text) → events.
    contexts: HashMap<(&'a str, &'a str), u64, Hasher>,
    terms: HashMap<(&'a str, &'a str), u64, Hasher>,
    searches: u64,
    reports: u64,
    /// The key path being walked (kept to reuse its allocation).
    path: String,
    /// Per type, the members of its last flat `properties` and how many rows in a row had
    /// exactly them: rows of one app version repeat their keys, and comparing them with the
    /// last row's is cheaper than counting each key of each row.
    shapes: HashMap<&'a str, Shape<'a>, Hasher>,
    /// The members of the row being read (kept to reuse its allocation).
    members: Vec<(&'a str, JsonType)>,
}

/// The top-level members of a flat object (no object among its values): key and type.
#[derive(Default)]
struct Shape<'a> {
    members: Vec<(&'a str, JsonType)>,
    rows: u64,
}

impl Shape<'_> {
    /// Counts its rows' members at their keys, and starts again at none.
    fn count_into(&mut self, paths: &mut Paths) {
        for (key, json_type) in &self.members {
            count(paths, key, *json_type, self.rows);
        }
        self.rows = 0;
    }
}

impl<'a> Tally<'a> {
    pub fn add(&mut self, row: &Row<'a>) {
        self.add_properties(row.kind, row.properties);
        self.add_alike(row, 1);
    }

    /// The key paths of one row's `properties`.
    pub fn add_properties(&mut self, kind: &'a str, properties: Option<&'a str>) {
        let Some(text) = properties else {
            return;
        };
        self.members.clear();
        if flat_members(text, &mut self.members).is_none() {
            self.path.clear();
            walk_keys(self.keys.entry(kind).or_default(), &mut self.path, text, 1);
            return;
        }
        let shape = self.shapes.entry(kind).or_default();
        if shape.rows > 0 && shape.members == self.members {
            shape.rows += 1;
            return;
        }
        shape.count_into(self.keys.entry(kind).or_default());
        std::mem::swap(&mut shape.members, &mut self.members);
        shape.rows = 1;
    }

    /// `times` rows with `row`'s type, source, context and term, all but their properties
    /// (those go to [`Tally::add_properties`], row by row).
    pub fn add_alike(&mut self, row: &Row<'a>, times: u64) {
        // Counted by the path as stored; rotated paths become their source once, at the end.
        let source = row.source;
        *self.volume.entry((row.kind, source)).or_default() += times;
        if let Some(text) = row.context {
            *self.contexts.entry((row.kind, text)).or_default() += times;
        }
        match (row.kind, row.term) {
            ("search", Some(term)) if !term.is_empty() => {
                self.searches += times;
                *self.terms.entry((term, source)).or_default() += times;
            }
            ("report", _) => self.reports += times,
            _ => {}
        }
    }

    pub fn into_profile(mut self) -> DayProfile {
        for (kind, shape) in &mut self.shapes {
            shape.count_into(self.keys.entry(kind).or_default());
        }
        // The paths of one source's rotated files add up to one source.
        let owned = |(a, path): (&str, &str)| (a.to_owned(), source_name(path).to_owned());
        let mut volume = BTreeMap::new();
        for (key, n) in &self.volume {
            *volume.entry(owned(*key)).or_default() += n;
        }
        let mut terms = HashMap::new();
        for (key, n) in self.terms {
            *terms.entry(owned(key)).or_default() += n;
        }
        let mut keys = walk_contexts(self.contexts);
        merge_keys(&mut keys, self.keys);
        // Events per type, from the rows per (type, source).
        let mut events: HashMap<&str, u64, Hasher> = HashMap::default();
        for (&(kind, _), n) in &self.volume {
            *events.entry(kind).or_default() += n;
        }
        let keys = events.into_iter().map(|(kind, events)| {
            let paths = keys.remove(kind).unwrap_or_default();
            let paths = paths
                .into_iter()
                .map(|(path, counts)| {
                    let types = JSON_TYPES.iter().zip(counts).filter(|(_, n)| *n > 0);
                    (path, types.map(|(t, n)| (*t, n)).collect())
                })
                .collect();
            (kind.to_owned(), TypeKeys { events, paths })
        });
        DayProfile {
            volume,
            keys: keys.collect(),
            terms,
            searches: self.searches,
            reports: self.reports,
        }
    }
}

/// The key paths (`context.…`) of each distinct context text, on every core, by event type.
fn walk_contexts<'a>(
    texts: HashMap<(&'a str, &'a str), u64, Hasher>,
) -> HashMap<&'a str, Paths, Hasher> {
    use rayon::prelude::*;
    let texts: Vec<_> = texts.into_iter().collect();
    let walk = |texts: &[((&'a str, &'a str), u64)]| {
        let mut keys: HashMap<&str, Paths, Hasher> = HashMap::default();
        let mut path = String::new();
        for &((kind, text), n) in texts {
            path.clear();
            path.push_str("context.");
            walk_keys(keys.entry(kind).or_default(), &mut path, text, n);
        }
        keys
    };
    texts
        .par_chunks(256)
        .map(walk)
        .reduce(HashMap::default, |mut keys, other| {
            merge_keys(&mut keys, other);
            keys
        })
}

/// Adds `other`'s key paths to `keys`, keeping at most [`MAX_KEYS_PER_TYPE`] per type.
fn merge_keys<'a>(
    keys: &mut HashMap<&'a str, Paths, Hasher>,
    other: HashMap<&'a str, Paths, Hasher>,
) {
    for (kind, paths) in other {
        let into = keys.entry(kind).or_default();
        for (path, counts) in paths {
            if into.len() < MAX_KEYS_PER_TYPE || into.contains_key(&path) {
                let sum = into.entry(path).or_default();
                sum.iter_mut().zip(counts).for_each(|(a, b)| *a += b);
            }
        }
    }
}

/// Records the key paths of the JSON object `text` (prefixed by `path`) and their value
/// types, `times` events' worth, streaming: no value is built, leaves and arrays are
/// skipped over. Text that is not an object (the tailer let only objects through) adds
/// nothing.
fn walk_keys(paths: &mut Paths, path: &mut String, text: &str, times: u64) {
    // Without a backslash no key or string needs unescaping: scanned byte by byte, the
    // check's most common work, at about twice serde's speed. Otherwise serde reads it.
    if let Some(mut scan) = Scan::unescaped(text) {
        walk_object(&mut scan, paths, path, 1, times);
        return;
    }
    walk_keys_escaped(paths, path, text, times);
}

/// The members of the JSON object `text` into `members`, when it is flat and has no
/// escapes (`None`: walk it with [`walk_keys`]).
fn flat_members<'a>(text: &'a str, members: &mut Vec<(&'a str, JsonType)>) -> Option<()> {
    let mut scan = Scan::unescaped(text)?;
    if scan.peek()? != b'{' {
        return None;
    }
    scan.bump();
    while let Some(key) = scan.next_key()? {
        let json_type = JsonType::starting_with(scan.peek()?);
        if json_type == JsonType::Object {
            return None;
        }
        members.push((key, json_type));
        scan.skip_value()?;
    }
    Some(())
}

/// [`walk_keys`] through serde_json, for text with escapes.
fn walk_keys_escaped(paths: &mut Paths, path: &mut String, text: &str, times: u64) {
    use serde::Deserializer;
    let mut reader = serde_json::Deserializer::from_str(text);
    let _ = reader.deserialize_any(Members {
        paths,
        path,
        depth: 1,
        times,
    });
}

/// The object at the cursor: each member's type counted at `path` + its key, objects
/// within [`MAX_KEY_DEPTH`] walked.
fn walk_object(
    scan: &mut Scan<'_>,
    paths: &mut Paths,
    path: &mut String,
    depth: usize,
    times: u64,
) -> Option<()> {
    if scan.peek()? != b'{' {
        return None;
    }
    scan.bump();
    let base = path.len();
    while let Some(key) = scan.next_key()? {
        path.truncate(base);
        path.push_str(key);
        let json_type = JsonType::starting_with(scan.peek()?);
        count(paths, path, json_type, times);
        if matches!(json_type, JsonType::Object) && depth < MAX_KEY_DEPTH {
            path.push('.');
            walk_object(scan, paths, path, depth + 1, times)?;
        } else {
            scan.skip_value()?;
        }
    }
    path.truncate(base);
    Some(())
}

/// Adds `times` events of `json_type` at `path` (a new path only while there is room).
fn count(paths: &mut Paths, path: &str, json_type: JsonType, times: u64) {
    if let Some(counts) = paths.get_mut(path) {
        counts[json_type as usize] += times;
    } else if paths.len() < MAX_KEYS_PER_TYPE {
        let mut counts = [0; JSON_TYPES.len()];
        counts[json_type as usize] = times;
        paths.insert(path.to_owned(), counts);
    }
}

/// An object's members, each recorded at `path` + its key.
struct Members<'p> {
    paths: &'p mut Paths,
    path: &'p mut String,
    depth: usize,
    times: u64,
}

impl<'de> serde::de::Visitor<'de> for Members<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let base = self.path.len();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            self.path.truncate(base);
            self.path.push_str(&key);
            map.next_value_seed(Member {
                paths: self.paths,
                path: self.path,
                depth: self.depth,
                times: self.times,
            })?;
        }
        self.path.truncate(base);
        Ok(())
    }
}

/// One member's value: its [`JsonType`] is counted at `path`; an object within the depth is
/// walked.
struct Member<'p> {
    paths: &'p mut Paths,
    path: &'p mut String,
    depth: usize,
    times: u64,
}

impl Member<'_> {
    fn count(&mut self, json_type: JsonType) {
        count(self.paths, self.path, json_type, self.times);
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for Member<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, reader: D) -> Result<(), D::Error> {
        reader.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Member<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(mut self, _: bool) -> Result<(), E> {
        self.count(JsonType::Boolean);
        Ok(())
    }

    fn visit_i64<E>(mut self, _: i64) -> Result<(), E> {
        self.count(JsonType::Number);
        Ok(())
    }

    fn visit_u64<E>(mut self, _: u64) -> Result<(), E> {
        self.count(JsonType::Number);
        Ok(())
    }

    fn visit_f64<E>(mut self, _: f64) -> Result<(), E> {
        self.count(JsonType::Number);
        Ok(())
    }

    fn visit_str<E>(mut self, _: &str) -> Result<(), E> {
        self.count(JsonType::String);
        Ok(())
    }

    fn visit_unit<E>(mut self) -> Result<(), E> {
        self.count(JsonType::Null);
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        self.count(JsonType::Array);
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        self.count(JsonType::Object);
        if self.depth >= MAX_KEY_DEPTH {
            while map
                .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                .is_some()
            {}
            return Ok(());
        }
        self.path.push('.');
        let members = Members {
            paths: self.paths,
            path: self.path,
            depth: self.depth + 1,
            times: self.times,
        };
        serde::de::Visitor::visit_map(members, map)
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
    fn the_scanner_counts_what_serde_counts() {
        let texts = [
            r#"{}"#,
            r#"{"query":"cat","results":["a","b"],"latency_ms":12}"#,
            r#" { "a" : { "b" : { "c" : { "d" : 1 } , "e" : [ {"x":"}"} ] } } , "f" : null } "#,
            r#"{"n":-1.5e3,"t":true,"f":false,"s":"a{b[c,d]}e","o":{},"l":[]}"#,
            r#"{"deep":{"a":{"b":{"c":1}}},"arr":[[1,[2]],{"k":"]"}],"last":"x"}"#,
            r#"{"é":"ü","x":{"ß":1.0}}"#,
            "{\n\t\"a\":\r\n1\n}",
        ];
        for text in texts {
            let (mut fast, mut slow) = (Paths::default(), Paths::default());
            walk_keys(&mut fast, &mut String::new(), text, 2);
            walk_keys_escaped(&mut slow, &mut String::new(), text, 2);
            assert_eq!(fast, slow, "{text}");
        }
        // With escapes, serde reads it.
        let mut escaped = Paths::default();
        walk_keys(&mut escaped, &mut String::new(), r#"{"a\"b":"c\\"}"#, 1);
        assert!(escaped.contains_key("a\"b"), "{escaped:?}");
    }

    #[test]
    fn rows_of_one_shape_count_as_each_row_would() {
        let texts = [
            r#"{"query":"cat","results":["a"],"latency_ms":1}"#,
            r#"{"query":"dog","results":[],"latency_ms":2}"#,
            r#"{"query":"dog","results":[],"latency_ms":"2"}"#,
            r#"{"query":"cat","results":["a"],"latency_ms":1}"#,
            r#"{"query":"c\"at","results":["a"],"latency_ms":1}"#,
            r#"{"query":"cat","app":{"v":1}}"#,
            r#"{"latency_ms":1,"query":"cat","results":["a"]}"#,
            r#"{}"#,
            r#"{"query":"cat","results":["a"],"latency_ms":1}"#,
        ];
        let mut tally = Tally::default();
        let mut expected = Paths::default();
        for text in texts.iter().cycle().take(40) {
            tally.add_properties("search", Some(text));
            walk_keys_escaped(&mut expected, &mut String::new(), text, 1);
        }
        let expected: BTreeMap<String, BTreeMap<&str, u64>> = expected
            .into_iter()
            .map(|(path, counts)| {
                let types = JSON_TYPES.iter().zip(counts).filter(|(_, n)| *n > 0);
                (path, types.map(|(t, n)| (*t, n)).collect())
            })
            .collect();
        tally.add_alike(
            &Row {
                kind: "search",
                source: "s",
                properties: None,
                context: None,
                term: None,
            },
            40,
        );
        assert_eq!(tally.into_profile().keys["search"].paths, expected);
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

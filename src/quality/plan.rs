//! The tracking plan: which event types exist and what their `properties` and `context`
//! hold, as JSON Schema (draft 2020-12), compiled once. An event that breaks it is kept all
//! the same; what broke becomes rows of `violations` (see `docs/contract.md`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use jsonschema::error::ValidationErrorKind;
use jsonschema::Validator;
use serde_json::Value;

use super::quick_schema::QuickSchema;

/// The rule of an event whose type the plan does not list (with `"unplanned": "violation"`).
pub const UNPLANNED_TYPE: &str = "unplanned_type";

pub struct Plan {
    pub version: String,
    unplanned_is_violation: bool,
    /// Looked up for every event: ahash, not SipHash.
    events: HashMap<String, EventSchemas, ahash::RandomState>,
}

struct EventSchemas {
    properties: Option<Schema>,
    context: Option<Schema>,
}

/// A part's schema: its fast path for the common case, and `jsonschema` for the rest.
struct Schema {
    quick: QuickSchema,
    exact: Validator,
}

/// One way an event breaks the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// The JSON Schema keyword that failed, or [`UNPLANNED_TYPE`].
    pub rule: String,
    /// The JSON pointer of the failing value in the event (`/properties/position`).
    pub path: String,
    pub detail: String,
}

impl Plan {
    /// Reads and compiles the plan in `path`; every error names the file and the place.
    pub fn load(path: &Path) -> anyhow::Result<Plan> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            anyhow::anyhow!("cannot read the tracking plan {}: {e}", path.display())
        })?;
        Plan::parse(&text).map_err(|e| {
            anyhow::anyhow!(
                "tracking plan {}: {e} (the format is in docs/contract.md, \"Tracking plan\")",
                path.display()
            )
        })
    }

    pub fn parse(text: &str) -> Result<Plan, String> {
        let plan: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let Value::Object(plan) = plan else {
            return Err("not a JSON object".into());
        };
        if let Some(extra) = plan
            .keys()
            .find(|k| !["version", "unplanned", "events"].contains(&k.as_str()))
        {
            return Err(format!(
                "unknown member {extra:?} (expected version, unplanned, events)"
            ));
        }
        let version = match plan.get("version") {
            Some(Value::String(v)) => v.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err("`version` must be a string, e.g. \"2026-11-23\"".into()),
        };
        let unplanned_is_violation = match plan.get("unplanned").and_then(Value::as_str) {
            None | Some("allow") if plan.get("unplanned").is_none_or(Value::is_string) => false,
            Some("violation") => true,
            _ => return Err("`unplanned` must be \"allow\" or \"violation\"".into()),
        };
        let Some(Value::Object(types)) = plan.get("events") else {
            return Err("`events` must be an object of event type → {properties, context}".into());
        };
        let mut events = HashMap::default();
        for (kind, schemas) in types {
            let Value::Object(schemas) = schemas else {
                return Err(format!(
                    "events.{kind} must be an object with `properties` and optionally `context`"
                ));
            };
            if let Some(extra) = schemas
                .keys()
                .find(|k| !["properties", "context"].contains(&k.as_str()))
            {
                return Err(format!(
                    "events.{kind}: unknown member {extra:?} (expected properties, context)"
                ));
            }
            let compile = |part: &str| -> Result<Option<Schema>, String> {
                schemas
                    .get(part)
                    .map(|schema| {
                        let exact = jsonschema::draft202012::new(schema).map_err(|e| {
                            format!("events.{kind}.{part} is not a valid JSON Schema: {e}")
                        })?;
                        let quick = QuickSchema::compile(schema);
                        Ok(Schema { quick, exact })
                    })
                    .transpose()
            };
            let properties = compile("properties")?;
            let context = compile("context")?;
            events.insert(
                kind.clone(),
                EventSchemas {
                    properties,
                    context,
                },
            );
        }
        Ok(Plan {
            version,
            unplanned_is_violation,
            events,
        })
    }

    /// How the event of type `kind` with this `properties` and `context` (JSON text; absent
    /// ones are checked as `{}`) breaks the plan. (Many events: [`Checks`].)
    pub fn check(
        &self,
        kind: &str,
        properties: Option<&str>,
        context: Option<&str>,
    ) -> Vec<Violation> {
        let (properties, context) = (properties.map(Cow::Borrowed), context.map(Cow::Borrowed));
        Checks::new(self).check(kind, properties.as_ref(), context.as_ref())
    }

    fn unplanned(&self, kind: &str) -> Vec<Violation> {
        match self.unplanned_is_violation {
            true => vec![Violation {
                rule: UNPLANNED_TYPE.into(),
                path: "/type".into(),
                detail: format!("event type {kind:?} is not in the tracking plan"),
            }],
            false => Vec::new(),
        }
    }
}

/// The two parts of an event a plan describes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Part {
    Properties,
    Context,
}

impl Part {
    fn name(self) -> &'static str {
        match self {
            Part::Properties => "properties",
            Part::Context => "context",
        }
    }
}

impl EventSchemas {
    fn schema(&self, part: Part) -> Option<&Schema> {
        match part {
            Part::Properties => self.properties.as_ref(),
            Part::Context => self.context.as_ref(),
        }
    }

    /// Whether the fast path finds `text` valid for the schema of `part` (or it has none).
    fn surely_valid(&self, part: Part, text: &str) -> bool {
        self.schema(part)
            .is_none_or(|schema| schema.quick.surely_valid(text))
    }

    /// How `text` (absent: `{}`) breaks the schema of `part`, if it has one, as
    /// `jsonschema` finds it.
    fn check(&self, part: Part, text: Option<&str>) -> Vec<Violation> {
        let Some(Schema { exact, .. }) = self.schema(part) else {
            return Vec::new();
        };
        let value = match text.map(serde_json::from_str::<Value>) {
            None => Value::Object(Default::default()),
            Some(Ok(value)) => value,
            // The tailer parsed it: it is JSON. Say so if it is not.
            Some(Err(e)) => {
                return vec![Violation {
                    rule: "type".into(),
                    path: format!("/{}", part.name()),
                    detail: format!("not JSON: {e}"),
                }]
            }
        };
        if exact.is_valid(&value) {
            return Vec::new();
        }
        exact
            .iter_errors(&value)
            .map(|error| violation(part.name(), &error))
            .collect()
    }
}

/// A plan's checks over a run of lines. A text the fast path ([`QuickSchema`]) cannot pass
/// is parsed into a JSON document for `jsonschema`, which is costly, so that is done once per
/// distinct text (a broken `context` repeats on every event of its app version).
pub struct Checks<'a> {
    plan: &'a Plan,
    /// (type, part, text) → what it broke, for texts borrowed from the lines.
    seen: HashMap<(&'a str, Part, &'a str), Vec<Violation>, ahash::RandomState>,
    /// The last few (type, context) that passed: a context repeats on every event of its
    /// app version and platform, and comparing it is cheaper than scanning it again.
    contexts_passed: [(&'a str, &'a str); CONTEXTS_REMEMBERED],
    /// Where the next context that passes goes in `contexts_passed`.
    next_context: usize,
}

/// As many contexts as an app has live versions × platforms, about.
const CONTEXTS_REMEMBERED: usize = 4;

impl<'a> Checks<'a> {
    pub fn new(plan: &'a Plan) -> Self {
        Checks {
            plan,
            seen: HashMap::default(),
            contexts_passed: [("", ""); CONTEXTS_REMEMBERED],
            next_context: 0,
        }
    }

    /// Whether the context `text` of an event of type `kind` passed lately.
    fn context_passed(&self, kind: &str, text: &str) -> bool {
        // Types are compared as the plan's own strings, by address.
        let remembered = |&(k, t): &(&str, &str)| std::ptr::eq(k, kind) && t == text;
        self.contexts_passed.iter().any(remembered)
    }

    fn remember_context(&mut self, kind: &'a str, text: &'a str) {
        self.contexts_passed[self.next_context] = (kind, text);
        self.next_context = (self.next_context + 1) % CONTEXTS_REMEMBERED;
    }

    /// How the event breaks the plan (see [`Plan::check`]), remembering the answer for each
    /// text that lives as long as the lines.
    pub fn check(
        &mut self,
        kind: &str,
        properties: Option<&Cow<'a, str>>,
        context: Option<&Cow<'a, str>>,
    ) -> Vec<Violation> {
        let Some((planned, schemas)) = self.plan.events.get_key_value(kind) else {
            return self.plan.unplanned(kind);
        };
        let planned = planned.as_str();
        let mut found = Vec::new();
        for (part, text) in [(Part::Properties, properties), (Part::Context, context)] {
            let lasting = match text {
                Some(Cow::Borrowed(text)) => Some(*text),
                _ => None,
            };
            let a_context = part == Part::Context;
            if a_context && lasting.is_some_and(|text| self.context_passed(planned, text)) {
                continue;
            }
            // Most texts pass the fast path: cheaper than remembering them.
            if text.is_some_and(|text| schemas.surely_valid(part, text)) {
                if let Some(text) = lasting.filter(|_| a_context) {
                    self.remember_context(planned, text);
                }
                continue;
            }
            match text {
                Some(Cow::Borrowed(text)) => {
                    let key = (planned, part, *text);
                    let broken = self
                        .seen
                        .entry(key)
                        .or_insert_with(|| schemas.check(part, Some(text)));
                    found.extend(broken.iter().cloned());
                }
                other => found.extend(schemas.check(part, other.map(|t| t.as_ref()))),
            }
        }
        found
    }
}

fn violation(part: &str, error: &jsonschema::ValidationError<'_>) -> Violation {
    let mut path = format!("/{part}{}", error.instance_path().as_str());
    // The failing value of these is a member of the object the error points at.
    match error.kind() {
        ValidationErrorKind::Required { property } => {
            push_token(&mut path, property.as_str().unwrap_or_default())
        }
        ValidationErrorKind::AdditionalProperties { unexpected } if unexpected.len() == 1 => {
            push_token(&mut path, &unexpected[0])
        }
        _ => {}
    }
    Violation {
        rule: error.kind().keyword().to_owned(),
        path,
        detail: error.to_string(),
    }
}

/// Appends `token` to a JSON pointer, escaped (RFC 6901).
fn push_token(path: &mut String, token: &str) {
    path.push('/');
    path.push_str(&token.replace('~', "~0").replace('/', "~1"));
}

/// One row of `violations`.
#[derive(Debug, Clone, PartialEq)]
pub struct ViolationRow {
    pub message_id: String,
    pub kind: String,
    pub event_time_us: i64,
    pub violation: Violation,
    pub source: Option<String>,
    pub source_offset: Option<i64>,
}

/// Rows of `violations` as a batch, all of `plan_version`.
pub fn violations_batch(
    rows: &[ViolationRow],
    plan_version: &str,
) -> arrow::error::Result<RecordBatch> {
    let text = |f: &dyn Fn(&ViolationRow) -> Option<&str>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<StringArray>())
    };
    RecordBatch::try_new(
        crate::contract::VIOLATIONS_SCHEMA.clone(),
        vec![
            text(&|r| Some(&r.message_id)),
            text(&|r| Some(&r.kind)),
            Arc::new(
                TimestampMicrosecondArray::from(
                    rows.iter().map(|r| r.event_time_us).collect::<Vec<_>>(),
                )
                .with_timezone("UTC"),
            ),
            text(&|r| Some(&r.violation.rule)),
            text(&|r| Some(&r.violation.path)),
            text(&|r| Some(&r.violation.detail)),
            Arc::new(StringArray::from(vec![plan_version; rows.len()])),
            text(&|r| r.source.as_deref()),
            Arc::new(rows.iter().map(|r| r.source_offset).collect::<Int64Array>()),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAN: &str = r#"{
        "version": "7",
        "unplanned": "violation",
        "events": {
            "select": {
                "properties": {
                    "type": "object",
                    "required": ["sticker_id", "position"],
                    "properties": {"position": {"type": "integer", "minimum": 1}, "sticker_id": {"type": "string"}},
                    "additionalProperties": false
                },
                "context": {"type": "object", "properties": {"app": {"type": "object", "required": ["version"]}}}
            },
            "search": {"properties": {"type": "object"}}
        }
    }"#;

    fn rules(found: &[Violation]) -> Vec<(&str, &str)> {
        found
            .iter()
            .map(|v| (v.rule.as_str(), v.path.as_str()))
            .collect()
    }

    #[test]
    fn checks_remember_each_text_and_answer_as_the_plan() {
        let plan = Plan::parse(PLAN).unwrap();
        let texts = [
            r#"{"sticker_id":"s1","position":0}"#,
            r#"{"sticker_id":"s1","position":2}"#,
            r#"{"position":"2","extra":1}"#,
        ];
        let contexts = [r#"{"app":{}}"#, r#"{"app":{"version":"5"}}"#].map(Cow::Borrowed);
        let mut checks = Checks::new(&plan);
        for round in 0..2 {
            for (kind, text) in ["select", "search", "purchase"].iter().zip(texts) {
                for text in [Cow::Borrowed(text), Cow::Owned(text.to_owned())] {
                    for context in &contexts {
                        assert_eq!(
                            checks.check(kind, Some(&text), Some(context)),
                            plan.check(kind, Some(&text), Some(context)),
                            "{kind} {text} {context} (round {round})"
                        );
                    }
                }
            }
        }
        // The context that passed is remembered by the plan's own type, the other is not.
        let select = plan.events.get_key_value("select").unwrap().0.as_str();
        assert!(checks.context_passed(select, &contexts[1]));
        assert!(!checks.context_passed(select, &contexts[0]));
        assert!(!checks.context_passed("select", &contexts[1]));
        // Only the texts the fast path cannot pass (select's properties and context: a
        // position below the minimum, an app without its version), once each; the owned
        // copies are not kept, and the unplanned type has nothing to remember.
        let mut seen: Vec<_> = checks
            .seen
            .keys()
            .map(|(kind, _, text)| (*kind, *text))
            .collect();
        seen.sort();
        assert_eq!(seen, [("select", r#"{"app":{}}"#), ("select", texts[0])]);
    }

    #[test]
    fn each_failure_names_its_keyword_and_pointer() {
        let plan = Plan::parse(PLAN).unwrap();
        assert_eq!(plan.version, "7");
        let ok = plan.check(
            "select",
            Some(r#"{"sticker_id":"s","position":2}"#),
            Some(r#"{"app":{"version":"5"}}"#),
        );
        assert_eq!(ok, vec![]);
        let found = plan.check(
            "select",
            Some(r#"{"sticker_id":"s","position":"2","filter":"gif"}"#),
            Some(r#"{"app":{}}"#),
        );
        let mut got = rules(&found);
        got.sort();
        assert_eq!(
            got,
            [
                ("additionalProperties", "/properties/filter"),
                ("required", "/context/app/version"),
                ("type", "/properties/position"),
            ]
        );
        assert_eq!(
            rules(&plan.check("select", None, None)),
            [
                ("required", "/properties/sticker_id"),
                ("required", "/properties/position")
            ]
        );
        assert_eq!(
            rules(&plan.check("zoom", None, None)),
            [(UNPLANNED_TYPE, "/type")]
        );
        assert_eq!(plan.check("search", Some("{}"), None), vec![]);
    }

    #[test]
    fn a_bad_plan_says_where() {
        let bad = PLAN.replace(r#""minimum": 1"#, r#""minimum": "one""#);
        let error = Plan::parse(&bad).err().unwrap();
        assert!(error.contains("events.select.properties"), "{error}");
        assert!(Plan::parse(r#"{"version":"1","unplanned":"maybe","events":{}}"#).is_err());
        let allow = Plan::parse(r#"{"version":"1","events":{}}"#).unwrap();
        assert_eq!(allow.check("zoom", None, None), vec![]);
    }
}

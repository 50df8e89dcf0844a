//! The event stream: who searched what, picked which sticker, reported which, and when.

use chrono::{DateTime, FixedOffset, NaiveDate, SecondsFormat, Utc};
use rand::distr::weighted::WeightedIndex;
use rand::distr::Distribution;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use super::catalog::{Catalog, Sticker};

const USERS: usize = 500;

#[derive(Debug, Clone)]
pub struct GeneratorConfig {
    pub events: u64,
    pub days: u32,
    pub start: NaiveDate,
    pub servers: u32,
    pub seed: u64,
    /// Weekday seasonality: weekends busier than weekdays (see [`WEEKDAY_WEIGHTS`]).
    pub weekly: bool,
}

/// How busy each weekday is, Monday first, with `--weekly`: more stickers are sent at the
/// weekend.
const WEEKDAY_WEIGHTS: [f64; 7] = [0.9, 0.85, 0.9, 0.95, 1.1, 1.4, 1.3];

pub struct EventGenerator<'a> {
    config: GeneratorConfig,
    rng: StdRng,
    /// Each term, and the stickers ranked for it (see [`Catalog::ranked_for`]).
    terms: Vec<(String, Vec<&'a Sticker>)>,
    term_weights: WeightedIndex<f64>,
    user_weights: WeightedIndex<f64>,
}

/// A line and when it reaches its server's log.
struct Arrival {
    server: usize,
    at_us: i64,
    line: Vec<u8>,
}

impl<'a> EventGenerator<'a> {
    pub fn new(catalog: &'a Catalog, config: GeneratorConfig) -> Self {
        let terms: Vec<_> = catalog
            .terms()
            .into_iter()
            .map(|(subject, scene, term)| (term, catalog.ranked_for(subject, scene)))
            .collect();
        let zipf = |n: usize, s: f64| (1..=n).map(move |rank| 1.0 / (rank as f64).powf(s));
        Self {
            term_weights: WeightedIndex::new(zipf(terms.len(), 1.1)).expect("weights"),
            user_weights: WeightedIndex::new(zipf(USERS, 0.8)).expect("weights"),
            rng: StdRng::seed_from_u64(config.seed),
            terms,
            config,
        }
    }

    /// Every server's lines, in the order they reach its log.
    pub fn by_server(mut self) -> Vec<Vec<Vec<u8>>> {
        let mut arrivals = Vec::with_capacity(self.config.events as usize * 102 / 100);
        for n in 0..self.config.events {
            let server = self.rng.random_range(0..self.config.servers as usize);
            let (event_us, line) = self.event(n);
            let late = self.rng.random_bool(0.03);
            let at_us = event_us
                + if late {
                    self.rng.random_range(3_600..172_800) * 1_000_000
                } else {
                    0
                };
            if self.rng.random_bool(0.01) {
                // A retried delivery: the same line again, on any server, a little later.
                let retry_server = self.rng.random_range(0..self.config.servers as usize);
                let retry_at = at_us + self.rng.random_range(1..600) * 1_000_000;
                arrivals.push(Arrival {
                    server: retry_server,
                    at_us: retry_at,
                    line: line.clone(),
                });
            }
            arrivals.push(Arrival {
                server,
                at_us,
                line,
            });
            if self.rng.random_bool(0.004) {
                let line = if self.rng.random_bool(0.4) {
                    Vec::new()
                } else {
                    self.bad_line(n)
                };
                arrivals.push(Arrival {
                    server,
                    at_us,
                    line,
                });
            }
        }
        arrivals.sort_by_key(|a| (a.server, a.at_us));
        let mut servers = vec![Vec::new(); self.config.servers as usize];
        for arrival in arrivals {
            servers[arrival.server].push(arrival.line);
        }
        servers
    }

    fn event(&mut self, n: u64) -> (i64, Vec<u8>) {
        let day_us = 86_400 * 1_000_000i64;
        let start_us = self
            .config
            .start
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
            .timestamp_micros();
        let event_us = loop {
            let at = start_us
                + self
                    .rng
                    .random_range(0..day_us * i64::from(self.config.days));
            if !self.config.weekly || self.busy_enough(at) {
                break at;
            }
        };
        let (term, ranked) = self.terms[self.term_weights.sample(&mut self.rng)].clone();
        let query = self.typed_variant(&term);
        let roll: f64 = self.rng.random();
        let (kind, properties) = if roll < 0.70 {
            let results: Vec<&str> = ranked.iter().take(10).map(|s| s.id.as_str()).collect();
            (
                "search",
                json!({"query": query, "results": results, "latency_ms": self.rng.random_range(3..80)}),
            )
        } else if roll < 0.90 {
            // Mostly a sticker made for the term, sometimes one of the same subject.
            let pick = if self.rng.random_bool(0.8) {
                self.rng.random_range(0..3)
            } else {
                self.rng.random_range(3..10)
            };
            (
                "select",
                json!({"query": query, "sticker_id": ranked[pick].id, "position": pick + 1}),
            )
        } else if roll < 0.96 {
            // Mostly off-topic stickers; a report can list the same sticker twice.
            let off_topic = &ranked[self.rng.random_range(10..ranked.len())].id;
            let mut ids = vec![off_topic.clone()];
            if self.rng.random_bool(0.3) {
                ids.push(ranked[self.rng.random_range(0..3)].id.clone());
            }
            if self.rng.random_bool(0.05) {
                ids.push(off_topic.clone());
            }
            (
                "report",
                json!({"query": query, "sticker_ids": ids, "reason": "offensive"}),
            )
        } else if roll < 0.98 {
            ("purchase", self.purchase())
        } else {
            ("app_open", json!({"screen": "home"}))
        };
        let mut event = json!({
            "messageId": format!("m-{:08x}-{n}", self.config.seed),
            "type": kind,
            "timestamp": self.timestamp(event_us),
            "context": {"app": {"version": "5.1.0"}, "os": {"name": if n.is_multiple_of(3) { "Android" } else { "iOS" }}},
            "properties": properties,
        });
        let user = self.user_weights.sample(&mut self.rng);
        if self.rng.random_bool(0.1) {
            event["anonymousId"] = Value::from(format!("a-{user:04}"));
        } else {
            event["userId"] = Value::from(format!("u-{user:04}"));
        }
        (event_us, serde_json::to_vec(&event).expect("serializes"))
    }

    /// Whether a time drawn uniformly is kept, with its weekday's probability (rejection
    /// sampling: the events keep their number, the busy days get more of them).
    fn busy_enough(&mut self, at_us: i64) -> bool {
        use chrono::Datelike;
        let day = DateTime::<Utc>::from_timestamp_micros(at_us).expect("in range");
        let weight = WEEKDAY_WEIGHTS[day.weekday().num_days_from_monday() as usize];
        let busiest = WEEKDAY_WEIGHTS.iter().copied().fold(0.0, f64::max);
        self.rng.random_bool(weight / busiest)
    }

    /// A sticker-pack purchase. One in fifty sends its amount as a string, as buggy clients
    /// do: half of those a number in a string (which `json_get_int` reads), half a price
    /// text (which it reads as NULL).
    fn purchase(&mut self) -> Value {
        let sku = format!("pack_{:03}", self.rng.random_range(0..40));
        let cents = [99, 199, 299, 499, 999][self.rng.random_range(0..5)];
        let currency = if self.rng.random_bool(0.8) {
            "USD"
        } else {
            "EUR"
        };
        let amount = match self.rng.random_range(0..100) {
            0 => Value::from(cents.to_string()),
            1 => Value::from(format!("{}.{:02} {currency}", cents / 100, cents % 100)),
            _ => Value::from(cents),
        };
        json!({"sku": sku, "amount_cents": amount, "currency": currency})
    }

    /// How people type a term: mostly as is, sometimes capitalized, padded, or in
    /// full-width letters and ideographic spaces.
    fn typed_variant(&mut self, term: &str) -> String {
        match self.rng.random_range(0..20) {
            0..=11 => term.to_owned(),
            12..=14 => capitalize(term),
            15 => term.to_uppercase(),
            16 => format!("  {}  ", term.replace(' ', "  ")),
            17 => term.replacen(' ', "\u{3000}", 1),
            18 => term.chars().map(full_width).collect(),
            _ => format!("{term}\t"),
        }
    }

    fn timestamp(&mut self, event_us: i64) -> String {
        let utc = DateTime::<Utc>::from_timestamp_micros(event_us).expect("in range");
        match self.rng.random_range(0..5) {
            0 => utc.to_rfc3339_opts(SecondsFormat::Secs, true),
            1 => {
                let offset =
                    FixedOffset::east_opt(self.rng.random_range(-11..=13) * 3600).expect("offset");
                utc.with_timezone(&offset)
                    .to_rfc3339_opts(SecondsFormat::Millis, false)
            }
            _ => utc.to_rfc3339_opts(SecondsFormat::Millis, true),
        }
    }

    fn bad_line(&mut self, n: u64) -> Vec<u8> {
        let id = format!("m-bad-{n}");
        let line = match self.rng.random_range(0..7) {
            0 => format!(r#"{{"messageId":"{id}","type":"search","timestamp":"2026-11-2"#),
            1 => r#"{"type":"search","timestamp":"2026-11-23T10:00:00Z","properties":{"query":"cat"}}"#.to_owned(),
            2 => format!(
                r#"{{"messageId":"{id}","type":"search","timestamp":"23/11/2026 10:00","properties":{{"query":"cat"}}}}"#
            ),
            3 => format!(
                r#"{{"messageId":"{id}","type":"search","timestamp":"2026-11-23T10:00:00Z","properties":{{"query":42}}}}"#
            ),
            4 => format!(
                r#"{{"messageId":"{id}","type":"report","timestamp":"2026-11-23T10:00:00Z","properties":{{"query":"cat","sticker_ids":[]}}}}"#
            ),
            5 => r#"["not", "an", "object"]"#.to_owned(),
            _ => {
                let mut bytes = format!(r#"{{"messageId":"{id}","type":"search","timestamp":"2026-11-23T10:00:00Z","properties":{{"query":"caf"#).into_bytes();
                bytes.extend_from_slice(b"\xe9\"}}");
                return bytes;
            }
        };
        line.into_bytes()
    }
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn full_width(c: char) -> char {
    match c {
        '!'..='~' => char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap_or(c),
        ' ' => '\u{3000}',
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tailer::parse::parse_line;

    fn generate(seed: u64) -> Vec<Vec<Vec<u8>>> {
        let catalog = Catalog::new();
        let config = GeneratorConfig {
            events: 3000,
            days: 2,
            start: NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
            servers: 2,
            seed,
            weekly: false,
        };
        EventGenerator::new(&catalog, config).by_server()
    }

    #[test]
    fn same_seed_same_logs() {
        assert_eq!(generate(1), generate(1));
        assert_ne!(generate(1), generate(2));
    }

    #[test]
    fn logs_have_duplicates_bad_lines_and_variants() {
        let lines: Vec<Vec<u8>> = generate(3).into_iter().flatten().collect();
        let events: Vec<_> = lines
            .iter()
            .filter(|l| !l.is_empty())
            .map(|l| parse_line(l))
            .collect();
        let bad = events.iter().filter(|e| e.is_err()).count();
        let ok: Vec<_> = events.into_iter().flatten().collect();
        let ids: std::collections::HashSet<_> = ok.iter().map(|e| &e.message_id).collect();
        assert!(bad > 0, "no bad lines");
        assert!(ids.len() < ok.len(), "no duplicate messageIds");
        assert!(ok
            .iter()
            .any(|e| e.query.as_deref().is_some_and(|q| q.contains('\u{3000}'))));
        assert!(ok.iter().any(|e| e.kind == "report") && ok.iter().any(|e| e.kind == "select"));
        assert!(ok.iter().any(|e| e.kind == "purchase"));
    }
}

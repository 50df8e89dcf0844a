//! The checks themselves: a day's profile against its baseline days' profiles, as results.
//! Pure: the profiles, the settings and the failures already known go in, results come out.
//!
//! A baseline day whose same result failed (a silent server's day, a bot's day) is left out
//! of that result's baseline, so a fault does not become the next weeks' normal.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::band::{band, Band, Tolerance};
use super::config::{CheckConfig, DistributionConfig, SchemaConfig};
use super::profile::DayProfile;
use super::results::{CheckResult, Status, Subject};

/// Results that failed, by day: what baselines leave out.
pub type KnownFailures = HashSet<(NaiveDate, Subject)>;

/// The days a day is compared with for volume and distribution: the same weekday of each of
/// the `weeks` weeks before (traffic has a weekly rhythm; a Sunday is not a low Monday).
pub fn same_weekdays(day: NaiveDate, weeks: u32) -> Vec<NaiveDate> {
    (1..=i64::from(weeks))
        .map(|w| day - Duration::weeks(w))
        .collect()
}

/// Every day of the `weeks` weeks before `day`: the schema's baseline (which keys exist does
/// not follow the week, and a rare value type needs every day to be seen).
pub fn window(day: NaiveDate, weeks: u32) -> Vec<NaiveDate> {
    (1..=i64::from(weeks) * 7)
        .map(|d| day - Duration::days(d))
        .collect()
}

/// What the checks of one day read.
pub struct Inputs<'a> {
    pub day: NaiveDate,
    pub profiles: &'a BTreeMap<NaiveDate, DayProfile>,
    pub failures: &'a KnownFailures,
    pub config: &'a CheckConfig,
}

impl Inputs<'_> {
    fn today(&self) -> &DayProfile {
        static EMPTY: std::sync::LazyLock<DayProfile> =
            std::sync::LazyLock::new(DayProfile::default);
        self.profiles.get(&self.day).unwrap_or(&EMPTY)
    }

    /// The baseline days among `days` that hold data.
    fn baseline(&self, days: Vec<NaiveDate>) -> Vec<(NaiveDate, &DayProfile)> {
        days.into_iter()
            .filter_map(|d| Some((d, self.profiles.get(&d).filter(|p| !p.is_empty())?)))
            .collect()
    }

    /// `value` of each baseline day whose `subject` did not fail.
    fn history(
        &self,
        baseline: &[(NaiveDate, &DayProfile)],
        subject: &Subject,
        value: impl Fn(&DayProfile) -> Option<f64>,
    ) -> Vec<f64> {
        baseline
            .iter()
            .filter(|(d, _)| !self.failures.contains(&(*d, subject.clone())))
            .filter_map(|(_, p)| value(p))
            .collect()
    }

    fn weekday(&self) -> String {
        format!("{}s", self.day.format("%A"))
    }

    fn result(
        &self,
        subject: Subject,
        status: Status,
        value: f64,
        expected: Option<Band>,
        message: String,
    ) -> CheckResult {
        let (check, kind, source, key) = subject;
        CheckResult {
            date: self.day,
            check,
            kind,
            source,
            key,
            status,
            value: Some(value),
            expected_low: expected.map(|b| b.low),
            expected_high: expected.map(|b| b.high),
            message,
        }
    }
}

fn subject(check: &str, kind: Option<&str>, source: Option<&str>, key: Option<&str>) -> Subject {
    (
        check.to_owned(),
        kind.map(str::to_owned),
        source.map(str::to_owned),
        key.map(str::to_owned),
    )
}

/// Against a warn band and a fail band (the warn band is what is reported as expected).
fn grade(value: f64, warn: Band, fail: Band) -> Status {
    if !fail.holds(value) {
        Status::Fail
    } else if !warn.holds(value) {
        Status::Warn
    } else {
        Status::Pass
    }
}

fn bands(history: &[f64], warn: Tolerance, fail: Tolerance) -> Option<(Band, Band)> {
    Some((band(history, warn)?, band(history, fail)?))
}

/// Rows per (type, source) against the same weekday of the baseline weeks. A source that
/// sent rows on every baseline day and none today fails whatever the band says.
pub fn volume(inputs: &Inputs<'_>) -> Vec<CheckResult> {
    let config = &inputs.config.volume;
    let today = inputs.today();
    let baseline = inputs.baseline(same_weekdays(inputs.day, inputs.config.baseline_weeks));
    let subjects: BTreeSet<&(String, String)> = today
        .volume
        .keys()
        .chain(baseline.iter().flat_map(|(_, p)| p.volume.keys()))
        .collect();
    let mut results = Vec::new();
    for (kind, source) in subjects {
        let about = subject("volume", Some(kind), Some(source), None);
        let rows = |p: &DayProfile| {
            let n = p.volume.get(&(kind.clone(), source.clone()));
            Some(n.copied().unwrap_or(0) as f64)
        };
        let value = rows(today).unwrap_or(0.0);
        let history = inputs.history(&baseline, &about, rows);
        let Some((warn, fail)) = bands(&history, config.warn, config.fail)
            .filter(|_| history.len() >= inputs.config.min_baseline_days)
        else {
            if value > 0.0 {
                let message = learning(&history, inputs.config);
                results.push(inputs.result(about, Status::Pass, value, None, message));
            }
            continue;
        };
        let sent_every_day = baseline.iter().all(|(_, p)| p.source_rows(source) > 0);
        let silent = today.source_rows(source) == 0 && sent_every_day && warn.median > 0.0;
        // A type or source the baseline never saw is news, not yet a fault.
        let new = history.iter().all(|n| *n == 0.0) && value > 0.0;
        let status = match (silent, new) {
            (true, _) => Status::Fail,
            (_, true) => Status::Warn,
            _ => grade(value, warn, fail),
        };
        let message = match status {
            Status::Pass => format!("{} {kind} rows from {source}, as usual", count(value)),
            _ if new => format!(
                "{} {kind} rows from {source}, none on the last {} {}: a new event type or server? If it is planned, nothing to do",
                count(value), history.len(), inputs.weekday()
            ),
            _ if silent => format!(
                "{source} sent nothing on {} (usually {} {kind} rows on {}): is the app on that server logging, and is its tailer running? Re-check the day once it is fixed",
                inputs.day, count(warn.median), inputs.weekday()
            ),
            _ => format!(
                "{} {kind} rows from {source}, usually {} on {} (expected {}–{}): {}",
                count(value),
                count(warn.median),
                inputs.weekday(),
                count(warn.low),
                count(warn.high),
                if value < warn.low {
                    "a server down for part of the day, or a client that stopped sending this event?"
                } else {
                    "a bot, a retry storm, or a client sending the event twice? Look at the day's top users and terms"
                }
            ),
        };
        results.push(inputs.result(about, status, value, Some(warn), message));
    }
    results
}

fn learning(history: &[f64], config: &CheckConfig) -> String {
    format!(
        "learning: {} of the {} baseline day(s) needed so far",
        history.len(),
        config.min_baseline_days
    )
}

fn count(n: f64) -> String {
    let n = n.round() as i64;
    let digits = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

/// Property keys and their value types per event type, against every day of the baseline
/// weeks: a new key, a new value type, and a key that every baseline day had and the day
/// lacks are each a result of their own.
pub fn schema(inputs: &Inputs<'_>) -> Vec<CheckResult> {
    let config = &inputs.config.schema;
    let baseline = inputs.baseline(window(inputs.day, inputs.config.baseline_weeks));
    let mut results = Vec::new();
    for (kind, keys) in &inputs.today().keys {
        let seen: Vec<_> = baseline
            .iter()
            .filter_map(|(_, p)| p.keys.get(kind))
            .collect();
        let about = |key: Option<&str>| subject("schema", Some(kind), None, key);
        if seen.len() < inputs.config.min_baseline_days {
            let message = if baseline.len() < inputs.config.min_baseline_days {
                learning(&vec![0.0; seen.len()], inputs.config)
            } else {
                format!("{kind} is a new event type: its keys are learned from today on")
            };
            let value = keys.events as f64;
            results.push(inputs.result(about(None), Status::Pass, value, None, message));
            continue;
        }
        let before = schema_results(kind, keys, &seen, config, &about);
        if before.is_empty() {
            let message = format!(
                "{} keys of {kind}, with the value types of the last {} week(s)",
                keys.paths.len(),
                inputs.config.baseline_weeks
            );
            let value = keys.paths.len() as f64;
            results.push(inputs.result(about(None), Status::Pass, value, None, message));
        }
        for (about, status, value, message) in before {
            results.push(inputs.result(about, status, value, None, message));
        }
    }
    results
}

type Finding = (Subject, Status, f64, String);

fn schema_results(
    kind: &str,
    today: &super::profile::TypeKeys,
    seen: &[&super::profile::TypeKeys],
    config: &SchemaConfig,
    about: &dyn Fn(Option<&str>) -> Subject,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut known: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    for keys in seen {
        for (path, types) in &keys.paths {
            known.entry(path).or_default().extend(types.keys().copied());
        }
    }
    for (path, types) in &today.paths {
        let events: u64 = types.values().sum();
        let Some(known_types) = known.get(path.as_str()) else {
            let message = format!(
                "{kind} events carry a new key `{path}` ({} of {}), never seen in the baseline: a new app version? Add it to the tracking plan if it is meant",
                count(events as f64), count(today.events as f64)
            );
            let status = at_least(events, config.min_events, config.new_key);
            findings.push((about(Some(path)), status, events as f64, message));
            continue;
        };
        for (json_type, n) in types {
            if !known_types.contains(json_type) {
                let before: Vec<&str> = known_types.iter().copied().collect();
                let message = format!(
                    "`{path}` of {kind} events arrived as {json_type} in {} event(s); before it was only {}: a client that changed the property's type breaks readers that expect the old one",
                    count(*n as f64),
                    before.join(" or ")
                );
                let status = at_least(*n, config.min_events, config.new_type);
                findings.push((about(Some(path)), status, *n as f64, message));
            }
        }
    }
    for (path, _) in known.iter().filter(|(p, _)| !today.paths.contains_key(**p)) {
        let (held, total) = seen.iter().fold((0, 0), |(held, total), keys| {
            let with = keys.paths.get(*path).map_or(0, |t| t.values().sum::<u64>());
            (held + with, total + keys.events)
        });
        let on_every_day = seen.iter().all(|keys| keys.paths.contains_key(*path));
        let expected = held as f64 / total.max(1) as f64 * today.events as f64;
        if on_every_day && expected >= config.min_expected {
            let message = format!(
                "{kind} events no longer carry `{path}` (about {} of today's {} would have): a client that dropped the property?",
                count(expected), count(today.events as f64)
            );
            findings.push((about(Some(path)), config.missing_key, 0.0, message));
        }
    }
    findings.sort_by(|a, b| a.0.cmp(&b.0));
    findings
}

/// `severity` for a finding on at least `min` events, else a warning.
fn at_least(events: u64, min: u64, severity: Status) -> Status {
    match events >= min {
        true => severity,
        false => severity.min(Status::Warn),
    }
}

/// The day's search terms against the baseline's: their Jensen–Shannon distance, any one
/// term that one source sent far more often than usual, and the report rate.
pub fn distribution(inputs: &Inputs<'_>) -> Vec<CheckResult> {
    let config = &inputs.config.distribution;
    let today = inputs.today();
    let baseline = inputs.baseline(same_weekdays(inputs.day, inputs.config.baseline_weeks));
    let mut results = Vec::new();
    if today.searches > 0 {
        results.extend(term_distance(inputs, &baseline, config));
        results.extend(term_spikes(inputs, &baseline, config));
    }
    if today.searches > 0 || today.reports > 0 {
        results.extend(report_rate(inputs, &baseline, config));
    }
    results
}

fn term_distance(
    inputs: &Inputs<'_>,
    baseline: &[(NaiveDate, &DayProfile)],
    config: &DistributionConfig,
) -> Option<CheckResult> {
    let about = subject("distribution", Some("search"), None, None);
    let usable: Vec<&DayProfile> = baseline
        .iter()
        .filter(|(d, p)| p.searches > 0 && !inputs.failures.contains(&(*d, about.clone())))
        .map(|(_, p)| *p)
        .collect();
    let totals: Vec<HashMap<&str, u64>> = usable.iter().map(|p| p.term_totals()).collect();
    let pooled = pool(totals.iter());
    let top = top_terms(&pooled, config.top_terms);
    let value = js_distance(
        &shares(&inputs.today().term_totals(), &top),
        &shares(&pooled, &top),
    );
    // How far each baseline day was from the others: the noise the day is judged against.
    let noise: Vec<f64> = (0..totals.len())
        .filter(|_| totals.len() > 1)
        .map(|i| {
            let others = pool(
                totals
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, t)| t),
            );
            js_distance(&shares(&totals[i], &top), &shares(&others, &top))
        })
        .collect();
    if noise.len() < inputs.config.min_baseline_days {
        return Some(inputs.result(
            about,
            Status::Pass,
            value,
            None,
            learning(&noise, inputs.config),
        ));
    }
    let (warn, fail) = bands(&noise, config.warn, config.fail)?;
    // Only a larger distance is a finding; the band's low side is 0.
    let (warn, fail) = (Band { low: 0.0, ..warn }, Band { low: 0.0, ..fail });
    let status = grade(value, warn, fail);
    let message = match status {
        Status::Pass => format!("search terms as usual (Jensen–Shannon distance {value:.3})"),
        _ => format!(
            "search terms moved away from the last {} {} (Jensen–Shannon distance {value:.3}, usually up to {:.3}): see the day's top terms with `stickerlake sql \"SELECT term, searches FROM search_term_daily WHERE event_date = DATE '{}' ORDER BY searches DESC LIMIT 20\"`",
            totals.len(), inputs.weekday(), warn.high, inputs.day
        ),
    };
    Some(inputs.result(about, status, value, Some(warn), message))
}

fn term_spikes(
    inputs: &Inputs<'_>,
    baseline: &[(NaiveDate, &DayProfile)],
    config: &DistributionConfig,
) -> Vec<CheckResult> {
    let today = inputs.today();
    let floor = config.min_term_share * today.searches as f64;
    let mut results = Vec::new();
    let mut candidates: Vec<(&(String, String), &u64)> = today
        .terms
        .iter()
        .filter(|(_, n)| **n as f64 >= floor)
        .collect();
    candidates.sort();
    for ((term, source), n) in candidates {
        let about = subject("distribution", Some("search"), Some(source), Some(term));
        let searched = |p: &DayProfile| {
            let n = p.terms.get(&(term.clone(), source.clone()));
            Some(n.copied().unwrap_or(0) as f64)
        };
        let history = inputs.history(baseline, &about, searched);
        if history.len() < inputs.config.min_baseline_days {
            continue;
        }
        let Some((warn, fail)) = bands(&history, config.term_warn, config.term_fail) else {
            continue;
        };
        let value = *n as f64;
        let status = grade(value, warn, fail);
        if status == Status::Pass || value < warn.median {
            continue;
        }
        let message = format!(
            "`{term}` was searched {} times from {source}, usually {} on {} ({:.0}% of the day's searches): a bot or a scraper? It is in search_term_daily; find its users with `stickerlake sql \"SELECT user_id, count(*) FROM raw_events WHERE event_date = DATE '{}' AND term = '{}' GROUP BY user_id ORDER BY 2 DESC LIMIT 5\"`",
            count(value),
            count(warn.median),
            inputs.weekday(),
            100.0 * value / today.searches as f64,
            inputs.day,
            term.replace('\'', "''")
        );
        results.push(inputs.result(about, status, value, Some(warn), message));
    }
    results
}

fn report_rate(
    inputs: &Inputs<'_>,
    baseline: &[(NaiveDate, &DayProfile)],
    config: &DistributionConfig,
) -> Option<CheckResult> {
    let about = subject(
        "distribution",
        Some("report"),
        None,
        Some("reports_per_search"),
    );
    let rate = |p: &DayProfile| (p.searches > 0).then(|| p.reports as f64 / p.searches as f64);
    let value = rate(inputs.today()).unwrap_or(f64::INFINITY);
    let history = inputs.history(baseline, &about, rate);
    if history.len() < inputs.config.min_baseline_days {
        let value = if value.is_finite() { value } else { 0.0 };
        return Some(inputs.result(
            about,
            Status::Pass,
            value,
            None,
            learning(&history, inputs.config),
        ));
    }
    let (warn, fail) = bands(&history, config.report_rate_warn, config.report_rate_fail)?;
    let status = grade(value, warn, fail);
    let value = if value.is_finite() { value } else { 0.0 };
    let message = match status {
        Status::Pass => format!("{value:.4} reports per search, as usual"),
        _ => format!(
            "{value:.4} reports per search, usually {:.4} on {} (expected {:.4}–{:.4}): {}",
            warn.median,
            inputs.weekday(),
            warn.low,
            warn.high,
            if value > warn.high {
                "a bad batch of stickers, or a report button that fires by itself?"
            } else {
                "a broken report button, or a flood of searches (see the term results)?"
            }
        ),
    };
    Some(inputs.result(about, status, value, Some(warn), message))
}

fn pool<'a>(days: impl Iterator<Item = &'a HashMap<&'a str, u64>>) -> HashMap<&'a str, u64> {
    let mut pooled: HashMap<&str, u64> = HashMap::new();
    for day in days {
        for (term, n) in day {
            *pooled.entry(term).or_default() += n;
        }
    }
    pooled
}

/// The `k` most searched terms (ties by name, so the choice is deterministic).
fn top_terms<'a>(counts: &HashMap<&'a str, u64>, k: usize) -> Vec<&'a str> {
    let mut terms: Vec<(&str, u64)> = counts.iter().map(|(t, n)| (*t, *n)).collect();
    terms.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    terms.into_iter().take(k).map(|(t, _)| t).collect()
}

/// Each of `top`'s share of the searches, and last the share of every other term.
fn shares(counts: &HashMap<&str, u64>, top: &[&str]) -> Vec<f64> {
    let total: u64 = counts.values().sum();
    if total == 0 {
        return vec![0.0; top.len() + 1];
    }
    let mut out: Vec<f64> = top
        .iter()
        .map(|t| counts.get(t).copied().unwrap_or(0) as f64 / total as f64)
        .collect();
    let other = 1.0 - out.iter().sum::<f64>();
    out.push(other.max(0.0));
    out
}

/// The Jensen–Shannon distance (the square root of the divergence, base 2) of two
/// distributions over the same categories: 0 for the same, 1 for disjoint ones.
pub fn js_distance(p: &[f64], q: &[f64]) -> f64 {
    let term = |a: f64, m: f64| if a > 0.0 { a * (a / m).log2() } else { 0.0 };
    let divergence: f64 = p
        .iter()
        .zip(q)
        .map(|(&a, &b)| {
            let m = (a + b) / 2.0;
            (term(a, m) + term(b, m)) / 2.0
        })
        .sum();
    divergence.max(0.0).sqrt()
}

/// For today: every source that sent events in the last `active_days` days and whose newest
/// event is older than `max_delay`, and every tailer (not retired) whose last commit is.
pub fn freshness(
    day: NaiveDate,
    now: DateTime<Utc>,
    newest: &BTreeMap<String, DateTime<Utc>>,
    tailers: &BTreeMap<String, Option<DateTime<Utc>>>,
    max_delay: Duration,
) -> Vec<CheckResult> {
    let limit = max_delay.num_seconds() as f64;
    let result = |source: Option<&str>, key: Option<&str>, age: f64, message: String| CheckResult {
        date: day,
        check: "freshness".into(),
        kind: None,
        source: source.map(str::to_owned),
        key: key.map(str::to_owned),
        status: if age > limit {
            Status::Fail
        } else {
            Status::Pass
        },
        value: Some(age),
        expected_low: Some(0.0),
        expected_high: Some(limit),
        message,
    };
    let age = |at: DateTime<Utc>| (now - at).num_seconds().max(0) as f64;
    let mut results = Vec::new();
    for (source, at) in newest {
        let age = age(*at);
        let message = match age > limit {
            false => format!("{source}'s newest event is {} old", crate::units::human_seconds(age as i64)),
            true => format!(
                "{source}'s newest event is {} old (at most {} expected): is the app on that server logging, and is its tailer running?",
                crate::units::human_seconds(age as i64),
                crate::units::human_seconds(limit as i64)
            ),
        };
        results.push(result(Some(source), None, age, message));
    }
    for (tailer, at) in tailers {
        let (age, message) = match at {
            Some(at) if age(*at) <= limit => (age(*at), format!("tailer {tailer} last committed {} ago", crate::units::human_seconds(age(*at) as i64))),
            Some(at) => (age(*at), format!(
                "tailer {tailer} last committed {} ago (at most {} expected): is it running, and can it write to the warehouse? `stickerlake status` shows its watermark; retire a host that is gone with `stickerlake tailer --tailer-id {tailer} --retire`",
                crate::units::human_seconds(age(*at) as i64),
                crate::units::human_seconds(limit as i64)
            )),
            None => (f64::MAX, format!("tailer {tailer} has never committed")),
        };
        results.push(result(None, Some(tailer), age, message));
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quality::profile::Row;

    fn day(n: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 2).unwrap() + Duration::days(i64::from(n))
    }

    /// A day of `searches` searches per source spread over terms t0…t9 (t0 the most
    /// searched), `reports` reports, and a fixed set of keys.
    fn traffic(sources: &[&str], searches: u64, seed: u64) -> DayProfile {
        let mut profile = DayProfile::default();
        for (s, source) in sources.iter().enumerate() {
            for i in 0..searches {
                let term = format!("t{}", (i * 7 + seed + s as u64) % 10 / 3);
                profile.add(&Row {
                    kind: "search",
                    source,
                    properties: Some(r#"{"query":"x","latency_ms":5}"#),
                    context: None,
                    term: Some(&term),
                });
                if i % 20 == 0 {
                    profile.add(&Row {
                        kind: "report",
                        source,
                        properties: Some(r#"{"query":"x"}"#),
                        context: None,
                        term: None,
                    });
                }
            }
        }
        profile
    }

    fn check_day(profiles: &BTreeMap<NaiveDate, DayProfile>, on: NaiveDate) -> Vec<CheckResult> {
        let config = CheckConfig::default();
        let failures = KnownFailures::new();
        let inputs = Inputs {
            day: on,
            profiles,
            failures: &failures,
            config: &config,
        };
        [volume(&inputs), schema(&inputs), distribution(&inputs)].concat()
    }

    fn weeks_of_traffic(weeks: u32) -> BTreeMap<NaiveDate, DayProfile> {
        (0..weeks * 7)
            .map(|d| {
                (
                    day(d),
                    traffic(&["a", "b"], 1000 + u64::from(d % 7) * 100, u64::from(d)),
                )
            })
            .collect()
    }

    fn failed(results: &[CheckResult]) -> Vec<Subject> {
        results
            .iter()
            .filter(|r| r.status == Status::Fail)
            .map(CheckResult::subject)
            .collect()
    }

    #[test]
    fn ordinary_weeks_pass() {
        let profiles = weeks_of_traffic(5);
        for d in 0..35 {
            let results = check_day(&profiles, day(d));
            assert_eq!(failed(&results), vec![], "{}", day(d));
        }
    }

    #[test]
    fn a_silent_source_fails_every_one_of_its_types() {
        let mut profiles = weeks_of_traffic(5);
        profiles.insert(day(34), traffic(&["a"], 1000 + 6 * 100, 34));
        let failed = failed(&check_day(&profiles, day(34)));
        assert!(
            failed.contains(&subject("volume", Some("search"), Some("b"), None)),
            "{failed:?}"
        );
        assert!(
            failed.contains(&subject("volume", Some("report"), Some("b"), None)),
            "{failed:?}"
        );
        assert!(
            !failed.iter().any(|s| s.2.as_deref() == Some("a")),
            "{failed:?}"
        );
    }

    #[test]
    fn half_the_volume_fails_and_a_failed_day_is_no_baseline() {
        let mut profiles = weeks_of_traffic(6);
        let mut half = traffic(&["a"], 1200, 29);
        for (k, v) in traffic(&["b"], 600, 29).volume {
            half.volume.insert(k, v);
        }
        profiles.insert(day(30), half);
        let results = check_day(&profiles, day(30));
        let about = subject("volume", Some("search"), Some("b"), None);
        assert!(failed(&results).contains(&about), "{results:?}");
        // A week later the baseline leaves that day out when it knows it failed.
        let config = CheckConfig::default();
        let failures: KnownFailures = [(day(30), about.clone())].into();
        let inputs = Inputs {
            day: day(37),
            profiles: &profiles,
            failures: &failures,
            config: &config,
        };
        let result = volume(&inputs)
            .into_iter()
            .find(|r| r.subject() == about)
            .unwrap();
        assert!(result.expected_low.unwrap() > 900.0, "{result:?}");
    }

    #[test]
    fn a_new_key_a_new_type_and_a_missing_key_each_fail() {
        let mut profiles = weeks_of_traffic(2);
        let mut today = DayProfile::default();
        for _ in 0..500 {
            today.add(&Row {
                kind: "search",
                source: "a",
                properties: Some(r#"{"query":"x","latency_ms":"5","filter":"gif"}"#),
                context: None,
                term: Some("t0"),
            });
        }
        profiles.insert(day(14), today);
        let failed = failed(&check_day(&profiles, day(14)));
        for key in ["filter", "latency_ms"] {
            assert!(
                failed.contains(&subject("schema", Some("search"), None, Some(key))),
                "{key}: {failed:?}"
            );
        }
        let mut dropped = DayProfile::default();
        for _ in 0..500 {
            dropped.add(&Row {
                kind: "search",
                source: "a",
                properties: Some(r#"{"query":"x"}"#),
                context: None,
                term: Some("t0"),
            });
        }
        profiles.insert(day(14), dropped);
        let failed: Vec<_> = self::failed(&check_day(&profiles, day(14)));
        assert!(
            failed.contains(&subject("schema", Some("search"), None, Some("latency_ms"))),
            "{failed:?}"
        );
    }

    #[test]
    fn a_bots_term_fails_with_its_source() {
        let mut profiles = weeks_of_traffic(5);
        let mut today = traffic(&["a", "b"], 1600, 34);
        for _ in 0..6000 {
            today.add(&Row {
                kind: "search",
                source: "b",
                properties: Some(r#"{"query":"x","latency_ms":5}"#),
                context: None,
                term: Some("buy followers"),
            });
        }
        profiles.insert(day(34), today);
        let failed = failed(&check_day(&profiles, day(34)));
        assert!(
            failed.contains(&subject(
                "distribution",
                Some("search"),
                Some("b"),
                Some("buy followers")
            )),
            "{failed:?}"
        );
        assert!(
            failed.contains(&subject("distribution", Some("search"), None, None)),
            "{failed:?}"
        );
    }

    #[test]
    fn js_distance_bounds() {
        assert_eq!(js_distance(&[0.5, 0.5], &[0.5, 0.5]), 0.0);
        assert!((js_distance(&[1.0, 0.0], &[0.0, 1.0]) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn freshness_fails_a_quiet_source_and_a_stuck_tailer() {
        let now = DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z")
            .unwrap()
            .to_utc();
        let newest = BTreeMap::from([
            ("a".to_owned(), now - Duration::minutes(5)),
            ("b".to_owned(), now - Duration::hours(3)),
        ]);
        let tailers = BTreeMap::from([("h1".to_owned(), Some(now - Duration::hours(2)))]);
        let results = freshness(now.date_naive(), now, &newest, &tailers, Duration::hours(1));
        let statuses: Vec<_> = results
            .iter()
            .map(|r| (r.source.clone(), r.key.clone(), r.status))
            .collect();
        assert_eq!(
            statuses,
            [
                (Some("a".into()), None, Status::Pass),
                (Some("b".into()), None, Status::Fail),
                (None, Some("h1".into()), Status::Fail)
            ]
        );
    }

    #[test]
    fn counts_read_as_numbers() {
        assert_eq!(count(1234567.0), "1,234,567");
        assert_eq!(count(12.0), "12");
    }
}

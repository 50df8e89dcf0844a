//! The daily report's figures, read from the warehouse with SQL ([`Daily::load`]), and its
//! page ([`Daily::render`], pure).
//!
//! Searches and reports are counted from `raw_events` (each `message_id` once, as the daily
//! jobs do); top terms and reported stickers come from the daily tables the ML team uses, so
//! the page shows what those tables hold, and says where they are missing or stale.

use std::collections::{BTreeMap, HashMap};

use chrono::{NaiveDate, Utc};
use datafusion::prelude::SessionContext;

use crate::contract::{REPORTED_STICKER_DAILY, SEARCH_TERM_DAILY};
use crate::engine::job_catalog::JobFolderArgs;
use crate::engine::{int_column, query_all, string_column, WarehouseTables};
use crate::output::html::{self, Cell, DayState, HtmlTable, Page, Series};
use crate::overview::{self, Report};
use crate::quality::recorded;
use crate::quality::results::{CheckResult, Status};
use crate::units::{human_seconds, utc_seconds};
use crate::warehouse::Warehouse;

/// How many terms, stickers and quarantine reasons the page lists.
const TOP: usize = 10;

pub struct Daily {
    pub day: NaiveDate,
    pub window: Vec<NaiveDate>,
    pub warehouse: String,
    /// Searches of `day` per UTC hour.
    pub hourly: [i64; 24],
    /// Searches and reports per window day.
    pub searches: Vec<i64>,
    pub reports: Vec<i64>,
    pub top_terms: Vec<TermTrend>,
    pub reported: Vec<ReportedSticker>,
    pub quarantine_reasons: Vec<(String, i64)>,
    pub quarantine_sources: Vec<(String, i64)>,
    pub status: Report,
    /// Daily tables this warehouse does not have yet (their job never ran).
    pub missing_tables: Vec<&'static str>,
    /// The day's check results (failures first), and every result of the checks' span.
    pub checks: Checks,
}

/// What `check` recorded for the day and for the weeks before it.
#[derive(Default)]
pub struct Checks {
    pub days: Vec<NaiveDate>,
    pub of_day: Vec<CheckResult>,
    pub history: Vec<CheckResult>,
}

/// Days before the report's day a failing check is drawn over: its baseline weeks.
const CHECK_SPAN_DAYS: i64 = 28;

/// Failing checks drawn one by one; the others are listed.
const CHECK_CHARTS: usize = 8;

pub struct TermTrend {
    pub term: String,
    pub searches: i64,
    pub unique_users: i64,
    /// Searches per window day.
    pub trend: Vec<i64>,
}

pub struct ReportedSticker {
    pub sticker_id: String,
    pub reports: i64,
    /// (term, reports), most reports first.
    pub terms: Vec<(String, i64)>,
}

impl Daily {
    pub async fn load(
        warehouse: &Warehouse,
        day: NaiveDate,
        days: u32,
        jobs: &JobFolderArgs,
    ) -> anyhow::Result<Self> {
        let from = day - chrono::Duration::days(i64::from(days) - 1);
        let window = crate::dates::days(from, day);
        let tables = WarehouseTables::load(warehouse).await?;
        let ctx = tables.session()?;
        let now = Utc::now();
        let status = overview::collect(
            warehouse,
            &tables,
            from,
            day,
            chrono::Duration::hours(2),
            jobs,
            now,
        )
        .await?;
        let between = format!("BETWEEN DATE '{from}' AND DATE '{day}'");
        let mut hourly = [0; 24];
        let mut searches = vec![0; window.len()];
        let mut reports = vec![0; window.len()];
        if ctx.table_exist("raw_events")? {
            let sql = format!(
                "SELECT CAST(EXTRACT(HOUR FROM event_time) AS INT) AS hour, COUNT(DISTINCT message_id) AS searches \
                 FROM raw_events WHERE event_date = DATE '{day}' AND type = 'search' GROUP BY 1"
            );
            for (hour, n) in pairs(&ctx, &sql, |b| int_column(b, 0)).await? {
                if let Some(slot) = hour.and_then(|h| hourly.get_mut(h as usize)) {
                    *slot = n;
                }
            }
            let sql = format!(
                "SELECT CAST(event_date AS VARCHAR) AS day, type, COUNT(DISTINCT message_id) AS events \
                 FROM raw_events WHERE event_date {between} AND type IN ('search', 'report') GROUP BY 1, 2"
            );
            for batch in query_all(&ctx, &sql).await? {
                let (dates, kinds, counts) = (
                    string_column(&batch, 0)?,
                    string_column(&batch, 1)?,
                    int_column(&batch, 2)?,
                );
                for ((date, kind), n) in dates.into_iter().zip(kinds).zip(counts) {
                    let Some(i) = date.and_then(|d| position(&window, &d)) else {
                        continue;
                    };
                    let counts = if kind.as_deref() == Some("search") {
                        &mut searches
                    } else {
                        &mut reports
                    };
                    counts[i] = n.unwrap_or(0);
                }
            }
        }
        let mut missing_tables = Vec::new();
        let top_terms = if ctx.table_exist(SEARCH_TERM_DAILY)? {
            top_terms(&ctx, day, &window, &between).await?
        } else {
            missing_tables.push(SEARCH_TERM_DAILY);
            Vec::new()
        };
        let reported = if ctx.table_exist(REPORTED_STICKER_DAILY)? {
            reported_stickers(&ctx, day).await?
        } else {
            missing_tables.push(REPORTED_STICKER_DAILY);
            Vec::new()
        };
        let (quarantine_reasons, quarantine_sources) = if ctx.table_exist("quarantine")? {
            let by = |column: &str| {
                format!(
                    "SELECT {column}, COUNT(*) AS lines FROM quarantine WHERE ingest_date {between} \
                     GROUP BY {column} ORDER BY lines DESC, {column}"
                )
            };
            (
                with_rest(pairs(&ctx, &by("error"), |b| string_column(b, 0)).await?),
                with_rest(pairs(&ctx, &by("source"), |b| string_column(b, 0)).await?),
            )
        } else {
            (Vec::new(), Vec::new())
        };
        let checks = load_checks(&tables, day).await?;
        Ok(Self {
            checks,
            day,
            window,
            warehouse: warehouse.location().to_string(),
            hourly,
            searches,
            reports,
            top_terms,
            reported,
            quarantine_reasons,
            quarantine_sources,
            status,
            missing_tables,
        })
    }
}

async fn load_checks(tables: &WarehouseTables, day: NaiveDate) -> anyhow::Result<Checks> {
    let days = crate::dates::days(day - chrono::Duration::days(CHECK_SPAN_DAYS), day);
    let history = recorded(tables, &days).await?;
    let mut of_day: Vec<CheckResult> = history.iter().filter(|r| r.date == day).cloned().collect();
    of_day.sort_by(|a, b| {
        b.status
            .cmp(&a.status)
            .then_with(|| a.subject().cmp(&b.subject()))
    });
    Ok(Checks {
        days,
        of_day,
        history,
    })
}

async fn top_terms(
    ctx: &SessionContext,
    day: NaiveDate,
    window: &[NaiveDate],
    between: &str,
) -> anyhow::Result<Vec<TermTrend>> {
    let sql = format!(
        "SELECT term, searches, unique_users FROM {SEARCH_TERM_DAILY} WHERE event_date = DATE '{day}' \
         ORDER BY searches DESC, term LIMIT {TOP}"
    );
    let mut terms = Vec::new();
    for batch in query_all(ctx, &sql).await? {
        let (names, searches, users) = (
            string_column(&batch, 0)?,
            int_column(&batch, 1)?,
            int_column(&batch, 2)?,
        );
        for ((term, searches), users) in names.into_iter().zip(searches).zip(users) {
            terms.push(TermTrend {
                term: term.unwrap_or_default(),
                searches: searches.unwrap_or(0),
                unique_users: users.unwrap_or(0),
                trend: vec![0; window.len()],
            });
        }
    }
    if terms.is_empty() {
        return Ok(terms);
    }
    let listed: Vec<String> = terms.iter().map(|t| sql_string(&t.term)).collect();
    let sql = format!(
        "SELECT CAST(event_date AS VARCHAR) AS day, term, searches FROM {SEARCH_TERM_DAILY} \
         WHERE event_date {between} AND term IN ({})",
        listed.join(", ")
    );
    let index: HashMap<String, usize> = terms
        .iter()
        .enumerate()
        .map(|(i, t)| (t.term.clone(), i))
        .collect();
    for batch in query_all(ctx, &sql).await? {
        let (dates, names, counts) = (
            string_column(&batch, 0)?,
            string_column(&batch, 1)?,
            int_column(&batch, 2)?,
        );
        for ((date, term), n) in dates.into_iter().zip(names).zip(counts) {
            let (Some(d), Some(t)) = (
                date.and_then(|d| position(window, &d)),
                term.and_then(|t| index.get(&t).copied()),
            ) else {
                continue;
            };
            terms[t].trend[d] = n.unwrap_or(0);
        }
    }
    Ok(terms)
}

async fn reported_stickers(
    ctx: &SessionContext,
    day: NaiveDate,
) -> anyhow::Result<Vec<ReportedSticker>> {
    // Each report event has one term, so a sticker's reports over its terms are its reports.
    let sql = format!(
        "SELECT sticker_id, term, reports FROM {REPORTED_STICKER_DAILY} WHERE event_date = DATE '{day}'"
    );
    let mut by_sticker: BTreeMap<String, Vec<(String, i64)>> = BTreeMap::new();
    for batch in query_all(ctx, &sql).await? {
        let (ids, terms, counts) = (
            string_column(&batch, 0)?,
            string_column(&batch, 1)?,
            int_column(&batch, 2)?,
        );
        for ((id, term), n) in ids.into_iter().zip(terms).zip(counts) {
            by_sticker
                .entry(id.unwrap_or_default())
                .or_default()
                .push((term.unwrap_or_default(), n.unwrap_or(0)));
        }
    }
    let mut stickers: Vec<ReportedSticker> = by_sticker
        .into_iter()
        .map(|(sticker_id, mut terms)| {
            terms.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            ReportedSticker {
                reports: terms.iter().map(|t| t.1).sum(),
                sticker_id,
                terms,
            }
        })
        .collect();
    stickers.sort_by(|a, b| {
        b.reports
            .cmp(&a.reports)
            .then_with(|| a.sticker_id.cmp(&b.sticker_id))
    });
    stickers.truncate(TOP);
    Ok(stickers)
}

/// Rows of (key, count) from a two-column query whose second column is the count.
async fn pairs<K>(
    ctx: &SessionContext,
    sql: &str,
    key: impl Fn(&arrow::record_batch::RecordBatch) -> anyhow::Result<Vec<Option<K>>>,
) -> anyhow::Result<Vec<(Option<K>, i64)>> {
    let mut rows = Vec::new();
    for batch in query_all(ctx, sql).await? {
        let counts = int_column(&batch, 1)?;
        rows.extend(
            key(&batch)?
                .into_iter()
                .zip(counts.into_iter().map(|n| n.unwrap_or(0))),
        );
    }
    Ok(rows)
}

/// The first [`TOP`] rows, then one row adding up the rest.
fn with_rest(rows: Vec<(Option<String>, i64)>) -> Vec<(String, i64)> {
    let mut kept: Vec<(String, i64)> = rows
        .iter()
        .take(TOP)
        .map(|(k, n)| (k.clone().unwrap_or_else(|| "(none)".into()), *n))
        .collect();
    if rows.len() > TOP {
        let rest = &rows[TOP..];
        kept.push((
            format!("({} other)", rest.len()),
            rest.iter().map(|(_, n)| n).sum(),
        ));
    }
    kept
}

fn position(window: &[NaiveDate], date: &str) -> Option<usize> {
    let date: NaiveDate = date.parse().ok()?;
    window.iter().position(|d| *d == date)
}

fn sql_string(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

impl Daily {
    /// The page. Pure: the same figures give the same page.
    pub fn render(&self) -> String {
        let day = self.day.to_string();
        let labels: Vec<String> = self.window.iter().map(|d| d.to_string()).collect();
        let mut page = Page::new(
            &format!("stickerlake daily report: {day}"),
            &format!(
                "Warehouse {}, window {} to {} ({} days). Dates and hours are UTC; each message_id counts once.",
                self.warehouse,
                self.window[0],
                day,
                self.window.len()
            ),
        );
        self.days_section(&mut page, &labels);
        self.checks_section(&mut page, &day);
        self.searches_section(&mut page, &day, &labels);
        self.terms_section(&mut page, &day, &labels);
        self.reports_section(&mut page, &day, &labels);
        self.quarantine_section(&mut page);
        self.tailers_section(&mut page);
        page.finish()
    }

    fn days_section(&self, page: &mut Page, labels: &[String]) {
        page.section(
            "State of the days",
            "Incomplete: a tailer may still deliver events for the day. Stale: a job's output is older than its input (run `stickerlake run all --stale`).",
        );
        let mut table = HtmlTable::new(&["date", "raw_rows", "complete", "stale_jobs", "state"]);
        let mut strip = Vec::new();
        for (date, day) in labels.iter().zip(&self.status.days) {
            let stale: Vec<&str> = self
                .status
                .jobs
                .iter()
                .filter(|j| j.date == day.date && j.stale)
                .map(|j| j.job.as_str())
                .collect();
            let state = if day.raw_rows == 0 {
                DayState::NoData
            } else if !day.complete {
                DayState::Incomplete
            } else if !stale.is_empty() {
                DayState::Stale
            } else {
                DayState::Fresh
            };
            strip.push((date.clone(), state));
            table.row(vec![
                Cell::text(date),
                Cell::Int(day.raw_rows),
                Cell::text(if day.complete { "yes" } else { "no" }),
                Cell::text(stale.join(", ")),
                Cell::text(state.label()),
            ]);
        }
        page.chart(
            "days",
            "Days in the window",
            &html::day_strip(&strip),
            &table,
        );
    }

    fn checks_section(&self, page: &mut Page, day: &str) {
        let failing: Vec<&CheckResult> = self
            .checks
            .of_day
            .iter()
            .filter(|r| r.status == Status::Fail)
            .collect();
        let passed = self
            .checks
            .of_day
            .iter()
            .filter(|r| r.status == Status::Pass)
            .count();
        let note = match (self.checks.of_day.is_empty(), failing.len()) {
            (true, _) => format!("No check has run for {day}: run `stickerlake check --date {day}`."),
            (false, 0) => format!("No check failed on {day} ({passed} passed)."),
            (false, n) => format!(
                "{n} check(s) failed on {day} ({passed} passed): each is drawn over the {CHECK_SPAN_DAYS} days before, with the band it was expected in and its failing days marked."
            ),
        };
        page.section("Checks", &note);
        let mut table = HtmlTable::new(&[
            "status", "check", "type", "source", "key", "value", "expected", "message",
        ]);
        for result in self
            .checks
            .of_day
            .iter()
            .filter(|r| r.status != Status::Pass)
        {
            let expected = match (result.expected_low, result.expected_high) {
                (Some(low), Some(high)) => format!("{low:.4}–{high:.4}"),
                _ => String::new(),
            };
            let text = |v: &Option<String>| Cell::text(v.clone().unwrap_or_default());
            table.row(vec![
                Cell::text(result.status.name()),
                Cell::text(&result.check),
                text(&result.kind),
                text(&result.source),
                text(&result.key),
                Cell::Ratio(result.value),
                Cell::Text(expected),
                Cell::text(&result.message),
            ]);
        }
        page.table("checks", &table);
        let labels: Vec<String> = self.checks.days.iter().map(NaiveDate::to_string).collect();
        for (i, result) in failing.iter().take(CHECK_CHARTS).enumerate() {
            let subject = result.subject();
            let on = |day: &NaiveDate| {
                self.checks
                    .history
                    .iter()
                    .find(|r| r.date == *day && r.subject() == subject)
            };
            let pick = |f: fn(&CheckResult) -> Option<f64>| -> Vec<Option<f64>> {
                self.checks.days.iter().map(|d| on(d).and_then(f)).collect()
            };
            let failed = |r: &CheckResult| (r.status == Status::Fail).then_some(r.value).flatten();
            let series = [
                Series {
                    name: "value".into(),
                    values: pick(|r| r.value),
                },
                Series {
                    name: "expected low".into(),
                    values: pick(|r| r.expected_low),
                },
                Series {
                    name: "expected high".into(),
                    values: pick(|r| r.expected_high),
                },
                Series {
                    name: "failed".into(),
                    values: pick(failed),
                },
            ];
            let mut numbers =
                HtmlTable::new(&["date", "value", "expected_low", "expected_high", "status"]);
            for (label, day) in labels.iter().zip(&self.checks.days) {
                let found = on(day);
                numbers.row(vec![
                    Cell::text(label),
                    Cell::Ratio(found.and_then(|r| r.value)),
                    Cell::Ratio(found.and_then(|r| r.expected_low)),
                    Cell::Ratio(found.and_then(|r| r.expected_high)),
                    Cell::text(found.map_or("", |r| r.status.name())),
                ]);
            }
            let about: Vec<&str> = [&result.kind, &result.source, &result.key]
                .into_iter()
                .flatten()
                .map(String::as_str)
                .collect();
            page.chart(
                &format!("check_{i}"),
                &format!("{} {}: {}", result.check, about.join(" "), result.message),
                &html::lines(&labels, &series, 220.0),
                &numbers,
            );
        }
    }

    fn searches_section(&self, page: &mut Page, day: &str, labels: &[String]) {
        page.section("Searches", "Search events, each message_id once.");
        let hours: Vec<String> = (0..24).map(|h| format!("{h:02}")).collect();
        let mut table = HtmlTable::new(&["hour", "searches"]);
        for (hour, n) in hours.iter().zip(self.hourly) {
            table.row(vec![Cell::text(hour), Cell::Int(n)]);
        }
        let svg = if self.hourly.iter().all(|&n| n == 0) {
            html::empty(&format!("no searches on {day}"))
        } else {
            html::columns(&hours, &[series("searches", &self.hourly)], 220.0)
        };
        page.chart(
            "searches_per_hour",
            &format!("Searches per hour on {day} (UTC)"),
            &svg,
            &table,
        );
        let mut table = HtmlTable::new(&["date", "searches"]);
        for (date, n) in labels.iter().zip(&self.searches) {
            table.row(vec![Cell::text(date), Cell::Int(*n)]);
        }
        let svg = if self.searches.iter().all(|&n| n == 0) {
            html::empty("no searches in the window")
        } else {
            html::columns(labels, &[series("searches", &self.searches)], 220.0)
        };
        page.chart("searches_per_day", "Searches per day", &svg, &table);
    }

    fn terms_section(&self, page: &mut Page, day: &str, labels: &[String]) {
        page.section(
            "Top search terms",
            &self.missing_note(SEARCH_TERM_DAILY, "from search_term_daily"),
        );
        let mut head = vec!["term", "searches", "unique_users", "trend"];
        head.extend(labels.iter().map(String::as_str));
        let mut table = HtmlTable::new(&head);
        for term in &self.top_terms {
            let mut row = vec![
                Cell::text(&term.term),
                Cell::Int(term.searches),
                Cell::Int(term.unique_users),
                Cell::Markup(html::sparkline(
                    &term.trend.iter().map(|&n| n as f64).collect::<Vec<_>>(),
                )),
            ];
            row.extend(term.trend.iter().map(|&n| Cell::Int(n)));
            table.row(row);
        }
        let svg = html::bars_of(
            &self.top_terms,
            &format!("no search terms on {day}"),
            "searches",
            |t| t.term.clone(),
            |t| t.searches as f64,
        );
        page.chart(
            "top_terms",
            &format!("Top {TOP} terms on {day}, with their searches per day (sparkline)"),
            &svg,
            &table,
        );
    }

    fn reports_section(&self, page: &mut Page, day: &str, labels: &[String]) {
        page.section(
            "Reports",
            &self.missing_note(REPORTED_STICKER_DAILY, "from reported_sticker_daily"),
        );
        let mut table = HtmlTable::new(&["sticker_id", "reports", "terms"]);
        for sticker in &self.reported {
            let terms: Vec<String> = sticker
                .terms
                .iter()
                .map(|(term, n)| format!("{term} ({n})"))
                .collect();
            table.row(vec![
                Cell::text(&sticker.sticker_id),
                Cell::Int(sticker.reports),
                Cell::Text(terms.join(", ")),
            ]);
        }
        let svg = html::bars_of(
            &self.reported,
            &format!("no reported stickers on {day}"),
            "reports",
            |s| s.sticker_id.clone(),
            |s| s.reports as f64,
        );
        page.chart(
            "reported_stickers",
            &format!("Most-reported stickers on {day}, with the terms they were reported for"),
            &svg,
            &table,
        );
        let rates: Vec<Option<f64>> = self
            .reports
            .iter()
            .zip(&self.searches)
            .map(|(&r, &s)| (s > 0).then(|| r as f64 / s as f64))
            .collect();
        let mut table = HtmlTable::new(&["date", "reports", "searches", "report_rate"]);
        for (i, date) in labels.iter().enumerate() {
            table.row(vec![
                Cell::text(date),
                Cell::Int(self.reports[i]),
                Cell::Int(self.searches[i]),
                Cell::Ratio(rates[i]),
            ]);
        }
        let svg = if rates.iter().all(Option::is_none) {
            html::empty("no searches in the window: no report rate")
        } else {
            html::lines(
                labels,
                &[Series {
                    name: "reports per search".into(),
                    values: rates,
                }],
                200.0,
            )
        };
        page.chart(
            "report_rate",
            "Report rate (report events per search event) per day",
            &svg,
            &table,
        );
    }

    fn quarantine_section(&self, page: &mut Page) {
        page.section(
            "Quarantine",
            "Lines the tailer could not accept in the window, by ingest day. See them with `stickerlake sql \"SELECT * FROM quarantine\"`.",
        );
        for (id, caption, rows, what) in [
            (
                "quarantine_reasons",
                "Quarantined lines by reason",
                &self.quarantine_reasons,
                "error",
            ),
            (
                "quarantine_sources",
                "Quarantined lines by source",
                &self.quarantine_sources,
                "source",
            ),
        ] {
            let mut table = HtmlTable::new(&[what, "lines"]);
            for (key, n) in rows.iter() {
                table.row(vec![Cell::text(key), Cell::Int(*n)]);
            }
            let svg = html::bars_of(
                rows,
                "no quarantined lines in the window",
                "lines",
                |r| r.0.clone(),
                |r| r.1 as f64,
            );
            page.chart(id, caption, &svg, &table);
        }
    }

    fn tailers_section(&self, page: &mut Page) {
        page.section(
            "Tailers",
            "Lag is now minus the watermark: every event older than the watermark has been delivered.",
        );
        let tailers = &self.status.tailers;
        let mut table = HtmlTable::new(&[
            "tailer",
            "watermark",
            "lag_seconds",
            "lag",
            "last_flush",
            "retired_at",
        ]);
        for t in tailers {
            table.row(vec![
                Cell::text(&t.tailer_id),
                Cell::Text(t.watermark.map(utc_seconds).unwrap_or_default()),
                t.lag_seconds.map_or(Cell::Text(String::new()), Cell::Int),
                Cell::Text(t.lag_seconds.map(human_seconds).unwrap_or_default()),
                Cell::Text(t.last_flush.map(utc_seconds).unwrap_or_default()),
                Cell::Text(t.retired_at.map(utc_seconds).unwrap_or_default()),
            ]);
        }
        let with_lag: Vec<_> = tailers.iter().filter(|t| t.lag_seconds.is_some()).collect();
        let svg = html::bars_of(
            &with_lag,
            "no tailer has reported a watermark to this warehouse",
            "h",
            |t| t.tailer_id.clone(),
            // Hours to one decimal: the table has the exact seconds.
            |t| (t.lag_seconds.unwrap_or(0).max(0) as f64 / 360.0).round() / 10.0,
        );
        page.chart("tailers", "Lag per tailer (hours)", &svg, &table);
    }

    fn missing_note(&self, table: &str, otherwise: &str) -> String {
        if self.missing_tables.contains(&table) {
            format!(
                "The warehouse has no {table} yet: run `stickerlake run all --date {}`.",
                self.day
            )
        } else {
            otherwise.into()
        }
    }
}

fn series(name: &str, counts: &[i64]) -> Series {
    Series {
        name: name.into(),
        values: counts.iter().map(|&n| Some(n as f64)).collect(),
    }
}

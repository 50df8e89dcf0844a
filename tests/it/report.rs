//! `report` and `eval --html`: each page is opened in headless Chromium (Debian's, driven by
//! playwright-core from `tests/browser/`, both installed by `make test`), which must see no
//! console error, make no request, and draw every chart; the numbers in the page's tables
//! must equal the same figures asked of `stickerlake sql`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::search::{embed_file, model};
use crate::util::*;

const DAY: &str = "2026-11-22";

/// What the browser saw on `page` (see `tests/browser/check_page.mjs`), with a screenshot
/// in the target folder. `None`, said loudly, only where no browser could be installed.
pub(crate) fn open_in_browser(page: &Path, name: &str) -> Option<Value> {
    let script = repo_path("tests/browser/check_page.mjs");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let ready = Path::new(&chromium).exists()
        && Path::new(&repo_path("tests/browser/node_modules/playwright-core")).exists();
    if !ready {
        assert!(
            std::env::var("STICKERLAKE_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "a browser is required here but {chromium} or playwright-core is missing: run `make browser`"
        );
        eprintln!("\n!!!!! SKIPPED the browser check of {name}: no {chromium} or tests/browser/node_modules (run `make browser`) !!!!!\n");
        return None;
    }
    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.png"));
    let output = run_ok(Command::new("node").args([
        script.as_str(),
        page.to_str().unwrap(),
        screenshot.to_str().unwrap(),
    ]));
    eprintln!("screenshot of {name}: {}", screenshot.display());
    let seen: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(seen["console_errors"], Value::Array(vec![]), "{name}");
    assert_eq!(
        seen["requests"],
        Value::Array(vec![]),
        "{name} asked the network"
    );
    assert!(
        seen["bytes"].as_u64().unwrap() < 1 << 20,
        "{name} is over 1 MB"
    );
    for chart in seen["charts"].as_array().unwrap() {
        assert!(
            chart["width"].as_f64().unwrap() > 100.0 && chart["height"].as_f64().unwrap() > 20.0,
            "{name}: chart not drawn: {chart}"
        );
    }
    Some(seen)
}

pub(crate) fn chart<'a>(seen: &'a Value, id: &str) -> &'a Value {
    seen["charts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no chart {id}"))
}

pub(crate) fn table(seen: &Value, id: &str) -> Vec<Vec<String>> {
    let rows = seen["tables"][id]["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("no table {id}"));
    rows.iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap().to_owned())
                .collect()
        })
        .collect()
}

/// `stickerlake sql --format json QUERY`: each row's `columns` as text.
fn sql(sandbox: &Sandbox, query: &str, columns: &[&str]) -> Vec<Vec<String>> {
    let out = run_ok(&mut sandbox.cmd(&["sql", "--format", "json", query]));
    let rows: Vec<serde_json::Map<String, Value>> = serde_json::from_slice(&out.stdout).unwrap();
    rows.into_iter()
        .map(|row| {
            columns
                .iter()
                .map(|c| match &row[*c] {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect()
}

fn counts(rows: Vec<Vec<String>>) -> BTreeMap<String, String> {
    rows.into_iter()
        .map(|mut r| {
            let n = r.pop().unwrap();
            (r.join("|"), n)
        })
        .collect()
}

fn daily_report_matches_sql(sandbox: Sandbox) {
    generate_logs(&sandbox, 4000, 3);
    let glob = format!("{}/server-*.jsonl", sandbox.logs().display());
    run_ok(&mut sandbox.cmd(&["tailer", "--source", &glob]));
    run_days(&sandbox, "all", "2026-11-20", DAY);
    let store = if sandbox.s3.is_some() { "s3" } else { "local" };
    let page = sandbox.dir.path().join("report.html");
    let page_arg = page.to_str().unwrap();
    run_ok(&mut sandbox.cmd(&["report", "--date", DAY, "--days", "14", "-o", page_arg]));
    let Some(seen) = open_in_browser(&page, &format!("report-{store}")) else {
        return;
    };
    for id in [
        "days",
        "searches_per_hour",
        "searches_per_day",
        "top_terms",
        "reported_stickers",
        "report_rate",
        "tailers",
    ] {
        assert!(
            chart(&seen, id)["marks"].as_u64().unwrap() > 0,
            "{id} drew nothing"
        );
    }
    assert_eq!(chart(&seen, "top_terms")["sparklines"], 10);
    // Quarantined lines are by ingest day (today), outside this window: said, not drawn.
    assert_eq!(
        chart(&seen, "quarantine_reasons")["empty_message"],
        "no quarantined lines in the window"
    );

    let hourly = counts(sql(
        &sandbox,
        &format!("SELECT EXTRACT(HOUR FROM event_time) AS h, COUNT(DISTINCT message_id) AS n FROM raw_events WHERE event_date = DATE '{DAY}' AND type = 'search' GROUP BY 1"),
        &["h", "n"],
    ));
    let shown = table(&seen, "searches_per_hour");
    assert_eq!(shown.len(), 24);
    for row in &shown {
        let hour = row[0].parse::<u32>().unwrap().to_string();
        assert_eq!(
            row[1],
            *hourly.get(&hour).unwrap_or(&"0".into()),
            "hour {hour}"
        );
    }

    let per_day = counts(sql(
        &sandbox,
        "SELECT CAST(event_date AS VARCHAR) AS d, type, COUNT(DISTINCT message_id) AS n FROM raw_events GROUP BY 1, 2",
        &["d", "type", "n"],
    ));
    let of = |day: &str, kind: &str| -> i64 {
        per_day
            .get(&format!("{day}|{kind}"))
            .map_or(0, |n| n.parse().unwrap())
    };
    let rates = table(&seen, "report_rate");
    assert_eq!(rates.len(), 14);
    assert_eq!(rates[0][0], "2026-11-09");
    for (searches, rate) in table(&seen, "searches_per_day").iter().zip(&rates) {
        let day = &searches[0];
        let (s, r) = (of(day, "search"), of(day, "report"));
        assert_eq!(searches[1], s.to_string(), "{day}");
        assert_eq!(rate[1..3], [r.to_string(), s.to_string()], "{day}");
        let expected = if s == 0 {
            String::new()
        } else {
            format!("{:.4}", r as f64 / s as f64)
        };
        assert_eq!(rate[3], expected, "{day}");
    }

    let raw_rows = counts(sql(
        &sandbox,
        "SELECT CAST(event_date AS VARCHAR) AS d, COUNT(*) AS n FROM raw_events GROUP BY 1",
        &["d", "n"],
    ));
    for row in table(&seen, "days") {
        let expected = raw_rows.get(&row[0]).cloned().unwrap_or("0".into());
        assert_eq!(row[1], expected, "{}", row[0]);
        let has_data = row[0].as_str() >= "2026-11-20";
        assert_eq!(row[4] == "no data", !has_data, "{row:?}");
    }

    let top = sql(
        &sandbox,
        &format!("SELECT term, searches, unique_users FROM search_term_daily WHERE event_date = DATE '{DAY}' ORDER BY searches DESC, term LIMIT 10"),
        &["term", "searches", "unique_users"],
    );
    let trend = counts(sql(
        &sandbox,
        "SELECT term, CAST(event_date AS VARCHAR) AS d, searches FROM search_term_daily",
        &["term", "d", "searches"],
    ));
    let terms = table(&seen, "top_terms");
    let days: Vec<String> = seen["tables"]["top_terms"]["head"].as_array().unwrap()[4..]
        .iter()
        .map(|d| d.as_str().unwrap().to_owned())
        .collect();
    assert_eq!((days.len(), days.last().unwrap().as_str()), (14, DAY));
    assert_eq!(terms.len(), 10);
    for (row, expected) in terms.iter().zip(&top) {
        assert_eq!(row[..3], expected[..], "top terms");
        for (day, cell) in days.iter().zip(&row[4..]) {
            let n = trend
                .get(&format!("{}|{day}", row[0]))
                .cloned()
                .unwrap_or("0".into());
            assert_eq!(*cell, n, "{} on {day}", row[0]);
        }
    }

    let reported = sql(
        &sandbox,
        &format!("SELECT sticker_id, SUM(reports) AS r FROM reported_sticker_daily WHERE event_date = DATE '{DAY}' GROUP BY sticker_id ORDER BY r DESC, sticker_id LIMIT 10"),
        &["sticker_id", "r"],
    );
    let per_term = sql(
        &sandbox,
        &format!("SELECT sticker_id, term, reports FROM reported_sticker_daily WHERE event_date = DATE '{DAY}'"),
        &["sticker_id", "term", "reports"],
    );
    let shown = table(&seen, "reported_stickers");
    assert_eq!(shown.len(), reported.len());
    for (row, expected) in shown.iter().zip(&reported) {
        assert_eq!(row[..2], expected[..], "reported stickers");
        // As multisets: a term listed twice must fail.
        let mut listed: Vec<String> = row[2].split(", ").map(str::to_owned).collect();
        let mut terms: Vec<String> = per_term
            .iter()
            .filter(|r| r[0] == row[0])
            .map(|r| format!("{} ({})", r[1], r[2]))
            .collect();
        listed.sort();
        terms.sort();
        assert_eq!(listed, terms, "terms of {}", row[0]);
    }
    let tailers = table(&seen, "tailers");
    assert_eq!(tailers.len(), 1);
    assert!(tailers[0][2].parse::<i64>().unwrap() >= 0, "{tailers:?}");

    // Today: nothing happened yet, which the page says, and the tailer's quarantine is there.
    let today = chrono::Utc::now().date_naive().to_string();
    run_ok(&mut sandbox.cmd(&["report", "--date", "today", "--days", "2", "-o", page_arg]));
    let seen = open_in_browser(&page, &format!("report-today-{store}")).unwrap();
    assert_eq!(
        chart(&seen, "searches_per_hour")["empty_message"],
        format!("no searches on {today}").as_str()
    );
    let shown = table(&seen, "quarantine_reasons");
    let expected = sql(
        &sandbox,
        &format!("SELECT error, COUNT(*) AS n FROM quarantine WHERE ingest_date = DATE '{today}' GROUP BY error ORDER BY n DESC, error"),
        &["error", "n"],
    );
    assert!(!expected.is_empty(), "the generator writes a few bad lines");
    assert_eq!(
        shown[..shown.len().min(10)],
        expected[..expected.len().min(10)]
    );
    if expected.len() > 10 {
        let rest: i64 = expected[10..]
            .iter()
            .map(|r| r[1].parse::<i64>().unwrap())
            .sum();
        assert_eq!(shown[10][1], rest.to_string());
    }
    let lines: i64 = expected.iter().map(|r| r[1].parse::<i64>().unwrap()).sum();
    let by_source: i64 = table(&seen, "quarantine_sources")
        .iter()
        .map(|r| r[1].parse::<i64>().unwrap())
        .sum();
    assert_eq!(by_source, lines);
}

on_both_stores!(daily_report_matches_sql);

#[test]
fn report_refuses_bad_arguments_and_writes_nothing() {
    let sandbox = Sandbox::local();
    let page = sandbox.dir.path().join("r.html");
    let page_arg = page.to_str().unwrap();
    let err = run_err(&mut sandbox.cmd(&["report", "--days", "0", "-o", page_arg]));
    assert!(err.contains("--days"), "{err}");
    let err = run_err(&mut sandbox.cmd(&["report", "--date", "2026-13-01", "-o", page_arg]));
    assert!(err.contains("YYYY-MM-DD"), "{err}");
    assert!(!page.exists());
    // An empty warehouse is a page of empty charts, not an error.
    run_ok(&mut sandbox.cmd(&["report", "--date", DAY, "-o", page_arg]));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains(&format!("no searches on {DAY}")), "{html}");
    assert!(html.contains("has no search_term_daily yet"), "{html}");
}

#[test]
fn eval_page_shows_each_models_figures_and_labels() {
    let sandbox = Sandbox::local();
    generate_logs(&sandbox, 3000, 2);
    let logs = sandbox.logs();
    let glob = format!("{}/server-*.jsonl", logs.display());
    run_ok(&mut sandbox.cmd(&["tailer", "--source", &glob]));
    run_days(&sandbox, "all", "2026-11-20", "2026-11-21");
    let vectors = sandbox.dir.path().join("stickers.parquet");
    embed_file(&logs.join("catalog.jsonl"), &vectors);
    let dir = sandbox.dir.path();
    // Two "models": the same encoder returning 10 or 3 results, so their scores differ.
    for (name, k) in [("wide", "10"), ("narrow", "3")] {
        let out = dir.join(format!("{name}.parquet"));
        run_ok(&mut sandbox.cmd(&[
            "search",
            "--vectors",
            vectors.to_str().unwrap(),
            "--top-terms",
            "20",
            "--date",
            "2026-11-21",
            "-k",
            k,
            "--model",
            &model(),
            "-o",
            out.to_str().unwrap(),
        ]));
    }
    let page = dir.join("eval.html");
    let per_query = dir.join("per_query.csv");
    let out = stdout(&run_ok(&mut sandbox.cmd(&[
        "eval",
        "--results",
        dir.join("wide.parquet").to_str().unwrap(),
        "--results",
        dir.join("narrow.parquet").to_str().unwrap(),
        "-k",
        "10",
        "-o",
        per_query.to_str().unwrap(),
        "--html",
        page.to_str().unwrap(),
    ])));
    let Some(seen) = open_in_browser(&page, "eval") else {
        return;
    };
    for id in ["metrics", "ndcg_distribution", "wins"] {
        assert!(
            chart(&seen, id)["marks"].as_u64().unwrap() > 0,
            "{id} drew nothing"
        );
    }
    // The metrics table says what eval printed, to its 4 decimals.
    let printed: Vec<Vec<String>> = out
        .lines()
        .filter(|l| l.starts_with("| wide") || l.starts_with("| narrow"))
        .map(|l| {
            l.split('|')
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    let shown = table(&seen, "metrics");
    assert_eq!(shown.len(), 2);
    for (row, printed) in shown.iter().zip(&printed) {
        assert_eq!(row[..3], printed[..3]);
        for (cell, value) in row[3..].iter().zip(&printed[3..]) {
            let (a, b): (f64, f64) = (cell.parse().unwrap(), value.parse().unwrap());
            assert!((a - b).abs() < 1e-4, "{row:?} vs {printed:?}");
        }
    }
    // Per model: the nDCG bands add up to the labelled queries, and every term is one of
    // won, tied or lost.
    let labelled: Vec<i64> = shown.iter().map(|r| r[2].parse().unwrap()).collect();
    let bands = table(&seen, "ndcg_distribution");
    for (m, labelled) in labelled.iter().enumerate() {
        let sum: i64 = bands.iter().map(|r| r[1 + m].parse::<i64>().unwrap()).sum();
        assert_eq!(sum, *labelled);
    }
    let wins = table(&seen, "wins");
    let total =
        |r: &Vec<String>| -> i64 { r[1..4].iter().map(|c| c.parse::<i64>().unwrap()).sum() };
    assert_eq!(total(&wins[0]), total(&wins[1]));
    assert!(
        wins[0][1].parse::<i64>().unwrap() > 0,
        "10 results beat 3: {wins:?}"
    );
    // The worst queries' marks are the users' own selections and reports for the term.
    let worst = table(&seen, "worst_0");
    assert!(!worst.is_empty());
    for row in worst.iter().take(3) {
        let term = row[2].to_lowercase();
        let labelled_as = |kind: &str| -> BTreeSet<String> {
            sql(
                &sandbox,
                &format!("SELECT DISTINCT unnest(sticker_ids) AS s FROM raw_events WHERE type = '{kind}' AND term = '{term}'"),
                &["s"],
            )
            .into_iter()
            .map(|r| r[0].clone())
            .collect()
        };
        let (selected, reported) = (labelled_as("select"), labelled_as("report"));
        // "st_1 ✓ st_2 st_3 ✗": each id, then its mark if it has one.
        let mut marked: Vec<(String, String)> = Vec::new();
        for token in row[7].split(' ') {
            match marked.last_mut() {
                Some(last) if !token.starts_with("st_") => last.1 = token.to_owned(),
                _ => marked.push((token.to_owned(), String::new())),
            }
        }
        assert!(!marked.is_empty());
        for (id, mark) in marked {
            let expected = if selected.contains(&id) {
                "✓"
            } else if reported.contains(&id) {
                "✗"
            } else {
                ""
            };
            assert_eq!(mark, expected, "{id} for {term}: {row:?}");
        }
    }
}

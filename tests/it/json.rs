//! JSON fields in SQL (datafusion-functions-json) and the generic path: a job over an event
//! type the contract does not know (`purchase`), checked against plain Python.

use std::process::Command;

use serde_json::{json, Value};

use crate::util::*;

/// `stickerlake sql --format json QUERY`: the rows as JSON objects (nulls are absent keys).
fn sql_json(sandbox: &Sandbox, query: &str) -> Vec<Value> {
    let out = run_ok(&mut sandbox.cmd(&["sql", "--format", "json", query]));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn json_functions_over_null_missing_nested_and_wrongly_typed_fields() {
    let sandbox = Sandbox::local();
    let lines = [
        json!({"messageId": "e1", "type": "search", "timestamp": "2026-11-20T10:00:00Z", "userId": "u",
            "context": {"app": {"version": "5.2.0"}},
            "properties": {"query": "cat", "results": ["a", "b"],
                "meta": {"n": 3, "f": 1.5, "ok": true, "tags": ["x", "y"], "whole": 2.0}}}),
        json!({"messageId": "e2", "type": "purchase", "timestamp": "2026-11-20T10:00:00Z", "userId": "u",
            "context": null,
            "properties": {"amount_cents": "1.99 USD", "nested": {"deep": null}, "query": 7}}),
        json!({"messageId": "e3", "type": "app_open", "timestamp": "2026-11-20T10:00:00Z", "userId": "u"}),
    ];
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    sandbox.append("app.jsonl", text.as_bytes());
    sandbox.tail(&[]);
    let rows = sql_json(
        &sandbox,
        "SELECT message_id,
                json_get_str(context, 'app', 'version') AS version,
                json_get_int(properties, 'meta', 'n') AS n,
                json_get_int(properties, 'meta', 'whole') AS whole,
                json_get_float(properties, 'meta', 'f') AS f,
                json_get_bool(properties, 'meta', 'ok') AS ok,
                json_length(properties, 'meta', 'tags') AS tags,
                json_length(properties, 'results') AS results,
                properties->'meta'->>'n' AS arrow_n,
                json_get_str(properties, 'meta', 'tags', 1) AS second_tag,
                json_get_str(properties, 'meta', 'tags', 9) AS past_the_end,
                json_get_int(properties, 'amount_cents') AS amount,
                json_get_str(properties, 'nested', 'deep') AS deep,
                json_get_str(properties, 'query') AS query_as_string,
                json_get_bool(properties, 'query') AS query_as_bool,
                json_get_str(context, 'no', 'such') AS missing,
                json_get_str(source, 'a') AS not_json,
                context
         FROM raw_events ORDER BY message_id",
    );
    assert_eq!(
        rows[0],
        json!({"message_id": "e1", "version": "5.2.0", "n": 3, "whole": 2, "f": 1.5, "ok": true,
            "tags": 2, "results": 2, "arrow_n": "3", "second_tag": "y", "query_as_string": "cat",
            "context": "{\"app\":{\"version\":\"5.2.0\"}}"})
    );
    // A JSON null context is the text `null`; every getter over it is NULL, as over a
    // missing key, a JSON null, a wrongly typed value or text that is not JSON.
    assert_eq!(rows[1], json!({"message_id": "e2", "context": "null"}));
    assert_eq!(rows[2], json!({"message_id": "e3"}));

    // A JSON function given a column that is not text is a clear error, not a NULL.
    let err = run_err(&mut sandbox.cmd(&[
        "sql",
        "SELECT json_get_str(source_offset, 'a') FROM raw_events",
    ]));
    assert!(
        err.contains("json_get_str") && err.contains("expected a string, got Int64"),
        "{err}"
    );
}

/// The reference computation's rows for the logs: [user, hour, purchases, spend|null].
fn python_spend(sandbox: &Sandbox, extra: &[&str]) -> Vec<Value> {
    let glob = format!("{}/server-*.jsonl", sandbox.logs().display());
    let out = run_ok(
        Command::new("python3")
            .arg(repo_path("tests/reference/user_spend_hourly.py"))
            .arg(&glob)
            .args(extra),
    );
    let parsed: Value = serde_json::from_slice(&out.stdout).unwrap();
    parsed["rows"].as_array().unwrap().clone()
}

fn as_rows(rows: Vec<Value>) -> Vec<Value> {
    rows.into_iter()
        .map(|r| json!([r["user_id"], r["hour"], r["purchases"], r["spend_cents"]]))
        .collect()
}

fn user_spend_hourly_matches_python(sandbox: Sandbox) {
    generate_logs(&sandbox, 8000, 2);
    let glob = format!("{}/server-*.jsonl", sandbox.logs().display());
    run_ok(&mut sandbox.cmd(&["tailer", "--source", &glob]));
    let jobs = repo_path("examples/jobs");
    run_ok(&mut sandbox.cmd(&[
        "run",
        "user_spend_hourly",
        "--sql-dir",
        &jobs,
        "--from",
        "2026-11-20",
        "--to",
        "2026-11-21",
    ]));
    let expected = python_spend(&sandbox, &[]);
    assert!(expected.len() > 50, "{expected:?}");
    assert!(
        expected.iter().any(|r| r[3].is_null()),
        "the generator sends some amounts that are not integers"
    );
    let rows = sql_json(
        &sandbox,
        "SELECT user_id, hour, purchases, spend_cents FROM user_spend_hourly ORDER BY user_id, hour",
    );
    assert_eq!(as_rows(rows), expected);

    // The support tool's question (README): one user's hours in a time range.
    let user = expected[0][0].as_str().unwrap().to_owned();
    let (since, until) = ("2026-11-20T06:00:00Z", "2026-11-21T18:00:00Z");
    let rows = sql_json(
        &sandbox,
        &format!(
            "SELECT user_id, hour, purchases, spend_cents FROM user_spend_hourly
             WHERE user_id = '{user}'
               AND event_date BETWEEN DATE '2026-11-20' AND DATE '2026-11-21'
               AND hour >= TIMESTAMP '{since}' AND hour < TIMESTAMP '{until}'
             ORDER BY hour"
        ),
    );
    let expected = python_spend(
        &sandbox,
        &["--user", &user, "--since", since, "--until", until],
    );
    assert!(!expected.is_empty());
    assert_eq!(as_rows(rows), expected);
}

on_both_stores!(user_spend_hourly_matches_python);

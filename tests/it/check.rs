//! `check`, `validate`, `tailer --plan` and `run --require-checks` on six weeks of generated
//! traffic from three servers, with weekday seasonality and all but the last week rotated to
//! `*.1`. The first five weeks are ordinary; the sixth has one injected fault a day. Each
//! fault must be found with its date, check, type, source and key, and nothing else may
//! fail on an ordinary day.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

use chrono::{Duration, NaiveDate};
use serde_json::Value;

use crate::report::{chart as report_chart, open_in_browser, table as report_table};
use crate::util::*;

/// A Monday: six weeks from it.
const START: &str = "2026-09-28";
const DAYS: i64 = 42;

fn day(n: i64) -> NaiveDate {
    START.parse::<NaiveDate>().unwrap() + Duration::days(n)
}

/// The faults of the last week, one a day.
const SILENT: i64 = 35; // server-03 sends nothing
const HALF: i64 = 36; // server-02 sends every other line
const TYPE_CHANGE: i64 = 37; // select's position arrives as a string
const NEW_KEY: i64 = 38; // search gains properties.filter
const BOT: i64 = 39; // 6,000 searches of one term in an hour from server-01
const UNPLANNED: i64 = 40; // an event type the plan does not list, from server-01
const BOT_TERM: &str = "buy cheap followers";

const PLAN: &str = r#"{
  "version": "2026-09",
  "unplanned": "violation",
  "events": {
    "search": {"properties": {"type": "object", "required": ["query", "results"],
                              "properties": {"query": {"type": "string"}, "results": {"type": "array"}}}},
    "select": {"properties": {"type": "object", "required": ["sticker_id", "position"],
                              "properties": {"position": {"type": "integer", "minimum": 1}}},
               "context": {"type": "object", "required": ["app"]}},
    "report": {"properties": {"type": "object", "required": ["sticker_ids"]}},
    "purchase": {"properties": {"type": "object"}},
    "app_open": {"properties": {"type": "object"}}
  }
}"#;

fn event_day(line: &Value) -> Option<NaiveDate> {
    let text = line.get("timestamp")?.as_str()?;
    Some(
        chrono::DateTime::parse_from_rfc3339(text)
            .ok()?
            .to_utc()
            .date_naive(),
    )
}

/// Applies the week's faults to one server's lines (in arrival order).
fn inject(server: usize, lines: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut kept_half = false;
    for line in lines {
        let Ok(mut event) = serde_json::from_slice::<Value>(&line) else {
            out.push(line);
            continue;
        };
        let on = event_day(&event);
        if on == Some(day(SILENT)) && server == 3 {
            continue;
        }
        if on == Some(day(HALF)) && server == 2 {
            kept_half = !kept_half;
            if !kept_half {
                continue;
            }
        }
        if on == Some(day(TYPE_CHANGE)) && event["type"] == "select" {
            let position = event["properties"]["position"].to_string();
            event["properties"]["position"] = Value::from(position);
        }
        if on == Some(day(NEW_KEY)) && event["type"] == "search" {
            event["properties"]["filter"] = Value::from("gif");
        }
        out.push(event.to_string().into_bytes());
    }
    if server == 1 {
        for i in 0..6000 {
            let at = format!("{}T14:{:02}:{:02}Z", day(BOT), i / 100 % 60, i % 60);
            out.push(
                event_line(&format!("bot-{i}"), "search", &at, BOT_TERM)
                    .trim_end()
                    .into(),
            );
        }
        for i in 0..40 {
            let at = format!("{}T09:{:02}:00Z", day(UNPLANNED), i);
            out.push(
                event_line(&format!("zoom-{i}"), "zoom_in", &at, "")
                    .trim_end()
                    .into(),
            );
        }
    }
    out
}

/// Six weeks of traffic in `logs/`: `server-0N.jsonl.1` up to the sixth week, `server-0N.jsonl` after.
fn six_weeks(sandbox: &Sandbox) {
    let raw = sandbox.dir.path().join("generated");
    let out = raw.display().to_string();
    run_ok(stickerlake().args([
        "generate",
        "--out",
        &out,
        "--events",
        "63000",
        "--days",
        "42",
        "--servers",
        "3",
        "--start",
        START,
        "--weekly",
        "--seed",
        "11",
    ]));
    for server in 1..=3 {
        let name = format!("server-{server:02}.jsonl");
        let text = std::fs::read(raw.join(&name)).unwrap();
        let lines = text
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(<[u8]>::to_vec);
        let lines = inject(server, lines.collect());
        let rotate_at = lines
            .iter()
            .position(|l| {
                serde_json::from_slice::<Value>(l)
                    .ok()
                    .and_then(|e| event_day(&e))
                    >= Some(day(35))
            })
            .unwrap_or(lines.len());
        let write = |path: std::path::PathBuf, lines: &[Vec<u8>]| {
            let mut text = lines.join(&b'\n');
            text.push(b'\n');
            std::fs::write(path, text).unwrap();
        };
        write(
            sandbox.logs().join(format!("{name}.1")),
            &lines[..rotate_at],
        );
        write(sandbox.logs().join(&name), &lines[rotate_at..]);
    }
    let plan = sandbox.dir.path().join("plan.json");
    std::fs::write(&plan, PLAN).unwrap();
    sandbox.tail(&[
        "--plan",
        &plan.display().to_string(),
        "--idle-timeout",
        "0s",
    ]);
}

fn json_of(output: &std::process::Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            stdout(output),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn failures(json: &Value) -> Vec<(String, String, Value, Value, Value)> {
    json["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "fail")
        .map(|r| {
            (
                r["date"].as_str().unwrap().to_owned(),
                r["check"].as_str().unwrap().to_owned(),
                r["type"].clone(),
                r["source"].clone(),
                r["key"].clone(),
            )
        })
        .collect()
}

fn source_is(source: &Value, name: &str) -> bool {
    source
        .as_str()
        .is_some_and(|s| s.ends_with(&format!("/{name}")))
}

#[test]
fn check_finds_each_injected_fault_and_nothing_on_ordinary_days() {
    let sandbox = Sandbox::local();
    six_weeks(&sandbox);
    let range = [
        "--from",
        &day(0).to_string(),
        "--to",
        &day(DAYS - 1).to_string(),
    ];
    let mut args = vec!["check", "--format", "json"];
    args.extend(range);
    let output = sandbox.cmd(&args).output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json = json_of(&output);
    let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["failed", "from", "results", "to", "warned"]);
    let result_keys: BTreeSet<&str> = json["results"][0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        result_keys,
        BTreeSet::from([
            "check",
            "date",
            "expected_high",
            "expected_low",
            "key",
            "message",
            "source",
            "status",
            "type",
            "value"
        ])
    );
    let failed = failures(&json);
    let found =
        |at: i64, check: &str, kind: Option<&str>, source: Option<&str>, key: Option<&str>| {
            failed.iter().any(|(date, c, t, s, k)| {
                *date == day(at).to_string()
                    && c == check
                    && t.as_str() == kind
                    && source.map_or(s.is_null(), |name| source_is(s, name))
                    && k.as_str() == key
            })
        };
    let expected = [
        (
            SILENT,
            "volume",
            Some("search"),
            Some("server-03.jsonl"),
            None,
        ),
        (
            HALF,
            "volume",
            Some("search"),
            Some("server-02.jsonl"),
            None,
        ),
        (
            TYPE_CHANGE,
            "schema",
            Some("select"),
            None,
            Some("position"),
        ),
        (NEW_KEY, "schema", Some("search"), None, Some("filter")),
        (
            BOT,
            "distribution",
            Some("search"),
            Some("server-01.jsonl"),
            Some(BOT_TERM),
        ),
        (
            UNPLANNED,
            "plan",
            Some("zoom_in"),
            Some("server-01.jsonl"),
            Some("unplanned_type"),
        ),
    ];
    for (at, check, kind, source, key) in expected {
        assert!(
            found(at, check, kind, source, key),
            "not found: {} {check} {kind:?} {source:?} {key:?}\nfailures: {failed:#?}",
            day(at)
        );
    }
    // Five ordinary weeks, and the last week's ordinary day, raise no fail.
    let fault_days: BTreeSet<String> = [SILENT, HALF, TYPE_CHANGE, NEW_KEY, BOT, UNPLANNED]
        .map(|d| day(d).to_string())
        .into();
    let stray: Vec<_> = failed
        .iter()
        .filter(|f| !fault_days.contains(&f.0))
        .collect();
    assert!(stray.is_empty(), "fails on ordinary days: {stray:#?}");
    assert_eq!(json["failed"].as_u64().unwrap() as usize, failed.len());

    // The results are recorded, a re-check replaces its day, and status shows them.
    let recorded = |sandbox: &Sandbox| sandbox.rows("check_results");
    let before = recorded(&sandbox);
    let mut again = vec!["check", "--format", "json", "--date"];
    let silent = day(SILENT).to_string();
    again.push(&silent);
    let output = sandbox.cmd(&again).output().unwrap();
    assert_eq!(output.status.code(), Some(6));
    assert_eq!(
        recorded(&sandbox),
        before,
        "a day checked again is replaced, not added"
    );
    let status = sandbox
        .cmd(&[
            "status",
            "--format",
            "json",
            "--from",
            &silent,
            "--to",
            &day(SILENT + 6).to_string(),
        ])
        .output()
        .unwrap();
    let status = json_of(&status);
    let checks: Vec<&str> = status["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["checks"].as_str().unwrap())
        .collect();
    assert_eq!(checks[0], "fail");
    assert_ne!(checks[6], "fail", "{checks:?}");

    // The table format: failures first, each with a sentence.
    let table = sandbox.cmd(&["check", "--date", &silent]).output().unwrap();
    let text = stdout(&table);
    assert!(text.starts_with("FAIL "), "{text}");
    assert!(text.contains("sent nothing"), "{text}");

    // Each day's profile is kept with its files: a later check reads the kept one (here
    // made to say that server-01 sent nothing either) until the day's files change.
    let kept = sandbox.objects("_state/profiles");
    assert_eq!(kept.len() as i64, DAYS, "{:?}", kept.keys());
    let name = format!("event_date={silent}.json");
    let mut profile: Value = serde_json::from_slice(&kept[&name]).unwrap();
    profile["volume"]
        .as_array_mut()
        .unwrap()
        .retain(|row| !row[1].as_str().unwrap().contains("server-01"));
    let relative = format!("_state/profiles/{name}");
    sandbox.set_object(
        &relative,
        Some(serde_json::to_vec(&profile).unwrap().into()),
    );
    let silent_sources = |sandbox: &Sandbox| -> BTreeSet<String> {
        let output = sandbox.cmd(&again).output().unwrap();
        failures(&json_of(&output))
            .into_iter()
            .filter(|(_, check, kind, _, _)| check == "volume" && kind == "search")
            .map(|(_, _, _, source, _)| {
                source
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    assert_eq!(
        silent_sources(&sandbox),
        BTreeSet::from(["server-01.jsonl".into(), "server-03.jsonl".into()])
    );
    let late = event_line("m-late", "search", &format!("{silent}T12:00:00Z"), "cat");
    sandbox.append("server-01.jsonl", late.as_bytes());
    sandbox.tail(&["--idle-timeout", "0s"]);
    assert_eq!(
        silent_sources(&sandbox),
        BTreeSet::from(["server-03.jsonl".into()])
    );
    let reread: Value = serde_json::from_slice(&sandbox.objects("_state/profiles")[&name]).unwrap();
    assert_ne!(
        reread["files"], profile["files"],
        "kept again for the day's new files"
    );

    // A job refuses the silent day, and computes an ordinary one.
    let output = sandbox
        .cmd(&["run", "all", "--date", &silent, "--require-checks"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(6));
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("check volume failed"), "{said}");
    let ordinary = day(34).to_string();
    run_ok(&mut sandbox.cmd(&["run", "all", "--date", &ordinary, "--require-checks"]));
    let days: Vec<String> = sandbox.tree("search_term_daily").into_keys().collect();
    assert!(days.iter().any(|d| d.contains(&ordinary)), "{days:?}");
    assert!(!days.iter().any(|d| d.contains(&silent)), "{days:?}");

    // The report's Checks section, in a browser: the day's failures, each drawn over the
    // weeks before with its failing day marked.
    let page = sandbox.dir.path().join("checks.html");
    let page_arg = page.display().to_string();
    run_ok(&mut sandbox.cmd(&["report", "--date", &silent, "--days", "7", "-o", &page_arg]));
    let Some(seen) = open_in_browser(&page, "report-checks") else {
        return;
    };
    let text = |v: &Value| v.as_str().unwrap_or("").to_owned();
    let mut expected: Vec<Vec<String>> = json["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["date"] == silent.as_str() && r["status"] == "fail")
        .map(|r| {
            ["check", "type", "source", "key"]
                .iter()
                .map(|k| text(&r[*k]))
                .collect()
        })
        .collect();
    let mut shown: Vec<Vec<String>> = report_table(&seen, "checks")
        .into_iter()
        .filter(|row| row[0] == "fail")
        .map(|row| row[1..5].to_vec())
        .collect();
    expected.sort();
    shown.sort();
    assert_eq!(shown, expected, "the day's failures, each once");
    let drawn = report_table(&seen, "check_0");
    assert_eq!(drawn.len(), 29, "the day and the 28 before");
    assert_eq!(drawn[28][0], silent);
    assert_eq!(drawn[28][4], "fail");
    assert!(report_chart(&seen, "check_0")["width"].as_f64().unwrap() > 100.0);
}

#[test]
fn validate_finds_the_plans_violations_and_records_them_once() {
    let sandbox = Sandbox::local();
    sandbox.append(
        "app.jsonl",
        event_line("m-1", "search", "2026-11-23T10:00:00Z", "cat").as_bytes(),
    );
    sandbox.append(
        "app.jsonl",
        event_line("m-2", "zoom_in", "2026-11-23T10:00:01Z", "").as_bytes(),
    );
    sandbox.append(
        "app.jsonl",
        br#"{"messageId":"m-3","type":"select","timestamp":"2026-11-23T10:00:02Z","properties":{"query":"cat","sticker_id":"s","position":"2"},"context":{"app":{}}}
"#,
    );
    sandbox.tail(&[]);
    let plan = sandbox.dir.path().join("plan.json");
    std::fs::write(&plan, PLAN).unwrap();
    let plan = plan.display().to_string();
    let args = [
        "validate",
        "--plan",
        &plan,
        "--date",
        "2026-11-23",
        "--format",
        "json",
    ];
    let output = sandbox.cmd(&args).output().unwrap();
    assert_eq!(output.status.code(), Some(6));
    let json = json_of(&output);
    assert_eq!(json["events_checked"], 3);
    assert_eq!(json["plan_version"], "2026-09");
    let found: BTreeSet<(String, String, String)> = json["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["message_id"].as_str().unwrap().to_owned(),
                v["rule"].as_str().unwrap().to_owned(),
                v["path"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        found,
        BTreeSet::from([
            ("m-2".into(), "unplanned_type".into(), "/type".into()),
            ("m-3".into(), "type".into(), "/properties/position".into()),
        ])
    );
    let first = &json["violations"][0];
    assert!(
        first["source"].as_str().unwrap().ends_with("app.jsonl") && first["source_offset"].is_i64()
    );
    assert!(
        sandbox.tree("violations").is_empty(),
        "nothing written without --record"
    );
    for _ in 0..2 {
        let mut record = args.to_vec();
        record.push("--record");
        assert_eq!(
            sandbox.cmd(&record).output().unwrap().status.code(),
            Some(6)
        );
        assert_eq!(
            sandbox.rows("violations"),
            2,
            "a day recorded again is replaced"
        );
    }
    let ok = sandbox
        .cmd(&["validate", "--plan", &plan, "--date", "2026-11-24"])
        .output()
        .unwrap();
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let bad = sandbox.dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"version":"1","events":{"search":{"properties":{"type":"objekt"}}}}"#,
    )
    .unwrap();
    let said = run_err(&mut sandbox.cmd(&[
        "validate",
        "--plan",
        &bad.display().to_string(),
        "--date",
        "2026-11-23",
    ]));
    assert!(
        said.contains("bad.json") && said.contains("events.search.properties"),
        "{said}"
    );
}

/// An HTTP server on 127.0.0.1 answering `statuses` in turn; returns its port and the
/// bodies it received, once it has answered them all.
fn http_server(statuses: Vec<u16>) -> (u16, std::thread::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let mut bodies = Vec::new();
        for status in statuses {
            let (mut stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap();
                }
                if line == "\r\n" || line.is_empty() {
                    break;
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            bodies.push(String::from_utf8(body).unwrap());
            write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            )
            .unwrap();
        }
        bodies
    });
    (port, handle)
}

#[test]
fn notify_and_webhook_receive_the_json_and_credentials_stay_hidden() {
    let sandbox = Sandbox::local();
    sandbox.append(
        "app.jsonl",
        event_line("m-1", "search", "2026-11-23T10:00:00Z", "cat").as_bytes(),
    );
    sandbox.tail(&[]);
    let checks = sandbox.dir.path().join("checks");
    std::fs::create_dir_all(&checks).unwrap();
    std::fs::write(
        checks.join("cats_are_searched_twice.sql"),
        "SELECT term, count(*) AS n FROM raw_events WHERE event_date = DATE '{date}' AND term = 'cat' GROUP BY term HAVING count(*) < 2",
    )
    .unwrap();
    let notified = sandbox.dir.path().join("notified.json");
    let (port, server) = http_server(vec![503, 200]);
    let url = format!("http://hook:s3cr3t@127.0.0.1:{port}/services/T0/B0?token=t0k3n");
    let checks_dir = checks.display().to_string();
    let notify = format!("cat > {}", notified.display());
    let output = sandbox
        .cmd(&[
            "check",
            "--date",
            "2026-11-23",
            "--checks",
            &checks_dir,
            "--notify",
            &notify,
            "--webhook",
            &url,
        ])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let bodies = server.join().unwrap();
    assert_eq!(bodies.len(), 2, "a 503 is tried again");
    let piped: Value = serde_json::from_str(&std::fs::read_to_string(&notified).unwrap()).unwrap();
    let posted: Value = serde_json::from_str(&bodies[1]).unwrap();
    assert_eq!(piped, posted);
    let user = posted["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["check"] == "sql:cats_are_searched_twice")
        .unwrap();
    assert_eq!(
        (user["status"].as_str(), user["value"].as_f64()),
        (Some("fail"), Some(1.0))
    );
    assert_eq!(posted["failed"], 1);

    // An endpoint that keeps failing: an error that names neither the user, nor the password,
    // nor the token.
    let (port, server) = http_server(vec![500, 500, 500]);
    let url = format!("http://hook:s3cr3t@127.0.0.1:{port}/services/T0/B0?token=t0k3n");
    let said = run_err(&mut sandbox.cmd(&["check", "--date", "2026-11-23", "--webhook", &url]));
    server.join().unwrap();
    assert!(
        said.contains("3 attempts") && said.contains(&format!("127.0.0.1:{port}")),
        "{said}"
    );
    for secret in ["s3cr3t", "t0k3n", "hook:", "T0/B0"] {
        assert!(!said.contains(secret), "{secret} shown: {said}");
    }
}

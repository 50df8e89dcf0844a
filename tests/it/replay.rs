//! The lossless raw zone: events with the whole Segment envelope go through the tailer and
//! come back from `replay` equal to what was sent (as JSON values, numbers exactly as
//! written), line for line; tailing the replay gives the same rows; the quarantine comes back
//! byte for byte. A table written with the previous schema gains the new columns.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::value::RawValue;

use crate::util::*;

on_both_stores!(replay_gives_every_event_back_as_sent);

/// A JSON value compared as a value: members by key, strings unescaped, numbers exactly as
/// written (so `1e3` is not `1000` and 2^64 + 1 is not rounded).
#[derive(Debug, PartialEq)]
enum Json {
    Object(BTreeMap<String, Json>),
    Array(Vec<Json>),
    String(String),
    Number(String),
    Literal(String),
}

fn json(text: &str) -> Json {
    let text = text.trim();
    match text.as_bytes()[0] {
        b'{' => Json::Object(
            serde_json::from_str::<BTreeMap<String, &RawValue>>(text)
                .unwrap()
                .into_iter()
                .map(|(key, value)| (key, json(value.get())))
                .collect(),
        ),
        b'[' => Json::Array(
            serde_json::from_str::<Vec<&RawValue>>(text)
                .unwrap()
                .iter()
                .map(|value| json(value.get()))
                .collect(),
        ),
        b'"' => Json::String(serde_json::from_str(text).unwrap()),
        b'-' | b'0'..=b'9' => Json::Number(text.to_owned()),
        _ => Json::Literal(text.to_owned()),
    }
}

/// Events with every Segment member, `anonymousId` beside `userId`, offsets and 0 to 9
/// fraction digits, numbers written `1.0`, `1e3` and beyond 2^64, `\u` escapes and raw UTF-8.
fn sent_events() -> Vec<String> {
    let fractions = [
        "",
        ".1",
        ".12",
        ".123",
        ".1234",
        ".12345",
        ".123456",
        ".1234567",
        ".12345678",
        ".123456789",
    ];
    let offsets = ["Z", "+05:30", "-08:00", "+00:00"];
    let kinds = ["search", "select", "report", "app_open"];
    (0..12)
        .map(|n| {
            let kind = kinds[n % kinds.len()];
            let properties = match kind {
                "search" => r#"{"query":"Caf\u00e9 \ud83d\ude00 naïve","results":["st_1","st_2"],"latency_ms":18,"big":18446744073709551617,"e":1e3,"f":1.0,"neg":-0.0,"nested":{"x":null,"y":[1,2.50]}}"#,
                "select" => r#"{"query":"CAT  in a park","sticker_id":"st_9","position":1}"#,
                "report" => r#"{"query":"cat","sticker_ids":["st_7","st_7","st_9"],"reason":"offensive"}"#,
                _ => r#"{"screen":"home","cold_start":true}"#,
            };
            format!(
                r#"{{"messageId":"r-{n}","type":"{kind}","timestamp":"2026-11-23T10:0{}:00{}{}","userId":"u-{n}","anonymousId":"a-{n}","sentAt":"2026-11-23T04:30:01.5Z","receivedAt":"2026-11-23T04:30:02Z","originalTimestamp":"2026-11-23T10:00:00+05:30","integrations":{{"All":true,"Mixpanel":false}},"version":2,"channel":"client","event":"Sticker \u201csearch\u201d","name":null,"traits":{{"plan":"pro","score":1.0,"visits":1e3}},"context":{{"app":{{"version":"5.1.0"}},"locale":"fr-FR"}},"properties":{properties}}}"#,
                n % 10,
                fractions[n % fractions.len()],
                offsets[n % offsets.len()],
            )
        })
        .collect()
}

const BAD_LINES: [&[u8]; 3] = [
    b"not json at all",
    b"{\"messageId\":\"b-1\",\"type\":\"search\",\"timestamp\":\"yesterday\"}",
    b"{\"messageId\":\"b-2\",\"bytes\":\"\xff\xfe\"}",
];

fn replay_gives_every_event_back_as_sent(sandbox: Sandbox) {
    let sent = sent_events();
    let mut log = Vec::new();
    for (n, line) in sent.iter().enumerate() {
        log.extend_from_slice(line.as_bytes());
        log.push(b'\n');
        if n % 5 == 0 {
            log.extend_from_slice(BAD_LINES[n / 5]);
            log.push(b'\n');
        }
    }
    sandbox.append("app.jsonl", &log);
    sandbox.tail(&[]);

    let out = sandbox.dir.path().join("replayed.jsonl");
    let out_text = out.display().to_string();
    run_ok(&mut sandbox.cmd(&["replay", "-o", &out_text]));
    let replayed = std::fs::read_to_string(&out).unwrap();
    let replayed: Vec<&str> = replayed.lines().collect();
    assert_eq!(replayed.len(), sent.len(), "{replayed:#?}");
    for (back, sent) in replayed.iter().zip(&sent) {
        assert_eq!(
            json(back),
            json(sent),
            "\nsent:     {sent}\nreplayed: {back}"
        );
    }
    // Filters: days and types.
    let some = stdout(&run_ok(&mut sandbox.cmd(&[
        "replay",
        "--date",
        "2026-11-23",
        "--type",
        "select",
    ])));
    assert_eq!(some.lines().count(), 3, "{some}");
    let none = stdout(&run_ok(&mut sandbox.cmd(&[
        "replay",
        "--date",
        "2026-11-22",
    ])));
    assert_eq!(none, "");

    // The quarantine, byte for byte.
    let bad = sandbox.dir.path().join("bad.jsonl");
    run_ok(&mut sandbox.cmd(&["replay", "--quarantine", "-o", &bad.display().to_string()]));
    let expected: Vec<u8> = BAD_LINES
        .iter()
        .flat_map(|l| [*l, b"\n"].concat())
        .collect();
    assert_eq!(std::fs::read(&bad).unwrap(), expected);

    // Tailing the replay into a new warehouse: the same rows but for source and offset.
    let columns = "message_id, type, event_time, user_id, query, term, sticker_ids, properties, context, anonymous_id, envelope";
    let query = format!("SELECT {columns} FROM raw_events ORDER BY message_id");
    let rows = |warehouse: &str| {
        stdout(&run_ok(
            sandbox
                .cmd(&["sql", "--format", "json", &query])
                .args(["--warehouse", warehouse]),
        ))
    };
    let again = format!("{}/again", sandbox.dir.path().display());
    run_ok(
        sandbox
            .cmd(&["tailer", "--source", &out_text])
            .args(["--warehouse", &again]),
    );
    assert_eq!(rows(&again), rows(&sandbox.warehouse_url()));
}

/// A raw_events table as the previous release wrote it (no `anonymous_id`, no `envelope`):
/// the tailer adds the columns with a metadata commit, rewriting nothing; old rows read as
/// null, by stickerlake and by delta-rs alike.
#[test]
fn a_table_of_the_previous_schema_gains_the_new_columns() {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::arrow::ArrowWriter;

    let sandbox = Sandbox::local();
    sandbox.append(
        "a.jsonl",
        event_line("m-old", "search", "2026-11-23T10:00:00Z", "cat").as_bytes(),
    );
    sandbox.tail(&[]);
    // Rewrite version 0's schema and the data file without the two columns.
    let table = sandbox.dir.path().join("warehouse/raw_events");
    let log = table.join("_delta_log");
    let v0 = log.join(format!("{:020}.json", 0));
    let mut lines: Vec<serde_json::Value> = std::fs::read_to_string(&v0)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for line in &mut lines {
        if let Some(schema) = line.pointer_mut("/metaData/schemaString") {
            let mut parsed: serde_json::Value =
                serde_json::from_str(schema.as_str().unwrap()).unwrap();
            let fields = parsed["fields"].as_array_mut().unwrap();
            fields.retain(|f| f["name"] != "anonymous_id" && f["name"] != "envelope");
            *schema = parsed.to_string().into();
        }
    }
    let text: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    std::fs::write(&v0, text.join("\n") + "\n").unwrap();
    let v1 = log.join(format!("{:020}.json", 1));
    let mut lines: Vec<serde_json::Value> = std::fs::read_to_string(&v1)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for line in &mut lines {
        let Some(add) = line.get_mut("add") else {
            continue;
        };
        let path = table.join(add["path"].as_str().unwrap());
        let bytes = bytes::Bytes::from(std::fs::read(&path).unwrap());
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .unwrap()
            .build()
            .unwrap();
        let batches: Vec<_> = reader.map(|b| b.unwrap()).collect();
        let old: Vec<usize> = (0..batches[0].num_columns() - 2).collect();
        let mut out = Vec::new();
        let schema = std::sync::Arc::new(batches[0].schema().project(&old).unwrap());
        let mut writer = ArrowWriter::try_new(&mut out, schema, None).unwrap();
        for batch in &batches {
            writer.write(&batch.project(&old).unwrap()).unwrap();
        }
        writer.close().unwrap();
        std::fs::write(&path, &out).unwrap();
        add["size"] = out.len().into();
    }
    let text: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    std::fs::write(&v1, text.join("\n") + "\n").unwrap();
    let query = "SELECT message_id, anonymous_id IS NULL AS no_anonymous_id, envelope IS NULL AS no_envelope FROM raw_events ORDER BY message_id";
    // Before any write: stickerlake reads the old table with the new columns null.
    let rows = stdout(&run_ok(
        &mut sandbox.cmd(&["sql", "--format", "csv", query]),
    ));
    assert_eq!(
        rows,
        "message_id,no_anonymous_id,no_envelope\nm-old,true,true\n"
    );

    sandbox.append(
        "a.jsonl",
        event_line("m-new", "search", "2026-11-23T11:00:00Z", "dog").as_bytes(),
    );
    let tailed = sandbox.tail(&[]);
    assert!(String::from_utf8_lossy(&tailed.stderr)
        .contains("added the columns anonymous_id, envelope"));
    let rows = stdout(&run_ok(
        &mut sandbox.cmd(&["sql", "--format", "csv", query]),
    ));
    assert_eq!(
        rows,
        "message_id,no_anonymous_id,no_envelope\nm-new,true,false\nm-old,true,true\n"
    );
    let commits = stdout(&run_ok(&mut sandbox.cmd(&[
        "history",
        "raw_events",
        "--format",
        "json",
    ])));
    assert!(commits.contains("ADD COLUMN"), "{commits}");
    // delta-rs reads both files under the new schema: two files, the new columns present.
    assert_eq!(sandbox.snapshot_files("raw_events").len(), 2);
    assert_eq!(sandbox.rows("raw_events"), 2);
}

/// A random JSON value: objects and arrays (empty, nested) in any position, strings with
/// escapes and braces inside them, numbers as written.
fn random_value(rng: &mut StdRng, depth: u32) -> String {
    let leaves = [
        "null",
        "true",
        "-0.0",
        "1e3",
        "18446744073709551617",
        r#""a \"quoted\" {brace}""#,
        r#""}""#,
        r#""caf\u00e9 ]""#,
    ];
    match rng.random_range(0..if depth >= 4 { 1 } else { 4 }) {
        0 => leaves[rng.random_range(0..leaves.len())].to_owned(),
        1 => "{}".to_owned(),
        2 => {
            let items: Vec<String> = (0..rng.random_range(0..4))
                .map(|_| random_value(rng, depth + 1))
                .collect();
            format!("[{}]", items.join(","))
        }
        _ => {
            let members: Vec<String> = (0..rng.random_range(1..4))
                .map(|n| format!(r#""k{n}":{}"#, random_value(rng, depth + 1)))
                .collect();
            format!("{{{}}}", members.join(","))
        }
    }
}

/// Events whose envelope members are random values; half of them have an escaped key
/// (`"z\u0065d"`), which the fast parser leaves to the reference parser, so both paths
/// are taken.
fn generated_events(count: usize) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(42);
    let keys = [
        "anonymousId",
        "integrations",
        "sentAt",
        "traits",
        "userId",
        "zz",
    ];
    (0..count)
        .map(|n| {
            let mut members = vec![
                format!(r#""messageId":"g-{n:04}""#),
                r#""type":"identify""#.to_owned(),
                r#""timestamp":"2026-11-23T10:00:00Z""#.to_owned(),
            ];
            for key in keys {
                if rng.random_bool(0.6) {
                    members.push(format!(r#""{key}":{}"#, random_value(&mut rng, 0)));
                }
            }
            if n % 2 == 1 {
                members.push(format!(r#""z\u0065d":{}"#, random_value(&mut rng, 0)));
            }
            if rng.random_bool(0.5) {
                members.push(format!(r#""context":{}"#, random_value(&mut rng, 3)));
            }
            // Members in a random order: the envelope's last member varies.
            for i in (1..members.len()).rev() {
                members.swap(i, rng.random_range(0..=i));
            }
            format!("{{{}}}", members.join(","))
        })
        .collect()
}

/// Round trip of generated envelopes through both parsers: every event comes back from
/// `replay` as valid JSON, equal as a value to the line that was sent.
#[test]
fn replay_gives_back_generated_envelopes_through_both_parsers() {
    let sandbox = Sandbox::local();
    let sent = generated_events(400);
    let parsed: Vec<serde_json::Value> = sent
        .iter()
        .map(|line| serde_json::from_str(line).expect("the generator writes JSON"))
        .collect();
    sandbox.append("gen.jsonl", (sent.join("\n") + "\n").as_bytes());
    sandbox.tail(&[]);
    let out = stdout(&run_ok(&mut sandbox.cmd(&["replay"])));
    let back: Vec<&str> = out.lines().collect();
    assert_eq!(back.len(), sent.len(), "every event comes back");
    for ((back, sent), parsed) in back.iter().zip(&sent).zip(&parsed) {
        let value: serde_json::Value = serde_json::from_str(back)
            .unwrap_or_else(|e| panic!("replay wrote invalid JSON ({e}):\n{back}\nsent:\n{sent}"));
        assert_eq!(&value, parsed, "\nsent:     {sent}\nreplayed: {back}");
        assert_eq!(json(back), json(sent), "numbers as written");
    }
}

//! `audit` reconciles source lines with warehouse rows: clean after plain tailing, and it
//! catches a raw file deleted from under its snapshot (gap), a raw file committed twice
//! (doubles), a source rewritten
//! under the tailer (mismatched rows) and a source that is gone, on local disk and S3.

use crate::util::*;

on_both_stores!(audit_is_clean_and_catches_deleted_duplicated_and_rewritten);

fn audit(sandbox: &Sandbox) -> (Option<i32>, serde_json::Value) {
    let output = sandbox
        .cmd(&["audit", "--format", "json"])
        .output()
        .unwrap();
    let json = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stderr)));
    (output.status.code(), json)
}

fn count(json: &serde_json::Value, kind: &str) -> usize {
    json[kind].as_array().unwrap().len()
}

fn audit_is_clean_and_catches_deleted_duplicated_and_rewritten(sandbox: Sandbox) {
    generate_logs(&sandbox, 2000, 2);
    let glob = format!("{}/server-*.jsonl", sandbox.logs().display());
    run_ok(&mut sandbox.cmd(&["tailer", "--source", &glob]));
    let (code, json) = audit(&sandbox);
    assert_eq!(
        (code, json["faults"].as_u64()),
        (Some(0), Some(0)),
        "{json}"
    );
    let rows: u64 = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rows"].as_u64().unwrap())
        .sum();
    let in_tables = sandbox.rows("raw_events") + sandbox.rows("quarantine");
    assert_eq!(
        rows as usize, in_tables,
        "every row found by content: {json}"
    );

    // A raw file deleted: its lines are gaps. Put back: clean again.
    let (name, bytes) = sandbox
        .objects("raw_events")
        .into_iter()
        .find(|(name, _)| name.ends_with(".parquet"))
        .unwrap();
    let lost = sandbox.tree("raw_events")[&name]
        .iter()
        .map(|b| b.num_rows())
        .sum::<usize>();
    let object = format!("raw_events/{name}");
    sandbox.set_object(&object, None);
    let (code, json) = audit(&sandbox);
    assert_eq!(code, Some(4), "{json}");
    let gap_lines: u64 = json["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["lines"].as_u64().unwrap())
        .sum();
    assert_eq!(gap_lines as usize, lost, "{json}");
    assert_eq!(count(&json, "doubles") + count(&json, "mismatched"), 0);
    sandbox.set_object(&object, Some(bytes.clone()));
    assert_eq!(audit(&sandbox).0, Some(0));

    // The same raw file committed twice (a faulty writer): each of its lines is a double.
    let copy = object.replace(".parquet", "-copy.parquet");
    let size = bytes.len();
    sandbox.set_object(&copy, Some(bytes));
    let copy_name = copy.strip_prefix("raw_events/").unwrap();
    sandbox.commit_file("raw_events", copy_name, Some(size));
    let (code, json) = audit(&sandbox);
    assert_eq!(code, Some(4));
    assert_eq!(count(&json, "doubles"), lost, "{json}");
    assert!(json["doubles"][0]["rows"] == 2);
    assert_eq!(count(&json, "gaps"), 0);
    sandbox.commit_file("raw_events", copy_name, None);
    assert_eq!(audit(&sandbox).0, Some(0));

    // A source rewritten under the tailer: same first line, another event in place of the
    // second, one byte longer.
    let path = sandbox.logs().join("server-01.jsonl");
    let text = std::fs::read(&path).unwrap();
    let second_offset = text.iter().position(|&b| b == b'\n').unwrap() + 1;
    let key = b"\"messageId\":\"";
    let at = second_offset + memchr::memmem::find(&text[second_offset..], key).unwrap();
    assert!(
        !text[second_offset..at].contains(&b'\n'),
        "the second line is an event"
    );
    let mut rewritten = text.clone();
    rewritten.insert(at + key.len(), b'X');
    std::fs::write(&path, &rewritten).unwrap();
    let (code, json) = audit(&sandbox);
    assert_eq!(code, Some(4));
    let source = path.display().to_string();
    assert_eq!(json["mismatched"][0]["source"], source.as_str(), "{json}");
    assert_eq!(
        json["mismatched"][0]["offset"], second_offset as u64,
        "{json}"
    );
    assert_eq!(
        json["gaps"][0]["from_offset"], second_offset as u64,
        "{json}"
    );
    std::fs::write(&path, &text).unwrap();
    assert_eq!(audit(&sandbox).0, Some(0));

    // A source gone: its rows are listed as such.
    std::fs::remove_file(&path).unwrap();
    let (code, json) = audit(&sandbox);
    assert_eq!(code, Some(4));
    assert_eq!(json["gone"][0]["source"], source.as_str(), "{json}");
    assert_eq!(count(&json, "gone"), 1);
}

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

/// logrotate's own race with copy-then-truncate: a line half written when the file is
/// copied keeps its head as the unterminated last line of `app.log.1`, and its tail starts
/// the new `app.log`. The tail is quarantined at once; `audit` lists the head as bytes no
/// row accounts for (a fault once the rotated file is idle), and the tailer quarantines it
/// after `--idle-timeout`, saying why. Then every byte is accounted for.
#[test]
fn a_line_cut_by_copy_truncate_rotation_is_accounted_for_once_the_copy_is_idle() {
    let sandbox = Sandbox::local();
    let log = sandbox.logs().join("app.log");
    let line = |id: &str| event_line(id, "search", "2026-11-23T10:00:00Z", "cat");
    let cut = line("m-cut");
    let (head, tail) = cut.split_at(cut.len() / 2);
    append(
        &log,
        format!("{}{}{head}", line("m-1"), line("m-2")).as_bytes(),
    );
    let glob = format!("{}/app.log*", sandbox.logs().display());
    let tail_once =
        || run_ok(&mut sandbox.cmd(&["tailer", "--source", &glob, "--idle-timeout", "1s"]));
    tail_once();

    std::fs::copy(&log, sandbox.logs().join("app.log.1")).unwrap();
    std::fs::File::create(&log).unwrap();
    append(&log, format!("{tail}{}", line("m-3")).as_bytes());
    tail_once();
    assert_eq!(message_ids(&sandbox), ["m-1", "m-2", "m-3"]);
    assert_eq!(sandbox.rows("quarantine"), 1, "the tail of the cut line");

    let unaccounted = |json: &serde_json::Value| json["unaccounted"].as_array().unwrap().clone();
    let (code, json) = audit(&sandbox);
    let copy = sandbox.logs().join("app.log.1").display().to_string();
    let listed = unaccounted(&json);
    assert_eq!(listed.len(), 1, "{json}");
    assert_eq!(listed[0]["source"], copy.as_str());
    assert_eq!(
        listed[0]["to_offset"].as_u64().unwrap() - listed[0]["from_offset"].as_u64().unwrap(),
        head.len() as u64
    );
    assert_eq!(listed[0]["unterminated"], true);
    if listed[0]["fault"] == false {
        assert_eq!(code, Some(0), "a line may still get its newline: {json}");
        // Once the copy has been idle for --idle-timeout (1s).
        let limit = std::time::Duration::from_secs(20);
        let json = wait_for(limit, "audit calls the idle cut line a fault", || {
            let (code, json) = audit(&sandbox);
            (code == Some(4)).then_some(json)
        });
        assert_eq!(unaccounted(&json)[0]["fault"], true);
    }

    let limit = std::time::Duration::from_secs(20);
    wait_for(limit, "the tailer quarantines the idle cut line", || {
        let output = tail_once();
        String::from_utf8_lossy(&output.stderr)
            .contains("never got a newline")
            .then_some(())
    });
    let quarantine = sandbox.table("quarantine");
    let reasons = strings(&quarantine, "error");
    let lines = binaries(&quarantine, "line");
    let at = reasons
        .iter()
        .position(|r| r.as_deref().unwrap().contains("unterminated last line"))
        .unwrap_or_else(|| panic!("{reasons:?}"));
    assert_eq!(lines[at], head.as_bytes());
    let (code, json) = audit(&sandbox);
    assert_eq!(
        (code, json["faults"].as_u64()),
        (Some(0), Some(0)),
        "{json}"
    );
    assert!(unaccounted(&json).is_empty(), "{json}");
    tail_once();
    assert_eq!(sandbox.rows("quarantine"), 2, "quarantined once");
}

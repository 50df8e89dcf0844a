//! `ddl` and `export-jobs`: what other engines are given, and the refusals (Spark itself runs
//! the output in `make test-scale`, `tests/scale/spark_check.py`).

use crate::util::*;

#[test]
fn ddl_and_export_jobs_cover_every_table_and_job_or_refuse_clearly() {
    let sandbox = Sandbox::local();
    let err = run_err(&mut sandbox.cmd(&["ddl", "--dialect", "spark"]));
    assert!(err.contains("no tables yet"), "{err}");

    generate_logs(&sandbox, 2000, 2);
    let glob = format!("{}/server-*.jsonl", sandbox.logs().display());
    run_ok(&mut sandbox.cmd(&["tailer", "--source", &glob]));
    run_days(&sandbox, "all", "2026-11-20", "2026-11-21");
    for dialect in ["spark", "trino", "athena"] {
        let ddl = stdout(&run_ok(&mut sandbox.cmd(&[
            "ddl",
            "--dialect",
            dialect,
            "--location",
            "s3://lake/prod",
        ])));
        for table in [
            "raw_events",
            "quarantine",
            "search_term_daily",
            "reported_sticker_daily",
        ] {
            assert!(
                ddl.contains(&format!("/{table}")),
                "{dialect} {table}:\n{ddl}"
            );
        }
        assert_eq!(ddl.matches("CREATE").count(), 4, "{ddl}");
    }
    let script = stdout(&run_ok(&mut sandbox.cmd(&[
        "export-jobs",
        "--dialect",
        "spark",
        "--from",
        "2026-11-20",
        "--to",
        "2026-11-21",
    ])));
    assert_eq!(
        script.matches("INSERT OVERWRITE TABLE").count(),
        2 * 2,
        "{script}"
    );
    assert!(
        script.contains("LATERAL VIEW explode(sticker_ids)") && !script.contains("unnest"),
        "{script}"
    );

    // Bad input: an unknown dialect, a construct the translation does not cover.
    let err = run_err(&mut sandbox.cmd(&["ddl", "--dialect", "oracle"]));
    assert!(err.contains("invalid value 'oracle'"), "{err}");
    let err =
        run_err(&mut sandbox.cmd(&["export-jobs", "--dialect", "trino", "--date", "2026-11-20"]));
    assert!(err.contains("invalid value 'trino'"), "{err}");
    let jobs = repo_path("examples/jobs");
    let output = sandbox
        .cmd(&[
            "export-jobs",
            "--dialect",
            "spark",
            "--date",
            "2026-11-20",
            "--sql-dir",
            &jobs,
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("job user_spend_hourly uses json_get_int()"),
        "{err}"
    );
    assert!(
        output.stdout.is_empty(),
        "nothing is printed when a job is refused"
    );
}

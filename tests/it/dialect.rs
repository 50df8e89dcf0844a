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
        // Trino registers a table that has a Delta log; the others create each one.
        let declared = ddl.matches("CREATE").count() + ddl.matches("register_table(").count();
        assert_eq!(declared, 4, "{ddl}");
        assert!(ddl.contains("DELTA") || dialect == "trino", "{ddl}");
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

/// `--engine` is checked before anything is read or written (Ballista itself runs in
/// `make test-scale`, `tests/scale/ballista_check.py`, with a build that has the feature).
#[test]
fn a_bad_engine_is_refused_before_anything_is_written() {
    let sandbox = Sandbox::local();
    generate_logs(&sandbox, 500, 1);
    let glob = format!("{}/server-*.jsonl", sandbox.logs().display());
    run_ok(&mut sandbox.cmd(&["tailer", "--source", &glob]));
    let before = sandbox.objects("");
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let unreachable = format!("df://127.0.0.1:{closed_port}");
    let expected = if cfg!(feature = "ballista") {
        "cannot reach the Ballista scheduler"
    } else {
        "built without Ballista; build it with `cargo build --release --features ballista`"
    };
    for command in [
        &["run", "all", "--date", "2026-11-20"][..],
        &["sql", "SELECT count(*) FROM raw_events"][..],
    ] {
        let err = run_err(sandbox.cmd(command).args(["--engine", &unreachable]));
        assert!(err.contains(expected), "{command:?}: {err}");
        let err = run_err(sandbox.cmd(command).env("STICKERLAKE_ENGINE", &unreachable));
        assert!(
            err.contains(expected),
            "{command:?} from the environment: {err}"
        );
        let output = sandbox
            .cmd(command)
            .args(["--engine", "spark://127.0.0.1:7077"])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "a usage error");
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(
            err.contains("unknown engine \"spark://127.0.0.1:7077\": give df://HOST:PORT"),
            "{err}"
        );
    }
    assert_eq!(sandbox.objects(""), before, "nothing was written");
    // `local` is the default, said out loud.
    let out = stdout(&run_ok(&mut sandbox.cmd(&[
        "sql",
        "--format",
        "csv",
        "--engine",
        "local",
        "SELECT count(*) AS n FROM raw_events",
    ])));
    assert!(out.starts_with("n\n") && out.trim() != "n\n0", "{out}");
}

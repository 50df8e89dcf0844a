//! An installed binary (copied out of the build, as `make install` / `cargo install` do) run
//! from `/`, as cron runs it: the daily jobs are built in and the model is found where
//! `make model` puts it.

use crate::util::*;

#[test]
fn an_installed_binary_works_from_the_root_directory() {
    let sandbox = Sandbox::local();
    let bin = sandbox.dir.path().join("bin/stickerlake");
    std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_stickerlake"), &bin).unwrap();
    let warehouse = sandbox.warehouse_url();
    let logs = sandbox.logs().display().to_string();
    let installed = |args: &[&str]| {
        let mut cmd = std::process::Command::new(&bin);
        cmd.current_dir("/")
            .env_remove("STICKERLAKE_WAREHOUSE")
            .env_remove("STICKERLAKE_MODEL")
            .arg("--warehouse")
            .arg(&warehouse)
            .args(args);
        stdout(&run_ok(&mut cmd))
    };
    installed(&[
        "generate",
        "--out",
        &logs,
        "--events",
        "3000",
        "--days",
        "2",
        "--start",
        "2026-11-20",
    ]);
    installed(&["tailer", "--source", &format!("{logs}/server-*.jsonl")]);

    let jobs = installed(&["jobs"]);
    assert!(
        jobs.contains("search_term_daily") && jobs.contains("(built in)"),
        "{jobs}"
    );
    installed(&["run", "all", "--from", "2026-11-20", "--to", "2026-11-21"]);
    let days = installed(&[
        "sql",
        "SELECT count(DISTINCT event_date) AS days FROM search_term_daily",
        "--format",
        "csv",
    ]);
    assert_eq!(days, "days\n2\n");

    let vectors = sandbox.dir.path().join("v.parquet").display().to_string();
    let embedded = installed(&[
        "embed",
        "--catalog",
        &format!("{logs}/catalog.jsonl"),
        "-o",
        &vectors,
    ]);
    assert!(std::path::Path::new(&vectors).exists(), "{embedded}");
}

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

/// `completions` and `manpages`, what `make install` puts under `~/.local`: bash completes
/// subcommands and their flags, and every visible subcommand has its page.
#[test]
fn completions_complete_and_every_subcommand_has_a_man_page() {
    let sandbox = Sandbox::local();
    let script = sandbox.dir.path().join("stickerlake.bash");
    std::fs::write(
        &script,
        run_ok(&mut sandbox.cmd(&["completions", "bash"])).stdout,
    )
    .unwrap();
    let complete = |words: &str| {
        let program = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
             _stickerlake stickerlake \"${{COMP_WORDS[-1]}}\" \"${{COMP_WORDS[-2]}}\"; \
             echo \"${{COMPREPLY[@]}}\"",
            script.display()
        );
        stdout(&run_ok(
            std::process::Command::new("bash").args(["-c", &program]),
        ))
    };
    assert_eq!(complete("stickerlake ta").trim(), "tailer");
    assert!(complete("stickerlake run --st").contains("--stale"));
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let script = stdout(&run_ok(&mut sandbox.cmd(&["completions", shell])));
        assert!(
            script.contains("tailer") && script.contains("warehouse"),
            "{shell}"
        );
    }
    let bad = sandbox.cmd(&["completions", "tcsh"]).output().unwrap();
    assert_eq!(
        bad.status.code(),
        Some(2),
        "a shell clap_complete does not know"
    );

    let pages = sandbox.dir.path().join("man");
    run_ok(&mut sandbox.cmd(&["manpages", pages.to_str().unwrap()]));
    let help = stdout(&run_ok(&mut sandbox.cmd(&["--help"])));
    let subcommands: Vec<&str> = help
        .split("Commands:")
        .nth(1)
        .unwrap()
        .lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .collect();
    assert!(subcommands.len() >= 18, "{subcommands:?}");
    for name in std::iter::once("stickerlake".to_owned())
        .chain(subcommands.iter().map(|s| format!("stickerlake-{s}")))
    {
        let page = std::fs::read_to_string(pages.join(format!("{name}.1")))
            .unwrap_or_else(|e| panic!("{name}.1: {e}"));
        assert!(
            page.starts_with(".ie") || page.contains(".TH"),
            "{name}.1 is not a man page"
        );
        assert!(page.contains(&name), "{name}.1 does not name itself");
    }
}

//! Every `sh` block of the README, run in order in an empty folder with the built binary as
//! `stickerlake`: the commands a new user copies cannot rot. `make …` lines are skipped
//! (`.ci/run` runs those targets), `--follow` runs get SIGTERM after a few seconds, and the
//! S3 example's endpoint is pointed at the test's moto server.

use crate::util::*;

fn sh_blocks(readme: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in readme.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), line) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn every_sh_block_of_the_readme_runs() {
    let readme = std::fs::read_to_string(repo_path("README.md")).unwrap();
    let blocks = sh_blocks(&readme);
    assert!(blocks.len() >= 3, "found {} sh blocks", blocks.len());
    let moto = shared_moto();
    moto.create_bucket("lake");
    let prelude = format!(
        r#"set -euo pipefail
make() {{ :; }}
stickerlake() {{
  if [[ " $* " == *" --follow "* ]]; then
    timeout -s TERM 3 '{bin}' "$@" || [[ $? == 124 ]]
  else
    '{bin}' "$@" </dev/null
  fi
}}
"#,
        bin = env!("CARGO_BIN_EXE_stickerlake")
    );
    // The README's commands run beside the repository's example jobs.
    let examples = format!("ln -s '{}' examples\n", repo_path("examples"));
    let script = prelude + &examples + &blocks.join("\n");
    let script = script.replace("http://127.0.0.1:9000", &moto.endpoint());
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new("bash");
    cmd.arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .env_remove("STICKERLAKE_WAREHOUSE")
        .env_remove("STICKERLAKE_MODEL");
    let output = run_ok(&mut cmd);
    let out = stdout(&output);
    assert!(
        out.contains("recall@10"),
        "the evaluation table is printed:\n{out}"
    );
}

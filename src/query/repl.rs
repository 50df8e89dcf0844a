//! The interactive prompt: statements end with `;`, history in `~/.stickerlake_history`,
//! `\d` lists the tables, `\scan QUERY;` previews what a query reads, `\q` quits. An error
//! is printed and the prompt goes on.

use rustyline::error::ReadlineError;
use rustyline::DefaultEditor;

use super::Session;
use crate::output::Format;

pub async fn run(session: &Session, format: Format, max_rows: Option<usize>) -> anyhow::Result<()> {
    let tables = &session.tables;
    let mut editor = DefaultEditor::new()?;
    let history = std::env::var_os("HOME")
        .map(|home| std::path::PathBuf::from(home).join(".stickerlake_history"));
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    eprintln!(
        "stickerlake sql: {} table(s). End statements with ';'. \\d lists tables, \\scan QUERY; previews a scan, \\q quits.",
        tables.len()
    );
    let mut pending = String::new();
    loop {
        let prompt = if pending.is_empty() {
            "stickerlake> "
        } else {
            "          -> "
        };
        let line = match editor.readline(prompt) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => {
                pending.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        };
        let trimmed = line.trim();
        if pending.is_empty() {
            match trimmed {
                "" => continue,
                "\\q" | "quit" | "exit" => break,
                "\\d" => {
                    for table in tables {
                        match &table.partition_column {
                            Some(column) => println!("{} (partitioned by {column})", table.name),
                            None => println!("{}", table.name),
                        }
                    }
                    continue;
                }
                _ => {}
            }
        }
        pending.push_str(&line);
        pending.push('\n');
        if !trimmed.ends_with(';') {
            continue;
        }
        let _ = editor.add_history_entry(pending.trim_end());
        let mut out = std::io::stdout();
        let ran = match pending.trim_start().strip_prefix("\\scan") {
            Some(query) => session.explain_scan(query, &mut out).await,
            None => session.run(&pending, &mut out, format, max_rows).await,
        };
        if let Err(e) = ran {
            eprintln!("error: {e:#}");
        }
        pending.clear();
    }
    if let Some(path) = &history {
        let _ = editor.save_history(path);
    }
    Ok(())
}

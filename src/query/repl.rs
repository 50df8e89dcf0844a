//! The interactive prompt. Statements end with `;` and may span lines (Enter inside one adds
//! a line); Tab completes keywords, tables, columns and partition values; Ctrl-R searches the
//! history (`~/.stickerlake_history`). Each statement's time is shown (`\timing` toggles it),
//! a result longer than the screen goes to `$PAGER`. Ctrl-C cancels a running query (its
//! memory is freed, the session stays) or clears the line; a second Ctrl-C at an empty
//! prompt quits, as does `\q`. `\d` lists the tables, `\d TABLE` describes one, `\scan
//! QUERY` previews what a query reads. An error is printed and the prompt goes on.

use std::io::Write;
use std::time::Instant;

use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::{
    Cmd, ConditionalEventHandler, Editor, Event, EventContext, EventHandler, KeyEvent, Movement,
    RepeatCount,
};

use super::complete::{is_complete, PromptHelper, Vocabulary};
use super::describe::describe;
use super::interrupt::Interrupts;
use super::pager::Paged;
use super::Session;
use crate::output::Format;

pub async fn run(session: &Session, format: Format, max_rows: Option<usize>) -> anyhow::Result<()> {
    let mut editor: Editor<PromptHelper, FileHistory> = Editor::new()?;
    editor.set_helper(Some(PromptHelper {
        vocabulary: vocabulary(session).await?,
    }));
    editor.bind_sequence(
        KeyEvent::ctrl('C'),
        EventHandler::Conditional(Box::new(ClearOrInterrupt)),
    );
    let history = std::env::var_os("HOME")
        .map(|home| std::path::PathBuf::from(home).join(".stickerlake_history"));
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    eprintln!(
        "stickerlake sql: {} table(s). End statements with ';'. Tab completes; \\d [TABLE] describes, \\scan QUERY previews a scan, \\timing toggles times, \\q or Ctrl-C twice quits.",
        session.tables.len()
    );
    // At a terminal Ctrl-C cancels a statement; with piped input it ends the process as usual.
    let interrupts = if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        Some(Interrupts::install()?)
    } else {
        None
    };
    let mut timing = true;
    let mut interrupted = false;
    // Lines read one at a time (standard input not a terminal) gather here until complete.
    let mut pending = String::new();
    loop {
        let prompt = if pending.is_empty() {
            "stickerlake> "
        } else {
            "          -> "
        };
        let line = match editor.readline(prompt) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) if interrupted => break,
            Err(ReadlineError::Interrupted) => {
                // Reached only at an empty prompt: Ctrl-C with text clears the text instead.
                eprintln!("(Ctrl-C again, or \\q, quits)");
                interrupted = true;
                pending.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        };
        interrupted = false;
        if !pending.is_empty() {
            pending.push('\n');
        }
        pending.push_str(&line);
        if !is_complete(&pending) {
            continue;
        }
        let input = std::mem::take(&mut pending);
        let input = input.trim();
        if input.is_empty() {
            continue;
        }
        let _ = editor.add_history_entry(input);
        let command = match input.strip_prefix('\\') {
            Some(command) => {
                let (name, rest) = command
                    .split_once(char::is_whitespace)
                    .unwrap_or((command, ""));
                match name {
                    "q" => break,
                    "timing" => {
                        timing = !timing;
                        eprintln!("timing is {}", if timing { "on" } else { "off" });
                        continue;
                    }
                    "d" if rest.trim().is_empty() => Command::ListTables,
                    "d" => Command::Describe(rest.trim().trim_end_matches(';').to_owned()),
                    "scan" => Command::Scan(rest.to_owned()),
                    _ => {
                        eprintln!(
                            "unknown command \\{name}: \\d [TABLE], \\scan QUERY, \\timing, \\q"
                        );
                        continue;
                    }
                }
            }
            None if matches!(input, "quit" | "exit") => break,
            None => Command::Sql(input.to_owned()),
        };
        run_cancellable(
            session,
            interrupts.as_ref(),
            command,
            format,
            max_rows,
            timing,
        )
        .await;
    }
    if let Some(path) = &history {
        let _ = editor.save_history(path);
    }
    Ok(())
}

enum Command {
    ListTables,
    Describe(String),
    Scan(String),
    Sql(String),
}

/// Runs one command until it ends or Ctrl-C: dropping the query's stream stops its work and
/// frees its memory; the session and its tables stay.
async fn run_cancellable(
    session: &Session,
    interrupts: Option<&Interrupts>,
    command: Command,
    format: Format,
    max_rows: Option<usize>,
    timing: bool,
) {
    // The warehouse may have changed since the last command: list it again.
    let mut out = Paged::new();
    let started = Instant::now();
    let work = async {
        match &command {
            Command::ListTables => list_tables(session, &mut out),
            Command::Describe(table) => describe(session, table, &mut out).await,
            Command::Scan(query) => session.explain_scan(query, &mut out).await,
            Command::Sql(text) => session.run(text, &mut out, format, max_rows).await,
        }
    };
    let result = tokio::select! {
        result = work => Some(result),
        () = async {
            match interrupts {
                Some(interrupts) => interrupts.next().await,
                None => std::future::pending().await,
            }
        } => None,
    };
    match result {
        None => {
            out.abandon();
            eprintln!("cancelled after {:.3} s", started.elapsed().as_secs_f64());
        }
        Some(result) => {
            if let Err(e) = result {
                eprintln!("error: {e:#}");
            }
            if timing && matches!(command, Command::Sql(_)) {
                let _ = writeln!(out, "Time: {:.3} s", started.elapsed().as_secs_f64());
            }
            if let Err(e) = out.finish() {
                eprintln!("error: {e}");
            }
        }
    }
}

fn list_tables(session: &Session, out: &mut impl Write) -> anyhow::Result<()> {
    for table in &session.tables {
        match &table.partition_column {
            Some(column) => writeln!(out, "{} (partitioned by {column})", table.name)?,
            None => writeln!(out, "{}", table.name)?,
        }
    }
    Ok(())
}

/// Tables, their columns and the partition values that exist, listed once at start.
async fn vocabulary(session: &Session) -> anyhow::Result<Vocabulary> {
    let mut vocabulary = Vocabulary::default();
    for table in &session.tables {
        vocabulary.tables.push(table.name.clone());
        if let Ok(frame) = session.ctx.table(table.name.as_str()).await {
            let fields = frame.schema().fields().iter().map(|f| f.name().clone());
            vocabulary.columns.extend(fields);
        }
        if table.partition_column.is_some() {
            let values = table.partitions.keys().cloned();
            vocabulary.partition_values.extend(values);
        }
    }
    vocabulary.columns.sort();
    vocabulary.columns.dedup();
    vocabulary.partition_values.sort();
    vocabulary.partition_values.dedup();
    Ok(vocabulary)
}

/// Ctrl-C with text on the line clears it; at an empty prompt it interrupts (see `run`).
struct ClearOrInterrupt;

impl ConditionalEventHandler for ClearOrInterrupt {
    fn handle(
        &self,
        _event: &Event,
        _n: RepeatCount,
        _positive: bool,
        ctx: &EventContext,
    ) -> Option<Cmd> {
        (!ctx.line().is_empty()).then_some(Cmd::Kill(Movement::WholeBuffer))
    }
}

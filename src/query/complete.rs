//! The prompt's editing help: tab completion of SQL keywords, table names, column names and
//! the partition values that exist (after a `'`), and multi-line input (Enter inside an
//! unfinished statement adds a line to it). [`candidates`] and [`is_complete`] are pure.

use rustyline::completion::Completer;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};

const KEYWORDS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP",
    "BY",
    "ORDER",
    "HAVING",
    "LIMIT",
    "OFFSET",
    "AS",
    "AND",
    "OR",
    "NOT",
    "IN",
    "IS",
    "NULL",
    "BETWEEN",
    "LIKE",
    "ILIKE",
    "DISTINCT",
    "COUNT",
    "SUM",
    "AVG",
    "MIN",
    "MAX",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "JOIN",
    "LEFT",
    "RIGHT",
    "FULL",
    "INNER",
    "OUTER",
    "CROSS",
    "ON",
    "USING",
    "UNION",
    "ALL",
    "EXCEPT",
    "INTERSECT",
    "WITH",
    "DESC",
    "ASC",
    "NULLS",
    "FIRST",
    "LAST",
    "CAST",
    "DATE",
    "TIMESTAMP",
    "INTERVAL",
    "EXTRACT",
    "HOUR",
    "DAY",
    "TRUE",
    "FALSE",
    "EXPLAIN",
    "SHOW",
    "TABLES",
    "COLUMNS",
    "VALUES",
    "OVER",
    "PARTITION",
    "ROW_NUMBER",
    "RANK",
    "FILTER",
    "unnest",
    "date_trunc",
    "json_get_str",
    "json_get_int",
    "json_get_float",
    "json_get_bool",
    "json_get_json",
    "json_length",
    "json_contains",
    "json_as_text",
];

/// What the prompt can complete.
#[derive(Debug, Default, Clone)]
pub struct Vocabulary {
    pub tables: Vec<String>,
    pub columns: Vec<String>,
    /// Values of the partition columns that exist (`2026-11-23`).
    pub partition_values: Vec<String>,
}

/// Where the word being completed starts in `line[..pos]`, and the words it may become.
pub fn candidates(vocabulary: &Vocabulary, line: &str, pos: usize) -> (usize, Vec<String>) {
    let before = &line[..pos];
    let in_quotes = before.matches('\'').count() % 2 == 1;
    let is_word = |c: char| c.is_alphanumeric() || c == '_' || (in_quotes && c == '-');
    let start = before
        .char_indices()
        .rev()
        .take_while(|(_, c)| is_word(*c))
        .last()
        .map_or(pos, |(i, _)| i);
    let prefix = &before[start..];
    let mut words: Vec<String> = if in_quotes {
        starting_with(&vocabulary.partition_values, prefix, false)
    } else if prefix.is_empty() {
        Vec::new()
    } else {
        let upper = prefix.starts_with(|c: char| c.is_uppercase());
        let keywords = KEYWORDS.iter().map(|k| {
            if upper || k.starts_with(|c: char| c.is_lowercase()) {
                k.to_string()
            } else {
                k.to_lowercase()
            }
        });
        let mut all = starting_with(&keywords.collect::<Vec<_>>(), prefix, true);
        all.extend(starting_with(&vocabulary.tables, prefix, true));
        all.extend(starting_with(&vocabulary.columns, prefix, true));
        all
    };
    words.sort();
    words.dedup();
    (start, words)
}

fn starting_with(words: &[String], prefix: &str, ignore_case: bool) -> Vec<String> {
    let lower = prefix.to_lowercase();
    words
        .iter()
        .filter(|w| {
            if ignore_case {
                w.to_lowercase().starts_with(&lower)
            } else {
                w.starts_with(prefix)
            }
        })
        .cloned()
        .collect()
}

/// Whether Enter runs the input: a statement ended by `;`, a `\` command, or nothing.
pub fn is_complete(input: &str) -> bool {
    let input = input.trim();
    input.is_empty()
        || input.starts_with('\\')
        || input.ends_with(';')
        || matches!(input, "quit" | "exit")
}

/// rustyline's view of the above.
pub struct PromptHelper {
    pub vocabulary: Vocabulary,
}

impl Completer for PromptHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        Ok(candidates(&self.vocabulary, line, pos))
    }
}

impl Validator for PromptHelper {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        Ok(if is_complete(ctx.input()) {
            ValidationResult::Valid(None)
        } else {
            ValidationResult::Incomplete
        })
    }
}

impl Hinter for PromptHelper {
    type Hint = String;
}

impl Highlighter for PromptHelper {}

impl Helper for PromptHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocabulary() -> Vocabulary {
        Vocabulary {
            tables: vec!["raw_events".into(), "reported_sticker_daily".into()],
            columns: vec!["event_date".into(), "event_time".into(), "term".into()],
            partition_values: vec![
                "2026-11-20".into(),
                "2026-11-21".into(),
                "2026-12-01".into(),
            ],
        }
    }

    fn complete(line: &str) -> (usize, Vec<String>) {
        candidates(&vocabulary(), line, line.len())
    }

    #[test]
    fn tables_columns_and_keywords_complete_by_prefix() {
        assert_eq!(
            complete("SELECT * FROM raw"),
            (14, vec!["raw_events".into()])
        );
        assert_eq!(
            complete("SELECT * FROM re"),
            (14, vec!["reported_sticker_daily".into()])
        );
        assert_eq!(
            complete("SELECT event_"),
            (7, vec!["event_date".into(), "event_time".into()])
        );
        assert_eq!(complete("sel").1, ["select"]);
        assert_eq!(complete("SEL").1, ["SELECT"]);
        assert_eq!(complete("SELECT json_get_i").1, ["json_get_int"]);
        assert!(complete("SELECT ").1.is_empty());
    }

    #[test]
    fn partition_values_complete_inside_quotes() {
        let line = "SELECT 1 FROM raw_events WHERE event_date = DATE '2026-11";
        let (start, words) = complete(line);
        assert_eq!(&line[start..], "2026-11");
        assert_eq!(words, ["2026-11-20", "2026-11-21"]);
        // A closed quote is not a value any more.
        assert!(complete("WHERE term = 'cat' AND ev")
            .1
            .contains(&"event_date".to_string()));
    }

    #[test]
    fn statements_end_with_a_semicolon() {
        assert!(!is_complete("SELECT 1"));
        assert!(!is_complete("SELECT 1\nFROM t"));
        assert!(is_complete("SELECT 1\nFROM t;  "));
        assert!(is_complete("\\d raw_events"));
        assert!(is_complete(""));
    }
}

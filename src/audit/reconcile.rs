//! The audit's pure part: given the lines of the source files and the warehouse rows that
//! name a source line (each already matched by content to the files that hold its line),
//! find the gaps, the doubles, the rows that do not match their source, and the rows whose
//! source is gone.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

/// One line of a source file.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub offset: u64,
    /// Just past its newline (or the end of the file for a last line without one).
    pub end: u64,
    /// Whether a row must exist for it once it is read: not blank, and in the audited range.
    pub expected: bool,
}

/// A source file on disk.
#[derive(Debug, Clone)]
pub struct SourceLines {
    pub path: String,
    pub size: u64,
    /// How far the tailers' checkpoints say it was read; `None` when none knows it.
    pub read_to: Option<u64>,
    pub lines: Vec<Line>,
    /// Whether its last line lacks a newline.
    pub unterminated: bool,
    /// No newline can come any more: the file was rotated (a checkpoint says it moved) and
    /// has not changed for the tailers' idle timeout, so a tailer quarantines its
    /// unterminated last line.
    pub settled: bool,
}

/// A warehouse row naming a source line.
#[derive(Debug, Clone)]
pub struct Row {
    pub table: &'static str,
    pub source: std::sync::Arc<str>,
    pub offset: u64,
    /// The file (index) that holds this row's line, by content: the one the row names, else
    /// one it moved to (rotation by rename or copy); `None` when no file does.
    pub home: Option<usize>,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub files: Vec<FileReport>,
    pub gaps: Vec<Gap>,
    pub doubles: Vec<Double>,
    pub mismatched: Vec<Mismatched>,
    pub gone: Vec<Gone>,
    pub unaccounted: Vec<Unaccounted>,
    pub faults: usize,
}

#[derive(Debug, Serialize)]
pub struct FileReport {
    pub path: String,
    pub bytes: u64,
    /// Lines up to `read_to` that must have a row.
    pub lines: usize,
    pub read_to: Option<u64>,
    pub rows: usize,
    /// Why it was not reconciled, when it was not.
    pub note: Option<String>,
}

/// Lines read (below `read_to`) that are in neither `raw_events` nor `quarantine`.
#[derive(Debug, PartialEq, Serialize)]
pub struct Gap {
    pub source: String,
    pub from_offset: u64,
    pub to_offset: u64,
    pub lines: usize,
}

/// Bytes of a known file past what its tailers read, which no row accounts for (yet).
#[derive(Debug, PartialEq, Serialize)]
pub struct Unaccounted {
    pub source: String,
    pub from_offset: u64,
    pub to_offset: u64,
    /// Complete lines among them: a tailer has not read them yet.
    pub complete_lines: usize,
    /// Whether they end with a line that has no newline.
    pub unterminated: bool,
    /// A fault: the unterminated line of a rotated, idle file that no tailer quarantined.
    pub fault: bool,
}

/// A line with more than one row.
#[derive(Debug, PartialEq, Serialize)]
pub struct Double {
    pub source: String,
    pub offset: u64,
    pub rows: usize,
}

/// A row whose source exists but holds another line at its offset (rewritten under the tailer).
#[derive(Debug, PartialEq, Serialize)]
pub struct Mismatched {
    pub table: &'static str,
    pub source: String,
    pub offset: u64,
}

/// Rows whose source file is gone (and found in no other file).
#[derive(Debug, PartialEq, Serialize)]
pub struct Gone {
    pub source: String,
    pub rows: usize,
}

/// Reconciles (pure but for `exists`, which tells whether a source path is on disk).
pub fn reconcile(files: &[SourceLines], rows: &[Row], exists: impl Fn(&str) -> bool) -> Report {
    let mut report = Report::default();
    let mut counts: Vec<HashMap<u64, usize>> = vec![HashMap::new(); files.len()];
    let mut gone: BTreeMap<&str, usize> = BTreeMap::new();
    for row in rows {
        match row.home {
            Some(f) => *counts[f].entry(row.offset).or_default() += 1,
            None if exists(&row.source) => report.mismatched.push(Mismatched {
                table: row.table,
                source: row.source.to_string(),
                offset: row.offset,
            }),
            None => *gone.entry(&row.source).or_default() += 1,
        }
    }
    report
        .mismatched
        .sort_by(|a, b| (&a.source, a.offset).cmp(&(&b.source, b.offset)));
    for (file, counts) in files.iter().zip(&counts) {
        let file_report = reconcile_file(file, counts, &mut report.gaps, &mut report.doubles);
        report
            .unaccounted
            .extend(unaccounted(file, file_report.read_to));
        report.files.push(file_report);
    }
    report.gone = gone
        .into_iter()
        .map(|(source, rows)| Gone {
            source: source.to_owned(),
            rows,
        })
        .collect();
    report.faults = report.gaps.len()
        + report.doubles.len()
        + report.mismatched.len()
        + report.gone.len()
        + report.unaccounted.iter().filter(|u| u.fault).count();
    report
}

/// The bytes of `file` past `read_to` (none when no tailer read it).
fn unaccounted(file: &SourceLines, read_to: Option<u64>) -> Option<Unaccounted> {
    let read_to = read_to.filter(|&r| r < file.size)?;
    let past: Vec<&Line> = file.lines.iter().filter(|l| l.offset >= read_to).collect();
    let unterminated = file.unterminated && !past.is_empty();
    Some(Unaccounted {
        source: file.path.clone(),
        from_offset: read_to,
        to_offset: file.size,
        complete_lines: past.len() - usize::from(unterminated),
        unterminated,
        fault: unterminated && file.settled,
    })
}

fn reconcile_file(
    file: &SourceLines,
    counts: &HashMap<u64, usize>,
    gaps: &mut Vec<Gap>,
    doubles: &mut Vec<Double>,
) -> FileReport {
    // A file no checkpoint knows (a tailer with a local --state-dir) was read at least up
    // to its last line with a row.
    let read_to = file.read_to.or_else(|| {
        file.lines
            .iter()
            .filter(|line| counts.contains_key(&line.offset))
            .map(|line| line.end)
            .max()
    });
    let mut report = FileReport {
        path: file.path.clone(),
        bytes: file.size,
        lines: 0,
        read_to,
        rows: counts.values().sum(),
        note: None,
    };
    let Some(read_to) = read_to else {
        report.note = Some("not read by any tailer of this warehouse".into());
        return report;
    };
    let mut open: Option<Gap> = None;
    for line in file.lines.iter().filter(|l| l.offset < read_to) {
        let rows = counts.get(&line.offset).copied().unwrap_or(0);
        if line.expected {
            report.lines += 1;
        }
        if rows > 1 {
            doubles.push(Double {
                source: file.path.clone(),
                offset: line.offset,
                rows,
            });
        }
        match (rows, line.expected, open.as_mut()) {
            (0, true, Some(gap)) => {
                gap.to_offset = line.end;
                gap.lines += 1;
            }
            (0, true, None) => {
                open = Some(Gap {
                    source: file.path.clone(),
                    from_offset: line.offset,
                    to_offset: line.end,
                    lines: 1,
                })
            }
            (0, false, _) => {} // a blank or out-of-range line neither opens nor closes a gap
            _ => gaps.extend(open.take()),
        }
    }
    gaps.extend(open);
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines of 10 bytes each; `blank` marks the unexpected ones.
    fn file(path: &str, lines: usize, blank: &[usize], read_to: Option<u64>) -> SourceLines {
        SourceLines {
            path: path.into(),
            size: lines as u64 * 10,
            read_to,
            lines: (0..lines)
                .map(|n| Line {
                    offset: n as u64 * 10,
                    end: n as u64 * 10 + 10,
                    expected: !blank.contains(&n),
                })
                .collect(),
            unterminated: false,
            settled: false,
        }
    }

    fn row(source: &str, offset: u64, home: Option<usize>) -> Row {
        Row {
            table: "raw_events",
            source: source.into(),
            offset,
            home,
        }
    }

    #[test]
    fn every_read_line_once_is_clean() {
        let files = [file("/a", 4, &[2], Some(40))];
        let rows = [
            row("/a", 0, Some(0)),
            row("/a", 10, Some(0)),
            row("/a", 30, Some(0)),
        ];
        let report = reconcile(&files, &rows, |_| true);
        assert_eq!(report.faults, 0, "{report:?}");
        assert_eq!((report.files[0].lines, report.files[0].rows), (3, 3));
    }

    #[test]
    fn missing_lines_make_merged_gaps_and_unread_lines_none() {
        // Lines 1, 2 (blank) and 3 missing; 5 missing but not read yet.
        let files = [file("/a", 6, &[2], Some(50))];
        let rows = [row("/a", 0, Some(0)), row("/a", 40, Some(0))];
        let report = reconcile(&files, &rows, |_| true);
        assert_eq!(
            report.gaps,
            [Gap {
                source: "/a".into(),
                from_offset: 10,
                to_offset: 40,
                lines: 2
            }]
        );
        assert_eq!(report.faults, 1);
    }

    #[test]
    fn doubles_mismatches_and_gone_sources() {
        let files = [file("/a", 2, &[], Some(20))];
        let rows = [
            row("/a", 0, Some(0)),
            row("/a", 0, Some(0)),
            row("/a", 10, Some(0)),
            row("/a", 10, None),    // the line at 10 is not its line
            row("/gone", 0, None),  // its file is gone
            row("/gone", 10, None), // grouped with the one above
        ];
        let report = reconcile(&files, &rows, |path| path == "/a");
        assert_eq!(report.doubles.len(), 1);
        assert_eq!(report.doubles[0].rows, 2);
        assert_eq!(report.mismatched.len(), 1);
        assert_eq!(report.mismatched[0].offset, 10);
        assert_eq!(
            report.gone,
            [Gone {
                source: "/gone".into(),
                rows: 2
            }]
        );
        assert_eq!(report.faults, 3);
    }

    #[test]
    fn bytes_past_what_was_read_are_listed_and_a_settled_cut_line_is_a_fault() {
        let mut cut = file("/a.1", 3, &[], Some(20));
        cut.unterminated = true;
        let rows = [row("/a.1", 0, Some(0)), row("/a.1", 10, Some(0))];
        let report = reconcile(std::slice::from_ref(&cut), &rows, |_| true);
        let waiting = Unaccounted {
            source: "/a.1".into(),
            from_offset: 20,
            to_offset: 30,
            complete_lines: 0,
            unterminated: true,
            fault: false,
        };
        assert_eq!(report.unaccounted, [waiting]);
        assert_eq!(report.faults, 0, "a line may still get its newline");
        cut.settled = true;
        let report = reconcile(&[cut], &rows, |_| true);
        assert!(report.unaccounted[0].fault);
        assert_eq!(report.faults, 1);
        let behind = reconcile(
            &[file("/b", 3, &[], Some(10))],
            &[row("/b", 0, Some(0))],
            |_| true,
        );
        assert_eq!(behind.unaccounted[0].complete_lines, 2);
        assert_eq!(behind.faults, 0, "a tailer behind is not a fault");
    }

    #[test]
    fn a_row_found_in_a_rotated_file_counts_there_once() {
        // /a was renamed to /a.1 and a new /a has other lines at the same offsets.
        let files = [file("/a", 1, &[], Some(0)), file("/a.1", 1, &[], Some(10))];
        let report = reconcile(&files, &[row("/a", 0, Some(1))], |_| true);
        assert_eq!(report.faults, 0, "{report:?}");
        assert_eq!(report.files[1].rows, 1);
    }

    #[test]
    fn a_file_no_checkpoint_knows_is_read_up_to_its_last_row() {
        let files = [file("/a", 3, &[], None), file("/b", 2, &[], None)];
        let rows = [row("/a", 10, Some(0))];
        let report = reconcile(&files, &rows, |_| true);
        assert_eq!(report.files[0].read_to, Some(20));
        assert_eq!(report.gaps.len(), 1, "line 0 of /a");
        assert!(report.files[1].note.is_some());
    }
}

//! The audit's pure part: given the lines of the source files and the warehouse rows that
//! name a source line (each already matched by content to the files that hold its line),
//! find the gaps, the doubles, the rows that do not match their source, and the rows whose
//! source is gone.
//!
//! It is a fold over windows of offsets ([`Reconciler`]): each window brings every file's
//! lines in it, in order, and the rows at those offsets; what a file's report needs from
//! one window to the next is carried in its [`Tally`] (an open gap, the counts, the last
//! line with a row). Lines no row of the window holds come folded into [`Run`]s, so a
//! window holds about as many entries as it has rows, whatever the files' sizes.

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

/// Consecutive lines of a file that no row of the window holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// The first line's offset.
    pub from: u64,
    pub lines: usize,
    pub expected: usize,
    /// The first expected line's offset, and the last one's end.
    pub expected_span: Option<(u64, u64)>,
}

impl Run {
    fn of(line: &Line) -> Self {
        Self {
            from: line.offset,
            lines: 1,
            expected: usize::from(line.expected),
            expected_span: line.expected.then_some((line.offset, line.end)),
        }
    }

    fn add(&mut self, line: &Line) {
        self.lines += 1;
        if line.expected {
            self.expected += 1;
            let first = self.expected_span.map_or(line.offset, |(first, _)| first);
            self.expected_span = Some((first, line.end));
        }
    }
}

/// A stretch of one file's lines in a window, in file order.
#[derive(Debug, Clone, PartialEq)]
pub enum Stretch {
    Run(Run),
    /// A line some row of the window was found in.
    Held(Line),
}

/// Appends `line` to a file's stretches: on its own when a row was found in it, else into
/// the run before it (a run does not cross `read_to`, where a file's read lines end).
pub fn push_line(stretches: &mut Vec<Stretch>, line: Line, held: bool, read_to: Option<u64>) {
    if held {
        stretches.push(Stretch::Held(line));
        return;
    }
    let past = |offset: u64| read_to.is_some_and(|r| offset >= r);
    match stretches.last_mut() {
        Some(Stretch::Run(run)) if past(run.from) == past(line.offset) => run.add(&line),
        _ => stretches.push(Stretch::Run(Run::of(&line))),
    }
}

/// A source file on disk, all its lines at once (see [`reconcile`]).
#[cfg(test)]
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

#[cfg(test)]
impl SourceLines {
    fn end(&self) -> FileEnd {
        FileEnd {
            size: self.size,
            unterminated: self.unterminated,
            settled: self.settled,
        }
    }
}

/// What is known of a file once all its lines are read.
#[derive(Debug, Clone, Copy)]
pub struct FileEnd {
    pub size: u64,
    pub unterminated: bool,
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
pub struct AuditReport {
    pub files: Vec<FileReport>,
    pub gaps: Vec<Gap>,
    pub doubles: Vec<Double>,
    pub mismatched: Vec<Mismatched>,
    pub gone: Vec<Gone>,
    pub unaccounted: Vec<Unaccounted>,
    pub faults: usize,
    /// Lines with no row that the erasure ledger accounts for (`stickerlake forget`).
    pub erased: usize,
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

/// What one file's report needs, carried from window to window.
struct Tally {
    path: String,
    /// From the checkpoints; else the end of the last line with a row.
    read_to: Option<u64>,
    /// Expected lines so far (below `read_to` when it is known).
    expected: usize,
    rows: usize,
    /// A gap not closed yet by a line with a row.
    open: Option<Gap>,
    gaps: Vec<Gap>,
    doubles: Vec<Double>,
    /// With `read_to` unknown: the last line with a row, the expected lines up to it, and
    /// the lines after it.
    last_held: Option<(u64, usize)>,
    /// Lines at or past `read_to` (known), or after the last line with a row (unknown).
    past: usize,
}

impl Tally {
    fn new(path: String, read_to: Option<u64>) -> Self {
        Self {
            path,
            read_to,
            expected: 0,
            rows: 0,
            open: None,
            gaps: Vec::new(),
            doubles: Vec::new(),
            last_held: None,
            past: 0,
        }
    }

    fn is_past(&self, offset: u64) -> bool {
        self.read_to.is_some_and(|r| offset >= r)
    }

    /// Lines without rows: expected ones open or widen a gap; others neither open nor close
    /// one.
    fn run(&mut self, run: &Run) {
        if self.is_past(run.from) {
            self.past += run.lines;
            return;
        }
        if self.read_to.is_none() {
            self.past += run.lines;
        }
        self.expected += run.expected;
        let Some((first, end)) = run.expected_span else {
            return;
        };
        match &mut self.open {
            Some(gap) => {
                gap.to_offset = end;
                gap.lines += run.expected;
            }
            None => {
                self.open = Some(Gap {
                    source: self.path.clone(),
                    from_offset: first,
                    to_offset: end,
                    lines: run.expected,
                })
            }
        }
    }

    /// A line with `rows` rows found in it.
    fn held(&mut self, line: &Line, rows: usize) {
        if rows == 0 {
            return self.run(&Run::of(line));
        }
        self.rows += rows;
        if self.is_past(line.offset) {
            self.past += 1;
            return;
        }
        self.expected += usize::from(line.expected);
        if rows > 1 {
            self.doubles.push(Double {
                source: self.path.clone(),
                offset: line.offset,
                rows,
            });
        }
        self.gaps.extend(self.open.take());
        if self.read_to.is_none() {
            self.last_held = Some((line.end, self.expected));
            self.past = 0;
        }
    }

    fn finish(mut self, end: &FileEnd, report: &mut AuditReport) {
        let (read_to, lines) = match (self.read_to, self.last_held) {
            (Some(read_to), _) => {
                self.gaps.extend(self.open.take());
                (Some(read_to), self.expected)
            }
            // A file no checkpoint knows (a tailer with a local --state-dir) was read at
            // least up to its last line with a row; a gap after it is not one.
            (None, Some((end, expected))) => (Some(end), expected),
            (None, None) => (None, 0),
        };
        report.files.push(FileReport {
            path: self.path.clone(),
            bytes: end.size,
            lines,
            read_to,
            rows: self.rows,
            note: read_to
                .is_none()
                .then(|| "not read by any tailer of this warehouse".into()),
        });
        let Some(read_to) = read_to else { return };
        report.gaps.append(&mut self.gaps);
        report.doubles.append(&mut self.doubles);
        if read_to < end.size {
            let unterminated = end.unterminated && self.past > 0;
            report.unaccounted.push(Unaccounted {
                source: self.path,
                from_offset: read_to,
                to_offset: end.size,
                complete_lines: self.past - usize::from(unterminated),
                unterminated,
                fault: unterminated && end.settled,
            });
        }
    }
}

/// The audit as a fold over windows of offsets.
pub struct Reconciler {
    tallies: Vec<Tally>,
    mismatched: Vec<Mismatched>,
    gone: BTreeMap<String, usize>,
}

impl Reconciler {
    /// For these files (path, and how far the checkpoints say it was read).
    pub fn new(files: impl IntoIterator<Item = (String, Option<u64>)>) -> Self {
        Self {
            tallies: files
                .into_iter()
                .map(|(path, read_to)| Tally::new(path, read_to))
                .collect(),
            mismatched: Vec::new(),
            gone: BTreeMap::new(),
        }
    }

    /// One window: each file's stretches in it (in file order, then the windows in offset
    /// order), and every row at its offsets, each with its home. `exists` tells whether a
    /// source path is on disk (pure but for it).
    pub fn window(
        &mut self,
        stretches: &[Vec<Stretch>],
        rows: &[Row],
        exists: impl Fn(&str) -> bool,
    ) {
        let mut counts: Vec<HashMap<u64, usize>> = vec![HashMap::new(); self.tallies.len()];
        for row in rows {
            match row.home {
                Some(f) => *counts[f].entry(row.offset).or_default() += 1,
                None if exists(&row.source) => self.mismatched.push(Mismatched {
                    table: row.table,
                    source: row.source.to_string(),
                    offset: row.offset,
                }),
                None => *self.gone.entry(row.source.to_string()).or_default() += 1,
            }
        }
        for ((tally, stretches), counts) in self.tallies.iter_mut().zip(stretches).zip(&counts) {
            for stretch in stretches {
                match stretch {
                    Stretch::Run(run) => tally.run(run),
                    Stretch::Held(line) => {
                        tally.held(line, counts.get(&line.offset).copied().unwrap_or(0))
                    }
                }
            }
        }
    }

    /// The report, once every window is in; `ends` in the files' order.
    pub fn finish(mut self, ends: &[FileEnd]) -> AuditReport {
        let mut report = AuditReport::default();
        for (tally, end) in self.tallies.drain(..).zip(ends) {
            tally.finish(end, &mut report);
        }
        self.mismatched
            .sort_by(|a, b| (&a.source, a.offset).cmp(&(&b.source, b.offset)));
        report.mismatched = self.mismatched;
        report.gone = self
            .gone
            .into_iter()
            .map(|(source, rows)| Gone { source, rows })
            .collect();
        report.faults = report.gaps.len()
            + report.doubles.len()
            + report.mismatched.len()
            + report.gone.len()
            + report.unaccounted.iter().filter(|u| u.fault).count();
        report
    }
}

/// Reconciles whole files in one window (pure but for `exists`, which tells whether a
/// source path is on disk).
#[cfg(test)]
pub fn reconcile(
    files: &[SourceLines],
    rows: &[Row],
    exists: impl Fn(&str) -> bool,
) -> AuditReport {
    let mut reconciler = Reconciler::new(files.iter().map(|f| (f.path.clone(), f.read_to)));
    let stretches: Vec<Vec<Stretch>> = files
        .iter()
        .map(|f| f.lines.iter().cloned().map(Stretch::Held).collect())
        .collect();
    reconciler.window(&stretches, rows, exists);
    let ends: Vec<FileEnd> = files.iter().map(SourceLines::end).collect();
    reconciler.finish(&ends)
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

    /// The report of `files` and `rows` read in windows ending at `ends` (offsets), each
    /// file's lines folded into runs as the audit reads them.
    fn in_windows(files: &[SourceLines], rows: &[Row], ends: &[u64]) -> AuditReport {
        let mut reconciler = Reconciler::new(files.iter().map(|f| (f.path.clone(), f.read_to)));
        let mut start = 0;
        for &end in ends.iter().chain([&u64::MAX]) {
            let window: Vec<Row> = rows
                .iter()
                .filter(|r| (start..end).contains(&r.offset))
                .cloned()
                .collect();
            let stretches: Vec<Vec<Stretch>> = files
                .iter()
                .enumerate()
                .map(|(index, file)| {
                    let mut stretches = Vec::new();
                    for line in file
                        .lines
                        .iter()
                        .filter(|l| (start..end).contains(&l.offset))
                    {
                        let held = window
                            .iter()
                            .any(|r| r.home == Some(index) && r.offset == line.offset);
                        push_line(&mut stretches, line.clone(), held, file.read_to);
                    }
                    stretches
                })
                .collect();
            reconciler.window(&stretches, &window, |path| path != "/gone");
            start = end;
        }
        let ends: Vec<FileEnd> = files.iter().map(SourceLines::end).collect();
        reconciler.finish(&ends)
    }

    #[test]
    fn windows_and_runs_give_the_report_of_one_window() {
        let mut cut = file("/c", 9, &[4], Some(60));
        cut.unterminated = true;
        let files = [
            file("/a", 12, &[2, 7], Some(100)),
            file("/b", 10, &[], None),
            cut,
            file("/d", 3, &[], None),
        ];
        let rows = [
            row("/a", 0, Some(0)),
            row("/a", 10, Some(0)),
            row("/a", 50, Some(0)),
            row("/a", 50, Some(0)), // a double
            row("/a", 90, Some(0)),
            row("/a", 110, Some(0)), // past what the checkpoint says was read
            row("/b", 20, Some(1)),
            row("/b", 60, Some(1)),
            row("/c", 0, Some(2)),
            row("/c", 70, Some(2)),
            row("/a", 30, None),    // mismatched
            row("/gone", 40, None), // gone
        ];
        let whole = serde_json::to_value(reconcile(&files, &rows, |p| p != "/gone")).unwrap();
        assert!(whole["faults"].as_u64().unwrap() > 3, "{whole:#}");
        for ends in [
            vec![],
            vec![25],
            vec![15, 55, 65],
            (1..12).map(|n| n * 10).collect(),
        ] {
            let windows = serde_json::to_value(in_windows(&files, &rows, &ends)).unwrap();
            assert_eq!(windows, whole, "windows ending at {ends:?}");
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

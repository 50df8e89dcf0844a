//! The tailer's driver: scan, read, batch, flush (data first, checkpoint last), repeat.

use std::collections::HashSet;
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use indicatif::ProgressBar;

use super::batch::{Batch, LineChunk, Output};
use super::commit::{land_flush, Landing, TailerTables};
use super::lines::{Line, LineReader};
use super::observe::{HealthLimits, Observed};
use super::reading::{HandOff, ReadState};
use super::say;
use super::serve::serve;
use super::sizes::{PARSE_CHUNK_BYTES, PARSE_CHUNK_LINES};
use super::state::StateStore;
use super::write::{Flush, Writer};
use super::{default_tailer_id, TailerArgs};
use crate::contract::checkpoint::{Checkpoint, Recovery};
use crate::contract::source::{fingerprint, scan, SourceError, SourceFile};
use crate::erasure::Ledger;
use crate::progress;
use crate::quality::plan::Plan;
use crate::warehouse::Warehouse;

pub async fn run(args: TailerArgs, warehouse: Warehouse) -> anyhow::Result<()> {
    let started = Instant::now();
    say::set_format(args.log_format);
    let warehouse = warehouse.with_commit_timeout(args.commit_timeout);
    let observed = Arc::new(Observed::default());
    observed.health.lock().expect("not poisoned").last_write_ok = Some(Utc::now());
    if let Some(address) = &args.metrics_addr {
        let limits = HealthLimits {
            stall_after: args.stall_after,
            max_lag: args.max_lag,
        };
        let races = warehouse.clone();
        let bound = serve(address, observed.clone(), limits, move || {
            races.lost_races()
        })
        .await?;
        say::info(format!(
            "metrics on http://{bound}/metrics, health on http://{bound}/health"
        ));
    }
    let id = args.tailer_id.clone().unwrap_or_else(default_tailer_id);
    let mut state = StateStore::open(&warehouse, args.state_dir.as_deref(), &id)?;
    let plan = match &args.plan {
        Some(path) => Some(std::sync::Arc::new(Plan::load(path)?)),
        None => None,
    };
    let mut tables = TailerTables::open(warehouse.clone(), plan.is_some());
    let landing = if args.stage {
        Landing::Stage
    } else {
        refuse_commits_behind_staged(&warehouse, &id).await?;
        Landing::Commit
    };
    let checkpoint = recover(&warehouse, &mut state, &mut tables, landing, &id).await?;
    if args.retire {
        return retire(&mut state, checkpoint).await;
    }
    if let Some(at) = checkpoint.retired_at {
        say::info(format!(
            "{id} was retired at {at}; running it makes it active again"
        ));
    }
    let stop = stop_on_signal()?;
    observed.committed(&checkpoint);
    let mut batch = Batch::with_plan(plan);
    batch.forget(Arc::new(Ledger::load(&warehouse).await?));
    let mut tailer = Tailer {
        ledger_read: Instant::now(),
        warehouse: warehouse.clone(),
        reading: ReadState::resume(&checkpoint),
        writer: Slot::Idle(Box::new(Writer {
            warehouse,
            state,
            tables,
            landing,
            id: id.clone(),
            checkpoint,
            files_written: 0,
            bytes_written: 0,
            observed: observed.clone(),
            retry_until: args.follow.then(|| stop.clone()),
        })),
        observed,
        id,
        batch,
        encoding: None,
        batch_started: None,
        progress_saved: Instant::now(),
        stats: Stats::default(),
        stop: stop.clone(),
        args,
    };
    let result = if tailer.args.follow {
        tailer.follow().await
    } else {
        tailer.once().await
    };
    // Make durable what was read, unless writing is what failed: then the checkpoint's
    // pending record is left for the next run to finish or undo.
    let flushed = match tailer.writer {
        Slot::Failed | Slot::Waiting => Ok(()),
        _ => tailer.flush().await,
    };
    println!("{}", tailer.stats.summary(started.elapsed()));
    result?;
    flushed?;
    if stop.load(Ordering::SeqCst) && !tailer.args.follow {
        bail!(
            "interrupted: what was read so far is written and checkpointed; run again to continue"
        );
    }
    Ok(())
}

/// Finishes or undoes a flush that a crash interrupted: when all its files were written it
/// is committed (once: a commit that landed before the crash is not repeated), else its
/// files were committed to no table and are deleted.
async fn recover(
    warehouse: &Warehouse,
    state: &mut StateStore,
    tables: &mut TailerTables,
    landing: Landing,
    id: &str,
) -> anyhow::Result<Checkpoint> {
    let mut checkpoint = state.load().await?;
    let Some(pending) = &checkpoint.pending else {
        return Ok(checkpoint);
    };
    let mut present = HashSet::new();
    for output in &pending.outputs {
        if warehouse.exists(&warehouse.path(output)).await? {
            present.insert(output.clone());
        }
    }
    let recovery = checkpoint.recovery(|o| present.contains(o));
    match &recovery {
        Recovery::RollBack(partial) => {
            for output in partial {
                warehouse.delete(&warehouse.path(output)).await?;
            }
        }
        Recovery::RollForward => {
            let mut files = Vec::new();
            for output in &pending.outputs {
                files.push(warehouse.describe_file(output).await?);
            }
            land_flush(warehouse, tables, landing, id, pending.seq, files).await?;
        }
        Recovery::Nothing => {}
    }
    for output in &pending.outputs {
        warehouse
            .remove_interrupted_put(output)
            .with_context(|| format!("cleaning up an interrupted write of {output}"))?;
    }
    say::info(format!(
        "finished an interrupted flush from the last run ({})",
        match recovery {
            Recovery::RollForward => "its files were complete: kept",
            _ => "its files were incomplete: removed, the lines will be read again",
        }
    ));
    checkpoint.recover(&recovery);
    state.save(&checkpoint).await?;
    Ok(checkpoint)
}

/// A tailer that commits its own flushes while earlier ones wait staged would commit past
/// them (its transaction would then say they are in), so it waits for the committer.
async fn refuse_commits_behind_staged(warehouse: &Warehouse, id: &str) -> anyhow::Result<()> {
    let staged = warehouse.staged_of(id).await?;
    if staged > 0 {
        bail!(
            "tailer {id} has {staged} flush(es) staged for the committer in {}/_staging/{id}/: \
             run `stickerlake committer` once to commit them, or keep running this tailer with \
             --stage",
            warehouse.location()
        );
    }
    Ok(())
}

/// Marks the tailer retired: completeness no longer waits for it.
async fn retire(state: &mut StateStore, mut checkpoint: Checkpoint) -> anyhow::Result<()> {
    checkpoint.retired_at = Some(Utc::now());
    state.save(&checkpoint).await?;
    println!(
        "tailer: {} is retired ({}); it no longer holds back `run --require-complete`",
        checkpoint.tailer_id,
        state.describe()
    );
    Ok(())
}

/// A flag raised by SIGINT or SIGTERM: the tailer finishes its batch, flushes and stops.
fn stop_on_signal() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone())?;
    }
    Ok(stop)
}

struct Tailer {
    args: TailerArgs,
    id: String,
    writer: Slot,
    /// Offsets read, the last scan, flush numbers.
    reading: ReadState,
    batch: Batch,
    /// The last full batch, being encoded.
    encoding: Option<Encoding>,
    batch_started: Option<Instant>,
    /// When the checkpoint (with the watermark) was last saved.
    progress_saved: Instant,
    stats: Stats,
    stop: Arc<AtomicBool>,
    /// Metrics and health, shared with the writer and the server.
    observed: Arc<Observed>,
    /// For the erasure ledger, read again every flush interval while following.
    warehouse: Warehouse,
    ledger_read: Instant,
}

impl Tailer {
    async fn once(&mut self) -> anyhow::Result<()> {
        let files = self.scan(true)?;
        let bar = progress::bytes_bar(self.reading.unread(&files), "tailer");
        let result = self.read_files(&files, &bar).await;
        bar.finish_and_clear();
        result
    }

    async fn follow(&mut self) -> anyhow::Result<()> {
        let poll = self.args.flush_interval.min(Duration::from_millis(500));
        let hidden = ProgressBar::hidden();
        while !self.stopped() {
            let files = self.scan(false)?;
            self.read_files(&files, &hidden).await?;
            self.write_encoded().await?;
            // Data waits at most a flush interval; the watermark is refreshed as often.
            let interval = self.args.flush_interval;
            let due = self.batch_started.is_some_and(|t| t.elapsed() >= interval)
                || self.progress_saved.elapsed() >= interval;
            if due {
                self.flush().await?;
            }
            if self.ledger_read.elapsed() >= interval {
                // Users forgotten while this tailer runs are dropped from its next lines on.
                match Ledger::load(&self.warehouse).await {
                    Ok(ledger) => self.batch.forget(Arc::new(ledger)),
                    Err(e) => say::warn(format!("reading the erasure ledger: {e:#}")),
                }
                self.ledger_read = Instant::now();
            }
            let mut waited = Duration::ZERO;
            while waited < poll && !self.stopped() {
                tokio::time::sleep(Duration::from_millis(50)).await;
                waited += Duration::from_millis(50);
            }
        }
        Ok(())
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Finds the files; problems with some of them are reported and the rest are read.
    fn scan(&mut self, missing_is_error: bool) -> anyhow::Result<Vec<SourceFile>> {
        let (files, errors) = scan(&self.args.sources);
        for error in errors {
            let fatal = match error {
                SourceError::NoMatch(_) => missing_is_error,
                SourceError::BadPattern(..) => true,
                SourceError::Unreadable { .. } => !self.args.follow,
            };
            match fatal {
                true => say::error(&error),
                false => say::warn(&error),
            }
            if fatal {
                self.stats.failures += 1;
            }
        }
        if self.stats.failures > 0 && files.is_empty() {
            bail!("nothing to read ({} problem(s) above)", self.stats.failures);
        }
        let never_read = self.reading.scanned(&files, Utc::now());
        self.observed.metrics.unread_bytes.inc_by(never_read);
        self.observed.lag(&files);
        Ok(files)
    }

    async fn read_files(&mut self, files: &[SourceFile], bar: &ProgressBar) -> anyhow::Result<()> {
        for file in files {
            if self.stopped() {
                break;
            }
            let offset = self.reading.offset_of(file);
            if file.size < offset {
                say::warn(format!(
                    "{} is shorter ({} bytes) than what was already read from it ({offset}); skipped",
                    file.path.display(),
                    file.size
                ));
                continue;
            }
            if file.size == offset {
                continue;
            }
            if let Err(e) = self.read_file(file, offset, bar).await {
                if !self.args.follow {
                    self.stats.failures += 1;
                }
                say::error(format!("{e:#}"));
            }
        }
        if self.stats.failures > 0 && !self.args.follow {
            self.flush().await?;
            bail!(
                "{} source problem(s); everything else was ingested",
                self.stats.failures
            );
        }
        Ok(())
    }

    async fn read_file(
        &mut self,
        file: &SourceFile,
        offset: u64,
        bar: &ProgressBar,
    ) -> anyhow::Result<()> {
        let path = file.path.display().to_string();
        let mut handle = File::open(&file.path).with_context(|| format!("cannot read {path}"))?;
        // The path may have been rotated since the scan: read only the file scanned.
        if !still_the_file(&handle, file)? {
            return Ok(());
        }
        let probe = handle.try_clone()?;
        handle.seek(SeekFrom::Start(offset))?;
        let mut reader = LineReader::new(handle, offset, self.args.max_line_bytes as usize);
        let max_rows = self.args.max_rows as usize;
        let room = |rows: usize| max_rows.saturating_sub(rows).max(1);
        let (mut chunk, mut ahead) = (LineChunk::default(), LineChunk::default());
        let mut last = offset;
        let mut end = read_chunk(&mut reader, &mut chunk, room(self.batch.rows()), &path)?;
        while !chunk.is_empty() {
            // Copy-then-truncate rotation may have truncated and refilled this very file
            // while it was read: then these bytes may be the new content at old offsets.
            // Lines are kept only if the file is still the one scanned after they were read;
            // otherwise they are dropped and read again from the rotated copy.
            if !still_the_file(&probe, file)? {
                say::info(format!(
                    "{path} was truncated while being read (copy-then-truncate rotation); \
                     the rest is read from the rotated copy"
                ));
                return Ok(());
            }
            // The chunk is parsed on every core, in file order, while the next one is read;
            // not when this one may fill the batch (the next one's room is not known yet).
            let rows_after = self.batch.rows() + chunk.len();
            let batch = &mut self.batch;
            let (added, read_ahead) = tokio::task::block_in_place(|| {
                rayon::join(
                    || batch.add(&chunk, &path),
                    || {
                        (rows_after < max_rows).then(|| {
                            read_chunk(&mut reader, &mut ahead, max_rows - rows_after, &path)
                        })
                    },
                )
            });
            self.stats.events += added.events;
            self.stats.quarantined += added.quarantined;
            self.stats.violations += added.violations;
            self.stats.erased += added.erased;
            self.stats.lines += chunk.len() as u64;
            self.batch_started.get_or_insert_with(Instant::now);
            let metrics = &self.observed.metrics;
            metrics.read_bytes.inc_by(end - last);
            metrics.events.inc_by(added.events);
            metrics.erased.inc_by(added.erased);
            metrics.quarantined.inc_by(added.quarantined);
            bar.inc(end - last);
            last = end;
            let latest = added
                .latest_event_us
                .and_then(DateTime::from_timestamp_micros);
            self.reading.advance(&file.fingerprint, end, latest);
            if self.batch_is_full() {
                self.hand_off().await?;
            }
            if self.stopped() {
                return Ok(());
            }
            end = match read_ahead {
                Some(read) => read?,
                None => read_chunk(&mut reader, &mut ahead, room(self.batch.rows()), &path)?,
            };
            std::mem::swap(&mut chunk, &mut ahead);
        }
        self.quarantine_cut_line(file, &probe, &path).await
    }

    /// Every complete line of `file` is read: a cut last line ([`ReadState::cut_line`]) is
    /// quarantined, so that every byte read is accounted for.
    async fn quarantine_cut_line(
        &mut self,
        file: &SourceFile,
        probe: &File,
        path: &str,
    ) -> anyhow::Result<()> {
        let Some(offset) = self
            .reading
            .cut_line(file, Utc::now(), self.args.idle_timeout)
        else {
            return Ok(());
        };
        // Only now, for a rotated idle file with bytes left: has it changed since the scan?
        let now = probe.metadata()?;
        if now.len() != file.size || now.modified().ok() != file.modified {
            return Ok(());
        }
        let len = file.size - offset;
        let mut prefix = vec![0; len.min(self.args.max_line_bytes) as usize];
        std::os::unix::fs::FileExt::read_exact_at(probe, &mut prefix, offset)
            .with_context(|| format!("reading the last line of {path}"))?;
        self.reading.advance(&file.fingerprint, file.size, None);
        let mut chunk = LineChunk::default();
        chunk.push(&Line::Unterminated {
            offset,
            prefix: &prefix,
            len,
        });
        let added = self.batch.add(&chunk, path);
        self.stats.quarantined += added.quarantined;
        self.stats.lines += 1;
        self.observed.metrics.quarantined.inc_by(added.quarantined);
        self.observed.metrics.read_bytes.inc_by(len);
        self.batch_started.get_or_insert_with(Instant::now);
        say::info(format!(
            "{path} was rotated and its last {len} bytes never got a newline \
             (a line cut by copy-then-truncate rotation): quarantined them"
        ));
        if self.batch_is_full() {
            self.hand_off().await?;
        }
        Ok(())
    }

    fn batch_is_full(&self) -> bool {
        self.batch.rows() as u64 >= self.args.max_rows
            || self.batch.bytes() as u64 >= self.args.max_bytes
    }

    /// Writes everything read so far: the batch being encoded, then the current one.
    async fn flush(&mut self) -> anyhow::Result<()> {
        self.hand_off().await?;
        self.write_encoded().await?;
        debug_assert_eq!(
            self.reading.in_flight(),
            0,
            "every flush handed off is written"
        );
        Ok(())
    }

    /// Starts encoding the batch and writing the one handed off before it: reading goes on
    /// while a full batch is encoded and the one before is written, and at most three
    /// batches are held.
    ///
    /// The batch is encoded on the global pool, the parser's: a worker takes it up when the
    /// parse tasks leave it idle (a chunk's last task), and every core encodes the last
    /// batch. A pool of its own (half the cores) had fallen behind the parser, and ended
    /// each run encoding its backlog on one core (2% slower, `bench/ab.py`).
    async fn hand_off(&mut self) -> anyhow::Result<()> {
        self.batch_started = None;
        let batch = self.batch.take();
        let hand_off = self.reading.hand_off();
        let seq = hand_off.seq;
        let (id, today) = (self.id.clone(), Utc::now().date_naive());
        let (sender, outputs) = futures::channel::oneshot::channel();
        let encode = move || {
            // The receiver is gone only if the tailer is: nothing to report to.
            let _ = sender.send(batch.encode(&id, seq, today, rand::random::<u64>));
        };
        rayon::spawn(encode);
        let next = Encoding { hand_off, outputs };
        self.start_write().await?;
        self.encoding = Some(next);
        Ok(())
    }

    /// Writes every batch handed off, and waits until it is written.
    async fn write_encoded(&mut self) -> anyhow::Result<()> {
        self.start_write().await?;
        self.idle_writer().await.map(|_| ())
    }

    /// Starts writing the batch handed off last, once the write before it has ended: flushes
    /// are written one at a time, in order.
    async fn start_write(&mut self) -> anyhow::Result<()> {
        let Some(encoding) = self.encoding.take() else {
            return Ok(());
        };
        let progress = self.reading.progress(
            &encoding.hand_off.files,
            Utc::now(),
            self.args.idle_timeout,
            self.args.allowed_lateness,
        );
        let watermark = progress.watermark.timestamp_micros() as f64 / 1e6;
        self.observed.metrics.watermark.set(watermark);
        self.idle_writer().await?;
        let Slot::Idle(mut writer) = std::mem::replace(&mut self.writer, Slot::Waiting) else {
            unreachable!("the writer is idle");
        };
        let HandOff { seq, files } = encoding.hand_off;
        let flush = Flush {
            seq,
            outputs: encoding.outputs,
            files,
            progress,
        };
        let task = tokio::spawn(async move {
            let result = writer.write(flush).await;
            (writer, result)
        });
        self.writer = Slot::Writing { seq, task };
        Ok(())
    }

    /// The writer, once the write in flight (if any) has ended; after a failed write there
    /// is none: this process writes nothing more.
    async fn idle_writer(&mut self) -> anyhow::Result<&mut Writer> {
        if matches!(self.writer, Slot::Writing { .. }) {
            let Slot::Writing { seq, task } = std::mem::replace(&mut self.writer, Slot::Waiting)
            else {
                unreachable!("the writer is writing");
            };
            let joined = task.await;
            self.writer = Slot::Failed;
            let (writer, result) = joined.context("the write of a flush panicked")?;
            self.stats.files_written = writer.files_written;
            self.stats.bytes_written = writer.bytes_written;
            result?;
            self.reading.written(seq);
            self.progress_saved = Instant::now();
            self.writer = Slot::Idle(writer);
        }
        match &mut self.writer {
            Slot::Idle(writer) => Ok(writer),
            Slot::Failed => bail!("an earlier write failed"),
            Slot::Writing { .. } | Slot::Waiting => unreachable!("the write was waited for"),
        }
    }
}

/// The writer of flushes: idle, or writing one on a task of its own.
enum Slot {
    Idle(Box<Writer>),
    Writing {
        seq: u64,
        task: tokio::task::JoinHandle<(Box<Writer>, anyhow::Result<()>)>,
    },
    /// Taken out while a write is started or waited for.
    Waiting,
    /// A write failed: this process writes nothing more.
    Failed,
}

/// A batch handed off to be encoded, its flush number and the offsets it covers.
struct Encoding {
    hand_off: HandOff,
    outputs: futures::channel::oneshot::Receiver<parquet::errors::Result<Vec<Output>>>,
}

/// Reads the next lines into `chunk` (emptied first): at most `max_lines`, and about
/// [`PARSE_CHUNK_BYTES`]. Returns the offset after them.
fn read_chunk(
    reader: &mut LineReader<File>,
    chunk: &mut LineChunk,
    max_lines: usize,
    path: &str,
) -> anyhow::Result<u64> {
    chunk.clear();
    while chunk.len() < PARSE_CHUNK_LINES.min(max_lines) && chunk.byte_len() < PARSE_CHUNK_BYTES {
        match reader
            .next_line()
            .with_context(|| format!("cannot read {path}"))?
        {
            Some(line) => chunk.push(&line),
            None => break,
        }
    }
    Ok(reader.consumed_offset())
}

/// Whether `handle` still has the content `file` was scanned with.
fn still_the_file(handle: &File, file: &SourceFile) -> anyhow::Result<bool> {
    let now =
        fingerprint(handle).with_context(|| format!("cannot read {}", file.path.display()))?;
    Ok(now.as_deref() == Some(file.fingerprint.as_str()))
}

#[derive(Default)]
struct Stats {
    lines: u64,
    events: u64,
    quarantined: u64,
    files_written: u64,
    bytes_written: u64,
    failures: u64,
    violations: u64,
    erased: u64,
}

impl Stats {
    fn summary(&self, elapsed: Duration) -> String {
        format!(
            "tailer: {} lines read, {} events written, {} quarantined, {}{} files written ({}), {:.2} s",
            self.lines,
            self.events,
            self.quarantined,
            [(self.violations, "plan violations"), (self.erased, "erased (forgotten users)")]
                .iter()
                .filter(|(n, _)| *n > 0)
                .map(|(n, what)| format!("{n} {what}, "))
                .collect::<String>(),
            self.files_written,
            crate::units::human_bytes(self.bytes_written),
            elapsed.as_secs_f64()
        )
    }
}

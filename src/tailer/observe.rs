//! What a running tailer shows outside: its metrics (Prometheus text format, names under
//! `stickerlake_tailer_`) and its health. The reader and the writer update them as they go;
//! [`super::serve`] answers `/metrics` and `/health` from them; [`health`] decides (pure).

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use serde::Serialize;

use crate::contract::checkpoint::Checkpoint;
use crate::contract::source::SourceFile;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TableLabel {
    pub table: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabel {
    pub source: String,
}

/// The tailer's metrics; every one is an atomic, updated where the work happens.
#[derive(Default)]
pub struct Metrics {
    pub read_bytes: Counter,
    pub events: Counter,
    pub quarantined: Counter,
    pub erased: Counter,
    pub committed_rows: Family<TableLabel, Counter>,
    pub commits: Family<TableLabel, Counter>,
    /// Mirrors the warehouse's count of lost races (set, not added to).
    pub commit_conflicts: Counter,
    pub write_errors: Counter,
    pub source_lag: Family<SourceLabel, Gauge>,
    pub unread_bytes: Counter,
    pub last_commit: Gauge<f64, AtomicU64>,
    pub watermark: Gauge<f64, AtomicU64>,
    pub flush_duration: FlushHistogram,
}

/// Seconds from a flush handed to the writer to its commit: 10 ms to about 3 minutes.
pub struct FlushHistogram(pub Histogram);

impl Default for FlushHistogram {
    fn default() -> Self {
        Self(Histogram::new(exponential_buckets(0.01, 2.0, 15)))
    }
}

impl Metrics {
    /// The registry to encode: the same metrics, named and described.
    pub fn registry(&self) -> Registry {
        let mut r = Registry::with_prefix("stickerlake_tailer");
        r.register(
            "read_bytes",
            "Bytes of log lines read",
            self.read_bytes.clone(),
        );
        r.register("events", "Valid events read", self.events.clone());
        r.register("quarantined", "Lines quarantined", self.quarantined.clone());
        r.register(
            "erased",
            "Events of forgotten users dropped (stickerlake forget)",
            self.erased.clone(),
        );
        r.register(
            "committed_rows",
            "Rows committed, by table",
            self.committed_rows.clone(),
        );
        r.register(
            "commits",
            "Delta commits made, by table",
            self.commits.clone(),
        );
        r.register(
            "commit_conflicts",
            "Commit races lost to other writers (each retried after a backoff)",
            self.commit_conflicts.clone(),
        );
        r.register(
            "write_errors",
            "Failed attempts to upload or commit a flush (each retried)",
            self.write_errors.clone(),
        );
        r.register(
            "source_lag_bytes",
            "Bytes in the file past what has been committed, by source file",
            self.source_lag.clone(),
        );
        r.register(
            "unread_bytes",
            "Bytes of files that went away before they were read",
            self.unread_bytes.clone(),
        );
        r.register(
            "last_commit_timestamp_seconds",
            "When this tailer last recorded progress durably (a commit, or its checkpoint with nothing new), Unix time",
            self.last_commit.clone(),
        );
        r.register(
            "watermark_timestamp_seconds",
            "The tailer's completeness watermark, Unix time",
            self.watermark.clone(),
        );
        r.register(
            "flush_duration_seconds",
            "Seconds from a flush handed to the writer to its commit, retries included",
            self.flush_duration.0.clone(),
        );
        r
    }

    /// The Prometheus text format (0.0.4).
    pub fn text(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry())
            .expect("writing to a String");
        out
    }

    /// Sets a counter that mirrors a total kept elsewhere.
    pub fn mirror(counter: &Counter, total: u64) {
        let now = counter.get();
        if total > now {
            counter.inc_by(total - now);
        }
    }
}

/// What health is judged from, as the tailer last saw it.
#[derive(Debug, Clone, Default)]
pub struct HealthState {
    /// Why the last write attempt failed; cleared by a write that succeeds.
    pub last_write_error: Option<String>,
    /// The last successful write, or the start.
    pub last_write_ok: Option<DateTime<Utc>>,
    /// Bytes in the source files past what has been committed.
    pub lag_bytes: u64,
}

/// The limits of `--stall-after` and `--max-lag`.
#[derive(Debug, Clone, Copy)]
pub struct HealthLimits {
    pub stall_after: Duration,
    pub max_lag: Option<u64>,
}

/// `/health`'s answer.
#[derive(Debug, Serialize, PartialEq)]
pub struct Health {
    pub status: &'static str,
    pub reasons: Vec<String>,
    pub lag_bytes: u64,
    pub last_write_ok: Option<DateTime<Utc>>,
}

/// Healthy unless the last write failed, data has waited past `stall_after` without a write,
/// or the lag is past `max_lag`. Pure.
pub fn health(state: &HealthState, limits: HealthLimits, now: DateTime<Utc>) -> Health {
    let mut reasons = Vec::new();
    if let Some(error) = &state.last_write_error {
        reasons.push(format!("the last write failed: {error}"));
    }
    let waited = state
        .last_write_ok
        .map(|at| (now - at).to_std().unwrap_or_default());
    if let Some(waited) = waited.filter(|w| state.lag_bytes > 0 && *w > limits.stall_after) {
        reasons.push(format!(
            "{} byte(s) read or waiting have not been committed for {} (--stall-after {})",
            state.lag_bytes,
            crate::units::human_seconds(waited.as_secs() as i64),
            crate::units::human_seconds(limits.stall_after.as_secs() as i64)
        ));
    }
    if let Some(max) = limits.max_lag.filter(|max| state.lag_bytes > *max) {
        reasons.push(format!(
            "{} byte(s) behind, past --max-lag {max}",
            state.lag_bytes
        ));
    }
    Health {
        status: if reasons.is_empty() {
            "ok"
        } else {
            "unhealthy"
        },
        reasons,
        lag_bytes: state.lag_bytes,
        last_write_ok: state.last_write_ok,
    }
}

/// Everything the tailer shows outside, shared by its reader, its writer and the server.
#[derive(Default)]
pub struct Observed {
    pub metrics: Metrics,
    pub health: Mutex<HealthState>,
    /// Each source file's committed offset, by fingerprint, as last saved.
    committed: Mutex<BTreeMap<String, u64>>,
}

impl Observed {
    /// Offsets a saved checkpoint covers.
    pub fn committed(&self, checkpoint: &Checkpoint) {
        let offsets = checkpoint
            .files
            .iter()
            .map(|(fingerprint, file)| (fingerprint.clone(), file.offset))
            .collect();
        *self.committed.lock().expect("not poisoned") = offsets;
    }

    /// Each scanned file's bytes past its committed offset, summed by path, into the lag
    /// gauges and the health state.
    pub fn lag(&self, files: &[SourceFile]) {
        let committed = self.committed.lock().expect("not poisoned").clone();
        let mut by_source: BTreeMap<String, u64> = BTreeMap::new();
        for file in files {
            let done = committed.get(&file.fingerprint).copied().unwrap_or(0);
            *by_source
                .entry(file.path.display().to_string())
                .or_default() += file.size.saturating_sub(done);
        }
        let gauges = &self.metrics.source_lag;
        gauges.clear();
        for (source, bytes) in &by_source {
            let label = SourceLabel {
                source: source.clone(),
            };
            gauges.get_or_create(&label).set(*bytes as i64);
        }
        self.health.lock().expect("not poisoned").lag_bytes = by_source.values().sum();
    }

    pub fn write_failed(&self, error: &anyhow::Error) {
        self.metrics.write_errors.inc();
        self.health.lock().expect("not poisoned").last_write_error = Some(format!("{error:#}"));
    }

    pub fn write_succeeded(&self, at: DateTime<Utc>) {
        let mut health = self.health.lock().expect("not poisoned");
        health.last_write_error = None;
        health.last_write_ok = Some(at);
        self.metrics
            .last_commit
            .set(at.timestamp_micros() as f64 / 1e6);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    const LIMITS: HealthLimits = HealthLimits {
        stall_after: Duration::from_secs(300),
        max_lag: Some(1000),
    };

    #[test]
    fn healthy_until_a_write_fails_data_stalls_or_lag_grows() {
        let mut state = HealthState {
            last_write_ok: Some(at(0)),
            ..HealthState::default()
        };
        assert_eq!(
            health(&state, LIMITS, at(10_000)).status,
            "ok",
            "idle is fine"
        );
        state.lag_bytes = 10;
        assert_eq!(health(&state, LIMITS, at(299)).status, "ok");
        let stalled = health(&state, LIMITS, at(301));
        assert_eq!(stalled.status, "unhealthy");
        assert!(stalled.reasons[0].contains("--stall-after"), "{stalled:?}");
        state.lag_bytes = 1001;
        assert_eq!(
            health(&state, LIMITS, at(1)).reasons.len(),
            1,
            "past --max-lag"
        );
        state.lag_bytes = 0;
        state.last_write_error = Some("503 SlowDown".into());
        let failed = health(&state, LIMITS, at(1));
        assert!(failed.reasons[0].contains("503 SlowDown"), "{failed:?}");
        state.last_write_error = None;
        assert_eq!(health(&state, LIMITS, at(1)).status, "ok", "back by itself");
    }

    #[test]
    fn metrics_are_named_as_the_contract_says() {
        let metrics = Metrics::default();
        metrics.read_bytes.inc_by(42);
        let table = TableLabel {
            table: "raw_events".into(),
        };
        metrics.commits.get_or_create(&table).inc();
        metrics
            .source_lag
            .get_or_create(&SourceLabel {
                source: "/var/log/a.jsonl".into(),
            })
            .set(7);
        metrics.flush_duration.0.observe(0.3);
        Metrics::mirror(&metrics.commit_conflicts, 3);
        Metrics::mirror(&metrics.commit_conflicts, 3);
        let text = metrics.text();
        for line in [
            "stickerlake_tailer_read_bytes_total 42",
            "stickerlake_tailer_commits_total{table=\"raw_events\"} 1",
            "stickerlake_tailer_source_lag_bytes{source=\"/var/log/a.jsonl\"} 7",
            "stickerlake_tailer_commit_conflicts_total 3",
            "stickerlake_tailer_flush_duration_seconds_count 1",
            "# TYPE stickerlake_tailer_last_commit_timestamp_seconds gauge",
            "# TYPE stickerlake_tailer_unread_bytes_total counter",
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
    }
}

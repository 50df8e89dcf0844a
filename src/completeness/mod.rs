//! Completeness: whether every tailer has read all of a day's events (up to its allowed
//! lateness). Each tailer's checkpoint under `_state/tailer/` carries its watermark (see
//! [`crate::contract::checkpoint::watermark`]); a day is complete when every tailer that is
//! not retired has a watermark past the day's end. `run --require-complete` and `status` ask
//! here. Tailers that keep their checkpoints in a local `--state-dir` are not seen.

use chrono::NaiveDate;

use crate::contract::checkpoint::Checkpoint;
use crate::dates::end_of;
use crate::units::utc_seconds;
use crate::warehouse::Warehouse;

/// Where tailers keep their checkpoints in the warehouse.
use crate::contract::paths::TAILER_STATE_DIR;

/// Every tailer checkpoint in the warehouse, by tailer id.
pub async fn tailers(warehouse: &Warehouse) -> anyhow::Result<Vec<Checkpoint>> {
    let mut tailers = Vec::new();
    for path in warehouse.list_objects(TAILER_STATE_DIR).await? {
        if !path.ends_with(".json") {
            continue;
        }
        let Some((bytes, _)) = warehouse.get_versioned(&warehouse.path(&path)).await? else {
            continue;
        };
        let checkpoint =
            Checkpoint::from_json(&bytes).map_err(|reason| anyhow::anyhow!("{path}: {reason}"))?;
        tailers.push(checkpoint);
    }
    // Listed after the checkpoints were read: a checkpoint is saved after its flush was
    // staged, so a watermark read above has its flush listed here unless it is committed.
    let staged = warehouse.staged_counts().await?;
    for tailer in &mut tailers {
        tailer.staged = staged.get(&tailer.tailer_id).copied().unwrap_or(0);
    }
    tailers.sort_by(|a, b| a.tailer_id.cmp(&b.tailer_id));
    Ok(tailers)
}

/// Why `day` is not complete (pure): one line per tailer that holds it back, naming the
/// source; empty when it is complete.
pub fn holding_back(tailers: &[Checkpoint], day: NaiveDate) -> Vec<String> {
    if tailers.is_empty() {
        return vec![format!(
            "no tailer has recorded progress in this warehouse's {TAILER_STATE_DIR}/ \
             (tailers with --state-dir keep it elsewhere)"
        )];
    }
    let end = end_of(day);
    tailers
        .iter()
        .filter(|tailer| tailer.retired_at.is_none())
        .filter_map(|tailer| {
            let id = &tailer.tailer_id;
            if tailer.staged > 0 {
                return Some(format!(
                    "tailer {id} has {} flush(es) staged and not committed yet (is `stickerlake \
                     committer` running?)",
                    tailer.staged
                ));
            }
            let Some(progress) = &tailer.progress else {
                return Some(format!(
                    "tailer {id} has recorded no watermark yet (run it with this stickerlake)"
                ));
            };
            (progress.watermark < end).then(|| {
                format!(
                    "tailer {id}: watermark {} has not passed the end of {day} ({}){}; last flush {}",
                    utc_seconds(progress.watermark),
                    utc_seconds(end),
                    match &progress.held_by {
                        Some(source) => format!(", held back by {source}"),
                        None => String::new(),
                    },
                    utc_seconds(progress.flushed_at),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    use crate::contract::checkpoint::Progress;

    fn tailer(id: &str, watermark: Option<&str>, retired: bool) -> Checkpoint {
        let at = |text: &str| text.parse::<DateTime<Utc>>().unwrap();
        let mut checkpoint = Checkpoint::new(id);
        checkpoint.progress = watermark.map(|w| Progress {
            flushed_at: at("2026-11-24T03:00:00Z"),
            watermark: at(w),
            held_by: Some(format!("/var/log/{id}.jsonl")),
            allowed_lateness_secs: 1800,
            idle_timeout_secs: 300,
        });
        checkpoint.retired_at = retired.then(|| at("2026-11-01T00:00:00Z"));
        checkpoint
    }

    #[test]
    fn a_day_is_complete_when_every_active_tailer_is_past_its_end() {
        let day: NaiveDate = "2026-11-23".parse().unwrap();
        let ahead = tailer("web-1", Some("2026-11-24T00:00:00Z"), false);
        let behind = tailer("web-2", Some("2026-11-23T22:00:00Z"), false);
        let retired = tailer("old", Some("2026-10-01T00:00:00Z"), true);
        assert!(holding_back(&[ahead.clone(), retired.clone()], day).is_empty());
        let why = holding_back(&[ahead.clone(), behind, retired], day);
        assert_eq!(why.len(), 1);
        assert!(why[0].contains("tailer web-2"), "{why:?}");
        assert!(
            why[0].contains("held back by /var/log/web-2.jsonl"),
            "{why:?}"
        );
        let mut staged = ahead.clone();
        staged.staged = 2;
        let waiting = holding_back(&[staged], day);
        assert!(waiting[0].contains("2 flush(es) staged"), "{waiting:?}");
        let never = holding_back(&[ahead, tailer("new", None, false)], day);
        assert!(never[0].contains("no watermark yet"), "{never:?}");
        assert!(holding_back(&[], day)[0].contains("no tailer"));
    }
}

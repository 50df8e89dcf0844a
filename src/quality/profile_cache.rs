//! Each day's [`DayProfile`], kept under `_state/profiles/` beside the list of files it was
//! read from. Reading a day's `raw_events` is what a check costs, and a daily check reads its
//! day and the same weekday of four weeks before: with the profiles kept, it reads one day.
//! A profile is used only while the day's files are exactly the ones it was read from, so a
//! late event, a compaction, a replay or a `forget` makes the next check read the day again.
//! `forget` deletes them all (they count search terms).

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::profile::{DayProfile, TypeKeys, JSON_TYPES};
use crate::contract::paths::PROFILES_DIR;
use crate::warehouse::{FileInfo, Warehouse};

/// Raised when what a profile holds changes: older ones are then read again.
const FORMAT: u32 = 1;

/// Names the files a profile was read from (their paths and sizes, in any order).
pub fn files_key(files: &[FileInfo]) -> String {
    let mut names: Vec<String> = files
        .iter()
        .map(|f| format!("{}\t{}", f.path, f.size))
        .collect();
    names.sort();
    format!(
        "{:016x}",
        xxhash_rust::xxh3::xxh3_64(names.join("\n").as_bytes())
    )
}

/// The profile of `day` kept for exactly the files named `files`, if there is one (a missing,
/// unreadable or out-of-date one is read again, so it is never an error).
pub async fn load(warehouse: &Warehouse, day: NaiveDate, files: &str) -> Option<DayProfile> {
    let (bytes, _) = warehouse
        .get_versioned(&warehouse.path(&path_of(day)))
        .await
        .ok()??;
    let stored: Stored = serde_json::from_slice(&bytes).ok()?;
    (stored.format == FORMAT && stored.files == files).then(|| stored.profile())?
}

/// Keeps the profile of `day`, read from the files named `files`.
pub async fn save(
    warehouse: &Warehouse,
    day: NaiveDate,
    files: &str,
    profile: &DayProfile,
) -> anyhow::Result<()> {
    let bytes = serde_json::to_vec(&Stored::of(files, profile))?;
    let path = warehouse.path(&path_of(day));
    warehouse.put(&path, Bytes::from(bytes)).await?;
    Ok(())
}

/// Deletes every kept profile; returns how many there were.
pub async fn forget_all(warehouse: &Warehouse) -> anyhow::Result<usize> {
    let kept = warehouse.list_objects(PROFILES_DIR).await?;
    for path in &kept {
        warehouse.delete(&warehouse.path(path)).await?;
    }
    Ok(kept.len())
}

fn path_of(day: NaiveDate) -> String {
    format!("{PROFILES_DIR}/event_date={day}.json")
}

/// A count keyed by two strings, as one row.
type Counted = (String, String, u64);

/// A profile as JSON: maps keyed by pairs become lists of rows.
#[derive(Serialize, Deserialize)]
struct Stored {
    format: u32,
    files: String,
    /// (type, source, rows).
    volume: Vec<Counted>,
    /// (type, events, [(key path, JSON type, events)]).
    keys: Vec<(String, u64, Vec<Counted>)>,
    /// (term, source, searches).
    terms: Vec<Counted>,
    searches: u64,
    reports: u64,
}

impl Stored {
    fn of(files: &str, profile: &DayProfile) -> Stored {
        let pairs = |map: &mut dyn Iterator<Item = (&(String, String), &u64)>| {
            map.map(|((a, b), n)| (a.clone(), b.clone(), *n))
                .collect::<Vec<_>>()
        };
        let mut terms = pairs(&mut profile.terms.iter());
        terms.sort();
        Stored {
            format: FORMAT,
            files: files.to_owned(),
            volume: pairs(&mut profile.volume.iter()),
            keys: profile
                .keys
                .iter()
                .map(|(kind, keys)| {
                    let paths = keys.paths.iter().flat_map(|(path, types)| {
                        types
                            .iter()
                            .map(|(json_type, n)| (path.clone(), json_type.to_string(), *n))
                    });
                    (kind.clone(), keys.events, paths.collect())
                })
                .collect(),
            terms,
            searches: profile.searches,
            reports: profile.reports,
        }
    }

    /// The profile again (`None` if it names a JSON type there is not).
    fn profile(self) -> Option<DayProfile> {
        let mut keys = BTreeMap::new();
        for (kind, events, paths) in self.keys {
            let mut type_keys = TypeKeys {
                events,
                paths: BTreeMap::new(),
            };
            for (path, json_type, n) in paths {
                let json_type = JSON_TYPES.iter().find(|t| **t == json_type)?;
                type_keys
                    .paths
                    .entry(path)
                    .or_default()
                    .insert(*json_type, n);
            }
            keys.insert(kind, type_keys);
        }
        let pairs =
            |rows: Vec<(String, String, u64)>| rows.into_iter().map(|(a, b, n)| ((a, b), n));
        Some(DayProfile {
            volume: pairs(self.volume).collect(),
            keys,
            terms: pairs(self.terms).collect(),
            searches: self.searches,
            reports: self.reports,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quality::profile::Row;

    #[test]
    fn a_profile_comes_back_as_it_was_kept_and_only_for_its_files() {
        let mut profile = DayProfile::default();
        for (kind, properties, term) in [
            ("search", r#"{"query":"cat","n":1}"#, Some("cat")),
            ("search", r#"{"query":"dog","n":"1"}"#, Some("dog")),
            ("report", r#"{"sticker_ids":["s"],"app":{"v":null}}"#, None),
        ] {
            profile.add(&Row {
                kind,
                source: "/var/log/app.jsonl.1",
                properties: Some(properties),
                context: Some(r#"{"os":{"name":"iOS"}}"#),
                term,
            });
        }
        let stored = Stored::of("k", &profile);
        let text = serde_json::to_string(&stored).unwrap();
        let back: Stored = serde_json::from_str(&text).unwrap();
        assert_eq!(back.profile(), Some(profile));

        let file = |path: &str, size| FileInfo {
            path: path.into(),
            size,
            etag: None,
            rows: None,
        };
        let files = [file("a.parquet", 10), file("b.parquet", 20)];
        let swapped = [file("b.parquet", 20), file("a.parquet", 10)];
        assert_eq!(files_key(&files), files_key(&swapped));
        assert_ne!(files_key(&files), files_key(&files[..1]));
        assert_ne!(
            files_key(&files),
            files_key(&[file("a.parquet", 11), file("b.parquet", 20)])
        );
    }
}

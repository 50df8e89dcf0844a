//! The erasure ledger: who was forgotten (`stickerlake forget`), kept so the books balance
//! and the forgotten stay forgotten, without the ids themselves.
//!
//! Under `_state/erasure/`: a random `salt`, written once, and one JSON record per request
//! (`requests/<request id>.json`) holding the salted SHA-256 of each id, the rows erased
//! (table, source, source offset) and, after `--purge`, the Delta versions each table's log
//! was cut at. The tailer drops every event whose `userId` or `anonymousId` hashes into the
//! ledger (and counts it); `audit` counts a source line with no row as *erased* when its
//! ids hash into the ledger or its position is one the ledger erased; time travel to a
//! purged version names the request that purged it.

use std::collections::{BTreeMap, HashSet};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use object_store::PutMode;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::warehouse::Warehouse;

/// Where the ledger lives in the warehouse.
pub const ERASURE_DIR: &str = "_state/erasure";

/// One `forget` request, as recorded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub request_id: String,
    pub requested_at: DateTime<Utc>,
    /// The salted hashes of the ids (hex SHA-256 of salt + id).
    pub id_hashes: Vec<String>,
    /// Rows deleted, by table.
    pub erased: Vec<ErasedRow>,
    /// With `--purge`: each table's log holds no version before this one any more.
    #[serde(default)]
    pub purged_before: BTreeMap<String, u64>,
    /// Whether every step is done (a request killed half way is completed by a re-run).
    #[serde(default)]
    pub done: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ErasedRow {
    pub table: String,
    pub source: Option<String>,
    pub source_offset: Option<i64>,
    pub id_hash: String,
}

/// Everything forgotten in a warehouse.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    pub salt: String,
    pub requests: Vec<Request>,
    hashes: HashSet<String>,
    positions: HashSet<(String, i64)>,
}

impl Ledger {
    /// The warehouse's ledger (empty, with no salt, when nothing was ever forgotten).
    pub async fn load(warehouse: &Warehouse) -> anyhow::Result<Ledger> {
        let salt = match warehouse
            .get_versioned(&warehouse.path(&format!("{ERASURE_DIR}/salt")))
            .await?
        {
            Some((bytes, _)) => String::from_utf8_lossy(&bytes).trim().to_owned(),
            None => return Ok(Ledger::default()),
        };
        let mut requests = Vec::new();
        for path in warehouse
            .list_objects(&format!("{ERASURE_DIR}/requests"))
            .await?
        {
            if !path.ends_with(".json") {
                continue;
            }
            if let Some((bytes, _)) = warehouse.get_versioned(&warehouse.path(&path)).await? {
                let request: Request = serde_json::from_slice(&bytes)
                    .map_err(|e| anyhow::anyhow!("{path}: not an erasure request ({e})"))?;
                requests.push(request);
            }
        }
        requests.sort_by_key(|r| r.requested_at);
        Ok(Ledger::of(salt, requests))
    }

    pub fn of(salt: String, requests: Vec<Request>) -> Ledger {
        let hashes = requests
            .iter()
            .flat_map(|r| r.id_hashes.iter().cloned())
            .collect();
        let positions = requests
            .iter()
            .flat_map(|r| &r.erased)
            .filter_map(|row| Some((row.source.clone()?, row.source_offset?)))
            .collect();
        Ledger {
            salt,
            requests,
            hashes,
            positions,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Whether an event with these ids belongs to a forgotten user.
    pub fn forgets(&self, ids: &[Option<&str>]) -> bool {
        !self.hashes.is_empty()
            && ids
                .iter()
                .flatten()
                .any(|id| self.hashes.contains(&hash(&self.salt, id)))
    }

    /// Whether the ledger erased the row of this source line.
    pub fn erased_at(&self, source: &str, offset: u64) -> bool {
        self.positions.contains(&(source.to_owned(), offset as i64))
    }

    /// The request that purged `table`'s log past `version`, if one did.
    pub fn purged(&self, table: &str, version: u64) -> Option<(&Request, u64)> {
        self.requests.iter().find_map(|r| {
            let before = *r.purged_before.get(table)?;
            (version < before).then_some((r, before))
        })
    }
}

/// The salted hash of an id: hex SHA-256 of the salt and the id.
pub fn hash(salt: &str, id: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(salt.as_bytes());
    digest.update(b"\0");
    digest.update(id.as_bytes());
    digest
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The warehouse's salt, made (once, whoever comes first) when there is none.
pub async fn salt(warehouse: &Warehouse) -> anyhow::Result<String> {
    let path = warehouse.path(&format!("{ERASURE_DIR}/salt"));
    if let Some((bytes, _)) = warehouse.get_versioned(&path).await? {
        return Ok(String::from_utf8_lossy(&bytes).trim().to_owned());
    }
    let fresh = format!("{:032x}", rand::random::<u128>());
    match warehouse
        .put_if(&path, Bytes::from(fresh.clone()), PutMode::Create)
        .await
    {
        Ok(_) => Ok(fresh),
        Err(
            object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. },
        ) => Box::pin(salt(warehouse)).await,
        Err(e) => Err(warehouse.write_error(&path, e).into()),
    }
}

/// Writes (or rewrites) a request's record.
pub async fn record(warehouse: &Warehouse, request: &Request) -> anyhow::Result<()> {
    let path = warehouse.path(&format!(
        "{ERASURE_DIR}/requests/{}.json",
        request.request_id
    ));
    let json = serde_json::to_vec_pretty(request).expect("requests serialize");
    warehouse.put(&path, Bytes::from(json)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_salted_and_the_ledger_knows_them() {
        assert_ne!(hash("a", "u-1"), hash("b", "u-1"));
        assert_eq!(hash("a", "u-1").len(), 64);
        let request = Request {
            request_id: "r".into(),
            id_hashes: vec![hash("s", "u-1")],
            erased: vec![ErasedRow {
                table: "quarantine".into(),
                source: Some("/l".into()),
                source_offset: Some(7),
                id_hash: hash("s", "u-1"),
            }],
            purged_before: BTreeMap::from([("raw_events".into(), 5)]),
            ..Request::default()
        };
        let ledger = Ledger::of("s".into(), vec![request]);
        assert!(ledger.forgets(&[None, Some("u-1")]));
        assert!(!ledger.forgets(&[Some("u-2")]));
        assert!(ledger.erased_at("/l", 7) && !ledger.erased_at("/l", 8));
        assert!(ledger.purged("raw_events", 4).is_some());
        assert!(ledger.purged("raw_events", 5).is_none());
        assert!(!Ledger::default().forgets(&[Some("u-1")]));
    }
}

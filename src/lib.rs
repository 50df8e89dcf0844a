//! stickerlake: sticker-search event logs into a Parquet warehouse (local or S3), daily SQL
//! jobs and ad-hoc SQL with DataFusion, and offline evaluation of sticker search.
//!
//! The binary (`src/bin/stickerlake.rs`) only parses arguments and calls one `run` per
//! subcommand module.

pub mod allocator;
pub mod audit;
#[cfg(feature = "ballista")]
pub mod ballista;
pub mod check;
pub mod committer;
pub mod compact;
pub mod completeness;
pub mod contract;
pub mod dates;
pub mod dialect;
pub mod engine;
pub mod erasure;
pub mod exit;
pub mod forget;
pub mod generate;
pub mod history;
pub mod jobs;
pub mod json_bytes;
pub mod lineage;
pub mod migrate;
pub mod output;
pub mod overview;
pub mod progress;
pub mod quality;
pub mod query;
pub mod replay;
pub mod report;
pub mod search;
pub mod status;
pub mod tailer;
pub mod units;
pub mod vacuum;
pub mod validate;
pub mod warehouse;

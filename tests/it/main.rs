//! Integration tests: they run the real `stickerlake` binary, each in its own temp folder,
//! against a local warehouse and against S3 (a moto server on 127.0.0.1), and read what it
//! wrote back with the `parquet` crate (a second reader).

mod audit;
mod check;
mod committer;
mod compact;
mod completeness;
mod crash;
mod delta;
mod dialect;
mod forget;
mod gate;
mod install;
mod jobs;
mod json;
mod layout;
mod readme;
mod replay;
mod report;
mod s3;
mod search;
mod sql;
mod status;
mod tailer;
mod util;
mod watch;

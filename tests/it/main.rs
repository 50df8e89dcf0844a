//! Integration tests: they run the real `stickerlake` binary, each in its own temp folder,
//! and read what it wrote back with the `parquet` crate (a second reader).

mod crash;
mod jobs;
mod sql;
mod tailer;
mod util;

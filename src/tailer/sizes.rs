//! How much the tailer handles at once, from the disk to the store, in one place.
//!
//! A file is read [`READ_BYTES`] at a time into the line reader; complete lines are copied
//! into a parse chunk of at most [`PARSE_CHUNK_LINES`] lines or about [`PARSE_CHUNK_BYTES`];
//! a chunk is parsed in tasks of [`LINES_PER_TASK`] lines, two per full chunk, so both cores
//! parse while the next chunk is read (a chunk of 8,192 lines of about 330 bytes is 2.6 MiB,
//! under the byte bound: the line bound is the one that holds for ordinary events, the byte
//! bound caps memory for long ones). Batches of `--max-rows`/`--max-bytes` become one flush,
//! whose files upload [`PARALLEL_UPLOADS`] at a time.

/// Bytes asked of the file per read.
pub const READ_BYTES: usize = 1 << 20;

/// Lines parsed together (in parallel) while the next chunk is read, at most.
pub const PARSE_CHUNK_LINES: usize = 8192;

/// Bytes of lines in a parse chunk, about (a chunk ends at the first line past it).
pub const PARSE_CHUNK_BYTES: usize = 4 << 20;

/// Lines per parallel parse task. 4,096 rather than 2,048: the same speed, and half as many
/// small batches held until the flush, which kept the allocator's heaps from creeping
/// (peak RSS at 16M events 186 MiB instead of 202, against 172 and 174 at 1M).
pub const LINES_PER_TASK: usize = 4096;

/// Uploads in flight at once during a flush.
pub const PARALLEL_UPLOADS: usize = 4;

// A full chunk is split into whole tasks: no task of a chunk is left short.
const _: () = assert!(PARSE_CHUNK_LINES.is_multiple_of(LINES_PER_TASK));

//! Finding the log files and knowing them by content.
//!
//! A file is known by a fingerprint of its first line (at most [`FINGERPRINT_BYTES`]), not
//! by path or inode: a file renamed by rotation keeps its fingerprint and its checkpoint, a
//! copy made by copy-then-truncate rotation is the same file as far as the tailer is
//! concerned, and a re-created or truncated file is new. A file whose first line is not
//! complete yet has no fingerprint and is skipped until it has one.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::xxh3_64;

pub const FINGERPRINT_BYTES: usize = 4096;

/// The first bytes of a gzip file.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// A matched log file.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceFile {
    pub path: PathBuf,
    pub fingerprint: String,
    pub size: u64,
    /// When it last changed (its modification time), for the idle timeout.
    pub modified: Option<std::time::SystemTime>,
}

/// A problem with one glob or file; the others are still read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("--source {0:?} is not a valid glob pattern: {1}")]
    BadPattern(String, glob::PatternError),
    #[error("no file matches --source {0:?}: check the path (globs like /var/log/app/*.jsonl* also match rotated files)")]
    NoMatch(String),
    #[error("cannot read {}: {source}", path.display())]
    Unreadable { path: PathBuf, source: io::Error },
}

/// The fingerprint of a file's content, or `None` while its first line is incomplete.
///
/// Reads with `pread`, so the file position (and a reader sharing it) is not moved.
pub fn fingerprint(file: &File) -> io::Result<Option<String>> {
    let mut head = vec![0u8; FINGERPRINT_BYTES];
    let mut filled = 0;
    while filled < head.len() {
        match file.read_at(&mut head[filled..], filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(fingerprint_of(&head[..filled]))
}

/// Pure part of [`fingerprint`]: hashes the first line, newline included.
pub fn fingerprint_of(head: &[u8]) -> Option<String> {
    let first_line = match memchr::memchr(b'\n', head) {
        Some(pos) => &head[..=pos],
        None if head.len() >= FINGERPRINT_BYTES => &head[..FINGERPRINT_BYTES],
        None => return None,
    };
    Some(format!("{:016x}", xxh3_64(first_line)))
}

/// Expands the globs. Files matched by several globs, or copies with the same content
/// (copy-then-truncate rotation), are returned once: the largest copy.
pub fn scan(patterns: &[String]) -> (Vec<SourceFile>, Vec<SourceError>) {
    let mut files: Vec<SourceFile> = Vec::new();
    let mut errors = Vec::new();
    for pattern in patterns {
        let paths = match glob::glob(pattern) {
            Ok(paths) => paths,
            Err(e) => {
                errors.push(SourceError::BadPattern(pattern.clone(), e));
                continue;
            }
        };
        let mut matched = false;
        for entry in paths {
            let path = match entry {
                Ok(path) => path,
                Err(e) => {
                    let path = e.path().to_owned();
                    errors.push(SourceError::Unreadable {
                        path,
                        source: e.into(),
                    });
                    continue;
                }
            };
            if path.is_dir() {
                continue;
            }
            matched = true;
            match identify(&path) {
                Ok(Some(file)) => files.push(file),
                Ok(None) => {}
                Err(source) => errors.push(SourceError::Unreadable { path, source }),
            }
        }
        if !matched {
            errors.push(SourceError::NoMatch(pattern.clone()));
        }
    }
    (dedup_by_content(files), errors)
}

/// A valid glob, made absolute: the `source` column and the checkpoints then name files the
/// same way whatever directory cron runs from.
pub fn parse_glob(text: &str) -> Result<String, String> {
    glob::Pattern::new(text).map_err(|e| format!("not a valid glob pattern: {e}"))?;
    let cwd =
        std::env::current_dir().map_err(|e| format!("cannot tell the current directory: {e}"))?;
    Ok(absolute_pattern(&cwd.to_string_lossy(), text))
}

/// `pattern` relative to `cwd` if it is not absolute, with `.` and `..` resolved lexically
/// (pure: no file is looked at).
fn absolute_pattern(cwd: &str, pattern: &str) -> String {
    let joined = match pattern.starts_with('/') {
        true => pattern.to_owned(),
        false => format!("{cwd}/{pattern}"),
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            _ => parts.push(part),
        }
    }
    format!("/{}", parts.join("/"))
}

fn identify(path: &Path) -> io::Result<Option<SourceFile>> {
    let file = File::open(path)?;
    let metadata = file.metadata()?;
    // A rotated log logrotate compressed (`app.jsonl.2.gz`, matched by `app.jsonl*`) was read
    // whole before it was compressed: its bytes are not lines.
    let mut magic = [0; 2];
    if file.read_at(&mut magic, 0).ok() == Some(2) && magic == GZIP_MAGIC {
        return Ok(None);
    }
    Ok(fingerprint(&file)?.map(|fingerprint| SourceFile {
        path: path.to_owned(),
        fingerprint,
        size: metadata.len(),
        modified: metadata.modified().ok(),
    }))
}

fn dedup_by_content(mut files: Vec<SourceFile>) -> Vec<SourceFile> {
    // Largest first within a fingerprint, then a stable order by path.
    files.sort_by(|a, b| {
        (&a.fingerprint, std::cmp::Reverse(a.size), &a.path).cmp(&(
            &b.fingerprint,
            std::cmp::Reverse(b.size),
            &b.path,
        ))
    });
    files.dedup_by(|later, first| later.fingerprint == first.fingerprint);
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_needs_a_complete_first_line() {
        assert_eq!(fingerprint_of(b""), None);
        assert_eq!(fingerprint_of(b"{\"partial"), None);
        let a = fingerprint_of(b"line one\n").unwrap();
        assert_eq!(fingerprint_of(b"line one\nmore\nand more").unwrap(), a);
        assert_ne!(fingerprint_of(b"line two\n").unwrap(), a);
        assert!(fingerprint_of(&[b'x'; FINGERPRINT_BYTES]).is_some());
    }

    #[test]
    fn copies_are_one_file_the_largest() {
        let file = |path: &str, fp: &str, size| SourceFile {
            path: path.into(),
            fingerprint: fp.into(),
            size,
            modified: None,
        };
        let files = vec![
            file("b.log", "1", 10),
            file("b.log.1", "1", 30),
            file("a.log", "2", 5),
        ];
        assert_eq!(
            dedup_by_content(files),
            vec![file("a.log", "2", 5), file("b.log.1", "1", 30)]
        );
    }

    #[test]
    fn source_globs_become_absolute_and_normalized() {
        assert_eq!(
            absolute_pattern("/srv/app", "logs/*.jsonl"),
            "/srv/app/logs/*.jsonl"
        );
        assert_eq!(
            absolute_pattern("/srv/app", "./logs/../logs//a*.jsonl"),
            "/srv/app/logs/a*.jsonl"
        );
        assert_eq!(
            absolute_pattern("/srv/app", "/var/log/x.jsonl"),
            "/var/log/x.jsonl"
        );
        assert_eq!(absolute_pattern("/", "../x/*.log"), "/x/*.log");
    }
}

//! Splitting a byte stream into lines with bounded memory.
//!
//! A line is complete only when its `\n` has been read: a partial last line is never
//! returned, so it waits for its newline (the file may still be appended to). A line
//! longer than the limit is not buffered: its first `max_line` bytes are kept and the rest
//! is skipped up to its newline.
//!
//! Whether a line is too long depends only on its bytes, never on where reads happen to
//! end: a line of exactly `max_line` bytes followed by `\r\n` is complete however it
//! arrives. [`LineReader::consumed_offset`] is always a line boundary, also while an
//! over-long line is being skipped, so a checkpoint is never taken inside a line.

use std::io::{self, Read};

use super::sizes::READ_BYTES;

/// One line, without its `\n` (and without a `\r` before it).
#[derive(Debug, PartialEq)]
pub enum Line<'a> {
    Complete {
        offset: u64,
        bytes: &'a [u8],
    },
    TooLong {
        offset: u64,
        prefix: &'a [u8],
        len: u64,
    },
    /// The last bytes of a rotated file that never got their `\n` and never will (the
    /// file has not grown for `--idle-timeout`): the head of a line cut by copy-then-truncate
    /// rotation. Made by the tailer, not by the reader; quarantined, never parsed.
    Unterminated {
        offset: u64,
        prefix: &'a [u8],
        len: u64,
    },
}

pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    /// `buf[start..end]` holds bytes read but not yet returned.
    start: usize,
    end: usize,
    /// Where `buf[start]` is in the stream.
    offset: u64,
    max_line: usize,
    /// An over-long line being skipped: its offset and its length so far.
    long_line: Option<(u64, u64)>,
    /// Whether the bytes of the over-long line dropped so far end with `\r`.
    long_ends_with_cr: bool,
    /// The first `max_line` bytes of the last over-long line.
    long_prefix: Vec<u8>,
    eof: bool,
}

impl<R: Read> LineReader<R> {
    /// Reads `inner`, whose first byte is at `offset` in its file.
    pub fn new(inner: R, offset: u64, max_line: usize) -> Self {
        Self {
            inner,
            // Room for a whole line of the limit, its `\r` and one more byte.
            buf: vec![0; READ_BYTES.max(max_line + 2)],
            start: 0,
            end: 0,
            offset,
            max_line,
            long_line: None,
            long_ends_with_cr: false,
            long_prefix: Vec::new(),
            eof: false,
        }
    }

    /// The offset just past the last line returned: where a later read must resume.
    pub fn consumed_offset(&self) -> u64 {
        match self.long_line {
            Some((line_offset, _)) => line_offset,
            None => self.offset,
        }
    }

    /// The next complete line, or `None` at the end of what is there now.
    pub fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        loop {
            let pending = &self.buf[self.start..self.end];
            if let Some(pos) = memchr::memchr(b'\n', pending) {
                let line_start = self.start;
                let line_offset = self.offset;
                self.start += pos + 1;
                self.offset += pos as u64 + 1;
                if let Some((long_offset, len)) = self.long_line.take() {
                    let cr = match pos {
                        0 => self.long_ends_with_cr,
                        _ => self.buf[line_start + pos - 1] == b'\r',
                    };
                    let len = len + pos as u64 - u64::from(cr);
                    return Ok(Some(Line::TooLong {
                        offset: long_offset,
                        prefix: &self.long_prefix,
                        len,
                    }));
                }
                let bytes = strip_cr(&self.buf[line_start..line_start + pos]);
                if bytes.len() > self.max_line {
                    return Ok(Some(Line::TooLong {
                        offset: line_offset,
                        prefix: &bytes[..self.max_line],
                        len: bytes.len() as u64,
                    }));
                }
                return Ok(Some(Line::Complete {
                    offset: line_offset,
                    bytes,
                }));
            }
            let pending = pending.len();
            // More than the limit and a possible `\r`: too long, whatever comes next.
            if self.long_line.is_none() && pending > self.max_line + 1 {
                self.long_prefix.clear();
                self.long_prefix
                    .extend_from_slice(&self.buf[self.start..self.start + self.max_line]);
                self.long_line = Some((self.offset, 0));
            }
            if let Some((_, len)) = &mut self.long_line {
                // Drop what was read of the over-long line; only its length matters now.
                *len += pending as u64;
                if pending > 0 {
                    self.long_ends_with_cr = self.buf[self.end - 1] == b'\r';
                }
                self.offset += pending as u64;
                self.start = self.end;
            }
            if self.eof || !self.fill()? {
                return Ok(None);
            }
        }
    }

    /// Reads more bytes; false at the end of the stream.
    fn fill(&mut self) -> io::Result<bool> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let n = loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        self.end += n;
        if n == 0 {
            self.eof = true;
        }
        Ok(n > 0)
    }
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads like a file that is still being written: a few bytes per `read`.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.1.min(self.0.len()).min(out.len());
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn collect(input: &[u8], start: u64, max_line: usize, chunk: usize) -> (Vec<String>, u64) {
        let mut reader = LineReader::new(Trickle(input, chunk), start, max_line);
        let mut out = Vec::new();
        while let Some(line) = reader.next_line().unwrap() {
            out.push(match line {
                Line::Complete { offset, bytes } => {
                    format!("{offset}:{}", String::from_utf8_lossy(bytes))
                }
                Line::TooLong {
                    offset,
                    prefix,
                    len,
                } => format!("{offset}:long({},{len})", String::from_utf8_lossy(prefix)),
                Line::Unterminated { .. } => unreachable!("the reader never cuts a line"),
            });
        }
        (out, reader.consumed_offset())
    }

    #[test]
    fn partial_last_line_waits_for_its_newline() {
        for chunk in [1, 2, 3, 7, 1 << 20] {
            let (lines, consumed) = collect(b"ab\r\n\ncd\nef", 100, 64, chunk);
            assert_eq!(lines, ["100:ab", "104:", "105:cd"], "chunk {chunk}");
            assert_eq!(consumed, 108);
        }
    }

    #[test]
    fn over_long_lines_keep_a_prefix_and_their_length() {
        for chunk in [1, 5, 1 << 20] {
            let (lines, consumed) = collect(b"0123456789\nok\n0123456", 0, 4, chunk);
            assert_eq!(lines, ["0:long(0123,10)", "11:ok"], "chunk {chunk}");
            // The unfinished over-long line is not consumed: it is read again next time.
            assert_eq!(consumed, 14);
        }
    }

    #[test]
    fn a_line_of_exactly_the_limit_is_complete() {
        let (lines, _) = collect(b"abcd\nabcde\n", 0, 4, 3);
        assert_eq!(lines, ["0:abcd", "5:long(abcd,5)"]);
    }

    #[test]
    fn the_verdict_on_a_line_does_not_depend_on_read_boundaries() {
        let input = b"abcd\r\nabcde\r\nabcdefghij\r\nxy\n";
        for chunk in 1..=input.len() {
            let (lines, consumed) = collect(input, 0, 4, chunk);
            assert_eq!(
                lines,
                ["0:abcd", "6:long(abcd,5)", "13:long(abcd,10)", "25:xy"],
                "chunk {chunk}"
            );
            assert_eq!(consumed, input.len() as u64);
        }
    }

    #[test]
    fn an_unfinished_over_long_line_is_not_consumed_at_any_boundary() {
        let input = b"ok\n0123456789abcdef";
        for chunk in 1..=input.len() {
            let (lines, consumed) = collect(input, 7, 4, chunk);
            assert_eq!(lines, ["7:ok"], "chunk {chunk}");
            assert_eq!(consumed, 10, "chunk {chunk}");
        }
    }
}

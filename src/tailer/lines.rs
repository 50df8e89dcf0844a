//! Splitting a byte stream into lines with bounded memory.
//!
//! A line is complete only when its `\n` has been read: a partial last line is never
//! returned, so it waits for its newline (the file may still be appended to). A line
//! longer than the limit is not buffered: its first `max_line` bytes are kept and the rest
//! is skipped up to its newline.

use std::io::{self, Read};

const READ_CHUNK: usize = 1 << 20;

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
    /// The first `max_line` bytes of the last over-long line.
    long_prefix: Vec<u8>,
    eof: bool,
}

impl<R: Read> LineReader<R> {
    /// Reads `inner`, whose first byte is at `offset` in its file.
    pub fn new(inner: R, offset: u64, max_line: usize) -> Self {
        Self {
            inner,
            buf: vec![0; READ_CHUNK.max(max_line + 1)],
            start: 0,
            end: 0,
            offset,
            max_line,
            long_line: None,
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
                    let len = len + pos as u64;
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
            if self.long_line.is_none() && pending > self.max_line {
                self.long_prefix.clear();
                self.long_prefix
                    .extend_from_slice(&self.buf[self.start..self.start + self.max_line]);
                self.long_line = Some((self.offset, 0));
            }
            if let Some((_, len)) = &mut self.long_line {
                // Drop what was read of the over-long line; only its length matters now.
                *len += pending as u64;
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
}

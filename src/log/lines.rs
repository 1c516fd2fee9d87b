//! Bounded line reading for the text capture formats (candump screen output, python-can CSV).
//!
//! Calling contract: [`Lines::read`] reads the next `\n`-terminated line (or a last unterminated
//! one) from any [`BufRead`] into one reusable buffer, without its `\n`, counting lines; a line
//! longer than the limit is consumed without being stored and reported as
//! [`LineRead::TooLong`], so memory stays bounded whatever the input. [`Lines::peek_ahead`]
//! reads further input into a second bounded buffer that later reads consume first, for formats
//! that must look at what follows before they can interpret a line.

use std::io::{self, BufRead};

/// What [`Lines::read`] found.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum LineRead {
    /// The end of the input: no line.
    Eof,
    /// A line, now in [`Lines::line`].
    Line,
    /// A line longer than the limit, skipped ([`Lines::line`] is empty).
    TooLong,
}

/// A line reader over any [`BufRead`] with one reusable line buffer.
pub(crate) struct Lines<R> {
    inner: R,
    /// Bytes read ahead by [`Lines::peek_ahead`], consumed before `inner`.
    ahead: Vec<u8>,
    ahead_pos: usize,
    /// The current line, without its `\n`.
    pub(crate) line: Vec<u8>,
    number: u64,
    max_len: usize,
}

impl<R: BufRead> Lines<R> {
    /// The current line's first `end` bytes as text ([`Item::Other`](super::Item::Other)'s),
    /// empty when they are not UTF-8.
    pub(crate) fn text(&self, end: usize) -> &str {
        (self.line.get(..end))
            .and_then(|b| core::str::from_utf8(b).ok())
            .unwrap_or_default()
    }

    /// A reader that stores lines of at most `max_len` bytes (at least 1).
    pub(crate) fn new(inner: R, max_len: usize) -> Self {
        Lines {
            inner,
            ahead: Vec::new(),
            ahead_pos: 0,
            line: Vec::with_capacity(256),
            number: 0,
            max_len: max_len.max(1),
        }
    }

    /// Changes the longest stored line (at least 1 byte).
    pub(crate) fn set_max_len(&mut self, max_len: usize) {
        self.max_len = max_len.max(1);
    }

    /// The longest stored line.
    pub(crate) fn max_len(&self) -> usize {
        self.max_len
    }

    /// The 1-based number of the last line read (0 before the first).
    pub(crate) fn number(&self) -> u64 {
        self.number
    }

    /// The underlying reader (bytes read ahead are lost).
    pub(crate) fn into_inner(self) -> R {
        self.inner
    }

    /// Reads the next line into [`Lines::line`].
    pub(crate) fn read(&mut self) -> io::Result<LineRead> {
        self.line.clear();
        let mut too_long = false;
        let mut any = false;
        loop {
            let from_ahead = self.ahead_pos < self.ahead.len();
            let available: &[u8] = if from_ahead {
                self.ahead.get(self.ahead_pos..).unwrap_or_default()
            } else {
                match self.inner.fill_buf() {
                    Ok(b) => b,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            };
            if available.is_empty() {
                break;
            }
            any = true;
            let (chunk, used, done) = match memchr::memchr(b'\n', available) {
                Some(i) => (available.get(..i).unwrap_or_default(), i + 1, true),
                None => (available, available.len(), false),
            };
            if !too_long {
                if self.line.len().saturating_add(chunk.len()) > self.max_len {
                    too_long = true;
                    self.line.clear();
                } else {
                    self.line.extend_from_slice(chunk);
                }
            }
            if from_ahead {
                self.ahead_pos += used;
                if self.ahead_pos >= self.ahead.len() {
                    self.ahead.clear();
                    self.ahead_pos = 0;
                }
            } else {
                self.inner.consume(used);
            }
            if done {
                break;
            }
        }
        if !any {
            return Ok(LineRead::Eof);
        }
        self.number += 1;
        Ok(if too_long {
            LineRead::TooLong
        } else {
            LineRead::Line
        })
    }

    /// Reads ahead (without consuming for [`Lines::read`]) until what is buffered holds
    /// `max_lines` newlines, `max_bytes` bytes or the end of the input; returns everything
    /// buffered ahead. Later [`Lines::read`] calls return these lines first.
    pub(crate) fn peek_ahead(&mut self, max_lines: usize, max_bytes: usize) -> io::Result<&[u8]> {
        if self.ahead_pos > 0 {
            self.ahead.drain(..self.ahead_pos.min(self.ahead.len()));
            self.ahead_pos = 0;
        }
        let mut lines = memchr::memchr_iter(b'\n', &self.ahead).count();
        while lines < max_lines && self.ahead.len() < max_bytes {
            let available = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                break;
            }
            let room = max_bytes - self.ahead.len();
            let take = available.len().min(room);
            let part = available.get(..take).unwrap_or_default();
            lines += memchr::memchr_iter(b'\n', part).count();
            self.ahead.extend_from_slice(part);
            self.inner.consume(take);
        }
        Ok(&self.ahead)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    fn all_lines(input: &[u8], cap: usize, max: usize) -> Vec<(LineRead, Vec<u8>)> {
        let mut l = Lines::new(BufReader::with_capacity(cap, input), max);
        let mut out = Vec::new();
        loop {
            let r = l.read().unwrap();
            if r == LineRead::Eof {
                break;
            }
            out.push((r, l.line.clone()));
        }
        out
    }

    #[test]
    fn test_lines_split_bound_and_count() {
        let got = all_lines(b"ab\ncdef\n\nxyz", 2, 3);
        assert_eq!(
            got,
            vec![
                (LineRead::Line, b"ab".to_vec()),
                (LineRead::TooLong, vec![]),
                (LineRead::Line, vec![]),
                (LineRead::Line, b"xyz".to_vec()),
            ]
        );
        assert!(all_lines(b"", 4, 10).is_empty());
    }

    #[test]
    fn test_peek_ahead_is_replayed_in_order() {
        let input = b"one\ntwo\nthree\nfour\nfive";
        let mut l = Lines::new(BufReader::with_capacity(3, &input[..]), 100);
        assert_eq!(l.read().unwrap(), LineRead::Line);
        assert_eq!(l.line, b"one");
        let ahead = l.peek_ahead(2, 1000).unwrap().to_vec();
        assert!(ahead.starts_with(b"two\nthree\n"), "{ahead:?}");
        assert_eq!(l.number(), 1);
        let mut rest = Vec::new();
        while l.read().unwrap() != LineRead::Eof {
            rest.push(String::from_utf8(l.line.clone()).unwrap());
        }
        assert_eq!(rest, ["two", "three", "four", "five"]);
        assert_eq!(l.number(), 5);
    }

    #[test]
    fn test_peek_ahead_is_bounded() {
        let input = vec![b'x'; 10_000];
        let mut l = Lines::new(&input[..], 100_000);
        assert_eq!(l.peek_ahead(10, 100).unwrap().len(), 100);
        // A second look continues after a partial read.
        assert_eq!(l.read().unwrap(), LineRead::Line);
        assert_eq!(l.line.len(), 10_000);
    }
}

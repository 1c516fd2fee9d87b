//! Where something is in a text a person wrote (a DBC, a procedure script, a simulator
//! profile): one [`Location`] shape and one error type for every loader, and a [`LineIndex`]
//! that turns byte offsets into lines and columns in O(log n), so loaders stay fast on big
//! files (a 20,000-step script, a DBC of thousands of signals).

use core::fmt;

/// A source name (usually a file path) and, when known, a 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    /// The name the text was loaded under (a path or a caller-chosen label).
    pub source: String,
    /// 1-based line, when known.
    pub line: Option<u32>,
    /// 1-based column in bytes, when known.
    pub column: Option<u32>,
}

impl Location {
    /// `source` at `pos` (line, column), if known.
    pub fn new(source: &str, pos: Option<(u32, u32)>) -> Location {
        Location {
            source: source.to_string(),
            line: pos.map(|p| p.0),
            column: pos.map(|p| p.1),
        }
    }
}

/// `file:line:column`, `file:line` or `file`, as compilers write it.
impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.source)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        Ok(())
    }
}

/// A text that does not load: where and why (`script.toml:12:5: step "x": ...`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct TextError {
    pub location: Location,
    pub message: String,
}

impl TextError {
    /// The 1-based line, when known.
    pub fn line(&self) -> Option<u32> {
        self.location.line
    }
}

/// The start offset of every line of a text, for offset -> (line, column) lookups.
#[derive(Debug, Clone)]
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    /// Indexes `text` (one pass).
    pub fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1));
        LineIndex { starts }
    }

    /// 1-based line and column (in bytes) of a byte offset (clamped to the text).
    pub fn locate(&self, offset: usize) -> (u32, u32) {
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts.get(line - 1).copied().unwrap_or(0);
        let as_u32 = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        (as_u32(line), as_u32(offset.saturating_sub(start) + 1))
    }

    /// A [`Location`] in `source` for a byte offset, or without a position.
    pub fn location(&self, source: &str, offset: Option<usize>) -> Location {
        Location::new(source, offset.map(|o| self.locate(o)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_locate() {
        let t = "ab\ncd\n\nef";
        let i = LineIndex::new(t);
        assert_eq!(i.locate(0), (1, 1));
        assert_eq!(i.locate(1), (1, 2));
        assert_eq!(i.locate(2), (1, 3));
        assert_eq!(i.locate(3), (2, 1));
        assert_eq!(i.locate(6), (3, 1));
        assert_eq!(i.locate(7), (4, 1));
        assert_eq!(i.locate(9), (4, 3));
        assert_eq!(i.locate(500), (4, 494));
    }

    #[test]
    fn test_display() {
        let l = Location::new("s.toml", Some((3, 4)));
        assert_eq!(
            TextError {
                location: l,
                message: "bad".into()
            }
            .to_string(),
            "s.toml:3:4: bad"
        );
        assert_eq!(Location::new("s.toml", None).to_string(), "s.toml");
    }
}

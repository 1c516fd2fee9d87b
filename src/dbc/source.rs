//! Where things are in a DBC text: a line scanner that finds `BO_`, `SG_` and `VAL_` lines.
//!
//! `can-dbc` builds an AST without spans, so diagnostics and load errors locate messages and
//! signals by scanning the text line by line (1-based lines and columns, columns in
//! characters). The scanner also keeps each message id exactly as written: `can-dbc`
//! truncates a standard id that does not fit in 16 bits, and the model must reject such ids
//! instead of silently using the truncated value. The scanner is a best effort: a multi-line
//! `CM_` string whose continuation line starts with `BO_ ` could be mistaken for a message,
//! which is why lookups go by message name and fall back to "no position".

use std::collections::HashMap;

/// A `BO_` line as written.
#[derive(Debug, Clone)]
pub(crate) struct ScannedMessage {
    pub line: u32,
    pub column: u32,
    /// The id as written (decimal), `None` if it does not parse as a `u64`.
    pub raw_id: Option<u64>,
    pub name: String,
    /// The `SG_` lines that follow, in order: (name, line, column).
    pub signals: Vec<(String, u32, u32)>,
}

/// A `VAL_`, `SG_MUL_VAL_` or `SIG_VALTYPE_` line naming a message id and a signal.
#[derive(Debug, Clone)]
pub(crate) struct ScannedRef {
    pub line: u32,
    pub column: u32,
    pub keyword: &'static str,
    pub raw_id: Option<u64>,
    pub signal: String,
}

/// The positions found in one DBC text.
#[derive(Debug, Default, Clone)]
pub(crate) struct SourceMap {
    pub messages: Vec<ScannedMessage>,
    pub refs: Vec<ScannedRef>,
    by_name: HashMap<String, Vec<usize>>,
}

fn column_of(line: &str, trimmed: &str) -> u32 {
    let skipped = line.len() - trimmed.len();
    line.get(..skipped)
        .map_or(1, |s| s.chars().count() as u32 + 1)
}

impl SourceMap {
    /// Scans `text` once.
    pub fn scan(text: &str) -> SourceMap {
        let mut map = SourceMap::default();
        let mut current: Option<usize> = None;
        for (index, line) in text.lines().enumerate() {
            let line_no = u32::try_from(index + 1).unwrap_or(u32::MAX);
            let trimmed = line.trim_start();
            let mut tokens = trimmed.split_whitespace();
            let Some(keyword) = tokens.next() else {
                continue;
            };
            match keyword {
                "BO_" => {
                    let raw_id = tokens.next().and_then(|t| t.parse::<u64>().ok());
                    let name = tokens
                        .next()
                        .map(|t| t.split(':').next().unwrap_or("").to_string())
                        .unwrap_or_default();
                    map.messages.push(ScannedMessage {
                        line: line_no,
                        column: column_of(line, trimmed),
                        raw_id,
                        name,
                        signals: Vec::new(),
                    });
                    current = Some(map.messages.len() - 1);
                }
                "SG_" => {
                    if let (Some(m), Some(name)) = (current, tokens.next()) {
                        let name = name.split(':').next().unwrap_or("").to_string();
                        if let Some(msg) = map.messages.get_mut(m) {
                            msg.signals.push((name, line_no, column_of(line, trimmed)));
                        }
                    }
                }
                "VAL_" | "SG_MUL_VAL_" | "SIG_VALTYPE_" => {
                    current = None;
                    let kw = match keyword {
                        "VAL_" => "VAL_",
                        "SG_MUL_VAL_" => "SG_MUL_VAL_",
                        _ => "SIG_VALTYPE_",
                    };
                    let raw_id = tokens.next().and_then(|t| t.parse::<u64>().ok());
                    if let Some(signal) = tokens.next() {
                        map.refs.push(ScannedRef {
                            line: line_no,
                            column: column_of(line, trimmed),
                            keyword: kw,
                            raw_id,
                            signal: signal.trim_end_matches([':', ';']).to_string(),
                        });
                    }
                }
                _ => {
                    // A signal line is indented under its message; anything else that is not
                    // blank ends the message block.
                    if !keyword.starts_with("//") {
                        current = None;
                    }
                }
            }
        }
        for (i, m) in map.messages.iter().enumerate() {
            map.by_name.entry(m.name.clone()).or_default().push(i);
        }
        map
    }

    /// The `n`-th (0-based) `BO_` line with this message name.
    pub fn message(&self, name: &str, occurrence: usize) -> Option<&ScannedMessage> {
        self.by_name
            .get(name)
            .and_then(|v| v.get(occurrence))
            .and_then(|&i| self.messages.get(i))
    }

    /// The line and column of a signal of a message (first `SG_` with that name).
    pub fn signal(&self, message: &ScannedMessage, signal: &str) -> Option<(u32, u32)> {
        message
            .signals
            .iter()
            .find(|(n, _, _)| n == signal)
            .map(|&(_, l, c)| (l, c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_parse_source_map_positions() {
        let text = "VERSION \"\"\n\nBO_ 65537 BIG: 8 X\n SG_ A : 0|8@1+ (1,0) [0|0] \"\" X\n\tSG_ B m1 : 8|8@1+ (1,0) [0|0] \"\" X\n\nVAL_ 65537 A 1 \"one\" ;\n";
        let map = SourceMap::scan(text);
        let m = map.message("BIG", 0).unwrap();
        assert_eq!((m.line, m.column, m.raw_id), (3, 1, Some(65537)));
        assert_eq!(map.signal(m, "A"), Some((4, 2)));
        assert_eq!(map.signal(m, "B"), Some((5, 2)));
        assert_eq!(map.refs.len(), 1);
        assert_eq!(map.refs[0].signal, "A");
        assert_eq!(map.refs[0].line, 7);
        assert!(map.message("BIG", 1).is_none());
    }
}

//! Hex text to diagnostic PDU bytes and back, for the command line and procedure scripts.
//!
//! Accepted forms (case-insensitive): `10 C0`, `10C0`, `0x10 0xC0`, `0x10C0`, `10:C0`,
//! `10,C0`, `10.C0`, `10-C0` and any mix. Tokens are split on whitespace and the separators
//! `, : . -`; each token is an optional `0x` prefix followed by an even number of hex digits,
//! read as bytes in order. A token with an odd number of digits (`1 C0`) is an error, never
//! guessed at. Errors name the 1-based character column. [`parse_padding`] reads an ISO-TP
//! padding byte the same way, or `none`.

use core::fmt::Write as _;

/// Why hex text did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    /// Nothing but separators.
    #[error("no hex bytes given")]
    Empty,
    /// A character that is neither a hex digit nor a separator.
    #[error("column {column}: {found:?} is not a hex digit")]
    InvalidDigit {
        /// 1-based character column.
        column: usize,
        /// The character found.
        found: char,
    },
    /// A token with an odd number of hex digits.
    #[error(
        "column {column}: {token:?} has an odd number of hex digits (write bytes as two digits, like 0{last})"
    )]
    OddDigits {
        /// 1-based column where the token starts.
        column: usize,
        /// The token.
        token: String,
        /// Its last digit, for the hint.
        last: char,
    },
    /// `0x` with no digits after it.
    #[error("column {column}: `0x` without digits")]
    EmptyPrefix {
        /// 1-based column of the `0`.
        column: usize,
    },
}

fn is_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, ',' | ':' | '.' | '-')
}

/// Parses hex text into bytes (see the module doc for the forms accepted).
pub fn parse_hex(text: &str) -> Result<Vec<u8>, HexError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let Some(&c) = chars.get(i) else { break };
        if is_separator(c) {
            i += 1;
            continue;
        }
        let start = i;
        let mut end = i;
        while chars.get(end).is_some_and(|&c| !is_separator(c)) {
            end += 1;
        }
        let token = chars.get(start..end).unwrap_or(&[]);
        let (digits, digits_start) = match token {
            ['0', 'x' | 'X', rest @ ..] => (rest, start + 2),
            _ => (token, start),
        };
        if digits.is_empty() {
            return Err(HexError::EmptyPrefix { column: start + 1 });
        }
        let mut values = Vec::with_capacity(digits.len());
        for (k, &d) in digits.iter().enumerate() {
            let v = d.to_digit(16).ok_or(HexError::InvalidDigit {
                column: digits_start + k + 1,
                found: d,
            })?;
            values.push(v as u8);
        }
        if values.len() % 2 != 0 {
            return Err(HexError::OddDigits {
                column: start + 1,
                token: token.iter().collect(),
                last: digits.last().copied().unwrap_or('0'),
            });
        }
        out.extend(values.chunks_exact(2).map(|p| match p {
            &[h, l] => (h << 4) | l,
            _ => 0,
        }));
        i = end;
    }
    if out.is_empty() {
        return Err(HexError::Empty);
    }
    Ok(out)
}

/// Bytes as upper-case hex pairs separated by spaces: `10 C0`.
pub fn format_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        let _ = write!(s, "{b:02X}");
    }
    s
}

/// A padding byte that is not one hex byte or `none`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("one hex byte (like FF) or `none`, not `{0}`")]
pub struct PaddingError(pub String);

/// An ISO-TP padding byte: one hex byte (`FF`, `0xAA`), or `none` (any case) for unpadded
/// frames.
pub fn parse_padding(text: &str) -> Result<Option<u8>, PaddingError> {
    if text.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    match parse_hex(text).as_deref() {
        Ok(&[b]) => Ok(Some(b)),
        _ => Err(PaddingError(text.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn test_parse_hex_forms() {
        let want = vec![0x10, 0xC0];
        for t in [
            "10 C0",
            "10C0",
            "0x10 0xC0",
            "0x10C0",
            "10:c0",
            "10,C0",
            "10.C0",
            "10-C0",
            "  10\tC0\n",
            "0X10, 0Xc0",
        ] {
            assert_eq!(parse_hex(t), Ok(want.clone()), "{t:?}");
        }
        assert_eq!(parse_hex("3E80 21 01"), Ok(vec![0x3E, 0x80, 0x21, 0x01]));
        assert_eq!(parse_hex("00"), Ok(vec![0]));
    }

    #[test]
    fn test_parse_hex_errors() {
        assert_eq!(parse_hex(""), Err(HexError::Empty));
        assert_eq!(parse_hex(" , "), Err(HexError::Empty));
        assert_eq!(
            parse_hex("10 CG"),
            Err(HexError::InvalidDigit {
                column: 5,
                found: 'G'
            })
        );
        assert_eq!(
            parse_hex("1 C0"),
            Err(HexError::OddDigits {
                column: 1,
                token: "1".into(),
                last: '1'
            })
        );
        assert_eq!(
            parse_hex("10 0xC"),
            Err(HexError::OddDigits {
                column: 4,
                token: "0xC".into(),
                last: 'C'
            })
        );
        assert_eq!(parse_hex("10 0x"), Err(HexError::EmptyPrefix { column: 4 }));
        assert_eq!(
            parse_hex("é0"),
            Err(HexError::InvalidDigit {
                column: 1,
                found: 'é'
            })
        );
        assert!(parse_hex("1 C0").unwrap_err().to_string().contains("01"));
    }

    #[test]
    fn test_parse_padding() {
        assert_eq!(parse_padding("none"), Ok(None));
        assert_eq!(parse_padding("NONE"), Ok(None));
        assert_eq!(parse_padding("FF"), Ok(Some(0xFF)));
        assert_eq!(parse_padding("0xAA"), Ok(Some(0xAA)));
        for bad in ["AABB", "", "F", "zz", "AA BB"] {
            assert_eq!(
                parse_padding(bad),
                Err(PaddingError(bad.to_string())),
                "{bad}"
            );
        }
        assert_eq!(
            parse_padding("AABB").unwrap_err().to_string(),
            "one hex byte (like FF) or `none`, not `AABB`"
        );
    }

    #[test]
    fn test_emit_hex() {
        assert_eq!(format_hex(&[0x10, 0xC0]), "10 C0");
        assert_eq!(format_hex(&[]), "");
        assert_eq!(format_hex(&[0x0A]), "0A");
    }

    proptest! {
        #[test]
        fn test_hex_round_trip(bytes in proptest::collection::vec(any::<u8>(), 1..64)) {
            let text = format_hex(&bytes);
            prop_assert_eq!(parse_hex(&text), Ok(bytes.clone()));
            prop_assert_eq!(parse_hex(&text.replace(' ', "")), Ok(bytes.clone()));
            let prefixed: Vec<String> = bytes.iter().map(|b| format!("0x{b:02x}")).collect();
            prop_assert_eq!(parse_hex(&prefixed.join(" ")), Ok(bytes));
        }

        #[test]
        fn test_parse_hex_never_panics(s in ".{0,40}") {
            let _ = parse_hex(&s);
        }
    }
}

//! Byte-level lexing shared by the text capture formats (candump, Vector ASC, candump's
//! screen output): hex digits, blanks, tokens and decimal runs. Positions are byte offsets
//! into the line; nothing here allocates or panics, whatever the input.

const fn hex_table() -> [u8; 256] {
    let mut t = [0xFFu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
}

static HEX_VALUE: [u8; 256] = hex_table();

/// The value of a hex digit, or a value above 15.
#[inline(always)]
pub(super) fn hexval(b: u8) -> u8 {
    HEX_VALUE[usize::from(b)]
}

/// A space or a tab.
#[inline(always)]
pub(super) fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// The first position from `p` that is not a blank (the end of `s` at most).
#[inline(always)]
pub(super) fn skip_blanks(s: &[u8], p: usize) -> usize {
    p + s
        .get(p..)
        .map_or(0, |r| r.iter().take_while(|&&b| is_blank(b)).count())
}

/// The end of the token starting at `p`: the first blank from `p`, or the end of `s`.
#[inline(always)]
pub(super) fn token_end(s: &[u8], p: usize) -> usize {
    p + s.get(p..).map_or(0, |r| {
        r.iter().position(|&b| is_blank(b)).unwrap_or(r.len())
    })
}

/// Decimal digits from `p`: the value (wrapping; only exact up to 19 digits) and their count.
#[inline(always)]
pub(super) fn decimal(s: &[u8], p: usize) -> (u64, usize) {
    let mut v: u64 = 0;
    let mut n = 0;
    for &b in s.get(p..).unwrap_or_default() {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        v = v.wrapping_mul(10).wrapping_add(u64::from(d));
        n += 1;
    }
    (v, n)
}

/// The length of `line` without trailing `\n`, `\r`, spaces and tabs.
#[inline]
pub(super) fn trimmed_len(line: &[u8]) -> usize {
    let mut end = line.len();
    while let Some(&b) = end.checked_sub(1).and_then(|i| line.get(i)) {
        if matches!(b, b'\n' | b'\r' | b' ' | b'\t') {
            end -= 1;
        } else {
            break;
        }
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_hexval_is_the_digit_value_or_above_15() {
        for b in 0..=255u8 {
            let want = (b as char).to_digit(16).map(|d| d as u8);
            match want {
                Some(d) => assert_eq!(hexval(b), d, "{b:#04x}"),
                None => assert!(hexval(b) > 15, "{b:#04x}"),
            }
        }
    }

    #[test]
    fn test_tokens_blanks_and_decimals() {
        let s = b"  ab\tcd  ";
        assert_eq!(skip_blanks(s, 0), 2);
        assert_eq!(token_end(s, 2), 4);
        assert_eq!(skip_blanks(s, 4), 5);
        assert_eq!(token_end(s, 5), 7);
        assert_eq!(skip_blanks(s, 7), 9);
        assert_eq!(token_end(s, 9), 9);
        // Past the end: nothing, no panic.
        assert_eq!(skip_blanks(s, 20), 20);
        assert_eq!(token_end(s, 20), 20);
        assert_eq!(decimal(b"x0123y", 1), (123, 4));
        assert_eq!(decimal(b"x", 1), (0, 0));
        assert_eq!(decimal(b"x", 5), (0, 0));
        assert_eq!(trimmed_len(b"ab \t\r\n"), 2);
        assert_eq!(trimmed_len(b" \n"), 0);
        assert_eq!(trimmed_len(b""), 0);
    }
}

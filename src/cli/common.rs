//! What several commands share: option groups (flattened into each command's arguments, so a
//! flag has one spelling, one help text and one meaning everywhere), value parsers, and the
//! runtime helpers of live commands.
//!
//! - `--dbc FILE` (repeatable): the DBC files; the bundled J11 definitions when none.
//! - `--filter ID[:MASK]` (repeatable): candump's filter syntax.
//! - `--speed F|max`: how fast captures play against their own time line: a factor above 0
//!   (1 = as recorded), or `max` for as fast as they can be read.
//! - Durations in seconds: a number from 0 to 100 years, parsed one way everywhere.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::anyhow;
use canrelearn::bus::{Filter, Pacing};

use super::{CliError, WithCode, exit};

/// `--dbc FILE`.
#[derive(Debug, Clone, clap::Args)]
pub struct DbcArgs {
    /// DBC file to decode with (repeat for several); default: the bundled Nissan Qashqai J11
    /// definitions.
    #[arg(long = "dbc", value_name = "FILE")]
    pub dbc: Vec<PathBuf>,
}

/// `--filter ID[:MASK]`.
#[derive(Debug, Clone, clap::Args)]
pub struct FilterArgs {
    /// Only frames matching ID[:MASK] (candump syntax: `123`, `123:7FF`,
    /// `12345678:1FFFFFFF`, `123~7FF` inverted); repeat for several. Kernel filters on
    /// interfaces.
    #[arg(long = "filter", value_name = "ID[:MASK]", value_parser = parse_filter)]
    pub filters: Vec<Filter>,
}

/// How fast captures play: a factor of their own time line, or as fast as possible.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    Factor(f64),
    Max,
}

impl Speed {
    /// The pacing of a capture read at this speed.
    pub fn pacing(self) -> Pacing {
        match self {
            Speed::Factor(speed) => Pacing::RealTime { speed },
            Speed::Max => Pacing::Unpaced,
        }
    }
}

/// `F` (a number above 0) or `max`.
pub fn parse_speed(s: &str) -> Result<Speed, String> {
    if s.eq_ignore_ascii_case("max") {
        return Ok(Speed::Max);
    }
    match s.parse::<f64>() {
        Ok(f) if f.is_finite() && f > 0.0 && f <= 1e6 => Ok(Speed::Factor(f)),
        _ => Err(format!(
            "{s:?}: give a speed factor above 0 (1 = as recorded, 10 = ten times faster) or `max` (as fast as possible)"
        )),
    }
}

pub fn parse_filter(text: &str) -> Result<Filter, String> {
    Filter::parse(text).map_err(|e| e.to_string())
}

/// The longest duration a command takes: 100 years.
pub const MAX_SECONDS: f64 = 100.0 * 365.25 * 86_400.0;

/// Seconds as a duration: 0 to 100 years; negative, non-finite or larger values are usage
/// errors (exit 2).
pub fn seconds(s: f64, what: &str) -> Result<Duration, CliError> {
    if !(s.is_finite() && (0.0..=MAX_SECONDS).contains(&s)) {
        return Err(fail!(
            USAGE,
            "{what} must be a number of seconds from 0 to {MAX_SECONDS:.0} (100 years), not {s}"
        ));
    }
    Duration::try_from_secs_f64(s)
        .map_err(|_| anyhow!("{what} must be a number of seconds, not {s}"))
        .code(exit::USAGE)
}

/// A value parser for durations in seconds (the same rule as [`seconds`]).
pub fn parse_seconds(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    seconds(v, "the duration").map_err(|e| format!("{:#}", e.error))
}

/// A current-thread tokio runtime for a live command.
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .code(exit::BUS_IO)
}

/// The instant `limit` from now; a limit too far to represent is a usage error.
pub fn deadline_after(limit: Option<Duration>) -> Result<Option<tokio::time::Instant>, CliError> {
    limit
        .map(|d| {
            tokio::time::Instant::now()
                .checked_add(d)
                .ok_or_else(|| fail!(USAGE, "--duration is too long"))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_speed_has_one_meaning() {
        assert_eq!(parse_speed("2"), Ok(Speed::Factor(2.0)));
        assert_eq!(parse_speed("max"), Ok(Speed::Max));
        assert_eq!(parse_speed("MAX"), Ok(Speed::Max));
        for bad in ["0", "-1", "nan", "inf", "fast", ""] {
            assert!(parse_speed(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn test_seconds_bounds() {
        assert!(parse_seconds("0").is_ok());
        assert!(parse_seconds("1.5").is_ok());
        for bad in ["-1", "1e19", "nan", "x"] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
    }
}

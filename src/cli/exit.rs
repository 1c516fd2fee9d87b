//! Exit codes of `canrelearn`, one table for the whole tool (also in README and `--help`).

/// Success. Also used when standard output is closed early (a broken pipe, e.g. `| head`).
pub const OK: u8 = 0;
/// A procedure or diagnostic request failed (negative response, verification failed).
#[allow(
    dead_code,
    reason = "documented now, returned by the diag and run commands"
)]
pub const FAILURE: u8 = 1;
/// Usage or input error: bad arguments, an unreadable or malformed log, DBC or script.
pub const USAGE: u8 = 2;
/// Communication lost: a watched node went silent (`watch --fail-on-loss`).
pub const COMM_LOST: u8 = 3;
/// Bus or I/O error: a missing or down interface, a module that never answered, a write error.
pub const BUS_IO: u8 = 4;

/// The table printed at the end of `--help`.
pub const HELP_TABLE: &str = "\
Exit codes:
  0  success (also when the output pipe is closed early)
  1  procedure or diagnostic failure
  2  usage or input error (bad arguments, malformed log, DBC or script)
  3  communication lost (a watched node went silent)
  4  bus or I/O error (interface missing or down, no answer, write error)";

//! Exit codes of `canrelearn`, one table for the whole tool (also in README and `--help`).

/// Success. Also used when standard output is closed early (a broken pipe, e.g. `| head`) by a
/// command that has no verdict of its own (decode, dump); a command with a verdict (`dbc check`,
/// `watch --fail-on-loss`) keeps it.
pub const OK: u8 = 0;
/// A procedure or diagnostic request failed (negative response, verification failed); or
/// nothing came where something was asked for (no frame to dump or record, no diagnostic
/// message to sniff, no module answering a scan, no frame of the DBC to decode), said on
/// stderr.
pub const FAILURE: u8 = 1;
/// Usage or input error: bad arguments, an unreadable, damaged or malformed log, DBC or script.
pub const USAGE: u8 = 2;
/// Communication lost: a watched node went silent (`watch --fail-on-loss`).
pub const COMM_LOST: u8 = 3;
/// Bus or I/O error: a missing or down interface, a module that never answered, a write error.
pub const BUS_IO: u8 = 4;
/// Not confirmed: sending to a real (non-virtual) CAN interface was declined, or there was no
/// terminal to ask on and no `--yes`; nothing was sent.
pub const NOT_CONFIRMED: u8 = 5;
/// The watch could not judge: its arming condition never held, so nothing was watched
/// (`watch --fail-on-loss`).
pub const NOT_JUDGED: u8 = 6;

/// The table printed at the end of `--help`.
pub const HELP_TABLE: &str = "\
Exit codes:
  0  success (also when the output pipe is closed early, unless the command has a verdict)
  1  procedure or diagnostic failure, or nothing came (no frame to dump or record,
     no diagnostic message to sniff, no module answering a scan, no frame of the DBC
     to decode)
  2  usage or input error (bad arguments, malformed or damaged log, DBC or script)
  3  communication lost (a watched node went silent)
  4  bus or I/O error (interface missing or down, no answer, write error)
  5  not confirmed: nothing was sent to a real CAN interface
  6  nothing judged: the watch's arming condition never held
  130  interrupted by Ctrl-C before the end, after writing everything done so far
       (143 for SIGTERM, 129 for SIGHUP); live commands that run until stopped exit 0";

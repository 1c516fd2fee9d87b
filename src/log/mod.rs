//! CAN log file formats.
//!
//! Pure readers and writers for the text formats CAN tools exchange: today the `candump -l` /
//! `candump -L` log format of can-utils ([`candump`]). Every reader streams over any
//! [`std::io::BufRead`] with bounded memory, reports bad lines as typed errors carrying the file,
//! line and column, and never panics on input; every writer formats into a reusable buffer. No
//! module here touches sockets, tokio or the system clock: timestamps come from the log.

pub mod candump;

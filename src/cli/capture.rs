//! Opening captures at the command line: [`canrelearn::open`] with exit codes and interrupts.
//!
//! Every command that reads a log goes through here: missing, empty, unrecognised and
//! damaged inputs are input errors (exit 2) naming the file; a read failing on a device is 4.
//! Malformed records are reported by [`BadLines`]: the first [`canrelearn::log::MAX_REPORTED`] one by one with
//! file and line, then counted, with a closing total.

use std::path::Path;
use std::sync::Arc;

use anyhow::anyhow;
use canrelearn::frame::Frame;
use canrelearn::log::{self, Format, FrameReader, ReadError, Walk};
use canrelearn::open::{self as edge, OpenError, is_damage};
use canrelearn::time::Timestamp;

use super::{CliError, exit, out};

pub use canrelearn::open::{Opened, reader};

/// The exit code of an opening error.
pub fn open_error(e: OpenError) -> CliError {
    let code = if e.is_input_error() {
        exit::USAGE
    } else {
        exit::BUS_IO
    };
    CliError::new(code, e)
}

/// Opens a capture: decompresses gzip, recognises the format (or takes `forced`). A signal
/// while waiting for the first bytes (a pipe) stops the wait.
pub fn open(path: &Path, forced: Option<Format>) -> Result<Opened, CliError> {
    edge::open(path, forced, &super::signals::interrupted).map_err(open_error)
}

pub use canrelearn::open::{Decodable, is_regular_file};

/// [`canrelearn::open::open_decodable`], stopped by a signal, with exit codes.
pub fn open_decodable(path: &Path) -> Result<(Arc<str>, Decodable), CliError> {
    canrelearn::open::open_decodable(path, super::signals::interrupted).map_err(open_error)
}

/// Opens `path` and gives its reader.
pub fn open_reader(path: &Path, forced: Option<Format>) -> Result<Box<dyn FrameReader>, CliError> {
    Ok(reader(open(path, forced)?))
}

/// Reads the log at `path`, giving every frame to `frame` in order and every malformed
/// record to `bad`, until its end, a signal, or damage ([`Walk`]; [`read_error`] gives a
/// failure's exit code).
pub fn each_frame(
    path: &Path,
    bad: &mut BadLines,
    mut frame: impl FnMut(Timestamp, &Frame) -> Result<(), CliError>,
) -> Result<Walk, CliError> {
    let mut reader = open_reader(path, None)?;
    log::each_frame(
        reader.as_mut(),
        &super::signals::interrupted,
        &mut |e| bad.take(e),
        &mut |r| frame(r.timestamp, &r.frame),
    )
}

/// The exit code and message of a reader's error: malformed records and damaged input are
/// input errors (2), other I/O errors are 4.
pub fn read_error(e: ReadError) -> CliError {
    let code = match &e {
        ReadError::Io { error, .. } if !is_damage(error) => exit::BUS_IO,
        _ => exit::USAGE,
    };
    CliError::new(code, anyhow!(edge::read_error_text(&e)))
}

/// Learns a baseline from a capture (every frame, in the capture's own time order). A capture
/// with no frame, or a read interrupted by a signal, is an error: a baseline from part of a
/// capture would be wrong without a word.
pub fn learn(path: &Path) -> Result<canrelearn::baseline::Baseline, CliError> {
    let mut reader = open_reader(path, None)?;
    let mut learner = canrelearn::baseline::Learner::default();
    let mut bad = BadLines::new();
    let walk = log::each_frame::<CliError>(
        reader.as_mut(),
        &super::signals::interrupted,
        &mut |e| bad.take(e),
        &mut |r| {
            learner.add(r.timestamp, &r.frame);
            Ok(())
        },
    )?;
    match walk {
        Walk::Complete => {}
        Walk::Stopped => {
            return Err(fail!(
                FAILURE,
                "interrupted while learning from {}",
                path.display()
            ));
        }
        Walk::Failed(e) => return Err(read_error(e)),
    }
    bad.finish();
    let baseline = learner.finish();
    if baseline.ids.is_empty() {
        return Err(fail!(
            USAGE,
            "{}: no CAN frame to learn from",
            path.display()
        ));
    }
    if baseline.out_of_order > 0 {
        out::warn(format!(
            "{}: {} frames earlier than one before them were taken at the latest time",
            path.display(),
            baseline.out_of_order
        ));
    }
    Ok(baseline)
}

/// Says malformed records on stderr ([`canrelearn::log::BadRecords`]'s rule).
#[derive(Debug, Default)]
pub struct BadLines(canrelearn::log::BadRecords);

impl BadLines {
    pub fn new() -> BadLines {
        BadLines::default()
    }

    /// Reports one malformed record.
    pub fn report(&mut self, e: &dyn std::fmt::Display) {
        if let Some(w) = self.0.report(e) {
            out::warn(w);
        }
    }

    /// The closing line, if any was reported.
    /// [`BadLines::report`] as a walk's callback ([`log::each_frame`]): reading goes on.
    pub fn take<E>(&mut self, e: ReadError) -> Result<(), E> {
        self.report(&e);
        Ok(())
    }

    pub fn finish(&self) {
        if let Some(w) = self.0.summary() {
            out::warn(w);
        }
    }
}

#[cfg(test)]
mod tests {
    //! The exit codes of opening and reading errors; what the library reports is tested in
    //! `canrelearn::open`.
    use super::*;

    fn io_error(kind: std::io::ErrorKind) -> ReadError {
        ReadError::Io {
            source_name: Some(Arc::from("cut.log.gz")),
            location: log::Location::Line { line: 7, column: 1 },
            error: std::io::Error::new(kind, "it ends in the middle (a truncated file)"),
        }
    }

    #[test]
    fn test_damage_is_an_input_error_and_a_failing_read_is_4() {
        let e = read_error(io_error(std::io::ErrorKind::InvalidData));
        assert_eq!(e.code, exit::USAGE);
        assert_eq!(
            e.error.to_string(),
            edge::read_error_text(&io_error(std::io::ErrorKind::InvalidData))
        );
        let e = read_error(io_error(std::io::ErrorKind::Other));
        assert_eq!(e.code, exit::BUS_IO);
    }

    #[test]
    fn test_unknown_content_and_missing_files_exit_2() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.log");
        std::fs::write(&p, b"hello world\nthis is not a capture\n").unwrap();
        let e = open(&p, None).err().unwrap();
        assert_eq!(e.code, exit::USAGE);
        let e = open(&dir.path().join("missing.lgo"), None).err().unwrap();
        assert_eq!(e.code, exit::USAGE);
    }
}

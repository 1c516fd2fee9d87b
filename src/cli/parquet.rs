//! `canrelearn decode --format parquet -o DIR`: captures into a Parquet data set, one capture
//! per worker thread, as many at a time as there are cores (the blocks of a candump log
//! decoded on the cores left over, so that one big log uses them all).
//!
//! Every capture gets its own files (`part-<RUN>-<N>-<NAME>-...`) in `DIR/frames/` and
//! `DIR/messages/<MESSAGE>/`, so that captures decode in parallel and a later run adds files
//! beside the earlier ones instead of rewriting them. A capture that fails (unreadable,
//! damaged, a malformed record with --strict, interrupted) still publishes the frames decoded
//! before; the run then exits with that capture's code.
//!
//! The decoding is [`canrelearn::drive::dataset::decode_captures`]'s; this checks the
//! arguments, shows the progress, and says the outcome with its exit code.

use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};

use canrelearn::dbc::layout_warnings;
use canrelearn::drive::dataset::{
    self, CaptureError, DirStore, Progress, Settings, Totals, decode_captures,
};
use canrelearn::open::is_regular_file;
use canrelearn::output::parquet::Resolution;

use super::decode::{LAYOUT_SHOWN, warn_layout_errors};
use super::{CliError, capture, input, out, signals};

/// Decodes `logs` into the data set at `root` with `jobs` workers
/// ([`canrelearn::drive::dataset::decode_captures`]) with the DBC files `dbc`.
pub fn run(
    dbc: &[PathBuf],
    logs: &[PathBuf],
    root: &Path,
    resolution: Resolution,
    strict: bool,
    jobs: usize,
) -> Result<u8, CliError> {
    // The DBC loads on this thread while another opens the first log, if it is a regular
    // file, and reads and scans its first blocks.
    let (loaded, first) = input::load_dbcs_beside(
        dbc,
        |db| {
            let warnings = layout_warnings(&db, LAYOUT_SHOWN);
            (db, warnings)
        },
        logs.first().filter(|p| is_regular_file(p)).map(|path| {
            move |keep_going: &dyn Fn() -> bool| {
                dataset::open_ahead(path, signals::interrupted, keep_going)
            }
        }),
    );
    // A reader that failed leaves the first log to be opened again.
    let first = first.and_then(|r| r.ok());
    let (database, warnings) = loaded?;
    warn_layout_errors(warnings);
    let db = &database;
    if logs.iter().filter(|p| *p == Path::new("-")).count() > 1 {
        return Err(fail!(USAGE, "standard input (`-`) can be read once only"));
    }
    if root.exists() && !root.is_dir() {
        return Err(fail!(
            USAGE,
            "{} exists and is not a folder: --format parquet writes a data set folder",
            root.display()
        ));
    }
    let store = DirStore::new(root).map_err(|e| {
        fail!(
            BUS_IO,
            "cannot create the data set folder {}: {e}",
            root.display()
        )
    })?;
    let bar = progress(logs.len());
    let settings = Settings {
        resolution,
        strict,
        jobs,
    };
    let results = decode_captures(
        db,
        logs,
        first,
        &store,
        &dataset::run_id(),
        settings,
        signals::interrupted,
        &|p| match p {
            Progress::Warning(w) => out::warn(w),
            Progress::Finished(_) => {
                if let Some(bar) = &bar {
                    bar.inc(1);
                }
            }
        },
    );
    // The process ends with this command: the compiled DBC's allocations are left to the
    // exit instead of freed one by one.
    std::mem::forget(database);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let Totals {
        written: total,
        bad,
        known,
        failures,
    } = Totals::of(results);
    // The first failure is the run's error; the others are said as they are met.
    let mut failure: Option<CliError> = None;
    for (i, e) in failures {
        let e = capture_error(e);
        match (&failure, logs.get(i)) {
            (None, _) => failure = Some(e),
            (Some(_), Some(path)) => out::warn(format!("{}: {}", path.display(), e.error)),
            (Some(_), None) => out::warn(e.error),
        }
    }
    for w in total.warnings() {
        out::warn(w);
    }
    if total.frames > 0 || failure.is_none() {
        out::note(format!("{}: {}", root.display(), total.summary()));
    }
    if let Some(e) = failure {
        return Err(e);
    }
    if signals::interrupted() {
        return Ok(signals::exit_code());
    }
    super::decode::verdict(logs, dbc, total.frames, known, bad)
}

/// The exit code of a capture's failure: opening and reading errors as every command's, a
/// data set that cannot be written (a full disk, a folder that cannot be made) 4, as every
/// command's write error.
fn capture_error(e: CaptureError) -> CliError {
    match e {
        CaptureError::Open(e) => capture::open_error(e),
        CaptureError::Read(e) => capture::read_error(e),
        e @ (CaptureError::Dataset { .. } | CaptureError::Write { .. }) => {
            fail!(BUS_IO, "{e}")
        }
    }
}

fn progress(logs: usize) -> Option<indicatif::ProgressBar> {
    if logs < 2 || !io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(logs as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "decode [{elapsed_precise}] {wide_bar} {pos}/{len} logs",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(bar)
}

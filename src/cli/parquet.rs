//! `canrelearn decode --format parquet -o DIR`: captures into a Parquet data set, one capture
//! per worker thread, as many at a time as there are cores (the blocks of a candump log
//! decoded on the cores left over, so that one big log uses them all).
//!
//! Every capture gets its own files (`part-<RUN>-<N>-<NAME>-...`) in `DIR/frames/` and
//! `DIR/messages/<MESSAGE>/`, so that captures decode in parallel and a later run adds files
//! beside the earlier ones instead of rewriting them. A capture that fails (unreadable,
//! damaged, a malformed record with --strict, interrupted) still publishes the frames decoded
//! before; the run then exits with that capture's code.

use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::anyhow;
use canrelearn::dbc::Database;
use canrelearn::drive::dataset::DirStore;
use canrelearn::output::parquet::{DatasetWriter, Resolution, Written, part_stem};
use canrelearn::output::pipeline::{self, Feed, PipelineError, Sink};

use super::capture::{self, Decodable};
use super::{CliError, exit, out, signals};

/// What one capture gave.
struct Outcome {
    written: Written,
    bad: u64,
    /// Why the capture ended early (what was decoded before is in `written`).
    error: Option<CliError>,
}

/// Decodes `logs` into the data set at `root` with `jobs` workers.
pub fn run(
    db: &Database,
    logs: &[PathBuf],
    root: &Path,
    resolution: Resolution,
    strict: bool,
    jobs: usize,
) -> Result<u8, CliError> {
    if logs.iter().filter(|p| *p == Path::new("-")).count() > 1 {
        return Err(CliError::new(
            exit::USAGE,
            anyhow!("standard input (`-`) can be read once only"),
        ));
    }
    if root.exists() && !root.is_dir() {
        return Err(CliError::new(
            exit::USAGE,
            anyhow!(
                "{} exists and is not a folder: --format parquet writes a data set folder",
                root.display()
            ),
        ));
    }
    let store = DirStore::new(root).map_err(|e| {
        CliError::new(
            exit::FAILURE,
            anyhow!("cannot create the data set folder {}: {e}", root.display()),
        )
    })?;
    let run = run_id();
    let bar = progress(logs.len());
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<Result<Outcome, CliError>>>> =
        logs.iter().map(|_| Mutex::new(None)).collect();
    let workers = jobs.clamp(1, logs.len().max(1));
    // The cores left over when there are fewer logs than cores go to each log's blocks.
    let per_log = (jobs / workers).max(1);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = logs.get(i) else { break };
                    if signals::interrupted() {
                        break;
                    }
                    let part = format!("{run}-{i:03}-{}", stem(path));
                    let settings = (resolution, strict, per_log);
                    let outcome = one(db, path, &store, &part, settings);
                    if let Some(slot) = results.get(i)
                        && let Ok(mut slot) = slot.lock()
                    {
                        *slot = Some(outcome);
                    }
                    if let Some(bar) = &bar {
                        bar.inc(1);
                    }
                }
            });
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let mut total = Written::default();
    let mut bad = 0;
    let mut failure: Option<CliError> = None;
    for (path, slot) in logs.iter().zip(results) {
        match slot.into_inner().ok().flatten() {
            Some(Ok(o)) => {
                bad += o.bad;
                total.add(o.written);
                if let Some(e) = o.error {
                    fail(&mut failure, path, e);
                }
            }
            Some(Err(e)) => fail(&mut failure, path, e),
            None => {} // interrupted before it started
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
    if total.frames == 0 {
        return Err(super::decode::no_frames(logs, bad));
    }
    Ok(exit::OK)
}

/// The first failure is the run's error; the others are said as they are met.
fn fail(failure: &mut Option<CliError>, path: &Path, e: CliError) {
    match failure {
        None => *failure = Some(e),
        Some(_) => out::warn(format!("{}: {}", path.display(), e.error)),
    }
}

/// Decodes one capture into its own files; what was decoded before a failure is published.
fn one(
    db: &Database,
    path: &Path,
    store: &DirStore,
    part: &str,
    (resolution, strict, jobs): (Resolution, bool, usize),
) -> Result<Outcome, CliError> {
    let (name, input) = capture::open_decodable(path)?;
    let root = store.root();
    let dataset_error = |e: &dyn std::fmt::Display| {
        CliError::new(
            exit::FAILURE,
            anyhow!("cannot write the data set in {}: {e}", root.display()),
        )
    };
    let mut writer =
        DatasetWriter::new(db, store, part, resolution).map_err(|e| dataset_error(&e))?;
    // Every warning names the capture (the block pipeline's already do, with the line).
    let mut warn = |w: String| match w.starts_with(&*name) {
        true => out::warn(w),
        false => out::warn(format!("{name}: {w}")),
    };
    let mut sink = Sink::new(io::sink(), strict, &mut warn);
    let decoded = match input {
        // Candump text: blocks of lines decoded on `jobs` threads.
        Decodable::Lines(blocks) => {
            let feed = Feed::new(blocks.with_size(pipeline::ROWS_BLOCK));
            pipeline::decode_feed_into(db, strict, feed, &mut sink, jobs, &mut writer)
        }
        Decodable::Records(mut reader) => pipeline::each_record(
            db,
            reader.as_mut(),
            &mut sink,
            signals::interrupted,
            &mut |line, _| writer.push(line).map_err(io::Error::other),
        ),
    };
    sink.summary();
    let bad = sink.bad();
    // Whatever happened, the frames decoded so far are published.
    let written = writer.finish().map_err(|e| dataset_error(&e))?;
    let error = match decoded {
        Ok(()) => None,
        Err(PipelineError::Read(e)) => Some(capture::read_error(e)),
        Err(PipelineError::Write(e)) => Some(dataset_error(&e)),
    };
    Ok(Outcome {
        written,
        bad,
        error,
    })
}

/// A name for this run's files, unique among runs writing into one folder: the time in
/// milliseconds and the process id.
fn run_id() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("{ms:x}-{:x}", std::process::id())
}

/// The capture's file name, as safe characters, for its files' names.
fn stem(path: &Path) -> String {
    match path == Path::new("-") {
        true => "stdin".to_string(),
        false => part_stem(
            &path
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default(),
        ),
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

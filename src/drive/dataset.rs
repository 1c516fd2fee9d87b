//! A data set folder on disk for [`crate::output::parquet`]: files are written under a hidden
//! temporary name (`.NAME.tmp`, which DuckDB's globs and Spark skip), flushed to disk, then
//! linked to their name, never over an existing file, and the temporary name removed. A file
//! that is not completed (a full disk, a write error) is removed when the writer drops it; a
//! crash leaves at worst a hidden temporary file, never a visible file a reader would take for
//! a whole one.
//!
//! [`decode_captures`] decodes captures into such a folder, one capture per worker thread, as
//! many at a time as there are cores (the blocks of a candump log decoded on the cores left
//! over, so that one big log uses them all). Every capture gets its own files
//! (`part-<RUN>-<N>-<NAME>-...`), so that captures decode in parallel and a later run adds
//! files beside the earlier ones instead of rewriting them. A capture that fails (unreadable,
//! damaged, a malformed record with `strict`) still publishes the frames decoded before.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::dbc::Database;
use crate::log::{FrameReader, ReadError};
use crate::open::{self, Decodable, OpenError};
use crate::output::parquet::{
    DatasetError, DatasetWriter, Resolution, StagedFile, Store, Written, part_stem,
};
use crate::output::pipeline::{self, Feed, PipelineError, Sink};

/// A folder holding a data set.
#[derive(Debug, Clone)]
pub struct DirStore {
    root: PathBuf,
}

impl DirStore {
    /// The folder `root`, created if missing.
    pub fn new(root: &Path) -> io::Result<DirStore> {
        fs::create_dir_all(root)?;
        Ok(DirStore {
            root: root.to_path_buf(),
        })
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl Store for DirStore {
    fn create(&self, path: &str) -> io::Result<Box<dyn StagedFile>> {
        let path = self.root.join(path);
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "no file name"));
        };
        fs::create_dir_all(dir)?;
        let mut hidden = std::ffi::OsString::from(".");
        hidden.push(name);
        hidden.push(".tmp");
        let temporary = dir.join(hidden);
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&temporary)?;
        Ok(Box::new(Staged {
            out: Some(BufWriter::with_capacity(1 << 20, file)),
            temporary,
            path,
            temporary_gone: false,
        }))
    }
}

struct Staged {
    /// Taken only when the file is dropped.
    out: Option<BufWriter<File>>,
    temporary: PathBuf,
    path: PathBuf,
    /// Published and its temporary name gone: nothing to remove when dropped.
    temporary_gone: bool,
}

impl Staged {
    fn out(&mut self) -> io::Result<&mut BufWriter<File>> {
        self.out
            .as_mut()
            .ok_or_else(|| io::Error::other("the file was closed"))
    }
}

impl Write for Staged {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out()?.write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.out()?.write_all(buf)
    }
    /// Nothing: the file's bytes matter only when it is published (which writes out what is
    /// buffered, then flushes it to disk), and the Parquet writer flushes its sink after every
    /// column chunk, which would make a small write of each.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl StagedFile for Staged {
    fn publish(mut self: Box<Self>) -> io::Result<()> {
        let out = self.out()?;
        out.flush()?;
        out.get_ref().sync_data()?;
        // A hard link fails if the name exists; where links are not supported, a rename
        // after a check (which a concurrent writer of the same name could race).
        match fs::hard_link(&self.temporary, &self.path) {
            Ok(()) => {
                fs::remove_file(&self.temporary)?;
                self.temporary_gone = true;
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(e),
            Err(_) if self.path.exists() => Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "a file of that name exists",
            )),
            Err(_) => {
                fs::rename(&self.temporary, &self.path)?;
                self.temporary_gone = true;
                Ok(())
            }
        }
    }
}

impl Drop for Staged {
    /// A file dropped unpublished (the data set could not be completed: a full disk, a write
    /// error, a failed publish) is removed, its buffered bytes discarded unwritten: a failed
    /// run leaves no temporary files behind it to fill the disk further. Only the temporary
    /// name is removed, never a published file. Best effort: what cannot be removed stays
    /// hidden.
    fn drop(&mut self) {
        if let Some(out) = self.out.take() {
            drop(out.into_parts());
        }
        if !self.temporary_gone {
            let _ = fs::remove_file(&self.temporary);
        }
    }
}

/// How [`decode_captures`] decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// The resolution of the timestamps.
    pub resolution: Resolution,
    /// A malformed record ends its capture (what was decoded before is published).
    pub strict: bool,
    /// Cores: up to this many captures at a time; the cores left over when there are fewer
    /// captures go to each candump log's blocks.
    pub jobs: usize,
}

/// Why a capture gave nothing, or ended early.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// It could not be opened (missing, empty, not a capture, a failing device).
    #[error(transparent)]
    Open(#[from] OpenError),
    /// Its reading failed (damage, a failing device) or, with `strict`, a record was
    /// malformed. Said as [`open::read_error_text`] says it.
    #[error("{}", open::read_error_text(.0))]
    Read(ReadError),
    /// The data set's writer could not be made or finished.
    #[error("cannot write the data set in {}: {error}", root.display())]
    Dataset {
        /// The data set folder.
        root: PathBuf,
        /// What failed.
        #[source]
        error: DatasetError,
    },
    /// Rows could not be added to the data set.
    #[error("cannot write the data set in {}: {error}", root.display())]
    Write {
        /// The data set folder.
        root: PathBuf,
        /// What failed.
        #[source]
        error: io::Error,
    },
}

/// What became of one capture.
#[derive(Debug)]
pub enum CaptureResult {
    /// An interrupt came before it was started: nothing of it was read or written.
    NotStarted,
    /// It could not be opened, or its data set could not be written (the writer could not
    /// be made or finished, or rows could not be added): what it wrote is not counted.
    Failed(CaptureError),
    /// It was decoded, wholly or up to `error`: what was decoded is published.
    Decoded {
        /// What was written of it.
        written: Written,
        /// Its malformed records.
        bad: u64,
        /// Its frames whose id is a message of the database (the others have no message
        /// table rows).
        known: u64,
        /// Why it ended early, if it did.
        error: Option<CaptureError>,
    },
}

/// What [`decode_captures`] tells as it goes, from its worker threads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// A warning about a capture, which it names (a malformed record, a message partly
    /// decoded, records of other buses, the count of malformed records).
    Warning(String),
    /// The capture of this index among the inputs is done with (whatever its result).
    Finished(usize),
}

/// The results of a run's captures together.
#[derive(Debug, Default)]
pub struct Totals {
    /// What all the captures wrote.
    pub written: Written,
    /// Their malformed records.
    pub bad: u64,
    /// Their frames whose id is a message of the database.
    pub known: u64,
    /// The failed captures, by index among the inputs, in input order: the first is the run's
    /// error, the others are said beside it.
    pub failures: Vec<(usize, CaptureError)>,
}

impl Totals {
    /// Adds up `results` (one per input, in input order).
    pub fn of(results: Vec<CaptureResult>) -> Totals {
        let mut totals = Totals::default();
        for (i, result) in results.into_iter().enumerate() {
            match result {
                CaptureResult::Decoded {
                    written,
                    bad,
                    known,
                    error,
                } => {
                    totals.bad += bad;
                    totals.known += known;
                    totals.written.add(written);
                    if let Some(e) = error {
                        totals.failures.push((i, e));
                    }
                }
                CaptureResult::Failed(e) => totals.failures.push((i, e)),
                CaptureResult::NotStarted => {}
            }
        }
        totals
    }
}

/// A capture opened before the run, its first blocks read and scanned while the DBC loaded
/// ([`open_ahead`]).
pub struct Opened {
    name: Arc<str>,
    input: Input,
}

enum Input {
    /// Candump text in the blocks the rows are built from, the first ones read ahead.
    Lines(Box<Feed>),
    /// Any other format's records.
    Records(Box<dyn FrameReader>),
}

/// Opens `path` ([`open::open_decodable`]) for [`decode_captures`] and, for candump text in a
/// regular file, reads and scans its first blocks (at most [`pipeline::PREFETCH_BYTES`])
/// while `keep_going`: the caller loads the DBC meanwhile.
pub fn open_ahead(
    path: &Path,
    interrupted: fn() -> bool,
    keep_going: &dyn Fn() -> bool,
) -> Result<Opened, OpenError> {
    let (name, input) = open::open_decodable(path, interrupted)?;
    let input = match input {
        Decodable::Lines(blocks) => Input::Lines(Box::new(pipeline::prefetch(
            blocks.with_size(pipeline::ROWS_BLOCK),
            keep_going,
        ))),
        Decodable::Records(reader) => Input::Records(reader),
    };
    Ok(Opened { name, input })
}

/// Decodes `inputs` (paths, `-` for standard input, opened by [`open::open`]) into the data
/// set of `store`, with `settings.jobs` workers; `run` names this run's files (unique among
/// the runs writing into the folder: [`run_id`]). `first` is the first input already opened
/// ([`open_ahead`]), if it was. `interrupted` is asked before each capture and as each reads
/// (a plain function: the pipeline asks it from its threads); `progress` hears the warnings
/// and each capture's end. One result per input, in input order.
#[allow(
    clippy::too_many_arguments,
    reason = "the run's inputs, folder, name and settings, and its three callbacks' ends"
)]
pub fn decode_captures(
    db: &Database,
    inputs: &[PathBuf],
    first: Option<Result<Opened, OpenError>>,
    store: &DirStore,
    run: &str,
    settings: Settings,
    interrupted: fn() -> bool,
    progress: &(dyn Fn(Progress) + Sync),
) -> Vec<CaptureResult> {
    let first = Mutex::new(first);
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<CaptureResult>>> =
        inputs.iter().map(|_| Mutex::new(None)).collect();
    let workers = settings.jobs.clamp(1, inputs.len().max(1));
    // The cores left over when there are fewer logs than cores go to each log's blocks.
    let per_log = (settings.jobs / workers).max(1);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = inputs.get(i) else { break };
                    if interrupted() {
                        break;
                    }
                    let capture = Capture {
                        path,
                        part: format!("{run}-{i:03}-{}", stem(path)),
                        jobs: per_log,
                        interrupted,
                        warn: &|w| progress(Progress::Warning(w)),
                    };
                    let opened = match i {
                        0 => first.lock().ok().and_then(|mut f| f.take()),
                        _ => None,
                    };
                    let outcome = capture.decode(db, store, settings, opened);
                    if let Some(slot) = results.get(i)
                        && let Ok(mut slot) = slot.lock()
                    {
                        *slot = Some(outcome);
                    }
                    progress(Progress::Finished(i));
                }
            });
        }
    });
    results
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .ok()
                .flatten()
                .unwrap_or(CaptureResult::NotStarted)
        })
        .collect()
}

/// One capture to decode into its own files.
struct Capture<'a> {
    path: &'a Path,
    /// Its files' part name (the run's, its index and name).
    part: String,
    /// Threads for its blocks (candump text).
    jobs: usize,
    interrupted: fn() -> bool,
    warn: &'a (dyn Fn(String) + Sync),
}

impl Capture<'_> {
    /// Decodes the capture (`opened` already, or opened here) into its own files; what was
    /// decoded before a failure is published.
    fn decode(
        &self,
        db: &Database,
        store: &DirStore,
        settings: Settings,
        opened: Option<Result<Opened, OpenError>>,
    ) -> CaptureResult {
        let opened = opened.unwrap_or_else(|| open_ahead(self.path, self.interrupted, &|| false));
        let Opened { name, input } = match opened {
            Ok(opened) => opened,
            Err(e) => return CaptureResult::Failed(e.into()),
        };
        let dataset_error = |error| CaptureError::Dataset {
            root: store.root().to_path_buf(),
            error,
        };
        // With a core of its own (one log on several), the row groups written out while
        // the capture is decoded are encoded beside the decoding instead of holding it up.
        let mut writer = match DatasetWriter::new(db, store, &self.part, settings.resolution) {
            Ok(w) => w.with_background(if self.jobs >= 2 { self.jobs } else { 0 }),
            Err(e) => return CaptureResult::Failed(dataset_error(e)),
        };
        // Every warning names the capture (the block pipeline's already do, with the line).
        let mut warn = |w: String| match w.starts_with(&*name) {
            true => (self.warn)(w),
            false => (self.warn)(format!("{name}: {w}")),
        };
        let mut sink = Sink::new(io::sink(), settings.strict, &mut warn);
        let decoded = match input {
            // Candump text: blocks of lines decoded on `jobs` threads.
            Input::Lines(feed) => pipeline::decode_feed_into(
                db,
                settings.strict,
                *feed,
                &mut sink,
                self.jobs,
                &mut writer,
            ),
            Input::Records(mut reader) => pipeline::each_record(
                db,
                reader.as_mut(),
                &mut sink,
                self.interrupted,
                &mut |line, _| writer.push(line).map_err(io::Error::other),
            ),
        };
        sink.summary();
        let (bad, known) = (sink.bad(), sink.known());
        // Whatever happened, the frames decoded so far are published.
        let written = match writer.finish() {
            Ok(w) => w,
            Err(e) => return CaptureResult::Failed(dataset_error(e)),
        };
        let error = match decoded {
            Ok(()) => None,
            Err(PipelineError::Read(e)) => Some(CaptureError::Read(e)),
            // Rows were lost on the way to the files (a full disk): the counts of what was
            // added are not what the data set holds, so none is given (the files completed
            // before are published, the others removed).
            Err(PipelineError::Write(error)) => {
                return CaptureResult::Failed(CaptureError::Write {
                    root: store.root().to_path_buf(),
                    error,
                });
            }
        };
        CaptureResult::Decoded {
            written,
            bad,
            known,
            error,
        }
    }
}

/// A name for a run's files, unique among runs writing into one folder: the time in
/// milliseconds and the process id.
pub fn run_id() -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_files_appear_only_when_published_and_never_over_another() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::new(&dir.path().join("ds")).unwrap();
        let mut f = store.create("frames/part-a.parquet").unwrap();
        f.write_all(b"PAR1").unwrap();
        let visible = dir.path().join("ds/frames/part-a.parquet");
        assert!(!visible.exists());
        assert!(dir.path().join("ds/frames/.part-a.parquet.tmp").exists());
        f.publish().unwrap();
        assert_eq!(fs::read(&visible).unwrap(), b"PAR1");
        assert!(!dir.path().join("ds/frames/.part-a.parquet.tmp").exists());
        let mut g = store.create("frames/part-a.parquet").unwrap();
        g.write_all(b"other").unwrap();
        let e = g.publish().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&visible).unwrap(), b"PAR1");
    }

    #[test]
    fn test_a_file_dropped_unpublished_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::new(&dir.path().join("ds")).unwrap();
        let hidden = dir.path().join("ds/frames/.part-b.parquet.tmp");
        let mut f = store.create("frames/part-b.parquet").unwrap();
        f.write_all(&[7; 4096]).unwrap();
        assert!(hidden.exists());
        drop(f);
        assert!(!hidden.exists());
        assert!(!dir.path().join("ds/frames/part-b.parquet").exists());
        // A failed publish (the name is taken) removes its temporary file too, and leaves the
        // published file alone.
        store
            .create("frames/part-c.parquet")
            .unwrap()
            .publish()
            .unwrap();
        let mut g = store.create("frames/part-c.parquet").unwrap();
        g.write_all(b"other").unwrap();
        assert!(g.publish().is_err());
        assert!(!dir.path().join("ds/frames/.part-c.parquet.tmp").exists());
        assert!(dir.path().join("ds/frames/part-c.parquet").exists());
    }

    /// Every file under `dir`, relative to it, sorted.
    fn files(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut todo = vec![dir.to_path_buf()];
        while let Some(d) = todo.pop() {
            for e in fs::read_dir(&d).into_iter().flatten() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    todo.push(p);
                } else {
                    let rel = p.strip_prefix(dir).unwrap();
                    out.push(rel.to_string_lossy().into_owned());
                }
            }
        }
        out.sort();
        out
    }

    fn candump(frames: std::ops::Range<u32>) -> String {
        frames
            .map(|i| format!("(1700000000.{i:06}) can0 {:03X}#{i:04X}\n", 0x100 + i % 3))
            .collect()
    }

    fn gzip(text: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(text).unwrap();
        e.finish().unwrap()
    }

    fn settings(jobs: usize) -> Settings {
        Settings {
            resolution: Resolution::Micros,
            strict: false,
            jobs,
        }
    }

    /// Decodes `inputs` into `root`, collecting what is told.
    fn decode(
        inputs: &[PathBuf],
        root: &Path,
        settings: Settings,
        interrupted: fn() -> bool,
    ) -> (Vec<CaptureResult>, Vec<Progress>) {
        let store = DirStore::new(root).unwrap();
        let told = Mutex::new(Vec::new());
        let results = decode_captures(
            &Database::empty(),
            inputs,
            None,
            &store,
            "run",
            settings,
            interrupted,
            &|p| told.lock().unwrap().push(p),
        );
        (results, told.into_inner().unwrap())
    }

    /// The first capture opened and read ahead while the DBC loads ([`open_ahead`]) gives the
    /// same files, byte for byte, as one its worker opens; one that cannot be opened fails as
    /// it would there.
    #[test]
    fn test_a_capture_read_ahead_gives_the_same_files() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("a.log");
        // About 8 MB: more row blocks than are read ahead.
        let text: String = (0..200_000u32)
            .map(|i| {
                format!(
                    "(1700000000.{i:06}) can{} {:03X}#{i:08X}\n",
                    i % 2,
                    0x100 + i % 7
                )
            })
            .collect();
        assert!(text.len() > pipeline::PREFETCH_BYTES + pipeline::ROWS_BLOCK);
        fs::write(&log, text).unwrap();
        let junk = dir.path().join("junk.bin");
        fs::write(&junk, [0x7Fu8, 0x45, 0x4C, 0x46, 0, 1, 2, 3]).unwrap();
        let run = |input: &Path, ahead: bool| {
            let root = dir.path().join(format!("ds-{ahead}"));
            let _ = fs::remove_dir_all(&root);
            let store = DirStore::new(&root).unwrap();
            let first = ahead.then(|| open_ahead(input, || false, &|| true));
            let results = decode_captures(
                &Database::empty(),
                &[input.to_path_buf()],
                first,
                &store,
                "run",
                settings(2),
                || false,
                &|_| {},
            );
            let mut got: Vec<(String, Vec<u8>)> = files(&root)
                .into_iter()
                .map(|f| (f.clone(), fs::read(root.join(&f)).unwrap()))
                .collect();
            got.sort();
            (format!("{results:?}"), got)
        };
        let (now, ahead) = (run(&log, false), run(&log, true));
        assert!(now.0.contains("frames: 200000"), "{}", now.0);
        assert!(!now.1.is_empty());
        assert_eq!(now, ahead);
        let (now, ahead) = (run(&junk, false), run(&junk, true));
        assert!(now.0.contains("Failed"), "{}", now.0);
        assert_eq!(now, ahead);
    }

    #[test]
    fn test_every_capture_gets_its_own_published_files() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.log");
        let b = dir.path().join("b.log");
        fs::write(&a, candump(0..10)).unwrap();
        fs::write(&b, candump(10..15)).unwrap();
        let root = dir.path().join("ds");
        for jobs in [1, 4] {
            let _ = fs::remove_dir_all(&root);
            let (results, told) = decode(&[a.clone(), b.clone()], &root, settings(jobs), || false);
            let mut finished: Vec<_> = told
                .iter()
                .filter_map(|p| match p {
                    Progress::Finished(i) => Some(*i),
                    Progress::Warning(_) => None,
                })
                .collect();
            finished.sort();
            assert_eq!(finished, [0, 1]);
            let frames: Vec<u64> = results
                .iter()
                .map(|r| match r {
                    CaptureResult::Decoded {
                        written,
                        bad: 0,
                        known: 0,
                        error: None,
                    } => written.frames,
                    other => panic!("{other:?}"),
                })
                .collect();
            assert_eq!(frames, [10, 5]);
            let totals = Totals::of(results);
            assert_eq!(totals.written.frames, 15);
            assert!(totals.failures.is_empty());
            assert_eq!(
                files(&root),
                [
                    "frames/part-run-000-a_log-00000.parquet",
                    "frames/part-run-001-b_log-00000.parquet"
                ]
            );
        }
    }

    #[test]
    fn test_a_damaged_capture_publishes_the_frames_before_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.log");
        fs::write(&good, candump(0..3)).unwrap();
        let cut = dir.path().join("cut.log.gz");
        let z = gzip(candump(0..5000).as_bytes());
        fs::write(&cut, &z[..z.len() * 2 / 3]).unwrap();
        let missing = dir.path().join("missing.log");
        let root = dir.path().join("ds");
        let inputs = [cut.clone(), good, missing];
        let (results, _) = decode(&inputs, &root, settings(2), || false);
        let cut_frames = match &results[0] {
            CaptureResult::Decoded {
                written,
                error: Some(e @ CaptureError::Read(_)),
                ..
            } => {
                let text = e.to_string();
                assert!(text.contains("cut.log.gz: damaged after line"), "{text}");
                assert!(written.frames > 100 && written.frames < 5000);
                written.frames
            }
            other => panic!("{other:?}"),
        };
        assert!(matches!(
            &results[2],
            CaptureResult::Failed(CaptureError::Open(OpenError::NotFound(_)))
        ));
        let totals = Totals::of(results);
        assert_eq!(totals.written.frames, cut_frames + 3);
        let failed: Vec<usize> = totals.failures.iter().map(|(i, _)| *i).collect();
        assert_eq!(failed, [0, 2]);
        assert_eq!(
            files(&root),
            [
                "frames/part-run-000-cut_log_gz-00000.parquet",
                "frames/part-run-001-good_log-00000.parquet"
            ]
        );
    }

    #[test]
    fn test_malformed_records_are_warned_with_the_capture_or_end_it_when_strict() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("bad.log");
        let text = format!("{}(1.0) can0 12X#01\n{}", candump(0..2), candump(2..4));
        fs::write(&log, text).unwrap();
        let (results, told) = decode(
            std::slice::from_ref(&log),
            &dir.path().join("ds"),
            settings(1),
            || false,
        );
        assert!(matches!(
            results[..],
            [CaptureResult::Decoded {
                bad: 1,
                error: None,
                ..
            }]
        ));
        let warnings: Vec<&String> = told
            .iter()
            .filter_map(|p| match p {
                Progress::Warning(w) => Some(w),
                Progress::Finished(_) => None,
            })
            .collect();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        let name = log.display().to_string();
        assert!(
            warnings.iter().all(|w| w.starts_with(&name)),
            "{warnings:?}"
        );
        let strict = Settings {
            strict: true,
            ..settings(1)
        };
        let (results, _) = decode(&[log], &dir.path().join("strict"), strict, || false);
        match &results[..] {
            [
                CaptureResult::Decoded {
                    written,
                    error: Some(CaptureError::Read(_)),
                    ..
                },
            ] => assert_eq!(written.frames, 2),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn test_an_interrupt_before_the_start_leaves_the_captures_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.log");
        fs::write(&a, candump(0..10)).unwrap();
        let root = dir.path().join("ds");
        let (results, told) = decode(&[a.clone(), a], &root, settings(2), || true);
        assert!(
            results
                .iter()
                .all(|r| matches!(r, CaptureResult::NotStarted))
        );
        assert!(told.is_empty());
        assert!(files(&root).is_empty());
        let totals = Totals::of(results);
        assert_eq!(totals.written, Written::default());
        assert!(totals.failures.is_empty());
    }
}

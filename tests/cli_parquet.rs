//! `canrelearn decode --format parquet`, driven through the real binary: what it refuses, what
//! it says, and that a failing capture still publishes what was decoded before. (The values
//! are compared with jsonl by DuckDB and pyarrow in tests/peers_parquet.rs.)

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[path = "common/full_disk.rs"]
mod full_disk;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_canrelearn"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn sample() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/j11-sample.log")
        .to_string_lossy()
        .into_owned()
}

/// Every file under `dir`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(files(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn parquet_needs_a_folder_and_o_needs_parquet() {
    let o = run(&["decode", "--format", "parquet", &sample()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("give it with -o DIR"), "{}", stderr(&o));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x");
    let o = run(&[
        "decode",
        "--format",
        "jsonl",
        "-o",
        out.to_str().unwrap(),
        &sample(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("-o is the data set folder"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists());
    // A file where the folder should be.
    std::fs::write(&out, "").unwrap();
    let o = run(&[
        "decode",
        "--format",
        "parquet",
        "-o",
        out.to_str().unwrap(),
        &sample(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("is not a folder"), "{}", stderr(&o));
}

#[test]
fn the_sample_becomes_a_data_set_and_a_second_run_adds_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ds");
    let r = root.to_str().unwrap();
    let o = run(&["decode", "--format", "parquet", "-o", r, &sample()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("6892 frames into frames/"),
        "{}",
        stderr(&o)
    );
    let first = files(&root);
    assert!(
        first
            .iter()
            .all(|p| p.extension().is_some_and(|e| e == "parquet"))
    );
    assert!(
        first
            .iter()
            .any(|p| p.starts_with(root.join("messages/AV_STATUS"))),
        "{first:?}"
    );
    let o = run(&["decode", "--format", "parquet", "-o", r, &sample()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let second = files(&root);
    assert_eq!(second.len(), 2 * first.len());
    assert!(first.iter().all(|p| second.contains(p)));
}

#[test]
fn nothing_decoded_is_an_error_and_strict_publishes_what_came_before() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ds");
    let r = root.to_str().unwrap();
    let empty = dir.path().join("empty.log");
    std::fs::write(&empty, "").unwrap();
    let o = run(&[
        "decode",
        "--format",
        "parquet",
        "-o",
        r,
        empty.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let bad = dir.path().join("bad.log");
    std::fs::write(
        &bad,
        "(1700000000.000001) can0 123#01\n(1700000000.000002) can0 124#02\n(1700000000.000003) can0 12X#03\n(1700000000.000004) can0 125#03\n",
    )
    .unwrap();
    let o = run(&[
        "decode",
        "--format",
        "parquet",
        "--strict",
        "-o",
        r,
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("bad.log"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("2 frames into frames/"),
        "{}",
        stderr(&o)
    );
    let published = files(&root.join("frames"));
    assert_eq!(published.len(), 1, "{published:?}");
}

/// `decode --format parquet` of a log `name` holding `text`, into `ds/` of a new folder
/// (kept while the returned guard lives).
fn decode_to_dataset(name: &str, text: &str) -> (tempfile::TempDir, PathBuf, Output) {
    decode_to_dataset_by(run, name, text)
}

/// [`decode_to_dataset`], the binary run by `runner`.
fn decode_to_dataset_by(
    runner: fn(&[&str]) -> Output,
    name: &str,
    text: &str,
) -> (tempfile::TempDir, PathBuf, Output) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ds");
    let log = dir.path().join(name);
    std::fs::write(&log, text).unwrap();
    let o = runner(&[
        "decode",
        "--format",
        "parquet",
        "-o",
        root.to_str().unwrap(),
        log.to_str().unwrap(),
    ]);
    (dir, root, o)
}

/// A capture none of whose frames is in the DBC: the frames table is still written, every
/// frame in it, and the exit is 1 with the reason (the wrong DBC, most likely).
#[test]
fn a_capture_with_no_frame_of_the_dbc_is_published_and_exits_1() {
    let (_dir, root, o) = decode_to_dataset(
        "other-bus.log",
        "(1700000000.000001) can0 7FF#01\n(1700000000.000002) can0 7FE#02\n(1700000000.000003) can0 7FD#03\n",
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("3 frames into frames/"), "{err}");
    assert!(
        err.contains(
            "none of the 3 frames has the id of a message in the bundled Nissan Qashqai J11 DBC"
        ),
        "{err}"
    );
    assert_eq!(files(&root.join("frames")).len(), 1);
    assert!(files(&root.join("messages")).is_empty());
}

/// Regression: remote frames of a DBC message fill no message table, yet their ids are the
/// DBC's: not "no frame was decoded" (the rule counts known ids, as the text formats do).
#[test]
fn remote_frames_of_a_dbc_message_are_not_a_wrong_dbc() {
    let (_dir, _, o) = decode_to_dataset(
        "remote.log",
        "(1700000000.000001) can0 35D#R\n(1700000000.000002) can0 35D#R\n",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        !stderr(&o).contains("no frame was decoded"),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("2 frames into frames/, 0 rows"),
        "{}",
        stderr(&o)
    );
}

/// A data set that cannot be written (here the frames file grows past the file size limit
/// the shell sets, as a full disk would stop it) is a write error: exit 4 naming the file and
/// the cause, and no temporary file left behind.
#[test]
fn a_write_error_exits_4_and_leaves_no_temporary_file() {
    let (_dir, root, o) = decode_to_dataset_by(
        full_disk::run_with_file_limit,
        "big.log",
        &full_disk::incompressible_log(30_000),
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(4), "{err}");
    assert!(err.contains("cannot write the data set in"), "{err}");
    assert!(err.contains("frames/part-"), "{err}");
    assert!(err.contains("File too large"), "{err}");
    assert!(!err.contains("External"), "{err}");
    let left: Vec<_> = files(&root)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
    assert!(files(&root.join("frames")).is_empty());
}

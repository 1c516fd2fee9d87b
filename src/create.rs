//! Output files: nothing existing is overwritten without `force`, and no command ever writes
//! over one of its own inputs.
//!
//! [`create`] refuses an existing file unless `force` (and then truncates it), and refuses,
//! even with `force`, a path that is the same file (same device and inode, so through links
//! and other spellings too) as one of the command's inputs. Without `force` the file is
//! created with `O_EXCL`, so two processes cannot both think they created it; a device or a
//! FIFO (`/dev/null`, a pipe) is written to as it is. [`create_unique`] makes a new file under
//! a default name, adding `-2`, `-3`... when the name is taken (two runs in the same second
//! never share a transcript). This is an edge module: it opens files.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Why an output file was not created. `what` names it for people (`the transcript`).
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error(
        "{what} {} is the same file as the input {}: refusing to overwrite an input (even with --force)",
        path.display(),
        input.display()
    )]
    SameAsInput {
        what: String,
        path: PathBuf,
        input: PathBuf,
    },
    #[error(
        "{what} {} already exists; give --force to overwrite it, or choose another name",
        path.display()
    )]
    Exists { what: String, path: PathBuf },
    #[error("cannot create {what} {}: {source}", path.display())]
    Io {
        what: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot find a free name for {what} ({stem}-N.{ext} are all taken)")]
    NoFreeName {
        what: String,
        stem: String,
        ext: String,
    },
}

impl CreateError {
    /// A refusal the user can fix by naming another file or giving `--force` (as opposed to
    /// the system failing to create it).
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            CreateError::SameAsInput { .. } | CreateError::Exists { .. }
        )
    }
}

/// The identity of an existing file: device and inode.
fn identity(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Whether `output` is the same file as one of `inputs` (which may include `-`, ignored).
pub fn same_as_input<'a>(
    output: &Path,
    inputs: impl IntoIterator<Item = &'a Path>,
) -> Option<&'a Path> {
    let out = identity(output)?;
    inputs
        .into_iter()
        .filter(|p| *p != Path::new("-"))
        .find(|p| identity(p) == Some(out))
}

/// Creates `path` for writing `what`: refuses an existing file unless `force`, and one of
/// `inputs` always.
pub fn create<'a>(
    path: &Path,
    what: &str,
    force: bool,
    inputs: impl IntoIterator<Item = &'a Path>,
) -> Result<File, CreateError> {
    check(path, what, force, inputs)?;
    let mut options = OpenOptions::new();
    options.write(true);
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        // A device or a FIFO: write to it as it is.
    } else if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    options.open(path).map_err(|e| open_error(path, what, e))
}

/// The checks of [`create`] without creating anything (for outputs opened later, checked
/// before any work is done).
pub fn check<'a>(
    path: &Path,
    what: &str,
    force: bool,
    inputs: impl IntoIterator<Item = &'a Path>,
) -> Result<(), CreateError> {
    if let Some(input) = same_as_input(path, inputs) {
        return Err(CreateError::SameAsInput {
            what: what.to_string(),
            path: path.to_path_buf(),
            input: input.to_path_buf(),
        });
    }
    // Only a regular file can be overwritten: /dev/null, a FIFO or a terminal are written to.
    if !force && std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return Err(CreateError::Exists {
            what: what.to_string(),
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

fn open_error(path: &Path, what: &str, e: io::Error) -> CreateError {
    match e.kind() {
        io::ErrorKind::AlreadyExists => CreateError::Exists {
            what: what.to_string(),
            path: path.to_path_buf(),
        },
        _ => CreateError::Io {
            what: what.to_string(),
            path: path.to_path_buf(),
            source: e,
        },
    }
}

/// Writes `bytes` into `file`, just made by [`create`] at `path`, whole or not at all: a
/// regular file is flushed to disk (where a full disk shows on some file systems), and if
/// that or the write fails, it is removed, so no truncated file is left under the name (a
/// script cut after some of its steps, a picture cut in half). A device or a FIFO is only
/// written to, never removed.
pub fn fill(mut file: File, path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let regular = file.metadata().is_ok_and(|m| m.is_file());
    let written = file.write_all(bytes).and_then(|()| match regular {
        true => file.sync_data(),
        false => Ok(()),
    });
    if written.is_err() && regular {
        drop(file);
        let _ = std::fs::remove_file(path);
    }
    written
}

/// Creates a new file named `stem.ext` in `dir`, or `stem-2.ext`, `stem-3.ext`... when taken.
pub fn create_unique(
    dir: &Path,
    stem: &str,
    ext: &str,
    what: &str,
) -> Result<(File, PathBuf), CreateError> {
    for n in 1..10_000u32 {
        let name = match n {
            1 => format!("{stem}.{ext}"),
            n => format!("{stem}-{n}.{ext}"),
        };
        let path = dir.join(name);
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(f) => return Ok((f, path)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(open_error(&path, what, e)),
        }
    }
    Err(CreateError::NoFreeName {
        what: what.to_string(),
        stem: stem.to_string(),
        ext: ext.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_fill_writes_whole_files_and_devices() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.txt");
        fill(create(&a, "the text", false, []).unwrap(), &a, b"whole").unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"whole");
        // A device is written to and never removed, whatever happens.
        let null = Path::new("/dev/null");
        fill(create(null, "the text", false, []).unwrap(), null, b"x").unwrap();
        assert!(null.exists());
    }

    #[test]
    fn test_fill_removes_a_file_it_cannot_write_whole() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.txt");
        let file = create(&a, "the text", false, []).unwrap();
        // A file opened read-only stands in for a full disk: the write fails.
        drop(file);
        let read_only = File::open(&a).unwrap();
        assert!(fill(read_only, &a, b"lost").is_err());
        assert!(!a.exists());
    }

    #[test]
    fn test_refuses_existing_without_force_and_inputs_always() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.log");
        std::fs::write(&a, "x").unwrap();
        let e = create(&a, "the log", false, []).unwrap_err();
        assert!(e.is_refusal());
        assert!(e.to_string().contains("--force"), "{e}");
        assert!(create(&a, "the log", true, []).is_ok());
        let e = create(&a, "the log", true, [a.as_path()]).unwrap_err();
        assert!(e.is_refusal() && e.to_string().contains("same file"), "{e}");
        // Another spelling of the same file.
        let other = dir.path().join(".").join("a.log");
        let e = create(&other, "the log", true, [a.as_path()]).unwrap_err();
        assert!(e.to_string().contains("same file"), "{e}");
        let new = dir.path().join("b.log");
        assert!(create(&new, "the log", false, [a.as_path()]).is_ok());
        // Not regular files: written to without --force.
        assert!(create(Path::new("/dev/null"), "the log", false, []).is_ok());
        // A folder that does not exist is the system's failure, not a refusal.
        let e = create(&dir.path().join("no/such/dir.log"), "the log", false, []).unwrap_err();
        assert!(
            !e.is_refusal() && e.to_string().starts_with("cannot create the log"),
            "{e}"
        );
    }

    #[test]
    fn test_unique_names_never_collide() {
        let dir = tempfile::tempdir().unwrap();
        let (_, p1) = create_unique(dir.path(), "t", "log", "the transcript").unwrap();
        let (_, p2) = create_unique(dir.path(), "t", "log", "the transcript").unwrap();
        assert_ne!(p1, p2);
        assert!(p2.ends_with("t-2.log"));
    }
}

//! A data set folder on disk for [`crate::output::parquet`]: files are written under a hidden
//! temporary name (`.NAME.tmp`, which DuckDB's globs and Spark skip), flushed to disk, then
//! linked to their name, never over an existing file, and the temporary name removed. A crash
//! leaves at worst a hidden temporary file, never a visible file a reader would take for a
//! whole one.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::output::parquet::{StagedFile, Store};

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
            out: BufWriter::with_capacity(1 << 20, file),
            temporary,
            path,
        }))
    }
}

struct Staged {
    out: BufWriter<File>,
    temporary: PathBuf,
    path: PathBuf,
}

impl Write for Staged {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.out.write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl StagedFile for Staged {
    fn publish(self: Box<Self>) -> io::Result<()> {
        let Staged {
            out,
            temporary,
            path,
        } = *self;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_data()?;
        drop(file);
        // A hard link fails if the name exists; where links are not supported, a rename
        // after a check (which a concurrent writer of the same name could race).
        match fs::hard_link(&temporary, &path) {
            Ok(()) => fs::remove_file(&temporary),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(e),
            Err(_) if path.exists() => Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "a file of that name exists",
            )),
            Err(_) => fs::rename(&temporary, &path),
        }
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
}

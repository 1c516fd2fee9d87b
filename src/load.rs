//! Loading definitions from files: DBC files, procedure scripts and simulator profiles.
//!
//! With [`crate::open`] (captures) and [`crate::create`] (outputs), this is the edge between
//! the file system and the pure parsers ([`Database::from_bytes`], [`Script::from_toml`],
//! [`Profile::from_toml`]), which take bytes or text and know nothing of files. A definition
//! file is read whole, up to a limit (a capture given by mistake is refused, not parsed for
//! minutes), and must be UTF-8 where the parser reads text. Every error names the file.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::dbc::{Database, DbcError};
use crate::location::TextError;
use crate::procedure::Script;
use crate::sim::profile::Profile;

/// The largest DBC file read (opendbc's largest is under 1 MiB).
pub const MAX_DBC_BYTES: u64 = 64 << 20;
/// The largest procedure script or simulator profile read.
pub const MAX_SCRIPT_BYTES: u64 = 4 << 20;

/// Why a definition file did not load.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be opened or read.
    #[error("cannot read {what} {}", path.display())]
    Read {
        /// What the file is (`DBC file`, `script`, ...).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        error: io::Error,
    },
    /// The file is larger than the limit for its kind.
    #[error("{what} {} is larger than {} MiB: refused (not a {what}?)", path.display(), limit >> 20)]
    TooLarge {
        /// What the file is.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The limit, in bytes.
        limit: u64,
    },
    /// A text definition that is not UTF-8.
    #[error("{}: not UTF-8 text ({error})", path.display())]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// Where the bytes stop being UTF-8.
        error: std::string::FromUtf8Error,
    },
    /// A DBC file that does not parse, or clashes with one loaded before it.
    #[error(transparent)]
    Dbc(#[from] DbcError),
    /// A procedure script or simulator profile that does not load (where and why).
    #[error(transparent)]
    Text(#[from] TextError),
    /// Neither a script file nor the name of a bundled script.
    #[error("{name}: no such file, and not a bundled script (bundled: {})", crate::bundled::script_names().collect::<Vec<_>>().join(", "))]
    NoScript {
        /// What was given.
        name: String,
    },
    /// A bundled script that does not load: a build problem.
    #[error("a bundled script does not load (a build problem)")]
    Bundled(#[source] TextError),
}

/// The bytes of `path`, at most `limit` of them (`what` names the file in errors).
pub fn read_limited(path: &Path, limit: u64, what: &'static str) -> Result<Vec<u8>, LoadError> {
    let read_error = |error| LoadError::Read {
        what,
        path: path.to_path_buf(),
        error,
    };
    let f = std::fs::File::open(path).map_err(read_error)?;
    let mut bytes = Vec::new();
    f.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > limit {
        return Err(LoadError::TooLarge {
            what,
            path: path.to_path_buf(),
            limit,
        });
    }
    Ok(bytes)
}

fn read_text(path: &Path, what: &'static str) -> Result<String, LoadError> {
    let bytes = read_limited(path, MAX_SCRIPT_BYTES, what)?;
    String::from_utf8(bytes).map_err(|error| LoadError::NotUtf8 {
        path: path.to_path_buf(),
        error,
    })
}

/// One DBC file.
pub fn dbc(path: &Path) -> Result<Database, LoadError> {
    let bytes = read_limited(path, MAX_DBC_BYTES, "DBC file")?;
    Ok(Database::from_bytes(&bytes, &path.display().to_string())?)
}

/// DBC files merged into one database, in order (a message id defined twice is an error).
/// `paths` must not be empty: the caller decides what no file means.
pub fn dbcs(paths: &[PathBuf]) -> Result<Database, LoadError> {
    let mut db = Database::empty();
    for path in paths {
        db = db.merge(dbc(path)?)?;
    }
    Ok(db)
}

/// A procedure script.
pub fn script(path: &Path) -> Result<Script, LoadError> {
    let text = read_text(path, "script")?;
    Ok(Script::from_toml(&text, &path.display().to_string())?)
}

/// A procedure script from a file, or else the bundled script of that name (`.toml` or not),
/// with the name it goes by in messages (its path, or `bundled NAME`).
pub fn script_or_bundled(name: &str) -> Result<(Script, String), LoadError> {
    let path = Path::new(name);
    if path.exists() {
        return Ok((script(path)?, path.display().to_string()));
    }
    let bare = name.trim_end_matches(".toml");
    match crate::bundled::script(bare) {
        Some(loaded) => Ok((
            loaded.map_err(LoadError::Bundled)?,
            format!("bundled {bare}"),
        )),
        None => Err(LoadError::NoScript {
            name: name.to_string(),
        }),
    }
}

/// A simulator profile.
pub fn profile(path: &Path) -> Result<Profile, LoadError> {
    let text = read_text(path, "simulator profile")?;
    Ok(Profile::from_toml(&text, &path.display().to_string())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_errors_name_the_file_and_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.dbc");
        let e = dbc(&missing).unwrap_err();
        assert!(matches!(e, LoadError::Read { .. }), "{e}");
        assert_eq!(
            e.to_string(),
            format!("cannot read DBC file {}", missing.display())
        );

        let big = dir.path().join("big.toml");
        std::fs::write(&big, vec![b'#'; (MAX_SCRIPT_BYTES + 1) as usize]).unwrap();
        assert_eq!(
            script(&big).unwrap_err().to_string(),
            format!(
                "script {} is larger than 4 MiB: refused (not a script?)",
                big.display()
            )
        );
        let exact = dir.path().join("exact.bin");
        std::fs::write(&exact, vec![0u8; 16]).unwrap();
        assert_eq!(read_limited(&exact, 16, "x").unwrap().len(), 16);
        assert!(read_limited(&exact, 15, "x").is_err());

        let latin1 = dir.path().join("p.toml");
        std::fs::write(&latin1, b"name = \"caf\xe9\"\n").unwrap();
        let e = profile(&latin1).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{}: not UTF-8 text (", latin1.display())),
            "{e}"
        );
    }

    #[test]
    fn test_a_script_by_file_or_bundled_name() {
        let (s, name) = script_or_bundled("audio-unit-registration.toml").unwrap();
        assert_eq!(name, "bundled audio-unit-registration");
        assert!(!s.steps.is_empty());
        assert_eq!(
            script_or_bundled("no-such").unwrap_err().to_string(),
            "no-such: no such file, and not a bundled script (bundled: \
             audio-unit-registration, bms-battery-registration)"
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("audio-unit-registration");
        std::fs::write(&file, "not = [toml").unwrap();
        // A file of that name is the script, not the bundled one.
        let e = script_or_bundled(&file.display().to_string()).unwrap_err();
        assert!(matches!(e, LoadError::Text(_)), "{e}");
    }

    #[test]
    fn test_dbcs_merge_in_order_and_refuse_a_clash() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.dbc");
        let b = dir.path().join("b.dbc");
        std::fs::write(&a, "VERSION \"\"\nBU_: X\nBO_ 256 A: 8 X\n").unwrap();
        std::fs::write(&b, "VERSION \"\"\nBU_: X\nBO_ 512 B: 8 X\n").unwrap();
        let db = dbcs(&[a.clone(), b]).unwrap();
        assert_eq!(db.messages().len(), 2);
        let e = dbcs(&[a.clone(), a]).unwrap_err();
        assert!(matches!(e, LoadError::Dbc(_)), "{e}");
    }
}

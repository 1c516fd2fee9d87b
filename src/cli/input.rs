//! Loading what commands read: DBC files (the bundled J11 definitions by default) and logs.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use canrelearn::bundled;
use canrelearn::dbc::Database;
use canrelearn::frame::Id;
use canrelearn::sim::profile::Profile;

use super::{CliError, WithCode, exit};

/// Load the given DBC files, or the bundled J11 definitions when none is given. Two files
/// defining the same id is an error naming both.
pub fn load_dbcs(paths: &[PathBuf]) -> Result<Database, CliError> {
    if paths.is_empty() {
        return bundled::database()
            .context("the bundled DBC does not load (a build problem)")
            .code(exit::USAGE);
    }
    let mut db = Database::empty();
    for path in paths {
        db = db.merge(load_dbc(path)?).code(exit::USAGE)?;
    }
    Ok(db)
}

/// The largest DBC file read (64 MiB; the largest public DBCs are a few MB).
pub const MAX_DBC_BYTES: u64 = 64 << 20;
/// The largest procedure script or simulator profile read (4 MiB).
pub const MAX_SCRIPT_BYTES: u64 = 4 << 20;

/// Reads a file of at most `limit` bytes: a larger one (or an endless one, such as
/// `/dev/zero`) is refused with its name and the limit, without reading more than the limit.
pub fn read_limited(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>, CliError> {
    use std::io::Read;
    let f = std::fs::File::open(path)
        .with_context(|| format!("cannot read {what} {}", path.display()))
        .code(exit::USAGE)?;
    let mut bytes = Vec::new();
    f.take(limit + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {what} {}", path.display()))
        .code(exit::USAGE)?;
    if bytes.len() as u64 > limit {
        return Err(fail!(
            USAGE,
            "{what} {} is larger than {} MiB: refused (not a {what}?)",
            path.display(),
            limit >> 20
        ));
    }
    Ok(bytes)
}

/// Load one DBC file; errors name the file, line and column.
pub fn load_dbc(path: &Path) -> Result<Database, CliError> {
    let bytes = read_limited(path, MAX_DBC_BYTES, "DBC file")?;
    Database::from_bytes(&bytes, &path.display().to_string()).code(exit::USAGE)
}

/// Reads and loads a procedure script file (at most [`MAX_SCRIPT_BYTES`]).
pub fn load_script(path: &Path) -> Result<canrelearn::procedure::Script, CliError> {
    let bytes = read_limited(path, MAX_SCRIPT_BYTES, "script")?;
    let text = String::from_utf8(bytes)
        .map_err(|e| anyhow!("{}: not UTF-8 text ({e})", path.display()))
        .code(exit::USAGE)?;
    canrelearn::procedure::Script::from_toml(&text, &path.display().to_string()).code(exit::USAGE)
}

/// Reads and loads a simulator profile file (at most [`MAX_SCRIPT_BYTES`]).
pub fn load_profile(path: &Path) -> Result<Profile, CliError> {
    let bytes = read_limited(path, MAX_SCRIPT_BYTES, "simulator profile")?;
    let text = String::from_utf8(bytes)
        .map_err(|e| anyhow!("{}: not UTF-8 text ({e})", path.display()))
        .code(exit::USAGE)?;
    Profile::from_toml(&text, &path.display().to_string()).code(exit::USAGE)
}

/// The bundled simulator profile, loaded.
pub fn bundled_profile() -> Result<Profile, CliError> {
    bundled::profile()
        .context("the bundled simulator profile does not load (a build problem)")
        .code(exit::USAGE)
}

/// A hex CAN id: `0x745`, `745`, `18DAF110`; 29-bit with `extended` or 8 digits.
pub fn parse_id(text: &str, extended: bool) -> Result<Id, CliError> {
    Id::parse_hex(text, extended).code(exit::USAGE)
}

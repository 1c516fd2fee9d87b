//! Loading what commands read: DBC files (the bundled J11 definitions by default) and logs.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use canrelearn::dbc::Database;
use canrelearn::frame::Id;
use canrelearn::sim::profile::Profile;
use canrelearn::{bundled, load};

use super::{CliError, WithCode, exit};

/// Load the given DBC files ([`load::dbcs`]), or the bundled J11 definitions when none is
/// given.
pub fn load_dbcs(paths: &[PathBuf]) -> Result<Database, CliError> {
    if paths.is_empty() {
        return bundled::database()
            .context("the bundled DBC does not load (a build problem)")
            .code(exit::USAGE);
    }
    load::dbcs(paths).code(exit::USAGE)
}

/// [`load_dbcs`], and `then` of the database, on this thread, while `ahead` runs on another
/// (the first log opened and read ahead), told by its argument whether the DBC is still
/// loading. `ahead`'s outcome is an `Err` if its thread panicked. Nothing can be decoded before
/// the DBC is loaded, and a DBC error still comes first, as if nothing had been read.
pub fn load_dbcs_beside<D, A: Send>(
    paths: &[PathBuf],
    then: impl FnOnce(Database) -> D,
    ahead: Option<impl FnOnce(&dyn Fn() -> bool) -> A + Send>,
) -> (Result<D, CliError>, Option<std::thread::Result<A>>) {
    let loading = AtomicBool::new(true);
    std::thread::scope(|scope| {
        let reader = ahead.map(|ahead| {
            let loading = &loading;
            scope.spawn(move || ahead(&|| loading.load(Ordering::Relaxed)))
        });
        let loaded = load_dbcs(paths).map(then);
        loading.store(false, Ordering::Relaxed);
        (loaded, reader.map(|r| r.join()))
    })
}

/// [`load::read_limited`]: a larger file (or an endless one, such as `/dev/zero`) is refused.
pub fn read_limited(path: &Path, limit: u64, what: &'static str) -> Result<Vec<u8>, CliError> {
    load::read_limited(path, limit, what).code(exit::USAGE)
}

/// [`load::dbc`]: errors name the file, line and column.
pub fn load_dbc(path: &Path) -> Result<Database, CliError> {
    load::dbc(path).code(exit::USAGE)
}

/// [`load::script`].
pub fn load_script(path: &Path) -> Result<canrelearn::procedure::Script, CliError> {
    load::script(path).code(exit::USAGE)
}

/// [`load::profile`].
pub fn load_profile(path: &Path) -> Result<Profile, CliError> {
    load::profile(path).code(exit::USAGE)
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

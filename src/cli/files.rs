//! Output files at the command line: [`canrelearn::create`] with exit codes. A refusal (an
//! existing file without `--force`, or one of the command's own inputs) is exit 2; the system
//! failing to create the file is exit 4.

use std::fs::File;
use std::path::{Path, PathBuf};

use canrelearn::create::{self as edge, CreateError};

use super::{CliError, exit};

fn coded(e: CreateError) -> CliError {
    let code = match e.is_refusal() {
        true => exit::USAGE,
        false => exit::BUS_IO,
    };
    CliError::new(code, e)
}

/// See [`edge::create`].
pub fn create<'a>(
    path: &Path,
    what: &str,
    force: bool,
    inputs: impl IntoIterator<Item = &'a Path>,
) -> Result<File, CliError> {
    edge::create(path, what, force, inputs).map_err(coded)
}

/// See [`edge::check`].
pub fn check<'a>(
    path: &Path,
    what: &str,
    force: bool,
    inputs: impl IntoIterator<Item = &'a Path>,
) -> Result<(), CliError> {
    edge::check(path, what, force, inputs).map_err(coded)
}

/// See [`edge::create_unique`].
pub fn create_unique(
    dir: &Path,
    stem: &str,
    ext: &str,
    what: &str,
) -> Result<(File, PathBuf), CliError> {
    edge::create_unique(dir, stem, ext, what).map_err(coded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_refusals_are_usage_errors_and_failures_io_errors() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.log");
        std::fs::write(&a, "x").unwrap();
        assert_eq!(
            create(&a, "the log", false, []).unwrap_err().code,
            exit::USAGE
        );
        assert_eq!(
            create(&a, "the log", true, [a.as_path()]).unwrap_err().code,
            exit::USAGE
        );
        let missing = dir.path().join("no/such/dir.log");
        assert_eq!(
            create(&missing, "the log", false, []).unwrap_err().code,
            exit::BUS_IO
        );
    }
}

//! Loading what commands read: DBC files (the bundled J11 definitions by default) and logs.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use canrelearn::dbc::Database;
use canrelearn::frame::Id;
use canrelearn::sim::profile::Profile;

use super::{CliError, WithCode, exit};

/// The bundled Nissan Qashqai J11 definitions, built into the binary.
pub const BUNDLED_DBC: &str = include_str!("../../dbc/nissan_qashqai_j11.dbc");
/// The name the bundled DBC goes by in messages.
pub const BUNDLED_DBC_NAME: &str = "nissan_qashqai_j11.dbc (bundled)";

/// Load the given DBC files, or the bundled J11 definitions when none is given. Two files
/// defining the same id is an error naming both.
pub fn load_dbcs(paths: &[PathBuf]) -> Result<Database, CliError> {
    if paths.is_empty() {
        return Database::from_bytes(BUNDLED_DBC.as_bytes(), BUNDLED_DBC_NAME)
            .context("the bundled DBC does not load (a build problem)")
            .code(exit::USAGE);
    }
    let mut db = Database::empty();
    for path in paths {
        db = db.merge(load_dbc(path)?).code(exit::USAGE)?;
    }
    Ok(db)
}

/// Load one DBC file; errors name the file, line and column.
pub fn load_dbc(path: &Path) -> Result<Database, CliError> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read DBC file {}", path.display()))
        .code(exit::USAGE)?;
    Database::from_bytes(&bytes, &path.display().to_string()).code(exit::USAGE)
}

/// The bundled simulator profile (the simulated J11).
const BUNDLED_PROFILE: &str = include_str!("../../scripts/simulator/qashqai-j11.toml");

/// The bundled simulator profile, loaded.
pub fn bundled_profile() -> Result<Profile, CliError> {
    Profile::from_toml(BUNDLED_PROFILE, "qashqai-j11.toml (bundled)")
        .context("the bundled simulator profile does not load (a build problem)")
        .code(exit::USAGE)
}

/// The bundled audio unit registration script.
pub const AUDIO_SCRIPT: &str = include_str!("../../scripts/audio-unit-registration.toml");
/// The bundled BMS battery registration script.
pub const BMS_SCRIPT: &str = include_str!("../../scripts/bms-battery-registration.toml");

/// A hex CAN id: `0x745`, `745`, `18DAF110`; 29-bit with `extended` or 8 digits.
pub fn parse_id(text: &str, extended: bool) -> Result<Id, CliError> {
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    let raw = u32::from_str_radix(digits, 16)
        .map_err(|_| anyhow!("`{text}` is not a hexadecimal CAN id (like 0x745 or 745)"))
        .code(exit::USAGE)?;
    let id = if extended || digits.len() == 8 {
        Id::extended(raw)
    } else {
        Id::standard(u16::try_from(raw).unwrap_or(u16::MAX))
    };
    id.ok_or_else(|| {
        CliError::new(
            exit::USAGE,
            anyhow!(
                "CAN id `{text}` is out of range ({}; use --extended or 8 digits for 29-bit ids)",
                if extended || digits.len() == 8 {
                    "29-bit ids go up to 1FFFFFFF"
                } else {
                    "11-bit ids go up to 7FF"
                }
            ),
        )
    })
}

/// An id as hex: 3 digits for 11-bit ids, 8 for 29-bit.
pub fn id_text(id: Id) -> String {
    if id.is_extended() {
        format!("{:08X}", id.raw())
    } else {
        format!("{:03X}", id.raw())
    }
}

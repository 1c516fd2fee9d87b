//! What ships inside canrelearn: the Nissan Qashqai J11 DBC, the two procedure scripts and
//! the simulator profile of the car, as text built into the binary (the files under `dbc/`
//! and `scripts/`), and loaded by name.
//!
//! Every vehicle-specific value lives in these files, each labelled in the file as public
//! fact or placeholder; nothing here adds any. A bundled file that does not load is a build
//! problem, which the tests below catch.

use crate::dbc::{Database, DbcError};
use crate::procedure::script::{Script, ScriptError};
use crate::sim::profile::{Profile, ProfileError};

/// The J11 DBC (`dbc/nissan_qashqai_j11.dbc`).
pub const DBC: &str = include_str!("../dbc/nissan_qashqai_j11.dbc");
/// The name the bundled DBC goes by in messages.
pub const DBC_NAME: &str = "nissan_qashqai_j11.dbc (bundled)";

/// The procedure scripts, by name (`scripts/NAME.toml`).
pub const SCRIPTS: &[(&str, &str)] = &[
    (
        "audio-unit-registration",
        include_str!("../scripts/audio-unit-registration.toml"),
    ),
    (
        "bms-battery-registration",
        include_str!("../scripts/bms-battery-registration.toml"),
    ),
];

/// The simulator profile's name, and its text (`scripts/simulator/qashqai-j11.toml`).
pub const PROFILE_NAME: &str = "qashqai-j11";
pub const PROFILE: &str = include_str!("../scripts/simulator/qashqai-j11.toml");

/// The bundled DBC, loaded.
pub fn database() -> Result<Database, DbcError> {
    Database::from_bytes(DBC.as_bytes(), DBC_NAME)
}

/// The bundled simulator profile, loaded.
pub fn profile() -> Result<Profile, ProfileError> {
    Profile::from_toml(PROFILE, &format!("{PROFILE_NAME}.toml (bundled)"))
}

/// The text of the bundled script `name` (with or without `.toml`).
pub fn script_text(name: &str) -> Option<&'static str> {
    let name = name.strip_suffix(".toml").unwrap_or(name);
    SCRIPTS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// The bundled script `name` (with or without `.toml`), loaded; `None` when there is none.
pub fn script(name: &str) -> Option<Result<Script, ScriptError>> {
    let name = name.strip_suffix(".toml").unwrap_or(name);
    let text = script_text(name)?;
    Some(Script::from_toml(text, &format!("bundled {name}.toml")))
}

/// The bundled scripts' names.
pub fn script_names() -> impl Iterator<Item = &'static str> {
    SCRIPTS.iter().map(|(n, _)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_everything_bundled_loads() {
        let db = database().unwrap();
        assert!(db.messages().len() > 5);
        let profile = profile().unwrap();
        assert!(!profile.modules.is_empty());
        for name in script_names() {
            let loaded = script(name).unwrap().unwrap();
            assert!(!loaded.steps.is_empty(), "{name}");
            assert!(script(&format!("{name}.toml")).is_some());
        }
        assert!(script("no-such-script").is_none());
    }
}

//! Simulator profiles: a vehicle's modules, diagnostic behaviour and faults, kept as data.
//!
//! A profile is a TOML file (the bundled one is `scripts/simulator/qashqai-j11.toml`). Nothing
//! vehicle-specific is in Rust: diagnostic ids, sessions, local identifiers and their values,
//! routines with their durations and status polls, stored DTCs, and the named faults all come
//! from the profile, each with a `provenance` saying whether it is a public fact or a
//! placeholder. [`Profile::from_toml`] validates everything and reports errors with the source
//! name, line and column.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::frame::Id;
use crate::location::LineIndex;

/// A whole simulated vehicle.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub vehicle: VehicleSpec,
    #[serde(default, rename = "module")]
    pub modules: Vec<Module>,
    #[serde(default, rename = "fault")]
    pub faults: Vec<Fault>,
}

/// What the profile simulates.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VehicleSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The DBC whose periodic messages the modules send (`bundled` for the built-in J11 DBC).
    #[serde(default = "default_dbc")]
    pub dbc: String,
    /// Signal values the periodic frames carry, by `MESSAGE.SIGNAL` (others stay 0, counters
    /// and ramps excepted): e.g. `"BODY_STATUS.IGNITION_STATE" = 3`.
    #[serde(default)]
    pub signals: BTreeMap<String, SignalBehaviour>,
}

fn default_dbc() -> String {
    "bundled".to_string()
}

/// How a simulated signal changes over time.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum SignalBehaviour {
    /// A constant physical value.
    Constant(f64),
    /// A changing value.
    Varying(Varying),
}

/// A physical value that moves between `min` and `max`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Varying {
    pub min: f64,
    pub max: f64,
    /// Seconds for a full cycle min -> max -> min (triangle wave); 0 means a frame counter
    /// that steps by `step` every frame and wraps from max to min.
    #[serde(default)]
    pub period_s: f64,
    #[serde(default = "one")]
    pub step: f64,
}

fn one() -> f64 {
    1.0
}

/// One module (ECU) on the bus.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Module {
    /// The name users and scripts refer to (`BCM`, `IPDM_ER`...).
    pub name: String,
    /// The DBC node whose periodic messages this module sends; none when absent.
    #[serde(default)]
    pub node: Option<String>,
    /// Diagnostic request id (tester -> module); absent when the module is not diagnosable.
    #[serde(default)]
    pub request_id: Option<u32>,
    /// Diagnostic response id (module -> tester).
    #[serde(default)]
    pub response_id: Option<u32>,
    /// Whether the ids are 29-bit.
    #[serde(default)]
    pub extended_ids: bool,
    /// ISO-TP padding byte of the module's frames; none for unpadded.
    #[serde(default)]
    pub padding: Option<u8>,
    /// The default diagnostic session (0x81 for Nissan KWP2000).
    #[serde(default = "default_session")]
    pub default_session: u8,
    /// Sessions the module accepts with `10 xx`.
    #[serde(default = "default_sessions")]
    pub sessions: Vec<u8>,
    /// Milliseconds without a request before a non-default session drops to default (S3).
    #[serde(default = "default_s3")]
    pub s3_ms: u64,
    /// Milliseconds from a request to its response (P2 of the server).
    #[serde(default = "default_p2")]
    pub p2_ms: u64,
    /// Where these facts come from.
    #[serde(default)]
    pub provenance: String,
    /// Fixed request -> response pairs (identification and the like), matched exactly.
    #[serde(default, rename = "fixed")]
    pub fixed: Vec<Fixed>,
    /// Data readable with `21 <id>` (and writable with `3B <id>` when `writable`).
    #[serde(default, rename = "local_id")]
    pub local_ids: Vec<LocalId>,
    /// Routines started with `31 <id> [params]`.
    #[serde(default, rename = "routine")]
    pub routines: Vec<Routine>,
    /// Stored DTCs, reported by `18` and cleared by `14`.
    #[serde(default, rename = "dtc")]
    pub dtcs: Vec<StoredDtc>,
}

fn default_session() -> u8 {
    0x81
}
fn default_sessions() -> Vec<u8> {
    vec![0x81, 0xC0]
}
fn default_s3() -> u64 {
    5000
}
fn default_p2() -> u64 {
    15
}

/// A fixed request and its response, as hex strings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixed {
    pub request: HexBytes,
    pub response: HexBytes,
    #[serde(default)]
    pub provenance: String,
}

/// A local identifier's data.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalId {
    pub id: u8,
    #[serde(default)]
    pub name: String,
    /// The data bytes (hex), or
    #[serde(default)]
    pub value: Option<HexBytes>,
    /// the data as ASCII text.
    #[serde(default)]
    pub text: Option<String>,
    /// The session needed to read (and write) it; reading in another session gives NRC 0x80.
    #[serde(default)]
    pub session: Option<u8>,
    #[serde(default)]
    pub writable: bool,
    /// A vehicle flag: when set, the value reads as `value_when_flag` instead.
    #[serde(default)]
    pub flag: Option<String>,
    #[serde(default)]
    pub value_when_flag: Option<HexBytes>,
    #[serde(default)]
    pub provenance: String,
}

impl LocalId {
    /// The bytes this local id holds, flag aside.
    pub fn data(&self) -> Vec<u8> {
        match (&self.value, &self.text) {
            (Some(v), _) => v.0.clone(),
            (None, Some(t)) => t.as_bytes().to_vec(),
            (None, None) => Vec::new(),
        }
    }
}

/// A parameter of a routine: one byte, range-checked.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutineParam {
    pub name: String,
    pub min: u8,
    pub max: u8,
}

/// A routine (`31 <id> params...`), running for `duration_ms`, polled through a status local id.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Routine {
    pub id: u8,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub params: Vec<RoutineParam>,
    /// The session needed to start it (NRC 0x80 otherwise).
    #[serde(default)]
    pub session: Option<u8>,
    pub duration_ms: u64,
    /// The local id whose value reports the routine's state (`21 <id>`); also `33 <id>`.
    pub status_local_id: u8,
    /// Status bytes before the routine ever ran, while running, after completion.
    pub status_idle: HexBytes,
    pub status_running: HexBytes,
    pub status_done: HexBytes,
    /// A vehicle flag set when the routine completes.
    #[serde(default)]
    pub sets_flag: Option<String>,
    #[serde(default)]
    pub provenance: String,
}

/// A stored DTC.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredDtc {
    /// SAE text (`U1000`).
    pub code: String,
    pub status: u8,
    /// Only stored while this flag is not set (e.g. a lost-communication code).
    #[serde(default)]
    pub unless_flag: Option<String>,
    /// Where the code and its encoding come from (`[C]` a named source, `[U]` a placeholder).
    #[serde(default)]
    pub provenance: String,
}

/// A named fault, selected with `simulate --fault NAME`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The modules it applies to (default: all).
    #[serde(default)]
    pub modules: Vec<String>,
    /// The module neither answers diagnostics nor sends periodic frames.
    #[serde(default)]
    pub silent: bool,
    /// Periodic frames of this DBC node stop until `until_flag` is set.
    #[serde(default)]
    pub silence_node: Option<String>,
    #[serde(default)]
    pub until_flag: Option<String>,
    /// Answer this service with this NRC.
    #[serde(default)]
    pub negative: Option<NegativeFault>,
    /// Precede every response with `count` response-pending (0x78) answers `interval_ms` apart.
    #[serde(default)]
    pub pending: Option<PendingFault>,
    /// The module never sends ISO-TP flow control (multi-frame requests stall).
    #[serde(default)]
    pub drop_flow_control: bool,
    /// A non-default session drops to default this long after it was entered.
    #[serde(default)]
    pub reset_after_ms: Option<u64>,
    /// Signals (`MESSAGE.SIGNAL`) that take these values `after_ms` after the start, e.g. the
    /// ignition switched off in the middle of a procedure.
    #[serde(default)]
    pub signals: BTreeMap<String, f64>,
    /// When `signals` change, from the start of the simulation.
    #[serde(default)]
    pub after_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NegativeFault {
    pub service: u8,
    pub nrc: u8,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingFault {
    pub count: u32,
    pub interval_ms: u64,
}

/// Bytes written as hex in the profile (`"50 C0"`, `"50C0"`; every form
/// [`crate::diag::hex::parse_hex`] reads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HexBytes(pub Vec<u8>);

impl<'de> Deserialize<'de> for HexBytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        crate::diag::hex::parse_hex(&s)
            .map(HexBytes)
            .map_err(|e| serde::de::Error::custom(format!("hex bytes {s:?}: {e}")))
    }
}

/// The longest time a profile may name (a day), in milliseconds.
pub const MAX_PROFILE_MS: u64 = 86_400_000;

/// `what` of `owner` must lie in `min..=max` milliseconds.
fn in_range(owner: &str, what: &str, v: u64, (min, max): (u64, u64)) -> Result<(), String> {
    if (min..=max).contains(&v) {
        Ok(())
    } else {
        Err(format!(
            "{owner}: {what} = {v} is outside {min} to {max} ms"
        ))
    }
}

/// A profile that does not load: where and why.
pub type ProfileError = crate::location::TextError;

/// Why a profile gives no diagnostic ids for a module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiagIdsError {
    #[error("unknown module `{name}`; known: {}", known.join(", "))]
    Unknown { name: String, known: Vec<String> },
    #[error("module {0} has no known diagnostic ids; give --tx and --rx")]
    NoIds(String),
    #[error("module {module}: id {raw:X} out of range")]
    OutOfRange { module: String, raw: u32 },
}

/// A module's diagnostic addressing, from a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiagIds {
    pub request: Id,
    pub response: Id,
    /// The ISO-TP padding byte the module uses; none for unpadded frames.
    pub padding: Option<u8>,
}

impl Profile {
    /// The DBC file this profile names, for a profile read from `profile_path` (a relative
    /// name is beside the profile); `None` for `dbc = "bundled"`.
    pub fn dbc_path(&self, profile_path: Option<&std::path::Path>) -> Option<std::path::PathBuf> {
        if self.vehicle.dbc == "bundled" {
            return None;
        }
        let named = std::path::PathBuf::from(&self.vehicle.dbc);
        Some(match profile_path.and_then(std::path::Path::parent) {
            Some(dir) if named.is_relative() => dir.join(named),
            _ => named,
        })
    }

    /// The diagnostic ids of the module `name` (any case), as 29-bit ids when the profile
    /// says so or `extended`; why not when the profile has no such module or no ids for it.
    pub fn diag_ids(&self, name: &str, extended: bool) -> Result<DiagIds, DiagIdsError> {
        let Some(m) = self
            .modules
            .iter()
            .find(|m| m.name.eq_ignore_ascii_case(name))
        else {
            return Err(DiagIdsError::Unknown {
                name: name.to_string(),
                known: self
                    .modules
                    .iter()
                    .filter(|m| m.request_id.is_some())
                    .map(|m| m.name.clone())
                    .collect(),
            });
        };
        let (Some(t), Some(r)) = (m.request_id, m.response_id) else {
            return Err(DiagIdsError::NoIds(m.name.clone()));
        };
        let ext = m.extended_ids || extended;
        let id = |raw: u32| {
            match ext {
                true => Id::extended(raw),
                false => u16::try_from(raw).ok().and_then(Id::standard),
            }
            .ok_or_else(|| DiagIdsError::OutOfRange {
                module: m.name.clone(),
                raw,
            })
        };
        Ok(DiagIds {
            request: id(t)?,
            response: id(r)?,
            padding: m.padding,
        })
    }

    /// Parse and validate a profile.
    pub fn from_toml(text: &str, source_name: &str) -> Result<Profile, ProfileError> {
        let profile: Profile = toml::from_str(text).map_err(|e| ProfileError {
            location: LineIndex::new(text).location(source_name, e.span().map(|s| s.start)),
            message: e.message().to_string(),
        })?;
        profile.validate().map_err(|message| ProfileError {
            location: crate::location::Location::new(source_name, None),
            message,
        })?;
        Ok(profile)
    }

    fn validate(&self) -> Result<(), String> {
        let mut names = Vec::new();
        let mut ids = Vec::new();
        for m in &self.modules {
            if names.contains(&m.name.as_str()) {
                return Err(format!("module {} is defined twice", m.name));
            }
            names.push(m.name.as_str());
            match (m.request_id, m.response_id) {
                (Some(rq), Some(rs)) => {
                    let max = if m.extended_ids { 0x1FFF_FFFF } else { 0x7FF };
                    for id in [rq, rs] {
                        if id > max {
                            return Err(format!(
                                "module {}: id 0x{id:X} does not fit in {} bits",
                                m.name,
                                if m.extended_ids { 29 } else { 11 }
                            ));
                        }
                        if ids.contains(&id) {
                            return Err(format!(
                                "module {}: diagnostic id 0x{id:X} is used twice",
                                m.name
                            ));
                        }
                        ids.push(id);
                    }
                }
                (None, None) => {}
                _ => {
                    return Err(format!(
                        "module {}: give both request_id and response_id, or neither",
                        m.name
                    ));
                }
            }
            if !m.sessions.contains(&m.default_session) {
                return Err(format!(
                    "module {}: the default session 0x{:02X} is not in sessions",
                    m.name, m.default_session
                ));
            }
            in_range(&m.name, "s3_ms", m.s3_ms, (100, 600_000))?;
            in_range(&m.name, "p2_ms", m.p2_ms, (0, 30_000))?;
            for r in &m.routines {
                in_range(
                    &m.name,
                    "routine duration_ms",
                    r.duration_ms,
                    (0, MAX_PROFILE_MS),
                )?;
            }
            let mut lids = Vec::new();
            for l in &m.local_ids {
                if lids.contains(&l.id) {
                    return Err(format!(
                        "module {}: local id 0x{:02X} is defined twice",
                        m.name, l.id
                    ));
                }
                lids.push(l.id);
                if l.value.is_some() && l.text.is_some() {
                    return Err(format!(
                        "module {}: local id 0x{:02X} has both value and text",
                        m.name, l.id
                    ));
                }
            }
            for r in &m.routines {
                if lids.contains(&r.status_local_id) {
                    return Err(format!(
                        "module {}: routine 0x{:02X} reports through local id 0x{:02X}, which is also plain data",
                        m.name, r.id, r.status_local_id
                    ));
                }
                for p in &r.params {
                    if p.min > p.max {
                        return Err(format!(
                            "module {}: routine 0x{:02X} parameter {}: min above max",
                            m.name, r.id, p.name
                        ));
                    }
                }
            }
            for d in &m.dtcs {
                if parse_dtc_text(&d.code).is_none() {
                    return Err(format!(
                        "module {}: {:?} is not a DTC like U1000",
                        m.name, d.code
                    ));
                }
            }
        }
        let mut faults = Vec::new();
        for f in &self.faults {
            if faults.contains(&f.name.as_str()) {
                return Err(format!("fault {} is defined twice", f.name));
            }
            faults.push(f.name.as_str());
            for m in &f.modules {
                if !names.contains(&m.as_str()) {
                    return Err(format!("fault {}: no module named {m}", f.name));
                }
            }
            if f.until_flag.is_some() && f.silence_node.is_none() {
                return Err(format!("fault {}: until_flag needs silence_node", f.name));
            }
            in_range(&f.name, "after_ms", f.after_ms, (0, MAX_PROFILE_MS))?;
            if let Some(ms) = f.reset_after_ms {
                in_range(&f.name, "reset_after_ms", ms, (1, MAX_PROFILE_MS))?;
            }
            if let Some(p) = &f.pending {
                in_range(&f.name, "pending interval_ms", p.interval_ms, (1, 600_000))?;
                if p.count > 10_000 {
                    return Err(format!(
                        "fault {}: pending count {} is above 10000",
                        f.name, p.count
                    ));
                }
            }
            if f.after_ms > 0 && f.signals.is_empty() {
                return Err(format!("fault {}: after_ms needs signals", f.name));
            }
            if let Some((k, _)) = f.signals.iter().find(|(_, v)| !v.is_finite()) {
                return Err(format!("fault {}: signal {k}: not a finite number", f.name));
            }
        }
        Ok(())
    }

    /// The module with this name.
    pub fn module(&self, name: &str) -> Option<&Module> {
        self.modules.iter().find(|m| m.name == name)
    }

    /// The fault with this name.
    pub fn fault(&self, name: &str) -> Option<&Fault> {
        self.faults.iter().find(|f| f.name == name)
    }
}

/// `U1000` -> its two bytes (SAE J2012), `None` when it is not a DTC.
pub fn parse_dtc_text(text: &str) -> Option<u16> {
    text.parse::<crate::diag::dtc::Dtc>().ok().map(|d| d.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[vehicle]
name = "test car"

[[module]]
name = "BCM"
request_id = 0x745
response_id = 0x765
padding = 0xFF

[[module.local_id]]
id = 0x83
text = "284B2"

[[module.routine]]
id = 0x10
duration_ms = 1000
status_local_id = 0x11
status_idle = "FF"
status_running = "00"
status_done = "01"
sets_flag = "done"

[[module.dtc]]
code = "U1000"
status = 0x20

[[fault]]
name = "bcm-silent"
modules = ["BCM"]
silent = true
"#;

    #[test]
    fn test_parse_minimal_profile() {
        let p = Profile::from_toml(MINIMAL, "t.toml").unwrap();
        let bcm = p.module("BCM").unwrap();
        assert_eq!(bcm.request_id, Some(0x745));
        assert_eq!(bcm.default_session, 0x81);
        assert_eq!(bcm.local_ids[0].data(), b"284B2");
        assert_eq!(bcm.routines[0].status_done, HexBytes(vec![1]));
        assert!(p.fault("bcm-silent").unwrap().silent);
    }

    #[test]
    fn test_errors_name_line_and_column() {
        let bad = MINIMAL.replace("duration_ms = 1000", "duration_ms = \"long\"");
        let e = Profile::from_toml(&bad, "t.toml").unwrap_err();
        assert_eq!(e.line(), Some(17), "{e}");
        assert!(e.to_string().starts_with("t.toml:17:"), "{e}");
        let unknown = MINIMAL.replace("padding = 0xFF", "paddding = 0xFF");
        let e = Profile::from_toml(&unknown, "t.toml").unwrap_err();
        assert!(e.message.contains("paddding"), "{e}");
        assert_eq!(e.line(), Some(9));
    }

    #[test]
    fn test_validation_errors() {
        let twice = format!("{MINIMAL}\n[[module]]\nname = \"BCM\"\n");
        assert!(
            Profile::from_toml(&twice, "t")
                .unwrap_err()
                .message
                .contains("defined twice")
        );
        let bad_hex = MINIMAL.replace("status_done = \"01\"", "status_done = \"0\"");
        assert!(
            Profile::from_toml(&bad_hex, "t")
                .unwrap_err()
                .message
                .contains("odd number")
        );
        let bad_fault = MINIMAL.replace("modules = [\"BCM\"]", "modules = [\"XYZ\"]");
        assert!(
            Profile::from_toml(&bad_fault, "t")
                .unwrap_err()
                .message
                .contains("no module named XYZ")
        );
        let bad_dtc = MINIMAL.replace("U1000", "X1000");
        assert!(Profile::from_toml(&bad_dtc, "t").is_err());
    }

    #[test]
    fn test_dtc_text() {
        assert_eq!(parse_dtc_text("U1000"), Some(0xD000));
        assert_eq!(parse_dtc_text("P0100"), Some(0x0100));
        assert_eq!(parse_dtc_text("B20BD"), Some(0xA0BD));
        assert_eq!(parse_dtc_text("U0140"), Some(0xC140));
        assert_eq!(parse_dtc_text("U4000"), None);
        assert_eq!(parse_dtc_text("U10"), None);
    }

    #[test]
    fn test_the_dbc_a_profile_names() {
        use std::path::Path;
        let mut p = crate::bundled::profile().unwrap();
        assert_eq!(p.dbc_path(Some(Path::new("/x/car.toml"))), None);
        p.vehicle.dbc = "car.dbc".into();
        assert_eq!(
            p.dbc_path(Some(Path::new("/x/car.toml"))).unwrap(),
            Path::new("/x/car.dbc")
        );
        assert_eq!(p.dbc_path(None).unwrap(), Path::new("car.dbc"));
        p.vehicle.dbc = "/y/car.dbc".into();
        assert_eq!(
            p.dbc_path(Some(Path::new("/x/car.toml"))).unwrap(),
            Path::new("/y/car.dbc")
        );
    }

    #[test]
    fn test_hex_bytes_read_as_the_diagnostic_hex() {
        #[derive(Debug, Deserialize)]
        struct T {
            b: HexBytes,
        }
        let read = |v: &str| toml::from_str::<T>(&format!("b = {v:?}")).map(|t| t.b.0);
        assert_eq!(read("50 C0").unwrap(), [0x50, 0xC0]);
        assert_eq!(read("50c0").unwrap(), [0x50, 0xC0]);
        assert_eq!(read("0x50 0xC0").unwrap(), [0x50, 0xC0]);
        assert!(read("5").is_err());
        assert!(read("zz").is_err());
        assert!(read("").is_err());
        // A byte split by a space is refused, never read across the gap.
        let e = read("5 0C0").unwrap_err().to_string();
        assert!(
            e.contains("hex bytes \"5 0C0\": column 1: \"5\" has an odd number of hex digits"),
            "{e}"
        );
    }
}

#[cfg(test)]
mod bundled {
    use super::*;

    const BUNDLED: &str = include_str!("../../scripts/simulator/qashqai-j11.toml");

    #[test]
    fn test_diag_ids_by_module_name() {
        let p = Profile::from_toml(BUNDLED, "qashqai-j11.toml").unwrap();
        let bcm = p.module("BCM").unwrap();
        let ids = p.diag_ids("bcm", false).unwrap();
        assert_eq!(Some(ids.request.raw()), bcm.request_id);
        assert_eq!(Some(ids.response.raw()), bcm.response_id);
        assert!(!ids.request.is_extended());
        assert!(p.diag_ids("BCM", true).unwrap().request.is_extended());
        let e = p.diag_ids("NOPE", false).unwrap_err().to_string();
        assert!(
            e.starts_with("unknown module `NOPE`; known: ") && e.contains("BCM"),
            "{e}"
        );
        if let Some(silent) = p.modules.iter().find(|m| m.request_id.is_none()) {
            let e = p.diag_ids(&silent.name, false).unwrap_err().to_string();
            assert!(e.contains("has no known diagnostic ids"), "{e}");
        }
    }

    #[test]
    fn test_bundled_j11_profile_loads_and_says_where_its_facts_come_from() {
        let p = Profile::from_toml(BUNDLED, "qashqai-j11.toml").unwrap();
        for name in ["BCM", "IPDM_ER", "METER", "ECM", "ABS", "EPS", "AV"] {
            let m = p.module(name).unwrap_or_else(|| panic!("module {name}"));
            assert!(
                m.provenance.contains("[C]") || m.provenance.contains("[U]"),
                "{name} has a provenance"
            );
            for r in &m.routines {
                assert!(
                    r.provenance.contains("[U]"),
                    "routine bytes are placeholders"
                );
            }
        }
        assert_eq!(p.module("BCM").unwrap().request_id, Some(0x745));
        assert_eq!(p.module("IPDM_ER").unwrap().response_id, Some(0x76D));
        for fault in [
            "bcm-silent",
            "audio-unit-unregistered",
            "nrc-conditions-not-correct",
            "slow-responses",
            "drop-flow-control",
            "reset-mid-session",
        ] {
            assert!(p.fault(fault).is_some(), "fault {fault}");
        }
    }
}

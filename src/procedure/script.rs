//! Procedure scripts: the TOML format of `scripts/*.toml` (reference: `scripts/README.md`),
//! loaded into a validated [`Script`].
//!
//! Loading never panics; every error carries the source name, line and column
//! ([`ScriptError`]). Unknown keys are errors. Vehicle-specific bytes live only in the scripts.

use core::fmt;
use core::time::Duration;
use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use crate::diag::client::{ClientConfig, KeepAlive};
use crate::diag::codec::Dialect;
use crate::frame::Id;
use crate::isotp;
use crate::location::LineIndex;

/// A script that does not load: where and why.
pub type ScriptError = crate::location::TextError;

/// Whether a value is stated by a public source or is a placeholder to verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provenance {
    Fact,
    Placeholder,
}

impl fmt::Display for Provenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Provenance::Fact => "fact",
            Provenance::Placeholder => "placeholder",
        })
    }
}

/// `[procedure]`: what the script is.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    pub name: String,
    #[serde(default)]
    pub vehicle: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub provenance: String,
}

/// `[modules.NAME]`: how to reach one module. Fields are public so that a command line can
/// override them after loading.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleSpec {
    pub name: String,
    pub request_id: Id,
    pub response_id: Id,
    pub padding: Option<u8>,
    pub dialect: Dialect,
    pub default_session: u8,
    /// The keep-alive PDU sent while a non-default session is open (`None`: none).
    pub keep_alive: Option<Vec<u8>>,
    pub keep_alive_period: Duration,
    pub p2: Duration,
    pub p2_star: Duration,
    pub provenance: String,
}

impl ModuleSpec {
    /// The diagnostic client configuration for this module (dialect, P2/P2*, default session,
    /// keep-alive without reply).
    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::for_dialect(self.dialect);
        c.p2_timeout = self.p2;
        c.p2_star_timeout = self.p2_star;
        c.default_session = self.default_session;
        c.keep_alive = self.keep_alive.as_ref().map(|pdu| KeepAlive {
            pdu: pdu.clone(),
            period: self.keep_alive_period,
            expect_response: false,
        });
        c
    }

    /// The tester-side ISO-TP configuration (tx = request id, rx = response id, padding).
    pub fn isotp_config(&self) -> isotp::Config {
        let mut c = isotp::Config::new(self.request_id, self.response_id);
        c.padding = self.padding;
        c
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModule {
    request_id: u32,
    response_id: u32,
    #[serde(default)]
    extended_ids: bool,
    #[serde(default)]
    padding: Option<u8>,
    #[serde(default)]
    dialect: Option<String>,
    #[serde(default)]
    default_session: Option<u8>,
    #[serde(default)]
    keep_alive: Option<String>,
    #[serde(default)]
    keep_alive_period_ms: Option<u64>,
    #[serde(default)]
    p2_ms: Option<u64>,
    #[serde(default)]
    p2_star_ms: Option<u64>,
    #[serde(default)]
    provenance: String,
}

/// A parameter's type.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamKind {
    /// A whole number `min..=max` (one byte when substituted).
    Integer { min: u8, max: u8, unit: String },
    /// One of named values, in declaration order by value.
    Choice(Vec<(String, u8)>),
}

/// Why a parameter's value does not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("{0:?} is not a whole number")]
    NotWholeNumber(String),
    /// `unit` is empty or starts with a space.
    #[error("{value}{unit} is out of range ({min} to {max}{unit})")]
    OutOfRange {
        value: i64,
        min: u8,
        max: u8,
        unit: String,
    },
    #[error("{text:?} is not one of {choices}")]
    NotAChoice { text: String, choices: String },
}

/// Why a byte string (a request template or a response pattern) does not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BytesError {
    #[error("{0:?}: `..` is allowed only at the end of a response pattern")]
    RestNotLast(String),
    #[error("{0:?}: `??` is allowed only in response patterns")]
    AnyInRequest(String),
    #[error("{0:?}: empty parameter name")]
    EmptyParameter(String),
    #[error(
        "{text:?}: {word:?} is not a hex byte (two digits, space separated){} or a {{parameter}}",
        if *pattern { ", `??`, `..`" } else { "" }
    )]
    NotHexByte {
        text: String,
        word: String,
        /// In a response pattern (where `??` and `..` are allowed too).
        pattern: bool,
    },
    #[error("empty byte string")]
    Empty,
}

/// A request names a parameter that has no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parameter {0} has no value")]
pub struct MissingParameter(pub String);

/// `[parameters.NAME]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    pub name: String,
    pub kind: ParamKind,
    pub prompt: String,
}

impl Parameter {
    /// Parses an operator's answer or a `--set` value: a number (decimal or `0x..`) in range,
    /// or a choice name (case-insensitive) or its value.
    pub fn parse_value(&self, text: &str) -> Result<u8, ValueError> {
        let t = text.trim();
        let number = parse_int(t);
        match &self.kind {
            ParamKind::Integer { min, max, unit } => {
                let unit = if unit.is_empty() {
                    String::new()
                } else {
                    format!(" {unit}")
                };
                let v = number.ok_or_else(|| ValueError::NotWholeNumber(t.to_string()))?;
                if v < i64::from(*min) || v > i64::from(*max) {
                    return Err(ValueError::OutOfRange {
                        value: v,
                        min: *min,
                        max: *max,
                        unit,
                    });
                }
                Ok(v as u8)
            }
            ParamKind::Choice(choices) => {
                if let Some((_, v)) = choices.iter().find(|(n, _)| n.eq_ignore_ascii_case(t)) {
                    return Ok(*v);
                }
                if let Some(v) = number
                    && let Some((_, b)) = choices.iter().find(|(_, b)| i64::from(*b) == v)
                {
                    return Ok(*b);
                }
                Err(ValueError::NotAChoice {
                    text: t.to_string(),
                    choices: choices
                        .iter()
                        .map(|(n, _)| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })
            }
        }
    }

    /// A readable form of a value (`70 Ah`, `agm (2)`).
    pub fn describe_value(&self, v: u8) -> String {
        match &self.kind {
            ParamKind::Integer { unit, .. } if unit.is_empty() => v.to_string(),
            ParamKind::Integer { unit, .. } => format!("{v} {unit}"),
            ParamKind::Choice(c) => match c.iter().find(|(_, b)| *b == v) {
                Some((n, _)) => format!("{n} ({v})"),
                None => v.to_string(),
            },
        }
    }
}

fn parse_int(t: &str) -> Option<i64> {
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => i64::from_str_radix(h, 16).ok(),
        None => t.parse().ok(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParameter {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    min: Option<u8>,
    #[serde(default)]
    max: Option<u8>,
    #[serde(default)]
    unit: String,
    #[serde(default)]
    choices: Option<BTreeMap<String, u8>>,
    #[serde(default)]
    prompt: String,
}

/// A condition on a number: every bound given must hold.
#[derive(Debug, Clone, Copy, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueCond {
    #[serde(default)]
    pub equals: Option<f64>,
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
}

impl ValueCond {
    /// Whether `v` satisfies every bound.
    pub fn holds(&self, v: f64) -> bool {
        self.equals.is_none_or(|e| (v - e).abs() < 1e-9)
            && self.min.is_none_or(|m| v >= m - 1e-9)
            && self.max.is_none_or(|m| v <= m + 1e-9)
    }

    /// Whether no bound is given.
    pub fn is_empty(&self) -> bool {
        self.equals.is_none() && self.min.is_none() && self.max.is_none()
    }
}

impl fmt::Display for ValueCond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(e) = self.equals {
            parts.push(format!("= {e}"));
        }
        if let Some(m) = self.min {
            parts.push(format!(">= {m}"));
        }
        if let Some(m) = self.max {
            parts.push(format!("<= {m}"));
        }
        if parts.is_empty() {
            f.write_str("anything")
        } else {
            f.write_str(&parts.join(" and "))
        }
    }
}

/// One token of a request template or a response pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    Byte(u8),
    /// `{name}`: a parameter's value.
    Param(String),
    /// `??`: any byte (patterns only).
    Any,
}

/// Request bytes with `{parameter}` slots: `"31 92 {capacity_ah} {battery_type}"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(pub Vec<Token>);

/// An expected response: bytes, `??` wildcards, `{parameter}` slots, and a trailing `..` for
/// "anything after" (without it the length must match exactly).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    pub tokens: Vec<Token>,
    pub rest: bool,
}

fn parse_tokens(text: &str, allow_any: bool) -> Result<(Vec<Token>, bool), BytesError> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut tokens = Vec::new();
    let mut rest = false;
    for (i, w) in words.iter().enumerate() {
        if *w == ".." {
            if !allow_any || i + 1 != words.len() {
                return Err(BytesError::RestNotLast(text.to_string()));
            }
            rest = true;
        } else if *w == "??" {
            if !allow_any {
                return Err(BytesError::AnyInRequest(text.to_string()));
            }
            tokens.push(Token::Any);
        } else if let Some(name) = w.strip_prefix('{').and_then(|x| x.strip_suffix('}')) {
            if name.is_empty() {
                return Err(BytesError::EmptyParameter(text.to_string()));
            }
            tokens.push(Token::Param(name.to_string()));
        } else if let Some(b) = (w.len() == 2)
            .then(|| u8::from_str_radix(w, 16).ok())
            .flatten()
        {
            tokens.push(Token::Byte(b));
        } else {
            return Err(BytesError::NotHexByte {
                text: text.to_string(),
                word: w.to_string(),
                pattern: allow_any,
            });
        }
    }
    if tokens.is_empty() && !rest {
        return Err(BytesError::Empty);
    }
    Ok((tokens, rest))
}

impl Template {
    pub fn parse(text: &str) -> Result<Template, BytesError> {
        parse_tokens(text, false).map(|(t, _)| Template(t))
    }

    /// The bytes with parameters substituted.
    pub fn render(&self, params: &BTreeMap<String, u8>) -> Result<Vec<u8>, MissingParameter> {
        self.0
            .iter()
            .map(|t| match t {
                Token::Byte(b) => Ok(*b),
                Token::Param(n) => {
                    (params.get(n).copied()).ok_or_else(|| MissingParameter(n.clone()))
                }
                Token::Any => Ok(0),
            })
            .collect()
    }

    /// The text with parameter slots kept (for dry runs without values).
    pub fn params(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter_map(|t| match t {
            Token::Param(n) => Some(n.as_str()),
            _ => None,
        })
    }
}

impl Pattern {
    pub fn parse(text: &str) -> Result<Pattern, BytesError> {
        parse_tokens(text, true).map(|(tokens, rest)| Pattern { tokens, rest })
    }

    /// Whether `pdu` matches, with parameters substituted.
    pub fn matches(&self, pdu: &[u8], params: &BTreeMap<String, u8>) -> bool {
        if pdu.len() < self.tokens.len() || (!self.rest && pdu.len() != self.tokens.len()) {
            return false;
        }
        self.tokens.iter().zip(pdu).all(|(t, b)| match t {
            Token::Byte(x) => x == b,
            Token::Any => true,
            Token::Param(n) => params.get(n) == Some(b),
        })
    }

    pub fn params(&self) -> impl Iterator<Item = &str> {
        self.tokens.iter().filter_map(|t| match t {
            Token::Param(n) => Some(n.as_str()),
            _ => None,
        })
    }
}

fn fmt_tokens(f: &mut fmt::Formatter<'_>, tokens: &[Token]) -> fmt::Result {
    for (i, t) in tokens.iter().enumerate() {
        if i > 0 {
            f.write_str(" ")?;
        }
        match t {
            Token::Byte(b) => write!(f, "{b:02X}")?,
            Token::Param(n) => write!(f, "{{{n}}}")?,
            Token::Any => f.write_str("??")?,
        }
    }
    Ok(())
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_tokens(f, &self.0)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_tokens(f, &self.tokens)?;
        if self.rest {
            f.write_str(if self.tokens.is_empty() { ".." } else { " .." })?;
        }
        Ok(())
    }
}

/// How to take a number out of a response: `value = raw * scale + offset`, where `raw` is
/// `length` bytes at byte `at` (0 = the response SID), big-endian unless `little_endian`.
#[derive(Debug, Clone, PartialEq)]
pub struct Extract {
    pub at: usize,
    pub length: usize,
    pub little_endian: bool,
    pub scale: f64,
    pub offset: f64,
    pub unit: String,
}

impl Extract {
    /// The value, or `None` when the response is too short.
    pub fn value(&self, pdu: &[u8]) -> Option<f64> {
        let bytes = pdu.get(self.at..self.at.checked_add(self.length)?)?;
        let raw = if self.little_endian {
            bytes
                .iter()
                .rev()
                .fold(0u64, |a, b| (a << 8) | u64::from(*b))
        } else {
            bytes.iter().fold(0u64, |a, b| (a << 8) | u64::from(*b))
        };
        Some(raw as f64 * self.scale + self.offset)
    }
}

/// What a precondition checks.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// A live decoded signal (`MESSAGE.SIGNAL`) satisfies a condition.
    Signal {
        signal: String,
        cond: ValueCond,
        unit: String,
    },
    /// None of `codes` is stored in `module` (read with `request`, default KWP `18 00 FF 00`).
    NoDtc {
        module: String,
        codes: Vec<String>,
        request: Vec<u8>,
    },
    /// The operator confirms a statement.
    Confirm(String),
}

/// `[[precondition]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Precondition {
    pub id: String,
    pub title: String,
    pub check: Check,
    /// Re-checked for the whole run (signals only): failing aborts the run.
    pub during: bool,
    pub provenance: Provenance,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNoDtc {
    module: String,
    codes: Vec<String>,
    #[serde(default)]
    request: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrecondition {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    signal: Option<String>,
    #[serde(default)]
    equals: Option<f64>,
    #[serde(default)]
    min: Option<f64>,
    #[serde(default)]
    max: Option<f64>,
    #[serde(default)]
    unit: String,
    #[serde(default)]
    no_dtc: Option<RawNoDtc>,
    #[serde(default)]
    confirm: Option<String>,
    #[serde(default)]
    during: bool,
    provenance: Provenance,
    #[serde(default)]
    source: String,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq)]
pub enum StepKind {
    /// `10 XX`, expecting `50 XX`.
    Session { module: String, session: u8 },
    /// Send bytes, check the answer.
    Request {
        module: String,
        request: Template,
        expect: Option<Pattern>,
        accept_nrc: Vec<u8>,
        writes: bool,
    },
    /// Send, take a value out of the answer and check it.
    Read {
        module: String,
        request: Template,
        expect: Option<Pattern>,
        extract: Extract,
        check: ValueCond,
    },
    /// Repeat a read every `interval` until `until` holds; fail if `fail_if` holds or after
    /// `timeout`.
    Poll {
        module: String,
        request: Template,
        expect: Option<Pattern>,
        extract: Extract,
        until: ValueCond,
        fail_if: Option<ValueCond>,
        interval: Duration,
        timeout: Duration,
    },
    /// Wait, saying why.
    Wait { duration: Duration, reason: String },
    /// Tell the operator something; continue when confirmed.
    Prompt { text: String },
    /// A DBC node must be seen for `for_` within `within`.
    VerifyNode {
        node: String,
        for_: Duration,
        within: Duration,
    },
    /// `10 <default session>`, expecting `50 <default session>`.
    CloseSession { module: String },
}

/// `[[step]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub id: String,
    pub title: String,
    pub provenance: Provenance,
    pub source: String,
    pub kind: StepKind,
    /// 1-based line of the step in the script.
    pub line: usize,
}

impl Step {
    /// Whether the step changes the module (needs confirmation).
    pub fn writes(&self) -> bool {
        matches!(self.kind, StepKind::Request { writes: true, .. })
    }

    /// The module the step talks to, if any.
    pub fn module(&self) -> Option<&str> {
        match &self.kind {
            StepKind::Session { module, .. }
            | StepKind::Request { module, .. }
            | StepKind::Read { module, .. }
            | StepKind::Poll { module, .. }
            | StepKind::CloseSession { module } => Some(module),
            _ => None,
        }
    }

    /// `session`, `request`, ...
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            StepKind::Session { .. } => "session",
            StepKind::Request { .. } => "request",
            StepKind::Read { .. } => "read",
            StepKind::Poll { .. } => "poll",
            StepKind::Wait { .. } => "wait",
            StepKind::Prompt { .. } => "prompt",
            StepKind::VerifyNode { .. } => "verify_node",
            StepKind::CloseSession { .. } => "close_session",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    id: String,
    title: String,
    kind: String,
    provenance: Provenance,
    #[serde(default)]
    source: String,
    #[serde(default)]
    module: Option<String>,
    #[serde(default)]
    session: Option<u8>,
    #[serde(default)]
    request: Option<String>,
    #[serde(default)]
    expect: Option<String>,
    #[serde(default)]
    accept_nrc: Vec<u8>,
    #[serde(default)]
    writes: bool,
    #[serde(default)]
    at: Option<usize>,
    #[serde(default)]
    length: Option<usize>,
    #[serde(default)]
    endian: Option<String>,
    #[serde(default)]
    scale: Option<f64>,
    #[serde(default)]
    offset: Option<f64>,
    #[serde(default)]
    unit: String,
    #[serde(default)]
    equals: Option<f64>,
    #[serde(default)]
    min: Option<f64>,
    #[serde(default)]
    max: Option<f64>,
    #[serde(default)]
    until: Option<ValueCond>,
    #[serde(default)]
    fail_if: Option<ValueCond>,
    #[serde(default)]
    interval_ms: Option<u64>,
    #[serde(default)]
    timeout_s: Option<f64>,
    #[serde(default)]
    ms: Option<u64>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    node: Option<String>,
    #[serde(default)]
    for_s: Option<f64>,
}

/// `[cleanup]`: what always runs at the end.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cleanup {
    /// Send `10 <default session>` to every module a session step was sent to and not closed.
    #[serde(default = "yes")]
    pub close_sessions: bool,
    /// Stop the keep-alive of every module used (the driver closes its client).
    #[serde(default = "yes")]
    pub keep_alive_off: bool,
    #[serde(default)]
    pub provenance: String,
}

fn yes() -> bool {
    true
}

impl Default for Cleanup {
    fn default() -> Self {
        Cleanup {
            close_sessions: true,
            keep_alive_off: true,
            provenance: String::new(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScript {
    procedure: Meta,
    #[serde(default)]
    modules: BTreeMap<String, Spanned<RawModule>>,
    #[serde(default)]
    parameters: BTreeMap<String, Spanned<RawParameter>>,
    #[serde(default)]
    precondition: Vec<Spanned<RawPrecondition>>,
    #[serde(default)]
    step: Vec<Spanned<RawStep>>,
    #[serde(default)]
    cleanup: Option<Cleanup>,
}

/// A loaded, validated procedure script.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    pub source_name: String,
    pub procedure: Meta,
    pub modules: BTreeMap<String, ModuleSpec>,
    pub parameters: BTreeMap<String, Parameter>,
    pub preconditions: Vec<Precondition>,
    pub steps: Vec<Step>,
    pub cleanup: Cleanup,
}

/// The range of `keep_alive_period_ms`: a keep-alive faster than every 200 ms only loads the
/// bus (servers drop a session after S3, about 5 s, without traffic).
pub const KEEP_ALIVE_MS: (u64, u64) = (200, 60_000);
/// The range of `p2_ms`.
pub const P2_MS: (u64, u64) = (10, 30_000);
/// The range of `p2_star_ms`.
pub const P2_STAR_MS: (u64, u64) = (10, 600_000);
/// The range of a poll's `interval_ms`.
pub const POLL_INTERVAL_MS: (u64, u64) = (10, 3_600_000);
/// The range of a wait's `ms`.
pub const WAIT_MS: (u64, u64) = (0, 3_600_000);
/// The longest `timeout_s` and `for_s` (a day).
pub const MAX_STEP_SECONDS: f64 = 86_400.0;

/// KWP2000 ReadDiagnosticTroubleCodesByStatus, all groups.
const DEFAULT_DTC_REQUEST: [u8; 4] = [0x18, 0x00, 0xFF, 0x00];
/// UDS ReadDTCInformation, reportDTCByStatusMask, all status bits.
const DEFAULT_UDS_DTC_REQUEST: [u8; 3] = [0x19, 0x02, 0xFF];

/// A module name the script does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the script has no module {module} (it has: {})", known.join(", "))]
pub struct UnknownModule {
    pub module: String,
    pub known: Vec<String>,
}

/// Why `--ids MODULE=TX/RX` could not be applied ([`Script::override_ids`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdsOverrideError {
    /// The text is not `MODULE=TX/RX`.
    #[error("takes MODULE=TX/RX in hex (like BCM=745/765), not `{0}`")]
    Syntax(String),
    /// TX or RX is not an 11-bit id in hex (or a 29-bit one in 8 digits).
    #[error(transparent)]
    Id(#[from] crate::frame::IdParseError),
    /// The script has no such module.
    #[error(transparent)]
    Module(#[from] UnknownModule),
}

impl Script {
    /// Gives module `module` other diagnostic ids (`--ids MODULE=TX/RX`, for a car whose
    /// modules sit elsewhere); why not when the script has no such module.
    pub fn set_module_ids(
        &mut self,
        module: &str,
        request: Id,
        response: Id,
    ) -> Result<(), UnknownModule> {
        let known: Vec<String> = self.modules.keys().cloned().collect();
        let m = self.modules.get_mut(module).ok_or_else(|| UnknownModule {
            module: module.to_string(),
            known,
        })?;
        m.request_id = request;
        m.response_id = response;
        Ok(())
    }

    /// Applies `MODULE=TX/RX` (ids in hex, 8 digits for a 29-bit id; spaces around the parts
    /// ignored) with [`Script::set_module_ids`].
    pub fn override_ids(&mut self, spec: &str) -> Result<(), IdsOverrideError> {
        let syntax = || IdsOverrideError::Syntax(spec.to_string());
        let (module, ids) = spec.split_once('=').ok_or_else(syntax)?;
        let (tx, rx) = ids.split_once('/').ok_or_else(syntax)?;
        let tx = Id::parse_hex(tx.trim(), false)?;
        let rx = Id::parse_hex(rx.trim(), false)?;
        Ok(self.set_module_ids(module.trim(), tx, rx)?)
    }

    /// Parses and validates script text; `source_name` names it in errors.
    pub fn from_toml(text: &str, source_name: &str) -> Result<Script, ScriptError> {
        let index = LineIndex::new(text);
        let err_at = |offset: Option<usize>, message: String| ScriptError {
            location: index.location(source_name, offset),
            message,
        };
        let raw: RawScript = toml::from_str(text)
            .map_err(|e| err_at(e.span().map(|s| s.start), e.message().to_string()))?;
        let mut modules = BTreeMap::new();
        for (name, m) in raw.modules {
            let at = Some(m.span().start);
            let spec = build_module(&name, m.into_inner()).map_err(|e| err_at(at, e))?;
            modules.insert(name, spec);
        }
        let mut parameters = BTreeMap::new();
        for (name, p) in raw.parameters {
            let at = Some(p.span().start);
            let param = build_parameter(&name, p.into_inner()).map_err(|e| err_at(at, e))?;
            parameters.insert(name, param);
        }
        let mut preconditions = Vec::new();
        for (i, p) in raw.precondition.into_iter().enumerate() {
            let at = Some(p.span().start);
            let pre = build_precondition(i, p.into_inner(), &modules).map_err(|e| err_at(at, e))?;
            preconditions.push(pre);
        }
        let mut steps: Vec<Step> = Vec::new();
        let mut ids = std::collections::HashSet::new();
        for s in raw.step {
            let at = s.span().start;
            let line = index.locate(at).0 as usize;
            let id = s.get_ref().id.clone();
            if !ids.insert(id.clone()) {
                return Err(err_at(Some(at), format!("step id {id:?} is used twice")));
            }
            let step = build_step(s.into_inner(), line, &modules, &parameters)
                .map_err(|e| err_at(Some(at), format!("step {id:?}: {e}")))?;
            steps.push(step);
        }
        if steps.is_empty() {
            return Err(err_at(None, "the script has no [[step]]".to_string()));
        }
        Ok(Script {
            source_name: source_name.to_string(),
            procedure: raw.procedure,
            modules,
            parameters,
            preconditions,
            steps,
            cleanup: raw.cleanup.unwrap_or_default(),
        })
    }

    /// The `MESSAGE.SIGNAL` names the preconditions need (feed them to
    /// [`crate::procedure::Runner::handle_signal`]).
    pub fn signals(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .preconditions
            .iter()
            .filter_map(|p| match &p.check {
                Check::Signal { signal, .. } => Some(signal.as_str()),
                _ => None,
            })
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

fn build_module(name: &str, m: RawModule) -> Result<ModuleSpec, String> {
    let id = |raw: u32| {
        if m.extended_ids {
            Id::extended(raw)
        } else {
            u16::try_from(raw).ok().and_then(Id::standard)
        }
        .ok_or_else(|| {
            format!(
                "module {name}: id 0x{raw:X} does not fit in {} bits",
                if m.extended_ids { 29 } else { 11 }
            )
        })
    };
    let dialect = match m.dialect.as_deref() {
        None | Some("kwp2000") => Dialect::Kwp2000,
        Some("uds") => Dialect::Uds,
        Some(other) => {
            return Err(format!(
                "module {name}: dialect {other:?} is not kwp2000 or uds"
            ));
        }
    };
    let keep_alive = match &m.keep_alive {
        None => None,
        Some(t) if t.trim().eq_ignore_ascii_case("none") => None,
        Some(t) => Some(
            match crate::diag::hex::parse_hex(t) {
                Err(crate::diag::hex::HexError::Empty) => Ok(Vec::new()),
                other => other,
            }
            .map_err(|e| format!("module {name}: keep_alive: {e}"))
            .and_then(|b| {
                if b.is_empty() {
                    Err(format!(
                        "module {name}: keep_alive is empty (write \"none\")"
                    ))
                } else {
                    Ok(b)
                }
            })?,
        ),
    };
    let ranged = |what: &str, v: Option<u64>, default: u64, (min, max): (u64, u64)| {
        let v = v.unwrap_or(default);
        if (min..=max).contains(&v) {
            Ok(Duration::from_millis(v))
        } else {
            Err(format!(
                "module {name}: {what} = {v} is outside {min} to {max} ms"
            ))
        }
    };
    Ok(ModuleSpec {
        name: name.to_string(),
        request_id: id(m.request_id)?,
        response_id: id(m.response_id)?,
        padding: m.padding,
        dialect,
        default_session: m.default_session.unwrap_or(dialect.default_session()),
        keep_alive,
        keep_alive_period: ranged(
            "keep_alive_period_ms",
            m.keep_alive_period_ms,
            2000,
            KEEP_ALIVE_MS,
        )?,
        p2: ranged("p2_ms", m.p2_ms, 1000, P2_MS)?,
        p2_star: ranged("p2_star_ms", m.p2_star_ms, 5000, P2_STAR_MS)?,
        provenance: m.provenance,
    })
}

fn build_parameter(name: &str, p: RawParameter) -> Result<Parameter, String> {
    let kind = match p.kind.as_str() {
        "integer" => {
            if p.choices.is_some() {
                return Err(format!("parameter {name}: an integer has no choices"));
            }
            let (min, max) = (p.min.unwrap_or(0), p.max.unwrap_or(255));
            if min > max {
                return Err(format!("parameter {name}: min {min} is above max {max}"));
            }
            ParamKind::Integer {
                min,
                max,
                unit: p.unit,
            }
        }
        "choice" => {
            if p.min.is_some() || p.max.is_some() {
                return Err(format!("parameter {name}: a choice has no min/max"));
            }
            let mut c: Vec<(String, u8)> = p.choices.unwrap_or_default().into_iter().collect();
            if c.is_empty() {
                return Err(format!(
                    "parameter {name}: a choice needs `choices = {{ name = value, ... }}`"
                ));
            }
            c.sort_by_key(|(_, v)| *v);
            ParamKind::Choice(c)
        }
        other => {
            return Err(format!(
                "parameter {name}: type {other:?} is not integer or choice"
            ));
        }
    };
    Ok(Parameter {
        name: name.to_string(),
        kind,
        prompt: p.prompt,
    })
}

fn build_precondition(
    i: usize,
    p: RawPrecondition,
    modules: &BTreeMap<String, ModuleSpec>,
) -> Result<Precondition, String> {
    let _ = p.source;
    let id = p.id.unwrap_or_else(|| format!("precondition-{}", i + 1));
    let cond = ValueCond {
        equals: p.equals,
        min: p.min,
        max: p.max,
    };
    let given = [p.signal.is_some(), p.no_dtc.is_some(), p.confirm.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    if given != 1 {
        return Err(format!(
            "precondition {id}: give exactly one of `signal`, `no_dtc`, `confirm`"
        ));
    }
    let (check, default_title) = if let Some(signal) = p.signal {
        if !signal.contains('.') {
            return Err(format!(
                "precondition {id}: signal {signal:?} must be MESSAGE.SIGNAL"
            ));
        }
        if cond.is_empty() {
            return Err(format!(
                "precondition {id}: a signal needs `equals`, `min` or `max`"
            ));
        }
        let title = format!("{signal} {cond}");
        (
            Check::Signal {
                signal,
                cond,
                unit: p.unit,
            },
            title,
        )
    } else if let Some(nd) = p.no_dtc {
        if !cond.is_empty() {
            return Err(format!(
                "precondition {id}: equals/min/max apply to signals only"
            ));
        }
        if !modules.contains_key(&nd.module) {
            return Err(format!(
                "precondition {id}: module {} is not in [modules]",
                nd.module
            ));
        }
        let request = match nd.request {
            Some(t) => match crate::diag::hex::parse_hex(&t) {
                Err(crate::diag::hex::HexError::Empty) => Vec::new(),
                other => other.map_err(|e| format!("precondition {id}: request: {e}"))?,
            },
            None => match modules.get(&nd.module).map(|m| m.dialect) {
                Some(Dialect::Uds) => DEFAULT_UDS_DTC_REQUEST.to_vec(),
                _ => DEFAULT_DTC_REQUEST.to_vec(),
            },
        };
        if request.is_empty() {
            return Err(format!("precondition {id}: empty request"));
        }
        let title = format!("no {} stored in {}", nd.codes.join("/"), nd.module);
        (
            Check::NoDtc {
                module: nd.module,
                codes: nd.codes,
                request,
            },
            title,
        )
    } else {
        let text = p.confirm.unwrap_or_default();
        (Check::Confirm(text.clone()), text)
    };
    if p.during && !matches!(check, Check::Signal { .. }) {
        return Err(format!(
            "precondition {id}: `during = true` applies to signal preconditions only"
        ));
    }
    Ok(Precondition {
        id,
        title: p.title.unwrap_or(default_title),
        check,
        during: p.during,
        provenance: p.provenance,
    })
}

fn build_step(
    s: RawStep,
    line: usize,
    modules: &BTreeMap<String, ModuleSpec>,
    params: &BTreeMap<String, Parameter>,
) -> Result<Step, String> {
    let module = || -> Result<String, String> {
        let m = s.module.clone().ok_or("needs `module`")?;
        if !modules.contains_key(&m) {
            let known: Vec<&str> = modules.keys().map(String::as_str).collect();
            return Err(format!(
                "module {m} is not in [modules] (known: {})",
                known.join(", ")
            ));
        }
        Ok(m)
    };
    let check_params = |names: Vec<&str>| -> Result<(), String> {
        for n in names {
            if !params.contains_key(n) {
                return Err(format!("parameter {{{n}}} is not declared in [parameters]"));
            }
        }
        Ok(())
    };
    let request = || -> Result<Template, String> {
        let t = Template::parse(s.request.as_deref().ok_or("needs `request`")?)
            .map_err(|e| e.to_string())?;
        check_params(t.params().collect())?;
        Ok(t)
    };
    let expect = || -> Result<Option<Pattern>, String> {
        match &s.expect {
            None => Ok(None),
            Some(t) => {
                let p = Pattern::parse(t).map_err(|e| e.to_string())?;
                check_params(p.params().collect())?;
                Ok(Some(p))
            }
        }
    };
    let extract = || extract_of(&s);
    let secs = |what: &str, v: Option<f64>| -> Result<Duration, String> {
        let v = v.ok_or_else(|| format!("needs `{what}`"))?;
        if !(v.is_finite() && v > 0.0 && v <= MAX_STEP_SECONDS) {
            return Err(format!(
                "{what} = {v} is not a number of seconds above 0 and at most {MAX_STEP_SECONDS}"
            ));
        }
        Ok(Duration::from_secs_f64(v))
    };
    let cond = ValueCond {
        equals: s.equals,
        min: s.min,
        max: s.max,
    };
    check_fields_apply(&s)?;
    let kind = match s.kind.as_str() {
        "session" => StepKind::Session {
            module: module()?,
            session: s.session.ok_or("needs `session`")?,
        },
        "request" => StepKind::Request {
            module: module()?,
            request: request()?,
            expect: expect()?,
            accept_nrc: s.accept_nrc.clone(),
            writes: s.writes,
        },
        "read" => StepKind::Read {
            module: module()?,
            request: request()?,
            expect: expect()?,
            extract: extract()?,
            check: cond,
        },
        "poll" => {
            let until = s.until.ok_or("needs `until = { equals/min/max }`")?;
            if until.is_empty() {
                return Err("`until` needs equals, min or max".to_string());
            }
            let interval = s.interval_ms.ok_or("needs `interval_ms`")?;
            let (lo, hi) = POLL_INTERVAL_MS;
            if !(lo..=hi).contains(&interval) {
                return Err(format!(
                    "interval_ms = {interval} is outside {lo} to {hi} ms"
                ));
            }
            let interval = Duration::from_millis(interval);
            StepKind::Poll {
                module: module()?,
                request: request()?,
                expect: expect()?,
                extract: extract()?,
                until,
                fail_if: s.fail_if,
                interval,
                timeout: secs("timeout_s", s.timeout_s)?,
            }
        }
        "wait" => StepKind::Wait {
            duration: {
                let ms = s.ms.ok_or("needs `ms`")?;
                let (lo, hi) = WAIT_MS;
                if !(lo..=hi).contains(&ms) {
                    return Err(format!("ms = {ms} is outside {lo} to {hi} ms"));
                }
                Duration::from_millis(ms)
            },
            reason: s.reason.clone().ok_or("needs `reason`")?,
        },
        "prompt" => StepKind::Prompt {
            text: s.text.clone().ok_or("needs `text`")?,
        },
        "verify_node" => StepKind::VerifyNode {
            node: s.node.clone().ok_or("needs `node` (a DBC node)")?,
            for_: secs("for_s", s.for_s)?,
            within: secs("timeout_s", s.timeout_s)?,
        },
        "close_session" => StepKind::CloseSession { module: module()? },
        other => {
            return Err(format!(
                "kind {other:?} is not one of session, request, read, poll, wait, prompt, verify_node, close_session"
            ));
        }
    };
    if s.writes && !matches!(kind, StepKind::Request { .. }) {
        return Err("`writes` applies to request steps only".to_string());
    }
    if !cond.is_empty() && !matches!(kind, StepKind::Read { .. }) {
        return Err("equals/min/max apply to read steps (poll uses `until`)".to_string());
    }
    Ok(Step {
        id: s.id,
        title: s.title,
        provenance: s.provenance,
        source: s.source,
        kind,
        line,
    })
}

/// Every field set on a step must apply to its kind.
fn check_fields_apply(s: &RawStep) -> Result<(), String> {
    let present: [(&str, bool); 22] = [
        ("module", s.module.is_some()),
        ("session", s.session.is_some()),
        ("request", s.request.is_some()),
        ("expect", s.expect.is_some()),
        ("accept_nrc", !s.accept_nrc.is_empty()),
        ("writes", s.writes),
        ("at", s.at.is_some()),
        ("length", s.length.is_some()),
        ("endian", s.endian.is_some()),
        ("scale", s.scale.is_some()),
        ("offset", s.offset.is_some()),
        ("unit", !s.unit.is_empty()),
        ("equals", s.equals.is_some()),
        ("min", s.min.is_some()),
        ("max", s.max.is_some()),
        ("until", s.until.is_some()),
        ("fail_if", s.fail_if.is_some()),
        ("interval_ms", s.interval_ms.is_some()),
        ("timeout_s", s.timeout_s.is_some()),
        ("ms", s.ms.is_some()),
        ("reason", s.reason.is_some()),
        ("node", s.node.is_some()),
    ];
    const VALUE: [&str; 6] = ["at", "length", "endian", "scale", "offset", "unit"];
    let allowed: Vec<&str> = match s.kind.as_str() {
        "session" => vec!["module", "session"],
        "request" => vec!["module", "request", "expect", "accept_nrc", "writes"],
        "read" => [
            &["module", "request", "expect", "equals", "min", "max"][..],
            &VALUE,
        ]
        .concat(),
        "poll" => [
            &[
                "module",
                "request",
                "expect",
                "until",
                "fail_if",
                "interval_ms",
                "timeout_s",
            ][..],
            &VALUE,
        ]
        .concat(),
        "wait" => vec!["ms", "reason"],
        "prompt" => vec![],
        "verify_node" => vec!["node", "timeout_s"],
        "close_session" => vec!["module"],
        _ => present.iter().map(|(k, _)| *k).collect(),
    };
    if let Some((k, _)) = present.iter().find(|(k, set)| *set && !allowed.contains(k)) {
        return Err(format!("`{k}` does not apply to a {} step", s.kind));
    }
    if s.text.is_some() && s.kind != "prompt" {
        return Err(format!("`text` does not apply to a {} step", s.kind));
    }
    if s.for_s.is_some() && s.kind != "verify_node" {
        return Err(format!("`for_s` does not apply to a {} step", s.kind));
    }
    Ok(())
}

/// Where a read or poll step finds its value in the response, and how it is scaled.
fn extract_of(s: &RawStep) -> Result<Extract, String> {
    let at =
        s.at.ok_or("needs `at` (byte offset of the value in the response)")?;
    let length = s.length.unwrap_or(1);
    if !(1..=8).contains(&length) {
        return Err(format!("length {length} is not 1 to 8 bytes"));
    }
    let little_endian = match s.endian.as_deref() {
        None | Some("big") => false,
        Some("little") => true,
        Some(o) => return Err(format!("endian {o:?} is not big or little")),
    };
    Ok(Extract {
        at,
        length,
        little_endian,
        scale: s.scale.unwrap_or(1.0),
        offset: s.offset.unwrap_or(0.0),
        unit: s.unit.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn params(list: &[(&str, u8)]) -> BTreeMap<String, u8> {
        list.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn test_override_ids() {
        let mut s = crate::bundled::script("audio-unit-registration")
            .unwrap()
            .unwrap();
        s.override_ids("BCM=7A0/7A8").unwrap();
        assert_eq!(s.modules["BCM"].request_id, Id::standard(0x7A0).unwrap());
        assert_eq!(s.modules["BCM"].response_id, Id::standard(0x7A8).unwrap());
        s.override_ids(" BCM = 18DA40F1 / 18DAF140 ").unwrap();
        assert!(s.modules["BCM"].request_id.is_extended());
        assert!(matches!(
            s.override_ids("XYZ=1/2"),
            Err(IdsOverrideError::Module(UnknownModule { module, .. })) if module == "XYZ"
        ));
        assert!(matches!(
            s.override_ids("BCM=800/765"),
            Err(IdsOverrideError::Id(_))
        ));
        for bad in ["BCM745/765", "BCM=745", ""] {
            assert_eq!(
                s.override_ids(bad),
                Err(IdsOverrideError::Syntax(bad.to_string()))
            );
        }
        // A refused override changes nothing.
        assert!(s.modules["BCM"].request_id.is_extended());
    }

    #[test]
    fn test_parse_template_and_render() {
        let t = Template::parse("31 92 {capacity_ah} {battery_type}").unwrap();
        assert_eq!(t.to_string(), "31 92 {capacity_ah} {battery_type}");
        assert_eq!(
            t.render(&params(&[("capacity_ah", 70), ("battery_type", 2)])),
            Ok(vec![0x31, 0x92, 70, 2])
        );
        assert_eq!(
            t.render(&params(&[("capacity_ah", 70)])),
            Err(MissingParameter("battery_type".to_string()))
        );
        assert!(Template::parse("").is_err());
        assert!(Template::parse("3").is_err());
        assert!(Template::parse("310").is_err());
        assert!(Template::parse("21 {}").is_err());
        assert!(Template::parse("21 ..").is_err());
    }

    #[test]
    fn test_pattern_matching() {
        let p = Pattern::parse("61 91 ??").unwrap();
        let none = BTreeMap::new();
        assert!(p.matches(&[0x61, 0x91, 0x01], &none));
        assert!(!p.matches(&[0x61, 0x91], &none));
        assert!(!p.matches(&[0x61, 0x91, 0x01, 0x00], &none));
        assert!(!p.matches(&[0x61, 0x92, 0x01], &none));
        let rest = Pattern::parse("5A 81 ..").unwrap();
        assert_eq!(rest.to_string(), "5A 81 ..");
        assert!(rest.matches(&[0x5A, 0x81], &none));
        assert!(rest.matches(&[0x5A, 0x81, 1, 2, 3], &none));
        let any = Pattern::parse("..").unwrap();
        assert!(any.matches(&[], &none));
        let param = Pattern::parse("71 92 {c}").unwrap();
        assert!(param.matches(&[0x71, 0x92, 70], &params(&[("c", 70)])));
        assert!(!param.matches(&[0x71, 0x92, 71], &params(&[("c", 70)])));
        assert!(!param.matches(&[0x71, 0x92, 70], &none));
        assert!(Pattern::parse("61 .. 01").is_err());
    }

    #[test]
    fn test_extract_values() {
        let e = |at, length, little_endian, scale, offset| Extract {
            at,
            length,
            little_endian,
            scale,
            offset,
            unit: String::new(),
        };
        let pdu = [0x61, 0x94, 0x01, 0x02];
        assert_eq!(e(2, 1, false, 1.0, 0.0).value(&pdu), Some(1.0));
        assert_eq!(e(2, 2, false, 1.0, 0.0).value(&pdu), Some(258.0));
        assert_eq!(e(2, 2, true, 1.0, 0.0).value(&pdu), Some(513.0));
        assert_eq!(e(2, 2, false, 0.5, -1.0).value(&pdu), Some(128.0));
        assert_eq!(e(3, 2, false, 1.0, 0.0).value(&pdu), None);
        assert_eq!(e(usize::MAX, 2, false, 1.0, 0.0).value(&pdu), None);
    }

    #[test]
    fn test_value_conditions() {
        let c = ValueCond {
            equals: None,
            min: Some(12.2),
            max: None,
        };
        assert!(c.holds(12.2) && c.holds(12.625) && !c.holds(12.1));
        assert_eq!(c.to_string(), ">= 12.2");
        let e = ValueCond {
            equals: Some(3.0),
            ..ValueCond::default()
        };
        assert!(e.holds(3.0) && !e.holds(2.0));
        assert!(ValueCond::default().holds(-1.0));
    }

    #[test]
    fn test_parameter_values() {
        let p = Parameter {
            name: "t".into(),
            kind: ParamKind::Choice(vec![("flooded".into(), 0), ("agm".into(), 2)]),
            prompt: String::new(),
        };
        assert_eq!(p.parse_value("AGM"), Ok(2));
        assert_eq!(p.parse_value("0"), Ok(0));
        assert!(p.parse_value("1").is_err());
        assert_eq!(p.describe_value(2), "agm (2)");
    }

    const AUDIO: &str = include_str!("../../scripts/audio-unit-registration.toml");

    proptest! {
        #[test]
        fn mutated_scripts_never_panic_and_errors_point_inside(at in 0usize..4000, len in 0usize..40, with in "[ -~\n]{0,8}") {
            let mut text = AUDIO.to_string();
            let start = at.min(text.len());
            let end = (start + len).min(text.len());
            if text.is_char_boundary(start) && text.is_char_boundary(end) {
                text.replace_range(start..end, &with);
            }
            if let Err(e) = Script::from_toml(&text, "m.toml") {
                let lines = text.lines().count() + 1;
                prop_assert!(e.line().is_none_or(|l| l >= 1 && l as usize <= lines), "{}", e);
                prop_assert!(!e.message.is_empty());
            }
        }

        #[test]
        fn rendered_bytes_match_their_own_pattern(bytes in proptest::collection::vec(any::<u8>(), 1..16), cut in 0usize..16) {
            let text = crate::diag::hex::format_hex(&bytes);
            let t = Template::parse(&text).unwrap();
            let none = BTreeMap::new();
            prop_assert_eq!(t.render(&none).unwrap(), bytes.clone());
            let p = Pattern::parse(&text).unwrap();
            prop_assert!(p.matches(&bytes, &none));
            // A prefix with `..` matches; without it, only the full length does.
            let cut = cut.min(bytes.len());
            let prefix = crate::diag::hex::format_hex(&bytes[..cut]);
            let rest = Pattern::parse(&format!("{prefix} ..")).unwrap();
            prop_assert!(rest.matches(&bytes, &none));
            if cut < bytes.len() && cut > 0 {
                prop_assert!(!Pattern::parse(&prefix).unwrap().matches(&bytes, &none));
            }
        }
    }
}

//! The compiled DBC model: [`Database`], [`Message`], [`Signal`], [`Node`], value tables and
//! the resolved multiplexing tree.
//!
//! [`Database::from_bytes`] parses with `can-dbc` (UTF-8, or Windows-1252 when the bytes are
//! not UTF-8) and compiles: message ids are checked against the DBC convention (bit 31 =
//! extended) using the id *as written* (can-dbc truncates out-of-range standard ids),
//! sizes are checked (messages up to 64 bytes, signals 1 to 64 bits lying within 64 bytes,
//! floats of exactly 32 or 64 bits), attributes, comments, value tables and `SG_MUL_VAL_`
//! are attached, each signal gets an extraction plan and each message a multiplexing tree.
//! Problems that make decoding impossible are load errors ([`DbcError`]); everything else
//! (overlaps, signals past the message end, missing cycle times ...) is for [`crate::dbc::check`].

use std::collections::{BTreeSet, HashMap};

use can_dbc as ast;

use super::decode::{Conversion, Extract, MuxNode, Plan, Switch};
use super::source::{ScannedMessage, SourceMap};
use super::{DbcError, Location, Problem};
use crate::frame::Id;

/// Bit numbering and byte order of a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ByteOrder {
    /// Intel (`@1`): the start bit is the least significant bit, numbered byte by byte from
    /// bit 0 = LSB of byte 0.
    LittleEndian,
    /// Motorola (`@0`): the start bit is the most significant bit in the DBC's sawtooth
    /// numbering (bit 7 = MSB of byte 0, bit 0 its LSB, bit 15 = MSB of byte 1 ...).
    BigEndian,
}

/// How the raw bits are interpreted (`SIG_VALTYPE_`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// A two's complement (signed) or unsigned integer, per the `+`/`-` of the `SG_` line.
    Integer,
    /// IEEE 754 single precision (`SIG_VALTYPE_ ... : 1`), exactly 32 bits.
    Float32,
    /// IEEE 754 double precision (`SIG_VALTYPE_ ... : 2`), exactly 64 bits.
    Float64,
}

/// One raw value and its label (`VAL_` or `VAL_TABLE_` entry).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ValueDescription {
    /// The raw value.
    pub value: i64,
    /// Its text.
    pub label: String,
}

/// A named global value table (`VAL_TABLE_`).
///
/// `can-dbc` does not parse the (rare, obsolete) constructs that reference a global table from
/// a signal, so signals get their labels from `VAL_` only; global tables are kept for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueTable {
    name: String,
    entries: Vec<ValueDescription>,
    source: u32,
}

impl ValueTable {
    /// The table name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The entries, sorted by value.
    pub fn entries(&self) -> &[ValueDescription] {
        &self.entries
    }
    /// Index into [`Database::sources`] of the file that defined it.
    pub fn source(&self) -> usize {
        self.source as usize
    }
}

/// A network node (`BU_`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    name: String,
    comment: Option<String>,
}

impl Node {
    /// The node name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Its `CM_ BU_` comment.
    pub fn comment(&self) -> Option<&str> {
        self.comment.as_deref()
    }
}

/// The multiplexer indicator as written on the `SG_` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MuxIndicator {
    /// No indicator.
    Plain,
    /// `M`: a multiplexor (switch).
    Multiplexor,
    /// `mN`: present when the multiplexor's value is N.
    Multiplexed(u64),
    /// `mNM`: multiplexed itself and a multiplexor for others (extended multiplexing).
    MultiplexedMultiplexor(u64),
}

/// An inclusive range of multiplexor values (`SG_MUL_VAL_ ... 3-5`; `mN` is `N-N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MuxRange {
    /// Lowest value.
    pub min: u64,
    /// Highest value (inclusive).
    pub max: u64,
}

impl MuxRange {
    /// Whether `v` lies in the range.
    pub fn contains(&self, v: i128) -> bool {
        i128::from(self.min) <= v && v <= i128::from(self.max)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Parent {
    Root,
    Switch { signal: u32, values: Vec<MuxRange> },
    Orphan { switch: Option<String> },
}

/// How a signal takes part in multiplexing, as resolved with cantools' rules.
///
/// A message with exactly one multiplexor (`M` or `mNM`) uses simple multiplexing: every
/// `mN` signal depends on it, for value N plus any `SG_MUL_VAL_` ranges given for it. A
/// message with several (or no) multiplexors uses extended multiplexing: only `SG_MUL_VAL_`
/// says which switch and ranges a signal depends on; a signal with an `m` indicator but no
/// `SG_MUL_VAL_` entry is then decoded like a plain signal. Cascades follow from
/// multiplexors that are themselves multiplexed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Multiplexing<'a> {
    /// Always present (may still be a multiplexor itself, see [`Signal::is_multiplexor`]).
    Plain,
    /// Present when the multiplexor (an index into the message's signals) is present and its
    /// value lies in one of the ranges.
    Selected {
        /// Index of the multiplexor in [`Message::signals`].
        multiplexor: usize,
        /// The multiplexor values that select this signal.
        values: &'a [MuxRange],
    },
    /// Depends on a switch that does not exist, is not a multiplexor, or gives no value:
    /// never decoded.
    Orphan {
        /// The switch name it refers to, if any.
        switch: Option<&'a str>,
    },
}

/// A signal (`SG_`) with everything the DBC says about it.
#[derive(Debug, Clone)]
pub struct Signal {
    pub(crate) name: String,
    /// The name on the `SG_` line (`name` may be a `SystemSignalLongSymbol`).
    pub(crate) dbc_name: String,
    pub(crate) start_bit: u16,
    pub(crate) size: u8,
    pub(crate) byte_order: ByteOrder,
    pub(crate) signed: bool,
    pub(crate) value_type: ValueType,
    pub(crate) factor: f64,
    pub(crate) offset: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
    pub(crate) unit: String,
    pub(crate) receivers: Vec<String>,
    pub(crate) comment: Option<String>,
    pub(crate) values: Vec<ValueDescription>,
    pub(crate) indicator: MuxIndicator,
    pub(crate) parent: Parent,
    pub(crate) reachable: bool,
    pub(crate) line: Option<(u32, u32)>,
    pub(crate) extract: Extract,
    pub(crate) conversion: Conversion,
}

impl Signal {
    /// The signal name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The start bit as written (LSB for Intel, MSB in sawtooth numbering for Motorola).
    pub fn start_bit(&self) -> u16 {
        self.start_bit
    }
    /// Size in bits, 1 to 64.
    pub fn size(&self) -> u8 {
        self.size
    }
    /// Intel or Motorola.
    pub fn byte_order(&self) -> ByteOrder {
        self.byte_order
    }
    /// Whether an integer signal is two's complement (`-`).
    pub fn is_signed(&self) -> bool {
        self.signed
    }
    /// Integer, float32 or float64.
    pub fn value_type(&self) -> ValueType {
        self.value_type
    }
    /// Scale factor: physical = raw * factor + offset.
    pub fn factor(&self) -> f64 {
        self.factor
    }
    /// Offset: physical = raw * factor + offset.
    pub fn offset(&self) -> f64 {
        self.offset
    }
    /// `[min|...]` as written (0 and 0 mean "not given" by convention).
    pub fn min(&self) -> f64 {
        self.min
    }
    /// `[...|max]` as written.
    pub fn max(&self) -> f64 {
        self.max
    }
    /// The unit, possibly empty.
    pub fn unit(&self) -> &str {
        &self.unit
    }
    /// Receiving nodes (`Vector__XXX` removed).
    pub fn receivers(&self) -> &[String] {
        &self.receivers
    }
    /// The `CM_ SG_` comment.
    pub fn comment(&self) -> Option<&str> {
        self.comment.as_deref()
    }
    /// The value descriptions (`VAL_`), sorted by value; the last one wins for duplicates.
    pub fn value_table(&self) -> &[ValueDescription] {
        &self.values
    }
    /// The label for a raw integer value.
    pub fn label(&self, raw: i128) -> Option<&str> {
        let raw = i64::try_from(raw).ok()?;
        self.values
            .binary_search_by(|d| d.value.cmp(&raw))
            .ok()
            .and_then(|i| self.values.get(i))
            .map(|d| d.label.as_str())
    }
    /// The multiplexer indicator as written.
    pub fn mux_indicator(&self) -> MuxIndicator {
        self.indicator
    }
    /// Whether the signal is a multiplexor (`M` or `mNM`).
    pub fn is_multiplexor(&self) -> bool {
        matches!(
            self.indicator,
            MuxIndicator::Multiplexor | MuxIndicator::MultiplexedMultiplexor(_)
        )
    }
    /// How the signal is multiplexed, as resolved.
    pub fn multiplexing(&self) -> Multiplexing<'_> {
        match &self.parent {
            Parent::Root => Multiplexing::Plain,
            Parent::Switch { signal, values } => Multiplexing::Selected {
                multiplexor: *signal as usize,
                values,
            },
            Parent::Orphan { switch } => Multiplexing::Orphan {
                switch: switch.as_deref(),
            },
        }
    }
    /// Whether some frame can contain the signal (its multiplexor chain reaches the root).
    pub fn is_reachable(&self) -> bool {
        self.reachable
    }
    /// Whether physical values of this signal are integers ([`super::PhysicalValue::Int`]).
    pub fn has_integer_values(&self) -> bool {
        self.conversion.is_integer()
    }
    /// The smallest and largest physical values of a signal whose physical values are
    /// integers, exactly; `None` for other signals (and should the range not fit `i128`).
    pub fn integer_range(&self) -> Option<(i128, i128)> {
        let (factor, offset) = match self.conversion {
            Conversion::IntIdentity => (1i128, 0i128),
            Conversion::IntLinear { factor, offset } => (i128::from(factor), i128::from(offset)),
            Conversion::Float { .. } | Conversion::FloatIdentity => return None,
        };
        let (lo, hi) = self.extract.int_range(self.signed);
        let a = lo.checked_mul(factor)?.checked_add(offset)?;
        let b = hi.checked_mul(factor)?.checked_add(offset)?;
        Some((a.min(b), a.max(b)))
    }
    /// The smallest and largest raw values the signal can carry (floats: the float range).
    pub fn raw_range(&self) -> (f64, f64) {
        match self.value_type {
            ValueType::Float32 => (f64::from(f32::MIN), f64::from(f32::MAX)),
            ValueType::Float64 => (f64::MIN, f64::MAX),
            ValueType::Integer => {
                let (lo, hi) = self.extract.int_range(self.signed);
                (lo as f64, hi as f64)
            }
        }
    }
    /// The bits the signal occupies, as (byte index, mask) pairs over a frame of up to 64
    /// bytes: bit `b` of byte `i` is set when the signal uses it.
    pub fn bit_mask(&self) -> [u64; 8] {
        self.extract.bit_mask()
    }
    /// The number of payload bytes the signal needs (one past the last byte it touches).
    pub fn bytes_needed(&self) -> usize {
        usize::from(self.extract.end_byte)
    }
    /// Line and column of the `SG_` line, when found.
    pub fn position(&self) -> Option<(u32, u32)> {
        self.line
    }
}

/// A message (`BO_`) with its signals and compiled decoding tree.
#[derive(Debug, Clone)]
pub struct Message {
    pub(crate) id: Id,
    pub(crate) name: String,
    pub(crate) size: u8,
    pub(crate) transmitter: Option<String>,
    pub(crate) extra_transmitters: Vec<String>,
    pub(crate) cycle_time: Option<u32>,
    pub(crate) comment: Option<String>,
    pub(crate) signals: Vec<Signal>,
    pub(crate) source: u32,
    pub(crate) position: Option<(u32, u32)>,
    pub(crate) nodes: Vec<MuxNode>,
    pub(crate) switches: Vec<Switch>,
    pub(crate) plans: Vec<Plan>,
    /// Size <= 8 and every signal within bytes 0-7: decode from a 64-bit word.
    pub(crate) word_path: bool,
}

impl Message {
    /// The CAN id (bit 31 of the DBC id gave the extended flag).
    pub fn id(&self) -> Id {
        self.id
    }
    /// The message name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Size in bytes (0 to 64) as declared; shorter frames do not decode.
    pub fn size(&self) -> usize {
        usize::from(self.size)
    }
    /// The sending node (`BO_ ... NODE`), `None` for `Vector__XXX`.
    pub fn transmitter(&self) -> Option<&str> {
        self.transmitter.as_deref()
    }
    /// Further senders from `BO_TX_BU_`.
    pub fn extra_transmitters(&self) -> &[String] {
        &self.extra_transmitters
    }
    /// `GenMsgCycleTime` in milliseconds (the message's `BA_`, else the `BA_DEF_DEF_`
    /// default); `None` when absent or 0.
    pub fn cycle_time_ms(&self) -> Option<u32> {
        self.cycle_time
    }
    /// The `CM_ BO_` comment.
    pub fn comment(&self) -> Option<&str> {
        self.comment.as_deref()
    }
    /// The signals in definition order; decoded values refer to them by index.
    pub fn signals(&self) -> &[Signal] {
        &self.signals
    }
    /// The first signal with this name, with its index.
    pub fn signal_by_name(&self, name: &str) -> Option<(usize, &Signal)> {
        self.signals
            .iter()
            .enumerate()
            .find(|(_, s)| s.name == name)
    }
    /// Index into [`Database::sources`] of the file that defined the message.
    pub fn source(&self) -> usize {
        self.source as usize
    }
    /// Line and column of the `BO_` line, when found.
    pub fn position(&self) -> Option<(u32, u32)> {
        self.position
    }
    /// Whether the message has multiplexed signals.
    pub fn is_multiplexed(&self) -> bool {
        !self.switches.is_empty()
            || self
                .signals
                .iter()
                .any(|s| !matches!(s.parent, Parent::Root))
    }
}

/// A compiled DBC (or several merged): messages indexed by id for O(1) lookup.
#[derive(Debug, Clone)]
pub struct Database {
    pub(crate) sources: Vec<String>,
    pub(crate) messages: Vec<Message>,
    pub(crate) nodes: Vec<Node>,
    pub(crate) value_tables: Vec<ValueTable>,
    /// Network-level attribute values (`BA_ "Name" value;`), as text.
    pub(crate) attributes: std::collections::BTreeMap<String, String>,
    standard: Box<[u32]>,
    extended: HashMap<u32, u32, BuildIdHasher>,
}

const NO_MESSAGE: u32 = u32::MAX;

/// A multiplicative hasher for 29-bit ids (std's SipHash is needlessly slow here).
#[derive(Default, Clone, Copy)]
pub(crate) struct BuildIdHasher;
#[derive(Default)]
pub(crate) struct IdHasher(u64);
impl std::hash::BuildHasher for BuildIdHasher {
    type Hasher = IdHasher;
    fn build_hasher(&self) -> IdHasher {
        IdHasher(0)
    }
}
impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u32(&mut self, v: u32) {
        self.0 = (u64::from(v) ^ 0x5bd1_e995).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

impl Database {
    /// A network-level attribute (`BA_ "Name" value;`) as text, if the database sets it.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.get(name).map(String::as_str)
    }

    /// A database without messages.
    pub fn empty() -> Database {
        Database {
            sources: Vec::new(),
            messages: Vec::new(),
            nodes: Vec::new(),
            value_tables: Vec::new(),
            attributes: std::collections::BTreeMap::new(),
            standard: vec![NO_MESSAGE; 0x800].into_boxed_slice(),
            extended: HashMap::with_hasher(BuildIdHasher),
        }
    }

    /// Compiles DBC text given as bytes: UTF-8 (a BOM is skipped), or Windows-1252 when the
    /// bytes are not valid UTF-8. `source_name` names the text in errors and diagnostics.
    pub fn from_bytes(bytes: &[u8], source_name: &str) -> Result<Database, DbcError> {
        let text = decode_text(bytes);
        Database::from_str_named(&text, source_name)
    }

    /// Compiles DBC text.
    pub fn from_str_named(text: &str, source_name: &str) -> Result<Database, DbcError> {
        let (dbc, map) = parse(text, source_name)?;
        let mut problems = Vec::new();
        let db = compile(&dbc, &map, source_name, &mut problems);
        match problems.into_iter().next() {
            Some((location, problem)) => Err(DbcError::Invalid {
                location,
                problem: Box::new(problem),
            }),
            None => Ok(db),
        }
    }

    /// Adds the messages, nodes and value tables of `other`. Two messages with the same id
    /// are an error naming both files and messages.
    pub fn merge(mut self, other: Database) -> Result<Database, DbcError> {
        // Into an empty database: `other` as it is (its ids are unique, and its nodes,
        // attributes and value tables are its own).
        if self.sources.is_empty()
            && self.messages.is_empty()
            && self.nodes.is_empty()
            && self.attributes.is_empty()
            && self.value_tables.is_empty()
        {
            return Ok(other);
        }
        let base = self.sources.len() as u32;
        self.sources.extend(other.sources);
        for mut m in other.messages {
            m.source += base;
            self.insert(m)?;
        }
        for n in other.nodes {
            if let Some(existing) = self.nodes.iter_mut().find(|x| x.name == n.name) {
                if existing.comment.is_none() {
                    existing.comment = n.comment;
                }
            } else {
                self.nodes.push(n);
            }
        }
        for (k, v) in other.attributes {
            // The first file to set a network attribute keeps it.
            self.attributes.entry(k).or_insert(v);
        }
        for mut t in other.value_tables {
            t.source += base;
            self.value_tables.push(t);
        }
        Ok(self)
    }

    fn insert(&mut self, m: Message) -> Result<(), DbcError> {
        if let Some(i) = self.message_index(m.id)
            && let Some(first) = self.messages.get(i)
        {
            let source = self.source_name(m.source as usize).to_string();
            return Err(DbcError::Invalid {
                location: Location::new(&source, m.position),
                problem: Box::new(Problem::DuplicateId {
                    id: m.id,
                    first: first.name.clone(),
                    first_source: self.source_name(first.source as usize).to_string(),
                    second: m.name.clone(),
                    second_source: source.clone(),
                }),
            });
        }
        let index = self.messages.len() as u32;
        let id = m.id;
        self.messages.push(m);
        if id.is_extended() {
            self.extended.insert(id.raw(), index);
        } else if let Some(slot) = self.standard.get_mut(id.raw() as usize) {
            *slot = index;
        }
        Ok(())
    }

    fn source_name(&self, i: usize) -> &str {
        self.sources.get(i).map_or("", String::as_str)
    }

    /// The source names (paths) in load order; messages refer to them by index.
    pub fn sources(&self) -> &[String] {
        &self.sources
    }
    /// All messages in load order.
    pub fn messages(&self) -> &[Message] {
        &self.messages
    }
    /// The nodes (`BU_`) of all files, merged by name.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }
    /// The global value tables (`VAL_TABLE_`).
    pub fn value_tables(&self) -> &[ValueTable] {
        &self.value_tables
    }
    /// The index of the message with this id, in O(1).
    #[inline]
    pub fn message_index(&self, id: Id) -> Option<usize> {
        let i = if id.is_extended() {
            *self.extended.get(&id.raw())?
        } else {
            *self.standard.get(id.raw() as usize)?
        };
        (i != NO_MESSAGE).then_some(i as usize)
    }
    /// The message with this id, in O(1).
    #[inline]
    pub fn message_by_id(&self, id: Id) -> Option<&Message> {
        self.messages.get(self.message_index(id)?)
    }
    /// The first message with this name.
    pub fn message_by_name(&self, name: &str) -> Option<&Message> {
        self.messages.iter().find(|m| m.name == name)
    }
}

/// UTF-8 (BOM skipped) or Windows-1252.
pub(crate) fn decode_text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => can_dbc::decode_cp1252(bytes).unwrap_or_else(|| String::from_utf8_lossy(bytes)),
    }
}

/// Parses with can-dbc, mapping its errors to ours with a position.
/// A large text is parsed on every core ([`super::split`]).
pub(crate) fn parse(text: &str, source_name: &str) -> Result<(ast::Dbc, SourceMap), DbcError> {
    match super::split::parse(text) {
        Ok(dbc) => Ok((dbc, SourceMap::scan(text))),
        Err(e) => Err(parse_error(e, text, source_name)),
    }
}

fn parse_error(e: ast::DbcError, text: &str, source_name: &str) -> DbcError {
    match e {
        ast::DbcError::Pest(p) => {
            let (line, col) = match p.line_col {
                pest::error::LineColLocation::Pos(lc) => lc,
                pest::error::LineColLocation::Span(lc, _) => lc,
            };
            let cause = match &p.variant {
                pest::error::ErrorVariant::ParsingError { positives, .. }
                    if !positives.is_empty() =>
                {
                    let names: Vec<String> = positives.iter().map(|r| format!("{r:?}")).collect();
                    format!("expected {}", names.join(" or "))
                }
                v => v.message().into_owned(),
            };
            let cause = match p.line().lines().next() {
                Some(l) if !l.trim().is_empty() => format!("{cause}, in `{}`", l.trim()),
                _ => cause,
            };
            DbcError::Parse {
                location: Location::new(
                    source_name,
                    Some((
                        u32::try_from(line).unwrap_or(u32::MAX),
                        u32::try_from(col).unwrap_or(u32::MAX),
                    )),
                ),
                cause,
            }
        }
        ast::DbcError::MessageIdOutOfRange(id) => {
            let needle = id.to_string();
            let pos = text.lines().enumerate().find_map(|(i, l)| {
                l.find(&needle).map(|c| {
                    (
                        (i + 1) as u32,
                        l.get(..c).map_or(0, |p| p.chars().count()) as u32 + 1,
                    )
                })
            });
            DbcError::Parse {
                location: Location::new(source_name, pos),
                cause: format!("message id {id} does not fit in 32 bits"),
            }
        }
        other => DbcError::Parse {
            location: Location::new(source_name, None),
            cause: other.to_string(),
        },
    }
}

fn numeric(v: &ast::NumericValue) -> f64 {
    match *v {
        ast::NumericValue::Uint(u) => u as f64,
        ast::NumericValue::Int(i) => i as f64,
        ast::NumericValue::Double(d) => d,
    }
}

fn cycle_time(v: Option<&ast::AttributeValue>) -> Option<u32> {
    let ms = match v? {
        ast::AttributeValue::Uint(u) => u32::try_from(*u).ok()?,
        ast::AttributeValue::Int(i) => u32::try_from(*i).ok()?,
        ast::AttributeValue::Double(d) if d.is_finite() && *d >= 0.0 && *d < 4.0e9 => {
            d.round() as u32
        }
        _ => return None,
    };
    (ms != 0).then_some(ms)
}

/// A `System*LongSymbol` attribute value: a non-empty string.
fn long_name(v: &ast::AttributeValue) -> Option<String> {
    match v {
        ast::AttributeValue::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn sorted_values(v: &[ast::ValDescription]) -> Vec<ValueDescription> {
    // Last definition of a value wins (as in cantools' dict).
    let mut map = std::collections::BTreeMap::new();
    for d in v {
        map.insert(d.id, d.description.clone());
    }
    map.into_iter()
        .map(|(value, label)| ValueDescription { value, label })
        .collect()
}

/// Compiles one parsed file. Every problem that prevents loading is pushed to `problems`
/// (the loader stops at the first, [`super::check`] reports them all); the messages that
/// compiled are returned.
pub(crate) fn compile(
    dbc: &ast::Dbc,
    map: &SourceMap,
    source_name: &str,
    problems: &mut Vec<(Location, Problem)>,
) -> Database {
    let mut db = Database::empty();
    db.sources.push(source_name.to_string());
    for a in &dbc.attribute_values_database {
        let text = match &a.value {
            ast::AttributeValue::Uint(v) => v.to_string(),
            ast::AttributeValue::Int(v) => v.to_string(),
            ast::AttributeValue::Double(v) => v.to_string(),
            ast::AttributeValue::String(v) => v.clone(),
        };
        db.attributes.insert(a.name.clone(), text);
    }
    let lk = Lookups::new(dbc);
    for n in &dbc.nodes {
        let name = lk.node_name(&n.0);
        if !db.nodes.iter().any(|x| x.name == name) {
            db.nodes.push(Node {
                name,
                comment: lk.node_comments.get(n.0.as_str()).cloned(),
            });
        }
    }
    for t in &dbc.value_tables {
        db.value_tables.push(ValueTable {
            name: t.name.clone(),
            entries: sorted_values(&t.descriptions),
            source: 0,
        });
    }
    let mut occurrences: HashMap<&str, usize> = HashMap::new();
    let messages: Vec<_> = (dbc.messages.iter())
        // Vector's pseudo-message holding signals not assigned to any message.
        .filter(|m| m.name != "VECTOR__INDEPENDENT_SIG_MSG")
        .map(|m| {
            let occ = occurrences.entry(m.name.as_str()).or_insert(0);
            let scanned = map.message(&m.name, *occ);
            *occ += 1;
            (m, scanned)
        })
        .collect();
    // Compiled on two threads for a large DBC; added in the file's order.
    let compiled = crate::par::par_map(&messages, |_, (m, scanned)| {
        compile_message(dbc, m, *scanned, map, &lk)
    });
    for result in compiled {
        match result {
            Ok(message) => {
                if let Err(DbcError::Invalid { location, problem }) = db.insert(message) {
                    problems.push((location, *problem));
                }
            }
            Err(found) => problems.extend(
                found
                    .into_iter()
                    .map(|(pos, p)| (Location::new(source_name, pos), p)),
            ),
        }
    }
    db
}

/// What the DBC's other sections say about messages, signals and nodes, by key.
struct Lookups<'a> {
    message_comments: HashMap<ast::MessageId, String>,
    signal_comments: HashMap<(ast::MessageId, &'a str), String>,
    node_comments: HashMap<&'a str, String>,
    values: HashMap<(ast::MessageId, &'a str), Vec<ValueDescription>>,
    valtypes: HashMap<(ast::MessageId, &'a str), ast::SignalExtendedValueType>,
    transmitters: HashMap<ast::MessageId, Vec<String>>,
    /// `SG_MUL_VAL_`, per message.
    ext: HashMap<ast::MessageId, Vec<SwitchEntry<'a>>>,
    message_attrs: HashMap<(ast::MessageId, &'a str), &'a ast::AttributeValue>,
    signal_attrs: HashMap<(ast::MessageId, &'a str, &'a str), &'a ast::AttributeValue>,
    /// `SystemNodeLongSymbol` names.
    node_long: HashMap<&'a str, String>,
}

impl<'a> Lookups<'a> {
    fn new(dbc: &'a ast::Dbc) -> Lookups<'a> {
        let mut lk = Lookups {
            message_comments: HashMap::new(),
            signal_comments: HashMap::new(),
            node_comments: HashMap::new(),
            values: HashMap::new(),
            valtypes: HashMap::new(),
            transmitters: HashMap::new(),
            ext: extended_multiplexing(dbc),
            message_attrs: HashMap::new(),
            signal_attrs: HashMap::new(),
            node_long: HashMap::new(),
        };
        for c in &dbc.comments {
            match c {
                ast::Comment::Message { id, comment } => {
                    lk.message_comments.insert(*id, comment.clone());
                }
                ast::Comment::Signal {
                    message_id,
                    name,
                    comment,
                } => {
                    lk.signal_comments
                        .insert((*message_id, name.as_str()), comment.clone());
                }
                ast::Comment::Node { name, comment } => {
                    lk.node_comments.insert(name.as_str(), comment.clone());
                }
                _ => {}
            }
        }
        for v in &dbc.value_descriptions {
            if let ast::ValueDescription::Signal {
                message_id,
                name,
                value_descriptions,
            } = v
                && !value_descriptions.is_empty()
            {
                lk.values.insert(
                    (*message_id, name.as_str()),
                    sorted_values(value_descriptions),
                );
            }
        }
        for v in &dbc.signal_extended_value_type_list {
            lk.valtypes.insert(
                (v.message_id, v.signal_name.as_str()),
                v.signal_extended_value_type,
            );
        }
        for t in &dbc.message_transmitters {
            let list = lk.transmitters.entry(t.message_id).or_default();
            for n in &t.transmitter {
                if !list.contains(n) {
                    list.push(n.clone());
                }
            }
        }
        for a in &dbc.attribute_values_message {
            lk.message_attrs
                .insert((a.message_id, a.name.as_str()), &a.value);
        }
        for a in &dbc.attribute_values_signal {
            lk.signal_attrs.insert(
                (a.message_id, a.signal_name.as_str(), a.name.as_str()),
                &a.value,
            );
        }
        for a in &dbc.attribute_values_node {
            if a.name == "SystemNodeLongSymbol"
                && let Some(l) = long_name(&a.value)
            {
                lk.node_long.insert(a.node_name.as_str(), l);
            }
        }
        lk
    }

    /// A node's name: its long symbol when it has one.
    fn node_name(&self, n: &str) -> String {
        self.node_long
            .get(n)
            .cloned()
            .unwrap_or_else(|| n.to_string())
    }
}

/// SG_MUL_VAL_: per message, switch names in first-seen order, each with signal -> ranges
/// (the last line for a (switch, signal) pair wins).
fn extended_multiplexing(dbc: &ast::Dbc) -> HashMap<ast::MessageId, Vec<SwitchEntry<'_>>> {
    let mut ext: HashMap<ast::MessageId, Vec<SwitchEntry<'_>>> = HashMap::new();
    for e in &dbc.extended_multiplex {
        let switches = ext.entry(e.message_id).or_default();
        let ranges: Vec<MuxRange> = e
            .mappings
            .iter()
            .filter(|m| m.min_value <= m.max_value)
            .map(|m| MuxRange {
                min: m.min_value,
                max: m.max_value,
            })
            .collect();
        let sw = match switches
            .iter()
            .position(|(n, _)| *n == e.multiplexor_signal_name.as_str())
        {
            Some(i) => i,
            None => {
                switches.push((e.multiplexor_signal_name.as_str(), Vec::new()));
                switches.len() - 1
            }
        };
        if let Some((_, sigs)) = switches.get_mut(sw) {
            if let Some(entry) = sigs.iter_mut().find(|(s, _)| *s == e.signal_name.as_str()) {
                entry.1 = ranges;
            } else {
                sigs.push((e.signal_name.as_str(), ranges));
            }
        }
    }
    ext
}

/// Problems found in one message, each at its position (line, column) when known.
type Found = Vec<(Option<(u32, u32)>, Problem)>;

/// One message with its signals and multiplexing tree, or why it is left out (an id out of
/// range, more than 64 bytes, or a signal that cannot be decoded: every such signal is
/// reported).
fn compile_message(
    dbc: &ast::Dbc,
    m: &ast::Message,
    scanned: Option<&ScannedMessage>,
    map: &SourceMap,
    lk: &Lookups<'_>,
) -> Result<Message, Found> {
    let position = scanned.map(|s| (s.line, s.column));
    let raw_id = scanned
        .and_then(|s| s.raw_id)
        .unwrap_or(u64::from(m.id.raw()));
    let Some(id) = u32::try_from(raw_id).ok().and_then(Id::from_dbc) else {
        return Err(vec![(
            position,
            Problem::IdOutOfRange {
                message: m.name.clone(),
                id: raw_id,
            },
        )]);
    };
    if m.size > 64 {
        return Err(vec![(
            position,
            Problem::MessageTooLong {
                message: m.name.clone(),
                size: m.size,
            },
        )]);
    }
    let mut signals = Vec::with_capacity(m.signals.len());
    let mut found = Vec::new();
    for s in &m.signals {
        let spos = scanned.and_then(|sc| map.signal(sc, &s.name));
        match compile_signal(m, s, spos, lk) {
            Ok(signal) => signals.push(signal),
            Err(p) => found.push((spos.or(position), p)),
        }
    }
    if !found.is_empty() {
        return Err(found);
    }
    resolve_multiplexing(
        &mut signals,
        lk.ext.get(&m.id).map(Vec::as_slice).unwrap_or(&[]),
    );
    let (nodes, switches) = build_tree(&mut signals);
    let cycle = cycle_time(
        lk.message_attrs
            .get(&(m.id, "GenMsgCycleTime"))
            .copied()
            .or_else(|| dbc.attribute_default("GenMsgCycleTime")),
    );
    Ok(Message {
        id,
        name: lk
            .message_attrs
            .get(&(m.id, "SystemMessageLongSymbol"))
            .and_then(|v| long_name(v))
            .unwrap_or_else(|| m.name.clone()),
        size: m.size as u8,
        transmitter: m.transmitter.as_deref().map(|n| lk.node_name(n)),
        extra_transmitters: lk
            .transmitters
            .get(&m.id)
            .map(|v| {
                v.iter()
                    .filter(|n| Some(n.as_str()) != m.transmitter.as_deref())
                    .map(|n| lk.node_name(n))
                    .collect()
            })
            .unwrap_or_default(),
        cycle_time: cycle,
        comment: lk.message_comments.get(&m.id).cloned(),
        source: 0,
        position,
        plans: signals
            .iter()
            .map(|s| Plan {
                extract: s.extract,
                signed: s.signed,
                value_type: s.value_type,
                conversion: s.conversion,
            })
            .collect(),
        word_path: m.size <= 8 && signals.iter().all(|s| s.extract.end_byte <= 8),
        signals,
        nodes,
        switches,
    })
}

/// One signal, or why it cannot be decoded (a size of 0 or above 64 bits, a float whose
/// size is not 32 or 64, bits beyond a 64-byte CAN FD payload).
fn compile_signal(
    m: &ast::Message,
    s: &ast::Signal,
    spos: Option<(u32, u32)>,
    lk: &Lookups<'_>,
) -> Result<Signal, Problem> {
    let value_type = match lk.valtypes.get(&(m.id, s.name.as_str())) {
        Some(ast::SignalExtendedValueType::IEEEfloat32Bit) => ValueType::Float32,
        Some(ast::SignalExtendedValueType::IEEEdouble64bit) => ValueType::Float64,
        _ => ValueType::Integer,
    };
    if s.size == 0 || s.size > 64 {
        return Err(Problem::SignalSize {
            message: m.name.clone(),
            signal: s.name.clone(),
            size: s.size,
        });
    }
    let expected = match value_type {
        ValueType::Float32 => 32,
        ValueType::Float64 => 64,
        ValueType::Integer => s.size,
    };
    if expected != s.size {
        return Err(Problem::FloatSize {
            message: m.name.clone(),
            signal: s.name.clone(),
            expected: expected as u8,
            size: s.size,
        });
    }
    let byte_order = match s.byte_order {
        ast::ByteOrder::LittleEndian => ByteOrder::LittleEndian,
        ast::ByteOrder::BigEndian => ByteOrder::BigEndian,
    };
    let Some(extract) = Extract::new(s.start_bit, s.size as u8, byte_order) else {
        return Err(Problem::SignalBeyondFd {
            message: m.name.clone(),
            signal: s.name.clone(),
            start_bit: s.start_bit,
            size: s.size,
        });
    };
    let signed = s.value_type == ast::ValueType::Signed;
    let indicator = match s.multiplexer_indicator {
        ast::MultiplexIndicator::Plain => MuxIndicator::Plain,
        ast::MultiplexIndicator::Multiplexor => MuxIndicator::Multiplexor,
        ast::MultiplexIndicator::MultiplexedSignal(n) => MuxIndicator::Multiplexed(n),
        ast::MultiplexIndicator::MultiplexorAndMultiplexedSignal(n) => {
            MuxIndicator::MultiplexedMultiplexor(n)
        }
    };
    Ok(Signal {
        name: lk
            .signal_attrs
            .get(&(m.id, s.name.as_str(), "SystemSignalLongSymbol"))
            .and_then(|v| long_name(v))
            .unwrap_or_else(|| s.name.clone()),
        dbc_name: s.name.clone(),
        start_bit: s.start_bit as u16,
        size: s.size as u8,
        byte_order,
        signed,
        value_type,
        factor: s.factor,
        offset: s.offset,
        min: numeric(&s.min),
        max: numeric(&s.max),
        unit: s.unit.clone(),
        receivers: s.receivers.iter().map(|r| lk.node_name(r)).collect(),
        comment: lk.signal_comments.get(&(m.id, s.name.as_str())).cloned(),
        values: lk
            .values
            .get(&(m.id, s.name.as_str()))
            .cloned()
            .unwrap_or_default(),
        indicator,
        parent: Parent::Root,
        reachable: true,
        line: spos,
        extract,
        conversion: Conversion::new(value_type, signed, s.factor, s.offset),
    })
}

/// `SG_MUL_VAL_` of one message: switch name -> [(signal name, ranges)].
type SwitchEntry<'a> = (&'a str, Vec<(&'a str, Vec<MuxRange>)>);
type SwitchEntries<'a> = [SwitchEntry<'a>];

/// Resolves each signal's parent multiplexor with cantools' rules (see [`Multiplexing`]).
fn resolve_multiplexing(signals: &mut [Signal], ext: &SwitchEntries<'_>) {
    let multiplexors: Vec<usize> = signals
        .iter()
        .enumerate()
        .filter(|(_, s)| s.is_multiplexor())
        .map(|(i, _)| i)
        .collect();
    let single: Option<String> = match multiplexors.as_slice() {
        [one] => signals.get(*one).map(|s| s.dbc_name.clone()),
        _ => None,
    };
    // Extended multiplexing: signal -> switch (the last switch listing it wins).
    let mut switch_of: HashMap<&str, &str> = HashMap::new();
    for (switch, sigs) in ext {
        for (sig, _) in sigs {
            switch_of.insert(sig, switch);
        }
    }
    let ranges_for = |switch: &str, signal: &str| -> Vec<MuxRange> {
        ext.iter()
            .find(|(s, _)| *s == switch)
            .and_then(|(_, sigs)| sigs.iter().find(|(n, _)| *n == signal))
            .map(|(_, r)| r.clone())
            .unwrap_or_default()
    };
    let index_of = |name: &str, signals: &[Signal]| -> Option<usize> {
        signals.iter().position(|s| s.dbc_name == name)
    };

    let mut parents = Vec::with_capacity(signals.len());
    for s in signals.iter() {
        let parent_name: Option<String> = if s.indicator == MuxIndicator::Plain {
            None
        } else if let Some(single) = &single {
            (s.dbc_name != *single).then(|| single.clone())
        } else {
            switch_of.get(s.dbc_name.as_str()).map(|n| n.to_string())
        };
        let Some(parent_name) = parent_name else {
            parents.push(Parent::Root);
            continue;
        };
        let mut ids = Vec::new();
        if single.is_some()
            && let MuxIndicator::Multiplexed(n) = s.indicator
        {
            ids.push(MuxRange { min: n, max: n });
        }
        ids.extend(ranges_for(&parent_name, &s.dbc_name));
        let parent = match index_of(&parent_name, signals) {
            Some(p) if !ids.is_empty() && signals.get(p).is_some_and(Signal::is_multiplexor) => {
                Parent::Switch {
                    signal: p as u32,
                    values: ids,
                }
            }
            _ => Parent::Orphan {
                switch: Some(parent_name),
            },
        };
        parents.push(parent);
    }
    for (s, p) in signals.iter_mut().zip(parents) {
        s.parent = p;
    }
}

/// Builds the decoding tree: one switch per multiplexor with value intervals mapping to nodes
/// (sets of signals), node 0 being the root. Marks reachable signals.
fn build_tree(signals: &mut [Signal]) -> (Vec<MuxNode>, Vec<Switch>) {
    let n = signals.len();
    // Children of each multiplexor.
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, s) in signals.iter().enumerate() {
        if let Parent::Switch { signal, .. } = &s.parent
            && let Some(c) = children.get_mut(*signal as usize)
        {
            c.push(i);
        }
    }
    // Per multiplexor: intervals with the set of children present.
    let mut intervals_of: Vec<Vec<(i128, i128, Vec<u32>)>> = vec![Vec::new(); n];
    for m in 0..n {
        let Some(sig) = signals.get(m) else { continue };
        if !sig.is_multiplexor() {
            continue;
        }
        let kids = children.get(m).cloned().unwrap_or_default();
        let mut bounds = BTreeSet::new();
        for &c in &kids {
            if let Some(Parent::Switch { values, .. }) = signals.get(c).map(|s| &s.parent) {
                for r in values {
                    bounds.insert(i128::from(r.min));
                    bounds.insert(i128::from(r.max) + 1);
                }
            }
        }
        for d in &sig.values {
            bounds.insert(i128::from(d.value));
            bounds.insert(i128::from(d.value) + 1);
        }
        let bounds: Vec<i128> = bounds.into_iter().collect();
        let mut list: Vec<(i128, i128, Vec<u32>)> = Vec::new();
        for w in bounds.windows(2) {
            let (lo, next) = match w {
                [a, b] => (*a, *b),
                _ => continue,
            };
            let set: Vec<u32> = kids
                .iter()
                .copied()
                .filter(|&c| match signals.get(c).map(|s| &s.parent) {
                    Some(Parent::Switch { values, .. }) => values.iter().any(|r| r.contains(lo)),
                    _ => false,
                })
                .map(|c| c as u32)
                .collect();
            let known = !set.is_empty() || sig.label(lo).is_some();
            if !known {
                continue;
            }
            match list.last_mut() {
                Some(last) if last.1 + 1 == lo && last.2 == set => last.1 = next - 1,
                _ => list.push((lo, next - 1, set)),
            }
        }
        if let Some(slot) = intervals_of.get_mut(m) {
            *slot = list;
        }
    }
    // Switch index per multiplexor that has at least one known value.
    let mut switch_index = vec![u32::MAX; n];
    let mut count = 0u32;
    for (m, iv) in intervals_of.iter().enumerate() {
        if !iv.is_empty()
            && let Some(slot) = switch_index.get_mut(m)
        {
            *slot = count;
            count += 1;
        }
    }
    let mut nodes: Vec<MuxNode> = Vec::new();
    let mut node_ids: HashMap<Vec<u32>, u32> = HashMap::new();
    let mut make_node = |set: Vec<u32>, nodes: &mut Vec<MuxNode>| -> u32 {
        if let Some(&i) = node_ids.get(&set) {
            return i;
        }
        let switches = set
            .iter()
            .filter_map(|&s| switch_index.get(s as usize).copied())
            .filter(|&w| w != u32::MAX)
            .collect();
        let i = nodes.len() as u32;
        nodes.push(MuxNode {
            signals: set.clone(),
            switches,
        });
        node_ids.insert(set, i);
        i
    };
    let root: Vec<u32> = signals
        .iter()
        .enumerate()
        .filter(|(_, s)| s.parent == Parent::Root)
        .map(|(i, _)| i as u32)
        .collect();
    make_node(root, &mut nodes);
    let mut switches = Vec::with_capacity(count as usize);
    for (m, iv) in intervals_of.into_iter().enumerate() {
        if iv.is_empty() {
            continue;
        }
        let intervals = iv
            .into_iter()
            .map(|(lo, hi, set)| (lo, hi, make_node(set, &mut nodes)))
            .collect();
        switches.push(Switch {
            signal: m as u32,
            intervals,
        });
    }
    // Reachability from the root.
    let mut reachable = vec![false; n];
    let mut seen_nodes = vec![false; nodes.len()];
    let mut stack = vec![0usize];
    while let Some(ni) = stack.pop() {
        match seen_nodes.get_mut(ni) {
            Some(seen) if !*seen => *seen = true,
            _ => continue,
        }
        let Some(node) = nodes.get(ni) else { continue };
        for &s in &node.signals {
            if let Some(r) = reachable.get_mut(s as usize) {
                *r = true;
            }
        }
        for &w in &node.switches {
            if let Some(sw) = switches.get(w as usize) {
                stack.extend(sw.intervals.iter().map(|iv| iv.2 as usize));
            }
        }
    }
    for (s, r) in signals.iter_mut().zip(reachable) {
        s.reachable = r;
    }
    (nodes, switches)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dbc::{Decoded, PhysicalValue};

    const HEADER: &str = "VERSION \"\"\n\nNS_ :\n\tCM_\n\nBS_:\n\nBU_: BCM DOOR\n\n";

    fn load(body: &str) -> Result<Database, DbcError> {
        Database::from_bytes(format!("{HEADER}{body}").as_bytes(), "test.dbc")
    }

    fn problem(e: DbcError) -> (Location, Problem) {
        match e {
            DbcError::Invalid { location, problem } => (location, *problem),
            other => panic!("expected an Invalid error, got {other}"),
        }
    }

    #[test]
    fn test_parse_message_properties() {
        let db = load(concat!(
            "BO_ 1568 BODY_STATUS: 8 BCM\n",
            " SG_ Door : 0|2@1+ (1,0) [0|3] \"\" DOOR,Vector__XXX\n",
            " SG_ Temp : 15|8@0- (0.5,-40) [-104|23.5] \"degC\" DOOR\n",
            " SG_ Level : 16|32@1- (1,0) [0|0] \"\" DOOR\n",
            "\n",
            "BO_ 2566844695 EXT: 64 Vector__XXX\n",
            " SG_ Big : 448|64@1+ (1,0) [0|0] \"\" BCM\n",
            "\n",
            "BO_TX_BU_ 1568 : DOOR,BCM;\n",
            "CM_ BU_ BCM \"body computer\";\n",
            "CM_ BO_ 1568 \"door and temperature\";\n",
            "CM_ SG_ 1568 Temp \"cabin\";\n",
            "BA_DEF_ BO_ \"GenMsgCycleTime\" INT 0 10000;\n",
            "BA_DEF_DEF_ \"GenMsgCycleTime\" 250;\n",
            "BA_ \"GenMsgCycleTime\" BO_ 1568 100;\n",
            "VAL_ 1568 Door 0 \"Closed\" 1 \"Open\" 1 \"Ajar\" ;\n",
            "VAL_TABLE_ OnOff 1 \"On\" 0 \"Off\" ;\n",
            "SIG_VALTYPE_ 1568 Level : 1;\n",
        ))
        .unwrap();
        let m = db.message_by_id(Id::standard(0x620).unwrap()).unwrap();
        assert_eq!(m.name(), "BODY_STATUS");
        assert_eq!(m.size(), 8);
        assert_eq!(m.transmitter(), Some("BCM"));
        assert_eq!(m.extra_transmitters(), ["DOOR"]);
        assert_eq!(m.cycle_time_ms(), Some(100));
        assert_eq!(m.comment(), Some("door and temperature"));
        assert_eq!(m.position(), Some((10, 1)));
        let (i, temp) = m.signal_by_name("Temp").unwrap();
        assert_eq!(i, 1);
        assert_eq!(temp.byte_order(), ByteOrder::BigEndian);
        assert!(temp.is_signed());
        assert_eq!((temp.factor(), temp.offset()), (0.5, -40.0));
        assert_eq!(
            (temp.min(), temp.max(), temp.unit()),
            (-104.0, 23.5, "degC")
        );
        assert_eq!(temp.comment(), Some("cabin"));
        assert_eq!(temp.position(), Some((12, 2)));
        assert!(!temp.has_integer_values());
        let door = &m.signals()[0];
        assert_eq!(door.receivers(), ["DOOR"]);
        assert_eq!(door.label(1), Some("Ajar"), "the last VAL_ entry wins");
        assert_eq!(door.value_table().len(), 2);
        assert!(door.has_integer_values());
        assert_eq!(m.signals()[2].value_type(), ValueType::Float32);

        let ext = db
            .message_by_id(Id::extended(0x18FE_F117).unwrap())
            .unwrap();
        assert_eq!(ext.name(), "EXT");
        assert_eq!(ext.size(), 64);
        assert_eq!(ext.transmitter(), None);
        assert_eq!(ext.cycle_time_ms(), Some(250), "BA_DEF_DEF_ default");
        assert!(db.message_by_id(Id::standard(0x117).unwrap()).is_none());

        assert_eq!(db.nodes()[0].name(), "BCM");
        assert_eq!(db.nodes()[0].comment(), Some("body computer"));
        assert_eq!(db.value_tables()[0].name(), "OnOff");
        assert_eq!(db.value_tables()[0].entries()[0].label, "Off");
        assert_eq!(db.sources(), ["test.dbc"]);
    }

    #[test]
    fn test_parse_syntax_error_has_line_and_column() {
        let e = load("BO_ 100 M: 8 BCM\n SG_ A : 0|8@1+ (1,0) [0|0] \"\" BCM\n SG_ B 0|8@1+\n")
            .unwrap_err();
        match e {
            DbcError::Parse { location, cause } => {
                assert_eq!(location.source, "test.dbc");
                assert_eq!(location.line, Some(12), "{cause}");
                assert!(location.column.is_some());
                assert!(e_text_mentions(&cause), "{cause}");
            }
            other => panic!("{other}"),
        }
    }

    fn e_text_mentions(cause: &str) -> bool {
        cause.contains("expected") || cause.contains("SG_")
    }

    #[test]
    fn test_parse_id_out_of_range_names_the_message() {
        // can-dbc would truncate 65537 to a 16-bit id 1: we use the id as written.
        let (loc, p) = problem(load("BO_ 65537 WIDE_ID: 8 BCM\n").unwrap_err());
        assert_eq!(loc.line, Some(10));
        assert_eq!(
            p,
            Problem::IdOutOfRange {
                message: "WIDE_ID".to_string(),
                id: 65537
            }
        );
        let (_, p) = problem(load("BO_ 2048 STD_TOO_BIG: 8 BCM\n").unwrap_err());
        assert!(matches!(p, Problem::IdOutOfRange { id: 2048, .. }));
        let (_, p) = problem(load("BO_ 4294967295 EXT_TOO_BIG: 8 BCM\n").unwrap_err());
        assert!(matches!(p, Problem::IdOutOfRange { .. }));
    }

    #[test]
    fn test_parse_unusable_signals_are_errors() {
        let (loc, p) = problem(
            load("BO_ 1 M: 8 BCM\n SG_ F : 0|16@1- (1,0) [0|0] \"\" BCM\nSIG_VALTYPE_ 1 F : 1;\n")
                .unwrap_err(),
        );
        assert_eq!(loc.line, Some(11));
        assert!(matches!(
            p,
            Problem::FloatSize {
                expected: 32,
                size: 16,
                ..
            }
        ));
        let (_, p) =
            problem(load("BO_ 1 M: 8 BCM\n SG_ Z : 0|0@1+ (1,0) [0|0] \"\" BCM\n").unwrap_err());
        assert!(matches!(p, Problem::SignalSize { size: 0, .. }));
        let (_, p) =
            problem(load("BO_ 1 M: 8 BCM\n SG_ W : 0|65@1+ (1,0) [0|0] \"\" BCM\n").unwrap_err());
        assert!(matches!(p, Problem::SignalSize { size: 65, .. }));
        let (_, p) =
            problem(load("BO_ 1 M: 64 BCM\n SG_ B : 505|8@1+ (1,0) [0|0] \"\" BCM\n").unwrap_err());
        assert!(matches!(p, Problem::SignalBeyondFd { .. }));
        let (_, p) = problem(load("BO_ 1 M: 65 BCM\n").unwrap_err());
        assert!(matches!(p, Problem::MessageTooLong { size: 65, .. }));
    }

    /// A DBC of enough messages to be compiled on two threads: the messages come in the
    /// file's order, and the problem reported is the first in the file, wherever the
    /// messages were split.
    #[test]
    fn test_a_large_dbc_compiles_in_file_order() {
        let body = |bad: &[usize]| {
            (0..150)
                .map(|i| {
                    let size = if bad.contains(&i) { 65 } else { 8 };
                    format!(
                        "BO_ {} M{i}: {size} BCM\n SG_ S{i} : 0|8@1+ (1,0) [0|0] \"\" BCM\n\n",
                        0x100 + i
                    )
                })
                .collect::<String>()
        };
        let db = load(&body(&[])).unwrap();
        let names: Vec<&str> = db.messages().iter().map(|m| m.name()).collect();
        let want: Vec<String> = (0..150).map(|i| format!("M{i}")).collect();
        assert_eq!(names, want);
        for bad in [[3, 120], [100, 140]] {
            let (loc, p) = problem(load(&body(&bad)).unwrap_err());
            let first = format!("M{}", bad[0]);
            assert!(
                matches!(&p, Problem::MessageTooLong { message, .. } if *message == first),
                "{p:?}"
            );
            let line = HEADER.lines().count() + 3 * bad[0] + 1;
            assert!(loc.to_string().contains(&format!(":{line}:")), "{loc}");
        }
    }

    #[test]
    fn test_parse_duplicate_ids_in_one_file_and_across_files() {
        let (loc, p) = problem(load("BO_ 16 FIRST: 8 BCM\n\nBO_ 16 SECOND: 8 BCM\n").unwrap_err());
        assert_eq!(loc.line, Some(12));
        assert!(p.to_string().contains("FIRST") && p.to_string().contains("SECOND"));
        let a =
            Database::from_str_named(&format!("{HEADER}BO_ 16 A_MSG: 8 BCM\n"), "a.dbc").unwrap();
        let b =
            Database::from_str_named(&format!("{HEADER}BO_ 16 B_MSG: 8 BCM\n"), "b.dbc").unwrap();
        let c =
            Database::from_str_named(&format!("{HEADER}BO_ 17 C_MSG: 8 DOOR\n"), "c.dbc").unwrap();
        let text = a.clone().merge(b).unwrap_err().to_string();
        for needle in ["a.dbc", "b.dbc", "A_MSG", "B_MSG"] {
            assert!(text.contains(needle), "{text}");
        }
        let merged = a.merge(c).unwrap();
        assert_eq!(merged.messages().len(), 2);
        let m = merged.message_by_id(Id::standard(17).unwrap()).unwrap();
        assert_eq!(merged.sources()[m.source()], "c.dbc");
        assert_eq!(merged.nodes().len(), 2, "nodes merged by name");
    }

    /// Regression (corpus comparison): cantools shows `System*LongSymbol` names, while
    /// multiplexing and value tables still refer to the short names.
    #[test]
    fn test_parse_long_names_from_attributes() {
        let db = load(concat!(
            "BO_ 1 SHORT_MSG: 8 BCM\n",
            " SG_ S1 M : 0|4@1+ (1,0) [0|0] \"\" DOOR\n",
            " SG_ S2 m1M : 4|4@1+ (1,0) [0|0] \"\" DOOR\n",
            " SG_ Short_Sig m0 : 8|8@1+ (1,0) [0|0] \"\" DOOR\n",
            "BA_DEF_ SG_ \"SystemSignalLongSymbol\" STRING ;\n",
            "BA_DEF_ BO_ \"SystemMessageLongSymbol\" STRING ;\n",
            "BA_DEF_ BU_ \"SystemNodeLongSymbol\" STRING ;\n",
            "BA_ \"SystemMessageLongSymbol\" BO_ 1 \"A_Message_Name_Longer_Than_32_Characters\";\n",
            "BA_ \"SystemSignalLongSymbol\" SG_ 1 Short_Sig \"A_Signal_Name_Longer_Than_32_Characters\";\n",
            "BA_ \"SystemNodeLongSymbol\" BU_ DOOR \"DOOR_CONTROL_UNIT\";\n",
            "SG_MUL_VAL_ 1 S2 S1 1-1;\n",
            "SG_MUL_VAL_ 1 Short_Sig S2 0-0;\n",
        ))
        .unwrap();
        let m = &db.messages()[0];
        assert_eq!(m.name(), "A_Message_Name_Longer_Than_32_Characters");
        let (i, s) = m
            .signal_by_name("A_Signal_Name_Longer_Than_32_Characters")
            .unwrap();
        assert_eq!(i, 2);
        assert_eq!(
            s.multiplexing(),
            Multiplexing::Selected {
                multiplexor: 1,
                values: &[MuxRange { min: 0, max: 0 }]
            }
        );
        assert_eq!(s.receivers(), ["DOOR_CONTROL_UNIT"]);
        assert_eq!(s.position(), Some((13, 2)));
        assert!(db.nodes().iter().any(|n| n.name() == "DOOR_CONTROL_UNIT"));
    }

    /// Regression (corpus comparison): Vector's pseudo-message for unassigned signals has an
    /// invalid id and is not a message; cantools skips it.
    #[test]
    fn test_parse_skips_vector_independent_sig_msg() {
        let db = load(concat!(
            "BO_ 3221225472 VECTOR__INDEPENDENT_SIG_MSG: 0 Vector__XXX\n",
            " SG_ Loose : 0|8@1+ (1,0) [0|0] \"\" Vector__XXX\n",
            "\n",
            "BO_ 1 REAL: 1 BCM\n",
        ))
        .unwrap();
        assert_eq!(db.messages().len(), 1);
        assert_eq!(db.messages()[0].name(), "REAL");
    }

    #[test]
    fn test_parse_cp1252_fallback() {
        let mut bytes =
            format!("{HEADER}BO_ 1 M: 1 BCM\n SG_ T : 0|8@1+ (1,0) [0|0] \"").into_bytes();
        bytes.push(0xB0); // degree sign in Windows-1252, invalid UTF-8
        bytes.extend_from_slice(b"C\" BCM\n");
        let db = Database::from_bytes(&bytes, "cp.dbc").unwrap();
        assert_eq!(db.messages()[0].signals()[0].unit(), "\u{B0}C");
    }

    #[test]
    fn test_parse_multiplexing_resolution() {
        let db = load(concat!(
            "BO_ 1 SIMPLE: 8 BCM\n",
            " SG_ Mux M : 0|8@1+ (1,0) [0|0] \"\" BCM\n",
            " SG_ A m1 : 8|8@1+ (1,0) [0|0] \"\" BCM\n",
            " SG_ B m2 : 8|8@1+ (1,0) [0|0] \"\" BCM\n",
            "\n",
            "BO_ 2 EXTENDED: 8 BCM\n",
            " SG_ S1 M : 0|4@1+ (1,0) [0|0] \"\" BCM\n",
            " SG_ S2 m1M : 4|4@1+ (1,0) [0|0] \"\" BCM\n",
            " SG_ C m0 : 8|8@1+ (1,0) [0|0] \"\" BCM\n",
            " SG_ Stray m3 : 16|8@1+ (1,0) [0|0] \"\" BCM\n",
            " SG_ Lost m0 : 24|8@1+ (1,0) [0|0] \"\" BCM\n",
            "\n",
            "BO_ 3 NO_SWITCH: 8 BCM\n",
            " SG_ Alone m4 : 0|8@1+ (1,0) [0|0] \"\" BCM\n",
            "SG_MUL_VAL_ 2 S2 S1 1-1, 5-6;\n",
            "SG_MUL_VAL_ 2 C S2 2-3;\n",
            "SG_MUL_VAL_ 2 Lost Nowhere 0-0;\n",
        ))
        .unwrap();
        let simple = &db.messages()[0];
        assert!(simple.signals()[0].is_multiplexor());
        assert_eq!(
            simple.signals()[1].multiplexing(),
            Multiplexing::Selected {
                multiplexor: 0,
                values: &[MuxRange { min: 1, max: 1 }]
            }
        );
        let ext = &db.messages()[1];
        let sig = |n: &str| ext.signal_by_name(n).unwrap().1;
        assert_eq!(sig("S1").multiplexing(), Multiplexing::Plain);
        assert_eq!(
            sig("S2").multiplexing(),
            Multiplexing::Selected {
                multiplexor: 0,
                values: &[MuxRange { min: 1, max: 1 }, MuxRange { min: 5, max: 6 }]
            }
        );
        assert_eq!(
            sig("C").multiplexing(),
            Multiplexing::Selected {
                multiplexor: 1,
                values: &[MuxRange { min: 2, max: 3 }]
            }
        );
        assert_eq!(
            sig("Stray").multiplexing(),
            Multiplexing::Plain,
            "cantools: plain"
        );
        assert_eq!(
            sig("Lost").multiplexing(),
            Multiplexing::Orphan {
                switch: Some("Nowhere")
            }
        );
        assert!(!sig("Lost").is_reachable());
        assert_eq!(
            db.messages()[2].signals()[0].multiplexing(),
            Multiplexing::Plain
        );

        // Decoding follows the cascade: S1=5 selects S2, S2=3 selects C.
        let mut out = Decoded::new();
        let id = Id::standard(2).unwrap();
        db.decode(id, &[0x35, 0xAB, 0, 0, 0, 0, 0, 0], &mut out)
            .unwrap();
        let names: Vec<&str> = out
            .signals()
            .iter()
            .map(|s| ext.signals()[s.index].name())
            .collect();
        assert_eq!(names.len(), 4);
        for n in ["S1", "Stray", "S2", "C"] {
            assert!(names.contains(&n), "{names:?}");
        }
        assert_eq!(out.get(2).unwrap().physical, PhysicalValue::Int(0xAB));
        assert!(out.mux_misses().is_empty());
        // S1=5, S2=4 selects nothing below S2 and has no value table: a miss.
        db.decode(id, &[0x45, 0xAB, 0, 0, 0, 0, 0, 0], &mut out)
            .unwrap();
        assert_eq!(out.mux_misses().len(), 1);
        assert_eq!(out.mux_misses()[0].multiplexor, 1);
        // S1=2 selects nothing.
        db.decode(id, &[0x02, 0, 0, 0, 0, 0, 0, 0], &mut out)
            .unwrap();
        assert_eq!(out.mux_misses()[0].multiplexor, 0);
        assert_eq!(out.signals().len(), 2);
    }

    #[test]
    fn test_parse_short_frame_error_text() {
        let db =
            load("BO_ 1568 BODY_STATUS: 8 BCM\n SG_ A : 0|8@1+ (1,0) [0|0] \"\" BCM\n").unwrap();
        let mut out = Decoded::new();
        let e = db
            .decode(Id::standard(0x620).unwrap(), &[1, 2, 3, 4], &mut out)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "frame has 4 bytes, message BODY_STATUS needs 8"
        );
        // Longer frames decode; unknown ids are Ok(None).
        let m = db
            .decode(Id::standard(0x620).unwrap(), &[7; 12], &mut out)
            .unwrap()
            .unwrap();
        assert_eq!(m.name(), "BODY_STATUS");
        assert_eq!(out.signals()[0].physical, PhysicalValue::Int(7));
        assert!(
            db.decode(Id::standard(0x621).unwrap(), &[], &mut out)
                .unwrap()
                .is_none()
        );
    }
}

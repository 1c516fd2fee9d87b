//! The decoder: frame payload to raw and physical signal values, without allocation.
//!
//! Each signal carries an extraction plan computed at load time ([`Extract`]: first byte,
//! shift, mask, byte order) and a conversion ([`Conversion`]) that reproduces cantools'
//! typing. A frame is copied once into a zero-padded 80-byte stack buffer, so every signal is
//! one unaligned 16-byte load, a shift and a mask. Multiplexing is a precompiled tree:
//! nodes (sets of signals) and switches (a multiplexor's value intervals mapping to nodes).
//!
//! Contract: [`Database::decode`](super::Database::decode) looks the id up in O(1) and fills
//! the caller's [`Decoded`] buffer (cleared first; its vectors keep their capacity, so a
//! reused buffer never allocates). A frame shorter than the message's declared size is a
//! [`DecodeError`]; longer frames decode (the excess is ignored, like cantools'
//! `allow_excess`). No input length can make it panic.

use super::model::{ByteOrder, Database, Message, ValueType};
use crate::frame::{Frame, Id};

/// A raw value as read from the frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RawValue {
    /// An unsigned integer signal.
    Unsigned(u64),
    /// A signed (two's complement, sign-extended) integer signal.
    Signed(i64),
    /// A float32 signal.
    F32(f32),
    /// A float64 signal.
    F64(f64),
}

impl RawValue {
    /// The value as an integer, for integer signals.
    pub fn as_int(&self) -> Option<i128> {
        match *self {
            RawValue::Unsigned(u) => Some(i128::from(u)),
            RawValue::Signed(i) => Some(i128::from(i)),
            _ => None,
        }
    }
    /// The value as a float (integers converted with rounding to nearest).
    pub fn as_f64(&self) -> f64 {
        match *self {
            RawValue::Unsigned(u) => u as f64,
            RawValue::Signed(i) => i as f64,
            RawValue::F32(f) => f64::from(f),
            RawValue::F64(f) => f,
        }
    }
}

/// A physical (scaled) value, typed like cantools' `decode(..., scaling=True)`.
///
/// The rule: an integer signal (not `SIG_VALTYPE_` float) whose factor and offset both have
/// integral values (`1`, `-40`, also `2.0` or `1e3`, as Python's `float.is_integer()` sees
/// them) gives [`PhysicalValue::Int`] = raw * factor + offset computed exactly (in `i128`;
/// should that overflow, which needs a factor beyond 2^63, the value falls back to a float).
/// Every other signal gives [`PhysicalValue::Float`]: float32/float64 signals (the raw float
/// when factor is 1 and offset 0), and integer signals with a non-integral factor or offset,
/// computed as `raw * factor + offset` in binary64 without fused multiply-add, exactly like
/// Python (when the factor is integral the product is computed exactly and then rounded,
/// as Python does for an `int` factor).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PhysicalValue {
    /// An integer value.
    Int(i128),
    /// A floating-point value.
    Float(f64),
}

impl PhysicalValue {
    /// The value as `f64` (integers rounded to nearest).
    pub fn as_f64(&self) -> f64 {
        match *self {
            PhysicalValue::Int(i) => i as f64,
            PhysicalValue::Float(f) => f,
        }
    }
    /// The multiplexor selector cantools derives from a physical value: `int(value)`
    /// (truncation toward zero); `None` for NaN and infinities.
    pub fn selector(&self) -> Option<i128> {
        match *self {
            PhysicalValue::Int(i) => Some(i),
            PhysicalValue::Float(f) if f.is_finite() => Some(f.trunc() as i128),
            PhysicalValue::Float(_) => None,
        }
    }
}

impl core::fmt::Display for PhysicalValue {
    /// Integers in decimal; floats in the shortest form that reads back exactly.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PhysicalValue::Int(i) => write!(f, "{i}"),
            PhysicalValue::Float(x) => write!(f, "{x:?}"),
        }
    }
}

/// One decoded signal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecodedSignal {
    /// Index into [`Message::signals`].
    pub index: usize,
    /// The raw value.
    pub raw: RawValue,
    /// The physical value.
    pub physical: PhysicalValue,
}

impl DecodedSignal {
    /// The value-table label of the raw value (integer signals, or floats with an integral
    /// value), looked up in the signal of `message`.
    pub fn label<'m>(&self, message: &'m Message) -> Option<&'m str> {
        let signal = message.signals().get(self.index)?;
        let raw = match self.raw {
            RawValue::F32(_) | RawValue::F64(_) => {
                let f = self.raw.as_f64();
                if f.fract() != 0.0 || !f.is_finite() {
                    return None;
                }
                f as i128
            }
            _ => self.raw.as_int()?,
        };
        signal.label(raw)
    }
}

/// A multiplexor whose value selects none of its branches. cantools raises
/// `DecodeError("expected multiplexer id ...")` for the whole frame; we keep the signals
/// decoded so far and report the miss.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MuxMiss {
    /// Index of the multiplexor in [`Message::signals`].
    pub multiplexor: usize,
    /// Its physical value.
    pub value: PhysicalValue,
}

/// A reusable decoding buffer. Clear-and-fill on every decode; keeps its capacity.
#[derive(Debug, Clone, Default)]
pub struct Decoded {
    signals: Vec<DecodedSignal>,
    misses: Vec<MuxMiss>,
    /// Signals (and multiplexors) not decoded: they lie beyond the message's declared length
    /// or the frame's payload.
    beyond: Vec<u32>,
    stack: Vec<u32>,
}

impl Decoded {
    /// An empty buffer.
    pub fn new() -> Decoded {
        Decoded::default()
    }
    /// The decoded signals: all plain signals, then the multiplexed ones their multiplexors
    /// select, each signal at most once.
    pub fn signals(&self) -> &[DecodedSignal] {
        &self.signals
    }
    /// Multiplexors whose value selects no branch (cantools would reject the frame).
    pub fn mux_misses(&self) -> &[MuxMiss] {
        &self.misses
    }
    /// Signals not decoded because they lie beyond the message's declared length (or the
    /// payload): cantools rejects such a frame.
    pub fn beyond_length(&self) -> &[u32] {
        &self.beyond
    }

    /// Whether the frame was only partly decoded (a multiplexor selecting no branch, or
    /// signals beyond the message's length), and why, as cantools' rejection would say it.
    pub fn partial(&self, message: &Message) -> Option<String> {
        let name = |i: usize| {
            message
                .signals()
                .get(i)
                .map_or_else(|| format!("#{i}"), |s| s.name().to_string())
        };
        let mut why = Vec::new();
        for m in &self.misses {
            let value = match m.value {
                PhysicalValue::Int(i) => i.to_string(),
                PhysicalValue::Float(f) => f.to_string(),
            };
            why.push(format!(
                "multiplexor {} = {value} selects no branch",
                name(m.multiplexor)
            ));
        }
        if !self.beyond.is_empty() {
            // A few names, then a count: a long list helps nobody on one line.
            const NAMED: usize = 3;
            let mut names: Vec<String> = self
                .beyond
                .iter()
                .take(NAMED)
                .map(|&i| name(i as usize))
                .collect();
            if self.beyond.len() > NAMED {
                names.push(format!("{} more", self.beyond.len() - NAMED));
            }
            why.push(format!(
                "signal{} {} beyond the message's {} byte{}",
                if self.beyond.len() == 1 { "" } else { "s" },
                names.join(", "),
                message.size(),
                if message.size() == 1 { "" } else { "s" }
            ));
        }
        (!why.is_empty()).then(|| format!("partly decoded: {}", why.join("; ")))
    }

    /// The decoded signal with this index, if decoded.
    pub fn get(&self, index: usize) -> Option<&DecodedSignal> {
        self.signals.iter().find(|s| s.index == index)
    }
    fn clear(&mut self) {
        self.signals.clear();
        self.misses.clear();
        self.beyond.clear();
        self.stack.clear();
    }
}

/// Why a frame did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The payload is shorter than the message's declared size.
    #[error("frame has {len} bytes, message {message} needs {needed}")]
    ShortFrame {
        /// The message name.
        message: String,
        /// The payload length.
        len: usize,
        /// The message size.
        needed: usize,
    },
}

/// Where a signal's bits are, precomputed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Extract {
    /// First byte of the 16-byte window.
    byte: u8,
    /// Right shift applied to the window.
    shift: u8,
    size: u8,
    big_endian: bool,
    /// One past the last byte the signal touches.
    pub(crate) end_byte: u8,
    /// Right shift in the 64-bit word path (little- or big-endian word of bytes 0-7);
    /// meaningful when `end_byte <= 8`.
    word_shift: u8,
}

/// Where a decode reads bits from: a padded buffer (any frame) or the first eight bytes
/// held in registers (messages of at most 8 bytes: no store-to-load round trip).
trait Bits {
    fn bits(&self, e: &Extract) -> u64;
}

struct Padded([u8; BUF]);

impl Bits for Padded {
    #[inline(always)]
    fn bits(&self, e: &Extract) -> u64 {
        e.bits(&self.0)
    }
}

struct Word {
    le: u64,
    be: u64,
}

impl Word {
    #[inline(always)]
    fn new(data: &[u8]) -> Word {
        let le = match data.get(..8).and_then(|c| <[u8; 8]>::try_from(c).ok()) {
            Some(b) => u64::from_le_bytes(b),
            None => {
                let mut b = [0u8; 8];
                for (d, s) in b.iter_mut().zip(data) {
                    *d = *s;
                }
                u64::from_le_bytes(b)
            }
        };
        Word {
            le,
            be: le.swap_bytes(),
        }
    }
}

impl Bits for Word {
    #[inline(always)]
    fn bits(&self, e: &Extract) -> u64 {
        let w = if e.big_endian { self.be } else { self.le };
        (w >> (e.word_shift & 63)) & e.mask()
    }
}

/// Bytes in the padded frame buffer: 64 payload bytes plus a 16-byte window past any start.
const BUF: usize = 80;

impl Extract {
    /// The plan for a signal; `None` when its bits do not all lie within 64 bytes or the
    /// size is not 1 to 64.
    pub(crate) fn new(start_bit: u64, size: u8, order: ByteOrder) -> Option<Extract> {
        if size == 0 || size > 64 {
            return None;
        }
        let size64 = u64::from(size);
        match order {
            ByteOrder::LittleEndian => {
                let end = start_bit.checked_add(size64)?;
                if end > 512 {
                    return None;
                }
                Some(Extract {
                    byte: (start_bit / 8) as u8,
                    shift: (start_bit % 8) as u8,
                    size,
                    big_endian: false,
                    end_byte: end.div_ceil(8) as u8,
                    word_shift: if end <= 64 { start_bit as u8 } else { 0 },
                })
            }
            ByteOrder::BigEndian => {
                if start_bit >= 512 {
                    return None;
                }
                // Sawtooth to network (MSB-first) bit number.
                let msb = 8 * (start_bit / 8) + 7 - start_bit % 8;
                let end = msb + size64;
                if end > 512 {
                    return None;
                }
                Some(Extract {
                    byte: (msb / 8) as u8,
                    shift: (128 - (msb % 8) - size64) as u8,
                    size,
                    big_endian: true,
                    end_byte: end.div_ceil(8) as u8,
                    word_shift: if end <= 64 { (64 - end) as u8 } else { 0 },
                })
            }
        }
    }

    #[inline(always)]
    fn mask(&self) -> u64 {
        u64::MAX >> (64 - u32::from(self.size))
    }

    /// The raw bits, zero-extended.
    #[inline(always)]
    fn bits(&self, buf: &[u8; BUF]) -> u64 {
        let start = usize::from(self.byte);
        let window: [u8; 16] = match buf.get(start..start + 16) {
            Some(w) => w.try_into().unwrap_or([0; 16]),
            None => [0; 16],
        };
        let v = if self.big_endian {
            u128::from_be_bytes(window)
        } else {
            u128::from_le_bytes(window)
        };
        ((v >> self.shift) as u64) & self.mask()
    }

    /// Writes `bits` (already masked to the size) into a padded buffer.
    pub(crate) fn store(&self, buf: &mut [u8; BUF], bits: u64) {
        let start = usize::from(self.byte);
        let Some(w) = buf.get_mut(start..start + 16) else {
            return;
        };
        let Ok(window): Result<&mut [u8; 16], _> = w.try_into() else {
            return;
        };
        let field = u128::from(self.mask()) << self.shift;
        let value = (u128::from(bits & self.mask())) << self.shift;
        if self.big_endian {
            let old = u128::from_be_bytes(*window);
            *window = ((old & !field) | value).to_be_bytes();
        } else {
            let old = u128::from_le_bytes(*window);
            *window = ((old & !field) | value).to_le_bytes();
        }
    }

    /// The smallest and largest integer raw values.
    pub(crate) fn int_range(&self, signed: bool) -> (i128, i128) {
        let size = u32::from(self.size);
        if signed {
            (-(1i128 << (size - 1)), (1i128 << (size - 1)) - 1)
        } else {
            (0, (1i128 << size) - 1)
        }
    }

    /// The occupied bits as eight 64-bit words (word w covers bytes 8w..8w+8, bit b of byte
    /// i is bit 8*(i%8)+b of word i/8).
    pub(crate) fn bit_mask(&self) -> [u64; 8] {
        let mut buf = [0u8; BUF];
        self.store(&mut buf, u64::MAX);
        let mut out = [0u64; 8];
        for (w, chunk) in out.iter_mut().zip(buf.chunks_exact(8)) {
            *w = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        }
        out
    }

    /// Reads the raw value.
    #[inline(always)]
    fn raw<B: Bits>(&self, src: &B, signed: bool, value_type: ValueType) -> RawValue {
        let bits = src.bits(self);
        match value_type {
            ValueType::Float32 => RawValue::F32(f32::from_bits(bits as u32)),
            ValueType::Float64 => RawValue::F64(f64::from_bits(bits)),
            ValueType::Integer if signed => {
                let unused = 64 - u32::from(self.size);
                RawValue::Signed(((bits << unused) as i64) >> unused)
            }
            ValueType::Integer => RawValue::Unsigned(bits),
        }
    }
}

/// Raw to physical, with cantools' typing (see [`PhysicalValue`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Conversion {
    /// Integer signal, factor 1, offset 0.
    IntIdentity,
    /// Integer signal, integral factor and offset.
    IntLinear { factor: i64, offset: i64 },
    /// Float result; `int_factor` when the factor is integral (exact product first).
    Float {
        factor: f64,
        offset: f64,
        int_factor: Option<i64>,
    },
    /// Float signal, factor 1, offset 0.
    FloatIdentity,
}

fn integral(v: f64) -> Option<i64> {
    (v.is_finite() && v.fract() == 0.0 && v.abs() < 9.2e18).then_some(v as i64)
}

impl Conversion {
    pub(crate) fn new(value_type: ValueType, _signed: bool, factor: f64, offset: f64) -> Self {
        let is_float = value_type != ValueType::Integer;
        if factor == 1.0 && offset == 0.0 {
            return if is_float {
                Conversion::FloatIdentity
            } else {
                Conversion::IntIdentity
            };
        }
        match (is_float, integral(factor), integral(offset)) {
            (false, Some(f), Some(o)) => Conversion::IntLinear {
                factor: f,
                offset: o,
            },
            (_, f, _) => Conversion::Float {
                factor,
                offset,
                int_factor: f,
            },
        }
    }

    pub(crate) fn is_integer(&self) -> bool {
        matches!(self, Conversion::IntIdentity | Conversion::IntLinear { .. })
    }

    #[inline(always)]
    pub(crate) fn apply(&self, raw: RawValue) -> PhysicalValue {
        match *self {
            Conversion::IntIdentity | Conversion::FloatIdentity => match raw {
                RawValue::Unsigned(u) => PhysicalValue::Int(i128::from(u)),
                RawValue::Signed(i) => PhysicalValue::Int(i128::from(i)),
                RawValue::F32(f) => PhysicalValue::Float(f64::from(f)),
                RawValue::F64(f) => PhysicalValue::Float(f),
            },
            Conversion::IntLinear { factor, offset } => match raw.as_int() {
                Some(r) => match r
                    .checked_mul(i128::from(factor))
                    .and_then(|p| p.checked_add(i128::from(offset)))
                {
                    Some(v) => PhysicalValue::Int(v),
                    None => PhysicalValue::Float(r as f64 * factor as f64 + offset as f64),
                },
                None => PhysicalValue::Float(raw.as_f64() * factor as f64 + offset as f64),
            },
            Conversion::Float {
                factor,
                offset,
                int_factor,
            } => match (raw.as_int(), int_factor) {
                (Some(r), Some(f)) => match r.checked_mul(i128::from(f)) {
                    Some(p) => PhysicalValue::Float(p as f64 + offset),
                    None => PhysicalValue::Float(r as f64 * factor + offset),
                },
                _ => PhysicalValue::Float(raw.as_f64() * factor + offset),
            },
        }
    }
}

/// The hot part of a signal, kept in a compact array per message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Plan {
    pub(crate) extract: Extract,
    pub(crate) signed: bool,
    pub(crate) value_type: ValueType,
    pub(crate) conversion: Conversion,
}

impl Plan {
    #[inline(always)]
    fn decode<B: Bits>(&self, src: &B) -> (RawValue, PhysicalValue) {
        let raw = self.extract.raw(src, self.signed, self.value_type);
        (raw, self.conversion.apply(raw))
    }
}

/// A set of signals decoded together, and the switches among them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MuxNode {
    pub(crate) signals: Vec<u32>,
    pub(crate) switches: Vec<u32>,
}

/// A multiplexor: sorted, disjoint inclusive value intervals, each selecting a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Switch {
    pub(crate) signal: u32,
    pub(crate) intervals: Vec<(i128, i128, u32)>,
}

impl Switch {
    pub(crate) fn select(&self, v: i128) -> Option<u32> {
        let i = self.intervals.partition_point(|iv| iv.1 < v);
        self.intervals.get(i).filter(|iv| iv.0 <= v).map(|iv| iv.2)
    }
}

/// Copies a payload into the zero-padded buffer.
#[inline(always)]
pub(crate) fn padded(data: &[u8]) -> [u8; BUF] {
    let mut buf = [0u8; BUF];
    let n = data.len().min(64);
    if let (Some(dst), Some(src)) = (buf.get_mut(..n), data.get(..n)) {
        dst.copy_from_slice(src);
    }
    buf
}

impl Message {
    /// Decodes `data` into `out` (cleared first).
    pub fn decode_into(&self, data: &[u8], out: &mut Decoded) -> Result<(), DecodeError> {
        out.clear();
        let needed = usize::from(self.size);
        if data.len() < needed {
            return Err(DecodeError::ShortFrame {
                message: self.name.clone(),
                len: data.len(),
                needed,
            });
        }
        // Only the message's declared length carries its signals (cantools reads no further);
        // signals beyond it are reported, not decoded.
        let len = data.len().min(needed).min(64);
        if self.word_path {
            self.walk(&Word::new(data), len, out);
        } else {
            self.walk(&Padded(padded(data)), len, out);
        }
        Ok(())
    }

    /// Decodes the tree from the root, reading bits from `src`.
    #[inline(always)]
    fn walk<B: Bits>(&self, src: &B, len: usize, out: &mut Decoded) {
        out.stack.push(0);
        // Each signal has one parent, so a node is visited at most once per frame; the cap
        // only guards against a malformed tree.
        let mut budget = self.nodes.len() + 1;
        while let Some(ni) = out.stack.pop() {
            if budget == 0 {
                break;
            }
            budget -= 1;
            let Some(node) = self.nodes.get(ni as usize) else {
                continue;
            };
            for &si in &node.signals {
                let Some(plan) = self.plans.get(si as usize) else {
                    continue;
                };
                if usize::from(plan.extract.end_byte) > len {
                    out.beyond.push(si);
                    continue;
                }
                let (raw, physical) = plan.decode(src);
                out.signals.push(DecodedSignal {
                    index: si as usize,
                    raw,
                    physical,
                });
            }
            for &wi in node.switches.iter().rev() {
                let Some(sw) = self.switches.get(wi as usize) else {
                    continue;
                };
                let Some(plan) = self.plans.get(sw.signal as usize) else {
                    continue;
                };
                if usize::from(plan.extract.end_byte) > len {
                    out.beyond.push(sw.signal);
                    continue;
                }
                let (_, physical) = plan.decode(src);
                match physical.selector().and_then(|v| sw.select(v)) {
                    Some(child) => out.stack.push(child),
                    None => out.misses.push(MuxMiss {
                        multiplexor: sw.signal as usize,
                        value: physical,
                    }),
                }
            }
        }
    }
}

/// The first eight payload bytes held as little- and big-endian words, for
/// [`FlatSignal::raw`] (shorter payloads are zero-padded).
pub(crate) struct PayloadWord(Word);

impl PayloadWord {
    /// The words of `data` (bytes past the eighth are ignored).
    #[inline(always)]
    pub fn new(data: &[u8]) -> PayloadWord {
        PayloadWord(Word::new(data))
    }
}

/// An integer signal of a message that [`Message::flat_signals`] can decode without the
/// multiplexing tree: its bits lie in the first eight bytes. Decoding it gives exactly what
/// [`Message::decode_into`] gives for it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct FlatSignal {
    index: usize,
    plan: Plan,
}

impl FlatSignal {
    /// Index into [`Message::signals`].
    pub fn index(&self) -> usize {
        self.index
    }
    /// One past the last payload byte the signal reads: a shorter payload does not carry it
    /// (the decoder then leaves it out).
    #[inline(always)]
    pub fn end_byte(&self) -> usize {
        usize::from(self.plan.extract.end_byte)
    }
    /// The size in bits.
    pub fn size(&self) -> u8 {
        self.plan.extract.size
    }
    /// The smallest and largest raw values.
    pub fn raw_range(&self) -> (i128, i128) {
        self.plan.extract.int_range(self.plan.signed)
    }
    /// `(factor, offset)` when the physical value is the integer `raw * factor + offset`
    /// ([`PhysicalValue::Int`], barring an `i128` overflow); `None` when it is a float.
    pub fn int_scaling(&self) -> Option<(i64, i64)> {
        match self.plan.conversion {
            Conversion::IntIdentity => Some((1, 0)),
            Conversion::IntLinear { factor, offset } => Some((factor, offset)),
            Conversion::Float { .. } | Conversion::FloatIdentity => None,
        }
    }
    /// Where the bits are, in 8 bytes, for hot loops that keep their own tables.
    pub fn flat_bits(&self) -> FlatBits {
        let e = &self.plan.extract;
        FlatBits {
            mask: e.mask(),
            shift: e.word_shift,
            big_endian: e.big_endian,
            unused: if self.plan.signed { 64 - e.size } else { 0 },
            end_byte: e.end_byte,
        }
    }
    /// The raw value, as [`Message::decode_into`] reads it.
    #[inline(always)]
    pub fn raw(&self, word: &PayloadWord) -> RawValue {
        self.plan
            .extract
            .raw(&word.0, self.plan.signed, self.plan.value_type)
    }
    /// The physical value of a raw value, as [`Message::decode_into`] computes it.
    #[inline]
    pub fn physical(&self, raw: RawValue) -> PhysicalValue {
        self.plan.conversion.apply(raw)
    }
}

/// Where a [`FlatSignal`]'s bits are (a compact copy for hot loops: shift, mask and sign
/// extension precomputed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FlatBits {
    mask: u64,
    shift: u8,
    big_endian: bool,
    /// `64 - size` for signed signals (the sign-extending shift), 0 for unsigned ones.
    unused: u8,
    end_byte: u8,
}

impl FlatBits {
    /// As [`FlatSignal::end_byte`].
    #[inline(always)]
    pub fn end_byte(&self) -> usize {
        usize::from(self.end_byte)
    }
    /// As [`FlatSignal::bits`].
    #[inline(always)]
    pub fn bits(&self, word: &PayloadWord) -> u64 {
        let w = if self.big_endian {
            word.0.be
        } else {
            word.0.le
        };
        (w >> (self.shift & 63)) & self.mask
    }
    /// The raw value as a sign-extended integer (`u64` bits reinterpreted above `i64::MAX`
    /// for unsigned 64-bit signals: check [`FlatSignal::raw_range`] before relying on it).
    #[inline(always)]
    pub fn raw_i64(&self, word: &PayloadWord) -> i64 {
        let unused = u32::from(self.unused & 63);
        ((self.bits(word) << unused) as i64) >> unused
    }
}

/// A message multiplexed on one level, as [`Message::flat_mux`] gives it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FlatMux {
    /// The signals decoded for every frame, in order (the multiplexor among them).
    pub root: Vec<FlatSignal>,
    /// The multiplexor.
    pub multiplexor: FlatSignal,
    /// Sorted, disjoint inclusive intervals of the multiplexor's selector
    /// ([`PhysicalValue::selector`]), each with the signals it adds after `root`, in order.
    pub branches: Vec<(i128, i128, Vec<FlatSignal>)>,
}

impl FlatMux {
    /// The branch the multiplexor selects in `word` (`None`: a payload of `len` bytes does
    /// not reach the multiplexor, or its value selects nothing).
    #[inline]
    pub fn select(&self, word: &PayloadWord, len: usize) -> Option<usize> {
        if self.multiplexor.end_byte() > len {
            return None;
        }
        let v = self
            .multiplexor
            .physical(self.multiplexor.raw(word))
            .selector()?;
        let i = self.branches.partition_point(|b| b.1 < v);
        self.branches.get(i).filter(|b| b.0 <= v).map(|_| i)
    }
}

impl Message {
    /// The decoding tree of a message of at most 8 bytes with only integer signals that is
    /// multiplexed on one level: one multiplexor among the root signals, selecting among sets
    /// of signals that hold no multiplexor. `None` for any other message. For a payload at
    /// least [`Message::size`] long, the root signals the payload reaches, then those of the
    /// selected branch it reaches, are what [`Message::decode_into`] decodes, in its order.
    pub(crate) fn flat_mux(&self) -> Option<FlatMux> {
        if !self.word_path || self.switches.len() != 1 {
            return None;
        }
        let root = self.nodes.first()?;
        let sw = self.switches.first()?;
        if root.switches.as_slice() != [0] {
            return None;
        }
        let multiplexor = FlatSignal {
            index: sw.signal as usize,
            plan: *self.plans.get(sw.signal as usize)?,
        };
        if multiplexor.plan.value_type != ValueType::Integer {
            return None;
        }
        let branches = sw
            .intervals
            .iter()
            .map(|&(lo, hi, node)| {
                let node = self.nodes.get(node as usize)?;
                node.switches
                    .is_empty()
                    .then(|| self.flat_of(&node.signals))
                    .flatten()
                    .map(|signals| (lo, hi, signals))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(FlatMux {
            root: self.flat_of(&root.signals)?,
            multiplexor,
            branches,
        })
    }

    /// The signals [`Message::decode_into`] decodes, in its order, when the message needs no
    /// multiplexing tree, has at most 8 bytes and only integer signals (no `SIG_VALTYPE_`
    /// floats); `None` otherwise. For a payload at least [`Message::size`] long, decoding
    /// each signal whose [`FlatSignal::end_byte`] the payload reaches gives the same signals
    /// as `decode_into`.
    pub(crate) fn flat_signals(&self) -> Option<Vec<FlatSignal>> {
        if !self.word_path || !self.switches.is_empty() {
            return None;
        }
        let Some(root) = self.nodes.first() else {
            return Some(Vec::new());
        };
        self.flat_of(&root.signals)
    }

    /// `signals` (indices) as [`FlatSignal`]s, or `None` when one is not an integer signal
    /// within the first 8 bytes.
    fn flat_of(&self, signals: &[u32]) -> Option<Vec<FlatSignal>> {
        signals
            .iter()
            .map(|&si| {
                let plan = *self.plans.get(si as usize)?;
                (plan.value_type == ValueType::Integer && plan.extract.end_byte <= 8).then_some(
                    FlatSignal {
                        index: si as usize,
                        plan,
                    },
                )
            })
            .collect()
    }
}

impl Database {
    /// Decodes a payload for `id` into `out`. `Ok(None)` when no message has this id (then
    /// `out` is left untouched); otherwise the message that was decoded.
    #[inline]
    pub fn decode<'a>(
        &'a self,
        id: Id,
        data: &[u8],
        out: &mut Decoded,
    ) -> Result<Option<&'a Message>, DecodeError> {
        let Some(message) = self.message_by_id(id) else {
            return Ok(None);
        };
        message.decode_into(data, out)?;
        Ok(Some(message))
    }

    /// Decodes a classic or FD data frame; remote and error frames carry no signals and give
    /// `Ok(None)`.
    pub fn decode_frame<'a>(
        &'a self,
        frame: &Frame,
        out: &mut Decoded,
    ) -> Result<Option<&'a Message>, DecodeError> {
        match (frame.id(), frame.payload()) {
            (Some(id), Some(data)) => self.decode(id, data, out),
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(start: u64, size: u8, order: ByteOrder) -> Extract {
        Extract::new(start, size, order).unwrap()
    }

    #[test]
    fn test_parse_intel_and_motorola_bits() {
        let mut data = [0u8; 8];
        data[0] = 0x34;
        data[1] = 0x12;
        let buf = padded(&data);
        // Intel 16 bits at 0: 0x1234.
        assert_eq!(ex(0, 16, ByteOrder::LittleEndian).bits(&buf), 0x1234);
        // Motorola 16 bits, MSB at bit 7 (sawtooth): bytes 0x34,0x12 -> 0x3412.
        assert_eq!(ex(7, 16, ByteOrder::BigEndian).bits(&buf), 0x3412);
        // Motorola 4 bits with MSB at bit 3: low nibble of byte 0.
        assert_eq!(ex(3, 4, ByteOrder::BigEndian).bits(&buf), 0x4);
        // Intel 4 bits at 4: high nibble of byte 0.
        assert_eq!(ex(4, 4, ByteOrder::LittleEndian).bits(&buf), 0x3);
    }

    #[test]
    fn test_parse_64_bit_at_end_of_fd_frame() {
        let mut data = [0u8; 64];
        data[56..].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        let buf = padded(&data);
        assert_eq!(
            ex(448, 64, ByteOrder::LittleEndian).bits(&buf),
            0x0807_0605_0403_0201
        );
        assert_eq!(
            ex(455, 64, ByteOrder::BigEndian).bits(&buf),
            0x0102_0304_0506_0708
        );
        assert!(Extract::new(449, 64, ByteOrder::LittleEndian).is_none());
        assert!(Extract::new(456, 64, ByteOrder::BigEndian).is_none());
        assert!(Extract::new(u64::MAX, 8, ByteOrder::LittleEndian).is_none());
    }

    #[test]
    fn test_parse_word_path_matches_buffer_path() {
        let data = [0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0xDE, 0xF0];
        let (word, buf) = (Word::new(&data), Padded(padded(&data)));
        for size in 1..=64u8 {
            for start in 0..64u64 {
                for order in [ByteOrder::LittleEndian, ByteOrder::BigEndian] {
                    let Some(e) = Extract::new(start, size, order) else {
                        continue;
                    };
                    if e.end_byte <= 8 {
                        assert_eq!(word.bits(&e), buf.bits(&e), "{start} {size} {order:?}");
                    }
                }
            }
        }
        // A short payload is zero-padded.
        let short = Word::new(&[0xFF, 0x01]);
        assert_eq!(short.le, 0x01FF);
    }

    #[test]
    fn test_emit_store_then_read_back() {
        for (start, size, order) in [
            (0, 1, ByteOrder::LittleEndian),
            (13, 13, ByteOrder::LittleEndian),
            (12, 13, ByteOrder::BigEndian),
            (7, 64, ByteOrder::BigEndian),
            (0, 64, ByteOrder::LittleEndian),
        ] {
            let e = ex(start, size, order);
            let mut buf = [0xA5u8; BUF];
            let v = 0x1234_5678_9ABC_DEF0u64 & e.mask();
            e.store(&mut buf, v);
            assert_eq!(e.bits(&buf), v, "{start} {size} {order:?}");
        }
    }

    #[test]
    fn test_parse_conversion_typing() {
        let c = Conversion::new(ValueType::Integer, false, 2.0, -40.0);
        assert_eq!(c.apply(RawValue::Unsigned(3)), PhysicalValue::Int(-34));
        let c = Conversion::new(ValueType::Integer, false, 0.5, 0.0);
        assert_eq!(c.apply(RawValue::Unsigned(3)), PhysicalValue::Float(1.5));
        let c = Conversion::new(ValueType::Float32, false, 1.0, 0.0);
        assert_eq!(c.apply(RawValue::F32(1.5)), PhysicalValue::Float(1.5));
        let c = Conversion::new(ValueType::Integer, false, 1.0, 0.0);
        assert_eq!(
            c.apply(RawValue::Unsigned(u64::MAX)),
            PhysicalValue::Int(i128::from(u64::MAX))
        );
    }

    #[test]
    fn test_flat_bits_read_what_the_plans_read() {
        let data = [0x9A, 0x34, 0xF6, 0x78, 0x9A, 0xBC, 0xDE, 0xF0];
        let word = PayloadWord::new(&data);
        for size in 1..=64u8 {
            for start in 0..64u64 {
                for order in [ByteOrder::LittleEndian, ByteOrder::BigEndian] {
                    let Some(extract) = Extract::new(start, size, order) else {
                        continue;
                    };
                    if extract.end_byte > 8 {
                        continue;
                    }
                    for signed in [false, true] {
                        let flat = FlatSignal {
                            index: 0,
                            plan: Plan {
                                extract,
                                signed,
                                value_type: ValueType::Integer,
                                conversion: Conversion::IntIdentity,
                            },
                        };
                        let raw = flat.raw(&word);
                        let want = match raw {
                            RawValue::Signed(i) => i,
                            RawValue::Unsigned(u) => u as i64,
                            _ => unreachable!(),
                        };
                        assert_eq!(flat.flat_bits().raw_i64(&word), want, "{start} {size}");
                        assert_eq!(flat.flat_bits().bits(&word), word.0.bits(&extract));
                    }
                }
            }
        }
    }

    #[test]
    fn test_parse_switch_select() {
        let sw = Switch {
            signal: 0,
            intervals: vec![(0, 0, 1), (2, 5, 2), (7, 7, 3)],
        };
        assert_eq!(sw.select(0), Some(1));
        assert_eq!(sw.select(1), None);
        assert_eq!(sw.select(4), Some(2));
        assert_eq!(sw.select(7), Some(3));
        assert_eq!(sw.select(8), None);
        assert_eq!(sw.select(-1), None);
    }
}

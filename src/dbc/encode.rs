//! The encoder: signal values to a payload, the inverse of the decoder.
//!
//! Contract: [`Message::encode`] takes a value for every signal the frame will carry and
//! nothing else. It walks the multiplexing tree from the root: each multiplexor's value
//! (given like any signal) selects the branch whose signals are then required. Like
//! cantools (`encode(..., strict=True)` minus its min/max check): a missing value is an
//! error ([`EncodeError::Missing`]), a value for a signal the multiplexors do not select is an
//! error, a raw value that does not fit the signal's bits is an error. Physical values are
//! converted with raw = (physical - offset) / factor, rounded half to even for integer
//! signals (Python's `round`), exact integer arithmetic when everything is integral. Signals
//! that extend past the message's declared size are skipped (see `dbc check`).

use super::decode::{PhysicalValue, RawValue, padded};
use super::model::{Message, Signal, ValueType};

/// A value to encode.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SignalValue<'a> {
    /// A physical (scaled) value.
    Physical(PhysicalValue),
    /// A raw value, written as is (after a range check).
    Raw(RawValue),
    /// A value-table label.
    Label(&'a str),
}

impl From<f64> for SignalValue<'_> {
    fn from(v: f64) -> Self {
        SignalValue::Physical(PhysicalValue::Float(v))
    }
}
impl From<i64> for SignalValue<'_> {
    fn from(v: i64) -> Self {
        SignalValue::Physical(PhysicalValue::Int(i128::from(v)))
    }
}
impl From<PhysicalValue> for SignalValue<'_> {
    fn from(v: PhysicalValue) -> Self {
        SignalValue::Physical(v)
    }
}

/// Why values could not be encoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EncodeError {
    /// No signal with this name in the message.
    #[error("message {message} has no signal {signal}")]
    UnknownSignal {
        /// The message name.
        message: String,
        /// The signal name.
        signal: String,
    },
    /// A signal index past the end of the message's signals.
    #[error("message {message} has no signal number {index}")]
    UnknownIndex {
        /// The message name.
        message: String,
        /// The index given.
        index: usize,
    },
    /// Two values for the same signal.
    #[error("message {message}: signal {signal} given twice")]
    Duplicate {
        /// The message name.
        message: String,
        /// The signal name.
        signal: String,
    },
    /// A signal the frame carries was not given a value.
    #[error("message {message}: no value for signal {signal}")]
    Missing {
        /// The message name.
        message: String,
        /// The signal name.
        signal: String,
    },
    /// A value for a signal the multiplexors do not select.
    #[error("message {message}: signal {signal} is not selected by its multiplexor")]
    NotSelected {
        /// The message name.
        message: String,
        /// The signal name.
        signal: String,
    },
    /// The raw value does not fit the signal.
    #[error("message {message}: value {value} of signal {signal} is outside its raw range")]
    OutOfRange {
        /// The message name.
        message: String,
        /// The signal name.
        signal: String,
        /// The value given.
        value: String,
    },
    /// A label the signal's value table does not have.
    #[error("message {message}: signal {signal} has no value labelled {label:?}")]
    UnknownLabel {
        /// The message name.
        message: String,
        /// The signal name.
        signal: String,
        /// The label given.
        label: String,
    },
    /// A multiplexor value that selects no branch.
    #[error("message {message}: multiplexor {signal} value {value} selects nothing")]
    UnknownMuxValue {
        /// The message name.
        message: String,
        /// The signal name.
        signal: String,
        /// The value given.
        value: String,
    },
}

impl Message {
    /// Encodes values given by signal name.
    pub fn encode_by_name(
        &self,
        values: &[(&str, SignalValue<'_>)],
    ) -> Result<Vec<u8>, EncodeError> {
        let mut indexed = Vec::with_capacity(values.len());
        for (name, v) in values {
            let (i, _) = self
                .signal_by_name(name)
                .ok_or_else(|| EncodeError::UnknownSignal {
                    message: self.name.clone(),
                    signal: (*name).to_string(),
                })?;
            indexed.push((i, *v));
        }
        self.encode(&indexed)
    }

    /// Encodes values given by signal index; returns a payload of the message's size.
    pub fn encode(&self, values: &[(usize, SignalValue<'_>)]) -> Result<Vec<u8>, EncodeError> {
        let n = self.signals.len();
        let mut given: Vec<Option<SignalValue<'_>>> = vec![None; n];
        for (i, v) in values {
            let slot = given.get_mut(*i).ok_or_else(|| EncodeError::UnknownIndex {
                message: self.name.clone(),
                index: *i,
            })?;
            if slot.is_some() {
                return Err(EncodeError::Duplicate {
                    message: self.name.clone(),
                    signal: self.signal_name(*i),
                });
            }
            *slot = Some(*v);
        }
        let mut used = vec![false; n];
        let mut buf = padded(&[]);
        let size = usize::from(self.size);
        let mut stack = vec![0u32];
        let mut budget = self.nodes.len() + 1;
        while let Some(ni) = stack.pop() {
            if budget == 0 {
                break;
            }
            budget -= 1;
            let Some(node) = self.nodes.get(ni as usize) else {
                continue;
            };
            for &si in &node.signals {
                let si = si as usize;
                let Some(sig) = self.signals.get(si) else {
                    continue;
                };
                if usize::from(sig.extract.end_byte) > size {
                    continue;
                }
                let v = given
                    .get(si)
                    .copied()
                    .flatten()
                    .ok_or_else(|| EncodeError::Missing {
                        message: self.name.clone(),
                        signal: sig.name.clone(),
                    })?;
                let raw = self.to_raw(sig, v)?;
                sig.extract.store(&mut buf, raw_bits(raw));
                if let Some(u) = used.get_mut(si) {
                    *u = true;
                }
            }
            for &wi in &node.switches {
                let Some(sw) = self.switches.get(wi as usize) else {
                    continue;
                };
                let Some(sig) = self.signals.get(sw.signal as usize) else {
                    continue;
                };
                if usize::from(sig.extract.end_byte) > size {
                    continue;
                }
                let Some(v) = given.get(sw.signal as usize).copied().flatten() else {
                    continue;
                };
                let physical = sig.conversion.apply(self.to_raw(sig, v)?);
                match physical.selector().and_then(|s| sw.select(s)) {
                    Some(child) => stack.push(child),
                    None => {
                        return Err(EncodeError::UnknownMuxValue {
                            message: self.name.clone(),
                            signal: sig.name.clone(),
                            value: physical.to_string(),
                        });
                    }
                }
            }
        }
        for (i, (g, u)) in given.iter().zip(&used).enumerate() {
            if g.is_some() && !u {
                return Err(EncodeError::NotSelected {
                    message: self.name.clone(),
                    signal: self.signal_name(i),
                });
            }
        }
        Ok(buf.get(..size).map(<[u8]>::to_vec).unwrap_or_default())
    }

    fn signal_name(&self, i: usize) -> String {
        self.signals
            .get(i)
            .map(|s| s.name.clone())
            .unwrap_or_default()
    }

    fn out_of_range(&self, sig: &Signal, value: impl ToString) -> EncodeError {
        EncodeError::OutOfRange {
            message: self.name.clone(),
            signal: sig.name.clone(),
            value: value.to_string(),
        }
    }

    /// The raw value for `v`, range-checked.
    fn to_raw(&self, sig: &Signal, v: SignalValue<'_>) -> Result<RawValue, EncodeError> {
        let raw_int = |r: i128| -> Result<RawValue, EncodeError> {
            let (lo, hi) = sig.extract.int_range(sig.signed);
            if r < lo || r > hi {
                return Err(self.out_of_range(sig, r));
            }
            Ok(if sig.signed {
                RawValue::Signed(r as i64)
            } else {
                RawValue::Unsigned(r as u64)
            })
        };
        match v {
            SignalValue::Label(label) => {
                let d = sig
                    .values
                    .iter()
                    .find(|d| d.label == label)
                    .ok_or_else(|| EncodeError::UnknownLabel {
                        message: self.name.clone(),
                        signal: sig.name.clone(),
                        label: label.to_string(),
                    })?;
                self.to_raw(sig, SignalValue::Raw(RawValue::Signed(d.value)))
            }
            SignalValue::Raw(r) => match sig.value_type {
                ValueType::Integer => match r.as_int() {
                    Some(i) => raw_int(i),
                    None => {
                        let f = r.as_f64();
                        if f.fract() != 0.0 || !f.is_finite() {
                            return Err(self.out_of_range(sig, f));
                        }
                        raw_int(f as i128)
                    }
                },
                // Same-width floats are copied bit for bit (NaN payloads included).
                ValueType::Float32 => Ok(match r {
                    RawValue::F32(f) => RawValue::F32(f),
                    other => RawValue::F32(other.as_f64() as f32),
                }),
                ValueType::Float64 => Ok(match r {
                    RawValue::F64(f) => RawValue::F64(f),
                    other => RawValue::F64(other.as_f64()),
                }),
            },
            SignalValue::Physical(p) => {
                let (factor, offset) = (sig.factor, sig.offset);
                match sig.value_type {
                    ValueType::Float32 | ValueType::Float64 => {
                        let x = if factor == 1.0 && offset == 0.0 {
                            p.as_f64()
                        } else {
                            (p.as_f64() - offset) / factor
                        };
                        Ok(if sig.value_type == ValueType::Float32 {
                            RawValue::F32(x as f32)
                        } else {
                            RawValue::F64(x)
                        })
                    }
                    ValueType::Integer => {
                        // Exact when the value, factor and offset are integral.
                        if let (PhysicalValue::Int(v), Some(f), Some(o)) =
                            (p, exact(factor), exact(offset))
                            && f != 0
                            && let Some(d) = v.checked_sub(o)
                            && d % f == 0
                        {
                            return raw_int(d / f);
                        }
                        let x = ((p.as_f64() - offset) / factor).round_ties_even();
                        if !x.is_finite() || x.abs() > 1.8e19 {
                            return Err(self.out_of_range(sig, p));
                        }
                        raw_int(x as i128)
                    }
                }
            }
        }
    }
}

fn exact(v: f64) -> Option<i128> {
    (v.is_finite() && v.fract() == 0.0 && v.abs() < 9.2e18).then_some(v as i128)
}

fn raw_bits(r: RawValue) -> u64 {
    match r {
        RawValue::Unsigned(u) => u,
        RawValue::Signed(i) => i as u64,
        RawValue::F32(f) => u64::from(f.to_bits()),
        RawValue::F64(f) => f.to_bits(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dbc::{Database, Decoded};
    use crate::frame::Id;
    use proptest::prelude::*;

    const HEADER: &str = "VERSION \"\"\n\nNS_ :\n\tCM_\n\nBS_:\n\nBU_: X\n\n";

    fn mux_db() -> Database {
        Database::from_str_named(
            &format!(
                "{HEADER}BO_ 1 M: 8 X\n SG_ Mux M : 0|4@1+ (1,0) [0|0] \"\" X\n SG_ A m0 : 8|16@1- (0.5,-10) [0|0] \"\" X\n SG_ B m1 : 8|8@1+ (1,0) [0|0] \"\" X\n SG_ Plain : 63|8@0+ (2,1) [0|0] \"\" X\n\nVAL_ 1 B 3 \"Three\" ;\n"
            ),
            "m.dbc",
        )
        .unwrap()
    }

    #[test]
    fn test_emit_by_name_with_mux() {
        let db = mux_db();
        let m = &db.messages()[0];
        let data = m
            .encode_by_name(&[
                ("Mux", 1i64.into()),
                ("B", SignalValue::Label("Three")),
                ("Plain", 201i64.into()),
            ])
            .unwrap();
        assert_eq!(data, [0x01, 0x03, 0, 0, 0, 0, 0, 100]);
        let data = m
            .encode_by_name(&[
                ("Mux", 0i64.into()),
                ("A", (-9.5f64).into()),
                ("Plain", 1i64.into()),
            ])
            .unwrap();
        assert_eq!(data, [0x00, 0x01, 0x00, 0, 0, 0, 0, 0]);
        let mut out = Decoded::new();
        db.decode(Id::standard(1).unwrap(), &data, &mut out)
            .unwrap();
        assert_eq!(out.signals().len(), 3);
    }

    #[test]
    fn test_emit_errors() {
        let db = mux_db();
        let m = &db.messages()[0];
        let e = |v: &[(&str, SignalValue<'_>)]| m.encode_by_name(v).unwrap_err();
        assert!(matches!(
            e(&[("Nope", 1i64.into())]),
            EncodeError::UnknownSignal { .. }
        ));
        assert!(matches!(
            e(&[("Mux", 1i64.into()), ("B", 1i64.into())]),
            EncodeError::Missing { ref signal, .. } if signal == "Plain"
        ));
        assert!(matches!(
            e(&[("Mux", 1i64.into()), ("B", 1i64.into()), ("Plain", 1i64.into()), ("A", 1i64.into())]),
            EncodeError::NotSelected { ref signal, .. } if signal == "A"
        ));
        assert!(matches!(
            e(&[
                ("Mux", 1i64.into()),
                ("B", 256i64.into()),
                ("Plain", 1i64.into())
            ]),
            EncodeError::OutOfRange { .. }
        ));
        assert!(matches!(
            e(&[
                ("Mux", 1i64.into()),
                ("B", SignalValue::Label("Four")),
                ("Plain", 1i64.into())
            ]),
            EncodeError::UnknownLabel { .. }
        ));
        assert!(matches!(
            e(&[("Mux", 7i64.into()), ("Plain", 1i64.into())]),
            EncodeError::UnknownMuxValue { .. }
        ));
        assert!(matches!(
            e(&[("Mux", 0i64.into()), ("Mux", 0i64.into())]),
            EncodeError::Duplicate { .. }
        ));
        assert!(matches!(
            m.encode(&[(9, 1i64.into())]).unwrap_err(),
            EncodeError::UnknownIndex { index: 9, .. }
        ));
    }

    /// One generated signal: size, Motorola?, signed?, kind (0 int, 1 float32, 2 float64),
    /// factor index, offset index, position seed.
    type Gen = (u8, bool, bool, u8, usize, usize, u16);

    const FACTORS: [&str; 7] = ["1", "2", "-3", "0.5", "0.25", "0.1", "0.01"];
    const OFFSETS: [&str; 4] = ["0", "-40", "1.5", "100"];

    /// Places signals without overlap in a `bytes`-byte frame; returns DBC text, and per
    /// placed signal its branch (None = plain, Some(v) = m{v}).
    fn layout(bytes: usize, gens: &[Gen], mux: bool) -> (String, Vec<Option<u8>>) {
        let bits = bytes * 8;
        let mut used = vec![false; bits];
        let mut lines = Vec::new();
        let mut branches = Vec::new();
        let occupy =
            |net: &dyn Fn(usize) -> usize, size: usize, start: usize, used: &mut Vec<bool>| {
                let cells: Vec<usize> = (0..size).map(|i| net(start + i)).collect();
                if cells.iter().any(|&c| c >= bits || used[c]) {
                    return false;
                }
                for c in cells {
                    used[c] = true;
                }
                true
            };
        // Cells are numbered byte*8 + bit-in-byte (LSB = 0).
        let le = |b: usize| b;
        let be = |n: usize| 8 * (n / 8) + 7 - n % 8;
        if mux {
            assert!(occupy(&le, 3, 0, &mut used));
            lines.push(" SG_ Mux M : 0|3@1+ (1,0) [0|0] \"\" X".to_string());
            branches.push(None);
        }
        for (i, &(size, moto, signed, kind, fi, oi, seed)) in gens.iter().enumerate() {
            let (size, vt) = match kind {
                1 => (32usize, 1),
                2 => (64usize, 2),
                _ => (usize::from(size.clamp(1, 64)), 0),
            };
            if size > bits {
                continue;
            }
            let span = bits - size + 1;
            let mut placed = None;
            for k in 0..span {
                let start = (usize::from(seed) + k) % span;
                let ok = if moto {
                    occupy(&be, size, start, &mut used)
                } else {
                    occupy(&le, size, start, &mut used)
                };
                if ok {
                    placed = Some(start);
                    break;
                }
            }
            let Some(start) = placed else { continue };
            let (dbc_start, order) = if moto { (be(start), 0) } else { (start, 1) };
            let branch = (mux && i % 3 != 0).then_some((i % 3) as u8);
            let indicator = branch.map(|b| format!(" m{b}")).unwrap_or_default();
            let sign = if signed || vt != 0 { "-" } else { "+" };
            lines.push(format!(
                " SG_ S{i}{indicator} : {dbc_start}|{size}@{order}{sign} ({},{}) [0|0] \"\" X",
                FACTORS[fi % FACTORS.len()],
                OFFSETS[oi % OFFSETS.len()]
            ));
            if vt != 0 {
                lines.push(format!("SIGVT {i} {vt}"));
            }
            branches.push(branch);
        }
        let mut sg = Vec::new();
        let mut vts = Vec::new();
        for l in lines {
            if let Some(rest) = l.strip_prefix("SIGVT ") {
                let mut p = rest.split(' ');
                let (i, vt) = (p.next().unwrap(), p.next().unwrap());
                vts.push(format!("SIG_VALTYPE_ 1 S{i} : {vt};"));
            } else {
                sg.push(l);
            }
        }
        if mux {
            // Every multiplexor value 0-2 is defined, even when no signal landed in a branch.
            vts.push("VAL_ 1 Mux 0 \"a\" 1 \"b\" 2 \"c\" ;".to_string());
        }
        let text = format!(
            "{HEADER}BO_ 1 M: {bytes} X\n{}\n\n{}\n",
            sg.join("\n"),
            vts.join("\n")
        );
        (text, branches)
    }

    fn raw_for(sig: &crate::dbc::Signal, bits: u64) -> RawValue {
        match sig.value_type() {
            ValueType::Float32 => RawValue::F32(f32::from_bits(bits as u32)),
            ValueType::Float64 => RawValue::F64(f64::from_bits(bits)),
            ValueType::Integer => {
                let unused = 64 - u32::from(sig.size());
                let masked = (bits << unused) >> unused;
                if sig.is_signed() {
                    RawValue::Signed(((masked << unused) as i64) >> unused)
                } else {
                    RawValue::Unsigned(masked)
                }
            }
        }
    }

    fn same_raw(a: RawValue, b: RawValue) -> bool {
        match (a, b) {
            (RawValue::F32(x), RawValue::F32(y)) => x.to_bits() == y.to_bits(),
            (RawValue::F64(x), RawValue::F64(y)) => x.to_bits() == y.to_bits(),
            _ => a == b,
        }
    }

    proptest! {
        /// encode(raw) then decode gives the raw values back, their physical values follow
        /// the conversion, and re-encoding those physical values gives the same bytes.
        #[test]
        fn test_emit_encode_decode_round_trip(
            fd in any::<bool>(),
            mux in any::<bool>(),
            gens in prop::collection::vec(
                (1u8..=64, any::<bool>(), any::<bool>(), 0u8..6, 0usize..7, 0usize..4, any::<u16>()), 1..12),
            values in prop::collection::vec(any::<u64>(), 20),
            mux_value in 0u8..3,
        ) {
            let bytes = if fd { 64 } else { 8 };
            let (text, branches) = layout(bytes, &gens, mux);
            let db = Database::from_str_named(&text, "p.dbc").map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
            let m = &db.messages()[0];
            prop_assert_eq!(m.signals().len(), branches.len());
            let mut given = Vec::new();
            for (i, (sig, branch)) in m.signals().iter().zip(&branches).enumerate() {
                let active = match branch { None => true, Some(b) => *b == mux_value };
                if !active { continue; }
                let raw = if mux && i == 0 { RawValue::Unsigned(u64::from(mux_value)) } else { raw_for(sig, values[i % values.len()]) };
                given.push((i, SignalValue::Raw(raw)));
            }
            let data = m.encode(&given).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
            prop_assert_eq!(data.len(), bytes);
            let mut out = Decoded::new();
            db.decode(Id::standard(1).unwrap(), &data, &mut out).unwrap();
            prop_assert_eq!(out.signals().len(), given.len());
            prop_assert!(out.mux_misses().is_empty());
            let mut physical = Vec::new();
            let mut physical_count = 0;
            for (i, v) in &given {
                let d = out.get(*i).unwrap();
                let SignalValue::Raw(r) = v else { unreachable!() };
                prop_assert!(same_raw(*r, d.raw), "signal {}: {:?} vs {:?}\n{}", i, r, d.raw, text);
                let sig = &m.signals()[*i];
                let expected = sig.conversion.apply(d.raw);
                let nan = |p: PhysicalValue| matches!(p, PhysicalValue::Float(f) if f.is_nan());
                prop_assert!(d.physical == expected || (nan(d.physical) && nan(expected)));
                // Physical -> raw is exact for integral conversions, for scaled integers
                // while the raw value is small enough not to lose precision, and for
                // unscaled finite floats; other signals are given raw the second time.
                let exact = match sig.value_type() {
                    ValueType::Integer => sig.has_integer_values() || d.raw.as_f64().abs() < 1e12,
                    _ => sig.factor() == 1.0 && sig.offset() == 0.0 && d.raw.as_f64().is_finite(),
                };
                if exact {
                    physical_count += 1;
                    physical.push((*i, SignalValue::Physical(d.physical)));
                } else {
                    physical.push((*i, SignalValue::Raw(d.raw)));
                }
            }
            let again = m.encode(&physical).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
            prop_assert_eq!(again, data, "{} ({} physical)", text, physical_count);
        }

        /// Arbitrary bytes never make loading, checking or decoding panic.
        #[test]
        fn test_parse_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            let _ = crate::dbc::check(&bytes, "fuzz.dbc");
            if let Ok(db) = Database::from_bytes(&bytes, "fuzz.dbc") {
                let mut out = Decoded::new();
                for m in db.messages() {
                    let _ = db.decode(m.id(), &bytes, &mut out);
                }
            }
        }

        /// Mutations of real DBC text, then frames of every length.
        #[test]
        fn test_parse_never_panics_on_mutated_dbc(
            which in any::<bool>(),
            edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 0..8),
            frame in prop::collection::vec(any::<u8>(), 0..70),
        ) {
            let base: &[u8] = if which {
                include_bytes!("../../tests/data/dbc/mux.dbc")
            } else {
                include_bytes!("../../tests/data/dbc/signals.dbc")
            };
            let mut text = base.to_vec();
            for (at, byte, op) in edits {
                let i = at.index(text.len().max(1));
                match op {
                    0 if i < text.len() => {
                        let alphabet = b"0123456789 :|@+-()[]M\n";
                        text[i] = alphabet[usize::from(byte) % alphabet.len()];
                    }
                    1 => text.insert(i.min(text.len()), byte),
                    _ if i < text.len() => { text.remove(i); }
                    _ => {}
                }
            }
            let _ = crate::dbc::check(&text, "mutated.dbc");
            if let Ok(db) = Database::from_bytes(&text, "mutated.dbc") {
                let mut out = Decoded::new();
                for m in db.messages() {
                    for len in [0, frame.len() / 2, frame.len()] {
                        let _ = db.decode(m.id(), &frame[..len], &mut out);
                    }
                    let _ = m.encode(&[]);
                }
            }
        }
    }
}

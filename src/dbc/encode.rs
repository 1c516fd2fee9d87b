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
    UnknownSignal { message: String, signal: String },
    /// A signal index past the end of the message's signals.
    #[error("message {message} has no signal number {index}")]
    UnknownIndex { message: String, index: usize },
    /// Two values for the same signal.
    #[error("message {message}: signal {signal} given twice")]
    Duplicate { message: String, signal: String },
    /// A signal the frame carries was not given a value.
    #[error("message {message}: no value for signal {signal}")]
    Missing { message: String, signal: String },
    /// A value for a signal the multiplexors do not select.
    #[error("message {message}: signal {signal} is not selected by its multiplexor")]
    NotSelected { message: String, signal: String },
    /// The raw value does not fit the signal.
    #[error("message {message}: value {value} of signal {signal} is outside its raw range")]
    OutOfRange {
        message: String,
        signal: String,
        value: String,
    },
    /// A label the signal's value table does not have.
    #[error("message {message}: signal {signal} has no value labelled {label:?}")]
    UnknownLabel {
        message: String,
        signal: String,
        label: String,
    },
    /// A multiplexor value that selects no branch.
    #[error("message {message}: multiplexor {signal} value {value} selects nothing")]
    UnknownMuxValue {
        message: String,
        signal: String,
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
                ValueType::Float32 => Ok(RawValue::F32(r.as_f64() as f32)),
                ValueType::Float64 => Ok(RawValue::F64(r.as_f64())),
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

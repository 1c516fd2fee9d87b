//! The simulated car: every module of a [`Profile`] on one CAN bus, sans IO.
//!
//! A [`Vehicle`] puts together, for each profile module:
//! - with diagnostic ids: an [`EcuServer`] behind a responder-side ISO-TP (ISO 15765-2)
//!   [`Channel`] (rx = `request_id`, tx = `response_id`, the module's padding, classic CAN);
//! - with a DBC `node`: the periodic frames of every DBC message that node transmits, at the
//!   message's `GenMsgCycleTime`, encoded with the DBC encoder from the profile's
//!   `[vehicle.signals]` behaviours (constant, triangle wave over `period_s`, counter stepping by
//!   `step` per frame and wrapping from max to min; signals not listed carry raw 0).
//!
//! Vehicle flags (e.g. `audio_unit_registered`) are shared by all modules: a routine that
//! completes sets its flag, which changes what other modules answer and can end a fault that
//! silences a node. Faults are data in the profile and are selected by name at construction.
//!
//! # Calling contract (sans IO)
//!
//! Time is always an argument; the time line starts at the first call that takes `now`
//! (before that, [`Vehicle::poll_timeout`] returns [`Timestamp::ZERO`], "due at once").
//! A driver:
//! 1. feeds every frame read from the bus to [`Vehicle::handle_frame`];
//! 2. calls [`Vehicle::handle_timeout`] when [`Vehicle::poll_timeout`] is reached (calling it
//!    early or late is harmless);
//! 3. after any input calls [`Vehicle::poll_transmit`] until it returns `None` and writes those
//!    frames to the bus in order (periodic frames and diagnostic responses, in time order), then
//!    drains [`Vehicle::poll_event`].
//!
//! Steps 1 to 3 are the [`Machine`] contract, which `crate::drive::sim` runs on a bus.
//!
//! Periodic schedule: message `k` (in DBC order among the periodic ones) is first due at
//! `start + (7 ms * k) mod cycle`, then every cycle; nothing is random. A frame that is late by
//! more than a cycle (the driver slept) is sent once, never in a burst. A silenced node keeps
//! its grid and resumes on it.

use core::fmt;
use core::time::Duration;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::ecu::{EcuEvent, EcuServer};
use super::profile::{Fault, Profile, SignalBehaviour};
use crate::dbc::{Database, EncodeError, Message, RawValue, SignalValue};
use crate::diag::hex::format_hex;
use crate::frame::{Frame, Id};
use crate::isotp::{self, Channel, Config, Pdu, PduKind};
use crate::machine::Machine;
use crate::time::Timestamp;

/// Spacing of the phase offsets of periodic messages.
const PHASE_STEP_MS: u64 = 7;

/// Why a vehicle cannot be built from a profile and a DBC.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimError {
    #[error("no fault named {name:?} in the profile (known: {})", known.join(", "))]
    UnknownFault { name: String, known: Vec<String> },
    #[error("module {module}: node {node} is not a node (BU_) of the DBC")]
    UnknownNode { module: String, node: String },
    #[error("fault {fault}: node {node} is not a node (BU_) of the DBC")]
    UnknownFaultNode { fault: String, node: String },
    #[error("signal {key:?}: write signals as MESSAGE.SIGNAL")]
    BadSignalKey { key: String },
    #[error("signal {key}: the DBC has no message {message}")]
    UnknownMessage { key: String, message: String },
    #[error("signal {key}: message {message} has no signal {signal}")]
    UnknownSignal {
        key: String,
        message: String,
        signal: String,
    },
    #[error("signal {key}: {reason}")]
    BadBehaviour { key: String, reason: String },
    #[error("module {module}: diagnostic id 0x{id:X} is not a valid CAN id")]
    BadId { module: String, id: u32 },
    #[error("message {message} cannot carry the profile's values: {source}")]
    Encode {
        message: String,
        #[source]
        source: EncodeError,
    },
}

/// What happened in the vehicle, for logs and for tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// A fault selected at construction (reported once, at the start of the time line).
    FaultApplied {
        fault: String,
        description: String,
    },
    /// A module received a diagnostic request.
    Request {
        module: String,
        data: Vec<u8>,
    },
    /// A module started sending a diagnostic response (0x78 response-pending included).
    Response {
        module: String,
        data: Vec<u8>,
    },
    /// A module's diagnostic session changed.
    SessionChanged {
        module: String,
        from: u8,
        to: u8,
        reason: &'static str,
    },
    RoutineStarted {
        module: String,
        id: u8,
        name: String,
    },
    RoutineCompleted {
        module: String,
        id: u8,
        name: String,
    },
    RoutineAborted {
        module: String,
        id: u8,
        name: String,
        reason: &'static str,
    },
    DtcsCleared {
        module: String,
    },
    /// A vehicle flag was set (by a module's routine, or by [`Vehicle::set_flag`] with module
    /// `None`); `resumed` are the nodes that start sending again because of it.
    FlagSet {
        module: Option<String>,
        flag: String,
        resumed: Vec<String>,
    },
    /// The `drop_flow_control` fault swallowed a flow control frame the module produced.
    FlowControlDropped {
        module: String,
    },
    /// The module's ISO-TP layer failed a transfer (e.g. N_Cr timeout after a dropped FC).
    Transport {
        module: String,
        error: String,
    },
}

/// One event with the time it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VehicleEvent {
    pub at: Timestamp,
    pub kind: EventKind,
}

impl fmt::Display for EventKind {
    /// One line, as `canrelearn simulate` prints it: `BCM: session 0x81 -> 0xC0 (requested)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let named = |name: &str, id: u8| {
            if name.is_empty() {
                format!("0x{id:02X}")
            } else {
                format!("0x{id:02X} ({name})")
            }
        };
        match self {
            EventKind::FaultApplied { fault, description } => {
                write!(f, "fault {fault} applied: {description}")
            }
            EventKind::Request { module, data } => {
                write!(f, "{module}: request {}", format_hex(data))
            }
            EventKind::Response { module, data } => {
                write!(f, "{module}: response {}", format_hex(data))
            }
            EventKind::SessionChanged {
                module,
                from,
                to,
                reason,
            } => write!(f, "{module}: session 0x{from:02X} -> 0x{to:02X} ({reason})"),
            EventKind::RoutineStarted { module, id, name } => {
                write!(f, "{module}: routine {} started", named(name, *id))
            }
            EventKind::RoutineCompleted { module, id, name } => {
                write!(f, "{module}: routine {} completed", named(name, *id))
            }
            EventKind::RoutineAborted {
                module,
                id,
                name,
                reason,
            } => write!(
                f,
                "{module}: routine {} aborted: {reason}",
                named(name, *id)
            ),
            EventKind::DtcsCleared { module } => write!(f, "{module}: DTCs cleared"),
            EventKind::FlagSet {
                module,
                flag,
                resumed,
            } => {
                write!(f, "flag {flag} set")?;
                if let Some(m) = module {
                    write!(f, " by {m}")?;
                }
                if !resumed.is_empty() {
                    write!(f, ": {} resumes sending", resumed.join(", "))?;
                }
                Ok(())
            }
            EventKind::FlowControlDropped { module } => {
                write!(f, "{module}: flow control dropped (fault)")
            }
            EventKind::Transport { module, error } => write!(f, "{module}: ISO-TP: {error}"),
        }
    }
}

impl fmt::Display for VehicleEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.at, self.kind)
    }
}

/// A module as [`Vehicle::modules`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleStatus<'a> {
    pub name: &'a str,
    pub node: Option<&'a str>,
    pub request_id: Option<Id>,
    pub response_id: Option<Id>,
    /// The current diagnostic session (`None` without diagnostics).
    pub session: Option<u8>,
    /// Whether a fault makes it answer nothing.
    pub silent: bool,
}

/// A periodic message as [`Vehicle::periodic_messages`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodicInfo<'a> {
    pub id: Id,
    pub name: &'a str,
    pub node: &'a str,
    pub cycle: Duration,
    /// Offset of its schedule from the start of the time line.
    pub phase: Duration,
}

#[derive(Debug, Clone, PartialEq)]
enum Behaviour {
    Raw0,
    Constant(f64),
    Triangle { min: f64, max: f64, period_s: f64 },
    Counter { min: f64, max: f64, step: f64 },
}

#[derive(Debug, Clone)]
struct Periodic {
    message: Message,
    node: String,
    cycle: Duration,
    phase: Duration,
    next_due: Timestamp,
    /// One behaviour per signal of the message (same index).
    behaviours: Vec<Behaviour>,
    /// Current value of each counter signal (same index; unused for others).
    counters: Vec<f64>,
    /// Fault changes: (signal index, value, from this many seconds after the start).
    changes: Vec<(usize, f64, f64)>,
}

#[derive(Debug)]
struct Diag {
    server: EcuServer,
    channel: Channel,
    /// Responses waiting for the channel to finish the previous one.
    queue: VecDeque<Vec<u8>>,
    drop_fc: bool,
}

#[derive(Debug)]
struct SimModule {
    name: String,
    node: Option<String>,
    diag: Option<Diag>,
    /// A `silent` fault applies to this module.
    silent: bool,
}

#[derive(Debug, Clone)]
struct Silence {
    node: String,
    until_flag: Option<String>,
}

/// The simulated vehicle. See the module documentation for the calling contract.
#[derive(Debug)]
pub struct Vehicle {
    start: Option<Timestamp>,
    modules: Vec<SimModule>,
    periodic: Vec<Periodic>,
    flags: BTreeSet<String>,
    silences: Vec<Silence>,
    faults: Vec<(String, String)>,
    /// Frames ready to go, by (time, sequence).
    out: BTreeMap<(Timestamp, u64), Frame>,
    seq: u64,
    events: VecDeque<VehicleEvent>,
}

/// `MESSAGE.SIGNAL` of the profile, checked against the DBC.
fn signal_key(db: &Database, key: &str) -> Result<(String, String), SimError> {
    let Some((msg, sig)) = key.split_once('.') else {
        return Err(SimError::BadSignalKey {
            key: key.to_string(),
        });
    };
    let message = db
        .message_by_name(msg)
        .ok_or_else(|| SimError::UnknownMessage {
            key: key.to_string(),
            message: msg.to_string(),
        })?;
    if message.signal_by_name(sig).is_none() {
        return Err(SimError::UnknownSignal {
            key: key.to_string(),
            message: msg.to_string(),
            signal: sig.to_string(),
        });
    }
    Ok((msg.to_string(), sig.to_string()))
}

fn applies(fault: &Fault, module: &str) -> bool {
    fault.modules.is_empty() || fault.modules.iter().any(|m| m == module)
}

fn behaviour(key: &str, b: &SignalBehaviour) -> Result<Behaviour, SimError> {
    let bad = |reason: &str| SimError::BadBehaviour {
        key: key.to_string(),
        reason: reason.to_string(),
    };
    match b {
        SignalBehaviour::Constant(v) if v.is_finite() => Ok(Behaviour::Constant(*v)),
        SignalBehaviour::Constant(_) => Err(bad("the value is not a finite number")),
        SignalBehaviour::Varying(v) => {
            if !(v.min.is_finite() && v.max.is_finite() && v.step.is_finite()) {
                return Err(bad("min, max and step must be finite numbers"));
            }
            if v.min > v.max {
                return Err(bad("min is above max"));
            }
            if !(v.period_s.is_finite() && v.period_s >= 0.0) {
                return Err(bad("period_s must be 0 (a counter) or a positive number"));
            }
            if v.period_s > 0.0 {
                Ok(Behaviour::Triangle {
                    min: v.min,
                    max: v.max,
                    period_s: v.period_s,
                })
            } else {
                Ok(Behaviour::Counter {
                    min: v.min,
                    max: v.max,
                    step: v.step,
                })
            }
        }
    }
}

/// The triangle wave: `min` at t = 0, `max` at half the period, `min` again at the period.
fn triangle(min: f64, max: f64, period_s: f64, t_s: f64) -> f64 {
    let phase = (t_s % period_s) / period_s;
    if phase < 0.5 {
        min + (max - min) * phase * 2.0
    } else {
        max - (max - min) * (phase * 2.0 - 1.0)
    }
}

/// Encodes `values` (one per signal index), dropping values the multiplexors do not select.
fn encode_lenient(message: &Message, values: &[SignalValue<'_>]) -> Result<Vec<u8>, EncodeError> {
    let mut indexed: Vec<(usize, SignalValue<'_>)> = values.iter().copied().enumerate().collect();
    for _ in 0..=values.len() {
        match message.encode(&indexed) {
            Err(EncodeError::NotSelected { signal, .. }) => {
                let Some((i, _)) = message.signal_by_name(&signal) else {
                    break;
                };
                indexed.retain(|(j, _)| *j != i);
            }
            other => return other,
        }
    }
    message.encode(&indexed)
}

impl Periodic {
    fn value(&self, i: usize, t_s: f64) -> SignalValue<'static> {
        let changed = self
            .changes
            .iter()
            .filter(|(j, _, from)| *j == i && t_s >= *from)
            .max_by(|a, b| a.2.total_cmp(&b.2));
        if let Some((_, v, _)) = changed {
            return SignalValue::from(*v);
        }
        match self.behaviours.get(i) {
            None | Some(Behaviour::Raw0) => SignalValue::Raw(RawValue::Unsigned(0)),
            Some(Behaviour::Constant(v)) => SignalValue::from(*v),
            Some(Behaviour::Triangle { min, max, period_s }) => {
                SignalValue::from(triangle(*min, *max, *period_s, t_s))
            }
            Some(Behaviour::Counter { .. }) => {
                SignalValue::from(self.counters.get(i).copied().unwrap_or(0.0))
            }
        }
    }

    /// The payload at `t_s` seconds from the start.
    fn payload(&self, t_s: f64) -> Result<Vec<u8>, EncodeError> {
        let values: Vec<SignalValue<'_>> = (0..self.message.signals().len())
            .map(|i| self.value(i, t_s))
            .collect();
        encode_lenient(&self.message, &values)
    }

    /// Checks that the extremes of every behaviour encode.
    fn validate(&self) -> Result<(), EncodeError> {
        let extremes = |pick_max: bool| -> Vec<SignalValue<'static>> {
            self.behaviours
                .iter()
                .enumerate()
                .map(|(i, b)| match b {
                    Behaviour::Triangle { min, max, .. } | Behaviour::Counter { min, max, .. } => {
                        SignalValue::from(if pick_max { *max } else { *min })
                    }
                    _ => self.value(i, 0.0),
                })
                .collect()
        };
        encode_lenient(&self.message, &extremes(false))?;
        encode_lenient(&self.message, &extremes(true))?;
        for (_, _, from) in &self.changes {
            self.payload(*from)?;
        }
        Ok(())
    }

    fn step_counters(&mut self) {
        for (i, b) in self.behaviours.iter().enumerate() {
            if let (Behaviour::Counter { min, max, step }, Some(c)) = (b, self.counters.get_mut(i))
            {
                let next = *c + step;
                *c = if next > *max {
                    *min
                } else if next < *min {
                    *max
                } else {
                    next
                };
            }
        }
    }

    fn frame(&self, payload: &[u8]) -> Option<Frame> {
        let id = self.message.id();
        if payload.len() <= 8 {
            Frame::classic(id, payload).ok()
        } else {
            Frame::fd(id, payload, false).ok()
        }
    }

    /// Moves `next_due` to the first slot of its grid strictly after `now`.
    fn skip_past(&mut self, now: Timestamp) {
        self.realign(now + Duration::from_nanos(1));
    }

    /// Moves `next_due` to the first slot of its grid at or after `t`.
    fn realign(&mut self, t: Timestamp) {
        if self.next_due >= t {
            return;
        }
        let cycle = self.cycle.as_nanos().max(1);
        let late = u128::from(t.as_nanos() - self.next_due.as_nanos());
        let steps = late.div_ceil(cycle);
        let add = u64::try_from(steps.saturating_mul(cycle)).unwrap_or(u64::MAX);
        self.next_due = Timestamp::from_nanos(self.next_due.as_nanos().saturating_add(add));
    }
}

fn is_flow_control(frame: &Frame) -> bool {
    let data = frame.data();
    matches!(
        Pdu::parse(data, data.len()).map(|p| p.kind()),
        Ok(PduKind::FlowControl)
    )
}

impl Vehicle {
    /// A vehicle from `profile`, sending the periodic messages of `db`, with the named faults.
    pub fn new(profile: &Profile, db: &Database, faults: &[&str]) -> Result<Vehicle, SimError> {
        let mut selected: Vec<&Fault> = Vec::new();
        for name in faults {
            let f = profile.fault(name).ok_or_else(|| SimError::UnknownFault {
                name: (*name).to_string(),
                known: profile.faults.iter().map(|f| f.name.clone()).collect(),
            })?;
            if !selected.iter().any(|s| s.name == f.name) {
                selected.push(f);
            }
        }
        let has_node = |n: &str| db.nodes().iter().any(|x| x.name() == n);

        let modules = Self::sim_modules(profile, &selected, &has_node)?;

        let mut silences = Vec::new();
        for f in &selected {
            if let Some(node) = &f.silence_node {
                if !has_node(node) {
                    return Err(SimError::UnknownFaultNode {
                        fault: f.name.clone(),
                        node: node.clone(),
                    });
                }
                silences.push(Silence {
                    node: node.clone(),
                    until_flag: f.until_flag.clone(),
                });
            }
        }

        // Signal behaviours, checked against the DBC.
        let mut behaviours: BTreeMap<(String, String), Behaviour> = BTreeMap::new();
        for (key, b) in &profile.vehicle.signals {
            let (msg, sig) = signal_key(db, key)?;
            behaviours.insert((msg, sig), behaviour(key, b)?);
        }

        // Signal changes of the selected faults, checked against the DBC.
        let mut changes: BTreeMap<(String, String), Vec<(f64, f64)>> = BTreeMap::new();
        for f in &selected {
            for (key, v) in &f.signals {
                let (msg, sig) = signal_key(db, key)?;
                changes
                    .entry((msg, sig))
                    .or_default()
                    .push((*v, Duration::from_millis(f.after_ms).as_secs_f64()));
            }
        }

        let periodic = Self::periodic(profile, db, &mut behaviours, &mut changes)?;
        for (msg, sig) in behaviours.keys().chain(changes.keys()) {
            tracing::warn!(
                "profile signal {msg}.{sig} is in no periodic message a profile module sends"
            );
        }

        Ok(Vehicle {
            start: None,
            modules,
            periodic,
            flags: BTreeSet::new(),
            silences,
            faults: selected
                .iter()
                .map(|f| (f.name.clone(), f.description.clone()))
                .collect(),
            out: BTreeMap::new(),
            seq: 0,
            events: VecDeque::new(),
        })
    }

    /// The profile's modules, each with its diagnostic server (if it has ids) and the
    /// selected faults that apply to it.
    fn sim_modules(
        profile: &Profile,
        selected: &[&Fault],
        has_node: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<SimModule>, SimError> {
        let mut modules = Vec::new();
        for m in &profile.modules {
            if let Some(node) = &m.node
                && !has_node(node)
            {
                return Err(SimError::UnknownNode {
                    module: m.name.clone(),
                    node: node.clone(),
                });
            }
            let mine: Vec<&Fault> = selected
                .iter()
                .copied()
                .filter(|f| applies(f, &m.name))
                .collect();
            let silent = mine.iter().any(|f| f.silent);
            let diag = match (m.request_id, m.response_id) {
                (Some(rq), Some(rs)) => {
                    let id = |raw: u32| {
                        Id::new(raw, m.extended_ids).ok_or_else(|| SimError::BadId {
                            module: m.name.clone(),
                            id: raw,
                        })
                    };
                    let mut cfg = Config::new(id(rs)?, id(rq)?);
                    cfg.padding = m.padding;
                    cfg.format = isotp::FrameFormat::Classic;
                    let channel = Channel::new(cfg).map_err(|_| SimError::BadId {
                        module: m.name.clone(),
                        id: rs,
                    })?;
                    Some(Diag {
                        server: EcuServer::new(m.clone(), &mine),
                        channel,
                        queue: VecDeque::new(),
                        drop_fc: mine.iter().any(|f| f.drop_flow_control),
                    })
                }
                _ => None,
            };
            modules.push(SimModule {
                name: m.name.clone(),
                node: m.node.clone(),
                diag,
                silent,
            });
        }

        Ok(modules)
    }

    /// The periodic messages the profile's modules send (those with a cycle time in the
    /// DBC), each signal with its behaviour and the faults' changes; what is used is taken
    /// out of `behaviours` and `changes`.
    fn periodic(
        profile: &Profile,
        db: &Database,
        behaviours: &mut BTreeMap<(String, String), Behaviour>,
        changes: &mut BTreeMap<(String, String), Vec<(f64, f64)>>,
    ) -> Result<Vec<Periodic>, SimError> {
        let sending: BTreeSet<&str> = profile
            .modules
            .iter()
            .filter_map(|m| m.node.as_deref())
            .collect();
        let mut periodic = Vec::new();
        for message in db.messages() {
            let Some(node) = message.transmitter() else {
                continue;
            };
            if !sending.contains(node) {
                continue;
            }
            let Some(cycle_ms) = message.cycle_time_ms().filter(|c| *c > 0) else {
                tracing::debug!(
                    message = message.name(),
                    "no GenMsgCycleTime: not sent periodically"
                );
                continue;
            };
            let cycle = Duration::from_millis(u64::from(cycle_ms));
            let k = periodic.len() as u64;
            let phase =
                Duration::from_millis(k.saturating_mul(PHASE_STEP_MS) % u64::from(cycle_ms));
            let bs: Vec<Behaviour> = message
                .signals()
                .iter()
                .map(|s| {
                    behaviours
                        .remove(&(message.name().to_string(), s.name().to_string()))
                        .unwrap_or(Behaviour::Raw0)
                })
                .collect();
            let counters = bs
                .iter()
                .map(|b| match b {
                    Behaviour::Counter { min, .. } => *min,
                    _ => 0.0,
                })
                .collect();
            let mut changed = Vec::new();
            for (i, sig) in message.signals().iter().enumerate() {
                if let Some(list) =
                    changes.remove(&(message.name().to_string(), sig.name().to_string()))
                {
                    changed.extend(list.into_iter().map(|(v, from)| (i, v, from)));
                }
            }
            let p = Periodic {
                changes: changed,
                message: message.clone(),
                node: node.to_string(),
                cycle,
                phase,
                next_due: Timestamp::ZERO,
                behaviours: bs,
                counters,
            };
            p.validate().map_err(|source| SimError::Encode {
                message: message.name().to_string(),
                source,
            })?;
            periodic.push(p);
        }
        Ok(periodic)
    }

    fn anchor(&mut self, now: Timestamp) {
        if self.start.is_some() {
            return;
        }
        self.start = Some(now);
        for p in &mut self.periodic {
            p.next_due = now + p.phase;
        }
        for (fault, description) in self.faults.clone() {
            self.push_event(now, EventKind::FaultApplied { fault, description });
        }
    }

    fn push_event(&mut self, at: Timestamp, kind: EventKind) {
        tracing::debug!(%at, "{kind}");
        self.events.push_back(VehicleEvent { at, kind });
    }

    fn push_frame(&mut self, at: Timestamp, frame: Frame) {
        self.seq += 1;
        self.out.insert((at, self.seq), frame);
    }

    /// A frame read from the bus at `now`.
    pub fn handle_frame(&mut self, now: Timestamp, frame: &Frame) {
        self.anchor(now);
        let Some(id) = frame.id() else { return };
        for m in &mut self.modules {
            if m.silent {
                continue;
            }
            if let Some(d) = &mut m.diag
                && d.channel.config().rx_id == id
            {
                d.channel.handle_frame(now, frame);
            }
        }
        self.service(now);
    }

    /// Fires what is due at `now` (responses, routines, session timeouts, ISO-TP timers).
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.anchor(now);
        for m in &mut self.modules {
            if let Some(d) = &mut m.diag {
                d.channel.handle_timeout(now);
                d.server.handle_timeout(now);
            }
        }
        self.service(now);
    }

    /// Moves requests, responses and events between the channels and the servers.
    fn service(&mut self, now: Timestamp) {
        for _ in 0..64 {
            let mut progressed = false;
            let mut new_events = Vec::new();
            let mut frames = Vec::new();
            let mut flags_set = Vec::new();
            for m in &mut self.modules {
                let Some(d) = &mut m.diag else { continue };
                while let Some(ev) = d.channel.poll_event() {
                    match ev {
                        isotp::ChannelEvent::Received(pdu) => {
                            progressed = true;
                            new_events.push(EventKind::Request {
                                module: m.name.clone(),
                                data: pdu.clone(),
                            });
                            d.server.handle_request(now, &pdu, &self.flags);
                        }
                        isotp::ChannelEvent::Sent { .. } => progressed = true,
                        isotp::ChannelEvent::SendFailed(e) => {
                            new_events.push(EventKind::Transport {
                                module: m.name.clone(),
                                error: e.to_string(),
                            })
                        }
                        isotp::ChannelEvent::ReceiveFailed(e) => {
                            new_events.push(EventKind::Transport {
                                module: m.name.clone(),
                                error: e.to_string(),
                            })
                        }
                        isotp::ChannelEvent::RxFirstFrame { len } => {
                            tracing::trace!(module = %m.name, len, "first frame")
                        }
                        isotp::ChannelEvent::Ignored(r) => {
                            tracing::debug!(module = %m.name, "ISO-TP frame ignored: {r}")
                        }
                    }
                }
                while let Some(r) = d.server.poll_response(now) {
                    d.queue.push_back(r);
                }
                if !d.channel.is_sending()
                    && let Some(r) = d.queue.pop_front()
                {
                    progressed = true;
                    match d.channel.send(now, &r) {
                        Ok(()) => new_events.push(EventKind::Response {
                            module: m.name.clone(),
                            data: r,
                        }),
                        Err(e) => new_events.push(EventKind::Transport {
                            module: m.name.clone(),
                            error: e.to_string(),
                        }),
                    }
                }
                while let Some(f) = d.channel.poll_transmit(now) {
                    progressed = true;
                    if d.drop_fc && is_flow_control(&f) {
                        new_events.push(EventKind::FlowControlDropped {
                            module: m.name.clone(),
                        });
                        continue;
                    }
                    frames.push(f);
                }
                while let Some(e) = d.server.poll_event() {
                    let name_of = |id: u8| {
                        d.server
                            .module()
                            .routines
                            .iter()
                            .find(|r| r.id == id)
                            .map(|r| r.name.clone())
                            .unwrap_or_default()
                    };
                    let module = m.name.clone();
                    match e {
                        EcuEvent::SessionChanged { from, to, reason } => {
                            new_events.push(EventKind::SessionChanged {
                                module,
                                from,
                                to,
                                reason,
                            })
                        }
                        EcuEvent::RoutineStarted { id } => {
                            new_events.push(EventKind::RoutineStarted {
                                module,
                                id,
                                name: name_of(id),
                            })
                        }
                        EcuEvent::RoutineCompleted { id } => {
                            new_events.push(EventKind::RoutineCompleted {
                                module,
                                id,
                                name: name_of(id),
                            })
                        }
                        EcuEvent::RoutineAborted { id, reason } => {
                            new_events.push(EventKind::RoutineAborted {
                                module,
                                id,
                                name: name_of(id),
                                reason,
                            })
                        }
                        EcuEvent::DtcsCleared => new_events.push(EventKind::DtcsCleared { module }),
                        EcuEvent::FlagSet(flag) => flags_set.push((module, flag)),
                    }
                }
            }
            for kind in new_events {
                self.push_event(now, kind);
            }
            for f in frames {
                self.push_frame(now, f);
            }
            for (module, flag) in flags_set {
                self.raise_flag(now, Some(module), flag);
            }
            if !progressed {
                break;
            }
        }
    }

    fn raise_flag(&mut self, now: Timestamp, module: Option<String>, flag: String) {
        if self.flags.contains(&flag) {
            return;
        }
        let before = self.silent_nodes();
        self.flags.insert(flag.clone());
        let after = self.silent_nodes();
        let resumed: Vec<String> = before.difference(&after).cloned().collect();
        for p in &mut self.periodic {
            if resumed.contains(&p.node) {
                p.realign(now);
            }
        }
        self.push_event(
            now,
            EventKind::FlagSet {
                module,
                flag,
                resumed,
            },
        );
    }

    /// Sets a vehicle flag from outside (a test or a demo), as a routine completing would.
    pub fn set_flag(&mut self, now: Timestamp, flag: &str) {
        self.anchor(now);
        self.raise_flag(now, None, flag.to_string());
    }

    /// The next frame to put on the bus at `now`: periodic frames and diagnostic responses due
    /// at or before `now`, earliest first.
    pub fn poll_transmit(&mut self, now: Timestamp) -> Option<Frame> {
        self.anchor(now);
        self.service(now);
        let silent = self.silent_nodes();
        let start = self.start.unwrap_or(now);
        let mut due = Vec::new();
        for p in &mut self.periodic {
            if p.next_due > now {
                continue;
            }
            if silent.contains(&p.node) {
                p.skip_past(now);
                continue;
            }
            let at = p.next_due;
            let t_s = at.saturating_duration_since(start).as_secs_f64();
            match p.payload(t_s) {
                Ok(payload) => {
                    if let Some(f) = p.frame(&payload) {
                        due.push((at, f));
                    }
                }
                Err(e) => tracing::warn!(message = p.message.name(), "cannot encode: {e}"),
            }
            p.step_counters();
            p.next_due = at + p.cycle;
            if p.next_due <= now {
                p.skip_past(now);
            }
        }
        for (at, f) in due {
            self.push_frame(at, f);
        }
        let (&key, _) = self.out.iter().next()?;
        if key.0 > now {
            return None;
        }
        self.out.remove(&key)
    }

    /// The next time something is due (a frame, a response, a routine's end, a timer);
    /// [`Timestamp::ZERO`] before the time line started.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        if self.start.is_none() {
            return Some(Timestamp::ZERO);
        }
        let silent = self.silent_nodes();
        let out = self.out.keys().next().map(|k| k.0);
        let periodic = self
            .periodic
            .iter()
            .filter(|p| !silent.contains(&p.node))
            .map(|p| p.next_due)
            .min();
        let diag = self
            .modules
            .iter()
            .filter_map(|m| m.diag.as_ref())
            .flat_map(|d| [d.channel.poll_timeout(), d.server.poll_timeout()])
            .flatten()
            .min();
        [out, periodic, diag].into_iter().flatten().min()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<VehicleEvent> {
        self.events.pop_front()
    }

    /// The vehicle flags set so far.
    pub fn flags(&self) -> &BTreeSet<String> {
        &self.flags
    }

    /// The DBC nodes whose periodic frames are currently not sent (a `silent` module's node,
    /// or a `silence_node` whose `until_flag` is not set yet).
    pub fn silent_nodes(&self) -> BTreeSet<String> {
        let mut s: BTreeSet<String> = self
            .modules
            .iter()
            .filter(|m| m.silent)
            .filter_map(|m| m.node.clone())
            .collect();
        for r in &self.silences {
            if r.until_flag
                .as_ref()
                .is_none_or(|f| !self.flags.contains(f))
            {
                s.insert(r.node.clone());
            }
        }
        s
    }

    /// Whether `node`'s periodic frames are currently not sent.
    pub fn is_node_silent(&self, node: &str) -> bool {
        self.silent_nodes().contains(node)
    }

    /// Every profile module, with its current session.
    pub fn modules(&self) -> Vec<ModuleStatus<'_>> {
        self.modules
            .iter()
            .map(|m| ModuleStatus {
                name: &m.name,
                node: m.node.as_deref(),
                request_id: m.diag.as_ref().map(|d| d.channel.config().rx_id),
                response_id: m.diag.as_ref().map(|d| d.channel.config().tx_id),
                session: m.diag.as_ref().map(|d| d.server.session()),
                silent: m.silent,
            })
            .collect()
    }

    /// The current diagnostic session of `module`.
    pub fn session(&self, module: &str) -> Option<u8> {
        self.modules
            .iter()
            .find(|m| m.name == module)
            .and_then(|m| m.diag.as_ref())
            .map(|d| d.server.session())
    }

    /// The periodic messages the vehicle sends (silenced or not), in DBC order.
    pub fn periodic_messages(&self) -> Vec<PeriodicInfo<'_>> {
        self.periodic
            .iter()
            .map(|p| PeriodicInfo {
                id: p.message.id(),
                name: p.message.name(),
                node: &p.node,
                cycle: p.cycle,
                phase: p.phase,
            })
            .collect()
    }

    /// The names of the faults applied.
    pub fn faults(&self) -> impl Iterator<Item = &str> {
        self.faults.iter().map(|(n, _)| n.as_str())
    }

    /// The start of the time line (the first `now` given), if started.
    pub fn start(&self) -> Option<Timestamp> {
        self.start
    }
}

impl Machine for Vehicle {
    fn handle_frame(&mut self, now: Timestamp, frame: &Frame) {
        Vehicle::handle_frame(self, now, frame);
    }

    fn handle_timeout(&mut self, now: Timestamp) {
        Vehicle::handle_timeout(self, now);
    }

    fn poll_transmit(&mut self, now: Timestamp) -> Option<Frame> {
        Vehicle::poll_transmit(self, now)
    }

    fn poll_timeout(&self) -> Option<Timestamp> {
        Vehicle::poll_timeout(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DBC: &str = r#"VERSION ""
BU_: BCM AV
BO_ 100 BODY: 8 BCM
 SG_ STATE : 0|8@1+ (1,0) [0|255] "" AV
 SG_ COUNT : 8|8@1+ (1,0) [0|255] "" AV
 SG_ WAVE : 16|8@1+ (1,0) [0|255] "" AV
 SG_ TEMP : 24|8@1+ (1,-40) [-40|215] "" AV
BO_ 200 AV_ALIVE: 8 AV
BO_ 300 NOT_PERIODIC: 8 BCM
BA_DEF_ BO_ "GenMsgCycleTime" INT 0 65535;
BA_DEF_DEF_ "GenMsgCycleTime" 0;
BA_ "GenMsgCycleTime" BO_ 100 100;
BA_ "GenMsgCycleTime" BO_ 200 50;
"#;

    const PROFILE: &str = r#"
[vehicle]
name = "t"
[vehicle.signals]
"BODY.STATE" = 3
"BODY.COUNT" = { min = 250, max = 255, step = 2 }
"BODY.WAVE" = { min = 0, max = 100, period_s = 1 }

[[module]]
name = "BCM"
node = "BCM"
request_id = 0x745
response_id = 0x765

[[module]]
name = "AV"
node = "AV"

[[fault]]
name = "av-off"
description = "AV silent until x"
silence_node = "AV"
until_flag = "x"
"#;

    fn ms(v: u64) -> Timestamp {
        Timestamp::from_nanos(v * 1_000_000)
    }

    fn setup(faults: &[&str]) -> (Vehicle, Database) {
        let db = Database::from_str_named(DBC, "t.dbc").unwrap();
        let p = Profile::from_toml(PROFILE, "t.toml").unwrap();
        (Vehicle::new(&p, &db, faults).unwrap(), db)
    }

    /// Runs the vehicle alone until `end`, returning (time, frame) of everything it sent.
    fn run(v: &mut Vehicle, end: Timestamp) -> Vec<(Timestamp, Frame)> {
        let mut out = Vec::new();
        let mut now = Timestamp::ZERO;
        for _ in 0..100_000 {
            v.handle_timeout(now);
            while let Some(f) = v.poll_transmit(now) {
                out.push((now, f));
            }
            match v.poll_timeout() {
                Some(t) if t <= end => now = now.max(t),
                _ => break,
            }
        }
        out
    }

    #[test]
    fn test_triangle_wave() {
        assert_eq!(triangle(0.0, 100.0, 1.0, 0.0), 0.0);
        assert_eq!(triangle(0.0, 100.0, 1.0, 0.25), 50.0);
        assert_eq!(triangle(0.0, 100.0, 1.0, 0.5), 100.0);
        assert_eq!(triangle(0.0, 100.0, 1.0, 0.75), 50.0);
        assert_eq!(triangle(-30.0, 30.0, 8.0, 8.0), -30.0);
    }

    #[test]
    fn test_schedule_phases_counter_and_encoding() {
        let (mut v, db) = setup(&[]);
        let frames = run(&mut v, ms(1000));
        let body: Vec<_> = frames
            .iter()
            .filter(|(_, f)| f.id() == Id::standard(100))
            .collect();
        let av: Vec<_> = frames
            .iter()
            .filter(|(_, f)| f.id() == Id::standard(200))
            .collect();
        assert!(!frames.iter().any(|(_, f)| f.id() == Id::standard(300)));
        // BODY first (phase 0), AV_ALIVE second (phase 7 ms): 0, 100, ... 1000 and 7, 57, ...
        assert_eq!(body.len(), 11);
        assert_eq!(body[3].0, ms(300));
        assert_eq!(av.len(), 20);
        assert_eq!(av[0].0, ms(7));
        assert_eq!(av[1].0, ms(57));
        let msg = db.message_by_name("BODY").unwrap();
        let mut d = crate::dbc::Decoded::new();
        let mut counts = Vec::new();
        for (at, f) in &body {
            msg.decode_into(f.data(), &mut d).unwrap();
            assert_eq!(d.signals()[0].physical.as_f64(), 3.0);
            counts.push(d.signals()[1].physical.as_f64());
            let wave = d.signals()[2].physical.as_f64();
            let expect = triangle(0.0, 100.0, 1.0, at.as_secs_f64()).round();
            assert_eq!(wave, expect, "at {at}");
            // Unlisted signals carry raw 0: physical -40 here.
            assert_eq!(d.signals()[3].physical.as_f64(), -40.0);
        }
        assert_eq!(&counts[..6], [250.0, 252.0, 254.0, 250.0, 252.0, 254.0]);
    }

    #[test]
    fn test_silenced_node_resumes_on_its_grid_when_the_flag_is_set() {
        let (mut v, _) = setup(&["av-off"]);
        assert!(v.is_node_silent("AV"));
        let before = run(&mut v, ms(500));
        assert!(!before.iter().any(|(_, f)| f.id() == Id::standard(200)));
        let events: Vec<_> = std::iter::from_fn(|| v.poll_event()).collect();
        assert!(
            matches!(&events[0].kind, EventKind::FaultApplied { fault, .. } if fault == "av-off")
        );
        v.set_flag(ms(510), "x");
        let ev = v.poll_event().unwrap();
        assert_eq!(ev.kind.to_string(), "flag x set: AV resumes sending");
        assert!(!v.is_node_silent("AV"));
        let mut now = ms(510);
        let mut first = None;
        while first.is_none() {
            v.handle_timeout(now);
            while let Some(f) = v.poll_transmit(now) {
                if f.id() == Id::standard(200) && first.is_none() {
                    first = Some(now);
                }
            }
            now = v.poll_timeout().unwrap();
        }
        assert_eq!(first, Some(ms(557)));
    }

    #[test]
    fn test_errors_name_what_is_missing() {
        let db = Database::from_str_named(DBC, "t.dbc").unwrap();
        let p = Profile::from_toml(PROFILE, "t.toml").unwrap();
        let e = Vehicle::new(&p, &db, &["nope"]).unwrap_err();
        assert!(
            e.to_string().contains("\"nope\"") && e.to_string().contains("av-off"),
            "{e}"
        );
        for (from, to, what) in [
            ("node = \"AV\"", "node = \"HEAD_UNIT\"", "HEAD_UNIT"),
            ("\"BODY.STATE\"", "\"BODYX.STATE\"", "BODYX"),
            ("\"BODY.STATE\"", "\"BODY.STATEX\"", "STATEX"),
            ("\"BODY.STATE\"", "\"STATE\"", "MESSAGE.SIGNAL"),
            ("\"BODY.STATE\" = 3", "\"BODY.STATE\" = 300", "BODY"),
            ("silence_node = \"AV\"", "silence_node = \"XX\"", "XX"),
        ] {
            let p = Profile::from_toml(&PROFILE.replace(from, to), "t.toml").unwrap();
            let e = Vehicle::new(&p, &db, &["av-off"]).unwrap_err();
            assert!(e.to_string().contains(what), "{what}: {e}");
        }
    }

    #[test]
    fn test_vehicle_can_move_to_another_task() {
        fn send<T: Send + 'static>(_: &T) {}
        let (v, _) = setup(&[]);
        send(&v);
    }

    #[test]
    fn test_poll_timeout_before_start_is_due_at_once() {
        let (v, _) = setup(&[]);
        assert_eq!(v.poll_timeout(), Some(Timestamp::ZERO));
        assert_eq!(v.start(), None);
    }
}

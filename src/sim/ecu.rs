//! A simulated module's diagnostic server: KWP2000 services by local identifier (ISO 14230-3
//! as Nissan body modules use them over ISO-TP), driven entirely by a profile [`Module`].
//!
//! Works on whole PDUs (ISO-TP is below it), sans-IO: [`EcuServer::handle_request`] takes a
//! request at `now`; responses come out of [`EcuServer::poll_response`] when due (after the
//! module's P2, and after any response-pending (0x78) answers a fault asks for);
//! [`EcuServer::handle_timeout`] advances routines, the S3 session timeout and fault resets;
//! [`EcuServer::poll_timeout`] gives the next deadline; [`EcuServer::poll_event`] reports what
//! happened (session changes, routines, vehicle flags set). Vehicle flags (e.g. "audio unit
//! registered") are owned by the caller and passed in, since they link modules.
//!
//! Services: `10` sessions, `3E` tester present (`3E 80` and `3E 02` need no reply), `21` read
//! and `3B` write by local id, `30` I/O control, `31`/`32`/`33` routines by local id, `18` read
//! DTCs (`58 <count> (DTC[2] status)*`), `14` clear DTCs, `11` reset, plus fixed
//! request/response pairs from the profile (identification). A non-default session falls back
//! to the default after S3 without requests, which aborts running routines: a tester has to
//! keep the session alive for the length of a routine.

use core::time::Duration;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::profile::{Fault, Module, parse_dtc_text};
use crate::time::Timestamp;

/// What a server reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EcuEvent {
    SessionChanged {
        from: u8,
        to: u8,
        reason: &'static str,
    },
    RoutineStarted {
        id: u8,
    },
    RoutineCompleted {
        id: u8,
    },
    RoutineAborted {
        id: u8,
        reason: &'static str,
    },
    /// A vehicle flag the caller should set.
    FlagSet(String),
    DtcsCleared,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RoutineState {
    Idle,
    Running { until: Timestamp },
    Done,
}

/// The faults that apply to one module, merged.
#[derive(Debug, Clone, Default)]
struct Faults {
    silent: bool,
    negative: Vec<(u8, u8)>,
    pending: Option<(u32, Duration)>,
    reset_after: Option<Duration>,
}

/// NRC 0x11 serviceNotSupported.
const NRC_SERVICE_NOT_SUPPORTED: u8 = 0x11;
/// NRC 0x12 subFunctionNotSupported-invalidFormat.
const NRC_INVALID_FORMAT: u8 = 0x12;
/// NRC 0x22 conditionsNotCorrect.
const NRC_CONDITIONS: u8 = 0x22;
/// NRC 0x31 requestOutOfRange.
const NRC_OUT_OF_RANGE: u8 = 0x31;
/// NRC 0x78 responsePending.
const NRC_PENDING: u8 = 0x78;
/// NRC 0x80 (KWP2000) serviceNotSupportedInActiveDiagnosticSession.
const NRC_WRONG_SESSION: u8 = 0x80;

/// One module's diagnostic server.
#[derive(Debug, Clone)]
pub struct EcuServer {
    module: Module,
    faults: Faults,
    session: u8,
    session_since: Timestamp,
    last_request: Timestamp,
    routines: Vec<RoutineState>,
    written: BTreeMap<u8, Vec<u8>>,
    dtcs_cleared: bool,
    out: VecDeque<(Timestamp, Vec<u8>)>,
    events: VecDeque<EcuEvent>,
}

impl EcuServer {
    /// A server for `module` with the faults that name it (or name no module).
    pub fn new(module: Module, faults: &[&Fault]) -> Self {
        let mut f = Faults::default();
        for fault in faults
            .iter()
            .filter(|x| x.modules.is_empty() || x.modules.contains(&module.name))
        {
            f.silent |= fault.silent;
            if let Some(n) = &fault.negative {
                f.negative.push((n.service, n.nrc));
            }
            if let Some(p) = &fault.pending {
                f.pending = Some((p.count, Duration::from_millis(p.interval_ms)));
            }
            if let Some(ms) = fault.reset_after_ms {
                f.reset_after = Some(Duration::from_millis(ms));
            }
        }
        EcuServer {
            session: module.default_session,
            routines: vec![RoutineState::Idle; module.routines.len()],
            module,
            faults: f,
            session_since: Timestamp::ZERO,
            last_request: Timestamp::ZERO,
            written: BTreeMap::new(),
            dtcs_cleared: false,
            out: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The profile module.
    pub fn module(&self) -> &Module {
        &self.module
    }

    /// The current diagnostic session.
    pub fn session(&self) -> u8 {
        self.session
    }

    /// Whether a fault makes this module silent.
    pub fn is_silent(&self) -> bool {
        self.faults.silent
    }

    /// A request PDU arrived at `now`.
    pub fn handle_request(&mut self, now: Timestamp, pdu: &[u8], flags: &BTreeSet<String>) {
        self.handle_timeout(now);
        if self.faults.silent {
            return;
        }
        let Some(&sid) = pdu.first() else { return };
        self.last_request = now;
        let response = self.respond(now, sid, pdu, flags);
        let Some(response) = response else { return };
        let p2 = Duration::from_millis(self.module.p2_ms);
        let mut at = now + p2;
        if let Some((count, interval)) = self.faults.pending {
            for _ in 0..count {
                self.out.push_back((at, vec![0x7F, sid, NRC_PENDING]));
                at += interval;
            }
        }
        self.out.push_back((at, response));
    }

    fn negative(sid: u8, nrc: u8) -> Option<Vec<u8>> {
        Some(vec![0x7F, sid, nrc])
    }

    fn session_ok(&self, needed: Option<u8>) -> bool {
        needed.is_none_or(|s| s == self.session)
    }

    fn respond(
        &mut self,
        now: Timestamp,
        sid: u8,
        pdu: &[u8],
        flags: &BTreeSet<String>,
    ) -> Option<Vec<u8>> {
        if let Some(f) = self.module.fixed.iter().find(|f| f.request.0 == pdu) {
            return Some(f.response.0.clone());
        }
        if let Some(&(_, nrc)) = self.faults.negative.iter().find(|(s, _)| *s == sid) {
            return Self::negative(sid, nrc);
        }
        match (sid, pdu) {
            (0x10, [_, session]) => {
                if self.module.sessions.contains(session) {
                    self.set_session(now, *session, "requested");
                    Some(vec![0x50, *session])
                } else {
                    Self::negative(sid, NRC_INVALID_FORMAT)
                }
            }
            (0x3E, [_]) => Some(vec![0x7E]),
            (0x3E, [_, 0x80 | 0x02]) => None,
            (0x3E, [_, sub]) => Some(vec![0x7E, *sub]),
            (0x21, [_, lid]) => self.read_local_id(sid, *lid, flags),
            (0x3B, [_, lid, data @ ..]) if !data.is_empty() => {
                let Some(l) = self.module.local_ids.iter().find(|l| l.id == *lid) else {
                    return Self::negative(sid, NRC_OUT_OF_RANGE);
                };
                if !self.session_ok(l.session) {
                    return Self::negative(sid, NRC_WRONG_SESSION);
                }
                if !l.writable {
                    return Self::negative(sid, NRC_CONDITIONS);
                }
                self.written.insert(*lid, data.to_vec());
                Some(vec![0x7B, *lid])
            }
            (0x30, [_, rest @ ..]) if !rest.is_empty() => {
                if self.session == self.module.default_session {
                    return Self::negative(sid, NRC_WRONG_SESSION);
                }
                let mut r = vec![0x70];
                r.extend_from_slice(rest);
                Some(r)
            }
            (0x31, [_, rid, params @ ..]) => self.start_routine(now, sid, *rid, params),
            (0x32, [_, rid]) => {
                let Some(i) = self.module.routines.iter().position(|r| r.id == *rid) else {
                    return Self::negative(sid, NRC_OUT_OF_RANGE);
                };
                if matches!(self.routines[i], RoutineState::Running { .. }) {
                    self.routines[i] = RoutineState::Idle;
                    self.events.push_back(EcuEvent::RoutineAborted {
                        id: *rid,
                        reason: "stopped by the tester",
                    });
                }
                Some(vec![0x72, *rid])
            }
            (0x33, [_, rid]) => {
                let Some(i) = self.module.routines.iter().position(|r| r.id == *rid) else {
                    return Self::negative(sid, NRC_OUT_OF_RANGE);
                };
                let mut r = vec![0x73, *rid];
                r.extend_from_slice(&self.routine_status(i));
                Some(r)
            }
            (0x18, [_, ..]) => {
                let dtcs: Vec<(u16, u8)> = if self.dtcs_cleared {
                    Vec::new()
                } else {
                    self.module
                        .dtcs
                        .iter()
                        .filter(|d| d.unless_flag.as_ref().is_none_or(|f| !flags.contains(f)))
                        .filter_map(|d| parse_dtc_text(&d.code).map(|c| (c, d.status)))
                        .collect()
                };
                let mut r = vec![0x58, dtcs.len().min(255) as u8];
                for (code, status) in dtcs.iter().take(255) {
                    r.extend_from_slice(&code.to_be_bytes());
                    r.push(*status);
                }
                Some(r)
            }
            (0x14, [_, group @ ..]) => {
                self.dtcs_cleared = true;
                self.events.push_back(EcuEvent::DtcsCleared);
                let mut r = vec![0x54];
                r.extend_from_slice(group);
                Some(r)
            }
            (0x11, [_, mode]) => {
                self.abort_routines("ECU reset");
                let default = self.module.default_session;
                self.set_session(now, default, "ECU reset");
                Some(vec![0x51, *mode])
            }
            (0x10 | 0x21 | 0x3B | 0x30 | 0x31 | 0x32 | 0x33 | 0x11, _) => {
                Self::negative(sid, NRC_INVALID_FORMAT)
            }
            _ => Self::negative(sid, NRC_SERVICE_NOT_SUPPORTED),
        }
    }

    fn read_local_id(&self, sid: u8, lid: u8, flags: &BTreeSet<String>) -> Option<Vec<u8>> {
        if let Some(i) = self
            .module
            .routines
            .iter()
            .position(|r| r.status_local_id == lid)
        {
            if !self.session_ok(self.module.routines[i].session) {
                return Self::negative(sid, NRC_WRONG_SESSION);
            }
            let mut r = vec![0x61, lid];
            r.extend_from_slice(&self.routine_status(i));
            return Some(r);
        }
        let Some(l) = self.module.local_ids.iter().find(|l| l.id == lid) else {
            return Self::negative(sid, NRC_OUT_OF_RANGE);
        };
        if !self.session_ok(l.session) {
            return Self::negative(sid, NRC_WRONG_SESSION);
        }
        let mut r = vec![0x61, lid];
        match (&l.flag, &l.value_when_flag) {
            _ if self.written.contains_key(&lid) => {
                r.extend_from_slice(&self.written[&lid]);
            }
            (Some(flag), Some(v)) if flags.contains(flag) => r.extend_from_slice(&v.0),
            _ => r.extend_from_slice(&l.data()),
        }
        Some(r)
    }

    fn routine_status(&self, i: usize) -> Vec<u8> {
        let r = &self.module.routines[i];
        match self.routines[i] {
            RoutineState::Idle => r.status_idle.0.clone(),
            RoutineState::Running { .. } => r.status_running.0.clone(),
            RoutineState::Done => r.status_done.0.clone(),
        }
    }

    fn start_routine(
        &mut self,
        now: Timestamp,
        sid: u8,
        rid: u8,
        params: &[u8],
    ) -> Option<Vec<u8>> {
        let Some(i) = self.module.routines.iter().position(|r| r.id == rid) else {
            return Self::negative(sid, NRC_OUT_OF_RANGE);
        };
        let routine = &self.module.routines[i];
        if !self.session_ok(routine.session) {
            return Self::negative(sid, NRC_WRONG_SESSION);
        }
        if params.len() != routine.params.len() {
            return Self::negative(sid, NRC_INVALID_FORMAT);
        }
        if routine
            .params
            .iter()
            .zip(params)
            .any(|(p, v)| *v < p.min || *v > p.max)
        {
            return Self::negative(sid, NRC_OUT_OF_RANGE);
        }
        if matches!(self.routines[i], RoutineState::Running { .. }) {
            return Self::negative(sid, NRC_CONDITIONS);
        }
        let until = now + Duration::from_millis(routine.duration_ms);
        self.routines[i] = RoutineState::Running { until };
        self.events.push_back(EcuEvent::RoutineStarted { id: rid });
        Some(vec![0x71, rid])
    }

    fn set_session(&mut self, now: Timestamp, session: u8, reason: &'static str) {
        if session != self.session {
            self.events.push_back(EcuEvent::SessionChanged {
                from: self.session,
                to: session,
                reason,
            });
        }
        self.session = session;
        self.session_since = now;
    }

    fn abort_routines(&mut self, reason: &'static str) {
        for (i, state) in self.routines.iter_mut().enumerate() {
            if matches!(state, RoutineState::Running { .. }) {
                *state = RoutineState::Idle;
                self.events.push_back(EcuEvent::RoutineAborted {
                    id: self.module.routines[i].id,
                    reason,
                });
            }
        }
    }

    fn session_deadline(&self) -> Option<(Timestamp, &'static str)> {
        if self.session == self.module.default_session {
            return None;
        }
        // S3 runs from the end of the last exchange (ISO 14229-2): not while the server is
        // still answering (e.g. a long run of 0x78), and restarted by each response it sends.
        let s3 = self.out.is_empty().then(|| {
            self.last_request.max(self.session_since) + Duration::from_millis(self.module.s3_ms)
        });
        let reset = self.faults.reset_after.map(|d| self.session_since + d);
        match (reset, s3) {
            (Some(r), Some(s)) if r < s => Some((r, "module reset (fault)")),
            (Some(r), None) => Some((r, "module reset (fault)")),
            (_, Some(s)) => Some((s, "S3 timeout: no request")),
            (None, None) => None,
        }
    }

    /// Advance routines and session timers to `now`.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        // Routines that finished before the session dropped complete first.
        let drop_at = self.session_deadline();
        for i in 0..self.routines.len() {
            if let RoutineState::Running { until } = self.routines[i]
                && until <= now
                && drop_at.is_none_or(|(d, _)| until <= d)
            {
                self.routines[i] = RoutineState::Done;
                let routine = &self.module.routines[i];
                self.events
                    .push_back(EcuEvent::RoutineCompleted { id: routine.id });
                if let Some(flag) = &routine.sets_flag {
                    self.events.push_back(EcuEvent::FlagSet(flag.clone()));
                }
            }
        }
        if let Some((at, reason)) = drop_at
            && at <= now
        {
            self.abort_routines(reason);
            let default = self.module.default_session;
            self.set_session(at, default, reason);
        }
    }

    /// The next response due at or before `now`.
    pub fn poll_response(&mut self, now: Timestamp) -> Option<Vec<u8>> {
        match self.out.front() {
            Some((at, _)) if *at <= now => {
                let (at, response) = self.out.pop_front()?;
                // A response restarts S3.
                self.last_request = self.last_request.max(at);
                Some(response)
            }
            _ => None,
        }
    }

    /// The next time something is due: a response, a routine's end, a session timeout.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let response = self.out.front().map(|(at, _)| *at);
        let routine = self
            .routines
            .iter()
            .filter_map(|r| match r {
                RoutineState::Running { until } => Some(*until),
                _ => None,
            })
            .min();
        let session = self.session_deadline().map(|(at, _)| at);
        [response, routine, session].into_iter().flatten().min()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<EcuEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::super::profile::Profile;
    use super::*;

    const PROFILE: &str = r#"
[vehicle]
name = "test"

[[module]]
name = "BCM"
request_id = 0x745
response_id = 0x765
p2_ms = 10

[[module.fixed]]
request = "1A 81"
response = "5A 81 41 42"

[[module.local_id]]
id = 0x83
text = "284B2"
session = 0xC0

[[module.local_id]]
id = 0x40
value = "00"
session = 0xC0
writable = true

[[module.routine]]
id = 0x20
params = [{ name = "capacity", min = 30, max = 120 }]
session = 0xC0
duration_ms = 60000
status_local_id = 0x21
status_idle = "FF"
status_running = "00"
status_done = "01"
sets_flag = "registered"

[[module.dtc]]
code = "U1000"
status = 0x20
unless_flag = "registered"

[[fault]]
name = "slow"
pending = { count = 3, interval_ms = 500 }

[[fault]]
name = "nrc"
negative = { service = 0x31, nrc = 0x22 }

[[fault]]
name = "reset"
reset_after_ms = 20000
"#;

    fn ms(v: u64) -> Timestamp {
        Timestamp::from_nanos(v * 1_000_000)
    }

    fn server(faults: &[&str]) -> EcuServer {
        let p = Profile::from_toml(PROFILE, "t").unwrap();
        let f: Vec<&Fault> = faults.iter().map(|n| p.fault(n).unwrap()).collect();
        EcuServer::new(p.module("BCM").unwrap().clone(), &f)
    }

    /// Send a request at `t` ms and collect the responses due within `within` ms.
    fn ask(s: &mut EcuServer, t: u64, req: &[u8], flags: &BTreeSet<String>) -> Vec<Vec<u8>> {
        s.handle_request(ms(t), req, flags);
        let mut out = Vec::new();
        while let Some(at) = s.poll_timeout() {
            if at > ms(t + 5000) || s.out.is_empty() {
                break;
            }
            s.handle_timeout(at);
            while let Some(r) = s.poll_response(at) {
                out.push(r);
            }
        }
        out
    }

    #[test]
    fn test_sessions_and_wrong_session_nrc() {
        let mut s = server(&[]);
        let f = BTreeSet::new();
        assert_eq!(ask(&mut s, 0, &[0x21, 0x83], &f), [vec![0x7F, 0x21, 0x80]]);
        assert_eq!(ask(&mut s, 10, &[0x10, 0xC0], &f), [vec![0x50, 0xC0]]);
        assert_eq!(
            ask(&mut s, 20, &[0x21, 0x83], &f),
            [b"\x61\x83284B2".to_vec()]
        );
        assert_eq!(ask(&mut s, 30, &[0x10, 0x85], &f), [vec![0x7F, 0x10, 0x12]]);
        assert_eq!(
            ask(&mut s, 40, &[0x1A, 0x81], &f),
            [vec![0x5A, 0x81, 0x41, 0x42]]
        );
        assert_eq!(ask(&mut s, 50, &[0x99], &f), [vec![0x7F, 0x99, 0x11]]);
        assert_eq!(ask(&mut s, 60, &[0x3E, 0x80], &f), Vec::<Vec<u8>>::new());
    }

    #[test]
    fn test_s3_drops_the_session_without_keep_alive() {
        let mut s = server(&[]);
        let f = BTreeSet::new();
        ask(&mut s, 0, &[0x10, 0xC0], &f);
        // Keep-alive every 2 s holds it.
        for t in (2000..=10000).step_by(2000) {
            ask(&mut s, t, &[0x3E, 0x80], &f);
        }
        s.handle_timeout(ms(14000));
        assert_eq!(s.session(), 0xC0);
        // Silence for 5 s drops it.
        s.handle_timeout(ms(15000));
        assert_eq!(s.session(), 0x81);
        let events: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
        assert!(events.contains(&EcuEvent::SessionChanged {
            from: 0xC0,
            to: 0x81,
            reason: "S3 timeout: no request"
        }));
    }

    #[test]
    fn test_routine_runs_completes_sets_flag_and_clears_dtc() {
        let mut s = server(&[]);
        let mut flags = BTreeSet::new();
        assert_eq!(
            ask(&mut s, 0, &[0x18, 0x00, 0xFF, 0x00], &flags),
            [vec![0x58, 1, 0xD0, 0x00, 0x20]]
        );
        ask(&mut s, 0, &[0x10, 0xC0], &flags);
        assert_eq!(
            ask(&mut s, 10, &[0x21, 0x21], &flags),
            [vec![0x61, 0x21, 0xFF]]
        );
        assert_eq!(
            ask(&mut s, 20, &[0x31, 0x20], &flags),
            [vec![0x7F, 0x31, 0x12]]
        );
        assert_eq!(
            ask(&mut s, 20, &[0x31, 0x20, 10], &flags),
            [vec![0x7F, 0x31, 0x31]]
        );
        assert_eq!(
            ask(&mut s, 30, &[0x31, 0x20, 60], &flags),
            [vec![0x71, 0x20]]
        );
        assert_eq!(
            ask(&mut s, 40, &[0x31, 0x20, 60], &flags),
            [vec![0x7F, 0x31, 0x22]]
        );
        let mut t = 2000;
        while t < 60000 {
            assert_eq!(
                ask(&mut s, t, &[0x21, 0x21], &flags),
                [vec![0x61, 0x21, 0x00]]
            );
            t += 2000;
        }
        s.handle_timeout(ms(60030));
        let events: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
        assert!(events.contains(&EcuEvent::RoutineCompleted { id: 0x20 }));
        assert!(events.contains(&EcuEvent::FlagSet("registered".into())));
        flags.insert("registered".to_string());
        assert_eq!(
            ask(&mut s, 60100, &[0x21, 0x21], &flags),
            [vec![0x61, 0x21, 0x01]]
        );
        assert_eq!(
            ask(&mut s, 60200, &[0x33, 0x20], &flags),
            [vec![0x73, 0x20, 0x01]]
        );
        assert_eq!(ask(&mut s, 60300, &[0x18, 0x00], &flags), [vec![0x58, 0]]);
    }

    #[test]
    fn test_routine_aborts_when_the_session_times_out() {
        let mut s = server(&[]);
        let f = BTreeSet::new();
        ask(&mut s, 0, &[0x10, 0xC0], &f);
        ask(&mut s, 10, &[0x31, 0x20, 60], &f);
        s.handle_timeout(ms(6000));
        let events: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
        assert!(
            events
                .iter()
                .any(|e| matches!(e, EcuEvent::RoutineAborted { id: 0x20, .. })),
            "{events:?}"
        );
        assert_eq!(s.session(), 0x81);
    }

    #[test]
    fn test_pending_fault_precedes_responses_with_0x78() {
        let mut s = server(&["slow"]);
        let f = BTreeSet::new();
        s.handle_request(ms(0), &[0x10, 0xC0], &f);
        let mut seen = Vec::new();
        while let Some(at) = s.poll_timeout() {
            if s.out.is_empty() {
                break;
            }
            while let Some(r) = s.poll_response(at) {
                seen.push((at, r));
            }
        }
        assert_eq!(
            seen,
            [
                (ms(10), vec![0x7F, 0x10, 0x78]),
                (ms(510), vec![0x7F, 0x10, 0x78]),
                (ms(1010), vec![0x7F, 0x10, 0x78]),
                (ms(1510), vec![0x50, 0xC0]),
            ]
        );
    }

    #[test]
    fn test_regression_s3_runs_from_the_final_response_not_the_request() {
        // 20 x 0x78 at 300 ms: the final answer to `10 C0` comes 6 s after the request, longer
        // than S3 (5 s). The session must survive, and S3 start at the final response.
        let p = Profile::from_toml(
            &PROFILE.replace(
                "count = 3, interval_ms = 500",
                "count = 20, interval_ms = 300",
            ),
            "t",
        )
        .unwrap();
        let mut s = EcuServer::new(
            p.module("BCM").unwrap().clone(),
            &[p.fault("slow").unwrap()],
        );
        let f = BTreeSet::new();
        s.handle_request(ms(0), &[0x10, 0xC0], &f);
        let mut last = None;
        while let Some(at) = s.poll_timeout() {
            if s.out.is_empty() {
                break;
            }
            s.handle_timeout(at);
            while let Some(r) = s.poll_response(at) {
                last = Some((at, r));
            }
        }
        assert_eq!(last, Some((ms(6010), vec![0x50, 0xC0])));
        assert_eq!(
            s.session(),
            0xC0,
            "still in the session when the answer goes out"
        );
        s.handle_timeout(ms(11000));
        assert_eq!(s.session(), 0xC0, "S3 counts from 6.01 s");
        s.handle_timeout(ms(11010));
        assert_eq!(s.session(), 0x81);
    }

    #[test]
    fn test_negative_and_reset_faults() {
        let mut s = server(&["nrc", "reset"]);
        let f = BTreeSet::new();
        ask(&mut s, 0, &[0x10, 0xC0], &f);
        assert_eq!(
            ask(&mut s, 10, &[0x31, 0x20, 60], &f),
            [vec![0x7F, 0x31, 0x22]]
        );
        for t in (2000..=18000).step_by(2000) {
            ask(&mut s, t, &[0x3E, 0x80], &f);
        }
        assert_eq!(s.session(), 0xC0);
        s.handle_timeout(ms(20000));
        assert_eq!(s.session(), 0x81, "reset 20 s after entering the session");
    }

    #[test]
    fn test_write_local_id() {
        let mut s = server(&[]);
        let f = BTreeSet::new();
        ask(&mut s, 0, &[0x10, 0xC0], &f);
        assert_eq!(ask(&mut s, 10, &[0x3B, 0x40, 0x05], &f), [vec![0x7B, 0x40]]);
        assert_eq!(ask(&mut s, 20, &[0x21, 0x40], &f), [vec![0x61, 0x40, 0x05]]);
        assert_eq!(
            ask(&mut s, 30, &[0x3B, 0x83, 0x05], &f),
            [vec![0x7F, 0x3B, 0x22]]
        );
    }

    #[test]
    fn test_silent_fault_never_answers() {
        let p = Profile::from_toml(
            &format!("{PROFILE}\n[[fault]]\nname = \"quiet\"\nsilent = true\n"),
            "t",
        )
        .unwrap();
        let mut s = EcuServer::new(
            p.module("BCM").unwrap().clone(),
            &[p.fault("quiet").unwrap()],
        );
        s.handle_request(ms(0), &[0x10, 0xC0], &BTreeSet::new());
        assert_eq!(s.poll_timeout(), None);
        assert!(s.is_silent());
    }
}

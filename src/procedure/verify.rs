//! The `verify_node` check: is a DBC node on the bus, continuously, for a while?
//!
//! [`NodeCheck`] answers the runner's [`super::Action::WatchNode`]: the node counts as present
//! from its first frame after the check started until the [`Watcher`] declares it lost (no
//! frame of the node for `max(2 s, 10 x its fastest cycle)`, the U1000 rule); it must stay
//! present for `for_` before `within` has passed since the start. Pure: feed every frame with
//! [`NodeCheck::handle_frame`], call [`NodeCheck::handle_timeout`] at
//! [`NodeCheck::poll_timeout`], read [`NodeCheck::result`].

use core::time::Duration;

use crate::dbc::Database;
use crate::frame::Id;
use crate::time::Timestamp;
use crate::watch::{Event, Expectation, Subject, WatchConfig, Watcher};

/// Why a node cannot be checked.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VerifyError {
    #[error(
        "no periodic message in the DBC is sent by node {0} (a message needs a sender and GenMsgCycleTime)"
    )]
    NoMessages(String),
    #[error("watch: {0}")]
    Watch(#[from] crate::watch::WatchError),
}

/// One running node check.
#[derive(Debug, Clone)]
pub struct NodeCheck {
    node: String,
    for_: Duration,
    deadline: Timestamp,
    start: Timestamp,
    watcher: Watcher,
    since: Option<Timestamp>,
    losses: u32,
    frames: u64,
    result: Option<Result<(), String>>,
}

impl NodeCheck {
    /// Starts a check at `now` for `node`'s periodic messages in `db`.
    pub fn new(
        db: &Database,
        node: &str,
        for_: Duration,
        within: Duration,
        now: Timestamp,
    ) -> Result<NodeCheck, VerifyError> {
        let expectations: Vec<Expectation> = db
            .messages()
            .iter()
            .filter(|m| m.transmitter() == Some(node))
            .filter_map(|m| {
                Some(Expectation {
                    id: m.id(),
                    name: Some(m.name().to_string()),
                    node: node.to_string(),
                    cycle: Duration::from_millis(u64::from(m.cycle_time_ms().filter(|c| *c > 0)?)),
                })
            })
            .collect();
        if expectations.is_empty() {
            return Err(VerifyError::NoMessages(node.to_string()));
        }
        let config = WatchConfig {
            grace: Duration::ZERO,
            ..WatchConfig::default()
        };
        let mut watcher = Watcher::new(config, expectations)?;
        watcher.set_armed(now, true);
        Ok(NodeCheck {
            node: node.to_string(),
            for_,
            deadline: now + within,
            start: now,
            watcher,
            since: None,
            losses: 0,
            frames: 0,
            result: None,
        })
    }

    /// `Some(Ok)` once seen long enough, `Some(Err(why))` once the time is up.
    pub fn result(&self) -> Option<&Result<(), String>> {
        self.result.as_ref()
    }

    fn is_node_frame(&self, id: Id) -> bool {
        self.watcher.expectations().iter().any(|e| e.id == id)
    }

    fn drain(&mut self) {
        while let Some(ev) = self.watcher.poll_event() {
            match ev {
                Event::Lost {
                    subject: Subject::Node,
                    ..
                } if self.since.take().is_some() => self.losses += 1,
                Event::Restored {
                    subject: Subject::Node,
                    at,
                    ..
                } => {
                    self.since.get_or_insert(at);
                }
                _ => {}
            }
        }
    }

    fn settle(&mut self, now: Timestamp) {
        if self.result.is_some() {
            return;
        }
        if let Some(s) = self.since
            && now.saturating_duration_since(s) >= self.for_
        {
            self.result = Some(Ok(()));
            return;
        }
        if now >= self.deadline {
            let waited = self
                .deadline
                .saturating_duration_since(self.start)
                .as_secs_f64();
            self.result = Some(Err(match (self.frames, self.since) {
                (0, _) => format!("no frame of {} within {waited:.1} s", self.node),
                (_, Some(s)) => format!(
                    "{} present only since {:.1} s of the {waited:.1} s allowed (needs {:.1} s)",
                    self.node,
                    s.saturating_duration_since(self.start).as_secs_f64(),
                    self.for_.as_secs_f64()
                ),
                (n, None) => format!(
                    "{} seen ({n} frames) but lost {} time(s); not present for {:.1} s in a row within {waited:.1} s",
                    self.node,
                    self.losses,
                    self.for_.as_secs_f64()
                ),
            }));
        }
    }

    /// A frame with `id` at `now`.
    pub fn handle_frame(&mut self, now: Timestamp, id: Id) {
        if self.result.is_some() {
            return;
        }
        self.watcher.handle_frame(now, id);
        self.drain();
        if self.is_node_frame(id) {
            self.frames += 1;
            self.since.get_or_insert(now);
        }
        self.settle(now);
    }

    /// Time passed.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        if self.result.is_some() {
            return;
        }
        self.watcher.handle_timeout(now);
        self.drain();
        self.settle(now);
    }

    /// When to call [`NodeCheck::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        if self.result.is_some() {
            return None;
        }
        let mut t = self.deadline;
        if let Some(s) = self.since {
            t = t.min(s + self.for_);
        }
        if let Some(w) = self.watcher.poll_timeout() {
            t = t.min(w);
        }
        Some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DBC: &str = include_str!("../../dbc/nissan_qashqai_j11.dbc");

    fn ms(v: u64) -> Timestamp {
        Timestamp::from_nanos(v * 1_000_000)
    }

    fn check(start: u64) -> NodeCheck {
        let db = Database::from_str_named(DBC, "j11.dbc").unwrap();
        NodeCheck::new(
            &db,
            "AV",
            Duration::from_secs(10),
            Duration::from_secs(60),
            ms(start),
        )
        .unwrap()
    }

    /// Feeds AV_STATUS (0x35D) every 100 ms over `[from, to)`, with timeouts in between.
    fn feed(c: &mut NodeCheck, from: u64, to: u64) {
        let id = Id::standard(0x35D).unwrap();
        let mut t = from;
        while t < to && c.result().is_none() {
            while let Some(d) = c.poll_timeout().filter(|d| *d <= ms(t)) {
                c.handle_timeout(d);
            }
            c.handle_frame(ms(t), id);
            t += 100;
        }
    }

    #[test]
    fn seen_for_long_enough() {
        let mut c = check(0);
        feed(&mut c, 5_000, 30_000);
        assert_eq!(c.result(), Some(&Ok(())));
    }

    #[test]
    fn never_seen() {
        let mut c = check(0);
        let other = Id::standard(0x60D).unwrap();
        c.handle_frame(ms(1_000), other);
        c.handle_timeout(ms(60_000));
        assert_eq!(
            c.result(),
            Some(&Err("no frame of AV within 60.0 s".to_string()))
        );
    }

    #[test]
    fn a_dropout_restarts_the_count() {
        let mut c = check(0);
        feed(&mut c, 0, 8_000);
        // 3 s of silence (more than the 2 s node timeout), then back for good.
        feed(&mut c, 11_000, 20_000);
        assert_eq!(c.result(), None, "not yet 10 s since it came back");
        feed(&mut c, 20_000, 21_100);
        assert_eq!(c.result(), Some(&Ok(())));
        // Came back too late to make 10 s before the deadline.
        let mut c = check(0);
        feed(&mut c, 55_000, 61_000);
        c.handle_timeout(ms(61_000));
        let Some(Err(why)) = c.result() else {
            panic!("{:?}", c.result())
        };
        assert!(why.contains("present only since 55.0 s"), "{why}");
    }

    #[test]
    fn unknown_node_is_an_error() {
        let db = Database::from_str_named(DBC, "j11.dbc").unwrap();
        let e = NodeCheck::new(
            &db,
            "RADIO",
            Duration::from_secs(1),
            Duration::from_secs(2),
            ms(0),
        );
        assert!(matches!(e, Err(VerifyError::NoMessages(_))));
    }
}

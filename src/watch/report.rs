//! What a watch says to people: a text line per record, and the closing summary with its
//! judgement. Pure: the command line prints the text and turns the [`Judgement`] into its
//! exit status.
//!
//! Also what a watch is told to expect: the `ID:PERIOD_MS[:NODE]` form ([`ExpectSpec`]) and
//! the choice of messages from a DBC or a learnt baseline ([`select`]).

use core::fmt::Write as _;
use core::time::Duration;
use std::collections::BTreeSet;

use super::armed::{ArmedWatch, NodeVerdict, Verdict, WatchRecord};
use super::{ArmCondition, Expectation, WatchConfig, expectations_from_dbc};
use crate::baseline::Baseline;
use crate::dbc::Database;
use crate::frame::Id;
use crate::jsonl::Seconds;
use crate::time::Timestamp;

/// What the watch could conclude, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judgement {
    /// Something was lost during the watch.
    Lost,
    /// Nothing, or some node, could not be judged (never armed, or never seen before its
    /// first timeout).
    NotJudged,
    /// Every node was judged and nothing was lost.
    Ok,
}

/// The closing summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// For people: the span watched and a line per node (or why nothing was judged).
    pub text: String,
    pub judgement: Judgement,
    /// When the watch never armed: the record that says so (the last JSON Lines record).
    pub not_armed: Option<WatchRecord>,
}

/// `1700000000.000211`.
fn secs(t: Timestamp) -> String {
    Seconds(t).text()
}

impl ArmedWatch {
    /// A record as a line for people (without the newline); `None` for the records only the
    /// summary or a warning reports.
    pub fn text_line(&self, r: &WatchRecord) -> Option<String> {
        match r {
            WatchRecord::Lost {
                node,
                message,
                id,
                timestamp,
                last_seen,
            }
            | WatchRecord::Restored {
                node,
                message,
                id,
                timestamp,
                last_seen,
            } => {
                let lost = matches!(r, WatchRecord::Lost { .. });
                let at = timestamp.0;
                let what = match id {
                    Some(id) => format!(
                        "{node:<8} {} (0x{})",
                        message.as_deref().unwrap_or("(no name)"),
                        self.watcher()
                            .expectations()
                            .iter()
                            .find(|e| e.id.raw() == *id)
                            .map_or(format!("{id:X}"), |e| e.id.to_string())
                    ),
                    None => format!("{node:<8} node"),
                };
                let gap = |ls: &Seconds| at.saturating_duration_since(ls.0).as_secs_f64();
                let detail = match (lost, last_seen) {
                    (true, Some(ls)) => {
                        format!("no frame for {:.3} s, last at {}", gap(ls), ls.text())
                    }
                    (true, None) => "never seen since arming".to_string(),
                    (false, Some(ls)) => format!("back after a {:.3} s gap", gap(ls)),
                    (false, None) => "first frame".to_string(),
                };
                let kind = if lost { "LOST" } else { "RESTORED" };
                Some(format!("{}  {kind:<9} {what:<36} {detail}", secs(at)))
            }
            WatchRecord::Armed {
                condition,
                timestamp,
            } => Some(format!(
                "{}  {:<9} ({condition} holds)",
                timestamp.text(),
                "ARMED"
            )),
            WatchRecord::Disarmed {
                condition,
                timestamp,
            } => Some(format!(
                "{}  {:<9} ({condition} no longer holds)",
                timestamp.text(),
                "DISARMED"
            )),
            WatchRecord::ArmingMissing { .. } | WatchRecord::NotArmed { .. } => None,
        }
    }

    /// The closing summary after `frames` frames, of which `losses` losses were reported;
    /// `ways_out` is the advice given when the watch never armed.
    pub fn summary(&self, frames: u64, losses: u64, ways_out: &str) -> Summary {
        let (first, end) = self.span().unwrap_or((Timestamp::ZERO, Timestamp::ZERO));
        let span = match frames {
            0 => "no frames".to_string(),
            n => format!(
                "{} to {} ({:.3} s, {n} frames)",
                secs(first),
                secs(end),
                end.saturating_duration_since(first).as_secs_f64(),
            ),
        };
        let mut text = String::new();
        match self.verdict(end) {
            Verdict::NotArmed {
                condition,
                message,
                message_seen,
            } => {
                let _ = writeln!(
                    text,
                    "not armed: {condition} never held ({message} {}); nothing was judged. Ways out: {ways_out}",
                    match message_seen {
                        true => "was seen, but never with that value",
                        false => "was never seen",
                    }
                );
                let _ = writeln!(text, "Summary, {span}: nothing judged");
                Summary {
                    text,
                    judgement: Judgement::NotJudged,
                    not_armed: Some(WatchRecord::NotArmed {
                        condition,
                        message,
                        message_seen,
                        timestamp: Seconds(end),
                    }),
                }
            }
            Verdict::Judged(nodes) => {
                let _ = writeln!(text, "Summary, {span}:");
                let _ = writeln!(
                    text,
                    "  {:<10} {:>6} {:>12}  now",
                    "node", "losses", "downtime"
                );
                let mut not_judged = 0;
                for n in &nodes {
                    let state = match n.verdict {
                        NodeVerdict::Ok => "ok",
                        NodeVerdict::Lost if !n.seen => "LOST (never seen)",
                        NodeVerdict::Lost => "LOST",
                        NodeVerdict::NotJudged => {
                            not_judged += 1;
                            "not judged (not seen, and its first timeout had not passed)"
                        }
                    };
                    let _ = writeln!(
                        text,
                        "  {:<10} {:>6} {:>10.3} s  {state}",
                        n.name,
                        n.summary.losses,
                        n.summary.downtime.as_secs_f64()
                    );
                }
                let judgement = if losses > 0 {
                    Judgement::Lost
                } else if not_judged > 0 {
                    Judgement::NotJudged
                } else {
                    Judgement::Ok
                };
                Summary {
                    text,
                    judgement,
                    not_armed: None,
                }
            }
        }
    }
}

/// A message to expect, as given on the command line: `ID:PERIOD_MS[:NODE]` (hex id, 29-bit
/// when longer than 3 digits or above 7FF).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectSpec {
    pub id: Id,
    pub period: Duration,
    /// The sending node; when absent, the id names it.
    pub node: Option<String>,
}

/// Why an `ID:PERIOD_MS[:NODE]` text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpectSpecError {
    #[error("{0:?}: expected ID:PERIOD_MS[:NODE]")]
    Form(String),
    #[error("{0:?} is not a hex id")]
    NotHex(String),
    #[error("{0:?} is not a CAN id")]
    NotId(String),
    #[error("{0:?} is not a period in milliseconds")]
    Period(String),
}

impl ExpectSpec {
    pub fn parse(text: &str) -> Result<ExpectSpec, ExpectSpecError> {
        let mut parts = text.split(':');
        let (Some(id), Some(ms)) = (parts.next(), parts.next()) else {
            return Err(ExpectSpecError::Form(text.to_string()));
        };
        let node = parts.next().map(str::to_string);
        let raw = u32::from_str_radix(id.trim_start_matches("0x"), 16)
            .map_err(|_| ExpectSpecError::NotHex(id.to_string()))?;
        let id = Id::new(raw, id.len() > 3 || raw > 0x7FF)
            .ok_or_else(|| ExpectSpecError::NotId(id.to_string()))?;
        let ms: u64 = ms
            .parse()
            .ok()
            .filter(|&m| m > 0)
            .ok_or_else(|| ExpectSpecError::Period(ms.to_string()))?;
        Ok(ExpectSpec {
            id,
            period: Duration::from_millis(ms),
            node,
        })
    }
}

/// Why [`select`] found nothing to watch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    #[error("{from} is sent by node {node} (nodes that send: {known})")]
    UnknownNode {
        from: &'static str,
        node: String,
        known: String,
    },
    #[error("nothing to watch: no message with a sender and a cycle time (use --expect)")]
    Nothing,
}

/// The messages to watch: the DBC's periodic messages with a sender (or, with a baseline, the
/// periodic ids it learnt, named by the DBC where it can), only those of `nodes` when any are
/// named, with `expect` added or overriding the cycle of the same id.
pub fn select(
    db: &Database,
    baseline: Option<&Baseline>,
    nodes: &[String],
    expect: &[ExpectSpec],
) -> Result<Vec<Expectation>, SelectError> {
    let candidates = match baseline {
        Some(b) => b.expectations(Some(db)),
        None => expectations_from_dbc(db),
    };
    let known: BTreeSet<&str> = match baseline {
        Some(_) => candidates.iter().map(|e| e.node.as_str()).collect(),
        None => db
            .messages()
            .iter()
            .filter_map(|m| m.transmitter())
            .collect(),
    };
    for n in nodes {
        if !known.contains(n.as_str()) && !expect.iter().any(|e| e.node.as_deref() == Some(n)) {
            return Err(SelectError::UnknownNode {
                from: match baseline {
                    Some(_) => "no periodic id of the baseline",
                    None => "no message in the DBC",
                },
                node: n.clone(),
                known: known.iter().copied().collect::<Vec<_>>().join(", "),
            });
        }
    }
    let wanted = |node: &str| nodes.is_empty() || nodes.iter().any(|n| n == node);
    let mut list: Vec<Expectation> = candidates.into_iter().filter(|e| wanted(&e.node)).collect();
    for e in expect {
        let node = e.node.clone().unwrap_or_else(|| Baseline::node_of(e.id));
        if wanted(&node) || node.starts_with("id ") {
            list.retain(|x| x.id != e.id);
            list.push(Expectation {
                id: e.id,
                name: db.message_by_id(e.id).map(|m| m.name().to_string()),
                node,
                cycle: e.period,
            });
        }
    }
    match list.is_empty() {
        true => Err(SelectError::Nothing),
        false => Ok(list),
    }
}

/// What a watch is told to watch and when: the command line's options.
#[derive(Debug, Clone, Copy)]
pub struct Setup<'a> {
    /// Only these nodes (none: every node with a periodic message).
    pub nodes: &'a [String],
    /// Messages to expect beside (or instead of) the DBC's.
    pub expect: &'a [ExpectSpec],
    pub timeout_factor: f64,
    pub min_timeout: Duration,
    pub grace: Duration,
    /// The arming condition given (`--arm-on`), over the DBC's.
    pub arm_on: Option<&'a str>,
    /// Armed from the first frame, whatever the DBC says.
    pub always_armed: bool,
}

/// Why a watch could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("--timeout-factor must be a positive number")]
    TimeoutFactor,
    #[error("arming condition: {0}")]
    Arming(String),
    #[error(transparent)]
    Select(#[from] SelectError),
    #[error(transparent)]
    Watch(#[from] super::WatchError),
}

/// The armed watch `setup` describes over `db` (and the `baseline` learnt from a capture of
/// the healthy car, if any), with the notes that explain how it arms.
///
/// The arming condition is `arm_on`, else the DBC's (`CanrelearnWatchArm`); with a baseline,
/// the DBC's only when the baseline carried its message (else armed from the first frame,
/// said in a note).
pub fn build(
    setup: &Setup<'_>,
    db: &Database,
    baseline: Option<&Baseline>,
) -> Result<(ArmedWatch, Vec<String>), SetupError> {
    if !(setup.timeout_factor.is_finite() && setup.timeout_factor > 0.0) {
        return Err(SetupError::TimeoutFactor);
    }
    let mut notes = Vec::new();
    let arm_text = match setup.always_armed {
        true => None,
        false => setup
            .arm_on
            .map(str::to_string)
            .or_else(|| {
                let text = db.attribute(ArmCondition::ATTRIBUTE)?;
                let Some(b) = baseline else {
                    return Some(text.to_string());
                };
                // The DBC's condition only if this car sends its message.
                let id = ArmCondition::parse(db, text).ok()?.message_id(db)?;
                if b.get(id).is_some() {
                    return Some(text.to_string());
                }
                notes.push(format!(
                    "the DBC's arming condition {text} needs 0x{id}, which the baseline never carried: armed from the first frame instead (--arm-on ID arms while a frame sent only with the ignition ON arrives)"
                ));
                None
            })
            .filter(|t| !t.trim().is_empty()),
    };
    if baseline.is_some() && arm_text.is_none() && !setup.always_armed {
        notes.push(
            "armed from the first frame: with the ignition OFF every id reads as lost (--arm-on ID arms while a frame sent only with the ignition ON arrives)".to_string(),
        );
    }
    let arm = arm_text
        .map(|t| ArmCondition::parse(db, &t).map_err(SetupError::Arming))
        .transpose()?;
    let config = WatchConfig {
        timeout_factor: setup.timeout_factor,
        min_timeout: setup.min_timeout,
        grace: setup.grace,
        start_armed: arm.is_none(),
    };
    let expectations = select(db, baseline, setup.nodes, setup.expect)?;
    Ok((ArmedWatch::new(config, expectations, arm, db)?, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_expect_spec() {
        let e = ExpectSpec::parse("355:100:AV").unwrap();
        assert_eq!(e.id, Id::standard(0x355).unwrap());
        assert_eq!(e.period, Duration::from_millis(100));
        assert_eq!(e.node.as_deref(), Some("AV"));
        let e = ExpectSpec::parse("0x18DAF140:50").unwrap();
        assert!(e.id.is_extended());
        assert_eq!(e.node, None);
        assert!(ExpectSpec::parse("0x0001:20").unwrap().id.is_extended());
        for bad in ["355", "zz:100", "355:0", "355:-5", "355:ms"] {
            assert!(ExpectSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn test_build_arms_from_the_dbc_unless_told_otherwise() {
        let db =
            Database::from_str_named(include_str!("../../dbc/nissan_qashqai_j11.dbc"), "j11.dbc")
                .unwrap();
        let setup = Setup {
            nodes: &[],
            expect: &[],
            timeout_factor: 10.0,
            min_timeout: Duration::from_secs(2),
            grace: Duration::from_secs(2),
            arm_on: None,
            always_armed: false,
        };
        let (watch, notes) = build(&setup, &db, None).unwrap();
        assert!(notes.is_empty());
        assert_eq!(watch.condition(), db.attribute(ArmCondition::ATTRIBUTE));
        assert!(!watch.is_armed());
        let always = Setup {
            always_armed: true,
            ..setup
        };
        let (watch, _) = build(&always, &db, None).unwrap();
        assert_eq!(watch.condition(), None, "armed from the first frame");
        let bad = Setup {
            arm_on: Some("NO_SUCH.SIGNAL=1"),
            ..setup
        };
        assert!(matches!(build(&bad, &db, None), Err(SetupError::Arming(_))));
        let zero = Setup {
            timeout_factor: 0.0,
            ..setup
        };
        assert!(matches!(
            build(&zero, &db, None),
            Err(SetupError::TimeoutFactor)
        ));
    }

    #[test]
    fn test_select_from_expect_only() {
        let db = Database::empty();
        assert_eq!(select(&db, None, &[], &[]), Err(SelectError::Nothing));
        let spec = ExpectSpec::parse("355:100:AV").unwrap();
        let list = select(&db, None, &["AV".into()], std::slice::from_ref(&spec)).unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!((list[0].node.as_str(), list[0].cycle), ("AV", spec.period));
        let err = select(&db, None, &["BCM".into()], &[spec]).unwrap_err();
        assert!(matches!(err, SelectError::UnknownNode { ref node, .. } if node == "BCM"));
        assert!(
            err.to_string()
                .starts_with("no message in the DBC is sent by node BCM")
        );
    }
}

//! The consent policy: nothing reaches a real CAN bus without the operator's yes.
//!
//! Every command that can send (`run`, `replay`, `simulate`, `diag request|scan|dtc`, and
//! anything added later) decides once, with every interface it will send on and a sentence
//! saying what it will send, before it opens them: [`targets`] asks the kernel what each
//! interface is, [`decide`] applies the rules below. The command line supplies the terminal
//! (the `ask` function) and prints the note a `--yes` leaves.
//!
//! - An interface whose link kind the kernel reports as `vcan` or `vxcan` is virtual: no car
//!   can be behind it, nothing is asked ([`super::link`] explains why the kernel's link kind
//!   decides, and not `/sys/devices/virtual/net`, where slcan adapters also appear).
//! - On any other interface, `--yes` consents (with a note to record it); otherwise the
//!   operator is asked and must answer `y` or `yes`; with no terminal nothing is sent.
//! - A request that changes a module's state (session control, reset, clearing DTCs, writes,
//!   routine and IO control, security access, communication control) says so in the question
//!   ([`describe_request`]).
//! - Procedure steps whose bytes are placeholders (`[U]`) need more than `--yes` on a real
//!   interface: the word `yes` typed in full ([`answer_is_yes`] with `in_full`) unless the
//!   operator also allowed placeholder writes (see `canrelearn run`).

use std::io;

use super::BusError;
use super::link::{self, LinkError, LinkKind};
use crate::diag::{Dialect, codec, format_hex};

/// An interface a command will send on, and what the kernel says it is.
#[derive(Debug, Clone)]
pub struct Target {
    pub iface: String,
    pub kind: LinkKind,
}

/// Why nothing may be sent.
#[derive(Debug, thiserror::Error)]
pub enum ConsentError {
    /// The interface does not exist (what opening it would have said), found before anything
    /// was asked.
    #[error(transparent)]
    NotFound(BusError),
    /// Not a name an interface can have.
    #[error(transparent)]
    BadName(LinkError),
    /// A real interface, no `--yes`, and no terminal to ask on.
    #[error(
        "{what} on {real}: this is a real CAN interface (not vcan/vxcan) and there is no terminal to ask on; give --yes to send. Nothing was sent."
    )]
    NoTerminal { what: String, real: String },
    /// The operator did not answer yes.
    #[error("not confirmed: nothing was sent")]
    Refused,
    /// The answer could not be read.
    #[error("cannot read the answer: {0}")]
    Answer(#[source] io::Error),
}

/// How consent was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Consent {
    /// Every interface is virtual: nothing to ask.
    Virtual,
    /// `--yes` on a real interface: `note` says so, for the operator's record.
    Yes { note: String },
    /// The operator answered yes.
    Answered,
}

/// Asks the kernel what each interface is. A missing interface is the bus error opening it
/// would have given; an interface whose kind cannot be read counts as real.
pub fn targets(ifaces: &[&str]) -> Result<Vec<Target>, ConsentError> {
    let mut list = Vec::new();
    for &iface in ifaces {
        let kind = match link::query(iface) {
            Ok(k) => k,
            Err(LinkError::NotFound(_)) => {
                return Err(ConsentError::NotFound(BusError::InterfaceNotFound {
                    iface: iface.to_string(),
                }));
            }
            Err(e @ LinkError::BadName(_)) => return Err(ConsentError::BadName(e)),
            Err(e) => {
                // Unknown counts as real: ask.
                tracing::warn!("{e}; treating {iface} as a real CAN interface");
                LinkKind::Real(None)
            }
        };
        list.push(Target {
            iface: iface.to_string(),
            kind,
        });
    }
    Ok(list)
}

/// Whether every one of `targets` is virtual.
pub fn all_virtual(targets: &[Target]) -> bool {
    targets.iter().all(|t| t.kind.is_virtual())
}

/// The real ones among `targets`: `can0 (link kind can), slcan0 (link kind slcan)`.
pub fn describe(targets: &[Target]) -> String {
    targets
        .iter()
        .filter(|t| !t.kind.is_virtual())
        .map(|t| format!("{} (link kind {})", t.iface, t.kind.describe()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The consent for `what` (`Send the frames of capture.log`, `Send 11 01 (EcuReset...)`) on
/// `targets`: nothing to ask when all are virtual; `yes` consents; otherwise `ask` puts the
/// question to the operator (`None`: there is no terminal) and only `y` or `yes` consents.
pub fn decide(
    targets: &[Target],
    what: &str,
    yes: bool,
    ask: impl FnOnce(&str) -> Option<io::Result<String>>,
) -> Result<Consent, ConsentError> {
    if all_virtual(targets) {
        return Ok(Consent::Virtual);
    }
    let real = describe(targets);
    if yes {
        return Ok(Consent::Yes {
            note: format!("--yes: {what} on {real}, a real CAN interface, without asking"),
        });
    }
    let question = format!(
        "{what} on {real}?\nThis is a real CAN interface: on a car, frames can switch lights, locks or modules. Send? [y/N] "
    );
    match ask(&question) {
        None => Err(ConsentError::NoTerminal {
            what: what.to_string(),
            real,
        }),
        Some(answer) => match answer_is_yes(&answer.map_err(ConsentError::Answer)?, false) {
            true => Ok(Consent::Answered),
            false => Err(ConsentError::Refused),
        },
    }
}

/// Whether an answer consents: `y` or `yes` (any case); only `yes` in full when `in_full`.
pub fn answer_is_yes(answer: &str, in_full: bool) -> bool {
    let a = answer.trim().to_ascii_lowercase();
    a == "yes" || (!in_full && a == "y")
}

/// How a diagnostic request is described in a question: its bytes and service, and whether it
/// changes the module's state.
pub fn describe_request(dialect: Dialect, pdu: &[u8]) -> String {
    let hex = format_hex(pdu);
    let sid = pdu.first().copied().unwrap_or(0);
    let name = codec::service_name(dialect, sid).unwrap_or("unknown service");
    if codec::changes_state(dialect, pdu) {
        format!("`{hex}` ({name}: CHANGES THE MODULE'S STATE)")
    } else {
        format!("`{hex}` ({name})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_answers() {
        assert!(answer_is_yes("y\n", false));
        assert!(answer_is_yes(" YES \n", false));
        assert!(!answer_is_yes("", false));
        assert!(!answer_is_yes("yess", false));
        assert!(
            !answer_is_yes("y\n", true),
            "a placeholder write needs yes in full"
        );
        assert!(!answer_is_yes("Y", true));
        assert!(answer_is_yes("yes", true));
        assert!(answer_is_yes("Yes\n", true));
    }

    #[test]
    fn test_missing_interface_is_a_bus_error_before_any_question() {
        let e = targets(&["nosuchcan7"]).unwrap_err();
        assert!(matches!(e, ConsentError::NotFound(_)), "{e:?}");
        assert!(e.to_string().contains("not found"), "{e}");
    }

    fn real() -> Vec<Target> {
        vec![
            Target {
                iface: "vcan0".into(),
                kind: LinkKind::Virtual("vcan".into()),
            },
            Target {
                iface: "slcan0".into(),
                kind: LinkKind::Real(Some("slcan".into())),
            },
        ]
    }

    #[test]
    fn test_virtual_interfaces_need_no_consent() {
        let v = vec![Target {
            iface: "vcan0".into(),
            kind: LinkKind::Virtual("vcan".into()),
        }];
        assert_eq!(
            decide(&v, "send", false, |_| panic!("asked")).unwrap(),
            Consent::Virtual
        );
    }

    #[test]
    fn test_real_interface_without_terminal_or_yes_sends_nothing() {
        let e = decide(&real(), "send the frames", false, |_| None).unwrap_err();
        assert!(matches!(e, ConsentError::NoTerminal { .. }), "{e:?}");
        let text = e.to_string();
        assert!(text.contains("--yes") && text.contains("slcan0"), "{text}");
        assert!(
            !text.contains("vcan0"),
            "only the real one is named: {text}"
        );
        let given = decide(&real(), "send the frames", true, |_| panic!("asked")).unwrap();
        assert!(
            matches!(&given, Consent::Yes { note } if note.contains("slcan0") && note.starts_with("--yes: send the frames")),
            "{given:?}"
        );
    }

    #[test]
    fn test_real_interface_asks_and_only_yes_sends() {
        let mut asked = String::new();
        let r = decide(&real(), "send the frames of a.log", false, |q| {
            asked = q.to_string();
            Some(Ok("yes\n".into()))
        });
        assert_eq!(r.unwrap(), Consent::Answered);
        assert!(asked.contains("slcan0 (link kind slcan)"), "{asked}");
        for no in ["", "n", "no", "sure"] {
            let e = decide(&real(), "send", false, |_| Some(Ok(no.into()))).unwrap_err();
            assert!(matches!(e, ConsentError::Refused), "{no:?}");
        }
        let broken = decide(&real(), "send", false, |_| {
            Some(Err(io::Error::other("gone")))
        });
        assert!(matches!(broken, Err(ConsentError::Answer(_))));
    }

    #[test]
    fn test_loopback_counts_as_real() {
        let t = targets(&["lo"]).unwrap();
        assert!(!all_virtual(&t));
    }

    #[test]
    fn test_requests_that_change_state_say_so() {
        let d = describe_request(Dialect::Kwp2000, &[0x11, 0x01]);
        assert!(d.contains("CHANGES"), "{d}");
        let d = describe_request(Dialect::Kwp2000, &[0x21, 0x01]);
        assert!(!d.contains("CHANGES"), "{d}");
        let d = describe_request(Dialect::Kwp2000, &[0x14, 0xFF, 0x00]);
        assert!(d.contains("CHANGES"), "{d}");
    }
}

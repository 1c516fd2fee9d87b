//! The consent policy: nothing reaches a real CAN bus without the operator's yes.
//!
//! Every command that can send (`run`, `replay`, `simulate`, `diag request|scan|dtc`, and
//! anything added later) calls [`require`] once, with every interface it will send on and a
//! sentence saying what it will send, before it opens them:
//!
//! - An interface whose link kind the kernel reports as `vcan` or `vxcan` is virtual: no car
//!   can be behind it, nothing is asked ([`canrelearn::bus::link`] explains why the kernel's
//!   link kind decides, and not `/sys/devices/virtual/net`, where slcan adapters also appear).
//! - On any other interface, `--yes` consents (a note on stderr records it); otherwise the
//!   operator is asked at the terminal and must answer `y` or `yes`; with no terminal the
//!   command sends nothing and exits with [`exit::NOT_CONFIRMED`].
//! - A request that changes a module's state (session control, reset, clearing DTCs, writes,
//!   routine and IO control, security access, communication control) says so in the question.
//! - Procedure steps whose bytes are placeholders ([U]) need more than `--yes` on a real
//!   interface: the `run` command asks for the word `yes` typed in full unless
//!   `--allow-placeholder-writes` is given too (see `run`).

use std::io::{self, BufRead, IsTerminal};

use anyhow::anyhow;
use canrelearn::bus::link::{self, LinkError, LinkKind};

use super::{CliError, exit, out};

/// An interface a command will send on, and what the kernel says it is.
#[derive(Debug, Clone)]
pub struct Target {
    pub iface: String,
    pub kind: LinkKind,
}

/// Asks the kernel what each interface is. A missing interface is the bus error (exit 4) the
/// open would have given, before anything is asked.
pub fn targets(ifaces: &[&str]) -> Result<Vec<Target>, CliError> {
    let mut list = Vec::new();
    for &iface in ifaces {
        let kind = match link::query(iface) {
            Ok(k) => k,
            Err(LinkError::NotFound(_)) => {
                return Err(CliError::new(
                    exit::BUS_IO,
                    canrelearn::bus::BusError::InterfaceNotFound {
                        iface: iface.to_string(),
                    },
                ));
            }
            Err(e @ LinkError::BadName(_)) => return Err(CliError::new(exit::USAGE, e)),
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

/// `can0 (link kind can), slcan0 (link kind slcan)`.
pub fn describe(targets: &[Target]) -> String {
    targets
        .iter()
        .filter(|t| !t.kind.is_virtual())
        .map(|t| format!("{} (link kind {})", t.iface, t.kind.describe()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The consent for `what` (`send the frames of capture.log`, `send 11 01 (EcuReset...)`) on
/// `ifaces`: nothing to ask when all are virtual; `yes` consents; otherwise a `y`/`yes` at
/// the terminal. Refusal (or no terminal) is [`exit::NOT_CONFIRMED`]; nothing has been sent.
pub fn require(ifaces: &[&str], what: &str, yes: bool) -> Result<Vec<Target>, CliError> {
    let targets = targets(ifaces)?;
    decide(&targets, what, yes, terminal)?;
    Ok(targets)
}

/// Asks `question` at the terminal; `None` when standard input is not one.
pub fn terminal(question: &str) -> Option<Result<String, CliError>> {
    if !io::stdin().is_terminal() {
        return None;
    }
    out::prompt(question);
    Some(read_answer())
}

/// The decision of [`require`] for known targets, with `ask` standing for the terminal
/// (`None`: there is none).
pub fn decide(
    targets: &[Target],
    what: &str,
    yes: bool,
    ask: impl FnOnce(&str) -> Option<Result<String, CliError>>,
) -> Result<(), CliError> {
    if all_virtual(targets) {
        return Ok(());
    }
    let real = describe(targets);
    if yes {
        out::note(format!(
            "--yes: {what} on {real}, a real CAN interface, without asking"
        ));
        return Ok(());
    }
    let question = format!(
        "{what} on {real}?\nThis is a real CAN interface: on a car, frames can switch lights, locks or modules. Send? [y/N] "
    );
    match ask(&question) {
        None => Err(CliError::new(
            exit::NOT_CONFIRMED,
            anyhow!(
                "{what} on {real}: this is a real CAN interface (not vcan/vxcan) and there is no terminal to ask on; give --yes to send. Nothing was sent."
            ),
        )),
        Some(answer) => {
            if answer_is_yes(&answer?, false) {
                Ok(())
            } else {
                Err(CliError::new(
                    exit::NOT_CONFIRMED,
                    anyhow!("not confirmed: nothing was sent"),
                ))
            }
        }
    }
}

/// One line from the terminal (empty at end of input).
pub fn read_answer() -> Result<String, CliError> {
    let mut line = String::new();
    io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::new(exit::NOT_CONFIRMED, anyhow!("cannot read the answer: {e}")))?;
    Ok(line)
}

/// Whether an answer consents: `y` or `yes` (any case); only `yes` in full when `in_full`.
pub fn answer_is_yes(answer: &str, in_full: bool) -> bool {
    let a = answer.trim().to_ascii_lowercase();
    a == "yes" || (!in_full && a == "y")
}

/// How a diagnostic request is described in a question: its bytes and service, and whether it
/// changes the module's state.
pub fn describe_request(dialect: canrelearn::diag::Dialect, pdu: &[u8]) -> String {
    let hex = canrelearn::diag::format_hex(pdu);
    let sid = pdu.first().copied().unwrap_or(0);
    let name = canrelearn::diag::codec::service_name(dialect, sid).unwrap_or("unknown service");
    if canrelearn::diag::codec::changes_state(dialect, pdu) {
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
        let e = require(&["nosuchcan7"], "send", false).unwrap_err();
        assert_eq!(e.code, exit::BUS_IO);
        assert!(e.error.to_string().contains("not found"), "{:#}", e.error);
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
        assert!(decide(&v, "send", false, |_| panic!("asked")).is_ok());
    }

    #[test]
    fn test_real_interface_without_terminal_or_yes_sends_nothing() {
        let e = decide(&real(), "send the frames", false, |_| None).unwrap_err();
        assert_eq!(e.code, exit::NOT_CONFIRMED);
        let text = e.error.to_string();
        assert!(text.contains("--yes") && text.contains("slcan0"), "{text}");
        assert!(
            !text.contains("vcan0"),
            "only the real one is named: {text}"
        );
        assert!(decide(&real(), "send the frames", true, |_| panic!("asked")).is_ok());
    }

    #[test]
    fn test_real_interface_asks_and_only_yes_sends() {
        let mut asked = String::new();
        let r = decide(&real(), "send the frames of a.log", false, |q| {
            asked = q.to_string();
            Some(Ok("yes\n".into()))
        });
        assert!(r.is_ok());
        assert!(asked.contains("slcan0 (link kind slcan)"), "{asked}");
        for no in ["", "n", "no", "sure"] {
            let e = decide(&real(), "send", false, |_| Some(Ok(no.into()))).unwrap_err();
            assert_eq!(e.code, exit::NOT_CONFIRMED, "{no:?}");
        }
    }

    #[test]
    fn test_loopback_counts_as_real() {
        let t = targets(&["lo"]).unwrap();
        assert!(!all_virtual(&t));
    }

    #[test]
    fn test_requests_that_change_state_say_so() {
        use canrelearn::diag::Dialect;
        let d = describe_request(Dialect::Kwp2000, &[0x11, 0x01]);
        assert!(d.contains("CHANGES"), "{d}");
        let d = describe_request(Dialect::Kwp2000, &[0x21, 0x01]);
        assert!(!d.contains("CHANGES"), "{d}");
        let d = describe_request(Dialect::Kwp2000, &[0x14, 0xFF, 0x00]);
        assert!(d.contains("CHANGES"), "{d}");
    }
}

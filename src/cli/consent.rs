//! The consent policy at the terminal: [`canrelearn::bus::consent`] decides; this asks the
//! operator, prints the note a `--yes` leaves, and gives each refusal its exit status.
//!
//! Every command that can send calls [`require`] once (or `run`, [`targets`] then
//! [`decide`]), with every interface it will send on, before it opens them. A missing
//! interface is exit 4 ([`exit::BUS_IO`]) before anything is asked; a refusal, or a real
//! interface with no terminal and no `--yes`, is [`exit::NOT_CONFIRMED`]: nothing was sent.

use std::io::{self, BufRead, IsTerminal};

use canrelearn::bus::consent::{self, Consent, ConsentError};
pub use canrelearn::bus::consent::{Target, all_virtual};

use super::{CliError, exit, out};

fn refused(e: ConsentError) -> CliError {
    let code = match e {
        ConsentError::NotFound(_) => exit::BUS_IO,
        ConsentError::BadName(_) => exit::USAGE,
        ConsentError::NoTerminal { .. } | ConsentError::Refused | ConsentError::Answer(_) => {
            exit::NOT_CONFIRMED
        }
    };
    CliError::new(code, e)
}

/// Asks the kernel what each interface is (see [`consent::targets`]).
pub fn targets(ifaces: &[&str]) -> Result<Vec<Target>, CliError> {
    consent::targets(ifaces).map_err(refused)
}

/// The consent for `what` on `ifaces`, asked at the terminal when one is needed.
pub fn require(ifaces: &[&str], what: &str, yes: bool) -> Result<Vec<Target>, CliError> {
    let targets = targets(ifaces)?;
    decide(&targets, what, yes, terminal)?;
    Ok(targets)
}

/// Asks `question` at the terminal; `None` when standard input is not one.
pub fn terminal(question: &str) -> Option<io::Result<String>> {
    if !io::stdin().is_terminal() {
        return None;
    }
    out::prompt(question);
    let mut line = String::new();
    Some(io::stdin().lock().read_line(&mut line).map(|_| line))
}

/// [`consent::decide`], with the `--yes` note on stderr.
pub fn decide(
    targets: &[Target],
    what: &str,
    yes: bool,
    ask: impl FnOnce(&str) -> Option<io::Result<String>>,
) -> Result<(), CliError> {
    match consent::decide(targets, what, yes, ask).map_err(refused)? {
        Consent::Yes { note } => out::note(note),
        Consent::Virtual | Consent::Answered => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_each_refusal_has_its_exit_status() {
        let e = require(&["nosuchcan7"], "send", false).unwrap_err();
        assert_eq!(e.code, exit::BUS_IO);
        assert!(e.error.to_string().contains("not found"), "{:#}", e.error);
        let real = targets(&["lo"]).unwrap();
        let e = decide(&real, "send", false, |_| None).unwrap_err();
        assert_eq!(e.code, exit::NOT_CONFIRMED);
        let e = decide(&real, "send", false, |_| Some(Ok("no\n".into()))).unwrap_err();
        assert_eq!(e.code, exit::NOT_CONFIRMED);
        assert!(decide(&real, "send", true, |_| panic!("asked")).is_ok());
    }
}

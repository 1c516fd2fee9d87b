//! `canrelearn demo`: the whole story on a simulated J11, in-process, with no hardware.
//!
//! The story and its text are [`canrelearn::sim::story::demo`]'s; this file loads the bundled
//! DBC and profile, gives it standard output and turns its end into an exit code.

use std::io;

use canrelearn::sim::story::{self, DemoError};

use super::{CliError, exit, input};

/// Rehearse the whole story on a simulated Nissan Qashqai J11, in-process: no CAN hardware,
/// no kernel support, nothing sent anywhere.
///
/// 1. The car after a 12 V disconnection: the head unit (AV) sends nothing, and the watcher
///    reports it lost. 2. The bundled audio unit registration runs against the simulated BCM
///    (session, keep-alive, routine, polling for minutes, verification that the AV unit is back),
///    with the operator's confirmations answered yes. 3. The bundled BMS battery registration
///    on the IPDM E/R. Virtual time runs as fast as the computer can go; the times shown are
///    the car's. The bytes are the bundled scripts' documented hypotheses, not the dealer's.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print every frame-level exchange, not only the steps.
    #[arg(long)]
    pub verbose_transcript: bool,
}

pub fn run(args: Args) -> Result<u8, CliError> {
    let db = input::load_dbcs(&[])?;
    let profile = input::bundled_profile()?;
    let mut out = io::stdout().lock();
    match story::demo(&db, &profile, args.verbose_transcript, &mut out) {
        Ok(true) => Ok(exit::OK),
        Ok(false) => Ok(exit::FAILURE),
        Err(DemoError::Io(e)) => Err(e.into()),
        // A bundled script that does not load, or parameters it refuses: an input error.
        Err(e @ (DemoError::Script(_) | DemoError::Runner(_))) => {
            Err(CliError::new(exit::USAGE, e))
        }
        Err(e) => Err(CliError::new(exit::FAILURE, e)),
    }
}

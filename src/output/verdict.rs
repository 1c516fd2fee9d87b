//! The end of a decode run that printed nothing worth having, said out loud.
//!
//! "0 frames, exit 0" is never an answer: captures with no CAN frame, and frames of which none
//! has the id of a message of the DBC (the wrong DBC for the capture, far more often than a
//! capture worth decoding), end the run with an [`Empty`] whatever the output format.

use std::path::PathBuf;

/// Why a decode run has nothing to show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Empty {
    /// The captures held no CAN frame.
    #[error("no CAN frame in {inputs}{}", match bad {
        0 => String::new(),
        1 => ": its only record is malformed (reported above)".to_string(),
        n => format!(": all {n} records are malformed (reported above)"),
    })]
    NoFrame {
        /// The captures, for people: `a.log`, `a.log and b.log`, `3 logs`.
        inputs: String,
        /// Malformed records met.
        bad: u64,
    },
    /// Frames, and every one of them printed undecoded: none has the id of a message of the
    /// DBC.
    #[error(
        "no frame was decoded: none of the {frames} frame{} has the id of a message in {dbc} \
         (give this bus's DBC with --dbc)",
        if *frames == 1 { "" } else { "s" }
    )]
    NothingDecoded {
        /// Frames read.
        frames: u64,
        /// The DBC files, for people.
        dbc: String,
    },
}

/// The verdict of a run over the captures named `logs` (as messages name them) with the DBC
/// files `dbc` (none: the bundled one) that read `frames` frames, `known` of them with a DBC
/// message's id, and `bad` malformed records; `None` when something was decoded.
pub fn verdict(
    logs: &[impl AsRef<str>],
    dbc: &[PathBuf],
    frames: u64,
    known: u64,
    bad: u64,
) -> Option<Empty> {
    if frames == 0 {
        return Some(Empty::NoFrame {
            inputs: names(logs),
            bad,
        });
    }
    if known > 0 {
        return None;
    }
    let dbc = match dbc {
        [] => "the bundled Nissan Qashqai J11 DBC".to_string(),
        [one] => one.display().to_string(),
        many => format!("any of the {} DBC files", many.len()),
    };
    Some(Empty::NothingDecoded { frames, dbc })
}

/// The inputs, for a message: `a.log`, `a.log and b.log`, `3 logs`.
fn names(logs: &[impl AsRef<str>]) -> String {
    match logs {
        [one] => one.as_ref().to_string(),
        [a, b] => format!("{} and {}", a.as_ref(), b.as_ref()),
        many => format!("{} logs", many.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_the_verdicts() {
        let logs = |n: &[&str]| n.iter().map(PathBuf::from).collect::<Vec<_>>();
        assert_eq!(verdict(&["a.log"], &[], 10, 1, 0), None);
        assert_eq!(
            verdict(&["x.log"], &[], 0, 0, 2).unwrap().to_string(),
            "no CAN frame in x.log: all 2 records are malformed (reported above)"
        );
        assert_eq!(
            verdict(&["a.log", "b.log"], &[], 0, 0, 1)
                .unwrap()
                .to_string(),
            "no CAN frame in a.log and b.log: its only record is malformed (reported above)"
        );
        assert_eq!(
            verdict(&["a", "b", "c"], &[], 0, 0, 0).unwrap().to_string(),
            "no CAN frame in 3 logs"
        );
        assert_eq!(
            verdict(&["a.log"], &[], 1, 0, 0).unwrap().to_string(),
            "no frame was decoded: none of the 1 frame has the id of a message in the bundled \
             Nissan Qashqai J11 DBC (give this bus's DBC with --dbc)"
        );
        assert_eq!(
            verdict(&["a.log"], &logs(&["x.dbc", "y.dbc"]), 5, 0, 0)
                .unwrap()
                .to_string(),
            "no frame was decoded: none of the 5 frames has the id of a message in any of the 2 \
             DBC files (give this bus's DBC with --dbc)"
        );
    }
}

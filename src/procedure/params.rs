//! Parameter values given as text, `NAME=VALUE` (the command line's `--set capacity_ah=70`),
//! gathered into the map [`super::runner::Runner::new`] takes.
//!
//! Only the syntax is checked here: names and values are trimmed, a later value of a name
//! replaces an earlier one, and the runner judges both against the script's parameters.

use std::collections::BTreeMap;

/// A text that is not `NAME=VALUE`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("takes NAME=VALUE, not `{0}`")]
pub struct AssignmentError(pub String);

/// The values of `assignments` (`NAME=VALUE` each) by name.
pub fn parse_assignments<'a>(
    assignments: impl IntoIterator<Item = &'a str>,
) -> Result<BTreeMap<String, String>, AssignmentError> {
    let mut values = BTreeMap::new();
    for s in assignments {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| AssignmentError(s.to_string()))?;
        values.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_assignments_are_trimmed_and_the_last_one_wins() {
        let values =
            parse_assignments([" capacity_ah = 70 ", "battery_type=agm", "capacity_ah=80=x"])
                .unwrap();
        assert_eq!(values["capacity_ah"], "80=x");
        assert_eq!(values["battery_type"], "agm");
        let e = parse_assignments(["capacity_ah"]).unwrap_err();
        assert_eq!(e.to_string(), "takes NAME=VALUE, not `capacity_ah`");
    }
}

//! The review `canrelearn script check` prints: modules, parameters, preconditions and every
//! step with its bytes, provenance (and how many placeholder bytes it sends) and whether it
//! writes.
//!
//! People-facing, so it must never panic on what a script holds: ids and requests of any
//! length are padded by hand (Rust's `{:width$}` panics past 65535).

use core::fmt::Write as _;

use super::script::{Check, ParamKind, Provenance, Script, Step, StepKind};
use crate::diag::hex::format_hex;

/// `text` padded with spaces to `width` characters.
fn padded(text: &str, width: usize) -> String {
    let mut s = text.to_string();
    for _ in text.chars().count()..width {
        s.push(' ');
    }
    s
}

/// How many bytes a step sends that are not verified: every byte of its request when the
/// step is a placeholder (parameters included), 0 for verified steps and steps that send
/// nothing of their own.
pub fn placeholder_bytes(step: &Step) -> usize {
    if step.provenance != Provenance::Placeholder {
        return 0;
    }
    match &step.kind {
        StepKind::Request { request, .. }
        | StepKind::Read { request, .. }
        | StepKind::Poll { request, .. } => request.0.len(),
        StepKind::Session { .. } => 2,
        _ => 0,
    }
}

/// The review of `script`, loaded from `name`.
pub fn review(script: &Script, name: &str) -> String {
    let mut o = String::new();
    let p = &script.procedure;
    let _ = writeln!(o, "{name}: procedure {:?}", p.name);
    if !p.vehicle.is_empty() {
        let _ = writeln!(o, "  vehicle: {}", p.vehicle);
    }
    if !p.provenance.is_empty() {
        let _ = writeln!(o, "  provenance: {}", p.provenance);
    }
    let _ = writeln!(o, "modules:");
    for m in script.modules.values() {
        let _ = writeln!(
            o,
            "  {} {} -> {}  {}  padding {}  default session {:02X}  keep-alive {}  P2 {} ms  P2* {} ms",
            padded(&m.name, 10),
            m.request_id,
            m.response_id,
            m.dialect,
            m.padding.map_or("none".to_string(), |b| format!("{b:02X}")),
            m.default_session,
            match &m.keep_alive {
                Some(k) => format!(
                    "{} every {} ms",
                    format_hex(k),
                    m.keep_alive_period.as_millis()
                ),
                None => "none".to_string(),
            },
            m.p2.as_millis(),
            m.p2_star.as_millis()
        );
    }
    review_parameters(&mut o, script);
    review_preconditions(&mut o, script);
    review_steps(&mut o, script);
    let c = &script.cleanup;
    let _ = writeln!(
        o,
        "cleanup: {}, {}",
        if c.close_sessions {
            "close open sessions"
        } else {
            "sessions left open"
        },
        if c.keep_alive_off {
            "keep-alive off"
        } else {
            "keep-alive left on"
        }
    );
    let placeholders = script
        .steps
        .iter()
        .filter(|s| s.provenance == Provenance::Placeholder)
        .count();
    let writes = script.steps.iter().filter(|s| s.writes()).count();
    let _ = writeln!(
        o,
        "ok: {} steps, {writes} write{} (confirmed before sending), {placeholders} placeholder{}",
        script.steps.len(),
        if writes == 1 { "" } else { "s" },
        if placeholders == 1 { "" } else { "s" }
    );
    o
}

/// The parameters, each with its range or choices.
fn review_parameters(o: &mut String, script: &Script) {
    if !script.parameters.is_empty() {
        let _ = writeln!(o, "parameters:");
        for prm in script.parameters.values() {
            let kind = match &prm.kind {
                ParamKind::Integer { min, max, unit } => {
                    format!(
                        "integer {min} to {max}{}",
                        if unit.is_empty() {
                            String::new()
                        } else {
                            format!(" {unit}")
                        }
                    )
                }
                ParamKind::Choice(c) => format!(
                    "choice {}",
                    c.iter()
                        .map(|(n, v)| format!("{n}={v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            let _ = writeln!(o, "  {} {kind}", padded(&prm.name, 16));
        }
    }
}

/// The preconditions: what each checks, for the whole run or at the start.
fn review_preconditions(o: &mut String, script: &Script) {
    if !script.preconditions.is_empty() {
        let _ = writeln!(o, "preconditions:");
        for pre in &script.preconditions {
            let what = match &pre.check {
                Check::Signal { .. } => "signal",
                Check::NoDtc { .. } => "no DTC",
                Check::Confirm(_) => "confirm",
            };
            let _ = writeln!(
                o,
                "  {} {} {}{}  [{}]",
                padded(&pre.id, 20),
                padded(what, 8),
                pre.title,
                if pre.during { " (whole run)" } else { "" },
                pre.provenance
            );
        }
    }
}

/// One line per step: id, kind, what it sends, provenance, unverified bytes, writes.
fn review_steps(o: &mut String, script: &Script) {
    let _ = writeln!(o, "steps:");
    let rows: Vec<(String, String)> = script
        .steps
        .iter()
        .map(|s| {
            let what = match &s.kind {
                StepKind::Session { module, session } => format!("{module} 10 {session:02X}"),
                StepKind::CloseSession { module } => format!(
                    "{module} 10 {:02X}",
                    script.modules.get(module).map_or(0, |m| m.default_session)
                ),
                StepKind::Request {
                    module, request, ..
                }
                | StepKind::Read {
                    module, request, ..
                }
                | StepKind::Poll {
                    module, request, ..
                } => format!("{module} {request}"),
                StepKind::Wait { duration, .. } => format!("{} ms", duration.as_millis()),
                StepKind::Prompt { .. } => String::new(),
                StepKind::VerifyNode { node, .. } => format!("node {node}"),
            };
            (s.id.clone(), what)
        })
        .collect();
    let id_w = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
    let what_w = rows.iter().map(|r| r.1.chars().count()).max().unwrap_or(0);
    for (i, (s, (id, what))) in script.steps.iter().zip(&rows).enumerate() {
        let unverified = match s.provenance {
            Provenance::Placeholder if placeholder_bytes(s) > 0 => {
                format!(
                    " ({} byte{} [U])",
                    placeholder_bytes(s),
                    if placeholder_bytes(s) == 1 { "" } else { "s" }
                )
            }
            _ => String::new(),
        };
        let _ = writeln!(
            o,
            "  {:>2}. {}  {} {}  {}{}{}  (line {})",
            i + 1,
            padded(id, id_w),
            padded(s.kind_name(), 13),
            padded(what, what_w),
            s.provenance,
            unverified,
            if s.writes() { "  WRITES" } else { "" },
            s.line
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a long step id or a 22 KB request made `script check` panic (exit 101).
    #[test]
    fn test_long_ids_and_requests_render() {
        let long_id = "s".repeat(70_000);
        let request = vec!["AA"; 11_000].join(" ");
        let text = format!(
            "[procedure]\nname = \"t\"\n[modules.M]\nrequest_id = 0x745\nresponse_id = 0x765\n\
             [[step]]\nid = \"{long_id}\"\ntitle = \"t\"\nkind = \"request\"\nmodule = \"M\"\n\
             request = \"{request}\"\nexpect = \"..\"\nprovenance = \"placeholder\"\n"
        );
        let script = Script::from_toml(&text, "t.toml").unwrap();
        let r = review(&script, "t.toml");
        assert!(r.contains(&long_id));
        assert!(
            r.contains("(11000 bytes [U])"),
            "{}",
            &r[r.len().saturating_sub(300)..]
        );
    }
}

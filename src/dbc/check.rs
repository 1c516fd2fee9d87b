//! `dbc check`: everything wrong or suspicious in a DBC, as a list of diagnostics.
//!
//! [`check`] parses and compiles like [`Database::from_bytes`] but collects every load
//! problem instead of stopping at the first, then lints what compiled: overlapping signals
//! (signals in different branches of the same multiplexor may share bits; a multiplexor
//! overlaps nothing that can be present with it), signals past the message size, duplicate
//! ids and signal names, multiplexed signals without a usable multiplexor, missing cycle
//! times (warning), `VAL_`/`SG_MUL_VAL_`/`SIG_VALTYPE_` on unknown signals (warning) and
//! `[min|max]` that the raw range cannot reach (warning). Positions come from a scan of the
//! text (can-dbc keeps none), so a diagnostic may lack a line when the scan cannot find it.

use core::fmt;
use std::collections::HashMap;

use can_dbc as ast;

use super::model::{self, Database, Message, Parent, Signal, ValueType};
use super::source::SourceMap;
use super::{DbcError, Location, MuxRange, Problem};

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Suspicious but decodable.
    Warning,
    /// Wrong: the file does not load, or decodes something meaningless.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One finding of [`check`].
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Where (source name, and line/column when found).
    pub location: Location,
    /// What.
    pub problem: Problem,
}

/// `file:line:col: error: ...`
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.location, self.severity, self.problem)
    }
}

/// Checks DBC bytes (UTF-8 or Windows-1252). A syntax error gives a single error diagnostic.
/// Diagnostics come in file order where positions are known.
pub fn check(bytes: &[u8], source_name: &str) -> Vec<Diagnostic> {
    let text = model::decode_text(bytes);
    let (dbc, map) = match model::parse(&text, source_name) {
        Ok(x) => x,
        Err(DbcError::Parse { location, cause }) => {
            return vec![Diagnostic {
                severity: Severity::Error,
                location,
                problem: Problem::Syntax { cause },
            }];
        }
        Err(_) => return Vec::new(),
    };
    let mut problems = Vec::new();
    let db = model::compile(&dbc, &map, source_name, &mut problems);
    let mut out: Vec<Diagnostic> = problems
        .into_iter()
        .map(|(location, problem)| Diagnostic {
            severity: Severity::Error,
            location,
            problem,
        })
        .collect();
    out.extend(check_database(&db));
    out.extend(check_references(&dbc, &map, source_name));
    out.sort_by_key(|d| (d.location.line.unwrap_or(u32::MAX), d.location.column));
    out
}

/// What a command that decodes with `db` says of its layout errors (overlapping signals,
/// signals past the message's end...): each of the first `shown`, then what it means for the
/// decoding. Nothing when the layout is sound.
pub fn layout_warnings(db: &Database, shown: usize) -> Vec<String> {
    let errors: Vec<Diagnostic> = check_database(db)
        .into_iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    let mut out: Vec<String> = errors.iter().take(shown).map(|d| d.to_string()).collect();
    if !errors.is_empty() {
        out.push(format!(
            "the DBC has {} layout error{}{}: frames of those messages decode as written, \
             partial decodes are marked; `canrelearn dbc check` lists everything",
            errors.len(),
            if errors.len() == 1 { "" } else { "s" },
            if errors.len() > shown {
                format!(" (the first {shown} are shown above)")
            } else {
                String::new()
            }
        ));
    }
    out
}

/// Lints an already loaded database (no syntax or reference checks: those need the text).
pub fn check_database(db: &Database) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for m in db.messages() {
        let source = db.sources().get(m.source()).map_or("", String::as_str);
        check_message(m, source, &mut out);
    }
    out
}

fn diag(
    out: &mut Vec<Diagnostic>,
    severity: Severity,
    source: &str,
    pos: Option<(u32, u32)>,
    problem: Problem,
) {
    out.push(Diagnostic {
        severity,
        location: Location::new(source, pos),
        problem,
    });
}

/// The multiplexing tree of a message, for "can these two signals be present together?" in
/// O(log n): two signals are exclusive exactly when, at the multiplexor where their chains
/// meet (their lowest common ancestor), they hang under value ranges that do not intersect
/// (above it their chains are the same, so every shared condition agrees there).
struct MuxTree<'a> {
    /// `up[k][v]`: the 2^k-th ancestor of node v; node `n` is the root (plain signals).
    up: Vec<Vec<u32>>,
    depth: Vec<u32>,
    /// The value ranges under which a signal hangs from its parent multiplexor.
    ranges: Vec<&'a [MuxRange]>,
}

impl<'a> MuxTree<'a> {
    fn new(m: &'a Message) -> MuxTree<'a> {
        let n = m.signals.len();
        let root = n as u32;
        let parent: Vec<u32> = m
            .signals
            .iter()
            .map(|s| match &s.parent {
                // Only reachable signals are compared; their chains end at the root.
                Parent::Switch { signal, .. } if s.is_reachable() && (*signal as usize) < n => {
                    *signal
                }
                _ => root,
            })
            .chain(std::iter::once(root))
            .collect();
        let ranges = m
            .signals
            .iter()
            .map(|s| match &s.parent {
                Parent::Switch { values, .. } => values.as_slice(),
                _ => &[][..],
            })
            .collect();
        // Depths, iteratively (a chain can be thousands deep): resolve up the parent links.
        let mut depth = vec![u32::MAX; n + 1];
        if let Some(d) = depth.get_mut(n) {
            *d = 0;
        }
        let mut stack = Vec::new();
        for v in 0..n {
            let mut cur = v;
            while depth.get(cur).copied() == Some(u32::MAX) && stack.len() <= n {
                stack.push(cur);
                cur = parent.get(cur).copied().unwrap_or(root) as usize;
            }
            let mut d = depth.get(cur).copied().unwrap_or(0);
            if d == u32::MAX {
                d = 0; // a cycle among unreachable signals: never compared
            }
            while let Some(x) = stack.pop() {
                d += 1;
                if let Some(slot) = depth.get_mut(x) {
                    *slot = d;
                }
            }
        }
        let levels = (usize::BITS - n.max(1).leading_zeros()) as usize + 1;
        let mut up = vec![parent];
        for k in 1..levels {
            let prev = &up[k - 1];
            let next: Vec<u32> = prev
                .iter()
                .map(|&a| prev.get(a as usize).copied().unwrap_or(root))
                .collect();
            up.push(next);
        }
        MuxTree { up, depth, ranges }
    }

    fn depth(&self, v: usize) -> u32 {
        self.depth.get(v).copied().unwrap_or(0)
    }

    /// The ancestor of `v` `steps` levels up.
    fn lift(&self, mut v: usize, steps: u32) -> usize {
        for (k, level) in self.up.iter().enumerate() {
            if steps >> k & 1 == 1 {
                v = level.get(v).copied().unwrap_or(0) as usize;
            }
        }
        v
    }

    /// Whether signals `a` and `b` can never be present in the same frame.
    fn exclusive(&self, a: usize, b: usize) -> bool {
        let (da, db) = (self.depth(a), self.depth(b));
        // The two nodes one level below the meeting point.
        let (mut x, mut y) = if da >= db {
            (self.lift(a, da - db), b)
        } else {
            (a, self.lift(b, db - da))
        };
        if x == y {
            return false; // one is the other's multiplexor (or ancestor)
        }
        for level in self.up.iter().rev() {
            let (px, py) = (level.get(x).copied(), level.get(y).copied());
            if px != py {
                x = px.unwrap_or(0) as usize;
                y = py.unwrap_or(0) as usize;
            }
        }
        let root = self.up.first().map_or(0, |p| p.len().saturating_sub(1));
        if self.up.first().and_then(|p| p.get(x)).copied() == Some(root as u32) {
            return false; // they meet at the root: no multiplexor tells them apart
        }
        match (self.ranges.get(x), self.ranges.get(y)) {
            (Some(ra), Some(rb)) => !ranges_intersect(ra, rb),
            _ => false,
        }
    }
}

fn ranges_intersect(a: &[MuxRange], b: &[MuxRange]) -> bool {
    a.iter()
        .any(|x| b.iter().any(|y| x.min <= y.max && y.min <= x.max))
}

fn check_message(m: &Message, source: &str, out: &mut Vec<Diagnostic>) {
    let name = m.name();
    let at = |s: &Signal| s.position().or(m.position());

    if m.cycle_time_ms().is_none() {
        diag(
            out,
            Severity::Warning,
            source,
            m.position(),
            Problem::NoCycleTime {
                message: name.to_string(),
            },
        );
    }

    let mut seen: HashMap<&str, usize> = HashMap::new();
    for s in m.signals() {
        let count = seen.entry(s.name()).or_insert(0);
        *count += 1;
        if *count == 2 {
            diag(
                out,
                Severity::Error,
                source,
                at(s),
                Problem::DuplicateSignal {
                    message: name.to_string(),
                    signal: s.name().to_string(),
                },
            );
        }
    }

    for s in m.signals() {
        if s.bytes_needed() > m.size() {
            diag(
                out,
                Severity::Error,
                source,
                at(s),
                Problem::SignalOutsideMessage {
                    message: name.to_string(),
                    signal: s.name().to_string(),
                    size: m.size() as u64,
                },
            );
        }
        let multiplexed = !matches!(s.mux_indicator(), model::MuxIndicator::Plain)
            && !matches!(s.mux_indicator(), model::MuxIndicator::Multiplexor);
        match &s.parent {
            Parent::Root if multiplexed => diag(
                out,
                Severity::Warning,
                source,
                at(s),
                Problem::NoMultiplexor {
                    message: name.to_string(),
                    signal: s.name().to_string(),
                    detail: " (decoded as a plain signal)".to_string(),
                },
            ),
            Parent::Orphan { switch } => diag(
                out,
                Severity::Error,
                source,
                at(s),
                Problem::NoMultiplexor {
                    message: name.to_string(),
                    signal: s.name().to_string(),
                    detail: match switch {
                        Some(sw) => format!(
                            " ({sw} is not a multiplexor of this message or gives no value; never decoded)"
                        ),
                        None => " (never decoded)".to_string(),
                    },
                },
            ),
            Parent::Switch { .. } if !s.is_reachable() => diag(
                out,
                Severity::Error,
                source,
                at(s),
                Problem::NoMultiplexor {
                    message: name.to_string(),
                    signal: s.name().to_string(),
                    detail: " (its multiplexor chain is circular; never decoded)".to_string(),
                },
            ),
            _ => {}
        }
        check_range(m, s, source, out);
    }

    check_overlaps(m, source, out);
}

/// Overlaps between signals that can be present together. Candidates share a bit (found
/// through per-bit buckets, not by comparing every pair), and exclusivity is one lowest
/// common ancestor in the multiplexing tree: n log n for n signals, plus the overlaps.
fn check_overlaps(m: &Message, source: &str, out: &mut Vec<Diagnostic>) {
    let name = m.name();
    let at = |s: &Signal| s.position().or(m.position());
    let tree = MuxTree::new(m);
    let masks: Vec<[u64; 8]> = m.signals().iter().map(Signal::bit_mask).collect();
    let mut buckets: Vec<Vec<usize>> = vec![Vec::new(); 512];
    for (i, (s, mask)) in m.signals().iter().zip(&masks).enumerate() {
        if !s.is_reachable() {
            continue;
        }
        for (w, word) in mask.iter().enumerate() {
            let mut bits = *word;
            while bits != 0 {
                let bit = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if let Some(b) = buckets.get_mut(bit) {
                    b.push(i);
                }
            }
        }
    }
    let mut marked = vec![usize::MAX; m.signals().len()];
    let mut partners = Vec::new();
    for (i, a) in m.signals().iter().enumerate() {
        if !a.is_reachable() {
            continue;
        }
        partners.clear();
        let Some(mask) = masks.get(i) else { continue };
        for (w, word) in mask.iter().enumerate() {
            let mut bits = *word;
            while bits != 0 {
                let bit = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                for &j in buckets.get(bit).map_or(&[][..], Vec::as_slice) {
                    if j > i && marked.get(j) != Some(&i) {
                        if let Some(slot) = marked.get_mut(j) {
                            *slot = i;
                        }
                        partners.push(j);
                    }
                }
            }
        }
        partners.sort_unstable();
        for &j in &partners {
            let Some(b) = m.signals().get(j) else {
                continue;
            };
            if !tree.exclusive(i, j) {
                diag(
                    out,
                    Severity::Error,
                    source,
                    at(b),
                    Problem::Overlap {
                        message: name.to_string(),
                        first: a.name().to_string(),
                        second: b.name().to_string(),
                    },
                );
            }
        }
    }
}

fn check_range(m: &Message, s: &Signal, source: &str, out: &mut Vec<Diagnostic>) {
    let (min, max) = (s.min(), s.max());
    if min == 0.0 && max == 0.0 {
        return;
    }
    let mut problem = |detail: String| {
        diag(
            out,
            Severity::Warning,
            source,
            s.position().or(m.position()),
            Problem::BadRange {
                message: m.name().to_string(),
                signal: s.name().to_string(),
                detail,
            },
        );
    };
    if min > max {
        problem(format!("min {min} is greater than max {max}"));
        return;
    }
    if s.value_type() != ValueType::Integer {
        return;
    }
    let (lo, hi) = s.raw_range();
    let a = lo * s.factor() + s.offset();
    let b = hi * s.factor() + s.offset();
    let (plo, phi) = if a <= b { (a, b) } else { (b, a) };
    let slack = s.factor().abs() * 1e-6 + 1e-9 * phi.abs().max(plo.abs());
    if min < plo - slack || max > phi + slack {
        problem(format!(
            "[{min}|{max}] is outside what the raw range can reach [{plo}|{phi}]"
        ));
    }
}

/// `VAL_`, `SG_MUL_VAL_` and `SIG_VALTYPE_` naming unknown messages or signals.
fn check_references(dbc: &ast::Dbc, map: &SourceMap, source: &str) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    // Every message of that id: two messages whose ids are out of range (reported as errors)
    // can share one in can-dbc's tree, which keeps only the low 16 bits of an id without the
    // extended bit; a reference to either is not unknown.
    let find = |id: ast::MessageId, signal: &str| -> (bool, bool) {
        let mut same = dbc.messages.iter().filter(|m| m.id == id).peekable();
        let known = same.peek().is_some();
        (
            known,
            same.any(|m| m.signals.iter().any(|s| s.name == signal)),
        )
    };
    let position = |keyword: &str, id: ast::MessageId, signal: &str| {
        map.refs
            .iter()
            .find(|r| {
                r.keyword == keyword && r.signal == signal && r.raw_id == Some(u64::from(id.raw()))
            })
            .map(|r| (r.line, r.column))
    };
    let mut report = |keyword: &str, id: ast::MessageId, signal: &str, extra: Option<&str>| {
        let (has_msg, has_sig) = find(id, signal);
        let what = if !has_msg {
            Some(format!("message id {}", id.raw()))
        } else if !has_sig {
            Some(format!("signal {signal} of message id {}", id.raw()))
        } else if let Some(sw) = extra
            && !find(id, sw).1
        {
            Some(format!("multiplexor {sw} of message id {}", id.raw()))
        } else {
            None
        };
        if let Some(what) = what {
            diag(
                &mut out,
                Severity::Warning,
                source,
                position(keyword, id, signal),
                Problem::UnknownReference {
                    keyword: keyword.to_string(),
                    what,
                },
            );
        }
    };
    for v in &dbc.value_descriptions {
        if let ast::ValueDescription::Signal {
            message_id, name, ..
        } = v
        {
            report("VAL_", *message_id, name, None);
        }
    }
    for e in &dbc.extended_multiplex {
        report(
            "SG_MUL_VAL_",
            e.message_id,
            &e.signal_name,
            Some(&e.multiplexor_signal_name),
        );
    }
    for t in &dbc.signal_extended_value_type_list {
        report("SIG_VALTYPE_", t.message_id, &t.signal_name, None);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "VERSION \"\"\n\nNS_ :\n\tCM_\n\nBS_:\n\nBU_: BCM DOOR\n\n";
    const CYCLE: &str =
        "BA_DEF_ BO_ \"GenMsgCycleTime\" INT 0 10000;\nBA_DEF_DEF_ \"GenMsgCycleTime\" 100;\n";

    fn run(body: &str) -> Vec<Diagnostic> {
        check(format!("{HEADER}{body}").as_bytes(), "c.dbc")
    }

    fn kinds(d: &[Diagnostic]) -> Vec<String> {
        d.iter()
            .map(|d| format!("{} {}", d.severity, d.problem))
            .collect()
    }

    #[test]
    fn test_layout_warnings_show_the_first_errors_then_the_count() {
        let load =
            |body: &str| Database::from_str_named(&format!("{HEADER}{body}"), "c.dbc").unwrap();
        let sound = load("BO_ 1 M: 8 BCM\n SG_ A : 0|8@1+ (1,0) [0|255] \"\" BCM\n");
        assert!(layout_warnings(&sound, 10).is_empty());
        let bad = load(concat!(
            "BO_ 1 M: 2 BCM\n SG_ A : 0|16@1+ (1,0) [0|0] \"\" BCM\n",
            " SG_ B : 8|16@1+ (1,0) [0|0] \"\" BCM\n SG_ C : 0|4@1+ (1,0) [0|0] \"\" BCM\n",
        ));
        let errors = check_database(&bad)
            .into_iter()
            .filter(|d| d.severity == Severity::Error)
            .count();
        assert!(errors >= 2, "{errors}");
        let w = layout_warnings(&bad, 1);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[1].starts_with(&format!(
                "the DBC has {errors} layout errors (the first 1 are shown above)"
            )),
            "{w:?}"
        );
        assert_eq!(layout_warnings(&bad, 10).len(), errors + 1);
    }

    #[test]
    fn test_check_clean_file_has_no_diagnostics() {
        let d = run(&format!(
            "BO_ 1 M: 8 BCM\n SG_ Mux M : 0|8@1+ (1,0) [0|2] \"\" BCM\n SG_ A m0 : 8|16@1+ (1,0) [0|65535] \"\" BCM\n SG_ B m1 : 8|8@1- (1,0) [-128|127] \"\" BCM\n\n{CYCLE}"
        ));
        assert!(d.is_empty(), "{:?}", kinds(&d));
    }

    #[test]
    fn test_check_overlaps_respect_mux_branches() {
        let d = run(&format!(
            concat!(
                "BO_ 1 M: 8 BCM\n",
                " SG_ Mux M : 0|8@1+ (1,0) [0|0] \"\" BCM\n",
                " SG_ A m0 : 8|16@1+ (1,0) [0|0] \"\" BCM\n",
                " SG_ B m1 : 8|8@1+ (1,0) [0|0] \"\" BCM\n",
                " SG_ C m1 : 12|8@1+ (1,0) [0|0] \"\" BCM\n",
                " SG_ OnMux : 4|8@1+ (1,0) [0|0] \"\" BCM\n",
                "\n{}"
            ),
            CYCLE
        ));
        let k = kinds(&d);
        assert_eq!(d.len(), 4, "{k:?}");
        assert!(
            k.iter().any(|x| x.contains("signals B and OnMux overlap")),
            "{k:?}"
        );
        assert!(
            k.iter().any(|x| x.contains("signals B and C overlap")),
            "{k:?}"
        );
        assert!(
            k.iter()
                .any(|x| x.contains("signals Mux and OnMux overlap")),
            "{k:?}"
        );
        assert!(
            k.iter().any(|x| x.contains("signals A and OnMux overlap")),
            "{k:?}"
        );
        assert!(
            !k.iter().any(|x| x.contains("A and B")),
            "different branches: {k:?}"
        );
        // The overlap is reported at the second signal's line.
        let bc = d
            .iter()
            .find(|x| x.problem.to_string().contains("B and C"))
            .unwrap();
        assert_eq!(bc.location.line, Some(14));
        assert_eq!(bc.location.to_string(), "c.dbc:14:2");
    }

    /// Two ids out of range (no extended bit) that agree in their low 16 bits share one id in
    /// can-dbc's tree: both are errors, and a `VAL_` on the second one's signal is not an
    /// unknown reference (it was warned of, with an id that is not in the file).
    #[test]
    fn test_out_of_range_ids_sharing_low_bits_raise_no_false_reference_warning() {
        let d = run(concat!(
            "BO_ 270581760 A: 1 N\n",
            " SG_ SigA : 0|1@1+ (1,0) [0|1] \"\" N\n\n",
            "BO_ 271368192 B: 1 N\n",
            " SG_ SigB : 0|1@1+ (1,0) [0|1] \"\" N\n\n",
            "VAL_ 271368192 SigB 1 \"On\" 0 \"Off\" ;\n",
        ));
        let k = kinds(&d);
        assert_eq!(
            k.iter().filter(|k| k.starts_with("error")).count(),
            2,
            "{k:?}"
        );
        assert!(!k.iter().any(|k| k.contains("VAL_")), "{k:?}");
    }

    #[test]
    fn test_check_reports_every_kind() {
        let d = run(concat!(
            "BO_ 1 NO_CYCLE: 2 BCM\n",
            " SG_ Out : 8|16@1+ (1,0) [0|0] \"\" BCM\n",
            " SG_ Twice : 0|4@1+ (1,0) [0|0] \"\" BCM\n",
            " SG_ Twice : 4|4@1+ (1,0) [0|0] \"\" BCM\n",
            " SG_ Orphan m1 : 0|1@1+ (1,0) [0|0] \"\" BCM\n",
            "\n",
            "BO_ 2 RANGE: 8 BCM\n",
            " SG_ Small : 0|4@1+ (1,0) [0|100] \"\" BCM\n",
            " SG_ Inverted : 8|8@1+ (1,0) [10|5] \"\" BCM\n",
            "\n",
            "BO_ 3 FLOAT: 8 BCM\n",
            " SG_ F : 16|16@1- (1,0) [0|0] \"\" BCM\n",
            "\n",
            "BO_ 2049 BAD_ID: 8 BCM\n",
            "\n",
            "VAL_ 2 Nope 1 \"x\" ;\n",
            "VAL_ 99 Nope 1 \"x\" ;\n",
            "SIG_VALTYPE_ 3 F : 1;\n",
        ));
        let k = kinds(&d).join("\n");
        for needle in [
            "warning message NO_CYCLE: no cycle time",
            "error message NO_CYCLE (2 bytes): signal Out extends past its end",
            "error message NO_CYCLE: signal name Twice is used twice",
            "warning message NO_CYCLE: multiplexed signal Orphan has no multiplexor (decoded as a plain signal)",
            "warning message RANGE: signal Small: [0|100] is outside",
            "warning message RANGE: signal Inverted: min 10 is greater than max 5",
            "error message FLOAT: signal F is a float32 but has 16 bits",
            "error message BAD_ID: id 2049",
            "warning VAL_ for unknown signal Nope of message id 2",
            "warning VAL_ for unknown message id 99",
        ] {
            assert!(k.contains(needle), "missing {needle:?} in\n{k}");
        }
        let val = d
            .iter()
            .find(|x| x.problem.to_string().contains("message id 99"))
            .unwrap();
        assert_eq!(val.location.line, Some(26));
    }

    #[test]
    fn test_check_syntax_error_is_one_diagnostic() {
        let d = run("BO_ 1 M 8 BCM\n");
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].severity, Severity::Error);
        assert_eq!(d[0].location.line, Some(10));
        assert!(matches!(d[0].problem, Problem::Syntax { .. }));
    }

    #[test]
    fn test_check_database_on_loaded_db() {
        let db = Database::from_str_named(
            &format!("{HEADER}BO_ 1 M: 1 BCM\n SG_ A : 0|8@1+ (1,0) [0|0] \"\" BCM\n SG_ B : 4|8@1+ (1,0) [0|0] \"\" BCM\n"),
            "x.dbc",
        )
        .unwrap();
        let d = check_database(&db);
        let k = kinds(&d).join("\n");
        assert!(k.contains("signals A and B overlap"), "{k}");
        assert!(k.contains("signal B extends past its end"), "{k}");
    }
}

#[cfg(test)]
mod overlap_props {
    use super::*;
    use proptest::prelude::*;

    /// The definition, pair by pair: two signals are exclusive when a multiplexor in both
    /// chains selects them with ranges that do not intersect.
    fn naive_overlaps(m: &Message) -> Vec<(String, String)> {
        fn chain(m: &Message, s: &Signal) -> Vec<(u32, Vec<MuxRange>)> {
            let mut out = Vec::new();
            let mut cur = s;
            while let Parent::Switch { signal, values } = &cur.parent {
                if out.len() > m.signals.len() {
                    break;
                }
                out.push((*signal, values.clone()));
                match m.signals.get(*signal as usize) {
                    Some(p) => cur = p,
                    None => break,
                }
            }
            out
        }
        let mut found = Vec::new();
        for (i, a) in m.signals().iter().enumerate() {
            for b in m.signals().iter().skip(i + 1) {
                if !a.is_reachable() || !b.is_reachable() {
                    continue;
                }
                let (ma, mb) = (a.bit_mask(), b.bit_mask());
                if !ma.iter().zip(&mb).any(|(x, y)| x & y != 0) {
                    continue;
                }
                let (ca, cb) = (chain(m, a), chain(m, b));
                let exclusive = ca
                    .iter()
                    .any(|(x, ra)| cb.iter().any(|(y, rb)| x == y && !ranges_intersect(ra, rb)));
                if !exclusive {
                    found.push((a.name().to_string(), b.name().to_string()));
                }
            }
        }
        found
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        /// The n log n overlap check finds exactly the pairs of the definition.
        #[test]
        fn test_overlaps_match_the_definition(
            sigs in proptest::collection::vec((0u32..60, 1u32..9, 0usize..8, 0u64..4, 0u64..3), 1..14)
        ) {
            let mut text = String::from("VERSION \"\"\nNS_ :\nBS_:\nBU_: N\nBO_ 256 M: 8 N\n");
            let mut muls = String::new();
            for (i, (start, size, parent, lo, span)) in sigs.iter().enumerate() {
                let size = (*size).min(64 - start);
                let is_mux = i + 1 < sigs.len();
                let indicator = match (i, is_mux) {
                    (0, _) => "M".to_string(),
                    (_, true) => format!("m{lo}M"),
                    (_, false) => format!("m{lo}"),
                };
                text += &format!(" SG_ S{i} {indicator} : {start}|{size}@1+ (1,0) [0|0] \"\" N\n");
                if i > 0 {
                    let p = parent % i;
                    muls += &format!("SG_MUL_VAL_ 256 S{i} S{p} {lo}-{};\n", lo + span);
                }
            }
            text += &muls;
            let Ok(db) = Database::from_bytes(text.as_bytes(), "p.dbc") else { return Ok(()) };
            let m = &db.messages()[0];
            let mut fast = Vec::new();
            check_message(m, "p.dbc", &mut fast);
            let fast: Vec<(String, String)> = fast
                .into_iter()
                .filter_map(|d| match d.problem {
                    Problem::Overlap { first, second, .. } => Some((first, second)),
                    _ => None,
                })
                .collect();
            prop_assert_eq!(fast, naive_overlaps(m), "{}", text);
        }
    }
}

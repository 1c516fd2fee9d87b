//! A large DBC parsed on several cores: the text is cut before message statements into
//! chunks that can-dbc parses at the same time, and the chunks' ASTs are joined.
//!
//! Why the join is exact. can-dbc's grammar is a sequence of statements (`file = line*`),
//! and its AST keeps each kind of statement in a list, in file order. So the AST of a text
//! cut between two statements is the chunks' ASTs with their lists concatenated, provided
//! the statements that are not kept in lists (`VERSION`, `NS_`, `BS_`, `BU_`: the last one
//! wins) are all in the first chunk. Both conditions are checked, not assumed:
//! - the cuts are only at lines that start, in their first column, with the keyword of a
//!   statement that follows the messages in a file (`BO_`, `CM_`, `BA_`, `VAL_`...), after
//!   the first message. Outside quoted strings, a statement only continues on a later line
//!   through the grammar's explicit newlines: a message's `SG_` lines, and the indented
//!   lines of `NS_` and `BU_`. A cut inside a multi-line string leaves the chunk before it
//!   with an unterminated string, which fails to parse;
//! - a text with a `VERSION`, `NS_`, `BS_` or `BU_` line after its first message is not cut.
//!
//! Any chunk that fails sends the whole text to the sequential parse, so an error, and its
//! line and column, are exactly the sequential parser's. The tests compare the joined AST
//! with the sequential one.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use can_dbc as ast;

/// Below this size a text is parsed whole: a second thread would cost more than it saves
/// (can-dbc parses about 12 MB/s).
const MIN_PARALLEL: usize = 64 * 1024;

/// The size of the chunks a larger text is cut into. can-dbc parses a small text faster per
/// byte than a large one (opendbc's 229 KB `vw_mlb.dbc` in 14 chunks takes about 7% less time
/// than whole, on one core), and many chunks share out evenly over the cores, which the
/// thread reading the first log ahead meanwhile also uses: decoding 200k frames with that
/// DBC took 38.6 ms in 4 chunks, 36.5 ms in 14 (medians of 25 alternating runs, 2 cores).
const CHUNK: usize = 16 * 1024;

/// Parses `text` with can-dbc, in chunks on every core when it is large enough (most DBCs,
/// the bundled one included, are parsed whole).
pub(crate) fn parse(text: &str) -> Result<ast::Dbc, ast::DbcError> {
    if text.len() < MIN_PARALLEL {
        return ast::Dbc::try_from(text);
    }
    // The chunks are taken as the cores come free (see `parse_at`).
    parse_with(text, text.len() / CHUNK, CHUNK)
}

/// [`parse`] with at most `chunks` chunks of at least `min_chunk` bytes.
fn parse_with(text: &str, chunks: usize, min_chunk: usize) -> Result<ast::Dbc, ast::DbcError> {
    let cuts = cuts(text, chunks, min_chunk);
    if cuts.is_empty() {
        return ast::Dbc::try_from(text);
    }
    parse_at(text, &cuts).map_or_else(|| ast::Dbc::try_from(text), Ok)
}

/// Whether the parallel parse of `text` (up to `threads` chunks, of any size) is the
/// sequential parse, AST or error, and whether chunks that all parse give the sequential
/// AST: the `dbc_split` fuzz target's property. Compared as debug text, so that a float that
/// is not a number compares equal to itself.
pub(crate) fn agrees(text: &str, threads: usize) -> bool {
    let whole = ast::Dbc::try_from(text);
    let expected = format!("{whole:?}");
    if format!("{:?}", parse_with(text, threads, 1)) != expected {
        return false;
    }
    match (parse_at(text, &cuts(text, threads, 1)), &whole) {
        (Some(joined), Ok(_)) => format!("{:?}", Ok::<_, ast::DbcError>(joined)) == expected,
        (Some(_), Err(_)) => false,
        (None, _) => true,
    }
}

/// The chunks `text` is cut into at `cuts` (byte offsets of line starts), parsed on every
/// core and joined; `None` when a chunk does not parse. This thread and one more per other
/// core each take the next chunk until none is left, so a thread that starts late (a new
/// thread can take a millisecond or more to run) parses fewer chunks instead of holding up
/// the rest.
fn parse_at(text: &str, cuts: &[usize]) -> Option<ast::Dbc> {
    let mut chunks = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0;
    for &cut in cuts {
        chunks.push(text.get(start..cut)?);
        start = cut;
    }
    chunks.push(text.get(start..)?);
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(chunks.len());
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<ast::Dbc>>> = chunks.iter().map(|_| Mutex::new(None)).collect();
    let work = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let (Some(chunk), Some(slot)) = (chunks.get(i), slots.get(i)) else {
            return;
        };
        match ast::Dbc::try_from(*chunk) {
            Ok(parsed) => {
                if let Ok(mut slot) = slot.lock() {
                    *slot = Some(parsed);
                }
            }
            // The whole text goes to the sequential parse: the others stop.
            Err(_) => {
                next.store(chunks.len(), Ordering::Relaxed);
                return;
            }
        }
    };
    std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..workers).map(|_| scope.spawn(work)).collect();
        work();
        for h in helpers {
            // A helper that failed left its chunk's slot empty, which fails the join below.
            let _ = h.join();
        }
    });
    let mut parsed = slots.into_iter().map(|s| s.into_inner().ok().flatten());
    let mut whole = parsed.next()??;
    for part in parsed {
        join(&mut whole, part?);
    }
    Some(whole)
}

/// Where to cut `text` into at most `chunks` chunks of at least `min_chunk` bytes: before
/// statements after the first message, the chunks about equal. None when the text is too
/// small, or has a statement that only the first chunk may hold after its first message.
fn cuts(text: &str, chunks: usize, min_chunk: usize) -> Vec<usize> {
    let chunks = chunks.min(text.len() / min_chunk.max(1));
    if chunks < 2 {
        return Vec::new();
    }
    // Statement starts after the first message (the first of them is that message).
    let mut starts = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        // Most lines are signals (` SG_ ...`) or values (`VAL_ ...`): a line whose first
        // non-blank byte starts no keyword below is no header and no statement start.
        let first = line.bytes().find(|b| *b != b' ' && *b != b'\t');
        if !matches!(first, Some(b'B' | b'C' | b'N' | b'S' | b'V')) {
            offset += line.len();
            continue;
        }
        if starts.is_empty() {
            if is_message_start(line) {
                starts.push(offset);
            }
        } else if is_header(line) {
            return Vec::new();
        } else if is_statement_start(line) {
            starts.push(offset);
        }
        offset += line.len();
    }
    let mut cuts = Vec::new();
    for k in 1..chunks {
        let target = text.len() * k / chunks;
        // The first statement start at or after the target, after the first message.
        let at = starts.partition_point(|&m| m < target).max(1);
        match starts.get(at) {
            Some(&m) if cuts.last().is_none_or(|&last| m > last) => cuts.push(m),
            _ => {}
        }
    }
    cuts
}

/// `BO_ ` and a digit at the start of the line: a message statement.
fn is_message_start(line: &str) -> bool {
    line.strip_prefix("BO_")
        .and_then(|rest| rest.trim_start_matches([' ', '\t']).bytes().next())
        .is_some_and(|b| b.is_ascii_digit())
        && line
            .as_bytes()
            .get(3)
            .is_some_and(|b| *b == b' ' || *b == b'\t')
}

/// A line that starts (in its first column) with the keyword of a statement that follows
/// the messages in a file.
fn is_statement_start(line: &str) -> bool {
    const KEYWORDS: [&str; 10] = [
        "BO_",
        "CM_",
        "BA_",
        "BA_DEF_",
        "BA_DEF_DEF_",
        "VAL_",
        "SIG_VALTYPE_",
        "SG_MUL_VAL_",
        "BO_TX_BU_",
        "SIG_GROUP_",
    ];
    KEYWORDS.iter().any(|k| {
        line.strip_prefix(k)
            .is_some_and(|rest| rest.starts_with([' ', '\t']))
    })
}

/// A statement whose value is not a list in can-dbc's AST (the last one wins).
fn is_header(line: &str) -> bool {
    let line = line.trim_start_matches([' ', '\t']);
    ["VERSION", "NS_", "BS_", "BU_"].iter().any(|k| {
        line.strip_prefix(k).is_some_and(|rest| {
            rest.starts_with([' ', '\t', ':', '"', '\r', '\n']) || rest.is_empty()
        })
    })
}

/// Appends a later chunk's statements to `whole`, list by list. Every field is named (no
/// `..`), so a field added to can-dbc's AST fails to compile here instead of being lost.
fn join(whole: &mut ast::Dbc, part: ast::Dbc) {
    let ast::Dbc {
        // Only the first chunk holds these (see `cuts`).
        version: _,
        new_symbols: _,
        bit_timing: _,
        nodes: _,
        value_tables,
        messages,
        message_transmitters,
        environment_variables,
        environment_variable_data,
        signal_types,
        comments,
        attribute_definitions,
        relation_attribute_definitions,
        attribute_defaults,
        relation_attribute_defaults,
        relation_attribute_values,
        attribute_values_database,
        attribute_values_node,
        attribute_values_message,
        attribute_values_signal,
        attribute_values_env,
        value_descriptions,
        signal_type_refs,
        signal_groups,
        signal_extended_value_type_list,
        extended_multiplex,
    } = part;
    whole.value_tables.extend(value_tables);
    whole.messages.extend(messages);
    whole.message_transmitters.extend(message_transmitters);
    whole.environment_variables.extend(environment_variables);
    whole
        .environment_variable_data
        .extend(environment_variable_data);
    whole.signal_types.extend(signal_types);
    whole.comments.extend(comments);
    whole.attribute_definitions.extend(attribute_definitions);
    whole
        .relation_attribute_definitions
        .extend(relation_attribute_definitions);
    whole.attribute_defaults.extend(attribute_defaults);
    whole
        .relation_attribute_defaults
        .extend(relation_attribute_defaults);
    whole
        .relation_attribute_values
        .extend(relation_attribute_values);
    whole
        .attribute_values_database
        .extend(attribute_values_database);
    whole.attribute_values_node.extend(attribute_values_node);
    whole
        .attribute_values_message
        .extend(attribute_values_message);
    whole
        .attribute_values_signal
        .extend(attribute_values_signal);
    whole.attribute_values_env.extend(attribute_values_env);
    whole.value_descriptions.extend(value_descriptions);
    whole.signal_type_refs.extend(signal_type_refs);
    whole.signal_groups.extend(signal_groups);
    whole
        .signal_extended_value_type_list
        .extend(signal_extended_value_type_list);
    whole.extended_multiplex.extend(extended_multiplex);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A DBC of `n` messages with the statements that follow messages in real files:
    /// comments (one holding a line that looks like a message), value descriptions,
    /// attributes, signal types and extended multiplexing.
    fn sample(n: usize, odd: bool) -> String {
        let mut t = String::from(
            "VERSION \"1.0\"\n\nNS_ :\n\tCM_\n\tBA_\n\nBS_:\n\nBU_: ECU GW\nVAL_TABLE_ Onoff 1 \"on\" 0 \"off\" ;\n\n",
        );
        for i in 0..n {
            t.push_str(&format!(
                "BO_ {} M{i}: 8 ECU\n SG_ A{i} : 0|8@1+ (1,0) [0|255] \"\" GW\n SG_ B{i} m0 : 8|16@0- (0.5,-3) [0|0] \"km/h\" GW\n",
                100 + i
            ));
            if odd && i % 5 == 2 {
                // A signal in the first column, after a comment line and a blank line.
                t.push_str(&format!(
                    "// a note\n\nSG_ S{i} M : 31|4@1+ (1,0) [0|15] \"\" GW\n\n"
                ));
            } else {
                t.push_str(&format!(" SG_ S{i} M : 31|4@1+ (1,0) [0|15] \"\" GW\n\n"));
            }
        }
        t.push_str("BO_TX_BU_ 100 : ECU,GW;\n");
        for i in 0..n {
            t.push_str(&format!("CM_ BO_ {} \"message {i}\";\n", 100 + i));
            if odd && i % 7 == 3 {
                // A comment holding a line that starts like a message statement.
                t.push_str(&format!(
                    "CM_ SG_ {} A{i} \"first line\nBO_ 999 Fake: 8 ECU\n SG_ X : 0|8@1+ (1,0) [0|0] \\\"\\\" ECU\nlast\";\n",
                    100 + i
                ));
            }
        }
        t.push_str(
            "BA_DEF_ BO_ \"GenMsgCycleTime\" INT 0 10000;\nBA_DEF_DEF_ \"GenMsgCycleTime\" 100;\n",
        );
        for i in 0..n {
            t.push_str(&format!(
                "BA_ \"GenMsgCycleTime\" BO_ {} {};\nVAL_ {} A{i} 1 \"one\" 0 \"zero\" ;\nSIG_VALTYPE_ {} A{i} : 1;\nSG_MUL_VAL_ {} B{i} S{i} 0-0;\n",
                100 + i,
                10 * (i + 1),
                100 + i,
                100 + i,
                100 + i
            ));
            if odd && i % 11 == 5 {
                // Messages may also come late in a file, after other statements.
                t.push_str(&format!(
                    "BO_ {} Late{i}: 8 ECU\n SG_ L{i} : 0|8@1+ (1,0) [0|255] \"\" GW\n",
                    5000 + i
                ));
            }
        }
        t
    }

    #[test]
    fn test_cuts_are_before_messages_after_the_first() {
        let text = sample(40, false);
        let cuts = cuts(&text, 4, 1);
        assert_eq!(cuts.len(), 3, "{cuts:?}");
        for c in &cuts {
            assert!(is_statement_start(&text[*c..]), "{}", &text[*c..*c + 20]);
            assert_ne!(*c, text.find("BO_ ").unwrap());
        }
        assert!(cuts.windows(2).all(|w| w[0] < w[1]));
        // Small texts and single threads are not cut.
        assert!(super::cuts(&text, 1, 1).is_empty());
        assert!(super::cuts(&text, 8, text.len()).is_empty());
    }

    #[test]
    fn test_a_header_statement_after_a_message_means_no_cut() {
        for late in ["BU_: A B\n", "VERSION \"2\"\n", "BS_:\n", "NS_ :\n"] {
            let text = format!("{}{late}{}", sample(10, false), sample(10, false));
            assert!(cuts(&text, 4, 1).is_empty(), "{late}");
        }
        // `BU_SG_REL_`-like names are not headers.
        assert!(!is_header("BU_SG_REL_ x"));
        assert!(is_header("BU_: A"));
        assert!(is_message_start("BO_ 123 X: 8 Y\n"));
        assert!(!is_message_start("BO_TX_BU_ 123 : A;\n"));
        assert!(!is_message_start(" BO_ 123 X: 8 Y\n"));
        assert!(is_statement_start("CM_ SG_ 1 X \"a\";\n"));
        assert!(is_statement_start("BA_DEF_DEF_  \"x\" 1;\n"));
        assert!(!is_statement_start(" CM_ SG_ 1 X \"a\";\n"));
        assert!(!is_statement_start("SG_ X : 0|1@1+ (1,0) [0|1] \"\" Y\n"));
    }

    #[test]
    fn test_joined_chunks_equal_the_sequential_parse() {
        for odd in [false, true] {
            let text = sample(60, odd);
            let whole = ast::Dbc::try_from(text.as_str()).expect("the sample parses");
            for threads in 2..=9 {
                let cuts = cuts(&text, threads, 1);
                assert!(!cuts.is_empty());
                let joined = parse_at(&text, &cuts).expect("the chunks parse");
                assert_eq!(joined, whole, "{threads} chunks, odd {odd}");
            }
        }
    }

    #[test]
    fn test_a_cut_inside_a_string_fails_and_falls_back() {
        let text = sample(30, true);
        // The fake message line inside a comment, as a cut.
        let fake = text.find("BO_ 999").unwrap();
        assert!(parse_at(&text, &[fake]).is_none());
        let whole = ast::Dbc::try_from(text.as_str()).unwrap();
        assert_eq!(parse_with(&text, 4, 1).unwrap(), whole);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any cuts at message lines (and a damaged line anywhere): the parallel parse
        /// gives exactly the sequential parse, AST or error.
        #[test]
        fn test_parallel_parse_is_the_sequential_parse(
            n in 2usize..40,
            odd in any::<bool>(),
            threads in 2usize..8,
            damage in proptest::option::of((any::<prop::sample::Index>(), "[ -~]{0,12}")),
        ) {
            let mut text = sample(n, odd);
            if let Some((at, junk)) = damage {
                let starts: Vec<usize> = std::iter::once(0)
                    .chain(text.match_indices('\n').map(|(i, _)| i + 1))
                    .filter(|&i| i < text.len())
                    .collect();
                text.insert_str(starts[at.index(starts.len())], &format!("{junk}\n"));
            }
            let expected = ast::Dbc::try_from(text.as_str());
            let got = parse_with(&text, threads, 1);
            // Pest errors hold positions; the fallback makes them the sequential ones.
            prop_assert_eq!(format!("{got:?}"), format!("{expected:?}"));
            // The chunks themselves: when they all parse, so does the whole text, to the
            // same AST (a cut inside a string fails a chunk: the fallback then parses).
            let cuts = cuts(&text, threads, 1);
            prop_assert!(!cuts.is_empty());
            match (parse_at(&text, &cuts), &expected) {
                (Some(joined), Ok(whole)) => prop_assert_eq!(&joined, whole),
                (Some(_), Err(e)) => prop_assert!(false, "the chunks parse, the whole fails: {e:?}"),
                (None, _) => {}
            }
        }
    }
}

//! The layering rule, enforced: pure protocol and format modules never import tokio or
//! socketcan, never read the system clock, never open files or standard input, never print,
//! never use anyhow, and never reach up into the bus layer, the drivers or the command line, so they run the same on live time, on a log's
//! timestamps and under a virtual clock in tests. Only the bus layer and drivers may.

use std::fs;
use std::path::{Path, PathBuf};

/// Directories and files under `src/` allowed to do I/O and read clocks.
const IMPURE: &[&str] = &[
    "src/bus",
    "src/drive",
    "src/cli",
    "src/main.rs",
    "src/open.rs",
    "src/load.rs",
    "src/create.rs",
    "src/plot/save.rs",
];

/// What a pure module must not contain.
const FORBIDDEN: &[&str] = &[
    "tokio",
    "socketcan",
    "SystemTime::now",
    "Instant::now",
    "std::net",
    "thread::sleep",
    "std::fs",
    "File::",
    "stdin",
    "println!",
    "eprintln!",
    "anyhow",
    "crate::bus",
    "crate::drive",
    "crate::cli",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Whether `code` uses `word`: an occurrence not preceded by a letter, digit or `_` (so that
/// `File::` is found in `fs::File::open`, but not in a name such as `KeptFile::new`).
fn uses(code: &str, word: &str) -> bool {
    code.match_indices(word).any(|(at, _)| {
        !code[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

/// `mod NAME`, or `pub(...) mod NAME` (test helpers shared with a sibling module).
fn is_mod(line: &str) -> bool {
    let line = line.trim_start();
    let line = match line.strip_prefix("pub") {
        Some(rest) if rest.starts_with('(') => rest.split_once(") ").map_or("", |(_, r)| r),
        Some(rest) => rest.trim_start(),
        None => line,
    };
    line.starts_with("mod ")
}

#[test]
fn pure_modules_do_not_touch_io_or_clocks() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    assert!(files.len() > 3, "found the sources");
    let mut violations = Vec::new();
    for file in &files {
        let rel = file
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if IMPURE
            .iter()
            .any(|p| rel == *p || rel.starts_with(&format!("{p}/")))
        {
            continue;
        }
        let text = fs::read_to_string(file).unwrap();
        // A module's unit tests (the `#[cfg(test)] mod` at its end) may read fixture files.
        let lines: Vec<&str> = text.lines().collect();
        let tests_start = lines
            .windows(2)
            .position(|w| w[0].trim() == "#[cfg(test)]" && is_mod(w[1]))
            .unwrap_or(lines.len());
        for (n, line) in lines.iter().take(tests_start).enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for word in FORBIDDEN {
                if uses(code, word) {
                    violations.push(format!("{rel}:{}: uses `{word}`: {}", n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "pure modules must stay sans-IO:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_check_itself_catches_a_violation() {
    // Guard against a check that cannot fail: the forbidden words are found in a sample.
    let sample = "use tokio::time::sleep; let t = std::time::Instant::now();";
    let hits: Vec<_> = FORBIDDEN.iter().filter(|w| uses(sample, w)).collect();
    assert_eq!(hits.len(), 2);
    let sample = "let f = std::fs::File::open(p)?; use crate::bus::Bus; println!(\"x\");";
    let hits: Vec<_> = FORBIDDEN.iter().filter(|w| uses(sample, w)).collect();
    assert_eq!(hits.len(), 4);
    let sample = "let f = File::create(p)?; eprintln!(\"x\");";
    let hits: Vec<_> = FORBIDDEN.iter().filter(|w| uses(sample, w)).collect();
    assert_eq!(hits, [&"File::", &"eprintln!"]);
    // A name that merely ends in a forbidden word is not a use of it.
    let sample = "let k = KeptFile::default(); let s = my_stdin_count;";
    assert!(FORBIDDEN.iter().all(|w| !uses(sample, w)), "{sample}");
}

//! Running the peer tools from tests: python-can and asammdf (Python), can-utils, tshark.
//!
//! `tests/all.sh` installs them (a Python virtual environment with pinned versions, Debian
//! packages) and points `CANRELEARN_PEER_PYTHON` at its interpreter. A peer that is missing
//! fails the test with what to install: peer tests are never skipped.

#![allow(dead_code, reason = "each peers_* test file uses part of this")]

use std::path::Path;
use std::process::{Command, Output};

/// The Python interpreter that has the peer packages.
pub fn python() -> String {
    std::env::var("CANRELEARN_PEER_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// Runs `python -c SCRIPT ARGS...`; panics with stderr when it fails, naming what to install
/// when a module is missing.
pub fn run_python(script: &str, args: &[&str]) -> Output {
    let py = python();
    let out = Command::new(&py)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run the peer Python `{py}`: {e} (bash tests/all.sh sets it up)")
        });
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("ModuleNotFoundError") {
            panic!(
                "a Python peer package is missing for `{py}` (set CANRELEARN_PEER_PYTHON to an \
                 interpreter with python-can and asammdf, or run bash tests/all.sh):\n{err}"
            );
        }
        panic!("the Python peer failed ({}):\n{err}", out.status);
    }
    out
}

/// Runs a command-line peer (`log2asc`, `tshark`); panics naming the Debian package when it
/// is missing, and with stderr when it fails.
pub fn run_tool(program: &str, args: &[&str], package: &str) -> Output {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `{program}` ({e}): install the Debian package {package} (bash tests/all.sh does)")
        });
    if !out.status.success() {
        panic!(
            "`{program} {}` failed ({}):\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

/// The path as a `&str` (test paths are UTF-8).
pub fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 test path")
}

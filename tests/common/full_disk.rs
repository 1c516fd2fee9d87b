//! Shared by the CLI tests of write errors (tests/cli_parquet.rs, tests/cli_convert.rs,
//! tests/cli_plot.rs, tests/cli_run.rs): the binary run with a file size limit, so that writing a file past it
//! fails as on a full disk, as any user and on any file system (root included, which a
//! read-only folder would not stop).

#![allow(dead_code, reason = "each test file uses part of this")]

use std::process::{Command, Output, Stdio};

/// Bytes a file may grow to, at most: `ulimit -f 16` counts blocks of 512 (dash) or 1024
/// (bash) bytes.
pub const LIMIT_BYTES: usize = 16 * 1024;

/// Runs `canrelearn` with `args`, its files limited to [`LIMIT_BYTES`]: a write past the
/// limit fails with EFBIG ("File too large"; `trap '' XFSZ` keeps the signal from killing
/// the process instead).
pub fn run_with_file_limit(args: &[&str]) -> Output {
    run_with_blocks(16, args)
}

/// [`run_with_file_limit`] with a limit of `blocks` blocks (of 512 or 1024 bytes) instead.
pub fn run_with_blocks(blocks: u32, args: &[&str]) -> Output {
    let script = format!("ulimit -f {blocks} && trap '' XFSZ && exec \"$0\" \"$@\"");
    Command::new("sh")
        .args(["-c", &script, env!("CARGO_BIN_EXE_canrelearn")])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("sh runs")
}

/// A candump log of `lines` frames whose payloads do not compress (xorshift), ids 700-7C7.
pub fn incompressible_log(lines: u32) -> String {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..lines)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            format!("(1700000000.{i:06}) can0 7{:02X}#{x:016X}\n", i % 200)
        })
        .collect()
}

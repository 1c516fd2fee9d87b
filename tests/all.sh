#!/usr/bin/env bash
# The one test command (README, .ci/run). On a fresh Linux machine with a Rust toolchain it
# installs what the tests need and runs, in order:
#   1. cargo fmt --check
#   2. cargo clippy --all-targets -D warnings (with and without the vcan test feature)
#   3. every unit, property, integration and doc test (cargo test), and the tests against peer
#      tools (tests/peers_*.rs: python-can, cantools, asammdf in a pinned virtual environment,
#      can-utils, tshark)
#   4. the tests against real SocketCAN: natively where this kernel has vcan, otherwise inside
#      a small QEMU VM set up from Debian's packages (tests/vm/run-vcan-tests.sh); never skipped
#   5. every fuzz target for a short while (fuzz/run.sh; FUZZ_SECONDS, default 10 per target)
# Any failure stops the run with a non-zero exit status.
set -euo pipefail
cd "$(dirname "$0")/.."

# Free space on the disk that holds target/, in GiB: printed with every step, so a run that
# runs out of disk says so where it happens.
free_gib() { df -Pk . | awk 'NR == 2 { print int($4 / 1048576) }'; }
step() { printf '\n==> %s   [%s GiB free]\n' "$*" "$(free_gib)"; }

# A one-off build gains nothing from incremental caches, which take gigabytes.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

need_apt=()
command -v tmux >/dev/null 2>&1 || need_apt+=(tmux)
command -v log2asc >/dev/null 2>&1 || need_apt+=(can-utils)
command -v tshark >/dev/null 2>&1 || need_apt+=(tshark)
# plot's pictures need a TrueType font (tests/cli_plot.rs).
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need_apt+=(fonts-dejavu-core)
if [ ${#need_apt[@]} -gt 0 ]; then
    step "installing ${need_apt[*]} (Debian packages)"
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
    else
        sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
    fi
fi

step "toolchain: $(cargo --version)"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --locked --all-targets -- -D warnings
cargo clippy --locked --all-targets --features vcan-tests -- -D warnings

step "cargo test (unit, property, integration, CLI, benches in test mode)"
cargo test --locked --all-targets

step "tests against peer tools (python-can, cantools, asammdf, can-utils, tshark)"
# A virtual environment of pinned versions, kept in target/ (not the machine's Python).
peers="$PWD/target/peers-venv"
if ! "$peers/bin/python" -c "import can, cantools, asammdf, scapy, duckdb, pyarrow" >/dev/null 2>&1; then
    python3 -m venv "$peers"
    "$peers/bin/pip" install -q --disable-pip-version-check -r tests/peers-requirements.txt
fi
CANRELEARN_PEER_PYTHON="$peers/bin/python" cargo test --locked --features peer-tests --test 'peers_*'

step "doc tests, and the API documentation builds without a warning (broken links included)"
cargo test --locked --doc
RUSTDOCFLAGS="-D warnings" cargo doc --locked --no-deps

# The debug-profile tests are done; the release and fuzz builds below need about 7 GiB more.
# When the disk is short of that, the debug build goes (the next `cargo test` rebuilds it),
# and the run says so.
if [ "$(free_gib)" -lt 10 ] && [ -d target/debug ]; then
    echo "only $(free_gib) GiB free: removing target/debug ($(du -sh target/debug | cut -f1)) before the release and fuzz builds"
    rm -rf target/debug
fi

step "tests on real SocketCAN (vcan), against can-utils and the kernel's ISO-TP"
# Release binaries: the interop and throughput checks run what users run.
bash tests/vm/run-vcan-tests.sh --locked --release

step "fuzz targets, ${FUZZ_SECONDS:-10} s each"
bash fuzz/run.sh "${FUZZ_SECONDS:-10}"

step "all tests passed"

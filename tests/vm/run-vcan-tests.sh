#!/usr/bin/env bash
# Runs the vcan tests (tests/vcan_*.rs, feature `vcan-tests`) against real vcan0/vcan1.
#
#   tests/vm/run-vcan-tests.sh [CARGO_OPTIONS...] [-- TEST_BINARY_ARGS...]
#
# CARGO_OPTIONS go to `cargo test --no-run` (e.g. --release, --locked; use --opt=value forms);
# TEST_BINARY_ARGS go to every test binary (a name filter, --nocapture, ...). The binaries are
# built on the host, then run natively when this kernel has vcan (root or `sudo -n` needed), or
# else inside a QEMU VM (see tests/vm/vcan-env.sh; first run installs Debian packages if missing
# and caches an initramfs in .vm-cache/). The mode used is printed. Exit status: the tests'
# (0 when all pass), 2 when neither mode can be used, never 0 without having run the tests.
# Environment: CANRELEARN_VCAN_MODE=native|vm|auto, VCAN_VM_TIMEOUT=seconds (default 900).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/vm/vcan-env.sh
source "$here/vcan-env.sh"
cd "$VCAN_REPO"

cargo_args=()
test_args=()
while [ $# -gt 0 ]; do
	if [ "$1" = -- ]; then
		shift
		test_args=("$@")
		break
	fi
	cargo_args+=("$1")
	shift
done

start=$(date +%s)
vcan_log "building the vcan test binaries"
json=$(cargo test --features vcan-tests --test 'vcan_*' --no-run --message-format=json "${cargo_args[@]}") ||
	vcan_die "cargo test --no-run failed"
mapfile -t bins < <(printf '%s\n' "$json" | grep '"reason":"compiler-artifact"' | grep '"kind":\["test"\]' |
	grep -o '"executable":"[^"]*"' | sed 's/^"executable":"//; s/"$//' | sort -u)
[ ${#bins[@]} -gt 0 ] || vcan_die "no vcan test binaries were built (expected tests/vcan_*.rs with feature vcan-tests)"
vcan_log "test binaries: ${bins[*]}"
# The profile directory of each binary (target/<profile>, not only its deps/): the tests
# run the command-line binaries beside deps/ (CARGO_BIN_EXE_*), also with a CARGO_TARGET_DIR
# under /tmp, which the guest's fresh /tmp would otherwise hide.
VCAN_KEEP_PATHS=$(for b in "${bins[@]}"; do dirname "$(dirname "$b")"; done | sort -u | tr '\n' ' ')
export VCAN_KEEP_PATHS

# Tests share vcan0/vcan1; each binary serialises its own tests, binaries run one after another.
payload="$VCAN_REPO/target/vm/payload-$$.sh"
mkdir -p "$VCAN_REPO/target/vm"
{
	echo 'rc=0'
	for b in "${bins[@]}"; do
		printf 'echo "[vcan] running %s"\n' "$(basename "$b")"
		printf '%q ' "$b" "${test_args[@]}"
		echo '|| rc=1'
	done
	echo 'exit $rc'
} >"$payload"

summary() {
	local rc=$?
	rm -f "$payload"
	vcan_log "done in $(($(date +%s) - start)) s: $([ "$rc" = 0 ] && echo PASSED || echo "FAILED (status $rc)"); output kept in ${VCAN_RESULTS:-target/vm/last-run}/output.log"
	exit "$rc"
}
trap summary EXIT
vcan_run "$payload"

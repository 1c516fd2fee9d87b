#!/usr/bin/env bash
# Records real `candump` screen output (what `candump can0 > file` saves) for the screen reader's
# fixtures, each beside the log of the same frames, and copies them to
# tests/data/candump-real/screen/:
#   tests/vm/record-screen-fixtures.sh
#
# Three candump versions record every session at the same time, on the same traffic:
#   debian   the installed can-utils (Debian 12: 2020.11)
#   v2023.03 built from can-utils' git tag v2023.03 (Debian 13's version)
#   head     built from can-utils' default branch (2025.01 and later)
# CAN_UTILS_SRC names a git clone of https://github.com/linux-can/can-utils (cloned into
# target/can-utils-src when unset); CAN_UTILS_HEAD_REF picks the "head" commit (default HEAD).
# Each candump runs with `-s 0` plus `-l` (2020.11) or `-f FILE`, so one process prints the screen
# format on stdout and writes the log format (the `-L` syntax) of the very same frames, in the
# same order, with the same timestamps: a test can compare them frame for frame.
# Runs natively or in the QEMU VM (tests/vm/vcan-env.sh). Traffic is partly random (cangen), so
# every run differs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/vm/vcan-env.sh
source "$here/vcan-env.sh"
cd "$VCAN_REPO"

# Build the can-utils versions on the host (the VM runs host binaries through 9p).
src=${CAN_UTILS_SRC:-"$VCAN_REPO/target/can-utils-src"}
if [ ! -d "$src" ]; then
	vcan_log "cloning can-utils into $src"
	git clone -q https://github.com/linux-can/can-utils.git "$src"
fi
gitdir=$src
[ -d "$src/.git" ] && gitdir="$src/.git"
bin="$VCAN_REPO/target/vm/can-utils"
build() { # name ref
	local out="$bin/$1" tmp
	tmp=$(mktemp -d)
	git --git-dir="$gitdir" archive "$2" | tar -x -C "$tmp"
	mkdir -p "$out"
	for tool in candump cansend cangen; do
		gcc -O2 -I"$tmp/include" -o "$out/$tool" "$tmp/$tool.c" "$tmp/lib.c"
	done
	git --git-dir="$gitdir" describe --tags --always "$2" >"$out/version.txt"
	rm -rf "$tmp"
	vcan_log "built can-utils $(cat "$out/version.txt") into $out"
}
build v2023.03 v2023.03
build head "${CAN_UTILS_HEAD_REF:-HEAD}"

payload="$VCAN_REPO/target/vm/record-screen-payload.sh"
mkdir -p "$VCAN_REPO/target/vm"
{
	echo "BIN='$bin'"
	cat <<'PAYLOAD'
set -eu
cd "$RESULTS"
mkdir -p out
{
	dpkg-query -W -f='debian: can-utils ${Version}\n' can-utils 2>/dev/null || echo "debian: unknown"
	echo "v2023.03: $(cat "$BIN/v2023.03/version.txt")"
	echo "head: $(cat "$BIN/head/version.txt")"
	echo "kernel: $(uname -r)"
} >out/versions.txt
ip link add vcanlong1 type vcan && ip link set up vcanlong1
# vcan1 receives what the gateway routes from vcan0 (frames candump -x shows as RX).
cangw -A -s vcan0 -d vcan1 -e -f 7E0:7FF || echo "cangw (classic) failed: no RX frames" >&2
cangw -A -s vcan0 -d vcan1 -e -X -f 456:7FF || echo "cangw (FD) failed: no RX FD frames" >&2
SEND="$BIN/head/cansend"
GEN="$BIN/head/cangen"

traffic() {
	$GEN vcan0 -n 10 -g 1 -m
	$GEN vcanlong1 -n 4 -g 1 -m
	$GEN vcan0 -n 6 -g 1 -8
	for f in 123#48656C6C6F21 7E0#2720270A7F22 0C8# 1F334455#0102030405060708 \
		123#R 123#R5 12345678#R8 123#1122334455667788_9 12345678#R8_F \
		456##3$(printf '%02X' $(seq 0 63)) 456##1 18DAF110##0$(printf '%02X' $(seq 100 111)) \
		7E8##24664204153434949 \
		20000004#0004000000000000 20000088#0000080000000000 20000200#0000000000007F80 \
		20000002#0500000000000000 20000040# 20000004#0004; do
		$SEND vcan0 "$f"
	done
	$SEND vcanlong1 7FF#11
	$GEN vcan0 -n 6 -g 1 -m
}

# session NAME OPTIONS...: every version records the session at once (options a version lacks
# are left out for it: -8 and -f before 2023.03, -N before 2025.01).
session() {
	local name=$1
	shift
	local pids=() v opts
	for v in debian v2023.03 head; do
		opts=()
		for o in "$@"; do
			case "$v:$o" in
			debian:-8 | debian:-N | v2023.03:-N) ;;
			*) opts+=("$o") ;;
			esac
		done
		mkdir -p "run/$v-$name"
		case $v in
		debian)
			(cd "run/$v-$name" && exec env TZ="${SESSION_TZ:-UTC}" candump -s 0 -l "${opts[@]}" \
				vcan0,0:0,#FFFFFFFF vcan1,0:0,#FFFFFFFF vcanlong1 >screen.txt 2>stderr.txt) &
			;;
		*)
			(cd "run/$v-$name" && exec env TZ="${SESSION_TZ:-UTC}" "$BIN/$v/candump" -s 0 -f log.log \
				"${opts[@]}" vcan0,0:0,#FFFFFFFF vcan1,0:0,#FFFFFFFF vcanlong1 >screen.txt 2>stderr.txt) &
			;;
		esac
		pids+=($!)
	done
	sleep 1
	traffic
	sleep 1
	for p in "${pids[@]}"; do kill "$p"; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	for v in debian v2023.03 head; do
		local d="run/$v-$name"
		[ -f "$d/log.log" ] || mv "$d"/candump-*.log "$d/log.log"
		cp "$d/screen.txt" "out/$v-$name.txt"
		cp "$d/log.log" "out/$v-$name.log"
		echo "$v-$name: $(tr '\n' ' ' <"$d/stderr.txt")" >>run/stderr.txt
	done
}

session abs-x-e-a -ta -x -e -a
SESSION_TZ=XXX-1 session date-a -tA -a -N
session delta-x -td -x -N
session zero-e-8 -tz -e -8
session none-colour-e-a -c -c -c -e -a
session swap-a-8 -ta -S -a -8
session binary-x -ta -i -x
wc -l out/*.txt out/*.log
PAYLOAD
} >"$payload"
vcan_run "$payload"
dest="$VCAN_REPO/tests/data/candump-real/screen"
mkdir -p "$dest"
cp "$VCAN_RESULTS"/out/* "$dest/"
# 2023.03 prints what 2020.11 prints except with -8 (which 2020.11 lacks): keep its captures only
# where they differ.
for f in "$dest"/v2023.03-*.txt; do
	name=${f##*/v2023.03-}
	if cmp -s "$f" "$dest/debian-$name"; then
		rm -f "$f" "${f%.txt}.log"
		vcan_log "v2023.03-$name: same screen output as debian-$name, not kept"
	fi
done
vcan_log "versions: $(tr '\n' ';' <"$VCAN_RESULTS/out/versions.txt")"
vcan_log "screen captures and logs copied to $dest"

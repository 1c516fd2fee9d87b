#!/usr/bin/env bash
# Records real candump logs for the candump parser's fixtures: runs can-utils (cangen, cansend,
# candump) against vcan interfaces (natively or in the QEMU VM, see tests/vm/vcan-env.sh) and
# copies the logs to tests/data/candump-real/. Traffic is random (cangen), so every run differs.
#   tests/vm/record-candump-fixtures.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/vm/vcan-env.sh
source "$here/vcan-env.sh"
cd "$VCAN_REPO"
payload="$VCAN_REPO/target/vm/record-payload.sh"
mkdir -p "$VCAN_REPO/target/vm"
cat >"$payload" <<'PAYLOAD'
set -eu
cd "$RESULTS"
mkdir -p logs
dpkg-query -W -f='${Package} ${Version}\n' can-utils >logs/can-utils-version.txt 2>/dev/null ||
	echo "can-utils (version unknown)" >logs/can-utils-version.txt
uname -r >logs/kernel-version.txt
ip link add vcanlong1 type vcan && ip link set up vcanlong1
# Waits until a background candump (pid $1) is listening: candump has no ready signal.
settle() { sleep 1; }
stop() { sleep 1; kill "$1"; wait "$1" 2>/dev/null || true; }

# 1. candump -L: every frame kind cangen makes, one after the other, then mixed.
candump -L vcan0 >logs/mixed-L.log & p=$!; settle
cangen vcan0 -n 30 -g 1
cangen vcan0 -n 30 -g 1 -e
cangen vcan0 -n 30 -g 1 -f
cangen vcan0 -n 30 -g 1 -b
cangen vcan0 -n 20 -g 1 -E -f
cangen vcan0 -n 30 -g 1 -R
cangen vcan0 -n 30 -g 1 -R -e
cangen vcan0 -n 60 -g 1 -m
stop $p

# 2. candump -L -x with error frames (filter #FFFFFFFF): R/T flags, BRS/ESI markers.
candump -L -x vcan0,0:0,#FFFFFFFF >logs/mixed-errors-x.log & p=$!; settle
cangen vcan0 -n 100 -g 1 -m
for f in 20000004#0004000000000000 20000080#0000080000000000 20000040#0000000000000000 \
	20000200#0000000000007F80 20000100#0000000000000000 20000001#0000000000000000; do
	cansend vcan0 "$f"
done
cangen vcan0 -n 60 -g 1 -m
stop $p

# 3. candump -l (log file, candump-DATE.log in the working directory) with -tz.
mkdir -p l-tz
(cd l-tz && exec candump -l -tz vcan0) & p=$!; settle
cangen vcan0 -n 150 -g 2 -m
stop $p
mv l-tz/candump-*.log logs/mixed-l-tz.log

# 4. candump -L -tz on stdout (zero-based timestamps if this version honours -t with -L).
candump -L -tz vcan0 >logs/mixed-L-tz.log & p=$!; settle
cangen vcan0 -n 120 -g 2 -m
stop $p

# 5. Several interfaces with names of different lengths (candump right-aligns them).
candump -L vcan0 vcan1 vcanlong1 >logs/multi-iface-L.log & p=$!; settle
for i in $(seq 1 50); do
	cansend vcan0 "123#$(printf '%02X' "$i")"
	cansend vcan1 "18DAF110#0210$(printf '%02X' "$i")"
	cansend vcanlong1 "7E8##1$(printf '%02X' "$i")000000000000000000000000"
done
stop $p

# 6. Dropped frames: a tiny receive buffer and a burst, with -d (DROPCOUNT lines).
candump -L -d -r 1 vcan1 >logs/drops-L-d.log & p=$!; settle
cangen vcan1 -n 300 -g 0 -p 10
sleep 1
cangen vcan1 -n 20 -g 5
stop $p
wc -l logs/*.log
PAYLOAD
vcan_run "$payload"
dest="$VCAN_REPO/tests/data/candump-real"
mkdir -p "$dest"
cp "$VCAN_RESULTS"/logs/*.log "$dest/"
vcan_log "can-utils: $(cat "$VCAN_RESULTS/logs/can-utils-version.txt"), kernel $(cat "$VCAN_RESULTS/logs/kernel-version.txt")"
vcan_log "logs copied to $dest"

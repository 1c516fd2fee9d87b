#!/usr/bin/env bash
# Runs every cargo-fuzz target of this directory for N seconds each (default 60):
#   fuzz/run.sh 300
# Installs cargo-fuzz when it is missing. Only a stable toolchain is needed: RUSTC_BOOTSTRAP=1
# lets it accept the -Z sanitizer flags cargo-fuzz passes. Corpora start from the candump
# fixtures in tests/data/candump (the screen captures and CSV fixtures for their readers, the
# scripts, the simulator profile and the capture fixture for their loaders); crashes land in
# fuzz/artifacts/<target>/.
set -euo pipefail

secs="${1:-60}"
case "$secs" in
    ''|*[!0-9]*) echo "usage: $0 [seconds-per-target]" >&2; exit 2 ;;
esac

here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1

for target in $(cargo fuzz list); do
    corpus="corpus/$target"
    mkdir -p "$corpus"
    if [ -z "$(ls -A "$corpus")" ]; then
        case "$target" in
            candump_line)
                # One seed file per fixture line.
                n=0
                for f in ../tests/data/candump/*.log; do
                    while IFS= read -r line || [ -n "$line" ]; do
                        n=$((n + 1))
                        printf '%s' "$line" > "$corpus/seed-$n"
                    done < "$f"
                done
                ;;
            dbc_split)
                # A leading byte picks the number of chunks.
                for f in ../dbc/*.dbc ../tests/data/dbc/*.dbc; do
                    { printf '\001'; cat "$f"; } > "$corpus/$(basename "$f")"
                done
                ;;
            script_load)
                cp ../scripts/*.toml "$corpus/"
                ;;
            profile_load)
                cp ../scripts/simulator/*.toml "$corpus/"
                ;;
            screen_reader)
                cp ../tests/data/candump-real/screen/*.txt "$corpus/"
                ;;
            csv_reader)
                cp ../tests/data/formats/csv/*.csv "$corpus/"
                ;;
            trc_reader)
                # A leading byte picks the buffer size.
                for f in ../tests/data/formats/trc/*.trc; do
                    { printf '\x07'; cat "$f"; } > "$corpus/$(basename "$f")"
                done
                ;;
            capture)
                cp ../tests/data/capture/*.log ../tests/data/candump/*.log "$corpus/"
                ;;
            renderers)
                # The first byte picks the renderer: 0 dbc show, 1 script review, 2 sniff.
                for f in ../dbc/*.dbc ../tests/data/dbc/*.dbc; do
                    { printf '\000'; cat "$f"; } > "$corpus/dbc-$(basename "$f")"
                done
                for f in ../scripts/*.toml; do
                    { printf '\001'; cat "$f"; } > "$corpus/script-$(basename "$f")"
                done
                printf '\002\007\105\010\020\024\001\002\003\004\005\006' > "$corpus/sniff-ff"
                ;;
            asc_reader)
                # A leading byte picks the buffer size and the time mode.
                for f in ../tests/data/formats/asc/*.asc; do
                    { printf '\x07'; cat "$f"; } > "$corpus/$(basename "$f")"
                done
                ;;
            pcap_reader)
                # The first byte picks the byte-order mode and buffer size.
                for f in ../tests/data/formats/pcap/*.pcap*; do
                    { printf '\000'; cat "$f"; } > "$corpus/$(basename "$f")"
                done
                ;;
            mf4_reader)
                cp ../tests/data/formats/mf4/*.mf4 "$corpus/"
                ;;
            blf_reader)
                # Mode byte 0 (a whole file, 1-byte buffer) before each fixture.
                for f in ../tests/data/formats/blf/*.blf; do
                    { printf '\000'; cat "$f"; } > "$corpus/$(basename "$f")"
                done
                ;;
            *)
                cp ../tests/data/candump/*.log "$corpus/"
                ;;
        esac
    fi
    echo "== fuzzing $target for ${secs}s" >&2
    cargo fuzz run "$target" "$corpus" -- -max_total_time="$secs"
done

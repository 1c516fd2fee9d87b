# shellcheck shell=bash
# Sourced by tests/vm/run-vcan-tests.sh and tests/vm/record-candump-fixtures.sh.
#
# Provides `vcan_run PAYLOAD_FILE`: runs the bash script PAYLOAD_FILE as root, with real vcan0
# and vcan1 interfaces up, the repository root as working directory, CANRELEARN_VCAN=vcan0,vcan1
# and RESULTS set to a writable directory whose content ends up in $VCAN_RESULTS on the host.
# The payload's exit status is returned. Two modes:
#   native  the host kernel has vcan (a Linux laptop); uses sudo -n when not root.
#   vm      a QEMU guest (TCG) booting the Debian kernel from /boot with an initramfs holding
#           busybox and the CAN/9p modules; the host's / is shared read-only over 9p and the
#           guest chroots into it, so host binaries (cargo test binaries, can-utils, python)
#           run unchanged; $RESULTS is a second, writable 9p share.
# The payload's output is shown live and kept in $VCAN_RESULTS/output.log (default
# target/vm/last-run/output.log), its status in $VCAN_RESULTS/status.
# VCAN_KEEP_PATHS: more host directories the payload needs (the VM re-exposes those under /tmp).
# CANRELEARN_VCAN_MODE=native|vm|auto (default auto) forces a mode; VCAN_VM_TIMEOUT (seconds,
# default 900) bounds the VM run. Anything missing is installed with apt-get when possible;
# otherwise the run fails with the reason: it never silently skips.

set -euo pipefail

VCAN_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VCAN_CACHE="$VCAN_REPO/.vm-cache"
VCAN_VM_TIMEOUT=${VCAN_VM_TIMEOUT:-900}

vcan_log() { printf '[vcan] %s\n' "$*" >&2; }
vcan_die() {
	printf '[vcan] FAILED: %s\n' "$*" >&2
	exit 2
}

# The prefix to run a command as root: empty when root, "sudo -n" when that works.
vcan_sudo() {
	if [ "$(id -u)" = 0 ]; then
		echo ""
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
		echo "sudo -n"
	else
		echo "NO-ROOT"
	fi
}

# Installs the Debian packages providing the given commands/files when missing.
# Arguments: pairs "test-expression package".
vcan_need_packages() {
	local missing=() check pkg
	while [ $# -gt 0 ]; do
		check=$1 pkg=$2
		shift 2
		if ! eval "$check" >/dev/null 2>&1; then missing+=("$pkg"); fi
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	local sudo
	sudo=$(vcan_sudo)
	if [ "$sudo" = NO-ROOT ] || ! command -v apt-get >/dev/null 2>&1; then
		vcan_die "missing ${missing[*]} and cannot install them (need root or sudo, and apt-get); install them and retry"
	fi
	vcan_log "installing ${missing[*]} with apt-get"
	# shellcheck disable=SC2086
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 ||
		vcan_die "apt-get update failed"
	# shellcheck disable=SC2086
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
		vcan_die "apt-get install ${missing[*]} failed"
}

# Whether vcan0 and vcan1 exist natively (creating them if the kernel allows).
vcan_native_available() {
	command -v ip >/dev/null 2>&1 || return 1
	local sudo
	sudo=$(vcan_sudo)
	for i in vcan0 vcan1; do
		if ! ip link show "$i" >/dev/null 2>&1; then
			[ "$sudo" = NO-ROOT ] && return 1
			$sudo modprobe vcan >/dev/null 2>&1 || true
			$sudo ip link add "$i" type vcan >/dev/null 2>&1 || return 1
		fi
		ip -details link show "$i" 2>/dev/null | grep -q vcan || return 1
	done
	for i in vcan0 vcan1; do
		if ! ip link show "$i" | grep -q ',UP'; then
			[ "$sudo" = NO-ROOT ] && return 1
			$sudo ip link set up "$i" || return 1
		fi
	done
	return 0
}

vcan_choose_mode() {
	case "${CANRELEARN_VCAN_MODE:-auto}" in
	native)
		vcan_native_available || vcan_die "CANRELEARN_VCAN_MODE=native but vcan0/vcan1 are not available (sudo modprobe vcan; sudo ip link add vcan0 type vcan; sudo ip link set up vcan0; same for vcan1)"
		echo native
		;;
	vm) echo vm ;;
	auto)
		if vcan_native_available; then echo native; else echo vm; fi
		;;
	*) vcan_die "CANRELEARN_VCAN_MODE must be native, vm or auto, not '$CANRELEARN_VCAN_MODE'" ;;
	esac
}

# The newest installed kernel under /boot that has the vcan module and is readable.
vcan_pick_kernel() {
	local k v best=""
	for k in /boot/vmlinuz-*; do
		[ -r "$k" ] || continue
		v=${k#/boot/vmlinuz-}
		if modinfo -k "$v" -n vcan >/dev/null 2>&1; then best=$v; fi
	done
	echo "$best"
}

# Modules to load in the guest, dependencies first.
VCAN_GUEST_MODULES="virtio_pci 9pnet_virtio 9p can can-raw can-bcm can-isotp can-gw vcan sch_tbf"

# Prints module names in dependency order (deps before users), each once.
vcan_module_order() {
	local kver=$1
	shift
	local -A seen=()
	local out=()
	_visit() {
		local m=$1 d path
		[ -n "${seen[$m]:-}" ] && return 0
		seen[$m]=1
		path=$(modinfo -k "$kver" -n "$m" 2>/dev/null) || return 0
		[ "$path" = "(builtin)" ] && return 0
		for d in $(modinfo -k "$kver" -F depends "$m" | tr ',' ' '); do _visit "$d"; done
		out+=("$m")
	}
	local m
	for m in "$@"; do _visit "$m"; done
	printf '%s\n' "${out[@]}"
}

# Builds (or reuses) the initramfs for kernel $1; prints its path.
vcan_initramfs() {
	local kver=$1 init="$VCAN_REPO/tests/vm/guest-init.sh" busybox
	busybox=$(command -v busybox)
	local key
	key=$( (cat "$init" && echo "$VCAN_GUEST_MODULES") | sha256sum | cut -c1-12)
	local out="$VCAN_CACHE/initramfs-$kver-$key.cpio.gz"
	if [ -s "$out" ]; then
		echo "$out"
		return 0
	fi
	vcan_log "building initramfs for $kver (cached as $out)"
	local root
	root=$(mktemp -d)
	mkdir -p "$root"/{bin,dev,proc,sys,host,lib/modules}
	cp "$busybox" "$root/bin/busybox"
	cp "$init" "$root/init"
	chmod +x "$root/init"
	local m path name
	: >"$root/modules.order"
	for m in $(vcan_module_order "$kver" $VCAN_GUEST_MODULES); do
		path=$(modinfo -k "$kver" -n "$m")
		name=$(basename "$path")
		case "$name" in
		*.ko.xz) xz -dc "$path" >"$root/lib/modules/${name%.xz}" ;;
		*.ko.zst) zstd -qdc "$path" >"$root/lib/modules/${name%.zst}" ;;
		*.ko.gz) gzip -dc "$path" >"$root/lib/modules/${name%.gz}" ;;
		*) cp "$path" "$root/lib/modules/$name" ;;
		esac
		echo "${name%%.ko*}" >>"$root/modules.order"
	done
	mkdir -p "$VCAN_CACHE"
	rm -f "$VCAN_CACHE/initramfs-$kver-"*.cpio.gz
	(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$out.tmp"
	mv "$out.tmp" "$out"
	rm -rf "$root"
	echo "$out"
}

# Writes the script the guest (or the native host) runs around the payload.
vcan_wrapper() {
	local payload=$1 results=$2 status_file=$3
	cat <<EOF
#!/bin/bash
export PATH='$PATH'
export HOME='${HOME:-/root}'
export LANG=C.UTF-8
export CANRELEARN_VCAN=vcan0,vcan1
export RESULTS='$results'
export RUST_BACKTRACE=1
cd '$VCAN_REPO' || exit 90
for i in vcan0 vcan1; do
	ip link show "\$i" >/dev/null 2>&1 || ip link add "\$i" type vcan || exit 91
	ip link set "\$i" up || exit 92
done
bash '$payload' 2>&1 | tee '$results/output.log'
echo \${PIPESTATUS[0]} >'$status_file'
EOF
}

# Python's kernel ISO-TP bindings (pip package can-isotp), used by ISO-TP tests as a peer.
# Installed into the host's python3 when missing (the VM uses the host's python through 9p);
# a warning, not a failure, when that is impossible: only tests that use it need it.
vcan_need_python_isotp() {
	command -v python3 >/dev/null 2>&1 || {
		vcan_log "warning: no python3; tests using Python's can-isotp will fail"
		return 0
	}
	python3 -c 'import isotp' >/dev/null 2>&1 && return 0
	vcan_log "installing can-isotp into $(command -v python3) with pip"
	python3 -m pip install -q can-isotp >&2 2>/dev/null ||
		python3 -m pip install -q --break-system-packages can-isotp >&2 2>/dev/null ||
		vcan_log "warning: could not pip install can-isotp; tests using it will fail"
}

# Runs the payload natively; returns its status.
vcan_run_native() {
	local payload=$1
	local sudo
	sudo=$(vcan_sudo)
	[ "$sudo" = NO-ROOT ] && vcan_die "native vcan needs root for ip link changes; run as root or allow sudo -n"
	mkdir -p "$VCAN_RESULTS"
	command -v candump >/dev/null 2>&1 || vcan_need_packages "command -v candump" can-utils
	vcan_need_python_isotp
	vcan_wrapper "$payload" "$VCAN_RESULTS" "$VCAN_RESULTS/status" >"$VCAN_RESULTS/wrapper.sh"
	$sudo bash "$VCAN_RESULTS/wrapper.sh"
	[ -s "$VCAN_RESULTS/status" ] || vcan_die "the payload did not record an exit status"
	return "$(cat "$VCAN_RESULTS/status")"
}

# Runs the payload in a QEMU guest; returns its status.
vcan_run_vm() {
	local payload=$1
	vcan_need_packages \
		"command -v qemu-system-x86_64" qemu-system-x86 \
		"command -v busybox && busybox --list | grep -qx insmod && file -L \$(command -v busybox) | grep -q static" busybox-static \
		"command -v candump" can-utils \
		"command -v ip" iproute2 \
		"command -v modinfo" kmod \
		"command -v cpio" cpio \
		"command -v file" file \
		"ls /boot/vmlinuz-* && [ -n \"\$(vcan_pick_kernel)\" ]" linux-image-amd64
	vcan_need_python_isotp
	local kver
	kver=$(vcan_pick_kernel)
	[ -n "$kver" ] || vcan_die "no readable kernel with the vcan module under /boot and /lib/modules"
	local initrd
	initrd=$(vcan_initramfs "$kver")
	mkdir -p "$VCAN_RESULTS"
	cp "$payload" "$VCAN_RESULTS/payload.sh"
	vcan_wrapper /tmp/vm-results/payload.sh /tmp/vm-results /tmp/vm-results/status >"$VCAN_RESULTS/wrapper.sh"
	rm -f "$VCAN_RESULTS/status"
	# The guest's /tmp is a fresh tmpfs: re-expose the repository and VCAN_KEEP_PATHS if they
	# live under the host's /tmp.
	local p
	: >"$VCAN_RESULTS/keep-paths"
	for p in "$VCAN_REPO" ${VCAN_KEEP_PATHS:-}; do
		p=$(realpath -m "$p")
		case "$p" in /tmp/?*) echo "$p" >>"$VCAN_RESULTS/keep-paths" ;; esac
	done
	local smp=2
	# -cpu max: the default TCG CPU model lacks instructions numpy 2 needs, so a Python peer
	# importing it (python-can does when asammdf is installed) died with "Illegal instruction".
	vcan_log "booting QEMU (TCG, kernel $kver, timeout ${VCAN_VM_TIMEOUT}s)"
	local rc=0
	timeout -k 10 "$VCAN_VM_TIMEOUT" qemu-system-x86_64 \
		-accel tcg -cpu max -smp "$smp" -m 1024 \
		-nodefaults -display none -serial stdio -no-reboot -net none \
		-kernel "/boot/vmlinuz-$kver" -initrd "$initrd" \
		-append "console=ttyS0 quiet panic=-1" \
		-virtfs local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap \
		-virtfs "local,path=$VCAN_RESULTS,mount_tag=results,security_model=none,multidevs=remap" \
		</dev/null | tr -d '\r' || rc=$?
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		vcan_die "the VM did not finish within ${VCAN_VM_TIMEOUT}s (VCAN_VM_TIMEOUT) and was killed"
	fi
	[ "$rc" = 0 ] || vcan_die "qemu-system-x86_64 exited with status $rc"
	[ -s "$VCAN_RESULTS/status" ] || vcan_die "the VM exited without recording the payload's exit status (see the console output above)"
	return "$(cat "$VCAN_RESULTS/status")"
}

# vcan_run PAYLOAD: picks the mode, prints it, runs the payload, returns its status.
# Call it with errexit on and not in an `||`/`if` context, so failures inside abort the run.
vcan_run() {
	local payload=$1 mode
	VCAN_RESULTS=${VCAN_RESULTS:-"$VCAN_REPO/target/vm/last-run"}
	rm -rf "$VCAN_RESULTS"
	mode=$(vcan_choose_mode)
	[ -n "$mode" ] || vcan_die "could not choose between native vcan and the VM"
	case "$mode" in
	native)
		vcan_log "mode: NATIVE (this kernel has vcan; using vcan0 and vcan1)"
		vcan_run_native "$payload"
		;;
	vm)
		vcan_log "mode: VM (no usable vcan in this kernel; running inside QEMU)"
		vcan_run_vm "$payload"
		;;
	esac
}

#!/bin/busybox sh
# /init of the vcan test VM (see tests/vm/vcan-env.sh): loads the CAN and 9p modules, mounts the
# host's / (read-only, 9p tag "host") and the results share (9p tag "results"), gives the chroot
# a fresh tmpfs /tmp (re-exposing the host paths under /tmp listed in the share's keep-paths,
# such as a repository cloned under /tmp), chroots into the host's / and runs
# /tmp/vm-results/wrapper.sh there, then powers off.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
while read -r m; do
	insmod "/lib/modules/$m.ko" || echo "[vm] insmod $m failed"
done </modules.order
P9="trans=virtio,version=9p2000.L,msize=512000"
mkdir -p /results /host-tmp
if ! mount -t 9p -o "$P9" host /host || ! mount -t 9p -o "$P9" results /results; then
	echo "[vm] cannot mount the 9p shares"
	poweroff -f
fi
mount -t proc proc /host/proc
mount -t sysfs sys /host/sys
mount -o bind /dev /host/dev
mount -o bind /host/tmp /host-tmp
mount -t tmpfs -o mode=1777 tmp /host/tmp
if [ -f /results/keep-paths ]; then
	while read -r p; do
		rel=${p#/tmp/}
		[ -e "/host-tmp/$rel" ] || continue
		mkdir -p "/host/tmp/$rel"
		mount -o bind "/host-tmp/$rel" "/host/tmp/$rel"
	done </results/keep-paths
fi
mkdir -p /host/tmp/vm-results
mount -o bind /results /host/tmp/vm-results
mount -t tmpfs run /host/run 2>/dev/null
ip link set lo up 2>/dev/null
echo "[vm] guest up: $(uname -r), running the payload"
chroot /host /bin/bash /tmp/vm-results/wrapper.sh
echo "[vm] payload finished, powering off"
sync
poweroff -f

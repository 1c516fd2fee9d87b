#!/bin/busybox sh
# /init of the vcan test VM (see tests/vm/vcan-env.sh): loads the CAN and 9p modules, mounts the
# host's / (read-only, 9p tag "host") and the results share (9p tag "results"), chroots into the
# host's / and runs /tmp/vm-results/wrapper.sh there, then powers off.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
while read -r m; do
	insmod "/lib/modules/$m.ko" || echo "[vm] insmod $m failed"
done </modules.order
P9="trans=virtio,version=9p2000.L,msize=512000"
if ! mount -t 9p -o "$P9" host /host; then
	echo "[vm] cannot mount the host share"
	poweroff -f
fi
mount -t proc proc /host/proc
mount -t sysfs sys /host/sys
mount -o bind /dev /host/dev
mount -t tmpfs -o mode=1777 tmp /host/tmp
mkdir -p /host/tmp/vm-results
mount -t 9p -o "$P9" results /host/tmp/vm-results
mount -t tmpfs run /host/run 2>/dev/null
ip link set lo up 2>/dev/null
echo "[vm] guest up: $(uname -r), running the payload"
chroot /host /bin/bash /tmp/vm-results/wrapper.sh
echo "[vm] payload finished, powering off"
sync
poweroff -f

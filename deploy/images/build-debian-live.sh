#!/usr/bin/env bash
# Builds liveboot's Debian live image from Debian packages only: debootstrap (minbase) + live-boot + cloud-init +
# openssh-server, a zstd squashfs, and a hybrid BIOS/UEFI ISO made by grub-mkrescue. Root is locked (keys come from
# the cidata seed), host keys are made at each boot, the console is on the serial port too.
#
# Usage: build-debian-live.sh [--release bookworm] OUTPUT_DIR        (as root, on Debian or Ubuntu)
# Writes OUTPUT_DIR/debian-12-liveboot.iso and the short name OUTPUT_DIR/debian12 (a symlink); prints size and
# build time. Environment: MIRROR (default http://deb.debian.org/debian), WORK (default
# /var/tmp/liveboot-debian-live: chroot and package caches, reused while the package list is unchanged).
set -euo pipefail

release=bookworm
if [ "${1:-}" = "--release" ]; then release=${2:?--release needs a name}; shift 2; fi
out=${1:?usage: build-debian-live.sh [--release bookworm] OUTPUT_DIR}
case "$release" in
  bookworm) number=12 ;; trixie) number=13 ;; bullseye) number=11 ;;
  *) echo "build-debian-live.sh: unknown release $release (bookworm, trixie, bullseye)" >&2; exit 2 ;;
esac
mirror=${MIRROR:-http://deb.debian.org/debian}
work=${WORK:-/var/tmp/liveboot-debian-live}/$release
root=$work/chroot
tree=$work/iso
name=debian-$number-liveboot.iso

[ "$(id -u)" -eq 0 ] || { echo "build-debian-live.sh: run as root (debootstrap, chroot, mounts)" >&2; exit 3; }
missing=()
for tool in debootstrap:debootstrap mksquashfs:squashfs-tools grub-mkrescue:grub-common xorriso:xorriso mformat:mtools; do
  command -v "${tool%%:*}" >/dev/null || missing+=("${tool##*:}")
done
[ -d /usr/lib/grub/i386-pc ] || missing+=(grub-pc-bin)
[ -d /usr/lib/grub/x86_64-efi ] || missing+=(grub-efi-amd64-bin)
if [ ${#missing[@]} -gt 0 ]; then
  echo "build-debian-live.sh: apt-get install ${missing[*]}" >&2; exit 3
fi

started=$(date +%s)
say() { echo "[debian-live $(( $(date +%s) - started ))s] $*"; }

# Maintainer scripts get a fresh proc and a read-only sys — never the host's /dev: a udev postinst there re-groups
# device nodes such as /dev/kvm with the chroot's group ids (seen on this kind of machine).
mounted=()
unmount_all() { local i; for (( i=${#mounted[@]}-1; i>=0; i-- )); do umount -l "${mounted[$i]}" 2>/dev/null || true; done; mounted=(); }
trap unmount_all EXIT
mount_kernel_fs() {
  mkdir -p "$root/proc" "$root/sys"
  mount -t proc proc "$root/proc"; mounted+=("$root/proc")
  mount -t sysfs -o ro sysfs "$root/sys"; mounted+=("$root/sys")
}
in_root() { chroot "$root" /usr/bin/env DEBIAN_FRONTEND=noninteractive LC_ALL=C "$@"; }

packages="linux-image-amd64 live-boot systemd-sysv udev dbus kmod zstd iproute2 procps cloud-init openssh-server"
stamp="$release $mirror $packages"
mkdir -p "$work/cache/debootstrap" "$work/cache/apt"
if [ "$(cat "$work/chroot.stamp" 2>/dev/null)" != "$stamp" ] || [ ! -x "$root/usr/bin/cloud-init" ]; then
  rm -rf "$root" "$work/chroot.stamp"
  say "debootstrap --variant=minbase $release (packages cached in $work/cache)"
  debootstrap --variant=minbase --cache-dir="$work/cache/debootstrap" "$release" "$root" "$mirror" > "$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  echo "deb $mirror $release main" > "$root/etc/apt/sources.list"
  printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"; chmod +x "$root/usr/sbin/policy-rc.d"
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\nAcquire::Languages "none";\n' > "$root/etc/apt/apt.conf.d/90liveboot"
  mount_kernel_fs
  mkdir -p "$root/var/cache/apt/archives"; mount --bind "$work/cache/apt" "$root/var/cache/apt/archives"; mounted+=("$root/var/cache/apt/archives")
  say "apt-get install $packages"
  in_root sh -c "apt-get update -qq && apt-get install -y -qq $packages" > "$work/apt.log" 2>&1 || { tail -30 "$work/apt.log" >&2; exit 1; }
  unmount_all
  echo "$stamp" > "$work/chroot.stamp"
else
  say "reusing the chroot of a previous build ($work)"
fi

say "configuring: DHCP, cloud-init NoCloud, sshd, serial console, locked root"
echo liveboot > "$root/etc/hostname"
cat > "$root/etc/systemd/network/80-dhcp.network" <<'NET'
[Match]
Name=en* eth*

[Network]
DHCP=ipv4
LinkLocalAddressing=no
IPv6AcceptRA=no
NET
mkdir -p "$root/etc/systemd/system/systemd-networkd-wait-online.service.d"
printf '[Service]\nExecStart=\nExecStart=/lib/systemd/systemd-networkd-wait-online --any --timeout=30\n' \
  > "$root/etc/systemd/system/systemd-networkd-wait-online.service.d/liveboot.conf"
cat > "$root/etc/cloud/cloud.cfg.d/90-liveboot.cfg" <<'CFG'
# The seed is a filesystem labelled cidata (a virtual CD or floppy): nothing else is looked for.
datasource_list: [ NoCloud, None ]
# The image brings the network up itself (systemd-networkd).
network: {config: disabled}
# A short first boot: one host key type (RSA generation takes tens of seconds without hardware acceleration),
# no locale generation.
ssh_genkeytypes: [ed25519]
locale: false
CFG
rm -f "$root"/etc/ssh/ssh_host_*
mkdir -p "$root/etc/systemd/system/ssh.service.d"
# cloud-init makes the host key before sshd starts; this only covers a boot without a seed.
printf '[Service]\nExecStartPre=-/bin/sh -c "ls /etc/ssh/ssh_host_*_key >/dev/null 2>&1 || ssh-keygen -q -t ed25519 -N \\"\\" -f /etc/ssh/ssh_host_ed25519_key"\n' \
  > "$root/etc/systemd/system/ssh.service.d/liveboot.conf"
: > "$root/etc/machine-id"; rm -f "$root/var/lib/dbus/machine-id"
in_root systemctl enable systemd-networkd.service ssh.service serial-getty@ttyS0.service serial-getty@ttyS1.service >/dev/null 2>&1
in_root systemctl mask apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer \
  e2scrub_reap.service fstrim.timer >/dev/null 2>&1 || true
in_root passwd -l root >/dev/null

say "trimming documentation, locales and kernel modules no server needs"
rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* \
  "$root"/var/lib/apt/lists/* "$root"/var/log/*.log
kernel=$(ls "$root/lib/modules" | sort -V | tail -1)
modules=$root/lib/modules/$kernel/kernel
for tree_part in drivers/gpu drivers/media drivers/net/wireless drivers/infiniband drivers/staging drivers/iio \
  drivers/bluetooth drivers/isdn drivers/input/joystick drivers/input/touchscreen drivers/usb/serial drivers/mtd \
  drivers/thunderbolt drivers/net/can sound net/bluetooth net/wireless net/mac80211 fs/ocfs2 fs/gfs2; do
  rm -rf "${modules:?}/$tree_part"
done
in_root depmod -a "$kernel"

say "initramfs with live-boot ($kernel, zstd)"
mount_kernel_fs
sed -i 's/^COMPRESS=.*/COMPRESS=zstd/' "$root/etc/initramfs-tools/initramfs.conf"
in_root update-initramfs -u -k "$kernel" > "$work/initramfs.log" 2>&1 || { tail -20 "$work/initramfs.log" >&2; exit 1; }
unmount_all

say "squashfs (zstd, 256 KiB blocks: much faster to read than xz under emulation)"
rm -rf "$tree"; mkdir -p "$tree/live" "$tree/boot/grub"
cp "$root/boot/vmlinuz-$kernel" "$tree/live/vmlinuz"
cp "$root/boot/initrd.img-$kernel" "$tree/live/initrd.img"
mksquashfs "$root" "$tree/live/filesystem.squashfs" -noappend -comp zstd -Xcompression-level 15 -b 256K -wildcards \
  -e boot 'var/cache/apt/archives/*' 'usr/sbin/policy-rc.d' > "$work/squashfs.log" 2>&1 || { tail -20 "$work/squashfs.log" >&2; exit 1; }
cat > "$tree/boot/grub/grub.cfg" <<GRUB
set timeout=1
set default=0
serial --unit=0 --speed=115200
terminal_input console serial
terminal_output console serial
menuentry "Debian $number live (liveboot: cloud-init NoCloud + sshd)" {
  linux /live/vmlinuz boot=live nopersistence console=tty0 console=ttyS0,115200 console=ttyS1,115200
  initrd /live/initrd.img
}
GRUB

say "grub-mkrescue: hybrid BIOS + UEFI ISO"
mkdir -p "$out"
grub-mkrescue -o "$out/$name.partial" "$tree" -- -volid "DEBIAN${number}LIVE" > "$work/grub-mkrescue.log" 2>&1 \
  || { rm -f "$out/$name.partial"; tail -20 "$work/grub-mkrescue.log" >&2; exit 1; }
mv "$out/$name.partial" "$out/$name"
ln -sfn "$name" "$out/debian$number"
bytes=$(stat -c %s "$out/$name")
echo "$out/$name: $(( bytes / 1048576 )) MiB ($bytes bytes), kernel $kernel, short name debian$number, built in $(( $(date +%s) - started )) s"

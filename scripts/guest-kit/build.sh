#!/usr/bin/env bash
# Snapfleet guest kit: builds (once, cached) a tiny bootable Linux guest for real-QEMU tests —
# the host's Debian kernel (unpacked to a PVH-bootable ELF when possible) + a gzip'd newc initramfs
# holding busybox-static, the virtio modules (virtio_pci, virtio_blk and their dependencies,
# decompressed) and snapfleet-guest (C, gcc -static). Boot to READY ≈ 5 s under TCG.
# Owns: scripts/guest-kit/*. Used by tests/support/guest-kit.ts (ensureGuestKit / startGuestKitVm).
#
# Usage: bash scripts/guest-kit/build.sh      → prints "kernel=<path>", "initrd=<path>" and
#   "initrd_agent=<path>" on stdout. initrd-agent.gz is initrd.gz with a second cpio archive appended
#   (the kernel unpacks both): the guest agent's modules, qemu-ga and its libraries — only VMs that run
#   the agent pay for its size at boot.
# Cache: ${SNAPFLEET_CACHE_DIR:-<repo>/.cache}/guest-kit/<kver>-<key>/{kernel,initrd.gz,initrd-agent.gz} with key =
#   sha256 of this directory's files + kernel version/size/mtime + gcc and busybox versions: editing the
#   kit rebuilds it. Builds are serialised with flock and published by an atomic rename, so concurrent
#   callers are safe. Kits of other keys older than a day are pruned. Build ≈ 3 s, cached call ≈ 50 ms.
# Needs (Debian): bash coreutils findutils util-linux cpio gzip gcc libc6-dev busybox-static
#   linux-image-amd64 binutils (readelf) xz-utils (Debian's kernel is XZ-packed; zstd if modules are
#   .ko.zst). No network.
# Env: SNAPFLEET_GUEST_KERNEL_VERSION picks a kernel under /boot (default: newest with /lib/modules).
#
# ---------------------------------------------------------------- guest protocol
# Boot: qemu … -kernel <kernel> -initrd <initrd> -append "console=ttyS0 quiet panic=-1 snapfleet.…"
#   (+ -no-reboot so a guest panic ends QEMU). Kernel command-line parameters:
#   snapfleet.dirty_mib=N   RAM dirtier/checker buffer, MiB (default 16; 0 = off)
#   snapfleet.fill_mib=N    N MiB of RAM written once at boot, then left alone (resident; default 0)
#   snapfleet.disk=1        disk counter/checker on snapfleet.disk_dev (default /dev/vda; default off)
#   snapfleet.disk_ms=M     one disk check+write every M ms (default 50)
#   snapfleet.tick_ms=M     tick/report period (default 1000)
#   snapfleet.mode=shell    debugging only: a busybox shell on the console instead of the workload
#   snapfleet.agent=1       also run the QEMU guest agent (opt-in; docs/quiesce.md): loads virtio_console
#                           and ext4, makes an ext2 filesystem on snapfleet.agent_fs (default /dev/vdb; its
#                           contents are lost) mounted at /data, and starts qemu-ga on the virtio-serial
#                           port named org.qemu.guest_agent.0, with fsfreeze-hook (a test can delay
#                           the freeze's answer: see that file). Boot initrd-agent.gz for it. Needs
#                           qemu-guest-agent on the build machine (its qemu-ga and shared libraries are
#                           copied in); without it the kit prints "ERROR qemu-ga is not in this kit" and
#                           runs the workload without an agent.
# Serial lines (ttyS0), one write(2) each:
#   FILLED mib=<N>                                         fill_mib written (before READY)
#   AGENT port=<dev> fs=<dev>                              qemu-ga started (snapfleet.agent=1, before READY)
#   READY dirty_mib=<N> pages=<P> disk=</dev/vda|off>      the workload is running
#   DISK START n=<n> dev=<dev>                             counter found on the disk at boot (0 if new)
#   tick <t> sweep=<s> disk_n=<n>                          every tick_ms; t counts from 1 per boot
#   DISK CONSISTENT n=<n> checks=<c>                       after each tick line, if no mismatch ever
#   DISK MISMATCH ram=<n> disk=<m|invalid>[ mismatches=<k>] at detection and then after each tick line
#   RAM CONSISTENT sweep=<s> pages=<P>                     end of a sweep, at most ~1/s, no corruption ever
#   RAM CORRUPT pages=<k> sweep=<s> first=<i> found_gen=<g> expected_gen=<e>   (cumulative since boot)
#   ERROR … / FAILED                                       set-up failed (no READY will follow)
# Checkers: they run continuously — every page is verified just before it is rewritten, the disk
#   record just before it is rewritten (see snapfleet-guest.c) — so a restored guest needs no trigger.
#   A snapshot can fall between a check and the line reporting it, so after a restore the FIRST report
#   of each kind may describe pre-snapshot work: the SECOND RAM line and the SECOND DISK line printed by
#   the restored QEMU cover the whole restored state (every page re-verified, final CORRUPT count);
#   any MISMATCH/CORRUPT line already means failure. tests/support/guest-kit.ts waitForGuestVerdict()
#   implements this rule (≈ 2 s after cont).
#
# ---------------------------------------------------------------- how a restore must be started
# The destination QEMU must present the same machine as the source, or the vmstate is refused:
#   same -machine (q35) and accelerator, same -m, same memory backend and id (mem0 for memfd; none for
#   plain RAM), same devices in the same order (virtio-blk-pci id=vd0…, isa-serial), and a disk holding
#   the snapshot's disk contents: a NEW top image, never the snapshot's own file:
#     qemu-img create -f qcow2 -b <snapshot-disk.qcow2> -F qcow2 <top.qcow2>
#   With tests/support: startVm({ ...await guestKitVmOptions(sameOpts), incoming: true,
#   diskPaths: [top] }) (QEMU runs with -S -incoming defer), then over QMP: qmp_capabilities;
#   migrate-incoming {"uri":"exec:cat <vmstate>"}; poll query-migrate until status "completed"; cont.
#   Pass the same -kernel/-initrd/-append too (guestKitVmOptions does). QEMU 7.2 was seen restoring
#   without them (the running kernel is in the RAM image), but identical options are the safe rule.
set -euo pipefail

KIT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$KIT_DIR/../.." && pwd)
CACHE_ROOT=${SNAPFLEET_CACHE_DIR:-$REPO_DIR/.cache}/guest-kit
MODULES_WANTED=(virtio_pci virtio_blk)
# Loaded only with snapfleet.agent=1 (the guest agent's port and the filesystem it freezes).
MODULES_AGENT=(virtio_console crc32c_generic ext4) # ext4 needs a crc32c driver (a soft dependency modules.dep omits)
QEMU_GA=$(command -v qemu-ga || true)

die() { echo "guest-kit: $*" >&2; exit 1; }

pick_kernel() {
  if [[ -n "${SNAPFLEET_GUEST_KERNEL_VERSION:-}" ]]; then echo "$SNAPFLEET_GUEST_KERNEL_VERSION"; return; fi
  local v best=""
  for k in /boot/vmlinuz-*; do
    v=${k#/boot/vmlinuz-}
    [[ -d /lib/modules/$v ]] && best=$(printf '%s\n%s\n' "$best" "$v" | sed '/^$/d' | sort -V | tail -n1)
  done
  [[ -n "$best" ]] || die "no /boot/vmlinuz-* with matching /lib/modules (apt-get install linux-image-amd64)"
  echo "$best"
}

for tool in gcc cpio gzip flock sha256sum; do
  command -v "$tool" >/dev/null || die "missing $tool"
done
BUSYBOX=$(command -v busybox || true)
[[ -n "$BUSYBOX" ]] && file_is_static=$(ldd "$BUSYBOX" 2>&1 || true)
[[ -n "$BUSYBOX" && "$file_is_static" == *"not a dynamic executable"* ]] ||
  die "need a static busybox (apt-get install busybox-static)"

KVER=$(pick_kernel)
KERNEL=/boot/vmlinuz-$KVER
MODDIR=/lib/modules/$KVER
[[ -r "$KERNEL" ]] || die "cannot read $KERNEL"

key=$( {
  (cd "$KIT_DIR" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
  echo "$KVER $(stat -c '%s %Y' "$KERNEL")"
  gcc -dumpfullversion
  "$BUSYBOX" --help 2>&1 | sed -n 1p # sed reads to EOF: no SIGPIPE under pipefail
  if [[ -n "$QEMU_GA" ]]; then stat -c '%s %Y' "$QEMU_GA"; fi
} | sha256sum | cut -c1-16)
OUT=$CACHE_ROOT/$KVER-$key

emit() { echo "kernel=$OUT/kernel"; echo "initrd=$OUT/initrd.gz"; echo "initrd_agent=$OUT/initrd-agent.gz"; }
[[ -f "$OUT/initrd.gz" ]] && { emit; exit 0; }

mkdir -p "$CACHE_ROOT"
exec 9>"$CACHE_ROOT/.lock"
flock 9
[[ -f "$OUT/initrd.gz" ]] && { emit; exit 0; } # another process built it while we waited

WORK=$(mktemp -d "$CACHE_ROOT/.build-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
ROOT=$WORK/root
AGENT_ROOT=$WORK/agent-root
mkdir -p "$ROOT"/{bin,dev,etc,proc,sys,tmp,lib/modules} "$AGENT_ROOT"/{etc,lib/modules}

# Modules: depth-first over modules.dep (which lists transitive deps), dependencies before users.
declare -A seen=()
order=()
dep_line() { grep -E "(^|/)$1\.ko(\.[a-z]+)?:" "$MODDIR/modules.dep" | head -n1; }
visit() {
  local rel=$1 line d
  [[ -n "${seen[$rel]:-}" ]] && return
  seen[$rel]=1
  line=$(grep -E "^${rel//./\\.}:" "$MODDIR/modules.dep" || true)
  for d in ${line#*:}; do visit "$d"; done
  order+=("$rel")
}
# One list per set: the base modules (always loaded) and the agent's (snapfleet.agent=1); a module both
# need is loaded with the first set.
add_modules() {
  local root=$1 list=$2 m line rel name
  shift 2
  order=()
  for m in "$@"; do
    line=$(dep_line "$m")
    if [[ -z "$line" ]]; then
      # Built into this kernel (=y): nothing to load.
      grep -qE "/$m\.ko" "$MODDIR/modules.builtin" 2>/dev/null || die "module $m not found for $KVER"
      continue
    fi
    visit "${line%%:*}"
  done
  : >"$root/etc/$list"
  for rel in "${order[@]}"; do
    name=$(basename "$rel")
    case "$name" in # busybox insmod cannot read compressed modules
      *.ko.xz) xz -dc "$MODDIR/$rel" >"$root/lib/modules/${name%.xz}"; name=${name%.xz} ;;
      *.ko.zst) zstd -qdc "$MODDIR/$rel" >"$root/lib/modules/${name%.zst}"; name=${name%.zst} ;;
      *.ko.gz) gzip -dc "$MODDIR/$rel" >"$root/lib/modules/${name%.gz}"; name=${name%.gz} ;;
      *) cp "$MODDIR/$rel" "$root/lib/modules/$name" ;;
    esac
    echo "$name" >>"$root/etc/$list"
  done
}
add_modules "$ROOT" modules.order "${MODULES_WANTED[@]}"
add_modules "$AGENT_ROOT" modules.agent "${MODULES_AGENT[@]}"

# The guest agent: Debian's qemu-ga with the shared libraries it links (ldd), at their own paths.
if [[ -n "$QEMU_GA" ]]; then
  install -D -m 0755 "$QEMU_GA" "$AGENT_ROOT/usr/sbin/qemu-ga"
  install -D -m 0755 "$KIT_DIR/fsfreeze-hook" "$AGENT_ROOT/etc/qemu/fsfreeze-hook"
  for lib in $(ldd "$QEMU_GA" | grep -oE '/[^ ]+\.so[^ ]*'); do
    install -D -m 0755 "$(readlink -f "$lib")" "$AGENT_ROOT$lib"
  done
fi

cp "$BUSYBOX" "$ROOT/bin/busybox"
install -m 0755 "$KIT_DIR/init" "$ROOT/init"
gcc -static -O2 -Wall -Wextra -s -o "$ROOT/bin/snapfleet-guest" "$KIT_DIR/snapfleet-guest.c"

(cd "$ROOT" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet) | gzip -6 >"$WORK/initrd.gz"
(cd "$AGENT_ROOT" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet) | gzip -6 >"$WORK/agent.cpio.gz"
cat "$WORK/initrd.gz" "$WORK/agent.cpio.gz" >"$WORK/initrd-agent.gz"

# Kernel: boot the uncompressed ELF through PVH when possible — under TCG the bzImage's own XZ
# decompression costs ~6 s of every boot (11.9 s → 5.4 s to READY measured here). Fall back to the
# bzImage when the payload cannot be found or the ELF lacks the Xen PVH entry note (type 0x12).
extract_vmlinux() {
  local magic tool off
  # grep -P byte patterns (kept as escapes: a raw NUL cannot live in a bash string).
  for pair in '\xfd7zXZ\x00:xz -dc --single-stream' '\x28\xb5\x2f\xfd:zstd -qdc' '\x1f\x8b\x08:gzip -dc'; do
    magic=${pair%%:*} tool=${pair#*:}
    command -v "${tool%% *}" >/dev/null || continue
    off=$(LC_ALL=C grep -obUaP "$magic" "$KERNEL" | head -n1 | cut -d: -f1) || true
    [[ -n "$off" ]] || continue
    # gzip/zstd complain about the bytes after the payload; the output is complete regardless.
    tail -c +$((off + 1)) "$KERNEL" | $tool >"$WORK/vmlinux" 2>/dev/null || true
    if [[ "$(head -c4 "$WORK/vmlinux" | od -An -tx1 | tr -d ' ')" == 7f454c46 ]] &&
      readelf -n "$WORK/vmlinux" 2>/dev/null | grep -qE 'PHYS32_ENTRY|type: \(0x00000012\)'; then
      return 0
    fi
  done
  return 1
}
if command -v readelf >/dev/null && extract_vmlinux; then
  mv "$WORK/vmlinux" "$WORK/kernel"
else
  echo "guest-kit: no PVH-bootable vmlinux in $KERNEL; using the bzImage (slower boots)" >&2
  cp "$KERNEL" "$WORK/kernel"
fi

mkdir -p "$WORK/out"
mv "$WORK/kernel" "$WORK/initrd.gz" "$WORK/initrd-agent.gz" "$WORK/out/"
mv -T "$WORK/out" "$OUT" # atomic publish: a reader sees the whole kit or none
# Each kit holds a ~66 MiB kernel: drop kits of other keys built more than a day ago (a day leaves
# any test run still using one — restores need the same kernel file — time to finish).
find "$CACHE_ROOT" -mindepth 1 -maxdepth 1 -type d ! -name '.*' ! -path "$OUT" -mmin +1440 -exec rm -rf {} + || true
emit

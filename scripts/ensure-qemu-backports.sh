#!/usr/bin/env bash
# A second, newer QEMU for the tests, beside the system's: Debian's backports build of QEMU (QEMU 10.0 for
# bookworm, whose own QEMU is 7.2), unpacked into .cache/qemu-backports/ — not installed, so the system's
# QEMU stays what it is. Snapshots take a different path from QEMU 9.0 on (pause-strategy.ts, point 4:
# QEMU keeps the guest paused after its setup and Snapfleet resumes it), and `npm test` runs the snapshot
# tests on both. Idempotent; works unprivileged (apt state lives in a temporary directory). Prints the
# binary's path on stdout. Packages come from the machine's Debian mirror (SNAPFLEET_DEBIAN_MIRROR to
# override), checked against Debian's archive keyring by apt.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST="$PWD/.cache/qemu-backports"
BIN="$DEST/usr/bin/qemu-system-x86_64"
if "$BIN" --version >/dev/null 2>&1; then
  echo "$BIN"
  exit 0
fi
. /etc/os-release
SUITE="${VERSION_CODENAME:?/etc/os-release names no Debian release}-backports"
MIRROR="${SNAPFLEET_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs" "$work/root"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR $SUITE main" >"$work/sources.list"
apt_opts=(
  -o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=-"
  -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o "APT::Sandbox::User=root"
  -o "Debug::NoLocking=1" -qq
)
echo "Fetching QEMU from $SUITE into $DEST" >&2
apt-get "${apt_opts[@]}" update >&2
(cd "$work/debs" && apt-get "${apt_opts[@]}" download \
  "qemu-system-x86/$SUITE" "qemu-system-common/$SUITE" "qemu-system-data/$SUITE" >&2)
for deb in "$work/debs"/*.deb; do dpkg-deb -x "$deb" "$work/root"; done
missing="$(ldd "$work/root/usr/bin/qemu-system-x86_64" | awk '/not found/ {print $1}' | tr '\n' ' ')"
if [ -n "$missing" ]; then
  echo "The $SUITE QEMU needs libraries this machine lacks: $missing(install them with apt-get)" >&2
  exit 1
fi
rm -rf "$DEST"
mkdir -p "$(dirname "$DEST")"
mv "$work/root" "$DEST"
"$BIN" --version | head -1 >&2
echo "$BIN"

#!/usr/bin/env bash
# Installs the Debian packages Snapfleet's tests need when they are missing (idempotent): QEMU and its
# image tool, Debian's Chromium for Playwright, what the guest kit is built from, and the Prometheus
# client's text-format parser that tests/metrics reads /metrics with. As root it runs
# apt-get; otherwise it names the command to run and fails.
set -euo pipefail
PACKAGES=(qemu-system-x86 qemu-utils chromium busybox-static linux-image-amd64 cpio openssh-server openssl gcc libc6-dev binutils xz-utils util-linux python3-prometheus-client qemu-guest-agent)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "Missing Debian packages: ${missing[*]}" >&2
  echo "Install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "Installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"

#!/usr/bin/env bash
# `npm test`: every test — type check, unit + integration (Vitest, real PostgreSQL and QEMU), the
# snapshot tests again on a newer QEMU (QEMU 9.0 changed who resumes the guest: both paths are tested),
# then the production build and the end-to-end journeys (Playwright in Debian's Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
export NEXT_TELEMETRY_DISABLED=1
# The code under test logs at info; in the test run only errors are shown, so a failure is found without
# scrolling through the logs of passing tests (LOG_LEVEL=info npm test to see everything).
export LOG_LEVEL="${LOG_LEVEL:-error}"
bash scripts/ensure-system-deps.sh
NEWER_QEMU="$(bash scripts/ensure-qemu-backports.sh)"
step() { printf '\n=== %s\n' "$1"; }
step "type check"; tsc --noEmit
step "unit and integration tests"; vitest run
step "snapshot tests on $("$NEWER_QEMU" --version | head -1)"
SNAPFLEET_QEMU="$NEWER_QEMU" vitest run tests/snapshots/run-snapshot.test.ts tests/snapshots/restore-consistency.test.ts \
  tests/snapshots/jobs.test.ts tests/snapshots/sink-survives-dashboard.test.ts tests/snapshots/disk-model.test.ts \
  tests/snapshots/reliability-faults.test.ts \
  tests/bench-support/pause-strategy.qemu.test.ts tests/restore/restore.qemu.test.ts
step "production build"; next build
step "end-to-end tests"; playwright test

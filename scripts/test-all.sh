#!/usr/bin/env bash
# `npm test`: every test — format and lint (prettier, eslint: only problems are printed), type check,
# unit + integration (Vitest, real PostgreSQL and QEMU), the snapshot tests again on a newer QEMU (QEMU 9.0
# changed who resumes the guest: both paths are tested), then the production build and the end-to-end journeys
# (Playwright in Debian's Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
export NEXT_TELEMETRY_DISABLED=1
# The code under test logs (at LOG_LEVEL, default info) to one file per test file, .test-logs/<test file>.log,
# not between the reporter's lines; a failed file's log path and last lines are printed after the summary.
# The journeys' dashboard logs to .test-logs/e2e/dashboard.log, whose warnings and errors are printed when
# a journey fails.
bash scripts/ensure-system-deps.sh
NEWER_QEMU="$(bash scripts/ensure-qemu-backports.sh)"
step() { printf '\n=== %s\n' "$1"; }
step "format"; npm run --silent format:check
step "lint"; npm run --silent lint
step "type check"; tsc --noEmit
step "unit and integration tests"; vitest run
step "snapshot tests on $("$NEWER_QEMU" --version | head -1)"
SNAPFLEET_QEMU="$NEWER_QEMU" SNAPFLEET_TEST_LOG_DIR=.test-logs/newer-qemu vitest run tests/snapshots/run-snapshot.qemu.test.ts tests/snapshots/restore-consistency.qemu.test.ts \
  tests/snapshots/jobs.qemu.test.ts tests/snapshots/sink-survives-dashboard.qemu.test.ts tests/snapshots/disk-model.qemu.test.ts \
  tests/snapshots/reliability-faults.qemu.test.ts \
  tests/bench-support/pause-strategy.qemu.test.ts tests/restore/restore.qemu.test.ts
step "production build"; next build
step "end-to-end tests"
playwright test || {
  log=.test-logs/e2e/dashboard.log
  printf '\nThe dashboard'"'"'s warnings and errors during the journeys (last 40; the whole log: %s):\n' "$log"
  grep -E '"level":(40|50|60)' "$log" | tail -40 | cut -c1-300 || true
  exit 1
}

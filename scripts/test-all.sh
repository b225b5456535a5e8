#!/usr/bin/env bash
# `npm test`: every test — type check, unit + integration (Vitest, real PostgreSQL and QEMU), then the
# production build and the end-to-end journeys (Playwright in Debian's Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
export NEXT_TELEMETRY_DISABLED=1
bash scripts/ensure-system-deps.sh
step() { printf '\n=== %s\n' "$1"; }
step "type check"; tsc --noEmit
step "unit and integration tests"; vitest run
step "production build"; next build
step "end-to-end tests"; playwright test

// The proof that a live snapshot is consistent: snapshot the guest-kit VM while it dirties RAM and
// writes its disk counter, restore disks + vmstate into a FRESH QEMU (tests/support/restore.ts), and
// let the guest's own checkers judge: RAM point-in-time (no torn page) and the disk counter matching
// RAM (same instant). The checkers' negative controls (a disk from another instant → MISMATCH, old RAM
// pages → CORRUPT) are proven in tests/harness/guest-kit.qemu.test.ts.
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Host } from "../../lib/db/generated/client";
import { hostFilesFor } from "../../lib/fleet/host-files";
import { connectQmp, type QmpClient } from "../../lib/qmp";
import { runSnapshot } from "../../lib/snapshots/run-snapshot";
import { parseGuestTicks, startGuestKitVm, type GuestKitOptions } from "../support/guest-kit";
import { disposeAllVms, type TestVm } from "../support/qemu";
import { expectRestoresConsistent } from "../support/restore";

// A restore must use these exact options again (same -m, kernel/initrd/append, devices).
const GUEST: GuestKitOptions = { name: "rc", memoryMiB: 160, dirtyMiB: 16, diskCounter: true, diskIntervalMs: 20 };

let work: string;
let source: TestVm;
let qmp: QmpClient;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), "snapfleet-rc-"));
  source = await startGuestKitVm(GUEST);
  qmp = await connectQmp({ kind: "unix", path: source.qmpSocket });
});

afterAll(async () => {
  await qmp?.close();
  await disposeAllVms();
  await rm(work, { recursive: true, force: true });
});

it("a live snapshot taken while the guest dirties RAM and writes its disk restores to a consistent guest", async () => {
  // Let the workload run a while so RAM and disk are busy at the snapshot instant.
  await source.waitForSerial(/^tick 3 [^\n]*\n/m, 30_000);
  const result = await runSnapshot({
    qmp,
    snapshotId: randomUUID(),
    mode: "live",
    vmDirName: "rc",
    hostKind: "local",
    hostFiles: hostFilesFor({ kind: "local" } as Host),
    snapshotRoot: work,
    hooks: { onPlan: async () => {}, onStatus: async () => {} },
  });
  expect(result.error).toBeUndefined();

  const restored = await expectRestoresConsistent(GUEST, result.files, { work, name: "rc-restore" });
  // The restored guest continues from the snapshot instant, not from boot.
  const ticks = parseGuestTicks(restored.serialOutput());
  expect(ticks[0]!.tick).toBeGreaterThan(1);
  expect(ticks[0]!.diskN).toBeGreaterThan(0);
  // The source kept running throughout.
  const from = source.serialOutput().length;
  await source.waitForSerial(/^tick [^\n]*\n/m, 20_000, from);
});

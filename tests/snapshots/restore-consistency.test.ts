// The proof that a live snapshot is consistent: snapshot the guest-kit VM while it dirties RAM and
// writes its disk counter, restore disks + vmstate into a FRESH QEMU (-incoming defer, migrate-incoming
// on a unix: socket the test streams the vmstate file into), and let the guest's own checkers judge:
// RAM point-in-time (no torn page) and the disk counter matching RAM (same instant). The checkers'
// negative controls (a disk from another instant → MISMATCH, old RAM pages → CORRUPT) are proven in
// tests/harness/guest-kit.test.ts.
import { randomUUID } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Host } from "../../lib/db/generated/client";
import { hostFilesFor } from "../../lib/fleet/host-files";
import { connectQmp, type QmpClient } from "../../lib/qmp";
import { runSnapshot } from "../../lib/snapshots/run-snapshot";
import { guestKitVmOptions, parseGuestTicks, startGuestKitVm, waitForGuestVerdict, type GuestKitOptions } from "../support/guest-kit";
import { createOverlay, disposeAllVms, startVm, type TestVm } from "../support/qemu";

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

/** Streams a vmstate file into a QEMU started with -incoming defer, then runs it. */
async function restoreInto(target: QmpClient, vmstate: string): Promise<void> {
  const socket = path.join(work, "incoming.sock");
  await target.execute("migrate-incoming", { uri: `unix:${socket}` });
  const conn = net.connect(socket);
  await new Promise<void>((resolve, reject) => conn.once("connect", resolve).once("error", reject));
  await pipeline(createReadStream(vmstate), conn);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const info = await target.queryMigrate();
    if (info.status === "completed") break;
    if (info.status === "failed" || Date.now() > deadline) throw new Error(`incoming migration ${info.status}: ${info["error-desc"] ?? "timeout"}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await target.cont();
}

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
    hooks: { onStatus: async () => {} },
  });
  expect(result.error).toBeUndefined();
  const disk = result.files.find((f) => f.role === "disk")!;
  const vmstate = result.files.find((f) => f.role === "vmstate")!;

  // Fresh QEMU: same machine, a NEW top image over the snapshot's disk (never write the snapshot's own file).
  const top = path.join(work, "restore-top.qcow2");
  await createOverlay(disk.path, top);
  const restored = await startVm({ ...(await guestKitVmOptions(GUEST)), name: "rc-restore", incoming: true, diskPaths: [top] });
  const target = await connectQmp({ kind: "unix", path: restored.qmpSocket });
  try {
    await restoreInto(target, vmstate.path);
    const verdict = await waitForGuestVerdict(restored, { timeoutMs: 60_000 });
    expect(verdict.ram).toMatchObject({ status: "consistent" });
    expect(verdict.disk).toMatchObject({ status: "consistent" });
    // The restored guest continues from the snapshot instant, not from boot.
    const ticks = parseGuestTicks(restored.serialOutput());
    expect(ticks[0]!.tick).toBeGreaterThan(1);
    expect(ticks[0]!.diskN).toBeGreaterThan(0);
  } finally {
    await target.close();
  }
  // The source kept running throughout.
  const from = source.serialOutput().length;
  await source.waitForSerial(/^tick [^\n]*\n/m, 20_000, from);
});

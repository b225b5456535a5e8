// The pause strategy's sequence (lib/snapshots/pause-steps.ts, pause-plan.ts, host-memory.ts) takes
// consistent snapshots: stop + internal disk snapshot + migrate pipelined, guest RAM collapsed back into
// 2 MiB pages between snapshots. Each snapshot is restored into a fresh QEMU whose guest checkers
// judge RAM (point-in-time) and disk (same instant as RAM) — the same proof as
// tests/snapshots/restore-consistency.qemu.test.ts, for the first and for a later snapshot.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { openFileSink } from "../../bench/lib/sink";
import { connectQmp, type QmpClient, type QmpEvent } from "../../lib/qmp";
import { recollapseGuestMemory } from "../../lib/snapshots/host-memory";
import { qemuResumesByItself } from "../../lib/snapshots/pause-plan";
import { detectPauseFacts, explainPause, layerAndStream, resumeWhenStreaming } from "../../lib/snapshots/pause-steps";
import { startGuestKitVm, type GuestKitOptions } from "../support/guest-kit";
import { disposeAllVms, type TestVm } from "../support/qemu";
import { restoreGuestKitSnapshot } from "../support/restore";

const GUEST: GuestKitOptions = { name: "ps", memoryMiB: 192, dirtyMiB: 24, diskCounter: true, diskIntervalMs: 20 };

let work: string;
let source: TestVm;
let qmp: QmpClient;
const events: QmpEvent[] = [];

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), "snapfleet-ps-"));
  source = await startGuestKitVm(GUEST);
  qmp = await connectQmp({ kind: "unix", path: source.qmpSocket });
  qmp.on("*", (e) => events.push(e));
  await qmp.migrateSetCapabilities([
    { capability: "background-snapshot", state: true },
    { capability: "events", state: true },
  ]);
});

afterAll(async () => {
  await qmp?.close();
  await disposeAllVms();
  await rm(work, { recursive: true, force: true });
});

async function snapshot(
  n: number,
): Promise<{ disk: string; internalSnapshot: string; vmstate: string; pauseMs: number }> {
  const [b] = (await qmp.queryBlock()).filter((x) => x.inserted && !x.inserted.ro);
  const node = b.inserted!["node-name"]!;
  const disk = b.inserted!.image.filename;
  const name = `ps-${n}`;
  const vmstate = path.join(work, `vmstate${n}.bin`);
  const sink = await openFileSink(work, `sink${n}`, vmstate);
  const from = events.length;
  const done = qmp.waitForEvent("MIGRATION", {
    predicate: (e) => ["completed", "failed"].includes((e.data as { status: string }).status),
    timeoutMs: 120_000,
  });
  const r = await layerAndStream(qmp, { disks: [{ node, name }], uri: sink.uri, stop: true });
  expect(r).toMatchObject({
    stopped: true,
    stopError: undefined,
    transactionError: undefined,
    migrateError: undefined,
  });
  // QEMU ≥ 9 keeps the guest paused (as we left it) after its setup: we resume it once RAM streams.
  if (!qemuResumesByItself(qmp.greeting.version.qemu)) expect(await resumeWhenStreaming(qmp)).toBe(true);
  expect((await done).data).toMatchObject({ status: "completed" });
  await sink.done;
  const mine = events.slice(from);
  const stop = mine.find((e) => e.event === "STOP")!;
  const resume = mine.find((e) => e.event === "RESUME")!;
  // The VM still runs on its own image, which now holds the snapshot's disk state inside.
  const [after] = (await qmp.queryBlock()).filter((x) => x.inserted && !x.inserted.ro);
  expect(after.inserted!.image.filename).toBe(disk);
  expect(after.inserted!.image["backing-image"]).toBeUndefined();
  expect(after.inserted!.image.snapshots?.map((s) => s.name)).toContain(name);
  return { disk, internalSnapshot: name, vmstate, pauseMs: (resume.timeUs - stop.timeUs) / 1000 };
}

async function expectConsistentRestore(
  s: { disk: string; internalSnapshot: string; vmstate: string },
  n: number,
): Promise<void> {
  const { vm, verdict } = await restoreGuestKitSnapshot(GUEST, s, { work, name: `ps-restore${n}` });
  expect(verdict.ram).toMatchObject({ status: "consistent" });
  expect(verdict.disk).toMatchObject({ status: "consistent" });
  await vm.dispose();
}

it("reads the facts of a guest-kit VM: anonymous RAM, THP as the host has it, collapsible from here", async () => {
  const facts = await detectPauseFacts(qmp, "local");
  expect(facts).toMatchObject({
    memoryKind: "anonymous",
    memoryBytes: 192 * 1024 ** 2,
    canCollapse: true,
    pid: source.pid,
  });
  expect(facts.qemuVersion.major).toBeGreaterThanOrEqual(6);
  const { plan, text } = await explainPause(qmp, "local");
  expect(plan.memory).toBe("collapse");
  expect(text).toMatch(/^Expected guest pause ≈ \d+ ms/);
});

it("first snapshot, then a snapshot after the guest RAM was collapsed, both restore consistent", async () => {
  await source.waitForSerial(/^tick 3 [^\n]*\n/m, 30_000);
  const first = await snapshot(1);
  const collapse = await recollapseGuestMemory(source.pid);
  expect(collapse.ok, collapse.reason).toBe(true);
  expect(collapse.collapsedBytes).toBeGreaterThan(0);
  const from = source.serialOutput().length;
  await source.waitForSerial(/^tick [^\n]*\n/m, 20_000, from); // the guest runs on after both
  const second = await snapshot(2);
  await expectConsistentRestore(first, 1);
  await expectConsistentRestore(second, 2);
  expect(first.pauseMs).toBeGreaterThan(0);
  expect(second.pauseMs).toBeGreaterThan(0);
}, 240_000);

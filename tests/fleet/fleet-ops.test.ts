// Fleet operations through the real route handlers and real PostgreSQL: VM tags (validation with the
// rule in the answer, persistence, publishing, the Fleet list's tag filter, schedule selectors matching
// them at fire time), "Snapshot now" for a selection (one job per VM through createSnapshotJob, per-VM
// refusals that fail nobody else, the batch's progress view, and the worker's admission holding the
// host limit over the batch's jobs), and a host's storage view (used space per VM from the snapshot
// rows, free space from a real statfs of a real directory, the next 24 h's scheduled snapshots and the
// warning when they would not fit). No QEMU here: jobs are queued, not run (e2e/fleet-bulk-snapshot.spec.ts
// runs them to completion on real VMs).
import { statfsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { GET as hostStorageRoute } from "../../app/api/hosts/[id]/storage/route";
import { GET as batchRoute } from "../../app/api/snapshots/batches/[id]/route";
import { POST as bulkRoute } from "../../app/api/snapshots/bulk/route";
import { GET as getVmRoute, PATCH as patchVmRoute } from "../../app/api/vms/[id]/route";
import { GET as listVmsRoute } from "../../app/api/vms/route";
import { db } from "../../lib/db/client";
import type { Host, Vm } from "../../lib/db/generated/client";
import { startBoss, stopBoss } from "../../lib/jobs/boss";
import { logger } from "../../lib/logger";
import { setPublisher, type RealtimeEvent } from "../../lib/realtime/publish";
import { runScheduleNow } from "../../lib/scheduler/runs";
import { admitSnapshot, setLimit } from "../../lib/snapshots/admission";
import { hostStorageJsonSchema } from "../../lib/fleet/host-storage-json";
import { bulkSnapshotResultJsonSchema, snapshotBatchDetailJsonSchema } from "../../lib/snapshots/batch-json";
import { useTestDatabase } from "../support/db";
import { createVmRow } from "../support/vm-row";

const database = useTestDatabase();
const log = logger.child({ test: "fleet-ops" });

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const qcow2 = [
  { node: "disk0", device: "vd0", format: "qcow2", file: "/var/lib/vms/a.qcow2", writable: true, sizeBytes: GiB },
];
const raw = [
  { node: "disk0", device: "vd0", format: "raw", file: "/var/lib/vms/r.img", writable: true, sizeBytes: GiB },
];

let dir: string;
let hostA: Host;
let hostB: Host;
let tlsHost: Host;
const vms: Record<string, Vm> = {};
const events: RealtimeEvent[] = [];

const ctx = (id: string) => ({ params: Promise.resolve({ id }) });
async function answer<T = Record<string, unknown>>(
  res: Response | Promise<Response>,
): Promise<{ status: number; body: T & { error?: string } }> {
  const r = await res;
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : {} };
}
const patchVm = (id: string, body: unknown) =>
  answer<{ vm: { tags: string[] } }>(
    patchVmRoute(
      new Request(`http://test/api/vms/${id}`, {
        method: "PATCH",
        body: typeof body === "string" ? body : JSON.stringify(body),
      }),
      ctx(id),
    ),
  );
const bulk = (body: unknown) =>
  answer<BulkAnswer>(
    bulkRoute(new Request("http://test/api/snapshots/bulk", { method: "POST", body: JSON.stringify(body) })),
  );

interface BulkAnswer {
  batch: { id: string; mode: string; refused: unknown[] };
  queued: Array<{ id: string; vmId: string; status: string; batchId: string }>;
  refused: Array<{ vmId: string; vmName: string | null; reason: string; snapshotId?: string }>;
  details?: { refused: BulkAnswer["refused"] };
}

async function vm(name: string, host: Host, data: Parameters<typeof createVmRow>[3] = {}): Promise<Vm> {
  const row = await createVmRow(host, name, dir, { disks: qcow2, ...data });
  vms[name] = row;
  return row;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "sf-fleet-ops-"));
  hostA = await db().host.create({
    data: { name: "ops-a", kind: "local", socketDir: dir, snapshotDir: dir, healthy: true },
  });
  hostB = await db().host.create({
    data: { name: "ops-b", kind: "local", socketDir: dir, snapshotDir: path.join(dir, "missing-dir"), healthy: true },
  });
  tlsHost = await db().host.create({
    data: { name: "ops-tls", kind: "tls", snapshotDir: "/var/lib/snapfleet/snaps", tlsEndpoints: [], healthy: true },
  });
  await vm("web-1", hostA);
  await vm("web-2", hostA);
  await vm("web-3", hostA);
  await vm("db-1", hostB);
  await vm("rawdisk", hostA, { disks: raw });
  await vm("stopped", hostA, { state: "shutdown" });
  await vm("remote", tlsHost);
  await vm("big", hostA, { memoryBytes: BigInt(4096) * BigInt(GiB) });
  await startBoss(database.current.url, log);
  setPublisher(async (e) => void events.push(e));
});

afterAll(async () => {
  setPublisher(undefined);
  await stopBoss();
  await rm(dir, { recursive: true, force: true });
});

describe("VM tags: PATCH /api/vms/{id}", () => {
  test("tags are stored (trimmed, duplicates dropped), returned by GET and published to open pages", async () => {
    events.length = 0;
    const { status, body } = await patchVm(vms["web-1"]!.id, {
      tags: [" tier-1", "db:primary", "tier-1", "eu_west.2"],
    });
    expect(status).toBe(200);
    expect(body.vm.tags).toEqual(["tier-1", "db:primary", "eu_west.2"]);
    expect(
      (await answer<{ tags: string[] }>(getVmRoute(new Request("http://test"), ctx(vms["web-1"]!.id)))).body.tags,
    ).toEqual(["tier-1", "db:primary", "eu_west.2"]);
    const topics = events.filter((e) => e.name === "vm.updated").map((e) => e.topic);
    expect(topics).toEqual(expect.arrayContaining([`vm:${vms["web-1"]!.id}`, "fleet"]));
    expect(await patchVm(vms["web-2"]!.id, { tags: ["tier-2"] })).toMatchObject({ status: 200 });
    expect(await patchVm(vms["db-1"]!.id, { tags: ["db:replica"] })).toMatchObject({ status: 200 });
  });

  test("a tag breaking the rule is a 422 that states the rule; nothing is changed", async () => {
    for (const bad of [["Web"], ["has space"], ["x".repeat(33)], [""], Array.from({ length: 21 }, (_, i) => `t${i}`)]) {
      const { status, body } = await patchVm(vms["web-1"]!.id, { tags: bad });
      expect(status, JSON.stringify(bad)).toBe(422);
      expect(body.error).toContain("lowercase letters, digits and - _ . :");
      expect(body.error).toMatch(/1–32 characters/);
    }
    expect((await db().vm.findUniqueOrThrow({ where: { id: vms["web-1"]!.id } })).tags).toEqual([
      "tier-1",
      "db:primary",
      "eu_west.2",
    ]);
  });

  test("a body of the wrong shape is a 400 naming the field; an unknown VM is a 404", async () => {
    expect(await patchVm(vms["web-1"]!.id, "{nope")).toEqual({
      status: 400,
      body: { error: "request body must be JSON" },
    });
    const notList = await patchVm(vms["web-1"]!.id, { tags: "tier-1" });
    expect(notList.status).toBe(400);
    expect(notList.body.error).toContain("tags: tags must be a list of strings");
    expect((await patchVm(vms["web-1"]!.id, { tags: [], name: "x" })).status).toBe(400);
    expect((await patchVm("8d6a4c0e-0000-4000-8000-000000000000", { tags: ["a"] })).status).toBe(404);
  });

  test("the Fleet list filters by an exact tag", async () => {
    const res = await answer<{ vms: Array<{ name: string }>; total: number }>(
      listVmsRoute(new Request("http://test/api/vms?tag=db:primary")),
    );
    expect(res.status).toBe(200);
    expect(res.body.vms.map((v) => v.name)).toEqual(["web-1"]);
    expect((await answer<{ total: number }>(listVmsRoute(new Request("http://test/api/vms?tag=db")))).body.total).toBe(
      0,
    );
  });

  test("a schedule selector matches the tags set here when it fires, not just names", async () => {
    const schedule = await db().schedule.create({
      data: {
        name: "db nightly",
        cron: "0 2 * * *",
        targets: { selector: "db:*" },
        nextRunAt: new Date("2030-01-01T02:00:00Z"),
      },
    });
    const run = await runScheduleNow(schedule.id, new Date());
    const items = await db().scheduleRunItem.findMany({ where: { runId: run.id }, select: { vmName: true } });
    expect(items.map((i) => i.vmName).sort()).toEqual(["db-1", "web-1"]);
    // Untagging takes the VM out of the next firing.
    await patchVm(vms["web-1"]!.id, { tags: ["tier-1"] });
    const again = await runScheduleNow(schedule.id, new Date(Date.now() + 1000));
    expect(
      (await db().scheduleRunItem.findMany({ where: { runId: again.id }, select: { vmName: true } })).map(
        (i) => i.vmName,
      ),
    ).toEqual(["db-1"]);
    await db().schedule.delete({ where: { id: schedule.id } });
  });
});

describe("Snapshot now for a selection: POST /api/snapshots/bulk", () => {
  let batchId: string;
  let queuedIds: string[];

  test("queues one job per VM and refuses, per VM with its reason, those that cannot be snapshotted", async () => {
    const unknown = "8d6a4c0e-0000-4000-8000-00000000dead";
    const ids = ["web-1", "web-2", "web-3", "db-1", "rawdisk", "stopped", "remote"].map((n) => vms[n]!.id);
    const { status, body } = await bulk({ vmIds: [...ids, unknown, ids[0]], mode: "live", note: "patch window" });
    expect(status).toBe(207);
    expect(bulkSnapshotResultJsonSchema.safeParse(body).success).toBe(true);
    expect(body.queued.map((s) => s.vmId).sort()).toEqual(
      ["web-1", "web-2", "web-3", "db-1"].map((n) => vms[n]!.id).sort(),
    );
    expect(body.queued.every((s) => s.status === "queued" && s.batchId === body.batch.id)).toBe(true);
    const why = Object.fromEntries(body.refused.map((r) => [r.vmName ?? r.vmId, r.reason]));
    expect(Object.keys(why).sort()).toEqual([unknown, "rawdisk", "remote", "stopped"].sort());
    expect(why.rawdisk).toMatch(/rawdisk cannot take a live snapshot: .*raw/);
    expect(why.stopped).toContain("shut down");
    expect(why.remote).toContain("tls host ops-tls cannot take a live snapshot");
    expect(why[unknown]).toBe(`no VM with id ${unknown}`);
    // Each job is an ordinary queued job with its pg-boss entry: the worker admits it like any other.
    const rows = await db().snapshot.findMany({ where: { batchId: body.batch.id } });
    expect(rows).toHaveLength(4);
    expect(rows.every((r) => r.note === "patch window" && r.mode === "live")).toBe(true);
    const jobs = await db().$queryRaw<
      Array<{ id: string }>
    >`SELECT id::text FROM pgboss.job WHERE name = 'snapshot.run' AND id::text = ANY(${rows.map((r) => r.id)})`;
    expect(jobs).toHaveLength(4);
    batchId = body.batch.id;
    queuedIds = body.queued.map((s) => s.id);
  });

  test("a VM already snapshotting is refused with the running job's id; the rest still queue", async () => {
    const { status, body } = await bulk({ vmIds: [vms["web-1"]!.id, vms["big"]!.id], mode: "ram-only" });
    expect(status).toBe(207);
    expect(body.queued.map((s) => s.vmId)).toEqual([vms["big"]!.id]);
    expect(body.refused).toEqual([
      {
        vmId: vms["web-1"]!.id,
        vmName: "web-1",
        reason: expect.stringContaining("already has a snapshot in progress"),
        snapshotId: expect.any(String),
      },
    ]);
    expect(queuedIds).toContain(body.refused[0]!.snapshotId);
  });

  test("raw disks are fine for ram-only; a selection where nothing can be queued is a 422 listing why, leaving no batch", async () => {
    const before = await db().snapshotBatch.count();
    const { status, body } = await bulk({ vmIds: [vms["stopped"]!.id, vms["web-2"]!.id], mode: "disks-only" });
    expect(status).toBe(422);
    expect(body.error).toMatch(
      /none of the 2 selected VMs could be snapshotted: stopped: .*shut down.*; web-2: .*in progress/,
    );
    expect(body.details!.refused.map((r) => r.vmName)).toEqual(["stopped", "web-2"]);
    expect(await db().snapshotBatch.count()).toBe(before);
    const ramOnly = await bulk({ vmIds: [vms["rawdisk"]!.id], mode: "ram-only" });
    expect(ramOnly.status).toBe(202);
    expect(ramOnly.body.refused).toEqual([]);
  });

  test("bad bodies are 400s saying what to fix", async () => {
    for (const [body, message] of [
      [{ vmIds: [] }, "pick at least one VM"],
      [{ vmIds: ["nope"] }, "vmIds must be VM UUIDs"],
      [{ vmIds: [vms["web-1"]!.id], mode: "fast" }, 'mode must be "live", "ram-only" or "disks-only"'],
      [{ vmIds: Array.from({ length: 201 }, () => vms["web-1"]!.id) }, "at most 200 VMs per request"],
    ] as const) {
      const res = await bulk(body);
      expect(res.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(res.body.error).toContain(message);
    }
  });

  test("the batch's progress view lists every job of the selection and the refusals", async () => {
    const { status, body } = await answer<{
      batch: { refused: unknown[]; note: string };
      snapshots: Array<{ vmName: string; status: string }>;
      limits: { perHost: Record<string, number>; global: number };
    }>(batchRoute(new Request("http://test"), ctx(batchId)));
    expect(status).toBe(200);
    expect(snapshotBatchDetailJsonSchema.safeParse(body).success).toBe(true);
    expect(body.snapshots.map((s) => s.vmName)).toEqual(["db-1", "web-1", "web-2", "web-3"]);
    expect(body.batch.refused).toHaveLength(4);
    expect(body.batch.note).toBe("patch window");
    expect(body.limits).toEqual({ perHost: { [hostA.id]: 2, [hostB.id]: 2 }, global: 8 });
    expect(
      (await answer(batchRoute(new Request("http://test"), ctx("8d6a4c0e-0000-4000-8000-000000000000")))).status,
    ).toBe(404);
    expect((await answer(batchRoute(new Request("http://test"), ctx("nope")))).status).toBe(404);
  });

  test("the batch's jobs are admitted under the host and fleet limits like any other", async () => {
    await setLimit(`host:${hostA.id}`, 1);
    await setLimit("global", 2);
    const rows = await db().snapshot.findMany({
      where: { batchId },
      include: { vm: true },
      orderBy: { vm: { name: "asc" } },
    });
    const results = [];
    for (const r of rows) results.push([r.vm.name, await admitSnapshot(r.id)] as const);
    const admitted = results.filter(([, a]) => a.admitted).map(([n]) => n);
    // One slot on ops-a (web-1), one on ops-b (db-1): the global limit of 2 is then full too.
    expect(admitted).toEqual(["db-1", "web-1"]);
    const waiting = Object.fromEntries(results.filter(([, a]) => !a.admitted).map(([n, a]) => [n, a.reason]));
    expect(waiting["web-2"]).toBe("waiting for a slot: 1 snapshots running on this host (limit 1)");
    expect(waiting["web-3"]).toBe("waiting for a slot: 1 snapshots running on this host (limit 1)");
    // web-1's slot frees when it ends: web-2 gets it.
    await db().snapshot.updateMany({ where: { batchId, vmId: vms["web-1"]!.id }, data: { status: "completed" } });
    const web2 = rows.find((r) => r.vm.name === "web-2")!;
    expect((await admitSnapshot(web2.id)).admitted).toBe(true);
  });
});

describe("Host storage: GET /api/hosts/{id}/storage", () => {
  const storage = (id: string, query = "") =>
    answer<{
      freeBytes: number | null;
      freeError: string | null;
      usedBytes: number;
      snapshotCount: number;
      vms: Array<{
        vmName: string;
        usedBytes: number;
        snapshotCount: number;
        estimateBytes: number | null;
        estimateBasis: string | null;
      }>;
      forecast: {
        hours: number;
        firings: Array<{ scheduleName: string; vmCount: number; estimateBytes: number; mode: string }>;
        totalBytes: number;
        warning: string | null;
      };
    }>(hostStorageRoute(new Request(`http://test/api/hosts/${id}/storage${query}`), ctx(id)));

  beforeAll(async () => {
    await db().schedule.deleteMany({});
    await db().snapshot.deleteMany({});
    const snap = (name: string, sizeBytes: number, extra: Record<string, unknown> = {}) =>
      db().snapshot.create({
        data: {
          vmId: vms[name]!.id,
          hostId: vms[name]!.hostId,
          status: "completed",
          mode: "live",
          sizeBytes: BigInt(sizeBytes),
          finishedAt: new Date(),
          ...extra,
        },
      });
    await snap("web-1", 300 * MiB, { finishedAt: new Date(Date.now() - 3_600_000) });
    await snap("web-1", 200 * MiB); // the newest: web-1's estimate
    await snap("web-2", 150 * MiB);
    await snap("web-2", 999 * MiB, { deletedAt: new Date() }); // deleted: not counted
    await snap("web-3", 0, { mode: "disks_only" }); // state inside the qcow2 image
  });

  test("used space per VM from the snapshot rows, free space from statfs of the snapshot directory", async () => {
    const { status, body } = await storage(hostA.id);
    expect(status).toBe(200);
    const s = statfsSync(dir);
    // Other processes write to this file system meanwhile: the two readings agree within 64 MiB.
    expect(Math.abs(body.freeBytes! - s.bavail * s.bsize)).toBeLessThan(64 * MiB);
    expect(body.freeError).toBeNull();
    expect(body.usedBytes).toBe(650 * MiB);
    expect(body.snapshotCount).toBe(4);
    const by = Object.fromEntries(body.vms.map((v) => [v.vmName, v]));
    expect(body.vms[0]!.vmName).toBe("web-1");
    expect(by["web-1"]).toMatchObject({
      usedBytes: 500 * MiB,
      snapshotCount: 2,
      estimateBytes: 200 * MiB,
      estimateBasis: "last-snapshot",
    });
    expect(by["web-2"]).toMatchObject({ usedBytes: 150 * MiB, snapshotCount: 1, estimateBytes: 150 * MiB });
    expect(by["web-3"]).toMatchObject({
      usedBytes: 0,
      snapshotCount: 1,
      estimateBytes: 512 * MiB,
      estimateBasis: "guest-ram",
    });
    expect(body.forecast).toMatchObject({ hours: 24, firings: [], totalBytes: 0, warning: null });
  });

  test("the next 24 h of scheduled snapshots are estimated per firing; no warning while they fit", async () => {
    // Hourly over web-*: web-1 200 MiB (last snapshot) + web-2 150 MiB + web-3 512 MiB (guest RAM).
    await db().schedule.create({
      data: {
        name: "hourly web",
        cron: "0 * * * *",
        targets: { selector: "web-*" },
        nextRunAt: new Date(Date.now() + 60_000),
      },
    });
    await db().schedule.create({
      data: {
        name: "disks",
        cron: "30 * * * *",
        mode: "disks_only",
        targets: { hostId: hostA.id },
        nextRunAt: new Date(Date.now() + 60_000),
      },
    });
    const { body } = await storage(hostA.id);
    expect(hostStorageJsonSchema.safeParse(body).success).toBe(true);
    const hourly = body.forecast.firings.filter((f) => f.scheduleName === "hourly web");
    expect(hourly.length).toBeGreaterThanOrEqual(24);
    expect(hourly.length).toBeLessThanOrEqual(25);
    expect(hourly[0]).toMatchObject({ vmCount: 3, estimateBytes: 862 * MiB, mode: "live" });
    expect(body.forecast.firings.filter((f) => f.scheduleName === "disks").every((f) => f.estimateBytes === 0)).toBe(
      true,
    );
    expect(body.forecast.totalBytes).toBe(hourly.length * 862 * MiB);
    // ~21 GiB over the day: this test needs that much free in the temp directory's file system.
    expect(body.freeBytes!, "free space in the temp dir's file system").toBeGreaterThan(body.forecast.totalBytes);
    expect(body.forecast.warning).toBeNull();
    // A shorter window counts fewer firings.
    const short = await storage(hostA.id, "?hours=3");
    expect(short.body.forecast.firings.filter((f) => f.scheduleName === "hourly web").length).toBeLessThanOrEqual(4);
  });

  test("a warning when the next firings would need more than the free space", async () => {
    // "big" has 4 TiB of guest RAM and no snapshot yet: one firing needs 4 TiB.
    await db().schedule.create({
      data: {
        name: "big daily",
        cron: "15 3 * * *",
        targets: { vmIds: [vms["big"]!.id] },
        nextRunAt: new Date(Date.now() + 120_000),
      },
    });
    const { body } = await storage(hostA.id);
    expect(body.freeBytes!).toBeLessThan(4096 * GiB);
    expect(body.forecast.warning).toMatch(
      /^the snapshots scheduled in the next 24 h need about [\d.]+ GiB but only [\d.]+ GiB is free: space runs out at .+\. Free space, delete old snapshots or tighten retention$/,
    );
    expect(body.forecast.firings.find((f) => f.scheduleName === "big daily")).toMatchObject({
      vmCount: 1,
      estimateBytes: 4096 * GiB,
    });
  });

  test("a directory that cannot be read and a TLS host say why instead of a figure; bad input is 400/404", async () => {
    const missing = await storage(hostB.id);
    expect(missing.status).toBe(200);
    expect(missing.body.freeBytes).toBeNull();
    expect(missing.body.freeError).toContain(`cannot read free space of ${path.join(dir, "missing-dir")}`);
    expect(missing.body.forecast.warning).toBeNull();
    const tls = await storage(tlsHost.id);
    expect(tls.body.freeError).toContain("gives no file access");
    expect((await storage(hostA.id, "?hours=0")).body.error).toContain("hours must be between 1 and 168");
    expect((await storage("8d6a4c0e-0000-4000-8000-000000000000")).status).toBe(404);
  });
});

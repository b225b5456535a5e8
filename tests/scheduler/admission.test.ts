// Admission against real PostgreSQL: 6 VMs on one host never have more than 2 snapshots running, with
// admissions racing on separate connections (as separate worker processes would: the limit rests on
// the database's advisory lock, not on anything in this process); slots free themselves when a
// snapshot ends, even if its worker died; the global limit and per-host overrides hold.
import { beforeEach, describe, expect, it } from "vitest";
import { db } from "../../lib/db/client";
import { ADMISSION_RETRY_MS, admitSnapshot, releaseSnapshot, setLimit } from "../../lib/snapshots/admission";
import { useTestDatabase } from "../support/db";
import { seedHost, seedVms } from "./support";

useTestDatabase();

beforeEach(async () => {
  await db().snapshotAdmission.deleteMany();
  await db().concurrencyLimit.deleteMany();
  await db().snapshot.deleteMany();
  await db().vm.deleteMany();
  await db().host.deleteMany();
});

async function queuedSnapshots(hostName: string, count: number) {
  const host = await seedHost(hostName);
  const vms = await seedVms(
    host.id,
    Array.from({ length: count }, (_, i) => `${hostName}-vm${i + 1}`),
  );
  const snaps = [];
  for (const vm of vms)
    snaps.push(await db().snapshot.create({ data: { vmId: vm.id, hostId: host.id, status: "queued" } }));
  return { host, snaps };
}

const running = (hostId?: string) =>
  db().snapshot.count({ where: { status: { in: ["preflight", "setup", "active"] }, ...(hostId ? { hostId } : {}) } });

describe("per-host limit with 6 VMs on one host", () => {
  it("admits 2 of 6 racing admissions; the others stay queued with the reason", async () => {
    const { host, snaps } = await queuedSnapshots("h1", 6);
    // Every job asked for twice at once, as if two workers both received it.
    const results = await Promise.all([...snaps, ...snaps].map((s) => admitSnapshot(s.id, "worker")));
    const admitted = new Set(snaps.filter((s, i) => results[i]!.admitted || results[i + 6]!.admitted).map((s) => s.id));
    expect(admitted.size).toBe(2);
    expect(await db().snapshotAdmission.count({ where: { hostId: host.id } })).toBe(2);
    const waiting = results.filter((r) => !r.admitted);
    expect(waiting.length).toBeGreaterThanOrEqual(8);
    for (const r of waiting) {
      expect(r.retryAfterMs).toBe(ADMISSION_RETRY_MS);
      expect(r.reason).toMatch(/2 snapshots running on this host \(limit 2\)|another snapshot of this VM/);
    }
    // Admission does not move a job: the engine does, once admitted. All six are still queued.
    expect(await db().snapshot.count({ where: { status: "queued" } })).toBe(6);
  });

  it("drains the queue two at a time with two competing workers", async () => {
    const { host, snaps } = await queuedSnapshots("h1", 6);
    let maxRunning = 0;
    // Two workers, each: take a queued snapshot, ask for admission, run it (active), end it.
    const worker = async () => {
      for (let round = 0; round < 200; round++) {
        const queued = await db().snapshot.findMany({
          where: { hostId: host.id, status: "queued" },
          orderBy: { createdAt: "asc" },
        });
        if (queued.length === 0) return;
        for (const s of queued) {
          const r = await admitSnapshot(s.id, "w");
          if (!r.admitted) continue;
          const moved = await db().snapshot.updateMany({
            where: { id: s.id, status: "queued" },
            data: { status: "active" },
          });
          if (moved.count === 0) continue; // the other worker took it
          maxRunning = Math.max(maxRunning, await running(host.id));
          await db().snapshot.update({ where: { id: s.id }, data: { status: "completed" } });
          break;
        }
      }
    };
    await Promise.all([worker(), worker()]);
    expect(await db().snapshot.count({ where: { status: "completed" } })).toBe(snaps.length);
    expect(maxRunning).toBeLessThanOrEqual(2);
    expect(maxRunning).toBeGreaterThanOrEqual(1);
  });

  it("frees the slot of a snapshot that ended, even when its worker died without releasing", async () => {
    const { snaps } = await queuedSnapshots("h1", 3);
    const [a, b, c] = snaps as [(typeof snaps)[0], (typeof snaps)[0], (typeof snaps)[0]];
    expect((await admitSnapshot(a.id)).admitted).toBe(true);
    expect((await admitSnapshot(b.id)).admitted).toBe(true);
    expect((await admitSnapshot(c.id)).admitted).toBe(false);
    // a's worker crashed; recovery marks it failed. No release call.
    await db().snapshot.update({ where: { id: a.id }, data: { status: "failed" } });
    expect(await admitSnapshot(c.id)).toMatchObject({ admitted: true, running: { host: 2 } });
  });

  it("is idempotent for a redelivered job and frees early on release", async () => {
    const { snaps } = await queuedSnapshots("h1", 3);
    expect((await admitSnapshot(snaps[0]!.id)).admitted).toBe(true);
    expect(await admitSnapshot(snaps[0]!.id)).toMatchObject({ admitted: true, running: { host: 1 } });
    expect((await admitSnapshot(snaps[1]!.id)).admitted).toBe(true);
    expect((await admitSnapshot(snaps[2]!.id)).admitted).toBe(false);
    await releaseSnapshot(snaps[1]!.id);
    expect((await admitSnapshot(snaps[2]!.id)).admitted).toBe(true);
  });

  it("never admits a cancelled job, and says so without asking to retry", async () => {
    const { snaps } = await queuedSnapshots("h1", 1);
    await db().snapshot.update({ where: { id: snaps[0]!.id }, data: { status: "cancelled" } });
    const r = await admitSnapshot(snaps[0]!.id);
    expect(r).toMatchObject({ admitted: false, reason: "the snapshot is cancelled" });
    expect(r.retryAfterMs).toBeUndefined();
  });
});

describe("global limit and overrides", () => {
  it("holds the global limit across hosts", async () => {
    await setLimit("global", 3);
    const one = await queuedSnapshots("h1", 3);
    const two = await queuedSnapshots("h2", 3);
    const results = await Promise.all([...one.snaps, ...two.snaps].map((s) => admitSnapshot(s.id)));
    expect(results.filter((r) => r.admitted)).toHaveLength(3);
    expect(await db().snapshotAdmission.count({ where: { hostId: one.host.id } })).toBeLessThanOrEqual(2);
    expect(await db().snapshotAdmission.count({ where: { hostId: two.host.id } })).toBeLessThanOrEqual(2);
    expect(results.find((r) => !r.admitted && /fleet/.test(r.reason ?? ""))?.reason).toBe(
      "waiting for a slot: 3 snapshots running in the fleet (limit 3)",
    );
  });

  it("uses a host's own limit over the default", async () => {
    const { host, snaps } = await queuedSnapshots("h1", 3);
    await setLimit(`host:${host.id}`, 1);
    const results = await Promise.all(snaps.map((s) => admitSnapshot(s.id)));
    expect(results.filter((r) => r.admitted)).toHaveLength(1);
    expect(results.find((r) => !r.admitted)?.limits).toEqual({ host: 1, global: 8 });
  });
});

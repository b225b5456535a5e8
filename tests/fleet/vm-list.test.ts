// GET /api/vms over a 1,000-VM fleet seeded in PostgreSQL: filters, search, sort keys (including the
// host's name and the last snapshot, which live in other tables), paging, per-state counts, the next
// scheduled run — and how long a page takes (printed; the budget is generous for a loaded CI box).
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { listVms } from "../../lib/fleet/vms";
import { vmListQuerySchema } from "../../lib/validations/vm";
import { useTestDatabase } from "../support/db";
import { seedScaleFleet } from "./seed";

const database = useTestDatabase();
let hostId: string;
let otherHostId: string;
const timings: Array<[string, number]> = [];

const query = (params: Record<string, string>) => vmListQuerySchema.parse(params);

async function timed<T>(label: string, work: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  const out = await work();
  timings.push([label, performance.now() - t0]);
  return out;
}

beforeAll(async () => {
  ({ hostId } = await seedScaleFleet(database.current.url, {
    hostName: "scale-a",
    count: 1000,
    prefix: "vm-",
    socketDir: "/run/a",
    snapshotDir: "/snap/a",
  }));
  ({ hostId: otherHostId } = await seedScaleFleet(database.current.url, {
    hostName: "b-scale",
    count: 20,
    prefix: "other-",
    socketDir: "/run/b",
    snapshotDir: "/snap/b",
  }));
  await database.current.prisma.schedule.create({
    data: {
      name: "nightly tier-1",
      cron: "0 2 * * *",
      targets: { selector: "tier-1" },
      nextRunAt: new Date("2030-01-01T02:00:00Z"),
    },
  });
});

afterAll(() => {
  console.log(`VM list over 1,020 VMs (ms): ${timings.map(([l, ms]) => `${l} ${ms.toFixed(1)}`).join(", ")}`);
});

describe("listVms over 1,020 VMs", () => {
  test("first page by name with totals and per-state counts", async () => {
    await listVms(query({})); // warm the connection pool and plans
    const page = await timed("first page", () => listVms(query({})));
    expect(page.total).toBe(1020);
    expect(page.vms).toHaveLength(50);
    expect(page.vms[0]!.name).toBe("other-0001");
    expect(page.stateCounts).toEqual({ running: 204, paused: 204, shutdown: 204, unreachable: 204, gone: 204 });
    expect(page.vms.at(-1)!.name).toBe("vm-0030"); // 20 "other-" VMs, then vm-0001…vm-0030
  });

  test("host filter, state filter (several), search and sort by memory", async () => {
    const page = await timed("host+state+sort", () =>
      listVms(query({ hostId, state: "running,paused", sort: "memory", dir: "desc", limit: "10" })),
    );
    expect(page.total).toBe(400);
    expect(page.vms.every((v) => v.hostId === hostId && ["running", "paused"].includes(v.state))).toBe(true);
    expect(page.vms[0]!.memoryBytes).toBe(4096 * 1024 * 1024);
    expect(page.stateCounts.gone).toBe(200); // counts ignore the state filter

    const search = await timed("search", () => listVms(query({ q: "vm-09" })));
    expect(search.total).toBe(100);
    expect(search.vms[0]!.name).toBe("vm-0900");
    const byTag = await listVms(query({ q: "TIER-2", hostId: otherHostId }));
    expect(byTag.total).toBe(7);
    const literal = await listVms(query({ q: "vm_0" }));
    expect(literal.total).toBe(0); // _ is not a wildcard
  });

  test("sort by host name and by last snapshot; paging is stable", async () => {
    const byHost = await listVms(query({ sort: "host", limit: "5" }));
    expect(byHost.vms.map((v) => v.hostName)).toEqual(Array(5).fill("b-scale"));
    const recent = await timed("sort lastSnapshot", () =>
      listVms(query({ sort: "lastSnapshot", dir: "desc", hostId, limit: "3" })),
    );
    expect(recent.vms.map((v) => v.name)).toEqual(["vm-0010", "vm-0020", "vm-0030"]);
    expect(recent.vms[0]!.lastSnapshot).toMatchObject({ status: "completed", guestPauseMs: 3.2 });

    const seen = new Set<string>();
    for (let offset = 0; offset < 1020; offset += 200) {
      const p = await listVms(query({ offset: String(offset), limit: "200" }));
      for (const v of p.vms) seen.add(v.id);
    }
    expect(seen.size).toBe(1020);
    const past = await listVms(query({ offset: "5000" }));
    expect(past).toMatchObject({ total: 1020, vms: [] });
  });

  test("next scheduled comes from schedules whose targets select the VM", async () => {
    const page = await listVms(query({ q: "vm-000", hostId }));
    const next = Object.fromEntries(page.vms.map((v) => [v.name, v.nextScheduledAt]));
    expect(next["vm-0001"]).toBe("2030-01-01T02:00:00.000Z"); // tier-1
    expect(next["vm-0002"]).toBeNull(); // tier-2
    expect(next["vm-0004"]).toBeNull(); // tier-1 but gone: gone VMs are never targeted
  });
});

// Snapshot history at scale (lib/snapshots/history-query.ts) on real PostgreSQL: a few thousand rows of
// realistic history, three rows per createdAt instant so pages split ties. Under each filter of the
// Snapshots page, walking GET /api/snapshots page by page returns every matching row exactly once, in
// (createdAt, id) order, deleted ones never; a cursor this API did not write is a 422; and the plan of
// each filter's page — first and later — is an index scan in the page's order: no Seq Scan on
// "Snapshot", no Sort (which would mean reading every matching row to order them), a later page starts
// at its cursor inside the index, and a page throws away at most 10 rows per row it can show (a rare
// filter bounds the index range; a common one, such as one host of four, may be checked row by row,
// which the planner rightly prefers when a page fills within a few hundred rows). Plan shape and rows
// read, not time: the speed figures are `npm run bench -- history`.
import pg from "pg";
import { beforeAll, describe, expect, it } from "vitest";
import { GET } from "../../app/api/snapshots/route";
import { InvalidInputError } from "../../lib/errors";
import { decodeHistoryCursor, encodeHistoryCursor, historyPageSql } from "../../lib/snapshots/history-query";
import { listSnapshots } from "../../lib/snapshots/jobs";
import { snapshotListQuerySchema, type SnapshotListQuery } from "../../lib/validations/snapshot";
import { useTestDatabase } from "../support/db";
import { seedSnapshotHistory, type HistorySeed } from "../support/snapshot-history";

const database = useTestDatabase();
const ROWS = 6000;
const NEWEST = new Date("2026-11-30T12:00:00.000Z");

interface Row {
  id: string;
  vmId: string;
  hostId: string;
  status: string;
  createdAt: Date;
  deleted: boolean;
}

let seed: HistorySeed;
let all: Row[];

beforeAll(async () => {
  seed = await seedSnapshotHistory(database.current.url, {
    rows: ROWS,
    hosts: 4,
    vms: 24,
    days: 60,
    newest: NEWEST,
    sameInstant: 3,
  });
  const client = new pg.Client({ connectionString: database.current.url });
  await client.connect();
  try {
    const { rows } = await client.query<{
      id: string;
      vmId: string;
      hostId: string;
      status: string;
      at: string;
      deleted: boolean;
    }>(
      `SELECT id, "vmId", "hostId", status::text AS status, to_char("createdAt", 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at, "deletedAt" IS NOT NULL AS deleted FROM "Snapshot"`,
    );
    all = rows.map((r) => ({ ...r, createdAt: new Date(r.at) }));
  } finally {
    await client.end();
  }
});

/** What the page must show, worked out in JavaScript from every row: the filter, newest first, ties by id. */
function expected(q: Partial<SnapshotListQuery>): string[] {
  return all
    .filter(
      (r) =>
        !r.deleted &&
        (!q.vmId || r.vmId === q.vmId) &&
        (!q.hostId || r.hostId === q.hostId) &&
        (!q.status?.length || q.status.includes(r.status as never)) &&
        (!q.from || r.createdAt >= new Date(q.from)) &&
        (!q.to || r.createdAt <= new Date(q.to)),
    )
    .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
    .map((r) => r.id);
}

/** Every page through the route handler, as the Snapshots page's "Load more" walks them. */
async function walk(params: Record<string, string>): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const qs = new URLSearchParams({ ...params, limit: "37", ...(cursor ? { cursor } : {}) });
    const res = await GET(new Request(`http://localhost/api/snapshots?${qs}`));
    expect(res.status).toBe(200);
    const body = (await res.json()) as { snapshots: Array<{ id: string }>; nextCursor: string | null };
    ids.push(...body.snapshots.map((s) => s.id));
    cursor = body.nextCursor;
    pages++;
    expect(pages).toBeLessThan(ROWS);
  } while (cursor);
  return { ids, pages };
}

const FILTERS: Record<string, () => Record<string, string>> = {
  "the default view": () => ({}),
  "one VM": () => ({ vmId: seed.vms[5]!.id }),
  "one host": () => ({ hostId: seed.hosts[2]!.id }),
  "status failed": () => ({ status: "failed" }),
  "a status nothing has (setup)": () => ({ status: "setup" }),
  "statuses failed + cancelled + queued": () => ({ status: "failed,cancelled,queued" }),
  "a date range, bounds with an offset": () => ({ from: "2026-10-10T02:00:00+02:00", to: "2026-10-20T23:59:59.999Z" }),
  "host + status + range": () => ({
    hostId: seed.hosts[1]!.id,
    status: "completed,failed",
    from: "2026-10-01T00:00:00Z",
    to: "2026-11-15T00:00:00Z",
  }),
  "VM + status": () => ({ vmId: seed.vms[11]!.id, status: "cancelled" }),
};

describe("GET /api/snapshots over a realistic history", () => {
  it("seeded what the filters need: ties, deleted rows, failed and cancelled ones", () => {
    expect(all).toHaveLength(ROWS);
    expect(new Set(all.map((r) => r.createdAt.getTime())).size).toBe(ROWS / 3);
    expect(all.filter((r) => r.deleted).length).toBeGreaterThan(100);
    expect(all.filter((r) => r.status === "failed").length).toBeGreaterThan(100);
    expect(all.filter((r) => r.status === "cancelled").length).toBeGreaterThan(50);
  });

  for (const [name, params] of Object.entries(FILTERS)) {
    it(`${name}: every matching row exactly once, newest first, across pages`, async () => {
      const p = params();
      const want = expected(snapshotListQuerySchema.parse(p));
      const { ids, pages } = await walk(p);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids).toEqual(want);
      expect(pages).toBe(Math.max(1, Math.ceil(want.length / 37)));
    });
  }

  it("a VM's own history (GET /api/vms/{id}/snapshots) pages the same way", async () => {
    const vmId = seed.vms[3]!.id;
    const ids: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await listSnapshots(snapshotListQuerySchema.parse({ vmId, limit: "50", cursor }));
      ids.push(...page.snapshots.map((s) => s.id));
      expect(
        page.snapshots.every(
          (s) => s.vmId === vmId && s.vmName.startsWith("hist-vm-") && s.hostName.startsWith("hist-host-"),
        ),
      ).toBe(true);
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(ids).toEqual(expected({ vmId }));
  });

  it("a cursor it did not write is a 422 saying what to do, never another page", async () => {
    const good = (await listSnapshots(snapshotListQuerySchema.parse({ limit: "5" }))).nextCursor!;
    const { createdAt, id } = decodeHistoryCursor(good);
    const forged = [
      "garbage",
      "!!!!",
      Buffer.from("2026-11-30T12:00:00.000Z").toString("base64url"),
      Buffer.from(`2026-02-30T12:00:00.000Z|${id}`).toString("base64url"),
      Buffer.from(`${createdAt.toISOString()}|not-a-uuid-at-all-but-36-characters!`).toString("base64url"),
      Buffer.from(`${createdAt.getTime()}|${id}`).toString("base64url"),
      `${good}x`,
    ];
    for (const cursor of forged) {
      const res = await GET(new Request(`http://localhost/api/snapshots?${new URLSearchParams({ cursor })}`));
      expect(res.status, cursor).toBe(422);
      expect(((await res.json()) as { error: string }).error).toMatch(
        /cursor is not one this API returned: pass nextCursor from the previous page/,
      );
    }
    expect(() => decodeHistoryCursor("garbage")).toThrow(InvalidInputError);
    expect(encodeHistoryCursor({ createdAt, id })).toBe(good);
  });

  describe("plans: an index scan in page order, no Seq Scan, no Sort", () => {
    interface PlanNode {
      "Node Type": string;
      "Relation Name"?: string;
      "Index Name"?: string;
      "Index Cond"?: string;
      "Rows Removed by Filter"?: number;
      Plans?: PlanNode[];
    }
    const nodes = (n: PlanNode): PlanNode[] => [n, ...(n.Plans ?? []).flatMap(nodes)];

    async function plan(q: Record<string, string>): Promise<PlanNode[]> {
      const sql = historyPageSql(snapshotListQuerySchema.parse({ limit: "50", ...q }));
      const client = new pg.Client({ connectionString: database.current.url });
      await client.connect();
      try {
        const { rows } = await client.query<{ "QUERY PLAN": Array<{ Plan: PlanNode }> }>(
          `EXPLAIN (ANALYZE, FORMAT JSON) ${sql.text}`,
          sql.values as unknown[],
        );
        return nodes(rows[0]!["QUERY PLAN"][0]!.Plan);
      } finally {
        await client.end();
      }
    }

    for (const [name, params] of Object.entries(FILTERS)) {
      it(`${name}, first page and a later one`, async () => {
        const p = params();
        const first = await listSnapshots(snapshotListQuerySchema.parse({ ...p, limit: "50" }));
        for (const q of [p, ...(first.nextCursor ? [{ ...p, cursor: first.nextCursor }] : [])]) {
          const all = await plan(q);
          const onSnapshot = all.filter((n) => n["Relation Name"] === "Snapshot");
          expect(onSnapshot.length).toBeGreaterThan(0);
          for (const n of onSnapshot)
            expect(["Index Scan", "Index Only Scan"], JSON.stringify(q)).toContain(n["Node Type"]);
          const types = all.map((n) => n["Node Type"]);
          for (const bad of ["Sort", "Incremental Sort", "Seq Scan", "Bitmap Heap Scan"])
            expect(types, JSON.stringify(q)).not.toContain(bad);
          // What the page reads beyond what it shows stays bounded, whichever index the planner picks.
          const removed = onSnapshot.reduce((sum, n) => sum + (n["Rows Removed by Filter"] ?? 0), 0);
          expect(removed, `rows read and thrown away for ${JSON.stringify(q)}`).toBeLessThanOrEqual(10 * 51);
          // A later page starts at the cursor inside the index (a bound), rather than filtering from the top.
          if (q.cursor)
            for (const n of onSnapshot) expect(n["Index Cond"] ?? "").toMatch(/ROW\("createdAt", id\) < ROW/);
        }
      });
    }
  });
});

// `npm run bench -- history`: the Snapshots page and GET /api/snapshots over 1,000,000 snapshot rows.
// A real Snapfleet (server.ts in production mode, its own embedded PostgreSQL, the gate with an API
// token) whose database gets a year of history for 200 VMs on 10 hosts in bulk
// (tests/support/snapshot-history.ts: ~93 % completed, ~4 % failed, ~3 % cancelled, ~6 % of the
// completed deleted, none in preflight or setup). Then, sequentially (one request at a time, after a
// warm-up), p50 / p95 / max of:
//   API     GET /api/snapshots — what the browser's "Load more" and filters call — per filter, its
//           page 2 by cursor, and a page half-way down the history;
//   page    GET /snapshots (the server render: first page + filter options) for some of the filters;
//   lib     listSnapshots() in this process on the same database: the query without HTTP, JSON or auth.
// Goal (issue #16): p95 ≤ 50 ms for the default view and each filter. --rows=N and --samples=N for
// quick looks; the defaults are what docs/performance.md reports. Writes bench/results/history-latest.json.
import pg from "pg";
import { encodeHistoryCursor } from "../../lib/snapshots/history-query";
import { seedSnapshotHistory, type HistorySeed } from "../../tests/support/snapshot-history";
import { describeMachine, loadSample, type LoadSample } from "../lib/machine";
import { fmt, provenance, table, updateDocsSection, writeResult, type ResultFile } from "../lib/report";
import { startSnapfleet, type SnapfleetServer } from "../lib/snapfleet";
import { summarize, type Summary } from "../lib/stats";
import type { BenchContext } from "../lib/context";

const DEFAULT_ROWS = 1_000_000;
const DEFAULT_SAMPLES = 100;
const WARMUP = 5;
const GOAL_P95_MS = 50;

export interface HistoryCase {
  via: "API" | "page" | "lib";
  name: string;
  url: string;
  /** Rows on the page (the API's first answer), to show a filter matched something. */
  rows: number;
  ms: Summary;
}

export interface HistoryData {
  rows: number;
  hosts: number;
  vms: number;
  samplesPerCase: number;
  seedSeconds: number;
  seedSteps: Record<string, number>;
  tableSizes: Record<string, string>;
  cases: HistoryCase[];
}

export function renderHistory(r: ResultFile<HistoryData>): string {
  const d = r.data;
  const worst = Math.max(...d.cases.filter((c) => c.via === "API").map((c) => c.ms.p95 ?? Infinity));
  return [
    table(
      ["via", "query", "rows on page", "p50 ms", "p95 ms", "max ms"],
      d.cases.map((c) => [c.via, c.name, String(c.rows), fmt(c.ms.p50, 1), fmt(c.ms.p95, 1), fmt(c.ms.max, 1)]),
    ),
    "",
    `${d.rows.toLocaleString("en-US")} snapshot rows (${d.vms} VMs on ${d.hosts} hosts, one year; table ${d.tableSizes.Snapshot ?? "?"}, status changes ${d.tableSizes.SnapshotStatusChange ?? "?"}), seeded in ${fmt(d.seedSeconds)} s; ${d.samplesPerCase} sequential requests per row after ${WARMUP} warm-up ones. API and page: over HTTP through the gated server with an API token, wall time to the last byte. lib: listSnapshots() in the bench process on the same database.`,
    "",
    `Worst API p95: ${fmt(worst, 1)} ms (goal ≤ ${GOAL_P95_MS} ms).`,
    "",
    `Produced by ${provenance(r)}`,
  ].join("\n");
}

async function timed(samples: number, fn: () => Promise<unknown>): Promise<Summary> {
  for (let i = 0; i < WARMUP; i++) await fn();
  const ms: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t = performance.now();
    await fn();
    ms.push(performance.now() - t);
  }
  return summarize(ms);
}

/** The filters of the Snapshots page, over the seeded fleet; `deep` is a cursor half-way down the history. */
function filters(
  seed: HistorySeed,
  deep: string,
): Array<{ name: string; query: Record<string, string>; page?: boolean }> {
  const mid = new Date((seed.oldest.getTime() + seed.newest.getTime()) / 2);
  const day = mid.toISOString().slice(0, 10);
  return [
    { name: "default view", query: {}, page: true },
    { name: "default view, page 2 (cursor)", query: { cursor: "page2" } },
    { name: "default view, page at row ~500,000 (cursor)", query: { cursor: deep } },
    { name: "one VM", query: { vmId: seed.vms[7]!.id }, page: true },
    { name: "one VM, page 2 (cursor)", query: { vmId: seed.vms[7]!.id, cursor: "page2" } },
    { name: "one host", query: { hostId: seed.hosts[3]!.id }, page: true },
    { name: "one host, page 2 (cursor)", query: { hostId: seed.hosts[3]!.id, cursor: "page2" } },
    { name: "status failed", query: { status: "failed" }, page: true },
    { name: "status failed, page 2 (cursor)", query: { status: "failed", cursor: "page2" } },
    { name: "status cancelled", query: { status: "cancelled" } },
    { name: "status setup (no row has it)", query: { status: "setup" } },
    { name: "status failed + cancelled", query: { status: "failed,cancelled" } },
    { name: "status queued + active (in flight)", query: { status: "queued,active" } },
    { name: `one day (${day})`, query: { from: `${day}T00:00:00.000Z`, to: `${day}T23:59:59.999Z` }, page: true },
    {
      name: "host + failed + one month",
      query: {
        hostId: seed.hosts[5]!.id,
        status: "failed",
        from: `${day.slice(0, 8)}01T00:00:00.000Z`,
        to: `${day}T23:59:59.999Z`,
      },
    },
    { name: "VM + cancelled", query: { vmId: seed.vms[42]!.id, status: "cancelled" } },
  ];
}

async function tableSizes(url: string): Promise<Record<string, string>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string; size: string }>(
      `SELECT relname AS name, pg_size_pretty(pg_total_relation_size(oid)) AS size FROM pg_class WHERE relname IN ('Snapshot', 'SnapshotStatusChange')`,
    );
    return Object.fromEntries(rows.map((r) => [r.name, r.size]));
  } finally {
    await client.end();
  }
}

/** The cursor after the row half-way down the default view (what "Load more" ten thousand times would send). */
async function deepCursor(url: string, rows: number): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const {
      rows: [row],
    } = await client.query<{ id: string; at: string }>(
      `SELECT id, to_char("createdAt", 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at FROM "Snapshot" WHERE "deletedAt" IS NULL ORDER BY "createdAt" DESC, id DESC OFFSET $1 LIMIT 1`,
      [Math.floor(rows / 2)],
    );
    return encodeHistoryCursor({ createdAt: new Date(row!.at), id: row!.id });
  } finally {
    await client.end();
  }
}

async function measure(
  ctx: BenchContext,
  server: SnapfleetServer,
  rows: number,
  samples: number,
): Promise<HistoryData> {
  ctx.log(`seeding ${rows.toLocaleString("en-US")} snapshot rows into the server's database…`);
  const seed = await seedSnapshotHistory(server.databaseUrl, { rows });
  ctx.log(`seeded in ${seed.seconds.toFixed(0)} s (${JSON.stringify(seed.steps)})`);
  const deep = await deepCursor(server.databaseUrl, rows);
  const get = async (url: string): Promise<Response> => {
    const res = await fetch(server.baseUrl + url, { headers: server.authHeaders });
    if (!res.ok) throw new Error(`GET ${url} → ${res.status}: ${(await res.text()).slice(0, 300)}`);
    return res;
  };
  // The lib path runs in this process against the same database.
  process.env.DATABASE_URL = server.databaseUrl;
  const { listSnapshots } = await import("../../lib/snapshots/jobs");
  const { snapshotListQuerySchema } = await import("../../lib/validations/snapshot");
  const cases: HistoryCase[] = [];
  for (const f of filters(seed, deep)) {
    const query = { ...f.query };
    if (query.cursor === "page2") {
      const { cursor: _page2, ...firstPage } = query;
      const first = (await (
        await get(`/api/snapshots?${new URLSearchParams({ ...firstPage, limit: "50" })}`)
      ).json()) as { nextCursor: string | null };
      if (!first.nextCursor) throw new Error(`${f.name}: the first page has no next page`);
      query.cursor = first.nextCursor;
    }
    const url = `/api/snapshots?${new URLSearchParams({ ...query, limit: "50" })}`;
    const body = (await (await get(url)).json()) as { snapshots: unknown[] };
    cases.push({
      via: "API",
      name: f.name,
      url,
      rows: body.snapshots.length,
      ms: await timed(samples, async () => (await get(url)).text()),
    });
    const parsed = snapshotListQuerySchema.parse({ ...query, limit: "50" });
    cases.push({
      via: "lib",
      name: f.name,
      url: "listSnapshots()",
      rows: body.snapshots.length,
      ms: await timed(samples, () => listSnapshots(parsed)),
    });
    if (f.page) {
      const pageUrl = `/snapshots${Object.keys(f.query).length ? `?${new URLSearchParams(f.query)}` : ""}`;
      cases.push({
        via: "page",
        name: f.name,
        url: pageUrl,
        rows: body.snapshots.length,
        ms: await timed(Math.ceil(samples / 2), async () => (await get(pageUrl)).text()),
      });
    }
    const last = cases.at(-1)!;
    ctx.log(
      `${f.name}: API p95 ${fmt(cases.find((c) => c.via === "API" && c.name === f.name)!.ms.p95, 1)} ms, ${last.via} p95 ${fmt(last.ms.p95, 1)} ms`,
    );
  }
  return {
    rows,
    hosts: seed.hosts.length,
    vms: seed.vms.length,
    samplesPerCase: samples,
    seedSeconds: seed.seconds,
    seedSteps: seed.steps,
    tableSizes: await tableSizes(server.databaseUrl),
    cases: [...cases].sort((a, b) => ["API", "page", "lib"].indexOf(a.via) - ["API", "page", "lib"].indexOf(b.via)),
  };
}

export async function runHistoryPart(ctx: BenchContext): Promise<void> {
  const startedAt = new Date();
  const loadAtStart: LoadSample = loadSample();
  const rows = ctx.flags.rows ? Number(ctx.flags.rows) : DEFAULT_ROWS;
  const samples = ctx.flags.samples ? Number(ctx.flags.samples) : DEFAULT_SAMPLES;
  // Its own server: a million rows must not land in the database other parts measure with.
  const server = await startSnapfleet((m) => ctx.log(m));
  let data: HistoryData;
  try {
    data = await measure(ctx, server, rows, samples);
  } finally {
    await server.stop();
  }
  const result = writeResult<HistoryData>("history", startedAt, loadAtStart, data);
  const text = renderHistory(result);
  console.log(`\n${describeMachine(result.machine)}\n\n${text}\n`);
  updateDocsSection("history", text);
  ctx.log("wrote bench/results/history-latest.json and the history section of docs/performance.md");
}

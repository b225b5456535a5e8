// Read queries for VMs, shared by the REST API and the pages. Filtering, search, sorting and paging run
// in PostgreSQL: one query picks the page's ids in order (it can sort by a related column, such as the
// host's name or the last snapshot's time, which Prisma's orderBy cannot), one loads those rows with
// their relations, one counts states for the filter chips. Cost does not grow with the fleet's size
// beyond the index scans, so 1,000 VMs page as fast as 10.
import { db } from "../db/client";
import { Prisma } from "../db/generated/client";
import { NotFoundError } from "../errors";
import type { VmListQuery } from "../validations/vm";
import { nextScheduledFor } from "./next-scheduled";
import { toVmJson, vmInclude, type VmWithRelations } from "./serialize";
import type { VmJson, VmListJson } from "./vm-json";

const ORDER: Record<VmListQuery["sort"], Prisma.Sql> = {
  name: Prisma.sql`lower(v."name")`,
  host: Prisma.sql`lower(h."name")`,
  // running, paused, shutdown, unreachable, gone: the enum's declaration order.
  state: Prisma.sql`v."state"`,
  memory: Prisma.sql`v."memoryBytes"`,
  lastSnapshot: Prisma.sql`(SELECT max(s."createdAt") FROM "Snapshot" s WHERE s."vmId" = v."id" AND s."deletedAt" IS NULL)`,
  lastSeen: Prisma.sql`v."lastSeenAt"`,
};

function likePattern(q: string): string {
  return `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

function filters(query: Pick<VmListQuery, "hostId" | "q" | "state" | "tag">, withState: boolean): Prisma.Sql {
  const parts: Prisma.Sql[] = [];
  if (query.hostId) parts.push(Prisma.sql`v."hostId" = ${query.hostId}::uuid`);
  if (query.tag) parts.push(Prisma.sql`${query.tag} = ANY(v."tags")`);
  if (query.q) {
    const like = likePattern(query.q);
    parts.push(
      Prisma.sql`(v."name" ILIKE ${like} OR v."uuid" ILIKE ${like} OR v."endpoint" ILIKE ${like} OR h."name" ILIKE ${like} OR array_to_string(v."tags", ' ') ILIKE ${like})`,
    );
  }
  if (withState && query.state?.length) {
    parts.push(Prisma.sql`v."state"::text IN (${Prisma.join(query.state)})`);
  }
  return parts.length ? Prisma.sql`WHERE ${Prisma.join(parts, " AND ")}` : Prisma.empty;
}

export async function listVms(query: VmListQuery): Promise<VmListJson> {
  const where = filters(query, true);
  const dir = query.dir === "desc" ? Prisma.sql`DESC NULLS LAST` : Prisma.sql`ASC NULLS LAST`;
  const [page, totalRows, stateRows] = await Promise.all([
    db().$queryRaw<Array<{ id: string }>>`
      SELECT v."id" FROM "Vm" v JOIN "Host" h ON h."id" = v."hostId"
      ${where}
      ORDER BY ${ORDER[query.sort]} ${dir}, lower(v."name") ASC, v."id" ASC
      OFFSET ${query.offset} LIMIT ${query.limit}`,
    db().$queryRaw<Array<{ n: bigint }>>`
      SELECT count(*) AS n FROM "Vm" v JOIN "Host" h ON h."id" = v."hostId" ${where}`,
    db().$queryRaw<Array<{ state: string; n: bigint }>>`
      SELECT v."state"::text AS state, count(*) AS n FROM "Vm" v JOIN "Host" h ON h."id" = v."hostId"
      ${filters(query, false)} GROUP BY v."state"`,
  ]);
  const ids = page.map((r) => r.id);
  const rows = ids.length ? await db().vm.findMany({ where: { id: { in: ids } }, include: vmInclude }) : [];
  const byId = new Map(rows.map((r) => [r.id, r]));
  const ordered = ids.flatMap((id) => byId.get(id) ?? []);
  const next = await nextScheduledFor(ordered);
  return {
    vms: ordered.map((vm) => toVmJson(vm, { nextScheduledAt: next.get(vm.id) ?? null })),
    total: Number(totalRows[0]?.n ?? 0),
    offset: query.offset,
    limit: query.limit,
    stateCounts: Object.fromEntries(stateRows.map((r) => [r.state, Number(r.n)])),
  };
}

export async function loadVm(id: string): Promise<VmWithRelations> {
  const vm = await db().vm.findUnique({ where: { id }, include: vmInclude });
  if (!vm) throw new NotFoundError(`no VM with id ${id}`);
  return vm;
}

export async function getVmJson(id: string): Promise<VmJson> {
  const vm = await loadVm(id);
  const next = await nextScheduledFor([vm]);
  return toVmJson(vm, { nextScheduledAt: next.get(vm.id) ?? null });
}

// Snapshot history at scale: which rows make up one page of GET /api/snapshots (and the Snapshots page,
// and a VM's history), newest first, keyset-paginated, over millions of rows.
// Invariants:
//  - The order is (createdAt DESC, id DESC), total and stable; a cursor is the (createdAt, id) of the
//    last row of the previous page, so a page is "the next LIMIT rows after it" — no OFFSET, no count.
//  - Each filter has an index in exactly that order (prisma/schema.prisma, model Snapshot): the default
//    view (createdAt, id, deletedAt), vmId, hostId and status each lead one. A page is then read as an
//    index-only range scan that stops after LIMIT + 1 entries, whatever page it is and however rare the
//    filtered rows are; deletedAt is the indexes' last column, so deleted rows are skipped inside the
//    index. The cursor is a row comparison `("createdAt", id) < (…)`, which PostgreSQL uses as an index
//    bound (an OR of two conditions would only filter).
//  - Several statuses: one such scan per status, merged (UNION ALL of ordered, limited branches →
//    Merge Append), never "every row of these statuses, sorted".
//  - Cursors are opaque (base64url of "<ISO createdAt with ms>|<uuid>") and only ones this module
//    wrote are accepted: anything else is InvalidInputError (422), never a silently different page.
//  - Only ids come out of the scan; the rows are read afterwards by primary key (listSnapshots).
import { db } from "../db/client";
import { Prisma } from "../db/generated/client";
import { InvalidInputError } from "../errors";
import type { SnapshotListQuery } from "../validations/snapshot";

export interface HistoryCursor {
  createdAt: Date;
  id: string;
}

const CURSOR_TEXT =
  /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z\|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function encodeHistoryCursor(c: HistoryCursor): string {
  return Buffer.from(`${c.createdAt.toISOString()}|${c.id.toLowerCase()}`).toString("base64url");
}

export function decodeHistoryCursor(cursor: string): HistoryCursor {
  const garbage = () =>
    new InvalidInputError(
      "cursor is not one this API returned: pass nextCursor from the previous page unchanged, or leave it out for the first page",
      { cursor: cursor.slice(0, 40) },
    );
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw garbage();
  const text = Buffer.from(cursor, "base64url").toString("utf8");
  if (!CURSOR_TEXT.test(text)) throw garbage();
  const [at, id] = text.split("|") as [string, string];
  const createdAt = new Date(at);
  // A date that does not exist (2026-02-30) parses to another day; only our own encoding round-trips.
  if (Number.isNaN(createdAt.getTime()) || createdAt.toISOString() !== at) throw garbage();
  return { createdAt, id };
}

export type HistoryFilter = Pick<SnapshotListQuery, "vmId" | "hostId" | "status" | "from" | "to" | "cursor" | "limit">;

const ORDER = Prisma.sql`ORDER BY "createdAt" DESC, id DESC`;

/**
 * The SQL of one page's scan: ids (and createdAt) of the first `limit + 1` matching rows after the
 * cursor. Exported so tests can EXPLAIN exactly what runs.
 */
export function historyPageSql(q: HistoryFilter): Prisma.Sql {
  const conds: Prisma.Sql[] = [Prisma.sql`"deletedAt" IS NULL`];
  if (q.vmId) conds.push(Prisma.sql`"vmId" = ${q.vmId}::uuid`);
  if (q.hostId) conds.push(Prisma.sql`"hostId" = ${q.hostId}::uuid`);
  // Timestamps are stored as UTC `timestamp(3)`: compare with ISO text cast to that type, so no driver
  // or session time zone can shift the bound.
  if (q.from) conds.push(Prisma.sql`"createdAt" >= ${new Date(q.from).toISOString()}::timestamp(3)`);
  if (q.to) conds.push(Prisma.sql`"createdAt" <= ${new Date(q.to).toISOString()}::timestamp(3)`);
  if (q.cursor) {
    const c = decodeHistoryCursor(q.cursor);
    conds.push(Prisma.sql`("createdAt", id) < (${c.createdAt.toISOString()}::timestamp(3), ${c.id}::uuid)`);
  }
  const take = q.limit + 1;
  const branch = (status?: string) =>
    Prisma.sql`SELECT id, "createdAt" FROM "Snapshot" WHERE ${Prisma.join(
      status ? [...conds, Prisma.sql`status = ${status}::"SnapshotStatus"`] : conds,
      " AND ",
    )} ${ORDER} LIMIT ${take}`;
  const statuses = [...new Set(q.status ?? [])];
  if (statuses.length <= 1) return branch(statuses[0]);
  return Prisma.sql`SELECT id, "createdAt" FROM (${Prisma.join(
    statuses.map((s) => Prisma.sql`(${branch(s)})`),
    " UNION ALL ",
  )}) page ${ORDER} LIMIT ${take}`;
}

/** The ids of one page, in order, and the cursor of the next page (null on the last one). */
export async function historyPageIds(q: HistoryFilter): Promise<{ ids: string[]; nextCursor: string | null }> {
  const rows = await db().$queryRaw<Array<{ id: string; createdAt: Date }>>(historyPageSql(q));
  const page = rows.slice(0, q.limit);
  const last = page.at(-1);
  return {
    ids: page.map((r) => r.id),
    nextCursor: rows.length > q.limit && last ? encodeHistoryCursor({ createdAt: last.createdAt, id: last.id }) : null,
  };
}

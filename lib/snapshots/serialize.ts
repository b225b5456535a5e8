// Snapshot rows → the wire shape of snapshot-json.ts. REST answers, hub events and server-rendered
// pages all go through toSnapshotJson, so a tab that reloads sees exactly what the stream told it.
// `snapshotInclude` is the relation set it needs; pass rows loaded with it.
import type { Prisma, Snapshot } from "../db/generated/client";
import { fromDbMode } from "../validations/snapshot";
import type { SnapshotFileJson, SnapshotJson } from "./snapshot-json";
import { describeArtifact } from "./artifacts";
import { parseJournal } from "./deletion-journal";
import { diskChainEntryJsonSchema, snapshotFileJsonSchema } from "./snapshot-json";

export const snapshotInclude = {
  vm: { select: { name: true } },
  host: { select: { name: true } },
  history: { orderBy: [{ at: "asc" }, { id: "asc" }], select: { status: true, at: true, detail: true } },
} satisfies Prisma.SnapshotInclude;

export type SnapshotWithRelations = Snapshot & {
  vm: { name: string };
  host: { name: string };
  history: Array<{ status: Snapshot["status"]; at: Date; detail: string | null }>;
};

const iso = (d: Date | null) => (d ? d.toISOString() : null);
const num = (n: bigint | number | null) => (n === null ? null : Number(n));

function parseArray<T>(
  raw: Prisma.JsonValue | null,
  schema: { safeParse(v: unknown): { success: boolean; data?: T } },
): T[] {
  if (!Array.isArray(raw)) return [];
  return raw.flatMap((item) => {
    const r = schema.safeParse(item);
    return r.success ? [r.data as T] : [];
  });
}

function deletionOf(row: SnapshotWithRelations): SnapshotJson["deletion"] {
  const journal = row.deletingSince ? parseJournal(row.deletion) : null;
  if (!journal) return null;
  return {
    startedAt: journal.startedAt,
    error: row.deletedAt ? null : (journal.error ?? null),
    steps: journal.steps.map((s) => ({ what: describeArtifact(s.artifact), state: s.state, note: s.note ?? null })),
  };
}

export function toSnapshotJson(row: SnapshotWithRelations): SnapshotJson {
  return {
    id: row.id,
    vmId: row.vmId,
    vmName: row.vm.name,
    hostId: row.hostId,
    hostName: row.host.name,
    scheduleId: row.scheduleId,
    batchId: row.batchId,
    mode: fromDbMode(row.mode),
    status: row.status,
    note: row.note,
    cancelRequested: row.cancelRequested,
    progress: row.progress,
    statusHistory: row.history.map((h) => ({ status: h.status, at: h.at.toISOString(), detail: h.detail })),
    createdAt: row.createdAt.toISOString(),
    startedAt: iso(row.startedAt),
    finishedAt: iso(row.finishedAt),
    deletedAt: iso(row.deletedAt),
    deletion: deletionOf(row),
    ramTotalBytes: num(row.ramTotalBytes),
    ramTransferredBytes: num(row.ramTransferredBytes),
    throughputBytesPerSec: num(row.throughputBytesPerSec),
    guestPauseMs: row.guestPauseMs,
    qemuDowntimeMs: row.qemuDowntimeMs,
    setupMs: row.setupMs,
    totalMs: row.totalMs,
    sizeBytes: num(row.sizeBytes),
    files: parseArray<SnapshotFileJson>(row.files, snapshotFileJsonSchema),
    diskChain: parseArray(row.diskChain, diskChainEntryJsonSchema),
    error:
      row.errorClass || row.errorMessage
        ? { class: row.errorClass ?? "unknown", message: row.errorMessage ?? "" }
        : null,
    verifiedAt: iso(row.verifiedAt),
    verifyError: row.verifyError,
    quiesce: row.quiesce,
    consistency: row.consistency,
    quiesceNote: row.quiesceNote,
  };
}

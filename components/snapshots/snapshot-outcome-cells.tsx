// The cells every snapshot table shows alike: mode, status (the failure as its tooltip), guest pause
// and duration, in that order. With `showDeletion`, a snapshot being deleted (or whose deletion is
// blocked) says so under its status chip (the VM page shows it in its Actions cell instead).
import type { SnapshotJson } from "@/lib/snapshots/snapshot-json";
import { deletionStateOf, durationMs, formatMs } from "./snapshot-format";
import { SnapshotStatusChip } from "./snapshot-status-chip";

export function SnapshotOutcomeCells({ s, showDeletion = false }: { s: SnapshotJson; showDeletion?: boolean }) {
  return (
    <>
      <td className="px-3 py-1.5">{s.mode}</td>
      <td className="px-3 py-1.5">
        <SnapshotStatusChip status={s.status} title={s.error?.message} />
        <SnapshotConsistencyBadge s={s} />
        {showDeletion && <SnapshotDeletionState s={s} />}
      </td>
      <td className="px-3 py-1.5 text-right tabular-nums">{formatMs(s.guestPauseMs)}</td>
      <td className="px-3 py-1.5 text-right tabular-nums">{formatMs(durationMs(s))}</td>
    </>
  );
}

/**
 * "application-consistent" when the guest agent froze the filesystems at the snapshot's instant;
 * "crash-consistent" when quiesce was asked but did not happen (docs/quiesce.md). The note says why.
 */
const CONSISTENCY_BADGE = {
  application: "bg-emerald-100 font-medium text-emerald-800 dark:bg-emerald-950 dark:text-emerald-300",
  crash: "bg-slate-100 text-slate-700 dark:bg-slate-800 dark:text-slate-300",
} as const;

export function SnapshotConsistencyBadge({ s }: { s: SnapshotJson }) {
  const kind =
    s.consistency === "application" ? "application" : s.consistency === "crash" && s.quiesce ? "crash" : null;
  if (!kind) return null;
  return (
    <span
      data-testid="snapshot-consistency"
      data-consistency={kind}
      title={s.quiesceNote ?? undefined}
      className={`ml-1 inline-block rounded px-1.5 py-0.5 text-xs ${CONSISTENCY_BADGE[kind]}`}
    >
      {`${kind}-consistent`}
    </span>
  );
}

/** "Deleting… (2 of 5 steps)" or "Delete blocked: <why>"; nothing when no deletion is under way. */
export function SnapshotDeletionState({ s }: { s: SnapshotJson }) {
  const d = deletionStateOf(s);
  if (!d) return null;
  const steps = d.total ? ` (${d.done} of ${d.total} steps)` : "";
  if (d.kind === "deleting") {
    return (
      <span
        data-testid="snapshot-deletion"
        data-state="deleting"
        className="block text-xs text-slate-600 dark:text-slate-400"
      >
        <span aria-hidden className="mr-1 inline-block animate-pulse">
          ●
        </span>
        Deleting…{steps}
      </span>
    );
  }
  return (
    <span
      data-testid="snapshot-deletion"
      data-state="blocked"
      title={d.error}
      className="block max-w-80 whitespace-normal break-words text-left text-xs text-red-700 dark:text-red-400"
    >
      <span className="font-medium">Delete blocked:</span> {d.error}
    </span>
  );
}

"use client";
// A VM's snapshot history on its page: newest first, live (follows `vm:<id>` "snapshot.updated": a new
// job appears, a running one updates, a deleted one goes), "Load more" by keyset cursor, and Delete
// (removes the snapshot's vmstate and its internal disk snapshots from the VM's images; the VM keeps
// running on its own disks). A snapshot being deleted shows "Deleting…" instead of Delete, or "Delete
// blocked: <why>" with "Retry delete" (DELETE again resumes it). A refusal (409: a job runs, the VM's
// disks drifted, a step is blocked) shows the server's message and re-reads the row and the VM.
import { useCallback, useEffect, useState } from "react";
import { formatBytes } from "@/components/fleet/format";
import { RelativeTime } from "@/components/fleet/relative-time";
import { ApiError, apiFetch, messageOf } from "@/lib/http/api-fetch";
import { snapshotJsonSchema, snapshotListJsonSchema, type SnapshotJson } from "@/lib/snapshots/snapshot-json";
import { deletionEffect, deletionStateOf, isRunning, newerOf, withUpdate } from "./snapshot-format";
import { SnapshotDeletionState, SnapshotOutcomeCells } from "./snapshot-outcome-cells";
import { useSnapshotUpdates } from "./use-snapshot-updates";
import { DataTable, LoadMoreButton } from "@/components/ui/data-table";
import { SnapshotRestoreActions } from "@/components/restore/snapshot-restore-actions";
import { ErrorText } from "@/components/ui/error-text";

const PAGE = 20;

export function VmSnapshotHistory({
  vmId,
  onDeleteRefused,
  onRestore,
}: {
  vmId: string;
  onDeleteRefused?: () => void;
  onRestore?: (snapshotId: string) => void;
}) {
  const [rows, setRows] = useState<SnapshotJson[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  /** Snapshots whose DELETE request is in flight (before the server's first update arrives). */
  const [sending, setSending] = useState<ReadonlySet<string>>(new Set());

  const load = useCallback(
    async (after: string | null) => {
      try {
        const page = await apiFetch(`/api/vms/${vmId}/snapshots?limit=${PAGE}${after ? `&cursor=${after}` : ""}`, {
          schema: snapshotListJsonSchema,
        });
        setRows((old) =>
          after && old ? [...old, ...page.snapshots.filter((s) => !old.some((o) => o.id === s.id))] : page.snapshots,
        );
        setCursor(page.nextCursor);
        setError(null);
      } catch (err) {
        setError(`Could not load the history: ${messageOf(err)}`);
      }
    },
    [vmId],
  );

  useEffect(() => {
    void load(null);
  }, [load]);

  useSnapshotUpdates(
    `vm:${vmId}`,
    (s) => {
      if (s.vmId !== vmId) return;
      setRows((old) => {
        if (!old) return old;
        if (s.deletedAt) return old.filter((r) => r.id !== s.id);
        return withUpdate(old, s);
      });
    },
    { onReconnect: () => void load(null) },
  );

  const replaceRow = useCallback((s: SnapshotJson) => {
    setRows((old) => {
      if (!old) return old;
      if (s.deletedAt) return old.filter((r) => r.id !== s.id);
      return old.map((r) => (r.id === s.id ? newerOf(r, s) : r));
    });
  }, []);

  const rereadRow = async (id: string) => {
    try {
      replaceRow(await apiFetch(`/api/snapshots/${id}`, { schema: snapshotJsonSchema }));
    } catch {
      // The row stays as shown until its next event; the refusal's message is on screen already.
    }
  };

  /** DELETE; a retry resumes a stopped deletion (no new confirmation: the operator confirmed it already). */
  async function remove(s: SnapshotJson, retry = false) {
    if (
      !retry &&
      !confirm(`Delete the ${s.mode} snapshot of ${new Date(s.createdAt).toLocaleString()}? ${deletionEffect(s)}`)
    )
      return;
    setError(null);
    setSending((old) => new Set(old).add(s.id));
    try {
      const answer = await apiFetch<{ snapshot?: unknown } | undefined>(`/api/snapshots/${s.id}`, { method: "DELETE" });
      const parsed = snapshotJsonSchema.safeParse(answer?.snapshot);
      if (parsed.success) replaceRow(parsed.data);
      else setRows((old) => old?.filter((r) => r.id !== s.id) ?? old);
    } catch (err) {
      setError(messageOf(err));
      if (err instanceof ApiError && err.status === 409) {
        // The refusal may have stopped a deletion (its journal now says why) or come from disk drift the
        // VM page does not show yet: re-read both.
        onDeleteRefused?.();
        await rereadRow(s.id);
      }
    } finally {
      setSending((old) => {
        const next = new Set(old);
        next.delete(s.id);
        return next;
      });
    }
  }

  return (
    <section aria-labelledby="snapshot-history-heading" className="space-y-2">
      <h2 id="snapshot-history-heading" className="text-base font-semibold">
        Snapshot history
      </h2>
      <ErrorText error={error} />
      {rows === null ? (
        <p className="text-sm text-slate-500">Loading…</p>
      ) : rows.length === 0 ? (
        <p className="rounded-lg border border-dashed border-slate-300 px-4 py-6 text-center text-sm text-slate-500 dark:border-slate-700">
          No snapshots yet. Click Snapshot now above to take the first one.
        </p>
      ) : (
        <DataTable
          columns={[
            { label: "Taken" },
            { label: "Mode" },
            { label: "Status" },
            { label: "Guest pause", align: "right" },
            { label: "Duration", align: "right" },
            { label: "Size", align: "right" },
            { label: "Note" },
            { label: "Actions", srOnly: true },
          ]}
        >
          {rows.map((s) => (
            <tr key={s.id} data-snapshot-id={s.id}>
              <td className="px-3 py-1.5">
                <RelativeTime iso={s.createdAt} />
              </td>
              <SnapshotOutcomeCells s={s} />
              <td className="px-3 py-1.5 text-right tabular-nums">{formatBytes(s.sizeBytes)}</td>
              <td
                className="max-w-56 truncate px-3 py-1.5 text-slate-600 dark:text-slate-400"
                title={s.error?.message ?? s.note ?? undefined}
              >
                {s.status === "failed" ? (
                  <span className="text-red-700 dark:text-red-400">{s.error?.message}</span>
                ) : (
                  (s.note ?? "")
                )}
              </td>
              <td className="px-3 py-1.5 text-right">
                <div className="flex items-center justify-end gap-3">
                  <SnapshotRestoreActions s={s} onRestore={onRestore} />
                  <DeleteAction s={s} sending={sending.has(s.id)} onDelete={(retry) => void remove(s, retry)} />
                </div>
              </td>
            </tr>
          ))}
        </DataTable>
      )}
      {cursor && <LoadMoreButton onClick={() => void load(cursor)} />}
    </section>
  );
}

/** The Actions cell: Delete, or where a deletion stands (Deleting… / Delete blocked + Retry delete). */
function DeleteAction({
  s,
  sending,
  onDelete,
}: {
  s: SnapshotJson;
  sending: boolean;
  onDelete: (retry: boolean) => void;
}) {
  if (isRunning(s.status)) return null;
  const d = deletionStateOf(s);
  if (d?.kind === "blocked") {
    return (
      <div className="flex flex-col items-end gap-1">
        <SnapshotDeletionState s={s} />
        <button
          type="button"
          onClick={() => onDelete(true)}
          disabled={sending}
          className="text-xs font-medium text-red-700 hover:underline disabled:opacity-50 dark:text-red-400"
        >
          {sending ? "Retrying…" : "Retry delete"}
        </button>
      </div>
    );
  }
  if (d) return <SnapshotDeletionState s={s} />;
  if (sending) {
    return (
      <span
        data-testid="snapshot-deletion"
        data-state="deleting"
        className="text-xs text-slate-600 dark:text-slate-400"
      >
        Deleting…
      </span>
    );
  }
  return (
    <button
      type="button"
      onClick={() => onDelete(false)}
      className="text-xs text-red-700 hover:underline dark:text-red-400"
    >
      Delete
    </button>
  );
}

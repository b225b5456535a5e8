"use client";
// The VM page's Restore panel: the VM's latest rollback, live (follows `vm:<id>` "restore.updated":
// queued → setup → active → completed/failed), with its steps, the safety snapshot that undoes it and
// the reason of a failure. A WebSocket reconnect re-reads the list.
import { useCallback, useEffect, useState } from "react";
import { useTopic } from "@/components/realtime/realtime-provider";
import { apiFetch } from "@/lib/http/api-fetch";
import {
  RESTORE_UPDATED_EVENT,
  restoreJsonSchema,
  restoreListJsonSchema,
  type RestoreJson,
} from "@/lib/restore/restore-json";

const STEP_LABELS: Array<[RestoreJson["status"], string]> = [
  ["setup", "Safety snapshot and checks"],
  ["active", "QEMU stopped, disks rolled back, state loaded"],
  ["completed", "Running from the snapshot"],
];

export function RestorePanel({ vmId }: { vmId: string }) {
  const [restore, setRestore] = useState<RestoreJson | null>(null);

  const load = useCallback(async () => {
    try {
      const list = await apiFetch(`/api/vms/${vmId}/restores`, { schema: restoreListJsonSchema });
      setRestore(list.restores.find((r) => r.kind === "rollback") ?? null);
    } catch {
      // The panel keeps what it shows; the next event or reconnect refreshes it.
    }
  }, [vmId]);

  useEffect(() => {
    void load();
  }, [load]);

  useTopic(
    `vm:${vmId}`,
    (name, payload) => {
      if (name !== RESTORE_UPDATED_EVENT) return;
      const parsed = restoreJsonSchema.safeParse(payload);
      if (!parsed.success || parsed.data.vmId !== vmId || parsed.data.kind !== "rollback") return;
      const r = parsed.data;
      setRestore((old) =>
        !old || old.id === r.id || r.createdAt >= old.createdAt
          ? old?.id === r.id && old.statusHistory.length > r.statusHistory.length
            ? old
            : r
          : old,
      );
    },
    { onReconnect: () => void load() },
  );

  if (!restore) return null;
  const reached = (s: RestoreJson["status"]) => restore.statusHistory.some((h) => h.status === s);
  const last = restore.statusHistory.at(-1);
  return (
    <section
      aria-label="Restore"
      className="space-y-2 rounded-lg border border-slate-200 bg-white p-4 text-sm dark:border-slate-800 dark:bg-slate-900"
    >
      <div className="flex items-center gap-2">
        <h2 className="text-base font-semibold">Restore</h2>
        <span
          data-testid="restore-status"
          data-status={restore.status}
          className={`rounded-full px-2 py-0.5 text-xs font-medium ${
            restore.status === "completed"
              ? "bg-emerald-50 text-emerald-800 dark:bg-emerald-950 dark:text-emerald-300"
              : restore.status === "failed"
                ? "bg-red-50 text-red-800 dark:bg-red-950 dark:text-red-300"
                : "animate-pulse bg-sky-50 text-sky-800 dark:bg-sky-950 dark:text-sky-300"
          }`}
        >
          {restore.status}
        </span>
        <span className="text-xs text-slate-500">to snapshot {restore.snapshotId.slice(0, 8)}</span>
      </div>
      <ol aria-label="Restore steps" className="space-y-1">
        {STEP_LABELS.map(([s, label]) => {
          const state =
            restore.status === "failed" && !reached(s)
              ? "skipped"
              : reached(s)
                ? restore.status === s && s !== "completed"
                  ? "running"
                  : "done"
                : "pending";
          return (
            <li
              key={s}
              data-state={state}
              className={state === "done" ? "text-slate-900 dark:text-slate-100" : "text-slate-500"}
            >
              {state === "done" ? "✓" : state === "running" ? "…" : "·"} {label}
            </li>
          );
        })}
      </ol>
      {last?.detail && (
        <p data-testid="restore-detail" className="text-slate-600 dark:text-slate-400">
          {last.detail}
        </p>
      )}
      {restore.error && (
        <p role="alert" className="whitespace-pre-wrap text-red-700 dark:text-red-400">
          {restore.error.message}
        </p>
      )}
      {restore.safetySnapshotId && (
        <p data-testid="restore-safety" className="text-xs text-slate-600 dark:text-slate-400">
          Safety snapshot (the disks just before): {restore.safetySnapshotId.slice(0, 8)} — restore it to undo this
          rollback.
        </p>
      )}
    </section>
  );
}

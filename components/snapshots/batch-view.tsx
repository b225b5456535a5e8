"use client";
// The one progress view of a "Snapshot now" for a selection of VMs: every job of the batch in one table
// (status chip, RAM progress, guest pause, duration, size, failure), a summary line (how many done,
// running, waiting for a slot, failed) and the VMs that were refused with their reasons. Each row
// follows its own `snapshot:<id>` topic (progress ticks included); after a reconnect the whole batch is
// re-read, since events sent meanwhile are not replayed.
import Link from "next/link";
import { memo, useCallback, useMemo, useState } from "react";
import { formatBytes, formatDateTime } from "@/components/fleet/format";
import { RealtimeIndicator } from "@/components/realtime/realtime-indicator";
import { useTopic } from "@/components/realtime/realtime-provider";
import { DataTable } from "@/components/ui/data-table";
import { snapshotBatchDetailJsonSchema, type SnapshotBatchDetailJson } from "@/lib/snapshots/batch-json";
import type { SnapshotJson } from "@/lib/snapshots/snapshot-json";
import { apiFetch, messageOf } from "@/lib/http/api-fetch";
import { newerOf } from "./snapshot-format";
import { SnapshotOutcomeCells } from "./snapshot-outcome-cells";
import { useSnapshotUpdates } from "./use-snapshot-updates";
import { VmNameCell } from "./vm-name-cell";
import { ErrorText } from "@/components/ui/error-text";
import { ProgressBar } from "@/components/ui/progress-bar";

const RUNNING = new Set(["preflight", "setup", "active"]);

export function BatchView({ initial }: { initial: SnapshotBatchDetailJson }) {
  const [detail, setDetail] = useState(initial);
  const [jobs, setJobs] = useState(initial.snapshots);
  const [error, setError] = useState<string | null>(null);

  const reload = useCallback(async () => {
    try {
      const next = await apiFetch(`/api/snapshots/batches/${initial.batch.id}`, {
        schema: snapshotBatchDetailJsonSchema,
      });
      setDetail(next);
      setJobs((old) => next.snapshots.map((s) => newerOf(old.find((o) => o.id === s.id) ?? null, s)));
      setError(null);
    } catch (err) {
      setError(`Could not reload the batch: ${messageOf(err)}`);
    }
  }, [initial.batch.id]);

  // The page-wide topic only tells about reconnects: the rows follow their own jobs.
  useTopic("fleet", () => undefined, { onReconnect: () => void reload() });

  const onUpdate = useCallback(
    (s: SnapshotJson) => setJobs((old) => old.map((o) => (o.id === s.id ? newerOf(o, s) : o))),
    [],
  );

  const counts = useMemo(() => {
    const by = (f: (s: SnapshotJson) => boolean) => jobs.filter(f).length;
    return {
      completed: by((s) => s.status === "completed"),
      running: by((s) => RUNNING.has(s.status)),
      queued: by((s) => s.status === "queued"),
      failed: by((s) => s.status === "failed"),
      cancelled: by((s) => s.status === "cancelled"),
      bytes: jobs.reduce((n, s) => n + (s.status === "completed" ? (s.sizeBytes ?? 0) : 0), 0),
    };
  }, [jobs]);
  const { batch, limits } = detail;
  const hostLimits = [...new Set(Object.values(limits.perHost))];
  const finished = counts.completed + counts.failed + counts.cancelled;

  return (
    <div className="space-y-4">
      <div className="flex flex-wrap items-center gap-3 rounded-lg border border-slate-200 bg-white p-3 text-sm dark:border-slate-800 dark:bg-slate-900">
        <p data-testid="batch-summary" data-finished={finished} data-total={jobs.length} className="font-medium">
          {finished} of {jobs.length} finished · {counts.completed} completed · {counts.running} running ·{" "}
          {counts.queued} waiting
          {counts.failed ? ` · ${counts.failed} failed` : ""}
          {counts.cancelled ? ` · ${counts.cancelled} cancelled` : ""}
        </p>
        <span className="text-slate-600 dark:text-slate-400">
          {batch.mode} · asked {formatDateTime(batch.createdAt)}
          {batch.createdBy ? ` by ${batch.createdBy}` : ""}
          {batch.note ? ` · “${batch.note}”` : ""} · {formatBytes(counts.bytes)} written
        </span>
        <span className="ml-auto">
          <RealtimeIndicator />
        </span>
      </div>
      {counts.queued > 0 && (
        <p className="text-xs text-slate-600 dark:text-slate-400">
          Waiting jobs start as slots free: at most {hostLimits.length === 1 ? hostLimits[0] : hostLimits.join(" / ")}{" "}
          running snapshot
          {hostLimits.length === 1 && hostLimits[0] === 1 ? "" : "s"} per host and {limits.global} in the fleet.
        </p>
      )}
      <ErrorText error={error} />

      <section aria-label="Batch jobs">
        <DataTable
          columns={[
            { label: "VM" },
            { label: "Mode" },
            { label: "Status" },
            { label: "Guest pause", align: "right" },
            { label: "Duration", align: "right" },
            { label: "RAM saved" },
            { label: "Size", align: "right" },
            { label: "Reason" },
          ]}
        >
          {jobs.map((s) => (
            <BatchJobRow key={s.id} s={s} onUpdate={onUpdate} />
          ))}
        </DataTable>
      </section>

      {batch.refused.length > 0 && (
        <section aria-labelledby="refused-heading" className="space-y-2">
          <h2 id="refused-heading" className="text-base font-semibold">
            Not queued ({batch.refused.length})
          </h2>
          <ul className="space-y-1 rounded-lg border border-amber-300 bg-amber-50 p-3 text-sm text-amber-900 dark:border-amber-800 dark:bg-amber-950 dark:text-amber-200">
            {batch.refused.map((r) => (
              <li key={r.vmId} data-testid="batch-refused">
                {r.vmName ? (
                  <Link href={`/vms/${r.vmId}`} className="font-medium underline">
                    {r.vmName}
                  </Link>
                ) : (
                  <span className="font-mono text-xs">{r.vmId}</span>
                )}
                : {r.reason}
              </li>
            ))}
          </ul>
        </section>
      )}
    </div>
  );
}

/** Memoised: one job's progress tick re-renders one row. */
const BatchJobRow = memo(function BatchJobRow({
  s,
  onUpdate,
}: {
  s: SnapshotJson;
  onUpdate: (s: SnapshotJson) => void;
}) {
  useSnapshotUpdates(`snapshot:${s.id}`, (update) => {
    if (update.id === s.id) onUpdate(update);
  });
  const pct = Math.round((s.status === "completed" ? 1 : s.progress) * 100);
  return (
    <tr data-testid="batch-job" data-vm-name={s.vmName} data-status={s.status}>
      <VmNameCell vmId={s.vmId} vmName={s.vmName} hostName={s.hostName} />
      <SnapshotOutcomeCells s={s} />
      <td className="px-3 py-1.5">
        {s.mode === "disks-only" ? (
          <span className="text-slate-400">—</span>
        ) : (
          <ProgressBar label={`RAM saved of ${s.vmName}`} pct={pct} width="w-28" />
        )}
      </td>
      <td className="px-3 py-1.5 text-right tabular-nums">{formatBytes(s.sizeBytes)}</td>
      <td className="max-w-72 truncate px-3 py-1.5" title={s.error?.message ?? undefined}>
        {s.error && <span className="text-red-700 dark:text-red-400">{s.error.message}</span>}
      </td>
    </tr>
  );
});

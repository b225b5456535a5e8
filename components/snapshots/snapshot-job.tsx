"use client";
// One snapshot job on the VM page, as SnapshotPanel follows it: status, mode and note with Cancel (and
// Force fail when a cancel hangs), the steps (preflight, pause, disks, RAM), a progress bar with bytes, rate
// and ETA, and the result (guest pause, duration, size) or the failure in words with what to do.
import { useEffect, useState } from "react";
import { formatBytes } from "@/components/fleet/format";
import { apiFetch, messageOf } from "@/lib/http/api-fetch";
import type { SnapshotJson } from "@/lib/snapshots/snapshot-json";
import { adviceFor, durationMs, formatMs, formatRate, isRunning, stepsOf, type StepState } from "./snapshot-format";
import { SnapshotStatusChip } from "./snapshot-status-chip";
import { Button } from "@/components/ui/button";
import { ProgressBar } from "@/components/ui/progress-bar";

const STEP_STYLE: Record<StepState, { icon: string; cls: string }> = {
  pending: { icon: "○", cls: "text-slate-400" },
  current: { icon: "◐", cls: "font-medium text-sky-700 dark:text-sky-400" },
  done: { icon: "✓", cls: "text-emerald-700 dark:text-emerald-400" },
  failed: { icon: "✕", cls: "font-medium text-red-700 dark:text-red-400" },
  skipped: { icon: "–", cls: "text-slate-400 line-through" },
};

export function JobPanel({ job, onCancel }: { job: SnapshotJson; onCancel: () => void }) {
  const [now, setNow] = useState(() => Date.now());
  const running = isRunning(job.status);
  useEffect(() => {
    if (!running) return;
    const t = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(t);
  }, [running]);
  const last = job.statusHistory.at(-1);
  const remaining =
    job.ramTotalBytes !== null && job.ramTransferredBytes !== null
      ? Math.max(0, job.ramTotalBytes - job.ramTransferredBytes)
      : null;
  const eta = remaining !== null && job.throughputBytesPerSec ? (remaining / job.throughputBytesPerSec) * 1000 : null;
  const pct = Math.round(job.progress * 100);

  return (
    <div
      data-testid="snapshot-job"
      data-snapshot-id={job.id}
      className="mt-4 rounded-md border border-slate-200 p-3 dark:border-slate-800"
    >
      <JobHeader job={job} running={running} onCancel={onCancel} />

      <ol aria-label="Snapshot steps" className="mt-3 flex flex-wrap gap-x-5 gap-y-1 text-sm">
        {stepsOf(job).map((s) => (
          <li key={s.key} data-step={s.key} data-state={s.state} className={STEP_STYLE[s.state].cls}>
            <span aria-hidden className="mr-1">
              {STEP_STYLE[s.state].icon}
            </span>
            {s.label}
          </li>
        ))}
      </ol>

      {job.mode !== "disks-only" && (job.status === "active" || job.status === "completed") && (
        <div className="mt-3">
          <ProgressBar label="RAM saved" pct={pct} />
          <p className="mt-1 text-xs tabular-nums text-slate-600 dark:text-slate-400">
            {formatBytes(job.ramTransferredBytes)} of {formatBytes(job.ramTotalBytes)} ·{" "}
            {formatRate(job.throughputBytesPerSec)}
            {running && eta !== null ? ` · about ${formatMs(eta)} left` : ""}
          </p>
        </div>
      )}

      {running && last?.detail && <p className="mt-2 text-xs text-slate-500 dark:text-slate-400">{last.detail}</p>}
      {job.cancelRequested && running && (
        <p className="mt-2 text-xs text-slate-500 dark:text-slate-400">
          Cancelling safely: QEMU finishes into a discarding sink (cancelling it outright would freeze the guest), then
          the files are removed and the disks merged back.
        </p>
      )}

      {job.status === "completed" && (
        <dl data-testid="snapshot-result" className="mt-3 grid grid-cols-2 gap-3 text-sm sm:grid-cols-4">
          <Figure
            label="Guest pause"
            value={job.guestPauseMs !== null ? formatMs(job.guestPauseMs) : "none (VM was paused)"}
            testId="guest-pause"
          />
          <Figure label="Duration" value={formatMs(durationMs(job, now))} />
          <Figure label="Size" value={formatBytes(job.sizeBytes)} />
          <Figure label="QEMU downtime" value={formatMs(job.qemuDowntimeMs)} />
        </dl>
      )}
      {job.status === "failed" && job.error && (
        <div
          role="alert"
          className="mt-3 rounded-md bg-red-50 p-3 text-sm text-red-900 dark:bg-red-950 dark:text-red-200"
        >
          <p className="font-medium">The snapshot failed: {job.error.message}</p>
          <p className="mt-1">{adviceFor(job.error.class)}</p>
        </div>
      )}
      {job.status === "cancelled" && (
        <p className="mt-3 text-sm text-slate-600 dark:text-slate-400">
          Cancelled. Nothing was kept; the VM is as it was before.
        </p>
      )}
    </div>
  );
}

/** The job's status, mode and note, with Cancel while it runs (and Force fail once a cancel hangs). */
function JobHeader({ job, running, onCancel }: { job: SnapshotJson; running: boolean; onCancel: () => void }) {
  return (
    <div className="flex flex-wrap items-center justify-between gap-2">
      <div className="flex items-center gap-2 text-sm">
        <span data-testid="snapshot-status" data-status={job.status}>
          <SnapshotStatusChip status={job.status} />
        </span>
        <span className="text-slate-600 dark:text-slate-400">
          {job.mode} snapshot{job.note ? ` — ${job.note}` : ""}
        </span>
      </div>
      {running && (
        <button
          type="button"
          onClick={onCancel}
          disabled={job.cancelRequested}
          className="rounded-md border border-slate-300 px-3 py-1 text-xs font-medium hover:bg-slate-50 disabled:opacity-50 dark:border-slate-700 dark:hover:bg-slate-800"
        >
          {job.cancelRequested ? "Cancelling…" : "Cancel"}
        </button>
      )}
      {running && job.cancelRequested && <ForceFailButton job={job} />}
    </div>
  );
}

function Figure({ label, value, testId }: { label: string; value: string; testId?: string }) {
  return (
    <div>
      <dt className="text-xs text-slate-500 dark:text-slate-400">{label}</dt>
      <dd data-testid={testId} className="font-semibold tabular-nums">
        {value}
      </dd>
    </div>
  );
}

/**
 * For a job that stays in flight after a cancel (a hung QEMU, a dead worker): fails it at once
 * (POST /api/snapshots/{id}/force-fail, operator, audited). The update arrives over the realtime topic.
 */
function ForceFailButton({ job }: { job: SnapshotJson }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  async function forceFail() {
    if (
      !window.confirm(
        "Fail this snapshot now? QEMU's stream is never cut; anything it created stays listed until you delete the snapshot.",
      )
    )
      return;
    setBusy(true);
    try {
      await apiFetch(`/api/snapshots/${job.id}/force-fail`, { method: "POST" });
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  }
  return (
    <span className="flex items-center gap-2">
      <Button variant="danger" onClick={forceFail} busy={busy} busyLabel="Failing…">
        Force fail
      </Button>
      {error && (
        <span role="status" className="text-xs text-red-700 dark:text-red-400">
          {error}
        </span>
      )}
    </span>
  );
}

"use client";
// The VM page's "Snapshot now": a mode picker and a note, then a live panel for the job — steps
// (preflight, pause, disks, RAM), a progress bar with bytes, rate and ETA, and the result (guest pause,
// duration, size) or the failure in words with what to do. It follows `snapshot:<id>` for the job and
// `vm:<id>` for jobs started elsewhere (a schedule, another tab), and re-reads after a reconnect.
// A 409 (a job already runs) opens that job instead of an error. Modes this VM cannot take are disabled
// before the click, with the reason next to the picker: no background snapshot (QEMU, VFIO…) leaves
// disks-only; writable disks that are not qcow2 (vm.diskSnapshotBlocker) leave ram-only; a host kind that
// cannot give a mode (vm.hostModeBlockers: a TLS host gives disks-only only) disables it with the reason.
import { useCallback, useEffect, useState } from "react";
import { z } from "zod";
import { useTopic } from "@/components/realtime/realtime-provider";
import { formatBytes } from "@/components/fleet/format";
import type { VmJson } from "@/lib/fleet/vm-json";
import { ApiError, apiFetch, messageOf } from "@/lib/http/api-fetch";
import {
  SNAPSHOT_UPDATED_EVENT,
  snapshotJsonSchema,
  snapshotListJsonSchema,
  type SnapshotJson,
} from "@/lib/snapshots/snapshot-json";
import { SNAPSHOT_MODES, type SnapshotModeName } from "@/lib/validations/snapshot";
import {
  adviceFor,
  durationMs,
  formatMs,
  formatRate,
  isRunning,
  newerOf,
  stepsOf,
  type StepState,
} from "./snapshot-format";
import { SnapshotStatusChip } from "./snapshot-status-chip";
import { Button } from "@/components/ui/button";
import { CheckboxField } from "@/components/ui/checkbox-field";
import { Panel } from "@/components/ui/panel";
import { ProgressBar } from "@/components/ui/progress-bar";

const MODE_HELP: Record<SnapshotModeName, string> = {
  live: "Disks, RAM and device state at one instant; the guest keeps running while RAM is saved.",
  "ram-only": "RAM and device state only (for VMs without writable disks, or whose disks are snapshotted elsewhere).",
  "disks-only":
    "Crash-consistent disk state (kept inside each qcow2 image), no RAM: like pulling the plug, without stopping anything.",
};

/** The answer of starting or cancelling a job. */
const snapshotAnswerSchema = z.object({ snapshot: snapshotJsonSchema });

/** The job that already runs, when a start was refused for it (409 with its id). */
function runningJobOf(err: unknown): string | undefined {
  if (!(err instanceof ApiError) || err.status !== 409) return undefined;
  return (err.details as { snapshotId?: string } | undefined)?.snapshotId;
}

/** Whether this VM can take a snapshot of mode `m` (RAM needs a background snapshot, disks need qcow2). */
function modeAllowed(m: SnapshotModeName, liveImpossible: boolean, disksBlocked: boolean): boolean {
  if (m === "live") return !liveImpossible && !disksBlocked;
  if (m === "ram-only") return !liveImpossible;
  return !disksBlocked;
}

export function SnapshotPanel({ vm }: { vm: VmJson }) {
  const liveImpossible = !vm.bgSnapshotSupported && vm.qemuVersion !== null;
  const diskBlocker = vm.diskSnapshotBlocker;
  // What the VM's host kind cannot give (a TLS host: only disks-only; lib/fleet/host-capabilities.ts).
  const hostBlockers = vm.hostModeBlockers ?? null;
  const hostBlocked = SNAPSHOT_MODES.filter((m) => hostBlockers?.[m]);
  const allowed = (m: SnapshotModeName) => modeAllowed(m, liveImpossible, diskBlocker !== null) && !hostBlockers?.[m];
  const fallbackMode: SnapshotModeName = (["live", "ram-only", "disks-only"] as const).find(allowed) ?? "live";
  const noModePossible = !SNAPSHOT_MODES.some(allowed);
  const [picked, setPicked] = useState<SnapshotModeName>(fallbackMode);
  // What the VM allows may change while the page is open (discovery sees a new disk): never keep a disabled mode.
  const mode = allowed(picked) ? picked : fallbackMode;
  const [note, setNote] = useState("");
  // Freeze the guest's filesystems (disks-only; docs/quiesce.md): the VM's setting until the operator picks.
  const [quiescePicked, setQuiesce] = useState<boolean | null>(null);
  const quiesce = quiescePicked ?? vm.quiesce ?? false;
  const [job, setJob] = useState<SnapshotJson | null>(null);
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<string | null>(null);

  const apply = useCallback((next: SnapshotJson) => setJob((cur) => newerOf(cur, next)), []);

  const loadRunning = useCallback(async () => {
    try {
      const page = await apiFetch(`/api/vms/${vm.id}/snapshots?status=queued,preflight,setup,active&limit=1`, {
        schema: snapshotListJsonSchema,
      });
      if (page.snapshots[0]) apply(page.snapshots[0]);
    } catch {
      // The next event refreshes it.
    }
  }, [vm.id, apply]);

  const loadJob = useCallback(
    async (id: string) => {
      try {
        apply(await apiFetch(`/api/snapshots/${id}`, { schema: snapshotJsonSchema }));
      } catch {
        // The next event or reconnect refreshes it.
      }
    },
    [apply],
  );

  const reloadJob = useCallback(() => (job ? loadJob(job.id) : loadRunning()), [job, loadJob, loadRunning]);

  useEffect(() => {
    void loadRunning();
  }, [loadRunning]);

  const onEvent = useCallback(
    (name: string, payload: unknown) => {
      if (name !== SNAPSHOT_UPDATED_EVENT) return;
      const parsed = snapshotJsonSchema.safeParse(payload);
      if (!parsed.success || parsed.data.vmId !== vm.id) return;
      const s = parsed.data;
      // Another job of this VM replaces the shown one only when it runs and the shown one has ended.
      setJob((cur) =>
        !cur || cur.id === s.id || (isRunning(s.status) && !isRunning(cur.status)) ? newerOf(cur, s) : cur,
      );
    },
    [vm.id],
  );
  useTopic(job ? `snapshot:${job.id}` : null, onEvent, { onReconnect: () => void reloadJob() });
  useTopic(`vm:${vm.id}`, onEvent, { onReconnect: () => void reloadJob() });

  async function start(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true);
    setMessage(null);
    try {
      const started = await apiFetch(`/api/vms/${vm.id}/snapshots`, {
        method: "POST",
        json: { mode, note: note.trim() || undefined, ...(mode === "disks-only" ? { quiesce } : {}) },
        schema: snapshotAnswerSchema,
      });
      apply(started.snapshot);
      setNote("");
    } catch (err) {
      const running = runningJobOf(err);
      setMessage(running ? "A snapshot of this VM is already in progress: showing it." : messageOf(err));
      if (running) await loadJob(running);
    } finally {
      setBusy(false);
    }
  }

  async function cancel() {
    if (!job) return;
    try {
      apply(
        (await apiFetch(`/api/snapshots/${job.id}/cancel`, { method: "POST", schema: snapshotAnswerSchema })).snapshot,
      );
    } catch (err) {
      setMessage(`Could not cancel: ${messageOf(err)}`);
    }
  }

  const running = job !== null && isRunning(job.status);
  const canSnapshot = vm.state === "running" || vm.state === "paused";

  return (
    <Panel headingId="snapshot-now-heading" title="Snapshot">
      <form onSubmit={start} className="mt-3 flex flex-wrap items-end gap-3">
        <label className="text-sm">
          <span className="mb-1 block text-xs font-medium text-slate-600 dark:text-slate-400">Mode</span>
          <select
            value={mode}
            onChange={(e) => setPicked(e.target.value as SnapshotModeName)}
            disabled={running || busy}
            aria-describedby={diskBlocker ? "disk-snapshot-blocker" : undefined}
            className="rounded-md border border-slate-300 bg-white px-2 py-1.5 text-sm dark:border-slate-700 dark:bg-slate-950"
          >
            {SNAPSHOT_MODES.map((m) => (
              <option key={m} value={m} disabled={!allowed(m)}>
                {m}
              </option>
            ))}
          </select>
        </label>
        <label className="min-w-48 flex-1 text-sm">
          <span className="mb-1 block text-xs font-medium text-slate-600 dark:text-slate-400">Note (optional)</span>
          <input
            value={note}
            onChange={(e) => setNote(e.target.value)}
            maxLength={500}
            disabled={running || busy}
            placeholder="e.g. before the kernel upgrade"
            className="w-full rounded-md border border-slate-300 bg-white px-2 py-1.5 text-sm dark:border-slate-700 dark:bg-slate-950"
          />
        </label>
        {mode === "disks-only" && (
          <CheckboxField
            className="flex items-center gap-2 self-center text-sm"
            title="Application-consistent disks: the guest agent freezes the filesystems for the instant of the snapshot (bounded; crash-consistent if it does not answer)."
            checked={quiesce}
            onChange={setQuiesce}
            disabled={running || busy}
          >
            Freeze filesystems (guest agent)
          </CheckboxField>
        )}
        <button
          type="submit"
          disabled={running || busy || !canSnapshot || noModePossible}
          className="rounded-md bg-sky-600 px-4 py-2 text-sm font-semibold text-white hover:bg-sky-500 disabled:cursor-not-allowed disabled:opacity-50"
        >
          {busy ? "Starting…" : "Snapshot now"}
        </button>
      </form>
      {diskBlocker && (
        <p
          id="disk-snapshot-blocker"
          data-testid="disk-snapshot-blocker"
          className="mt-2 rounded-md border border-amber-300 bg-amber-50 px-3 py-2 text-xs text-amber-900 dark:border-amber-800 dark:bg-amber-950 dark:text-amber-200"
        >
          <span className="font-medium">Live and disks-only snapshots are disabled for this VM:</span> {diskBlocker}
          {/[.!?]$/.test(diskBlocker) ? "" : "."}
          {noModePossible && " RAM snapshots are blocked too (see the warning below): no snapshot mode is possible."}
        </p>
      )}
      {hostBlocked.length > 0 && (
        <p
          data-testid="host-mode-blocker"
          className="mt-2 rounded-md border border-amber-300 bg-amber-50 px-3 py-2 text-xs text-amber-900 dark:border-amber-800 dark:bg-amber-950 dark:text-amber-200"
        >
          <span className="font-medium">
            {hostBlocked.join(" and ")} snapshot{hostBlocked.length > 1 ? "s are" : " is"} not offered on this{" "}
            {vm.hostKind ?? ""} host:
          </span>{" "}
          {hostBlockers?.[hostBlocked[0]!]}
        </p>
      )}
      <p className="mt-2 text-xs text-slate-500 dark:text-slate-400">
        {MODE_HELP[mode]}
        {liveImpossible && " Live and RAM snapshots are impossible for this VM (see the warning below)."}
        {!canSnapshot && ` The VM is ${vm.state}: only a running or paused VM can be snapshotted.`}
      </p>
      {message && (
        <p role="status" className="mt-2 text-sm text-amber-700 dark:text-amber-400">
          {message}
        </p>
      )}
      {job && <JobPanel job={job} onCancel={cancel} />}
    </Panel>
  );
}

const STEP_STYLE: Record<StepState, { icon: string; cls: string }> = {
  pending: { icon: "○", cls: "text-slate-400" },
  current: { icon: "◐", cls: "font-medium text-sky-700 dark:text-sky-400" },
  done: { icon: "✓", cls: "text-emerald-700 dark:text-emerald-400" },
  failed: { icon: "✕", cls: "font-medium text-red-700 dark:text-red-400" },
  skipped: { icon: "–", cls: "text-slate-400 line-through" },
};

function JobPanel({ job, onCancel }: { job: SnapshotJson; onCancel: () => void }) {
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

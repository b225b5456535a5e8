"use client";
// The VM page's "Snapshot now": a mode picker and a note, then a live panel for the job (./snapshot-job.tsx:
// steps, progress, the result or the failure in words). It follows `snapshot:<id>` for the job and
// `vm:<id>` for jobs started elsewhere (a schedule, another tab), and re-reads after a reconnect.
// A 409 (a job already runs) opens that job instead of an error. Modes this VM cannot take are disabled
// before the click, with the reason next to the picker: no background snapshot (QEMU, VFIO…) leaves
// disks-only; writable disks that are not qcow2 (vm.diskSnapshotBlocker) leave ram-only; a host kind that
// cannot give a mode (vm.hostModeBlockers: a TLS host gives disks-only only) disables it with the reason.
import { useCallback, useEffect, useState } from "react";
import { z } from "zod";
import type { VmJson } from "@/lib/fleet/vm-json";
import { ApiError, apiFetch, messageOf } from "@/lib/http/api-fetch";
import { snapshotJsonSchema, snapshotListJsonSchema, type SnapshotJson } from "@/lib/snapshots/snapshot-json";
import { SNAPSHOT_MODES, type SnapshotModeName } from "@/lib/validations/snapshot";
import { isRunning, newerOf } from "./snapshot-format";
import { JobPanel } from "./snapshot-job";
import { useSnapshotUpdates } from "./use-snapshot-updates";
import { CheckboxField } from "@/components/ui/checkbox-field";
import { Panel } from "@/components/ui/panel";

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

  const onSnapshot = useCallback(
    (s: SnapshotJson) => {
      if (s.vmId !== vm.id) return;
      // Another job of this VM replaces the shown one only when it runs and the shown one has ended.
      setJob((cur) =>
        !cur || cur.id === s.id || (isRunning(s.status) && !isRunning(cur.status)) ? newerOf(cur, s) : cur,
      );
    },
    [vm.id],
  );
  useSnapshotUpdates(job ? `snapshot:${job.id}` : null, onSnapshot, { onReconnect: () => void reloadJob() });
  useSnapshotUpdates(`vm:${vm.id}`, onSnapshot, { onReconnect: () => void reloadJob() });

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

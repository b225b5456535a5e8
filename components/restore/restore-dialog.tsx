"use client";
// The rollback confirmation: reads the plan (GET /api/snapshots/{id}/restore) and says what will be
// lost (the guest's time since the snapshot) and what stays (newer snapshots, and the current disks as
// a safety snapshot), or — when Snapfleet will not do it — why and the commands to run by hand.
// Restore → POST; the progress then shows in the VM page's Restore panel (vm:<id> events).
import { useEffect, useState } from "react";
import { ApiError, apiFetch, messageOf } from "@/lib/http/api-fetch";
import { rollbackPlanJsonSchema, type RollbackPlanJson } from "@/lib/restore/restore-json";

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} days ${h % 24} h`;
}

export function RestoreDialog({
  snapshotId,
  onClose,
  onStarted,
}: {
  snapshotId: string;
  onClose: () => void;
  onStarted: (restoreId: string) => void;
}) {
  const [plan, setPlan] = useState<RollbackPlanJson | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [sending, setSending] = useState(false);

  useEffect(() => {
    let live = true;
    apiFetch(`/api/snapshots/${snapshotId}/restore`, { schema: rollbackPlanJsonSchema })
      .then((answer) => {
        if (live) setPlan(answer);
      })
      .catch((err: unknown) => {
        if (live) setError(`Could not read what the restore would do: ${messageOf(err)}`);
      });
    return () => {
      live = false;
    };
  }, [snapshotId]);

  async function confirm() {
    setSending(true);
    setError(null);
    try {
      const { restore } = await apiFetch<{ restore: { id: string } }>(`/api/snapshots/${snapshotId}/restore`, {
        method: "POST",
      });
      onStarted(restore.id);
      onClose();
    } catch (err) {
      // A refusal says what to run by hand instead.
      const commands =
        err instanceof ApiError
          ? ((err.details as { refusal?: { commands?: string[] } } | undefined)?.refusal?.commands ?? [])
          : [];
      setError([messageOf(err), ...commands].join("\n"));
    } finally {
      setSending(false);
    }
  }

  return (
    <div
      role="dialog"
      aria-modal="true"
      aria-labelledby="restore-dialog-title"
      className="fixed inset-0 z-50 flex items-center justify-center bg-black/40 p-4"
    >
      <div className="w-full max-w-lg space-y-3 rounded-lg bg-white p-5 text-sm shadow-xl dark:bg-slate-900">
        <h2 id="restore-dialog-title" className="text-base font-semibold">
          Restore this snapshot?
        </h2>
        {!plan && !error && <p className="text-slate-500">Reading what the restore would do…</p>}
        {plan && plan.refusal && (
          <div role="alert" data-testid="restore-refusal" className="space-y-2">
            <p className="text-red-700 dark:text-red-400">{plan.refusal.reason}</p>
            {plan.refusal.commands.length > 0 && (
              <pre className="overflow-x-auto rounded bg-slate-100 p-2 font-mono text-xs dark:bg-slate-800">
                {plan.refusal.commands.join("\n")}
              </pre>
            )}
          </div>
        )}
        {plan && !plan.refusal && (
          <div data-testid="restore-consequences" className="space-y-2">
            <p>
              VM <strong>{plan.vmName}</strong> goes back to {new Date(plan.snapshotAt).toLocaleString()}. Everything
              the guest did since is lost:{" "}
              <strong data-testid="restore-lost">{formatDuration(plan.lostGuestMs)} of guest time</strong>.
            </p>
            <ul className="list-disc space-y-1 pl-5 text-slate-700 dark:text-slate-300">
              <li>Its current disks are kept first as a safety snapshot, so this restore can itself be undone.</li>
              <li>
                {plan.newerSnapshots === 0
                  ? "No snapshot is newer than this one."
                  : `The ${plan.newerSnapshots} newer snapshot${plan.newerSnapshots > 1 ? "s stay" : " stays"}, restorable.`}
              </li>
              <li>
                {plan.coldBoot
                  ? "A disks-only snapshot: the VM boots from the snapshot's disks (no RAM state)."
                  : "QEMU is stopped and started again with the snapshot's RAM state."}
              </li>
              {plan.vmgenid && (
                <li>The VM&apos;s vmgenid device gets a new generation id, so the guest knows it was rolled back.</li>
              )}
              {plan.warnings.map((w) => (
                <li key={w} className="text-amber-800 dark:text-amber-300">
                  {w}
                </li>
              ))}
            </ul>
          </div>
        )}
        {error && (
          <pre role="alert" className="whitespace-pre-wrap text-red-700 dark:text-red-400">
            {error}
          </pre>
        )}
        <div className="flex justify-end gap-2 pt-2">
          <button
            type="button"
            onClick={onClose}
            className="rounded px-3 py-1.5 text-slate-700 hover:bg-slate-100 dark:text-slate-300 dark:hover:bg-slate-800"
          >
            Cancel
          </button>
          <button
            type="button"
            disabled={!plan || !!plan.refusal || sending}
            onClick={() => void confirm()}
            className="rounded bg-red-700 px-3 py-1.5 font-medium text-white hover:bg-red-800 disabled:opacity-50"
          >
            {sending ? "Starting…" : "Restore"}
          </button>
        </div>
      </div>
    </div>
  );
}

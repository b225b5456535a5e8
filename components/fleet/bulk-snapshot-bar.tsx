"use client";
// "Snapshot now (N)" for the VMs selected on the Fleet page: one job per VM (POST /api/snapshots/bulk),
// each waiting for its slot under the host and fleet limits; opens the batch's progress view. When no VM
// could be queued, says why per VM here.
import { useRouter } from "next/navigation";
import { useState } from "react";
import { ApiError, apiFetch, messageOf } from "@/lib/http/api-fetch";
import { bulkSnapshotResultJsonSchema, type BatchRefusalJson } from "@/lib/snapshots/batch-json";
import { SNAPSHOT_MODES, type SnapshotModeName } from "@/lib/validations/snapshot";

export function BulkSnapshotBar({ selected, onClear }: { selected: ReadonlyMap<string, string>; onClear: () => void }) {
  const router = useRouter();
  const [mode, setMode] = useState<SnapshotModeName>("live");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<{ message: string; refused: BatchRefusalJson[] } | null>(null);
  const n = selected.size;

  const submit = async () => {
    setBusy(true);
    setError(null);
    try {
      const result = await apiFetch("/api/snapshots/bulk", {
        method: "POST",
        json: { vmIds: [...selected.keys()], mode },
        schema: bulkSnapshotResultJsonSchema,
      });
      onClear();
      router.push(`/snapshots/batches/${result.batch.id}`);
    } catch (err) {
      const refused =
        err instanceof ApiError ? (err.details as { refused?: BatchRefusalJson[] } | undefined)?.refused : undefined;
      setError({ message: messageOf(err), refused: refused ?? [] });
    } finally {
      setBusy(false);
    }
  };

  if (n === 0 && !error) return null;
  return (
    <div
      role="region"
      aria-label="Selected VMs"
      className="space-y-2 rounded-lg border border-sky-200 bg-sky-50 p-3 text-sm dark:border-sky-900 dark:bg-sky-950"
    >
      <div className="flex flex-wrap items-center gap-3">
        <span className="font-medium">{n} selected</span>
        <span
          className="max-w-96 truncate text-slate-600 dark:text-slate-400"
          title={[...selected.values()].join(", ")}
        >
          {[...selected.values()].join(", ")}
        </span>
        <label className="ml-auto flex items-center gap-1.5">
          Mode
          <select
            value={mode}
            onChange={(e) => setMode(e.target.value as SnapshotModeName)}
            className="rounded-md border border-slate-300 bg-white px-2 py-1 dark:border-slate-700 dark:bg-slate-900"
          >
            {SNAPSHOT_MODES.map((m) => (
              <option key={m} value={m}>
                {m}
              </option>
            ))}
          </select>
        </label>
        <button
          type="button"
          onClick={onClear}
          disabled={busy}
          className="rounded-md border border-slate-300 px-3 py-1 disabled:opacity-40 dark:border-slate-700"
        >
          Clear
        </button>
        <button
          type="button"
          onClick={() => void submit()}
          disabled={busy || n === 0}
          className="rounded-md bg-sky-600 px-3 py-1 font-medium text-white hover:bg-sky-700 disabled:opacity-50"
        >
          {busy ? "Queueing…" : `Snapshot now (${n})`}
        </button>
      </div>
      {error && (
        <div role="alert" className="text-red-800 dark:text-red-300">
          <p>{error.refused.length ? "No snapshot was queued:" : `Could not queue the snapshots: ${error.message}`}</p>
          {error.refused.length > 0 && (
            <ul className="list-disc pl-5">
              {error.refused.map((r) => (
                <li key={r.vmId}>
                  {r.vmName ?? r.vmId}: {r.reason}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
    </div>
  );
}

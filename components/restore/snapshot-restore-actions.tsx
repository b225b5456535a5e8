"use client";
// A history row's restore actions: Restore (opens the confirmation), Verify (a sandbox restore; the row
// then shows a "verified" badge linking to the console picture, or "verify failed" with QEMU's reason).
import { useState } from "react";
import { apiFetch, messageOf } from "@/lib/http/api-fetch";
import type { SnapshotJson } from "@/lib/snapshots/snapshot-json";

export function SnapshotRestoreActions({
  s,
  onRestore,
}: {
  s: SnapshotJson;
  onRestore?: (snapshotId: string) => void;
}) {
  const [verifying, setVerifying] = useState(false);
  const [error, setError] = useState<string | null>(null);
  if (s.status !== "completed" || s.mode === "ram-only" || s.deletion) return null;

  async function verify() {
    setVerifying(true);
    setError(null);
    try {
      await apiFetch(`/api/snapshots/${s.id}/verify`, { method: "POST" });
    } catch (err) {
      setError(`verify could not start: ${messageOf(err)}`);
      setVerifying(false);
    }
    // On success the snapshot row update (verifiedAt / verifyError) arrives over vm:<id>.
    setTimeout(() => setVerifying(false), 1_000);
  }

  return (
    <span className="inline-flex items-center gap-2">
      {s.verifiedAt && (
        <a
          href={`/api/snapshots/${s.id}/verify/screenshot`}
          target="_blank"
          rel="noreferrer"
          data-testid="snapshot-verified"
          title={`restored in a sandbox at ${new Date(s.verifiedAt).toLocaleString()}: open the console picture`}
          className="rounded-full bg-emerald-50 px-2 py-0.5 text-xs font-medium text-emerald-800 dark:bg-emerald-950 dark:text-emerald-300"
        >
          verified
        </a>
      )}
      {!s.verifiedAt && s.verifyError && (
        <span
          data-testid="snapshot-verify-failed"
          title={s.verifyError}
          className="rounded-full bg-red-50 px-2 py-0.5 text-xs font-medium text-red-800 dark:bg-red-950 dark:text-red-300"
        >
          verify failed
        </span>
      )}
      {error && (
        <span role="alert" className="text-xs text-red-700" title={error}>
          !
        </span>
      )}
      <button
        type="button"
        disabled={verifying}
        onClick={() => void verify()}
        className="text-xs text-sky-700 hover:underline disabled:opacity-50 dark:text-sky-400"
      >
        {verifying ? "Verifying…" : "Verify"}
      </button>
      {onRestore && (
        <button
          type="button"
          onClick={() => onRestore(s.id)}
          className="text-xs font-medium text-amber-800 hover:underline dark:text-amber-300"
        >
          Restore
        </button>
      )}
    </span>
  );
}

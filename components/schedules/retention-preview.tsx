"use client";
// The schedule editor's retention dry run: what the policy being edited would delete right now among the
// schedule's snapshots, and why each is kept or deleted (GET /api/schedules/{id}/preview-retention, the
// same code retention runs), asked again 300 ms after the operator stops typing. Editing only: a new
// schedule has no snapshots.
import { useEffect, useState } from "react";
import { apiFetch, messageOf } from "@/lib/http/api-fetch";
import { HeaderCells } from "@/components/ui/header-cells";
import type { RetentionPreview as RetentionPreviewJson } from "@/lib/scheduler/service";
import { useDebounced } from "./form-parts";

type RetentionState = { data?: RetentionPreviewJson; error?: string };

export function RetentionPreview({
  scheduleId,
  policy,
  timezone,
}: {
  scheduleId: string;
  policy: Record<string, number>;
  timezone: string;
}) {
  const state = useRetentionPreview(scheduleId, useDebounced(JSON.stringify({ policy, timezone }), 300));
  if (state.error) return <p className="text-sm text-red-700 dark:text-red-400">{state.error}</p>;
  if (!state.data) return <p className="text-xs text-slate-500">…</p>;
  const { data } = state;
  return (
    <div data-testid="retention-preview" className="space-y-2">
      <p className="text-sm">
        With <strong>{data.policySummary}</strong>, right now:{" "}
        <strong className={data.prune ? "text-red-700 dark:text-red-400" : undefined}>
          {data.prune} would be deleted
        </strong>
        , {data.keep} kept.
      </p>
      {data.snapshots.length > 0 && (
        <div className="max-h-64 overflow-y-auto rounded-md border border-slate-200 dark:border-slate-800">
          <table className="w-full text-left text-xs">
            <thead className="sticky top-0 bg-slate-50 text-slate-500 dark:bg-slate-950">
              <tr>
                <HeaderCells labels={["VM", "Taken", "Decision", "Why"]} className="px-2 py-1 font-medium" />
              </tr>
            </thead>
            <tbody className="divide-y divide-slate-100 dark:divide-slate-800">
              {data.snapshots.map((s) => (
                <tr key={s.id} data-action={s.action}>
                  <td className="px-2 py-1">{s.vmName}</td>
                  <td className="px-2 py-1 whitespace-nowrap" suppressHydrationWarning>
                    {new Date(s.takenAt).toLocaleString()}
                  </td>
                  <td
                    className={`px-2 py-1 font-medium ${s.action === "prune" ? "text-red-700 dark:text-red-400" : "text-emerald-700 dark:text-emerald-400"}`}
                  >
                    {s.action === "prune" ? "delete" : "keep"}
                  </td>
                  <td className="px-2 py-1 text-slate-600 dark:text-slate-400">{s.reason}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

function useRetentionPreview(scheduleId: string, key: string): RetentionState {
  const [state, setState] = useState<RetentionState>({});
  useEffect(() => {
    const { policy, timezone } = JSON.parse(key) as { policy: Record<string, number>; timezone: string };
    const params = new URLSearchParams({
      timezone,
      ...Object.fromEntries(Object.entries(policy).map(([k, v]) => [k, String(v)])),
    });
    // No rule at all is "keep all": ask with keepLast=0 so the stored policy is not used instead.
    if (Object.keys(policy).length === 0) params.set("keepLast", "0");
    const ctrl = new AbortController();
    apiFetch<RetentionPreviewJson>(`/api/schedules/${scheduleId}/preview-retention?${params}`, { signal: ctrl.signal })
      .then((data) => setState({ data }))
      .catch((err: unknown) => {
        if (!ctrl.signal.aborted) setState({ error: messageOf(err) });
      });
    return () => ctrl.abort();
  }, [scheduleId, key]);
  return state;
}

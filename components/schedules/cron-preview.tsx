"use client";
// The schedule editor's cron preview: the expression in words and its next 5 runs in the chosen zone,
// computed by the server (GET /api/schedules/preview: the same code the scheduler runs), asked again
// 250 ms after the operator stops typing; a rejected expression shows the server's reason.
import { useEffect, useState } from "react";
import type { CronPreview as CronPreviewJson } from "@/lib/schedule-rules/cron";
import { apiFetch, messageOf } from "@/lib/http/api-fetch";
import { useDebounced } from "./form-parts";

export function CronPreview({ cron, timezone }: { cron: string; timezone: string }) {
  const preview = useCronPreview(useDebounced(`${cron}|${timezone}`, 250));
  return (
    <div data-testid="cron-preview" aria-live="polite" className="rounded-md bg-slate-50 p-3 text-sm dark:bg-slate-950">
      {preview.error ? (
        <p className="text-red-700 dark:text-red-400">{preview.error}</p>
      ) : preview.data ? (
        <>
          <p className="font-medium">{preview.data.description}</p>
          <p className="mt-1 text-xs text-slate-500">Next runs:</p>
          <ol className="mt-0.5 list-inside list-decimal text-xs text-slate-700 dark:text-slate-300">
            {preview.data.nextRuns.map((r) => (
              <li key={r.at}>{r.local}</li>
            ))}
          </ol>
        </>
      ) : (
        <p className="text-slate-500">…</p>
      )}
    </div>
  );
}

function useCronPreview(key: string): { data?: CronPreviewJson; error?: string } {
  const [state, setState] = useState<{ data?: CronPreviewJson; error?: string }>({});
  useEffect(() => {
    const [cron, timezone] = key.split("|");
    const ctrl = new AbortController();
    apiFetch<CronPreviewJson>(
      `/api/schedules/preview?${new URLSearchParams({ cron: cron ?? "", timezone: timezone ?? "UTC" })}`,
      { signal: ctrl.signal },
    )
      .then((data) => setState({ data }))
      .catch((err: unknown) => {
        if (!ctrl.signal.aborted) setState({ error: messageOf(err) });
      });
    return () => ctrl.abort();
  }, [key]);
  return state;
}

"use client";
// The Schedules page's list: each schedule with its timing in words, targets, next run, last result,
// success rate over its recent runs, and a flag when its runs failed N times in a row (a flagged
// schedule keeps running: it is never disabled behind the operator's back). "Run now" starts a manual
// run; the page follows runs and snapshots live.
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { apiFetch, messageOf } from "@/lib/http/api-fetch";
import { RelativeTime } from "@/components/fleet/relative-time";
import { HeaderCells } from "@/components/ui/header-cells";
import type { ScheduleView } from "@/lib/scheduler/service";
import { RunStatusChip } from "./run-status-chip";
import { useLiveRefresh } from "./use-live-refresh";

export function SchedulesView({ schedules }: { schedules: ScheduleView[] }) {
  useLiveRefresh();
  const router = useRouter();
  const [message, setMessage] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);

  async function runNow(s: ScheduleView) {
    setBusy(s.id);
    setMessage(null);
    try {
      await apiFetch(`/api/schedules/${s.id}/run`, { method: "POST" });
      router.push(`/schedules/${s.id}`);
    } catch (err) {
      setMessage(messageOf(err));
    } finally {
      setBusy(null);
    }
  }

  return (
    <div className="space-y-3">
      {message && (
        <p
          role="alert"
          className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-800 dark:bg-red-950 dark:text-red-200"
        >
          {message}
        </p>
      )}
      <div className="overflow-x-auto rounded-xl border border-slate-200 bg-white dark:border-slate-800 dark:bg-slate-900">
        <table className="w-full text-left text-sm">
          <thead className="border-b border-slate-200 text-xs uppercase tracking-wide text-slate-500 dark:border-slate-800 dark:text-slate-400">
            <tr>
              <HeaderCells
                labels={["Schedule", "Targets", "Next run", "Last result", "Success"]}
                className="px-4 py-2 font-medium"
              />
              <th className="px-4 py-2" />
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-100 dark:divide-slate-800">
            {schedules.map((s) => (
              <tr
                key={s.id}
                data-testid="schedule-row"
                className={s.flagged ? "bg-red-50/60 dark:bg-red-950/30" : undefined}
              >
                <td className="px-4 py-3 align-top">
                  <div className="flex flex-wrap items-center gap-2">
                    <Link
                      href={`/schedules/${s.id}`}
                      className="font-medium text-sky-700 hover:underline dark:text-sky-400"
                    >
                      {s.name}
                    </Link>
                    {!s.enabled && (
                      <span className="rounded bg-slate-100 px-1.5 text-xs text-slate-600 dark:bg-slate-800 dark:text-slate-300">
                        disabled
                      </span>
                    )}
                    {s.flagged && (
                      <span
                        data-testid="schedule-flag"
                        title={`The last ${s.consecutiveFailures} runs failed (threshold ${s.failureAlertThreshold}). The schedule keeps running.`}
                        className="rounded bg-red-100 px-1.5 text-xs font-medium text-red-800 dark:bg-red-900 dark:text-red-100"
                      >
                        failing ×{s.consecutiveFailures}
                      </span>
                    )}
                  </div>
                  <div className="mt-0.5 text-xs text-slate-500 dark:text-slate-400">
                    {s.description} · <code>{s.cron}</code> · {s.mode} · {s.retentionSummary}
                  </div>
                </td>
                <td className="px-4 py-3 align-top text-slate-600 dark:text-slate-300">{s.targetSummary}</td>
                <td className="px-4 py-3 align-top whitespace-nowrap">
                  {s.enabled ? (
                    <RelativeTime iso={s.nextRunAt} fallback="never" />
                  ) : (
                    <span className="text-slate-400">—</span>
                  )}
                </td>
                <td className="px-4 py-3 align-top">
                  {s.lastRun ? (
                    <div className="flex items-center gap-2 whitespace-nowrap">
                      <RunStatusChip status={s.lastRun.status} title={s.lastRun.reason ?? undefined} />
                      <span className="text-xs text-slate-500">
                        <RelativeTime iso={s.lastRun.firedAt} />
                      </span>
                    </div>
                  ) : (
                    <span className="text-slate-400">never run</span>
                  )}
                </td>
                <td
                  className="px-4 py-3 align-top whitespace-nowrap"
                  title={`over the last ${s.successRate.finished} finished runs`}
                >
                  {s.successRate.rate === null ? (
                    <span className="text-slate-400">—</span>
                  ) : (
                    `${Math.round(s.successRate.rate * 100)}% (${s.successRate.succeeded}/${s.successRate.finished})`
                  )}
                </td>
                <td className="px-4 py-3 text-right align-top">
                  <button
                    type="button"
                    onClick={() => runNow(s)}
                    disabled={busy === s.id}
                    className="rounded-md border border-slate-300 px-3 py-1 text-xs font-medium hover:bg-slate-100 disabled:opacity-50 dark:border-slate-700 dark:hover:bg-slate-800"
                  >
                    Run now
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

"use client";
// One schedule's page header actions and run history: "Run now", delete, and each run with its
// trigger, result and reason (missed runs, skips, retries), every VM's outcome with its snapshot's
// live status, and how many snapshots retention pruned. Follows runs and snapshots live.
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { apiFetch, messageOf } from "@/lib/http/api-fetch";
import { RelativeTime } from "@/components/fleet/relative-time";
import { SnapshotStatusChip } from "@/components/snapshots/snapshot-status-chip";
import type { SnapshotStatusJson } from "@/lib/snapshots/snapshot-json";
import type { RunView, ScheduleView } from "@/lib/scheduler/service";
import { RunStatusChip } from "./run-status-chip";
import { useLiveRefresh } from "./use-live-refresh";
import { ErrorText } from "@/components/ui/error-text";

const TRIGGER: Record<string, string> = { scheduled: "scheduled", manual: "run now", catch_up: "missed-run catch-up" };

export function ScheduleActions({ schedule }: { schedule: ScheduleView }) {
  const router = useRouter();
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<string | null>(null);

  async function call(url: string, method: string) {
    setBusy(true);
    setMessage(null);
    try {
      await apiFetch(url, { method });
      return true;
    } catch (err) {
      setMessage(messageOf(err));
      return false;
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="flex flex-wrap items-center gap-2">
      <ErrorText error={message} as="span" />
      <button
        type="button"
        disabled={busy}
        onClick={async () => (await call(`/api/schedules/${schedule.id}/run`, "POST")) && router.refresh()}
        className="rounded-md bg-sky-600 px-3 py-1.5 text-sm font-medium text-white hover:bg-sky-500 disabled:opacity-50"
      >
        Run now
      </button>
      <button
        type="button"
        disabled={busy}
        onClick={async () => {
          if (!window.confirm(`Delete schedule "${schedule.name}"? Its snapshots are kept.`)) return;
          if (await call(`/api/schedules/${schedule.id}`, "DELETE")) {
            router.push("/schedules");
            router.refresh();
          }
        }}
        className="rounded-md border border-red-300 px-3 py-1.5 text-sm font-medium text-red-700 hover:bg-red-50 disabled:opacity-50 dark:border-red-800 dark:text-red-400 dark:hover:bg-red-950"
      >
        Delete
      </button>
    </div>
  );
}

export function ScheduleRuns({ schedule, runs }: { schedule: ScheduleView; runs: RunView[] }) {
  useLiveRefresh();
  return (
    <section aria-label="Runs" className="space-y-3">
      <div className="flex flex-wrap items-baseline gap-3 text-sm">
        <h2 className="text-base font-semibold">Runs</h2>
        <span className="text-slate-500">
          next <RelativeTime iso={schedule.enabled ? schedule.nextRunAt : null} fallback="—" />
          {" · "}success {schedule.successRate.rate === null ? "—" : `${Math.round(schedule.successRate.rate * 100)}%`}
        </span>
        {schedule.flagged && (
          <span
            data-testid="schedule-flag"
            className="rounded bg-red-100 px-1.5 text-xs font-medium text-red-800 dark:bg-red-900 dark:text-red-100"
          >
            the last {schedule.consecutiveFailures} runs failed
          </span>
        )}
      </div>
      {runs.length === 0 && <p className="text-sm text-slate-500">No runs yet.</p>}
      <ol className="space-y-2">
        {runs.map((run) => (
          <RunEntry key={run.id} run={run} />
        ))}
      </ol>
    </section>
  );
}

/** One run: its outcome, trigger and time, what retention deleted, why it failed, and each VM's item. */
function RunEntry({ run }: { run: RunView }) {
  return (
    <li
      data-testid="schedule-run"
      className="rounded-xl border border-slate-200 bg-white p-3 dark:border-slate-800 dark:bg-slate-900"
    >
      <div className="flex flex-wrap items-center gap-2 text-sm">
        <RunStatusChip status={run.status} />
        <span className="font-medium">{TRIGGER[run.trigger] ?? run.trigger}</span>
        <span className="text-slate-500">
          <RelativeTime iso={run.firedAt} />
        </span>
        {run.prunedCount > 0 && <span className="text-xs text-slate-500">· retention deleted {run.prunedCount}</span>}
      </div>
      {run.reason && <p className="mt-1 text-xs text-slate-600 dark:text-slate-400">{run.reason}</p>}
      {run.items.length > 0 && (
        <ul className="mt-2 divide-y divide-slate-100 text-xs dark:divide-slate-800">
          {run.items.map((item) => (
            <li key={item.id} data-testid="run-item" className="flex flex-wrap items-center gap-2 py-1">
              <Link href={`/vms/${item.vmId}`} className="font-medium text-sky-700 hover:underline dark:text-sky-400">
                {item.vmName}
              </Link>
              {item.snapshotStatus ? (
                <SnapshotStatusChip status={item.snapshotStatus as SnapshotStatusJson} />
              ) : (
                <RunStatusChip status={item.status} />
              )}
              {item.attempt > 1 && <span className="text-slate-500">attempt {item.attempt}</span>}
              {item.reason && <span className="text-slate-600 dark:text-slate-400">{item.reason}</span>}
            </li>
          ))}
        </ul>
      )}
    </li>
  );
}

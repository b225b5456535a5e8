// A snapshot's status as a coloured chip (running states pulse).
import type { SnapshotStatusJson } from "@/lib/snapshots/snapshot-json";

const STYLES: Record<SnapshotStatusJson, string> = {
  queued: "bg-slate-100 text-slate-700 ring-slate-500/20 dark:bg-slate-800 dark:text-slate-300",
  preflight: "bg-sky-50 text-sky-800 ring-sky-600/20 dark:bg-sky-950 dark:text-sky-300",
  setup: "bg-sky-50 text-sky-800 ring-sky-600/20 dark:bg-sky-950 dark:text-sky-300",
  active: "bg-indigo-50 text-indigo-800 ring-indigo-600/20 dark:bg-indigo-950 dark:text-indigo-300",
  completed: "bg-emerald-50 text-emerald-800 ring-emerald-600/20 dark:bg-emerald-950 dark:text-emerald-300",
  failed: "bg-red-50 text-red-800 ring-red-600/20 dark:bg-red-950 dark:text-red-300",
  cancelled: "bg-zinc-100 text-zinc-600 ring-zinc-500/20 dark:bg-zinc-900 dark:text-zinc-400",
};

export function SnapshotStatusChip({ status, title }: { status: SnapshotStatusJson; title?: string }) {
  const running = status === "queued" || status === "preflight" || status === "setup" || status === "active";
  return (
    <span
      data-testid="snapshot-status-chip"
      data-status={status}
      title={title}
      className={`inline-flex items-center gap-1.5 rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset ${STYLES[status]}`}
    >
      <span aria-hidden className={`h-1.5 w-1.5 rounded-full bg-current ${running ? "animate-pulse" : ""}`} />
      {status}
    </span>
  );
}

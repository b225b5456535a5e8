// A VM's run state as a coloured chip; the reason (when there is one) is its tooltip.
import type { VmJson } from "@/lib/fleet/vm-json";

const STYLES: Record<VmJson["state"], { chip: string; dot: string }> = {
  running: {
    chip: "bg-emerald-50 text-emerald-800 ring-emerald-600/20 dark:bg-emerald-950 dark:text-emerald-300 dark:ring-emerald-400/20",
    dot: "bg-emerald-500",
  },
  paused: {
    chip: "bg-amber-50 text-amber-800 ring-amber-600/20 dark:bg-amber-950 dark:text-amber-300 dark:ring-amber-400/20",
    dot: "bg-amber-500",
  },
  shutdown: {
    chip: "bg-slate-100 text-slate-700 ring-slate-500/20 dark:bg-slate-800 dark:text-slate-300 dark:ring-slate-400/20",
    dot: "bg-slate-400",
  },
  unreachable: {
    chip: "bg-red-50 text-red-800 ring-red-600/20 dark:bg-red-950 dark:text-red-300 dark:ring-red-400/20",
    dot: "bg-red-500",
  },
  gone: {
    chip: "bg-zinc-100 text-zinc-500 ring-zinc-500/20 dark:bg-zinc-900 dark:text-zinc-400 dark:ring-zinc-400/20",
    dot: "bg-zinc-400",
  },
};

export function StateChip({
  state,
  reason,
  large = false,
}: {
  state: VmJson["state"];
  reason?: string | null;
  large?: boolean;
}) {
  const s = STYLES[state];
  return (
    <span
      data-testid="vm-state"
      data-state={state}
      title={reason ?? undefined}
      className={`inline-flex items-center gap-1.5 rounded-full font-medium ring-1 ring-inset ${s.chip} ${large ? "px-3 py-1 text-sm" : "px-2 py-0.5 text-xs"}`}
    >
      <span aria-hidden className={`h-1.5 w-1.5 rounded-full ${s.dot}`} />
      {state}
    </span>
  );
}

// A thin determinate progress bar (0–100 %), announced as a progressbar with its label; the width
// animates as updates arrive. `width` sets the track's width (full width when omitted).
export function ProgressBar({ label, pct, width }: { label: string; pct: number; width?: "w-28" }) {
  return (
    <div
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={pct}
      className={`h-2 ${width ? `${width} ` : ""}overflow-hidden rounded-full bg-slate-200 dark:bg-slate-800`}
    >
      <div className="h-full bg-sky-500 transition-[width] duration-300" style={{ width: `${pct}%` }} />
    </div>
  );
}

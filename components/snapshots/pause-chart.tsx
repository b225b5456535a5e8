// Small per-VM charts of guest pause and duration over time, from the completed snapshots on screen:
// one row per VM, two sparklines (SVG, no chart library), the latest value and the median beside each.
import { Panel } from "@/components/ui/panel";
import type { SnapshotJson } from "@/lib/snapshots/snapshot-json";
import { durationMs, formatMs } from "./snapshot-format";

const W = 160;
const H = 32;

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function Sparkline({
  points,
  label,
  color,
}: {
  points: Array<{ t: number; v: number }>;
  label: string;
  color: string;
}) {
  if (points.length === 0) return <span className="text-xs text-slate-400">—</span>;
  const t0 = points[0]!.t;
  const t1 = points.at(-1)!.t;
  const max = Math.max(...points.map((p) => p.v), 1);
  const x = (t: number) => (t1 === t0 ? W / 2 : ((t - t0) / (t1 - t0)) * (W - 4) + 2);
  const y = (v: number) => H - 2 - (v / max) * (H - 4);
  const d = points.map((p, i) => `${i ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(" ");
  const values = points.map((p) => p.v);
  return (
    <div className="flex items-center gap-2">
      <svg
        width={W}
        height={H}
        viewBox={`0 0 ${W} ${H}`}
        role="img"
        aria-label={`${label} over time, ${points.length} snapshots, up to ${formatMs(max)}`}
      >
        <path d={d} fill="none" stroke={color} strokeWidth={1.5} />
        {points.map((p) => (
          <circle key={p.t} cx={x(p.t)} cy={y(p.v)} r={1.8} fill={color}>
            <title>{`${new Date(p.t).toLocaleString()}: ${formatMs(p.v)}`}</title>
          </circle>
        ))}
      </svg>
      <span className="w-28 text-xs tabular-nums text-slate-600 dark:text-slate-400">
        last {formatMs(values.at(-1))}
        <br />
        median {formatMs(median(values))}
      </span>
    </div>
  );
}

export function PauseChart({ snapshots }: { snapshots: SnapshotJson[] }) {
  const byVm = new Map<string, { name: string; rows: SnapshotJson[] }>();
  for (const s of snapshots) {
    if (s.status !== "completed") continue;
    const e = byVm.get(s.vmId) ?? { name: s.vmName, rows: [] };
    e.rows.push(s);
    byVm.set(s.vmId, e);
  }
  if (byVm.size === 0) return null;
  return (
    <Panel headingId="pause-chart-heading" title="Guest pause and duration per VM" titleGap>
      <div className="overflow-x-auto">
        <table className="text-sm">
          <thead className="text-left text-xs font-medium uppercase tracking-wide text-slate-500 dark:text-slate-400">
            <tr>
              <th scope="col" className="pr-4 pb-1">
                VM
              </th>
              <th scope="col" className="pr-4 pb-1">
                Guest pause
              </th>
              <th scope="col" className="pb-1">
                Duration
              </th>
            </tr>
          </thead>
          <tbody>
            {[...byVm.entries()].map(([vmId, { name, rows }]) => {
              const ordered = [...rows].sort((a, b) => a.createdAt.localeCompare(b.createdAt));
              const t = (s: SnapshotJson) => new Date(s.createdAt).getTime();
              const pause = ordered.flatMap((s) => (s.guestPauseMs !== null ? [{ t: t(s), v: s.guestPauseMs }] : []));
              const duration = ordered.flatMap((s) => {
                const d = durationMs(s);
                return d !== null ? [{ t: t(s), v: d }] : [];
              });
              return (
                <tr key={vmId}>
                  <td className="pr-4 align-middle font-medium">{name}</td>
                  <td className="pr-4 align-middle">
                    <Sparkline points={pause} label={`Guest pause of ${name}`} color="#0284c7" />
                  </td>
                  <td className="align-middle">
                    <Sparkline points={duration} label={`Duration of ${name}`} color="#7c3aed" />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </Panel>
  );
}

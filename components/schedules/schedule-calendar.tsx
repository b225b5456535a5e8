// The next 24 hours of runs per host on one timeline, so collisions are visible: each run is a mark
// (its width is the schedule's stagger window), and the stretches where more snapshots are due on a
// host than its limit are shaded red — those snapshots would wait in the queue.
import type { CalendarHost } from "@/lib/scheduler/service";

const HOUR_MS = 3600_000;

function pct(at: string, from: number, span: number): number {
  return Math.min(100, Math.max(0, ((new Date(at).getTime() - from) / span) * 100));
}

const time = (iso: string) => new Date(iso).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });

export function ScheduleCalendar({ from, to, hosts }: { from: string; to: string; hosts: CalendarHost[] }) {
  const start = new Date(from).getTime();
  const span = new Date(to).getTime() - start;
  const hours = Math.round(span / HOUR_MS);
  const ticks = Array.from({ length: Math.ceil(hours / 3) }, (_, i) => new Date(start + i * 3 * HOUR_MS).toISOString());
  return (
    <section
      aria-label={`Runs in the next ${hours} hours`}
      className="rounded-xl border border-slate-200 bg-white p-4 dark:border-slate-800 dark:bg-slate-900"
    >
      <h2 className="text-sm font-semibold">Next {hours} hours, per host</h2>
      <p className="mt-0.5 text-xs text-slate-500 dark:text-slate-400">
        Red stretches: more snapshots due on the host than its limit — they will wait their turn. Spread them with a
        stagger or a different time.
      </p>
      <div className="mt-3 space-y-2">
        {hosts.map((h) => (
          <div key={h.hostId} data-testid="calendar-host" className="grid grid-cols-[10rem_1fr] items-center gap-3">
            <div className="truncate text-xs">
              <span className="font-medium">{h.hostName}</span>
              <span className="text-slate-500"> · limit {h.limit}</span>
              {h.collisions.length > 0 && (
                <span
                  data-testid="calendar-collision-count"
                  className="ml-1 font-medium text-red-700 dark:text-red-400"
                >
                  · {h.collisions.length} collision{h.collisions.length === 1 ? "" : "s"}
                </span>
              )}
            </div>
            <div className="relative h-7 rounded bg-slate-100 dark:bg-slate-800">
              {h.collisions.map((c) => (
                <div
                  key={c.from}
                  data-testid="calendar-collision"
                  title={`${time(c.from)}–${time(c.to)}: ${c.concurrent} snapshots due at once (limit ${h.limit}) from ${c.schedules.join(", ")}`}
                  className="absolute inset-y-0 rounded bg-red-300/70 dark:bg-red-700/60"
                  style={{
                    left: `${pct(c.from, start, span)}%`,
                    width: `max(3px, ${pct(c.to, start, span) - pct(c.from, start, span)}%)`,
                  }}
                />
              ))}
              {h.runs.map((r) => (
                <div
                  key={`${r.scheduleId}@${r.at}`}
                  title={`${time(r.at)} ${r.scheduleName}: ${r.vmCount} VM${r.vmCount === 1 ? "" : "s"}${r.lastStartAt !== r.at ? `, staggered until ${time(r.lastStartAt)}` : ""}`}
                  className="absolute inset-y-1 rounded-sm bg-sky-600/80 dark:bg-sky-400/80"
                  style={{
                    left: `${pct(r.at, start, span)}%`,
                    width: `max(2px, ${pct(r.lastStartAt, start, span) - pct(r.at, start, span)}%)`,
                  }}
                />
              ))}
            </div>
          </div>
        ))}
        <div className="grid grid-cols-[10rem_1fr] gap-3">
          <div />
          <div className="relative h-4 text-[10px] text-slate-500">
            {ticks.map((t) => (
              <span
                key={t}
                className="absolute -translate-x-1/2"
                style={{ left: `${pct(t, start, span)}%` }}
                suppressHydrationWarning
              >
                {time(t)}
              </span>
            ))}
          </div>
        </div>
      </div>
    </section>
  );
}

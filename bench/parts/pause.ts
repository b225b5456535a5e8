// `npm run bench -- pause`: the guest pause of a consistent snapshot, side by side, for a 1 GiB guest-kit
// VM idle and busy, on the first and the tenth snapshot of a QEMU process.
// Design: per (load, method), process 1 boots a VM and takes NTH + LATER_EXTRA snapshots (ordinal 1 is
// a "first", ordinals NTH… are "tenth" samples); processes 2…RUNS are fresh VMs taking one snapshot
// each (more "first" samples). So every cell has ≥ 3 samples while the bench stays bounded. The two
// product modes share process 1 (live 1…12, then ram-only as its 13th–15th snapshots): a tenth-or-
// later snapshot of a process whatever the mode before it. Nothing else of the bench runs meanwhile.
// Pause = QMP STOP → RESUME event timestamps.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { loadSample } from "../lib/machine";
import { LOAD_DESCRIPTION, startBenchVm, type GuestShape, type Load } from "../lib/guest";
import { takeBare, type BareMethodId, type SnapshotSample } from "../lib/methods";
import { fmt, table, type Cell } from "../lib/report";
import { ratio, summarize } from "../lib/stats";
import type { BenchContext } from "../lib/context";

export type MethodId = BareMethodId | "snapfleet-live" | "snapfleet-ram-only" | "libvirt";

export interface MethodProcess {
  take(ordinal: number, method: MethodId): Promise<SnapshotSample>;
  dispose(): Promise<void>;
}

/** What one QEMU process of a runner takes, in order: (method, ordinal = its n-th snapshot). */
export type ProcessPlan = Array<{ method: MethodId; ordinal: number }>;

export interface MethodRunner {
  id: MethodId;
  label: string;
  /** Why it cannot run here (e.g. libvirt not installable), or undefined. */
  unavailable?: string;
  /** Other methods whose samples this runner also produces (see plan). */
  also?: Array<{ id: MethodId; label: string }>;
  /** Default: process 1 takes nth + LATER_EXTRA snapshots, processes 2…runs one each. */
  plan?(runs: number, nth: number, laterExtra: number): ProcessPlan[];
  start(load: Load, run: number): Promise<MethodProcess>;
}

export function defaultPlan(id: MethodId, runs: number, nth: number, laterExtra = LATER_EXTRA): ProcessPlan[] {
  return Array.from({ length: runs }, (_, i) =>
    Array.from({ length: i === 0 ? nth + laterExtra : 1 }, (_, k) => ({ method: id, ordinal: k + 1 })),
  );
}

export interface PauseSample extends SnapshotSample {
  method: MethodId;
  load: Load;
  run: number;
  ordinal: number;
  load1: number;
  cpuPressure10: number | null;
}

export interface PauseCell {
  method: MethodId;
  label: string;
  load: Load;
  which: "first" | "tenth";
  pause: ReturnType<typeof summarize>;
  qemuDowntimeMs: number | null;
  totalMs: number | null;
  bytes: number | null;
  streamMBps: number | null;
  failures: number;
}

export interface PauseResult {
  options: { runs: number; nth: number; laterExtra: number; loads: Load[]; methods: MethodId[] };
  loadDescription: Record<Load, string>;
  methods: Array<{ id: MethodId; label: string; unavailable?: string }>;
  samples: PauseSample[];
  cells: PauseCell[];
  /** Snapfleet's consistent pause: median of the worst of idle/busy × first/tenth, and where it comes from. */
  headline: { method: MethodId; ms: number | null; worstCase: string } | null;
}

export const DEFAULT_RUNS = 3;
export const DEFAULT_NTH = 10;
export const LATER_EXTRA = 2;

/** Bare-QMP methods: a guest-kit VM (of `shape`, default 1 GiB) driven by the bench's own session. */
export function bareRunner(id: BareMethodId, label: string, shape?: GuestShape): MethodRunner {
  return {
    id,
    label,
    async start(load, run) {
      const dir = await mkdtemp(path.join(os.tmpdir(), `sfb-${id}-`));
      const bvm = await startBenchVm({ name: `b-${id}-${load}-${run}`, load, ...shape?.(load) });
      return {
        take: (ordinal) => takeBare(id, { bvm, dir, ordinal }),
        dispose: async () => {
          await bvm.dispose();
          await rm(dir, { recursive: true, force: true });
        },
      };
    },
  };
}

function cellOf(
  runner: { id: MethodId; label: string },
  load: Load,
  which: "first" | "tenth",
  samples: PauseSample[],
  nth: number,
): PauseCell {
  const mine = samples.filter(
    (s) => s.method === runner.id && s.load === load && (which === "first" ? s.ordinal === 1 : s.ordinal >= nth),
  );
  const ok = mine.filter((s) => s.ok);
  const med = (k: keyof SnapshotSample) => summarize(ok.map((s) => s[k] as number | undefined)).median;
  return {
    method: runner.id,
    label: runner.label,
    load,
    which,
    pause: summarize(ok.map((s) => s.pauseMs)),
    qemuDowntimeMs: med("qemuDowntimeMs"),
    totalMs: med("totalMs"),
    bytes: med("bytes"),
    streamMBps: med("streamMBps"),
    failures: mine.length - ok.length,
  };
}

export function headlineOf(cells: PauseCell[], preferred: MethodId[]): PauseResult["headline"] {
  for (const method of preferred) {
    const mine = cells.filter((c) => c.method === method && c.pause.median !== null);
    if (mine.length < 4) continue;
    const worst = mine.reduce((a, b) => ((b.pause.median ?? 0) > (a.pause.median ?? 0) ? b : a));
    return { method, ms: worst.pause.median, worstCase: `${worst.load}, ${worst.which} snapshot` };
  }
  return null;
}

/** Where the pause goes (medians), for the methods whose pause QEMU's events can cut into phases. */
export function breakdownTable(r: PauseResult): string {
  const rows: Cell[][] = [];
  for (const m of r.methods) {
    for (const load of r.options.loads) {
      for (const which of ["first", "tenth"] as const) {
        const mine = r.samples.filter(
          (s) =>
            s.ok &&
            s.method === m.id &&
            s.load === load &&
            (which === "first" ? s.ordinal === 1 : s.ordinal >= r.options.nth) &&
            s.breakdown,
        );
        if (!mine.length) continue;
        const med = (f: (s: PauseSample) => number | undefined) => summarize(mine.map(f)).median;
        rows.push([
          m.label,
          `${load}, ${which === "first" ? "1st" : "10th"}`,
          fmt(med((s) => s.hugeMappedMiB)),
          fmt(
            med((s) => s.pauseMs),
            1,
          ),
          fmt(
            med((s) => s.breakdown?.commandsMs),
            1,
          ),
          fmt(
            med((s) => s.breakdown?.setupMs),
            1,
          ),
          fmt(
            med((s) => s.breakdown?.deviceMs),
            1,
          ),
          `${mine.length}`,
        ]);
      }
    }
  }
  return [
    "Where the pause goes (medians; QEMU event timestamps): STOP→setup = our commands inside the pause; setup→active = connect + ram_write_tracking_prepare + qemu_savevm_state_setup; active→RESUME = device state + ram_write_tracking_start + resume (ram-only: QEMU's own STOP→RESUME).",
    "",
    table(
      [
        "method",
        "case",
        "RAM in 2 MiB pages before (MiB)",
        "pause ms",
        "STOP→setup ms",
        "setup→active ms",
        "active→RESUME ms",
        "n",
      ],
      rows,
    ),
  ].join("\n");
}

export function renderPauseTables(r: PauseResult): string {
  const out: string[] = [];
  const live = (load: Load, which: "first" | "tenth") =>
    r.cells.find(
      (c) =>
        c.load === load &&
        c.which === which &&
        (c.method === "snapfleet-live" || c.method === "strategy") &&
        c.pause.median !== null,
    )?.pause.median;
  for (const load of r.options.loads) {
    out.push(`**${load}** — ${r.loadDescription[load]}\n`);
    const rows: Cell[][] = [];
    for (const m of r.methods) {
      if (m.unavailable) {
        rows.push([m.label, `not run: ${m.unavailable}`, "", "", "", "", "", "", "", ""]);
        continue;
      }
      const c1 = r.cells.find((c) => c.method === m.id && c.load === load && c.which === "first");
      const c10 = r.cells.find((c) => c.method === m.id && c.load === load && c.which === "tenth");
      if (!c1 || !c10) continue;
      const pair = (c: PauseCell) =>
        `${fmt(c.pause.median, 1)} / ${fmt(c.pause.max, 1)}${c.failures ? ` (${c.failures} failed)` : ""}`;
      const x = (c: PauseCell, ref: number | null | undefined) => {
        const q = ratio(c.pause.median, ref);
        return q === null ? "—" : `${fmt(q, q < 10 ? 2 : 0)}×`;
      };
      rows.push([
        m.label,
        pair(c1),
        pair(c10),
        `${c1.pause.n}+${c10.pause.n}`,
        `${x(c1, live(load, "first"))} / ${x(c10, live(load, "tenth"))}`,
        `${fmt(c1.qemuDowntimeMs)} / ${fmt(c10.qemuDowntimeMs)}`,
        `${fmt(c1.totalMs === null ? null : c1.totalMs / 1000, 1)} / ${fmt(c10.totalMs === null ? null : c10.totalMs / 1000, 1)}`,
        fmt(c1.bytes === null ? null : c1.bytes / 1e6),
        fmt(c1.streamMBps),
      ]);
    }
    out.push(
      table(
        [
          "method",
          "pause 1st: median / max (ms)",
          "pause 10th: median / max (ms)",
          "runs",
          "× Snapfleet live (1st / 10th)",
          "QEMU downtime ms (1st / 10th)",
          "total s (1st / 10th)",
          "vmstate MB",
          "stream MB/s",
        ],
        rows,
      ),
    );
    out.push("");
  }
  out.push(breakdownTable(r), "");
  const loads = r.samples.map((s) => s.load1);
  out.push(
    `Host load (1-min average) while sampling: ${fmt(Math.min(...loads), 1)}–${fmt(Math.max(...loads), 1)}; every sample's load is in the JSON.`,
  );
  return out.join("\n");
}

export async function runPause(
  ctx: BenchContext,
  runners: MethodRunner[],
  opts: { runs?: number; nth?: number; loads?: Load[]; laterExtra?: number } = {},
): Promise<PauseResult> {
  const runs = opts.runs ?? DEFAULT_RUNS;
  const laterExtra = opts.laterExtra ?? LATER_EXTRA;
  const nth = opts.nth ?? DEFAULT_NTH;
  const loads = opts.loads ?? (["idle", "busy"] as Load[]);
  const samples: PauseSample[] = [];
  for (const load of loads) {
    for (const runner of runners) {
      if (runner.unavailable) continue;
      const plans = runner.plan?.(runs, nth, laterExtra) ?? defaultPlan(runner.id, runs, nth, laterExtra);
      for (const [i, plan] of plans.entries()) {
        const run = i + 1;
        let proc: MethodProcess;
        try {
          proc = await runner.start(load, run);
        } catch (err) {
          ctx.log(`${runner.id} ${load} run ${run}: could not start: ${(err as Error).message.split("\n")[0]}`);
          for (const t of plan.filter((t) => t.ordinal === 1))
            samples.push({
              method: t.method,
              load,
              run,
              ordinal: 1,
              ok: false,
              error: (err as Error).message,
              ...loadSample(),
            });
          continue;
        }
        try {
          for (const { method, ordinal } of plan) {
            const s = await proc.take(ordinal, method);
            const sample: PauseSample = { ...s, method, load, run, ordinal, ...loadSample() };
            samples.push(sample);
            ctx.log(
              `${method.padEnd(18)} ${load} run ${run} #${String(ordinal).padStart(2)}: ` +
                (s.ok
                  ? `pause ${fmt(s.pauseMs, 1)} ms, setup ${fmt(s.setupMs)} ms, total ${fmt((s.totalMs ?? 0) / 1000, 1)} s`
                  : `FAILED ${s.error}`) +
                `${s.note ? ` — ${s.note}` : ""} (load ${sample.load1})`,
            );
            if (!s.ok && ordinal === 1) break;
          }
        } finally {
          await proc.dispose();
        }
      }
    }
  }
  const methods = runners.flatMap((r) => [
    { id: r.id, label: r.label, unavailable: r.unavailable },
    ...(r.also ?? []).map((a) => ({ ...a, unavailable: r.unavailable })),
  ]);
  const cells = loads.flatMap((load) =>
    methods
      .filter((m) => !m.unavailable)
      .flatMap((m) => [cellOf(m, load, "first", samples, nth), cellOf(m, load, "tenth", samples, nth)]),
  );
  return {
    options: { runs, nth, laterExtra, loads, methods: methods.map((m) => m.id) },
    loadDescription: LOAD_DESCRIPTION,
    methods,
    samples,
    cells,
    headline: headlineOf(cells, ["snapfleet-live", "strategy"]),
  };
}

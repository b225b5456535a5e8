// `npm run bench` runs every part in order; `npm run bench -- <part> [<part>…] [--flag=value…]` runs
// only those. Each part is bounded, prints its table, writes bench/results/<part>-latest.json (with the
// machine, QEMU version and host load) and refreshes its section of docs/performance.md. Benchmarks are
// not tests: nothing here runs under `npm test`.
// Flags (for quick looks; the defaults are what docs/performance.md reports):
//   --runs=N (pause: fresh QEMU processes per cell, default 3)   --nth=N (pause: "tenth" ordinal, default 10)
//   --loads=idle,busy   --methods=snapfleet,strategy,classic,precopy,savevm,libvirt   --tag=T (pause: write
//   pause-T-*.json instead of the main result)   --snapshots=N (latency, default 100)
// To add a part: write bench/<name>.ts or bench/parts/<name>.ts exporting a run, and list it in PARTS.
// Parts returning a BenchResult (scheduler-lateness) get the generic treatment below: console.table of
// their rows and bench/results/<name>-latest.json = { name, startedAt, seconds, machine, loadAfter,
// rows, details }.
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadSample } from "./lib/machine";
import { startSnapfleet, type SnapfleetServer } from "./lib/snapfleet";
import type { BenchContext, BenchResult } from "./lib/context";
import { runLatencyPart } from "./parts/latency";
import { runOverheadPart } from "./parts/overhead";
import { runPausePart } from "./parts/pause-part";
import { renderDocs } from "./parts/docs";
import { RESULTS_DIR } from "./lib/report";
import { stopLibvirt } from "./lib/libvirt";

function simpleMachine() {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model ?? "unknown",
    cpus: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100),
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
  };
}

/** Runs a part that returns a BenchResult and records it. */
function simplePart(name: string, load: () => Promise<{ run(): Promise<BenchResult> }>) {
  return async (ctx: BenchContext) => {
    const before = simpleMachine();
    const started = Date.now();
    const result = await (await load()).run();
    console.table(result.rows);
    mkdirSync(RESULTS_DIR, { recursive: true });
    const file = path.join(RESULTS_DIR, `${name}-latest.json`);
    const record = {
      name,
      startedAt: new Date(started).toISOString(),
      seconds: (Date.now() - started) / 1000,
      machine: before,
      loadAfter: os.loadavg(),
      ...result,
    };
    writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
    ctx.log(`wrote ${path.relative(process.cwd(), file)}`);
  };
}

interface Part {
  name: string;
  description: string;
  run(ctx: BenchContext): Promise<void>;
}

const PARTS: Part[] = [
  {
    name: "pause",
    description: "guest pause of consistent snapshots side by side (1 GiB, idle/busy, 1st/10th)",
    run: runPausePart,
  },
  { name: "overhead", description: "Snapfleet vs a bare QMP script vs cat", run: runOverheadPart },
  { name: "latency", description: "dashboard latency: POST → setup frame, QMP event → WebSocket", run: runLatencyPart },
  {
    name: "scheduler-lateness",
    description: "scheduler firing lateness with 10,000 schedules",
    run: simplePart("scheduler-lateness", () => import("./scheduler-lateness")),
  },
  {
    name: "metrics-scrape",
    description: "one /metrics scrape against 1,000,000 snapshot rows",
    run: simplePart("metrics-scrape", () => import("./metrics-scrape")),
  },
  {
    name: "history",
    description: "Snapshots page + GET /api/snapshots over 1,000,000 rows (p50/p95 per filter)",
    run: async (ctx) => (await import("./parts/history")).runHistoryPart(ctx),
  },
  { name: "docs", description: "re-render docs/performance.md from the latest results", run: async () => renderDocs() },
];

async function main(): Promise<void> {
  const args = process.argv.slice(2).filter((a) => a !== "--");
  const flags = Object.fromEntries(
    args.filter((a) => a.startsWith("--")).map((a) => a.slice(2).split("=") as [string, string]),
  );
  const names = args.filter((a) => !a.startsWith("--"));
  const unknown = names.filter((n) => !PARTS.some((p) => p.name === n));
  if (unknown.length) {
    console.error(
      `unknown part(s): ${unknown.join(", ")}\nparts:\n${PARTS.map((p) => `  ${p.name.padEnd(10)} ${p.description}`).join("\n")}`,
    );
    process.exit(2);
  }
  const selected = names.length ? PARTS.filter((p) => names.includes(p.name)) : PARTS;
  const t0 = performance.now();
  const stamp = () => `${((performance.now() - t0) / 1000).toFixed(0).padStart(4)} s`;
  let server: Promise<SnapfleetServer> | undefined;
  let finishing = false;
  const ctx: BenchContext = {
    flags,
    log: (m) => console.log(`[${stamp()}] ${m}`),
    snapfleet: async () => {
      const current = await server?.catch(() => undefined); // a server that failed to start is started again below
      if (current && !current.alive()) {
        ctx.log(`${await current.exited}\nstarting a new Snapfleet`);
        await current.stop();
        server = undefined;
      }
      return (server ??= startSnapfleet((m) => ctx.log(m)).then((s) => {
        ctx.log(`Snapfleet up at ${s.baseUrl}${s.buildS ? ` (built in ${s.buildS.toFixed(0)} s)` : ""}`);
        void s.exited.then((why) => finishing || ctx.log(why));
        return s;
      }));
    },
  };
  let failed = false;
  try {
    for (const part of selected) {
      const l = loadSample();
      ctx.log(`── ${part.name}: ${part.description} (load ${l.load1})`);
      try {
        await part.run(ctx);
      } catch (err) {
        failed = true;
        ctx.log(`${part.name} FAILED: ${(err as Error).stack ?? err}`);
      }
    }
  } finally {
    finishing = true;
    if (server) await (await server.catch(() => undefined))?.stop(); // one that never started has nothing to stop
    await stopLibvirt();
    const { disposeAllVms } = await import("../tests/support/qemu");
    await disposeAllVms();
  }
  ctx.log(`done in ${((performance.now() - t0) / 60_000).toFixed(1)} min`);
  process.exit(failed ? 1 : 0);
}

void main();

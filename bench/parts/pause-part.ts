// The `pause` part: which methods run, in which order, and where the results go. The measuring loop is
// bench/parts/pause.ts; the methods are bench/lib/methods.ts (bare QMP), bench/lib/product.ts (the
// product's API) and bench/lib/libvirt.ts.
import { residentGuest, type GuestShape, type Load } from "../lib/guest";
import { libvirtRunner } from "../lib/libvirt";
import { loadSample } from "../lib/machine";
import { startProductVm, takeThroughApi } from "../lib/product";
import { writeResult } from "../lib/report";
import { renderDocs } from "./docs";
import type { BenchContext } from "../lib/context";
import {
  LATER_EXTRA,
  bareRunner,
  defaultPlan,
  renderPauseTables,
  runPause,
  type MethodId,
  type MethodRunner,
  type PauseResult,
  type ProcessPlan,
} from "./pause";
import { renderSizeTable, sizeHeadline, type SizeRun } from "./pause-size";

/**
 * Both product modes: process 1 takes live 1…nth+2 then ram-only nth+3…nth+5; then fresh processes for
 * the other live firsts and for three ram-only firsts. With a `shape` (the size runs): `live` only.
 */
function productRunner(ctx: BenchContext, shape?: { tag: string; guest: GuestShape }): MethodRunner {
  return {
    id: "snapfleet-live",
    label: "Snapfleet `live` (API)",
    also: shape ? undefined : [{ id: "snapfleet-ram-only", label: "Snapfleet `ram-only` (API)" }],
    plan(runs, nth, laterExtra) {
      if (shape) return defaultPlan("snapfleet-live", runs, nth, laterExtra);
      const first: ProcessPlan = [
        ...Array.from({ length: nth + LATER_EXTRA }, (_, k) => ({
          method: "snapfleet-live" as MethodId,
          ordinal: k + 1,
        })),
        ...Array.from({ length: LATER_EXTRA + 1 }, (_, k) => ({
          method: "snapfleet-ram-only" as MethodId,
          ordinal: nth + LATER_EXTRA + 1 + k,
        })),
      ];
      const fresh = (method: MethodId) =>
        Array.from({ length: runs - (method === "snapfleet-live" ? 1 : 0) }, () => [{ method, ordinal: 1 }]);
      return [first, ...fresh("snapfleet-live"), ...fresh("snapfleet-ram-only")];
    },
    async start(load: Load, run: number) {
      const server = await ctx.snapfleet();
      const p = await startProductVm(server, `sf-${shape?.tag ?? ""}${load}-${run}`, load, shape?.guest);
      return {
        take: (_ordinal, method) => takeThroughApi(server, p, method === "snapfleet-live" ? "live" : "ram-only"),
        dispose: () => p.dispose(),
      };
    },
  };
}

/**
 * `snapfleet` = both product modes (one runner, see productRunner). `strategy` (the pause strategy over
 * bare QMP) and `classic` (the naive sequence over bare QMP) run on request (--methods=…).
 */
export const ALL_METHODS = ["snapfleet", "precopy", "savevm", "libvirt"];

/** The runners for --methods, for guests of `shape` (default: the 1 GiB bench guest, RAM untouched). */
async function runnersFor(
  ctx: BenchContext,
  wanted: string[],
  shape?: { tag: string; guest: GuestShape },
): Promise<MethodRunner[]> {
  const guest = shape?.guest;
  const factories: Record<string, () => Promise<MethodRunner>> = {
    snapfleet: async () => productRunner(ctx, shape),
    strategy: async () => bareRunner("strategy", "pause strategy over bare QMP (lib/snapshots/pause-steps.ts)", guest),
    classic: async () => bareRunner("classic", "stop → transaction → migrate over bare QMP", guest),
    "ram-only": async () => bareRunner("ram-only", "background snapshot, RAM only, bare QMP", guest),
    precopy: async () => bareRunner("precopy", "pre-copy to file, pause at the end", guest),
    savevm: async () => bareRunner("savevm", "`snapshot-save` (internal)", guest),
    libvirt: () => libvirtRunner(ctx),
  };
  const runners: MethodRunner[] = [];
  for (const id of wanted) {
    if (!factories[id]) throw new Error(`unknown method ${id}; known: ${Object.keys(factories).join(", ")}`);
    runners.push(await factories[id]());
  }
  return runners;
}

/**
 * --sizes=1,4,8: the size dimension. Guests of each size with 85 % of their RAM written once and then
 * idle (or busy), first and nth snapshot (default 2nd) per method (default: Snapfleet `live` through the
 * API); result pause-size[-<tag>]-*.json and the size table of docs/performance.md.
 */
async function runSizes(ctx: BenchContext, sizes: number[]): Promise<void> {
  const started = new Date();
  const load0 = loadSample();
  const wanted = ctx.flags.methods?.split(",") ?? ["snapfleet"];
  const runs: SizeRun[] = [];
  for (const sizeGiB of sizes) {
    const shape = { tag: `${sizeGiB}g-`, guest: residentGuest(sizeGiB) };
    const result = await runPause(ctx, await runnersFor(ctx, wanted, shape), {
      runs: ctx.flags.runs ? Number(ctx.flags.runs) : 2,
      nth: ctx.flags.nth ? Number(ctx.flags.nth) : 2,
      loads: ctx.flags.loads?.split(",") as Load[] | undefined,
      laterExtra: 0,
    });
    runs.push({ sizeGiB, result });
  }
  const file = writeResult<SizeRun[]>(
    ctx.flags.tag ? `pause-size-${ctx.flags.tag}` : "pause-size",
    started,
    load0,
    runs,
  );
  console.log(`\n${renderSizeTable(file)}\n`);
  const h = sizeHeadline([file]);
  if (h) console.log(`${h}\n`);
  renderDocs();
}

export async function runPausePart(ctx: BenchContext): Promise<void> {
  if (ctx.flags.sizes) return runSizes(ctx, ctx.flags.sizes.split(",").map(Number));
  const started = new Date();
  const load0 = loadSample();
  const runners = await runnersFor(ctx, ctx.flags.methods?.split(",") ?? ALL_METHODS);
  const result = await runPause(ctx, runners, {
    runs: ctx.flags.runs ? Number(ctx.flags.runs) : undefined,
    nth: ctx.flags.nth ? Number(ctx.flags.nth) : undefined,
    loads: ctx.flags.loads?.split(",") as Load[] | undefined,
  });
  // --tag=<t>: a side experiment (e.g. --tag=ab --methods=classic,strategy): pause-<t>-*.json, and the
  // docs' main tables stay those of the last untagged run.
  writeResult<PauseResult>(ctx.flags.tag ? `pause-${ctx.flags.tag}` : "pause", started, load0, result);
  console.log(`\n${renderPauseTables(result)}\n`);
  if (result.headline)
    console.log(
      `consistent 1 GiB pause: ${Math.round(result.headline.ms ?? 0)} ms (${result.headline.method}, worst case: ${result.headline.worstCase})\n`,
    );
  renderDocs();
}

// `npm run bench -- overhead`: what Snapfleet costs on top of QEMU. On one busy 1 GiB guest-kit VM,
// alternately: a `live` snapshot through the product's API, and the same snapshot driven by a bare QMP
// script (the bench's own session on the VM's other monitor, same sequence as the product), which of
// the two goes first swapping every round so neither always follows the other's clean-up. Compared:
// streaming throughput (vmstate bytes / QEMU's active → completed time; target ≥ 0.95 of bare), total
// time, guest pause. Then `cat` of a vmstate file of the same size to the same directory, as the
// ceiling of the disk: QEMU under TCG, not the disk, is expected to be the limit.
import { execFile } from "node:child_process";
import { mkdtemp, rm, stat } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { loadSample } from "../lib/machine";
import { takeBare, type BareMethodId, type SnapshotSample } from "../lib/methods";
import { startProductVm, takeThroughApi } from "../lib/product";
import { fmt, provenance, table, updateDocsSection, writeResult, type ResultFile } from "../lib/report";
import { ratio, summarize } from "../lib/stats";
import type { BenchContext } from "../lib/context";

const run = promisify(execFile);
const ROUNDS = 5;
/** The bare script runs what run-snapshot.ts runs: the pause strategy's sequence (pause-steps.ts). */
export const PRODUCT_EQUIVALENT: BareMethodId = "strategy";

export interface OverheadData {
  rounds: number;
  bareMethod: BareMethodId;
  product: Array<SnapshotSample & { load1: number }>;
  bare: Array<SnapshotSample & { load1: number }>;
  cat: Array<{ bytes: number; ms: number; MBps: number; load1: number }>;
}

export function renderOverhead(r: ResultFile<OverheadData>): string {
  const d = r.data;
  const s = (xs: Array<number | undefined>) => summarize(xs);
  const pT = s(d.product.filter((x) => x.ok).map((x) => x.streamMBps));
  const bT = s(d.bare.filter((x) => x.ok).map((x) => x.streamMBps));
  const pTot = s(d.product.filter((x) => x.ok).map((x) => x.totalMs));
  const bTot = s(d.bare.filter((x) => x.ok).map((x) => x.totalMs));
  const pP = s(d.product.filter((x) => x.ok).map((x) => x.pauseMs));
  const bP = s(d.bare.filter((x) => x.ok).map((x) => x.pauseMs));
  const cat = s(d.cat.map((x) => x.MBps));
  const q = ratio(pT.median, bT.median);
  const rows = [
    [
      "Snapfleet `live` (API)",
      `${fmt(pT.median)} (${fmt(pT.min)}–${fmt(pT.max)})`,
      fmt(pTot.median === null ? null : pTot.median / 1000, 1),
      fmt(pP.median, 1),
      `${pT.n}`,
    ],
    [
      `bare QMP script (${d.bareMethod})`,
      `${fmt(bT.median)} (${fmt(bT.min)}–${fmt(bT.max)})`,
      fmt(bTot.median === null ? null : bTot.median / 1000, 1),
      fmt(bP.median, 1),
      `${bT.n}`,
    ],
    [
      "`cat` of the same bytes, same directory (+ fsync)",
      `${fmt(cat.median)} (${fmt(cat.min)}–${fmt(cat.max)})`,
      "",
      "",
      `${cat.n}`,
    ],
  ];
  return [
    table(["path", "MB/s median (min–max)", "total s (median)", "guest pause ms (median)", "runs"], rows),
    "",
    `Snapfleet / bare throughput: **${fmt(q, 3)}** (target ≥ 0.95); Snapfleet / cat: ${fmt(ratio(pT.median, cat.median), 2)}.`,
    `Total: API = POST → the \`completed\` frame, which includes re-collapsing guest RAM after the snapshot; the bare total stops before that collapse (median ${fmt(s(d.bare.map((x) => x.collapseMs)).median)} ms).`,
    "",
    `Produced by ${provenance(r)}`,
  ].join("\n");
}

export async function runOverheadPart(ctx: BenchContext): Promise<void> {
  const started = new Date();
  const load0 = loadSample();
  const server = await ctx.snapfleet();
  const p = await startProductVm(server, "sf-overhead", "busy");
  const dir = await mkdtemp(path.join(server.snapshotDir, "bare-"));
  const data: OverheadData = { rounds: ROUNDS, bareMethod: PRODUCT_EQUIVALENT, product: [], bare: [], cat: [] };
  try {
    const describe = (x: SnapshotSample) =>
      x.ok
        ? `${fmt(x.streamMBps)} MB/s, total ${fmt((x.totalMs ?? 0) / 1000, 1)} s, pause ${fmt(x.pauseMs, 1)} ms`
        : x.error;
    const api = async (round: number) => {
      const a = await takeThroughApi(server, p, "live");
      data.product.push({ ...a, load1: loadSample().load1 });
      ctx.log(`overhead #${round} API:  ${describe(a)}`);
    };
    const bare = async (round: number) => {
      const b = await takeBare(PRODUCT_EQUIVALENT, { bvm: p.bvm, dir, ordinal: round });
      data.bare.push({ ...b, load1: loadSample().load1 });
      ctx.log(`overhead #${round} bare: ${describe(b)}`);
    };
    for (let round = 1; round <= ROUNDS; round++) {
      const order = round % 2 === 1 ? [api, bare] : [bare, api];
      for (const take of order) await take(round);
    }
    // cat: the same number of bytes, read from a file in the page cache, written to the same directory.
    const bytes = summarize(data.bare.map((x) => x.bytes)).median ?? 512e6;
    const src = path.join(dir, "source.bin");
    await run("head", ["-c", String(Math.round(bytes)), "/dev/urandom"], {
      encoding: "buffer",
      maxBuffer: 2 * bytes + 1e6,
    }).then(async (r) => import("node:fs/promises").then((fs) => fs.writeFile(src, r.stdout)));
    for (let round = 1; round <= ROUNDS; round++) {
      const dst = path.join(dir, `copy-${round}.bin`);
      const t = performance.now();
      await run("sh", ["-c", `cat '${src}' > '${dst}' && sync '${dst}'`]);
      const ms = performance.now() - t;
      const size = (await stat(dst)).size;
      data.cat.push({ bytes: size, ms, MBps: size / 1e6 / (ms / 1000), load1: loadSample().load1 });
      await rm(dst, { force: true });
    }
  } finally {
    await p.dispose();
    await rm(dir, { recursive: true, force: true });
  }
  const file = writeResult("overhead", started, load0, data);
  const text = renderOverhead(file);
  console.log(`\n${text}\n`);
  updateDocsSection("overhead", text);
}

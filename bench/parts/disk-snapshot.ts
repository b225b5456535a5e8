// `npx tsx bench/parts/disk-snapshot.ts [--samples=5] [--quick] [--docs] [--out=FILE] [--dir=DIR] [--keep]`
// `npx tsx bench/parts/disk-snapshot.ts --render=RESULT.json [--docs]`: re-render a saved run, measure nothing.
//
// What the disk step of a consistent snapshot costs when it is an INTERNAL qcow2 snapshot
// (`blockdev-snapshot-internal-sync`) instead of an external overlay, on QEMU 7.2 (Debian) and QEMU 10.0
// (.cache/qemu-backports), with an OS-less QEMU (q35, 128 MiB, TCG, running SeaBIOS with nothing to boot)
// whose only disk is a qcow2 image (`-blockdev file f0 → qcow2 d0 → virtio-blk vd0`). Measures:
//  1. client-side round trip of `blockdev-snapshot-internal-sync` and `blockdev-snapshot-delete-internal-sync`,
//     and how long QEMU's main loop (its QMP dispatcher) was blocked meanwhile: a second QMP monitor is
//     pinged with `query-status` in a tight loop from another connection; the block = the longest gap
//     between two of its answers that overlaps the command. Images: 1 GiB fully written, 16 GiB fully
//     written, 200 GiB virtual with 16 × 1 GiB written spread over it; each with 0 and with 5 existing
//     internal snapshots (made offline with `qemu-img snapshot -c`).
//  2. guest pause (QMP STOP→RESUME event timestamps) of `stop` + `transaction[blockdev-snapshot-internal-sync]`
//     + `cont` written in ONE socket write, vs the same with an empty transaction (baseline).
//  3. offline `qemu-img snapshot -c` / `-l` / `-d` times on the same images.
//  4. whether `qemu-img convert -U -l snapshot.name=X` reads an internal snapshot while a QEMU holds the
//     image (checked: the copy has the snapshot's bytes, not the live ones written after it), how long it
//     takes for 1 GiB, and what the lock refuses without -U.
// Images go to a temporary directory under /var/tmp (never tmpfs; ~34 GiB free needed), deleted at the end
// unless --keep. --quick: 1 GiB + 2 GiB images only, 2 samples (a smoke run). --docs: rewrite the
// `<!-- bench:disk-snapshot -->` block of docs/performance.md (docs.ts never touches it). --out: JSON of
// every sample (default: printed path under /var/tmp, outside the work tree). Not part of `npm run bench`.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { exportSnapshotArgs } from "../../tests/support/qemu";
import { REPO_ROOT, fmt, table, updateDocsSection } from "../lib/report";
import { summarize } from "../lib/stats";

// ---------------------------------------------------------------------------------------------------
// Setup
// ---------------------------------------------------------------------------------------------------

const flags = Object.fromEntries(
  process.argv
    .slice(2)
    .filter((a) => a.startsWith("--"))
    .map((a) => {
      const [k, v] = a.slice(2).split("=");
      return [k, v ?? "true"];
    }),
) as Record<string, string>;
const KNOWN_FLAGS = ["samples", "quick", "docs", "out", "dir", "keep", "render"];
for (const k of Object.keys(flags)) {
  if (!KNOWN_FLAGS.includes(k)) {
    console.error(
      `unknown flag --${k}; usage: npx tsx bench/parts/disk-snapshot.ts [--samples=5] [--quick] [--docs] [--out=FILE] [--dir=DIR] [--keep] [--render=RESULT.json]`,
    );
    process.exit(2);
  }
}
const QUICK = flags.quick === "true";
const SAMPLES = Number(flags.samples ?? (QUICK ? 2 : 5));
const CONVERT_SAMPLES = QUICK ? 1 : 3;
const GiB = 1024 ** 3;
const TMPFS_MAGIC = 0x01021994;

const BACKPORTS = path.join(REPO_ROOT, ".cache/qemu-backports/usr/bin");
const QEMUS = [
  { label: "7.2", bin: "/usr/bin/qemu-system-x86_64" },
  { label: "10.0", bin: path.join(BACKPORTS, "qemu-system-x86_64") },
].filter((q) => existsSync(q.bin));
const QEMU_IMG = existsSync(path.join(BACKPORTS, "qemu-img")) ? path.join(BACKPORTS, "qemu-img") : "qemu-img";
const QEMU_IO = existsSync(path.join(BACKPORTS, "qemu-io")) ? path.join(BACKPORTS, "qemu-io") : "qemu-io";

interface ImageSpec {
  key: string;
  label: string;
  virtualGiB: number;
  /** GiB offsets of the 1 GiB writes. */
  writesAt: number[];
}

const IMAGES: ImageSpec[] = QUICK
  ? [
      { key: "1g", label: "1 GiB full", virtualGiB: 1, writesAt: [0] },
      { key: "2g", label: "2 GiB full", virtualGiB: 2, writesAt: [0, 1] },
    ]
  : [
      { key: "1g", label: "1 GiB full", virtualGiB: 1, writesAt: [0] },
      { key: "16g", label: "16 GiB full", virtualGiB: 16, writesAt: [...Array(16).keys()] },
      // 16 × 1 GiB spread over the 200 GiB (every 12.5 GiB): L2 tables and refcount blocks all over the file.
      {
        key: "200g",
        label: "200 GiB virtual, 16 GiB written",
        virtualGiB: 200,
        writesAt: [...Array(16).keys()].map((i) => i * 12.5),
      },
    ];
/** Part 2 and 4 images. */
const PAUSE_IMAGES = IMAGES.slice(0, 2).map((i) => i.key);
const PRE_EXISTING = 5;
/** The qdev that owns the BlockBackend of a virtio-blk-pci (HMP `qemu-io -d`); `vd0` alone: "Device does not have a block device backend". */
const QDEV = "vd0/virtio-backend";

const WORK = flags.dir ?? `/var/tmp/snapfleet-disk-snapshot-${process.pid}`;
const t0 = performance.now();
const log = (m: string) => console.log(`[${((performance.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${m}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (v: number, d = 2) => Math.round(v * 10 ** d) / 10 ** d;

function uptime(): string {
  return spawnSync("uptime", { encoding: "utf8" })
    .stdout.trim()
    .replace(/^.*load average:\s*/, "");
}

function img(spec: ImageSpec): string {
  return path.join(WORK, `${spec.key}.qcow2`);
}

/** Runs a tool synchronously; returns its wall time in ms. */
function tool(bin: string, args: string[]): { ms: number; ok: boolean; out: string; err: string } {
  const s = performance.now();
  const r = spawnSync(bin, args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  return {
    ms: performance.now() - s,
    ok: r.status === 0,
    out: r.stdout ?? "",
    err: (r.stderr ?? "").trim() || (r.error?.message ?? ""),
  };
}

function must(bin: string, args: string[]): number {
  const r = tool(bin, args);
  if (!r.ok) throw new Error(`${bin} ${args.join(" ")} failed: ${r.err}`);
  return r.ms;
}

// ---------------------------------------------------------------------------------------------------
// A minimal QMP session: raw lines, so that several commands go out in ONE socket write and every
// reply and event is stamped on arrival.
// ---------------------------------------------------------------------------------------------------

interface QmpEventRec {
  event: string;
  /** QEMU's timestamp, ms. */
  qemuMs: number;
  /** Arrival, performance.now(). */
  at: number;
}

interface Reply {
  ok: boolean;
  value: unknown;
  error?: string;
  at: number;
}

/** One line of the raw QMP stream, as far as this client reads it. */
interface RawQmpMessage {
  QMP?: unknown;
  event?: string;
  timestamp: { seconds: number; microseconds: number };
  id?: string | number;
  return?: unknown;
  error?: { class: string; desc: string };
}

class RawQmp {
  readonly events: QmpEventRec[] = [];
  private buf = "";
  private nextId = 1;
  private readonly pending = new Map<string, (r: Reply) => void>();
  private greeted!: () => void;
  private readonly greeting = new Promise<void>((r) => (this.greeted = r));
  private eventWaiter?: () => void;

  private constructor(private readonly sock: net.Socket) {
    sock.setNoDelay(true);
    sock.on("data", (chunk) => this.onData(chunk.toString("utf8")));
    sock.on("close", () => {
      for (const p of this.pending.values())
        p({ ok: false, value: undefined, error: "socket closed", at: performance.now() });
      this.pending.clear();
    });
    sock.on("error", () => {});
  }

  static async open(socketPath: string, timeoutMs = 10_000): Promise<RawQmp> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      try {
        const sock = await new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect(socketPath);
          s.once("connect", () => resolve(s));
          s.once("error", reject);
        });
        const q = new RawQmp(sock);
        await q.greeting;
        await q.cmd("qmp_capabilities");
        return q;
      } catch (err) {
        if (performance.now() > deadline)
          throw new Error(`QMP ${socketPath}: ${(err as Error).message}`, { cause: err });
        await sleep(20);
      }
    }
  }

  private onData(text: string): void {
    this.buf += text;
    let nl: number;
    while ((nl = this.buf.indexOf("\n")) >= 0) {
      const line = this.buf.slice(0, nl).trim();
      this.buf = this.buf.slice(nl + 1);
      if (!line) continue;
      const at = performance.now();
      const msg = JSON.parse(line) as RawQmpMessage;
      if (msg.QMP) this.greeted();
      else if (msg.event) {
        this.events.push({
          event: msg.event,
          qemuMs: msg.timestamp.seconds * 1000 + msg.timestamp.microseconds / 1000,
          at,
        });
        this.eventWaiter?.();
      } else if (msg.id !== undefined) {
        const p = this.pending.get(String(msg.id));
        this.pending.delete(String(msg.id));
        p?.(
          msg.error
            ? { ok: false, value: undefined, error: `${msg.error.class}: ${msg.error.desc}`, at }
            : { ok: true, value: msg.return, at },
        );
      }
    }
  }

  /** Writes all commands in one socket write; resolves with their replies in order. */
  pipeline(cmds: Array<{ execute: string; arguments?: Record<string, unknown> }>): {
    sentAt: number;
    replies: Promise<Reply[]>;
  } {
    const promises: Array<Promise<Reply>> = [];
    const lines = cmds.map((c) => {
      const id = `b${this.nextId++}`;
      promises.push(new Promise((r) => this.pending.set(id, r)));
      return JSON.stringify({ ...c, id });
    });
    const sentAt = performance.now();
    this.sock.write(`${lines.join("\n")}\n`);
    return { sentAt, replies: Promise.all(promises) };
  }

  /** One command; resolves with its reply and the client-side round trip. */
  async cmd(execute: string, args?: Record<string, unknown>): Promise<Reply & { sentAt: number; rttMs: number }> {
    const { sentAt, replies } = this.pipeline([{ execute, ...(args ? { arguments: args } : {}) }]);
    const [r] = await replies;
    return { ...r, sentAt, rttMs: r.at - sentAt };
  }

  async waitEvent(name: string, fromIndex: number, timeoutMs = 30_000): Promise<QmpEventRec> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const e = this.events.slice(fromIndex).find((x) => x.event === name);
      if (e) return e;
      if (performance.now() > deadline) throw new Error(`no ${name} event within ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        this.eventWaiter = r;
        setTimeout(r, 50);
      });
    }
  }

  close(): void {
    this.sock.destroy();
  }
}

/** Pings a second monitor with query-status back to back; the longest gap between answers around a window is the main-loop block. */
class Pinger {
  private replies: number[] = [];
  private running = true;
  private readonly done: Promise<void>;

  constructor(private readonly q: RawQmp) {
    this.done = this.loop();
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const r = await this.q.cmd("query-status");
      if (!r.ok) return;
      this.replies.push(r.at);
    }
  }

  /**
   * Longest silence of the monitor that overlaps [from, to], counted from `from` at the earliest: a
   * stall that began before the command was sent is not the command's.
   */
  maxGap(from: number, to: number): number {
    let max = 0;
    const r = this.replies;
    for (let i = 0; i + 1 < r.length; i++) {
      if (r[i + 1] < from || r[i] > to) continue;
      max = Math.max(max, r[i + 1] - Math.max(r[i], from));
    }
    return max;
  }

  /** Typical ping round trip and the longest gap in [from, to] with nothing else going on. */
  quietStats(from: number, to: number): { medianGapMs: number; maxGapMs: number; pings: number } {
    const gaps: number[] = [];
    for (let i = 0; i + 1 < this.replies.length; i++)
      if (this.replies[i] >= from && this.replies[i + 1] <= to) gaps.push(this.replies[i + 1] - this.replies[i]);
    const s = summarize(gaps);
    return { medianGapMs: round(s.median ?? NaN, 3), maxGapMs: round(s.max ?? NaN, 3), pings: gaps.length };
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }
}

// ---------------------------------------------------------------------------------------------------
// QEMU processes
// ---------------------------------------------------------------------------------------------------

interface Vm {
  proc: ChildProcess;
  qmp: RawQmp;
  qmp2: RawQmp;
  stderr(): string;
  quit(): Promise<void>;
}

let vmSeq = 0;
const liveVms = new Set<Vm>();

async function startVm(qemu: string, image: string): Promise<Vm> {
  const n = vmSeq++;
  const s1 = path.join(WORK, `m${n}a.sock`);
  const s2 = path.join(WORK, `m${n}b.sock`);
  const args = [
    "-machine",
    "q35",
    "-accel",
    "tcg",
    "-m",
    "128",
    "-nodefaults",
    "-display",
    "none",
    "-blockdev",
    `driver=file,node-name=f0,filename=${image}`,
    "-blockdev",
    "driver=qcow2,node-name=d0,file=f0",
    "-device",
    "virtio-blk-pci,drive=d0,id=vd0",
    "-qmp",
    `unix:${s1},server=on,wait=off`,
    "-qmp",
    `unix:${s2},server=on,wait=off`,
  ];
  const proc = spawn(qemu, args, { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  proc.stderr!.on("data", (c) => (err += c));
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  try {
    const qmp = await RawQmp.open(s1);
    const qmp2 = await RawQmp.open(s2);
    const vm: Vm = {
      proc,
      qmp,
      qmp2,
      stderr: () => err.trim(),
      quit: async () => {
        liveVms.delete(vm);
        void qmp.cmd("quit");
        const t = setTimeout(() => proc.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(t);
        qmp.close();
        qmp2.close();
        rmSync(s1, { force: true });
        rmSync(s2, { force: true });
      },
    };
    liveVms.add(vm);
    return vm;
  } catch (e) {
    proc.kill("SIGKILL");
    throw new Error(`${qemu}: ${(e as Error).message}; stderr: ${err.trim()}`, { cause: e });
  }
}

async function snapshotCount(vm: Vm): Promise<number> {
  const r = await vm.qmp.cmd("query-named-block-nodes");
  const node = (r.value as Array<{ "node-name": string; image: { snapshots?: unknown[] } }>).find(
    (n) => n["node-name"] === "d0",
  );
  return node?.image.snapshots?.length ?? 0;
}

// ---------------------------------------------------------------------------------------------------
// Measurements
// ---------------------------------------------------------------------------------------------------

interface LiveSample {
  rttMs: number;
  blockMs: number;
  ok: boolean;
  error?: string;
}

interface LiveCell {
  qemu: string;
  image: string;
  existing: number;
  quiet: { medianGapMs: number; maxGapMs: number; pings: number };
  create: LiveSample[];
  delete: LiveSample[];
  countAfter: number;
  load: string;
  error?: string;
}

async function measureLive(qemu: { label: string; bin: string }, spec: ImageSpec, existing: number): Promise<LiveCell> {
  const vm = await startVm(qemu.bin, img(spec));
  const cell: LiveCell = {
    qemu: qemu.label,
    image: spec.label,
    existing,
    quiet: { medianGapMs: NaN, maxGapMs: NaN, pings: 0 },
    create: [],
    delete: [],
    countAfter: -1,
    load: uptime(),
  };
  const pinger = new Pinger(vm.qmp2);
  try {
    await sleep(300);
    const q0 = performance.now();
    await sleep(500);
    cell.quiet = pinger.quietStats(q0, performance.now());
    for (let i = 1; i <= SAMPLES; i++) {
      const name = `sf-live-${i}`;
      for (const [kind, command] of [
        ["create", "blockdev-snapshot-internal-sync"],
        ["delete", "blockdev-snapshot-delete-internal-sync"],
      ] as const) {
        const r = await vm.qmp.cmd(command, { device: "d0", name });
        await sleep(60); // let the pinger's next answer land before reading the gap
        cell[kind].push({
          rttMs: round(r.rttMs, 3),
          blockMs: round(pinger.maxGap(r.sentAt, r.at), 3),
          ok: r.ok,
          ...(r.error ? { error: r.error } : {}),
        });
        await sleep(100);
      }
    }
    cell.countAfter = await snapshotCount(vm);
  } catch (e) {
    cell.error = `${(e as Error).message}; stderr: ${vm.stderr()}`;
  } finally {
    // The pinger's monitor may already be gone with the VM: the cell's figures stand, say it and go on.
    await pinger
      .stop()
      .catch((err: unknown) =>
        console.warn(`disk-snapshot: the second monitor's pinger ended with an error: ${(err as Error).message}`),
      );
    await vm.quit();
  }
  return cell;
}

interface PauseSample {
  kind: "baseline" | "internal";
  pauseMs: number;
  /** write → transaction reply, client side. */
  transactionReplyMs: number;
  ok: boolean;
  error?: string;
}

interface PauseCell {
  qemu: string;
  image: string;
  samples: PauseSample[];
  load: string;
  error?: string;
}

async function measurePause(qemu: { label: string; bin: string }, spec: ImageSpec): Promise<PauseCell> {
  const vm = await startVm(qemu.bin, img(spec));
  const cell: PauseCell = { qemu: qemu.label, image: spec.label, samples: [], load: uptime() };
  try {
    await sleep(300);
    for (let i = 1; i <= SAMPLES; i++) {
      for (const kind of ["baseline", "internal"] as const) {
        const name = `sf-pause-${i}`;
        const actions =
          kind === "internal" ? [{ type: "blockdev-snapshot-internal-sync", data: { device: "d0", name } }] : [];
        const from = vm.qmp.events.length;
        const { sentAt, replies } = vm.qmp.pipeline([
          { execute: "stop" },
          { execute: "transaction", arguments: { actions } },
          { execute: "cont" },
        ]);
        const rs = await replies;
        const stop = await vm.qmp.waitEvent("STOP", from);
        const resume = await vm.qmp.waitEvent("RESUME", from);
        const bad = rs.find((r) => !r.ok);
        cell.samples.push({
          kind,
          pauseMs: round(resume.qemuMs - stop.qemuMs, 3),
          transactionReplyMs: round(rs[1].at - sentAt, 3),
          ok: !bad,
          ...(bad ? { error: bad.error } : {}),
        });
        if (kind === "internal") {
          await sleep(50);
          const d = await vm.qmp.cmd("blockdev-snapshot-delete-internal-sync", { device: "d0", name });
          if (!d.ok) throw new Error(`delete ${name}: ${d.error}`);
        }
        await sleep(150);
      }
    }
  } catch (e) {
    cell.error = `${(e as Error).message}; stderr: ${vm.stderr()}`;
  } finally {
    await vm.quit();
  }
  return cell;
}

interface ForceShareCell {
  qemu: string;
  convertMs: number[];
  convertOk: boolean;
  convertError?: string;
  /** The copy holds the snapshot's 0xab, the live image the 0xcd written after the snapshot. */
  copyIsSnapshot: boolean;
  liveChanged: boolean;
  listSharedMs: number;
  listSharedOk: boolean;
  withoutU: { convert: string; list: string; snapshotDelete: string; snapshotCreate: string };
  load: string;
  error?: string;
}

async function measureForceShare(qemu: { label: string; bin: string }, spec: ImageSpec): Promise<ForceShareCell> {
  const image = img(spec);
  const out = path.join(WORK, "convert-out.qcow2");
  const vm = await startVm(qemu.bin, image);
  const cell: ForceShareCell = {
    qemu: qemu.label,
    convertMs: [],
    convertOk: false,
    copyIsSnapshot: false,
    liveChanged: false,
    listSharedMs: NaN,
    listSharedOk: false,
    withoutU: { convert: "", list: "", snapshotDelete: "", snapshotCreate: "" },
    load: uptime(),
  };
  try {
    await sleep(300);
    const c = await vm.qmp.cmd("blockdev-snapshot-internal-sync", { device: "d0", name: "sf-conv" });
    if (!c.ok) throw new Error(`create sf-conv: ${c.error}`);
    // The live disk now diverges from the snapshot: its first MiB becomes 0xcd.
    // (qemu-io's own output goes to QEMU's stdout; the HMP reply is empty unless something failed.)
    const w = await vm.qmp.cmd("human-monitor-command", { "command-line": `qemu-io -d ${QDEV} "write -P 0xcd 0 1M"` });
    if (!w.ok || String(w.value).trim()) throw new Error(`HMP qemu-io write: ${w.error ?? w.value}`);
    await vm.qmp.cmd("human-monitor-command", { "command-line": `qemu-io -d ${QDEV} "flush"` });
    const first = (r: { ok: boolean; err: string }) => (r.ok ? "accepted" : r.err.split("\n")[0]);
    rmSync(out, { force: true });
    cell.withoutU.convert = first(
      tool(QEMU_IMG, ["convert", "-f", "qcow2", "-O", "qcow2", "-l", "snapshot.name=sf-conv", image, out]),
    );
    rmSync(out, { force: true });
    cell.withoutU.list = first(tool(QEMU_IMG, ["snapshot", "-l", image]));
    cell.withoutU.snapshotDelete = first(tool(QEMU_IMG, ["snapshot", "-d", "sf-conv", image]));
    cell.withoutU.snapshotCreate = first(tool(QEMU_IMG, ["snapshot", "-c", "sf-offline", image]));
    const l = tool(QEMU_IMG, ["snapshot", "-U", "-l", image]);
    cell.listSharedMs = round(l.ms, 1);
    cell.listSharedOk = l.ok && l.out.includes("sf-conv");
    for (let i = 0; i < CONVERT_SAMPLES; i++) {
      rmSync(out, { force: true });
      const r = tool(QEMU_IMG, exportSnapshotArgs(image, "sf-conv", out));
      if (!r.ok) {
        cell.convertError = r.err;
        break;
      }
      cell.convertMs.push(round(r.ms, 1));
    }
    cell.convertOk = cell.convertMs.length === CONVERT_SAMPLES;
    if (cell.convertOk) {
      const lastMiB = `${spec.virtualGiB * 1024 - 1}M`;
      const copy = tool(QEMU_IO, [
        "-f",
        "qcow2",
        "-r",
        "-c",
        "read -P 0xab 0 1M",
        "-c",
        `read -P 0xab ${lastMiB} 1M`,
        out,
      ]);
      cell.copyIsSnapshot =
        copy.ok &&
        copy.out.split("read 1048576/1048576").length === 3 &&
        !/verification failed/i.test(copy.out + copy.err);
      const live = tool(QEMU_IO, ["-U", "-f", "qcow2", "-r", "-c", "read -P 0xcd 0 1M", image]);
      cell.liveChanged =
        live.ok && live.out.includes("read 1048576/1048576") && !/verification failed/i.test(live.out + live.err);
    }
  } catch (e) {
    cell.error = `${(e as Error).message}; stderr: ${vm.stderr()}`;
  } finally {
    // Leave the image as found: no sf-conv, the 0xab pattern back in the first MiB.
    await vm.qmp.cmd("blockdev-snapshot-delete-internal-sync", { device: "d0", name: "sf-conv" });
    await vm.qmp.cmd("human-monitor-command", { "command-line": `qemu-io -d ${QDEV} "write -P 0xab 0 1M"` });
    await vm.quit();
    rmSync(out, { force: true });
  }
  return cell;
}

// ---------------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------------

interface Results {
  startedAt: string;
  finishedAt?: string;
  durationS?: number;
  samples: number;
  machine: {
    cpus: number;
    cpuModel: string;
    memGiB: number;
    kernel: string;
    qemu: Record<string, string>;
    qemuImg: string;
    workDir: string;
    fsType: string;
  };
  load: Record<string, string>;
  fill: Array<{ image: string; writeMs: number; syncMs: number }>;
  live: LiveCell[];
  pause: PauseCell[];
  offline: Array<{ image: string; createMs: number[]; listMs: number[]; deleteMs: number[]; listOutput: string }>;
  forceShare: ForceShareCell[];
}

const mm = (xs: Array<number | undefined>, d = 1) => {
  const s = summarize(xs);
  return s.n ? `${fmt(s.median, d)} / ${fmt(s.max, d)}` : "—";
};

export function render(r: Results): string {
  const one = (x: string | undefined) => (x ?? "").replace(/\s*\n\s*/g, " ").replace(/\|/g, "\\|");
  const fails = (xs: LiveSample[]) =>
    xs.some((x) => !x.ok) ? ` (${xs.filter((x) => !x.ok).length} failed: ${one(xs.find((x) => !x.ok)?.error)})` : "";
  const live = table(
    [
      "QEMU",
      "image",
      "existing snapshots",
      "create: round trip",
      "create: main loop blocked",
      "delete: round trip",
      "delete: main loop blocked",
      "ping gap, idle (median / max)",
    ],
    r.live.map((c) =>
      c.error
        ? [c.qemu, c.image, c.existing, `error: ${one(c.error)}`, "", "", "", ""]
        : [
            c.qemu,
            c.image,
            c.existing,
            mm(c.create.filter((x) => x.ok).map((x) => x.rttMs)) + fails(c.create),
            mm(c.create.filter((x) => x.ok).map((x) => x.blockMs)),
            mm(c.delete.filter((x) => x.ok).map((x) => x.rttMs)) + fails(c.delete),
            mm(c.delete.filter((x) => x.ok).map((x) => x.blockMs)),
            `${fmt(c.quiet.medianGapMs, 2)} / ${fmt(c.quiet.maxGapMs, 1)}`,
          ],
    ),
  );
  const pause = table(
    [
      "QEMU",
      "image",
      "baseline: stop + empty transaction + cont",
      "with blockdev-snapshot-internal-sync",
      "difference of medians (the disk step)",
    ],
    r.pause.map((c) => {
      const b = summarize(c.samples.filter((s) => s.kind === "baseline" && s.ok).map((s) => s.pauseMs));
      const i = summarize(c.samples.filter((s) => s.kind === "internal" && s.ok).map((s) => s.pauseMs));
      const bad = c.samples.find((s) => !s.ok);
      return [
        c.qemu,
        c.image,
        mm(
          c.samples.filter((s) => s.kind === "baseline" && s.ok).map((s) => s.pauseMs),
          2,
        ),
        mm(c.samples.filter((s) => s.kind === "internal" && s.ok).map((s) => s.pauseMs)) +
          (bad ? ` (error: ${one(bad.error)})` : "") +
          (c.error ? ` (error: ${one(c.error)})` : ""),
        b.median !== null && i.median !== null ? fmt(i.median - b.median, 1) : "—",
      ];
    }),
  );
  const offline = table(
    [
      "image",
      `\`qemu-img snapshot -c\` (0→${PRE_EXISTING} existing)`,
      `\`-l\` (${PRE_EXISTING} snapshots)`,
      `\`-d\` (${PRE_EXISTING}→0 existing)`,
    ],
    r.offline.map((o) => [o.image, mm(o.createMs), mm(o.listMs), mm(o.deleteMs)]),
  );
  const fs = table(
    [
      "QEMU holding the image",
      "`convert -U -l snapshot.name=…` 1 GiB, ms (each run)",
      "copy = snapshot, live changed",
      "`snapshot -U -l`",
      "without `-U`: convert / `-l` / `-d` / `-c`",
    ],
    r.forceShare.map((c) => [
      c.qemu,
      c.convertOk
        ? c.convertMs.map((x) => fmt(x)).join(", ") + (c.error ? ` (error: ${one(c.error)})` : "")
        : `failed: ${one(c.convertError ?? c.error)}`,
      `${c.copyIsSnapshot ? "yes" : "NO"}, ${c.liveChanged ? "yes" : "NO"}`,
      c.listSharedOk ? `ok, ${fmt(c.listSharedMs)} ms` : "failed",
      [c.withoutU.convert, c.withoutU.list, c.withoutU.snapshotDelete, c.withoutU.snapshotCreate]
        .map((x) => one(x.replace(/^qemu-img: Could not open '[^']*': /, "")))
        .join(" / "),
    ]),
  );
  const loads = Object.entries(r.load)
    .map(([k, v]) => `${k} ${v}`)
    .join("; ");
  return [
    `Medians / max in ms of ${r.samples} samples per cell (${r.machine.cpus} × ${r.machine.cpuModel}, Linux ${r.machine.kernel}, TCG, no KVM; images on ${r.machine.fsType} under ${path.dirname(r.machine.workDir)}, page cache warm: written then \`sync\`ed just before).`,
    `QEMU: ${Object.entries(r.machine.qemu)
      .map(([k, v]) => `${k} = ${v}`)
      .join("; ")}. \`qemu-img\`/\`qemu-io\`: ${r.machine.qemuImg} (the backports directory ships none).`,
    `Load averages (1/5/15 min, \`uptime\`): ${loads}.`,
    "",
    "**1. Live QMP commands** on a running OS-less VM (q35, 128 MiB, `-blockdev file → qcow2 → virtio-blk`). *Round trip*: client-side, write → reply. *Main loop blocked*: longest gap between answers of a second QMP monitor pinged with `query-status` back to back from another connection, over the command's window. Each sample creates `sf-live-N` and then deletes it, so a create finds *existing* snapshots and its delete leaves them.",
    "",
    live,
    "",
    "**2. Guest pause** (QMP `STOP`→`RESUME` event timestamps) of `stop` + `transaction` + `cont` written in one socket write; 0 existing snapshots; the snapshot is deleted after each sample, outside the pause.",
    "",
    pause,
    "",
    `**3. Offline** \`qemu-img snapshot\` (${r.machine.qemuImg}), wall time including process start (~5 ms); create = making the ${PRE_EXISTING} pre-existing snapshots, delete = removing them.`,
    "",
    offline,
    "",
    `**4. Reading an internal snapshot while QEMU runs** (1 GiB image; snapshot \`sf-conv\` taken live, then the first MiB of the live disk rewritten with 0xcd through HMP \`qemu-io\`; output to a new qcow2 on the same filesystem).`,
    "",
    fs,
    "",
    `Fill (qemu-io, 1 GiB writes, then \`sync\`): ${r.fill.map((f) => `${f.image} ${fmt(f.writeMs / 1000, 1)} s + ${fmt(f.syncMs / 1000, 1)} s`).join("; ")}. Run ${r.startedAt.slice(0, 16).replace("T", " ")} UTC, ${fmt(r.durationS ?? NaN)} s.`,
  ].join("\n");
}

// ---------------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  if (flags.render) {
    const md = render(JSON.parse(readFileSync(flags.render, "utf8")) as Results);
    console.log(md);
    if (flags.docs === "true") updateDocsSection("disk-snapshot", md);
    return;
  }
  const started = new Date();
  mkdirSync(WORK, { recursive: true });
  const st = statfsSync(WORK);
  if (st.type === TMPFS_MAGIC) throw new Error(`${WORK} is on tmpfs: pick another --dir`);
  const need = (IMAGES.reduce((a, i) => a + i.writesAt.length, 0) + 2) * GiB;
  if (st.bavail * st.bsize < need)
    throw new Error(`${WORK}: ${fmt((st.bavail * st.bsize) / GiB, 1)} GiB free, need ${fmt(need / GiB)} GiB`);
  const fsType = spawnSync("findmnt", ["-n", "-o", "FSTYPE", "-T", WORK], { encoding: "utf8" }).stdout.trim() || "?";
  const results: Results = {
    startedAt: started.toISOString(),
    samples: SAMPLES,
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? "?",
      memGiB: round(os.totalmem() / GiB, 1),
      kernel: os.release(),
      qemu: Object.fromEntries(
        QEMUS.map((q) => [
          q.label,
          spawnSync(q.bin, ["--version"], { encoding: "utf8" })
            .stdout.split("\n")[0]
            .replace("QEMU emulator version ", ""),
        ]),
      ),
      qemuImg: spawnSync(QEMU_IMG, ["--version"], { encoding: "utf8" }).stdout.split("\n")[0],
      workDir: WORK,
      fsType,
    },
    load: { start: uptime() },
    fill: [],
    live: [],
    pause: [],
    offline: [],
    forceShare: [],
  };
  log(
    `work dir ${WORK} (${fsType}); QEMU ${QEMUS.map((q) => q.label).join(", ")}; ${SAMPLES} samples; load ${results.load.start}`,
  );

  // Images.
  for (const spec of IMAGES) {
    must(QEMU_IMG, ["create", "-q", "-f", "qcow2", img(spec), `${spec.virtualGiB}G`]);
    const writes = spec.writesAt.flatMap((g) => [
      "-c",
      `write -q -P 0xab ${Math.round(g * GiB)} ${Math.min(GiB, spec.virtualGiB * GiB)}`,
    ]);
    const writeMs = must(QEMU_IO, ["-f", "qcow2", ...writes, img(spec)]);
    const syncMs = must("sync", []);
    results.fill.push({ image: spec.label, writeMs: round(writeMs, 0), syncMs: round(syncMs, 0) });
    log(`filled ${spec.label}: ${fmt(writeMs / 1000, 1)} s + sync ${fmt(syncMs / 1000, 1)} s`);
  }
  results.load.afterFill = uptime();

  // 1 + 2 + 4 with 0 existing snapshots.
  for (const spec of IMAGES) {
    for (const q of QEMUS) {
      const c = await measureLive(q, spec, 0);
      results.live.push(c);
      log(
        `live ${q.label} ${spec.label} 0 existing: create ${mm(c.create.map((x) => x.rttMs))} (block ${mm(c.create.map((x) => x.blockMs))}), delete ${mm(c.delete.map((x) => x.rttMs))} (block ${mm(c.delete.map((x) => x.blockMs))})${c.error ? ` ERROR ${c.error}` : ""}`,
      );
    }
  }
  results.load.afterLive0 = uptime();
  for (const spec of IMAGES.filter((i) => PAUSE_IMAGES.includes(i.key))) {
    for (const q of QEMUS) {
      const c = await measurePause(q, spec);
      results.pause.push(c);
      const k = (kind: string) =>
        mm(
          c.samples.filter((s) => s.kind === kind).map((s) => s.pauseMs),
          2,
        );
      log(
        `pause ${q.label} ${spec.label}: baseline ${k("baseline")}, internal ${k("internal")}${c.error ? ` ERROR ${c.error}` : ""}`,
      );
    }
  }
  results.load.afterPause = uptime();
  for (const q of QEMUS) {
    const c = await measureForceShare(q, IMAGES[0]);
    results.forceShare.push(c);
    log(
      `force-share ${q.label}: convert ${c.convertMs.join(", ")} ms, copy=snapshot ${c.copyIsSnapshot}, live changed ${c.liveChanged}; without -U: ${JSON.stringify(c.withoutU)}${c.error ? ` ERROR ${c.error}` : ""}`,
    );
  }

  // 3 (create), then 1 with 5 existing, then 3 (list, delete).
  for (const spec of IMAGES) {
    const createMs: number[] = [];
    for (let i = 1; i <= PRE_EXISTING; i++)
      createMs.push(round(must(QEMU_IMG, ["snapshot", "-c", `sf-pre-${i}`, img(spec)]), 1));
    results.offline.push({ image: spec.label, createMs, listMs: [], deleteMs: [], listOutput: "" });
    log(`offline create ${spec.label}: ${createMs.join(", ")} ms`);
  }
  results.load.afterOfflineCreate = uptime();
  for (const spec of IMAGES) {
    for (const q of QEMUS) {
      const c = await measureLive(q, spec, PRE_EXISTING);
      results.live.push(c);
      log(
        `live ${q.label} ${spec.label} ${PRE_EXISTING} existing: create ${mm(c.create.map((x) => x.rttMs))} (block ${mm(c.create.map((x) => x.blockMs))}), delete ${mm(c.delete.map((x) => x.rttMs))} (block ${mm(c.delete.map((x) => x.blockMs))}); count after ${c.countAfter}${c.error ? ` ERROR ${c.error}` : ""}`,
      );
    }
  }
  results.load.afterLive5 = uptime();
  for (const spec of IMAGES) {
    const o = results.offline.find((x) => x.image === spec.label)!;
    for (let i = 0; i < SAMPLES; i++) {
      const l = tool(QEMU_IMG, ["snapshot", "-l", img(spec)]);
      if (!l.ok) throw new Error(`qemu-img snapshot -l: ${l.err}`);
      o.listMs.push(round(l.ms, 1));
      o.listOutput = l.out.trim();
    }
    for (let i = PRE_EXISTING; i >= 1; i--)
      o.deleteMs.push(round(must(QEMU_IMG, ["snapshot", "-d", `sf-pre-${i}`, img(spec)]), 1));
    const check = tool(QEMU_IMG, ["check", "-q", img(spec)]);
    log(
      `offline ${spec.label}: list ${o.listMs.join(", ")} ms, delete ${o.deleteMs.join(", ")} ms; qemu-img check: ${check.ok ? "clean" : check.err || check.out}`,
    );
    if (!check.ok) (o as { check?: string }).check = check.err || check.out;
  }
  results.load.end = uptime();
  results.finishedAt = new Date().toISOString();
  results.durationS = Math.round((Date.now() - started.getTime()) / 1000);

  const out = flags.out ?? `/var/tmp/snapfleet-disk-snapshot-${started.toISOString().replace(/[:.]/g, "-")}.json`;
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  log(`wrote ${out}`);
  const md = render(results);
  console.log(`\n${md}\n`);
  if (flags.docs === "true") {
    updateDocsSection("disk-snapshot", md);
    log("updated the bench:disk-snapshot block of docs/performance.md");
  }
}

function cleanup(): void {
  for (const vm of liveVms) vm.proc.kill("SIGKILL");
  if (flags.keep !== "true" && !flags.dir) rmSync(WORK, { recursive: true, force: true });
  else if (flags.keep !== "true") for (const spec of IMAGES) rmSync(img(spec), { force: true });
}

main()
  .then(() => {
    cleanup();
    log(`done in ${fmt((performance.now() - t0) / 60_000, 1)} min`);
    process.exit(0);
  })
  .catch((err) => {
    console.error(err);
    cleanup();
    process.exit(1);
  });

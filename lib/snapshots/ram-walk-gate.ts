// The RAM-walk gate (QEMU < 9, local hosts): takes QEMU's walk over guest RAM out of the guest pause of
// a consistent snapshot. Owns the control socket, the `exec:` command that runs gate-writer.pl and the
// check that QEMU's migration thread sits at the gate; run-snapshot.ts decides when to use it
// (pause-plan.ts: sequence "gated") and what to do when the gate is not reached.
//
// Why (QEMU 7.2 migration/migration.c bg_migration_thread, docs/performance.md "A bigger guest"): the
// migration thread first reads one byte of every 4 KiB page of guest RAM (ram_write_tracking_prepare,
// ≈ 5–8 ms per GiB of resident RAM), then writes and flushes the header and setup sections WITHOUT the
// BQL, and only then stops the VM itself. The pipelined sequence stops the guest before `migrate`, so
// the whole walk is guest pause. Gated instead:
//   1. `migrate exec:perl gate-writer.pl …` while the guest runs: the writer fills its one-page stdin
//      pipe before QEMU's first write ("gated"), so the walk runs with the guest running and QEMU's
//      thread then blocks in pipe_write at its setup flush;
//   2. once a thread of QEMU's process is blocked writing into a pipe (/proc/<pid>/task/*/wchan), the
//      caller stops the guest and takes the disks' internal snapshots (pause-steps.ts layerAndStream);
//   3. open(): the writer drains its filler; QEMU stops the (already paused) VM, saves device state,
//      write-protects RAM and resumes the guest by itself (QEMU < 9).
// RAM and disks are both taken at our `stop`: nothing runs between it and QEMU's write protection.
// QEMU ≥ 9 flushes its setup under the BQL: a thread held at the gate would hold the main loop, so
// `stop` could not run — the plan never gates those versions.
// Invariants: the writer opens only on open() or when this side's socket closes (dispose(), or the
// dashboard dying) — so the gate never outlives its holder and never opens behind the caller's back; a
// lost race ("open": QEMU wrote before the gate closed) leaves QEMU's stream intact but taken at QEMU's
// own instant, without the disks: the caller must discard it.
import { readdir, readFile, unlink } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { logIgnored } from "../best-effort";
import { quoteRemotePath } from "./remote-sink";

/** What the writer reported when it started: whether it closed the gate before QEMU's first write. */
export type GateState = "gated" | "open" | "no-writer";

export interface RamWalkGate {
  /** For `migrate`: `exec:` + the writer's command line (paths checked and quoted). */
  readonly uri: string;
  /** The writer's first report; "no-writer" when it has not connected within `timeoutMs`. */
  state(timeoutMs: number): Promise<GateState>;
  /** The writer's last line ("done <bytes>" / "error <why>"), or "closed" when it ended without one. */
  readonly outcome: Promise<string>;
  /** Lets QEMU's stream through (idempotent). */
  open(): void;
  /** Closes the control socket (which opens the gate too) and removes it. */
  dispose(): Promise<void>;
}

/** The writer program, next to this module (read at run time, like collapse-helper.pl). */
export function gateWriterPath(): string {
  return path.join(path.dirname(fileURLToPath(import.meta.url)), "gate-writer.pl");
}

/** The `exec:` command QEMU runs: the writer with the control and sink sockets. Throws on an unsafe path. */
export function gateWriterCommand(controlSocket: string, sinkSocket: string): string {
  return `exec perl ${quoteRemotePath(gateWriterPath())} ${quoteRemotePath(controlSocket)} ${quoteRemotePath(sinkSocket)}`;
}

/**
 * Starts listening for the writer on `<socketDir>/<name>.gate` and returns the gate. `sinkUri` is the
 * vmstate sink's `unix:` address (vmstate-sink.ts), where the writer relays QEMU's stream.
 */
export async function prepareRamWalkGate(opts: {
  socketDir: string;
  name: string;
  sinkUri: string;
}): Promise<RamWalkGate> {
  if (!opts.sinkUri.startsWith("unix:")) throw new Error(`the gate relays to a unix: sink, not ${opts.sinkUri}`);
  const controlSocket = path.join(opts.socketDir, `${opts.name}.gate`);
  const uri = `exec:${gateWriterCommand(controlSocket, opts.sinkUri.slice("unix:".length))}`;
  let conn: net.Socket | undefined;
  let resolveFirst!: (s: GateState) => void;
  let resolveLast!: (s: string) => void;
  const first = new Promise<GateState>((r) => (resolveFirst = r));
  const outcome = new Promise<string>((r) => (resolveLast = r));
  let opened = false;
  const server = net.createServer((c) => {
    server.close(); // one writer
    conn = c;
    let buf = "";
    c.setEncoding("utf8");
    c.on("data", (d: string) => {
      buf += d;
      const lines = buf.split("\n").slice(0, -1);
      if (lines[0] === "gated" || lines[0] === "open") resolveFirst(lines[0]);
      if (lines.length > 1) resolveLast(lines[lines.length - 1]);
    });
    c.on("close", () => {
      resolveFirst("no-writer");
      resolveLast("closed");
    });
    c.on("error", logIgnored("the writer's side of the gate closed"));
    if (opened) c.end("go\n");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(controlSocket, resolve);
  });
  const open = () => {
    if (opened) return;
    opened = true;
    conn?.write("go\n");
  };
  return {
    uri,
    outcome,
    state: async (timeoutMs) => {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<GateState>((r) => (timer = setTimeout(() => r("no-writer"), timeoutMs)));
      return Promise.race([first, late]).finally(() => clearTimeout(timer));
    },
    open,
    dispose: async () => {
      open();
      server.close();
      conn?.end();
      await unlink(controlSocket).catch(logIgnored("the control socket is gone already"));
    },
  };
}

/** Where each thread of the process sleeps (/proc/<pid>/task/<tid>/wchan, trimmed; "" when unreadable). */
async function threadWaitChannels(pid: number): Promise<string[]> {
  const tids = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
  return Promise.all(
    tids.map((tid) =>
      readFile(`/proc/${pid}/task/${tid}/wchan`, "utf8").then(
        (w) => w.trim(),
        () => "",
      ),
    ),
  );
}

/** True when one of the process's threads is blocked writing into a full pipe: QEMU at the gate. */
export async function blockedInPipeWrite(pid: number): Promise<boolean> {
  // anon_pipe_write on recent kernels (6.18 here), pipe_write on older ones, pipe_wait before 5.5.
  return (await threadWaitChannels(pid)).some((w) => /^(anon_)?pipe_(write|wait)$/.test(w));
}

/**
 * Whether this dashboard can see where QEMU's threads sleep (/proc/<pid>/task/<tid>/wchan shows a
 * symbol only to a process allowed to trace QEMU): without it the gate cannot be watched.
 */
export async function canWatchThreads(pid: number): Promise<boolean> {
  return (await threadWaitChannels(pid)).some((w) => w !== "" && w !== "0");
}

/**
 * Waits until QEMU's migration thread is at the gate (polling every millisecond: the pause starts right
 * after), or `timeoutMs` passes. The walk takes ≈ 5–8 ms per GiB of resident RAM, more under load.
 */
export async function waitForQemuAtGate(
  pid: number,
  timeoutMs: number,
  now: () => number = () => performance.now(),
): Promise<boolean> {
  const deadline = now() + timeoutMs;
  for (;;) {
    if (await blockedInPipeWrite(pid)) return true;
    if (now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 1));
  }
}

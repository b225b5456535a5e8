// The vmstate sink, dashboard side: a `unix:` socket QEMU's `migrate` connects to, served by a small
// DETACHED process of its own (sink-process.ts) that writes the stream to the snapshot's vmstate file.
//
// Why a sink that cannot fail (QEMU.md §2): on QEMU 7.2 a background snapshot whose outgoing stream
// breaks (disk full, missing directory, reader gone) — or that is `migrate_cancel`led — leaves the
// guest's vCPUs blocked in the userfault handler for good. So the sink never closes the connection
// before QEMU does, turns any write error into a drain (keeps reading, discards, records the real
// cause, removes the partial file), and `switchToDiscard(reason)` does the same on purpose: it is how a
// snapshot is cancelled on 7.2. At the end the file is checked (QEVM header, QEMU's closing VM
// description); a truncated one is removed.
// Why a process of its own: the reader must outlive the dashboard. If the dashboard crashes or is
// restarted mid-snapshot, the sink process notices (its stdin closes) and goes on writing (the next
// dashboard's recovery finalizes or discards the file: recovery.ts) until the end of QEMU's stream,
// then exits. It stays in the dashboard's session and process group and
// ignores the signals a terminal or a service manager sends to the whole group (SIGINT, SIGTERM,
// SIGHUP, SIGQUIT, SIGTSTP): a Ctrl-C, a closed terminal or `systemctl stop` (KillMode=control-group
// sends SIGTERM to every process, then waits up to TimeoutStopSec) end the dashboard, not the stream.
// Only SIGKILL ends a sink early: systemd's final kill after TimeoutStopSec, KillMode=mixed, a
// container being torn down. It is deliberately NOT put in a session of its own (setsid): with the
// kernel's scheduler autogroups (on by default) a new session is a new scheduling group with the weight
// of a whole desktop session, so under CPU pressure the sink's wake-ups preempt QEMU's migration thread
// and it reads QEMU's stream in ever smaller pieces (measured on a 2-vCPU TCG host, busy 1 GiB guest:
// 63–87 MB/s and 4–6 KiB per read in a session of its own, 125–131 MB/s and 9–11 KiB per read in the
// caller's; docs/performance.md, "Overhead of Snapfleet"), and it runs a little nicer than the
// dashboard for the same reason (sink-process.ts, SINK_NICE). It records what happened in a status file
// next to the vmstate (`<vmstate>.sink.json`) for the restarted dashboard's crash recovery (jobs.ts).
// Invariants: exactly one connection is accepted; the socket lives in a private 0700 directory of this
// process and is unlinked once QEMU's stream is accepted (or the sink gives up); the file is created
// exclusively (never overwrites) with mode 0600; `finished` never rejects; a sink process is never
// killed by the dashboard once QEMU may be connected; the status file is removed once this process has
// received the result (from then on the job's own outcome is the record).
import { logIgnored } from "../best-effort";
import { processSingleton } from "../process-singleton";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { readFile, unlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { SinkCommand, SinkMessage, SinkProcessConfig, SinkStatus, VmstateSinkResult } from "./sink-process";

export { checkVmstate } from "./sink-process";
export type { SinkStatus, VmstateSinkResult } from "./sink-process";

export interface VmstateSinkOptions {
  /** Where the vmstate goes; its directory is created if missing. */
  filePath: string;
  /** Private directory for the socket; default: one 0700 temp directory per process. */
  socketDir?: string;
  /** Name of the socket file inside socketDir (e.g. the snapshot id). */
  name: string;
  /** The sink gives up (removing the file) when QEMU has not connected by then. Default 120 s. */
  connectTimeoutMs?: number;
  /** Room to leave on the file system for the VM's disk writes: below it the sink stops writing as on ENOSPC. */
  keepFreeBytes?: number;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 120_000;
/** Spawning Node and opening the file takes ~50 ms; a sink not ready after this is broken. */
const READY_TIMEOUT_MS = 30_000;
/** Kept from the sink's stderr for the error message when it dies unexpectedly. */
const STDERR_KEEP = 4096;

/** One private socket directory per process (mkdtemp creates it 0700), removed on exit. */
export function defaultSinkDir(): string {
  return processSingleton("__snapfleetSinkDir", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "snapfleet-sink-"));
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
    return dir;
  });
}

/** The sink's status file for a vmstate path. */
export function sinkStatusPathOf(filePath: string): string {
  return `${filePath}.sink.json`;
}

/** Resolved when a sink is opened, never at import: this module is also bundled by Next, where it is not run. */
function sinkEntryPath(): string {
  return path.join(path.dirname(fileURLToPath(import.meta.url)), "sink-entry.mjs");
}

export class VmstateSink {
  readonly socketPath: string;
  readonly filePath: string;
  readonly statusPath: string;
  /** The URI for QMP `migrate`: QEMU connects here (no shell involved, unlike `exec:`). */
  readonly uri: string;
  /** Resolves when QEMU has closed the stream and the file is final (or removed); never rejects. */
  readonly finished: Promise<VmstateSinkResult>;
  /** The sink process's pid. */
  readonly pid: number;

  private readonly child: ChildProcess;
  private settled = false;
  private settle!: (r: VmstateSinkResult) => void;
  private waiters: Array<(msg: SinkMessage | undefined) => void> = [];
  /** The sink created the file and listens: from then on the file and the status file are its. */
  private ready = false;
  private connected = false;
  private stderrTail = "";

  private constructor(child: ChildProcess, socketPath: string, filePath: string, statusPath: string) {
    this.child = child;
    this.pid = child.pid!;
    this.socketPath = socketPath;
    this.filePath = filePath;
    this.statusPath = statusPath;
    this.uri = `unix:${socketPath}`;
    this.finished = new Promise((resolve) => (this.settle = resolve));
  }

  /** Starts the sink process, which creates the file (exclusively) and listens. Throws if it cannot. */
  static async open(options: VmstateSinkOptions): Promise<VmstateSink> {
    const dir = options.socketDir ?? defaultSinkDir();
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(options.name)) throw new Error(`bad sink name ${options.name}`);
    const config: SinkProcessConfig = {
      socketPath: path.join(dir, `${options.name}.sock`),
      filePath: options.filePath,
      statusPath: sinkStatusPathOf(options.filePath),
      connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      keepFreeBytes: options.keepFreeBytes,
    };
    // Not detached (see the header: same session, same scheduling group as the dashboard); the sink
    // ignores the group's signals itself. A clean environment: nothing from NODE_OPTIONS (loaders,
    // flags) changes how the sink runs.
    const child = spawn(process.execPath, [sinkEntryPath(), config.statusPath, JSON.stringify(config)], {
      detached: false,
      stdio: ["pipe", "pipe", "pipe"],
      env: {} as NodeJS.ProcessEnv, // (Next's typings make NODE_ENV required; the sink needs none)
      cwd: "/",
    });
    child.unref(); // the dashboard does not wait for its sinks to exit
    const sink = new VmstateSink(child, config.socketPath, config.filePath, config.statusPath);
    const first = await sink.start();
    if (first?.type === "ready") return sink;
    if (first?.type === "open-failed") throw Object.assign(new Error(first.message), { code: first.code });
    if (first === undefined && !sink.settled) child.kill("SIGKILL"); // not ready in time; QEMU cannot be connected yet
    throw new Error(`the vmstate sink process did not start: ${sink.stderrTail.trim() || "no output"}`);
  }

  /** Wires the control channel; resolves with the sink's first message (undefined: died or timed out). */
  private start(): Promise<SinkMessage | undefined> {
    const { child } = this;
    let buffered = "";
    child.stdout!.setEncoding("utf8");
    child.stdout!.on("data", (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        try {
          this.onMessage(JSON.parse(line) as SinkMessage);
        } catch {
          // not a message: ignore
        }
      }
    });
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (chunk: string) => (this.stderrTail = (this.stderrTail + chunk).slice(-STDERR_KEEP)));
    child.stdin!.on("error", () => {}); // the sink exited: its 'close' settles everything
    child.once("error", (err) => void this.onGone(`could not start the vmstate sink process: ${err.message}`));
    // 'close' = exited AND its stdout fully read, so a result sent just before exit was seen first.
    child.once(
      "close",
      (code, signal) => void this.onGone(`the vmstate sink process exited unexpectedly (${signal ?? `code ${code}`})`),
    );
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(undefined), READY_TIMEOUT_MS);
      this.waiters.push((msg) => {
        clearTimeout(timer);
        resolve(msg);
      });
    });
  }

  private onMessage(msg: SinkMessage): void {
    if (msg.type === "result") void this.resolveWith(msg.result);
    else if (msg.type === "connected") this.connected = true;
    else {
      if (msg.type === "ready") this.ready = true;
      this.waiters.shift()?.(msg); // the others answer open() and commands, in order
    }
  }

  private async resolveWith(result: VmstateSinkResult): Promise<void> {
    if (this.settled) return;
    this.settled = true;
    for (const w of this.waiters.splice(0)) w(undefined);
    // The result is in this process's hands now: the job's outcome is the record, not the status file.
    if (this.ready) await unlink(this.statusPath).catch(logIgnored("the sink's status file may already be gone"));
    this.settle(result);
  }

  /**
   * The sink process ended without a result: it crashed or was killed. Nothing it wrote is trusted.
   * Before it was ready the file may be someone else's (EEXIST): then nothing is removed.
   */
  private async onGone(why: string): Promise<void> {
    if (this.settled) return;
    const detail = this.stderrTail.trim().split("\n").at(-1);
    if (this.ready) await unlink(this.filePath).catch(logIgnored("an untrusted vmstate may already be gone"));
    await this.resolveWith({
      connected: this.connected,
      bytesReceived: 0,
      bytesWritten: 0,
      complete: false,
      invalidReason: `${why}${detail ? `: ${detail}` : ""}; if QEMU was still streaming, its stream was cut (on QEMU 7.2 the guest may be frozen)`,
    });
  }

  private command(cmd: SinkCommand): Promise<SinkMessage | undefined> {
    if (this.settled) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.child.stdin!.write(`${JSON.stringify(cmd)}\n`);
    });
  }

  /**
   * Cancel on QEMU 7.2: let QEMU finish into the void, then nothing is kept. Resolves once the sink has
   * switched (callers need not wait: commands are handled in order).
   */
  async switchToDiscard(reason: string): Promise<void> {
    await this.command({ op: "discard", reason });
  }

  /**
   * For when QEMU will never connect (migrate was refused) or has gone: stops listening, removes the
   * socket and the file. If a stream is connected it is NOT cut — QEMU would freeze the guest — and
   * `finished` resolves when QEMU closes it.
   */
  async close(): Promise<void> {
    const ack = await this.command({ op: "close" });
    if (ack?.type === "close-ack" && !ack.connected) await this.finished;
  }
}

/** What a sink left behind for a vmstate, and whether its process still runs. */
export interface SinkInspection {
  status: SinkStatus;
  /** The sink process is still running (draining QEMU's stream or waiting for it). */
  alive: boolean;
}

/** Reads the status file a sink left next to `filePath`; undefined when there is none (or unreadable). */
export async function inspectSink(filePath: string): Promise<SinkInspection | undefined> {
  const statusPath = sinkStatusPathOf(filePath);
  let status: SinkStatus;
  try {
    status = JSON.parse(await readFile(statusPath, "utf8")) as SinkStatus;
  } catch {
    return undefined;
  }
  return { status, alive: sinkProcessAlive(status.pid, statusPath) };
}

/** The pid is a running sink for this status file (its argv names it: a reused pid does not). */
function sinkProcessAlive(pid: number, statusPath: string): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes(statusPath);
  } catch {
    return false;
  }
}

const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;

/** One sentence for the operator about what a dead dashboard's sink did with QEMU's stream. */
export function describeSinkOutcome(status: SinkStatus): string {
  const r = status.result;
  if (status.state !== "finished" || !r) {
    return `its vmstate sink process died before QEMU finished (state ${status.state}): if QEMU was streaming, the stream was cut and on QEMU 7.2 the guest may be frozen`;
  }
  if (!r.connected) return "QEMU never connected to the vmstate sink, so the guest's RAM was not touched";
  const read = status.dashboardGoneAt
    ? `after the dashboard went away its vmstate sink kept reading QEMU's stream until QEMU closed it (${mib(status.bytesAtDashboardGone ?? 0)} received before, ${mib(r.bytesReceived)} in all)`
    : `its vmstate sink read QEMU's stream until QEMU closed it (${mib(r.bytesReceived)})`;
  const file = r.complete
    ? "the vmstate was complete"
    : `the vmstate was not kept (${r.writeError?.message ?? r.invalidReason ?? r.discardReason ?? "discarded"})`;
  return `${read}, so the sink did not break the stream (which would have frozen a QEMU 7.2 guest); ${file}`;
}

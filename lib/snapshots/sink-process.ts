// The vmstate sink PROCESS: one small Node process per RAM snapshot, spawned by
// vmstate-sink.ts, that owns the `unix:` socket QEMU's `migrate` connects to and writes the stream to
// the snapshot's vmstate file. It is a separate process so that the stream outlives the dashboard: on
// QEMU 7.2 a background snapshot whose reader goes away (EPIPE) leaves the guest frozen for good
// (QEMU.md §2), and an operator restarting the dashboard mid-snapshot must not do that to a VM.
//
// Plain Node runs this file (Node 24 strips the types itself: no tsx, no build step), so it imports
// only node: built-ins and uses only erasable TypeScript syntax (no enums, no parameter properties).
//
// Behaviour (the rules of the old in-process sink, unchanged):
//   - exactly one connection is accepted; the socket file is unlinked as soon as it is, later
//     connections are dropped at once;
//   - the file is created exclusively (never overwrites) with mode 0600, its directory if missing;
//   - it leaves keepFreeBytes free on the file system: the VM's disk images may live there and take
//     the guest's writes, and a guest whose disk write meets ENOSPC is stopped by QEMU (io-error). With
//     less room than that, it stops writing as on ENOSPC (checked every SPACE_CHECK_BYTES);
//   - the connection is never closed before QEMU closes it and reading never stops for long: on any
//     write error the sink switches to discard (keeps reading, throws data away, removes the partial
//     file, records the real cause — QEMU itself would only say "Broken pipe");
//   - at the end the file must start with `QEVM` v3 and end with QEMU's VM description
//     (`0x00 0x06 <be32 len> {json}`), else it is truncated and removed.
// And, because it is a process of its own:
//   - control channel = stdin/stdout, one JSON object per line (SinkCommand in, SinkMessage out);
//   - the dashboard is gone when stdin ends (the kernel closes the pipe when the dashboard dies, however
//     it dies) or stdout breaks: mid-stream the sink goes on writing (the next dashboard's recovery
//     finalizes the job from the status file: completed when QEMU completed and the file is complete,
//     else the file is removed and the job failed); before QEMU connected it discards and gives up;
//   - a status file (SinkStatus, written atomically at every state change) says what happened, for a
//     restarted dashboard's crash recovery (jobs.ts);
//   - it exits as soon as the stream is over and the file final (fsync + check: seconds at most), and
//     when QEMU has not connected within connectTimeoutMs — or within ORPHAN_CONNECT_GRACE_MS of the
//     dashboard going away, since then no `migrate` can come any more;
//   - an unexpected exception is recorded and the sink keeps draining: dying would freeze the guest;
//   - the signals sent to the dashboard's whole process group (GROUP_SIGNALS: Ctrl-C, hangup, a service
//     manager's stop) are ignored: the sink ends with QEMU's stream, never in the middle of it;
//   - it runs SINK_NICE nicer than the dashboard: a sink that wakes at once for every few KiB QEMU
//     writes preempts QEMU's migration thread and the guest's vCPUs and pays a wake-up per 10 KiB; a
//     little lower priority lets QEMU fill the socket between reads (docs/performance.md, "Overhead of
//     Snapfleet").
import { closeSync, constants, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { mkdir, open, statfs, unlink, type FileHandle } from "node:fs/promises";
import net from "node:net";
import { getPriority, setPriority } from "node:os";
import path from "node:path";

export interface VmstateSinkResult {
  /** QEMU connected at all. */
  connected: boolean;
  bytesReceived: number;
  /** Bytes that reached the file (0 once the file was removed for a failure or discard). */
  bytesWritten: number;
  /** The file is complete and kept. False whenever any of the fields below is set. */
  complete: boolean;
  /**
   * The first write error, e.g. `{ code: "ENOSPC", message: … }`: the real cause of a failure.
   * keptFreeBytes: the sink stopped itself to leave that much room for the VM's disk writes.
   */
  writeError?: { code?: string; message: string; keptFreeBytes?: number };
  /** Why the stream was discarded on purpose: cancel, or the dashboard went away. */
  discardReason?: string;
  /** Why the received stream is not a complete vmstate (truncated, bad header, sink died). */
  invalidReason?: string;
}

/**
 * A best-effort cleanup whose failure changes nothing (the file or socket may already be gone): said on
 * stderr, which the dashboard keeps (vmstate-sink.ts stderrTail), never dropped silently. The sink
 * cannot use the dashboard's logger: it runs alone and outlives it.
 */
function ignored(why: string): (err: unknown) => void {
  return (err: unknown) =>
    void process.stderr.write(`sink: ignored (${why}): ${err instanceof Error ? err.message : String(err)}\n`);
}
/** What the dashboard passes to a sink process (argv[3], JSON; argv[2] is statusPath alone). */
export interface SinkProcessConfig {
  socketPath: string;
  filePath: string;
  statusPath: string;
  /** Exit (removing the file) when QEMU has not connected by then. */
  connectTimeoutMs: number;
  /** Room to leave on the file system for the VM's disk writes (0: write until ENOSPC). */
  keepFreeBytes?: number;
}

/** Dashboard → sink, on the sink's stdin. */
export type SinkCommand = { op: "discard"; reason: string } | { op: "close" };

/** Sink → dashboard, on the sink's stdout. */
export type SinkMessage =
  | { type: "ready"; pid: number }
  | { type: "open-failed"; code?: string; message: string }
  | { type: "connected" }
  | { type: "discarding" }
  | { type: "close-ack"; connected: boolean }
  | { type: "result"; result: VmstateSinkResult };

/** The sink's own account of what happened, next to the vmstate; read by crash recovery. */
export interface SinkStatus {
  version: 1;
  pid: number;
  filePath: string;
  /** listening: waiting for QEMU; streaming: QEMU connected; finished: stream over, sink exiting. */
  state: "listening" | "streaming" | "finished";
  startedAt: string;
  connectedAt?: string;
  /** When the dashboard's control channel closed (it died or was restarted). */
  dashboardGoneAt?: string;
  /** Bytes QEMU had sent when the dashboard went away. */
  bytesAtDashboardGone?: number;
  finishedAt?: string;
  result?: VmstateSinkResult;
  /** An unexpected exception inside the sink (it kept draining). */
  internalError?: string;
}

/**
 * Signals a terminal or a service manager sends to every process of the dashboard's group or cgroup.
 * The sink outlives the dashboard through them: its stdin closing tells it the dashboard is gone.
 */
export const GROUP_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGTSTP"] as const;

/**
 * How much nicer than the dashboard the sink runs. Measured on a 2-vCPU TCG host, busy 1 GiB guest,
 * 483 MB streams, medians of 4: +0 129 MB/s (2.1–2.7 s of sink CPU), +5 171 MB/s (1.3–1.4 s), +10
 * 180 MB/s (1.0–1.1 s); the bench's in-process reader 140 MB/s; the guest's own pace unchanged. Not
 * higher: on a host saturated by guests a sink with too little weight would slow the stream, and with
 * it the guest's writes to pages QEMU has not saved yet.
 */
export const SINK_NICE = 5;

/** After the dashboard is gone, a QEMU that has not connected yet never will (no `migrate` is coming). */
export const ORPHAN_CONNECT_GRACE_MS = 3_000;

const HEADER = Buffer.from([0x51, 0x45, 0x56, 0x4d, 0x00, 0x00, 0x00, 0x03]); // "QEVM", version 3
/** The VM description of a q35 guest is ~20–60 KB; keep enough tail to find one much bigger. */
const TAIL_KEEP = 2 * 1024 * 1024;
/** Buffer at most this much before pausing the socket (and with it QEMU, and the guest's writes). */
const HIGH_WATER = 16 * 1024 * 1024;
/** How often the free space is read while writing (and before the first write). */
const SPACE_CHECK_BYTES = 8 * 1024 * 1024;

/** Checks a received stream's head and tail; returns why it is not a complete vmstate, or undefined. */
export function checkVmstate(head: Buffer, tail: Buffer, totalBytes: number): string | undefined {
  if (totalBytes === 0) return "QEMU sent no data";
  if (head.length < HEADER.length || !head.subarray(0, HEADER.length).equals(HEADER)) {
    return "the stream does not start with a QEVM version 3 header";
  }
  // Search backwards for `0x00 0x06 <be32 len>` whose length covers exactly the rest of the stream.
  for (let p = tail.length - 5; p >= 1; p--) {
    if (tail[p] !== 0x06 || tail[p - 1] !== 0x00) continue;
    const len = tail.readUInt32BE(p + 1);
    if (len !== tail.length - (p + 5)) continue;
    try {
      const desc = JSON.parse(tail.subarray(p + 5).toString("utf8")) as { devices?: unknown };
      if (Array.isArray(desc.devices)) return undefined;
    } catch {
      // not the description: keep looking
    }
  }
  return `the stream ended after ${totalBytes} bytes without QEMU's closing VM description (truncated)`;
}

function errnoOf(err: unknown): { code?: string; message: string; keptFreeBytes?: number } {
  const e = err as NodeJS.ErrnoException & { keptFreeBytes?: number };
  return {
    code: e?.code,
    message: e?.message ?? String(err),
    ...(e?.keptFreeBytes ? { keptFreeBytes: e.keptFreeBytes } : {}),
  };
}

class SinkProcess {
  private readonly cfg: SinkProcessConfig;
  private readonly status: SinkStatus;
  private server: net.Server | undefined;
  private socket: net.Socket | undefined;
  private file: FileHandle | undefined;
  private mode: "write" | "discard" = "write";
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private writing: Promise<void> | undefined;
  private head = Buffer.alloc(0);
  private tailChunks: Buffer[] = [];
  private tailBytes = 0;
  private received = 0;
  private written = 0;
  /** `written` when the free space was last read (-Infinity: not yet). */
  private spaceCheckedAt = -Infinity;
  private connected = false;
  private dashboardGone = false;
  private finished = false;
  private connectTimer: NodeJS.Timeout | undefined;
  private writeError: VmstateSinkResult["writeError"];
  private discardReason: string | undefined;
  private commandBuffer = "";

  constructor(cfg: SinkProcessConfig) {
    this.cfg = cfg;
    this.status = {
      version: 1,
      pid: process.pid,
      filePath: cfg.filePath,
      state: "listening",
      startedAt: new Date().toISOString(),
    };
  }

  async start(): Promise<void> {
    process.on("uncaughtException", (err) => this.onInternalError(err));
    process.on("unhandledRejection", (err) => this.onInternalError(err));
    for (const signal of GROUP_SIGNALS) process.on(signal, () => {});
    try {
      setPriority(Math.min(19, getPriority() + SINK_NICE)); // relative to the dashboard's own
    } catch {
      // not allowed (a seccomp profile, say): the sink works as well, only less efficiently
    }
    process.stdout.on("error", () => this.onDashboardGone());
    process.stderr.on("error", () => {});
    process.stdin.setEncoding("utf8");
    process.stdin.on("data", (chunk: string) => this.onCommandData(chunk));
    process.stdin.on("end", () => this.onDashboardGone());
    process.stdin.on("close", () => this.onDashboardGone());
    process.stdin.on("error", () => this.onDashboardGone());
    try {
      await mkdir(path.dirname(this.cfg.filePath), { recursive: true });
      this.file = await open(this.cfg.filePath, "wx", 0o600);
    } catch (err) {
      this.send({ type: "open-failed", ...errnoOf(err) });
      process.exit(1);
    }
    try {
      await this.listen();
    } catch (err) {
      await this.file.close().catch(ignored("closing the file it could not serve"));
      await unlink(this.cfg.filePath).catch(ignored("removing the file it could not serve"));
      this.send({ type: "open-failed", ...errnoOf(err) });
      process.exit(1);
    }
    this.writeStatus();
    this.connectTimer = setTimeout(
      () => void this.closeUnconnected(`QEMU did not connect within ${this.cfg.connectTimeoutMs} ms`),
      this.cfg.connectTimeoutMs,
    );
    this.send({ type: "ready", pid: process.pid });
  }

  private send(msg: SinkMessage): void {
    if (this.dashboardGone) return;
    // stdout to a pipe is synchronous on Linux: a message sent before process.exit() is delivered.
    process.stdout.write(`${JSON.stringify(msg)}\n`);
  }

  /**
   * Atomic (write + rename), 0600, the temp file created O_EXCL|O_NOFOLLOW (a planted file or symlink is
   * never written through); a failure (disk full) must not stop the drain: recovery then knows less.
   */
  private writeStatus(): void {
    const tmp = `${this.cfg.statusPath}.tmp`;
    try {
      try {
        unlinkSync(tmp); // a leftover of an interrupted write, or something planted: removed, never followed
      } catch {
        // absent: the usual case
      }
      const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      try {
        writeSync(fd, JSON.stringify(this.status));
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.cfg.statusPath);
    } catch {
      try {
        unlinkSync(tmp);
      } catch {
        // nothing was written
      }
    }
  }

  private onCommandData(chunk: string): void {
    this.commandBuffer += chunk;
    let nl: number;
    while ((nl = this.commandBuffer.indexOf("\n")) >= 0) {
      const line = this.commandBuffer.slice(0, nl);
      this.commandBuffer = this.commandBuffer.slice(nl + 1);
      let cmd: SinkCommand;
      try {
        cmd = JSON.parse(line) as SinkCommand;
      } catch {
        continue;
      }
      if (cmd.op === "discard") {
        this.discardReason ??= cmd.reason;
        void this.enterDiscard();
        this.send({ type: "discarding" });
      } else if (cmd.op === "close") {
        this.send({ type: "close-ack", connected: this.connected });
        if (!this.connected) void this.closeUnconnected("QEMU never connected");
      }
    }
  }

  private onDashboardGone(): void {
    if (this.dashboardGone || this.finished) return;
    this.dashboardGone = true;
    this.status.dashboardGoneAt = new Date().toISOString();
    this.status.bytesAtDashboardGone = this.received;
    if (!this.connected) {
      this.discardReason ??= "the dashboard went away before QEMU connected";
      clearTimeout(this.connectTimer);
      this.connectTimer = setTimeout(
        () => void this.closeUnconnected("the dashboard went away before QEMU connected"),
        ORPHAN_CONNECT_GRACE_MS,
      );
      // Recorded once the file is gone, so a status saying "dashboard gone" before a connection means "nothing kept".
      void this.enterDiscard().then(() => this.writeStatus());
      return;
    }
    // Mid-stream: keep WRITING (docs/reliability.md). The next dashboard's recovery (recovery.ts) follows
    // the job from this status file and QEMU, and finalizes it as completed when QEMU completed and this
    // file is a complete vmstate — or removes the file and fails the job. The room kept for the VM's
    // disks (keepFreeBytes) still bounds what is written.
    this.writeStatus();
  }

  private onInternalError(err: unknown): void {
    this.status.internalError ??= errnoOf(err).message;
    this.writeStatus();
    // The data path may be in any state: stop writing, keep reading (never stall or cut QEMU).
    if (this.mode === "write") {
      this.writeError ??= { code: "EINTERNAL", message: `internal error in the vmstate sink: ${errnoOf(err).message}` };
      void this.enterDiscard();
    }
    this.socket?.resume();
  }

  private listen(): Promise<void> {
    const server = net.createServer({ allowHalfOpen: false, pauseOnConnect: false }, (socket) => this.accept(socket));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.cfg.socketPath, () => {
        server.off("error", reject);
        server.on("error", () => {});
        resolve();
      });
    });
  }

  private accept(socket: net.Socket): void {
    if (this.connected || this.finished) {
      socket.destroy(); // only QEMU's one stream is accepted
      return;
    }
    this.connected = true;
    this.socket = socket;
    clearTimeout(this.connectTimer);
    this.server?.close(); // stop accepting; the accepted stream carries on
    void unlink(this.cfg.socketPath).catch(ignored("the accepted socket's path is only a name now"));
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    // A reset (QEMU killed) ends the stream like an EOF: the tail check then reports it truncated.
    socket.on("error", () => {});
    socket.once("close", () => void this.onEnd());
    this.status.state = "streaming";
    this.status.connectedAt = new Date().toISOString();
    this.writeStatus();
    this.send({ type: "connected" });
  }

  private onData(chunk: Buffer): void {
    this.received += chunk.length;
    if (this.head.length < HEADER.length) this.head = Buffer.concat([this.head, chunk.subarray(0, HEADER.length)]);
    this.keepTail(chunk);
    if (this.mode === "discard") return;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes >= HIGH_WATER) this.socket?.pause();
    if (!this.writing) this.writing = this.pump();
  }

  private keepTail(chunk: Buffer): void {
    this.tailChunks.push(chunk);
    this.tailBytes += chunk.length;
    while (this.tailChunks.length > 1 && this.tailBytes - this.tailChunks[0].length >= TAIL_KEEP) {
      this.tailBytes -= this.tailChunks.shift()!.length;
    }
  }

  private async pump(): Promise<void> {
    while (this.pending.length > 0 && this.mode === "write" && this.file) {
      const batch = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending);
      this.pending = [];
      this.pendingBytes = 0;
      this.socket?.resume();
      try {
        await this.assertRoomFor(batch.length);
        let off = 0;
        while (off < batch.length) {
          const { bytesWritten } = await this.file.write(batch, off, batch.length - off);
          off += bytesWritten;
        }
        if (this.mode === "write") this.written += batch.length;
      } catch (err) {
        // A write cut short by a deliberate discard is not a failure of the target.
        if (this.mode === "write") {
          this.writeError = errnoOf(err);
          await this.enterDiscard();
        }
      }
    }
    this.writing = undefined;
  }

  /** Throws an ENOSPC-like error when writing `bytes` would eat into the room kept for the VM's disks. */
  private async assertRoomFor(bytes: number): Promise<void> {
    const keep = this.cfg.keepFreeBytes ?? 0;
    if (keep <= 0 || this.written - this.spaceCheckedAt < SPACE_CHECK_BYTES) return;
    this.spaceCheckedAt = this.written;
    const fs = await statfs(path.dirname(this.cfg.filePath));
    const free = fs.bavail * fs.bsize;
    if (free - bytes >= keep) return;
    const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
    throw Object.assign(
      new Error(`only ${mib(free)} left on the file system, and ${mib(keep)} of it is kept for the VM's disk writes`),
      {
        code: "ENOSPC",
        keptFreeBytes: keep,
      },
    );
  }

  /** Stops writing, drops what is buffered, removes the partial file; reading goes on (QEMU.md §2). */
  private async enterDiscard(): Promise<void> {
    if (this.mode === "discard") return;
    this.mode = "discard";
    this.pending = [];
    this.pendingBytes = 0;
    this.socket?.resume();
    const file = this.file;
    this.file = undefined;
    this.written = 0;
    await file?.close().catch(ignored("closing the discarded vmstate"));
    await unlink(this.cfg.filePath).catch(ignored("removing the discarded vmstate"));
  }

  /** QEMU will not connect (refused migrate, timeout, dashboard gone): stop listening, remove the file. */
  private async closeUnconnected(reason: string): Promise<void> {
    if (this.connected || this.finished) return;
    this.server?.close();
    await unlink(this.cfg.socketPath).catch(ignored("the socket path may already be gone"));
    this.discardReason ??= reason;
    await this.enterDiscard();
    await this.finish();
  }

  private async onEnd(): Promise<void> {
    while (this.writing) await this.writing;
    let invalidReason: string | undefined;
    if (this.mode === "write" && this.file) {
      try {
        await this.file.sync();
        await this.file.close();
        this.file = undefined;
      } catch (err) {
        this.writeError = errnoOf(err);
        await this.enterDiscard();
      }
    }
    if (this.mode === "write") {
      invalidReason = checkVmstate(this.head, Buffer.concat(this.tailChunks), this.received);
      if (invalidReason) await this.enterDiscard();
    }
    await this.finish(invalidReason);
  }

  private async finish(invalidReason?: string): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.connectTimer);
    const result: VmstateSinkResult = {
      connected: this.connected,
      bytesReceived: this.received,
      bytesWritten: this.written,
      complete: this.mode === "write",
      writeError: this.writeError,
      discardReason: this.discardReason,
      invalidReason,
    };
    this.status.state = "finished";
    this.status.finishedAt = new Date().toISOString();
    this.status.result = result;
    this.writeStatus();
    this.send({ type: "result", result });
    process.exit(0);
  }
}

/** The process's main: `node sink-entry.mjs <statusPath> <config json>` (see vmstate-sink.ts). */
export async function runSinkProcess(argv: readonly string[]): Promise<void> {
  const cfg = JSON.parse(argv[3] ?? "null") as SinkProcessConfig | null;
  if (!cfg || typeof cfg.socketPath !== "string" || typeof cfg.filePath !== "string" || cfg.statusPath !== argv[2]) {
    process.stderr.write("usage: sink-entry.mjs <statusPath> <config json>\n");
    process.exit(2);
  }
  await new SinkProcess(cfg).start();
}

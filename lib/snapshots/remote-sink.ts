// The vmstate writer of SSH hosts: QEMU's own `migrate exec:` runs it ON THE HYPERVISOR, as a POSIX sh +
// coreutils pipeline (nothing to install beyond what runs QEMU and sshd), writing the stream into the
// host's snapshotDir. Only QMP and SFTP go over the dashboard's SSH connection: the stream never does, so
// a cut connection or a dashboard restart cannot break it (QEMU.md §2: on 7.2 a broken background-snapshot
// stream freezes the guest for good).
//
// What the writer does (buildExecSinkCommand):
//  - QEMU runs `/bin/sh -c <command>` (QEMU.md §5) with the stream on stdin and, when the migration
//    ends, closes the pipe and reaps its child — with SIGTERM then SIGKILL 10 ms later if it has not
//    exited (io/channel-command.c qio_channel_command_abort). So the command only moves stdin to fd 3 and
//    starts the real writer in the background (it ignores HUP/INT/TERM/PIPE/QUIT), and exits at once;
//    the writer holds the pipe's read end and outlives anything QEMU does to that first shell.
//  - It creates the vmstate exclusively (noclobber), then copies the stream in CHUNK-byte pieces
//    (`head -c`, which never reads past its count), checking before each piece the free space of the
//    file system (`stat -f`) and a discard flag file the dashboard may create (cancel): below the room
//    kept for the VM's disks (max(64 MiB, 5 % of RAM)), on a write error, or on discard, it removes the
//    partial file and DRAINS stdin to EOF (`wc -c`), so QEMU never sees a broken pipe.
//  - It keeps a status file next to the vmstate (`<vmstate>.sink.json`, replaced atomically with mv):
//    its pid, state (streaming/finished), bytes received and written, and at the end complete or why not
//    (a fixed code: ENOSPC, EIO, EEXIST, discard) — never a free-form string, so the JSON is always valid.
//    The dashboard reads it over SFTP during the run, and a restarted dashboard's recovery reads it too.
//  - Whether the written file is a complete vmstate (QEVM header, QEMU's closing VM description) is
//    checked by the dashboard over SFTP (checkVmstate), which removes a truncated file.
// Quoting (QEMU.md §5: `exec:` runs /bin/sh -c; a path `a.mig; id > PWNED` ran `id`): every path in the
// command must match SAFE_REMOTE_PATH (absolute, letters, digits and `._@+-` between slashes, no `..`)
// and is single-quoted; numbers are integers. Anything else throws before QEMU sees a command.
import { logIgnored } from "../best-effort";
import path from "node:path";
import type { HostFiles } from "../fleet/host-files";
import { checkVmstate, type SinkStatus, type VmstateSinkResult } from "./sink-process";
import { inspectSink, sinkStatusPathOf, type SinkInspection } from "./vmstate-sink";

/** The only paths that may appear in an exec: command. */
export const SAFE_REMOTE_PATH = /^(\/[A-Za-z0-9._@+-]+)+$/;
/** How much the writer copies between two free-space checks. */
export const EXEC_SINK_CHUNK_BYTES = 8 * 1024 * 1024;
/** The VM description at the end of a vmstate is ~20–60 KB; 2 MiB finds much bigger ones (sink-process.ts). */
const TAIL_BYTES = 2 * 1024 * 1024;

export class UnsafeRemotePathError extends Error {
  constructor(p: string) {
    super(
      `refusing to put ${JSON.stringify(p)} in a shell command: only absolute paths of letters, digits and ._@+- between slashes are allowed`,
    );
    this.name = "UnsafeRemotePathError";
  }
}

/** A path for the exec: command, single-quoted, after checking it against SAFE_REMOTE_PATH. */
export function quoteRemotePath(p: string): string {
  if (!SAFE_REMOTE_PATH.test(p) || p.split("/").some((seg) => seg === "." || seg === ".."))
    throw new UnsafeRemotePathError(p);
  return `'${p}'`;
}

function int(n: number, what: string): string {
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${what} must be a non-negative integer, not ${n}`);
  return String(n);
}

export interface ExecSinkPaths {
  filePath: string;
  statusPath: string;
  discardFlagPath: string;
}

export function execSinkPaths(filePath: string): ExecSinkPaths {
  return { filePath, statusPath: sinkStatusPathOf(filePath), discardFlagPath: `${filePath}.discard` };
}

/**
 * The command for QMP `migrate` (`exec:` + this). POSIX sh + coreutils (head, stat, mv, rm, wc, sync).
 * Throws UnsafeRemotePathError for a path outside SAFE_REMOTE_PATH.
 */
export function buildExecSinkCommand(opts: { filePath: string; keepFreeBytes: number; chunkBytes?: number }): string {
  const p = execSinkPaths(opts.filePath);
  const f = quoteRemotePath(p.filePath);
  const s = quoteRemotePath(p.statusPath);
  const x = quoteRemotePath(p.discardFlagPath);
  const d = quoteRemotePath(path.posix.dirname(p.filePath));
  const keep = int(opts.keepFreeBytes, "keepFreeBytes");
  const chunk = int(opts.chunkBytes ?? EXEC_SINK_CHUNK_BYTES, "chunkBytes");
  const writer = [
    "trap '' HUP INT TERM PIPE QUIT",
    "exec 0<&3 3<&-",
    `f=${f}; s=${s}; x=${x}; d=${d}; keep=${keep}; chunk=${chunk}`,
    "read -r me rest </proc/self/stat",
    "got=0; wrote=0; mode=write; code=",
    // st STATE COMPLETE: the status file, replaced atomically; fields are numbers and fixed words only.
    `st() { printf '{"version":1,"kind":"exec-sink","pid":%s,"filePath":"%s","state":"%s","bytesReceived":%s,"bytesWritten":%s,"complete":%s,"code":"%s","keptFreeBytes":%s}\\n' "$me" "$f" "$1" "$got" "$wrote" "$2" "$code" "$keep" >"$s.tmp" && mv -f "$s.tmp" "$s"; }`,
    'stop() { mode=discard; code=$1; rm -f "$f"; wrote=0; }',
    'if ! (set -C; : >"$f") 2>/dev/null; then mode=discard; code=EEXIST; fi',
    "st streaming false",
    'while [ "$mode" = write ]; do',
    '  if [ -e "$x" ]; then stop discard; break; fi',
    "  set -- $(stat -f -c '%a %S' \"$d\" 2>/dev/null)",
    '  if [ $(( ${1:-0} * ${2:-0} - chunk )) -lt "$keep" ]; then stop ENOSPC; break; fi',
    '  if e=$(head -c "$chunk" 2>&1 >>"$f"); then',
    '    n=$(stat -c %s "$f"); n=$((n - wrote)); wrote=$((wrote + n)); got=$((got + n))',
    '    [ "$n" -lt "$chunk" ] && break',
    "  else",
    "    case \"$e\" in *'No space'*) stop ENOSPC ;; *) stop EIO ;; esac",
    "  fi",
    "  st streaming false",
    "done",
    'if [ "$mode" = write ]; then sync "$f" 2>/dev/null; st finished true; else n=$(wc -c); got=$((got + n)); st finished false; fi',
  ].join("\n");
  // The first shell: stdin to fd 3 (a background list's stdin is /dev/null), the writer in the
  // background, exit at once (QEMU SIGKILLs a child still running 10 ms after it closed the pipe).
  return `exec 3<&0 </dev/null; ( ${writer.split("\n").join("\n")}\n) >/dev/null 2>&1 &`;
}

/** The status file of an exec: writer (see the header). */
export interface ExecSinkStatus {
  version: 1;
  kind: "exec-sink";
  pid: number;
  filePath: string;
  state: "streaming" | "finished";
  bytesReceived: number;
  bytesWritten: number;
  complete: boolean;
  code: "" | "ENOSPC" | "EIO" | "EEXIST" | "discard";
  keptFreeBytes: number;
}

export function parseExecSinkStatus(raw: Buffer | string | null): ExecSinkStatus | undefined {
  if (!raw) return undefined;
  try {
    const s = JSON.parse(raw.toString()) as ExecSinkStatus;
    return s && s.kind === "exec-sink" && typeof s.pid === "number" ? s : undefined;
  } catch {
    return undefined;
  }
}

const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;

/** The writer's outcome as the local sink reports it (VmstateSinkResult), before the content check. */
export function resultOfExecStatus(st: ExecSinkStatus, discardReason?: string): VmstateSinkResult {
  const r: VmstateSinkResult = {
    connected: true,
    bytesReceived: st.bytesReceived,
    bytesWritten: st.complete ? st.bytesWritten : 0,
    complete: st.complete,
  };
  if (st.code === "ENOSPC") {
    r.writeError = {
      code: "ENOSPC",
      message: `the file system of ${path.posix.dirname(st.filePath)} had less than ${mib(st.keptFreeBytes)} left, which is kept for the VM's disk writes`,
      keptFreeBytes: st.keptFreeBytes,
    };
  } else if (st.code === "EIO") r.writeError = { code: "EIO", message: "writing the vmstate on the host failed" };
  else if (st.code === "EEXIST")
    r.writeError = { code: "EEXIST", message: `${st.filePath} already existed on the host (never overwritten)` };
  else if (st.code === "discard") r.discardReason = discardReason ?? "discarded on request";
  return r;
}

/** The same view as SinkStatus for recovery's messages (describeSinkOutcome). */
export function execStatusAsSinkStatus(st: ExecSinkStatus): SinkStatus {
  return {
    version: 1,
    pid: st.pid,
    filePath: st.filePath,
    state: st.state === "finished" ? "finished" : "streaming",
    startedAt: "",
    ...(st.state === "finished" ? { result: resultOfExecStatus(st) } : {}),
  } as SinkStatus;
}

/** The writer process still runs on the host: its /proc/<pid>/cmdline names the status file. */
export async function execSinkAlive(
  files: Pick<HostFiles, "readFile">,
  st: ExecSinkStatus,
  statusPath: string,
): Promise<boolean> {
  // null: no such process. Any other error (SFTP away for a moment) is thrown: it says nothing of the writer.
  const cmdline = await files.readFile(`/proc/${st.pid}/cmdline`);
  return cmdline !== null && cmdline.toString("utf8").includes(statusPath);
}

/**
 * Checks a finished, complete vmstate on the host over SFTP (QEVM header + QEMU's closing VM
 * description); removes it when it is not one. Returns the result to keep.
 */
export async function verifyRemoteVmstate(
  files: HostFiles,
  filePath: string,
  r: VmstateSinkResult,
): Promise<VmstateSinkResult> {
  if (!r.complete) return r;
  const size = (await files.stat(filePath))?.size ?? -1;
  let invalid: string | undefined;
  if (size !== r.bytesWritten)
    invalid = `the vmstate on the host is ${size < 0 ? "missing" : `${size} bytes`}, the writer wrote ${r.bytesWritten}`;
  else {
    const head = await files.readRange(filePath, 0, 8);
    const tailLen = Math.min(size, TAIL_BYTES);
    const tail = await files.readRange(filePath, size - tailLen, tailLen);
    invalid = checkVmstate(head, tail, size);
  }
  if (!invalid) return r;
  await files.unlink(filePath).catch(() => false);
  return { ...r, complete: false, bytesWritten: 0, invalidReason: invalid };
}

/**
 * The dashboard's handle on an exec: writer, with the interface run-snapshot.ts uses for its local
 * sink (uri, finished, switchToDiscard, close). `finished` follows the status file over SFTP; SFTP
 * errors (a cut connection) are retried — the writer does not need the dashboard.
 */
export class RemoteExecSink {
  readonly uri: string;
  readonly filePath: string;
  readonly statusPath: string;
  readonly finished: Promise<VmstateSinkResult>;
  private settle!: (r: VmstateSinkResult) => void;
  private settled = false;
  private closed = false;
  private discardReason: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly startedAt = Date.now();
  private lastAliveCheck = 0;

  private constructor(
    private readonly files: HostFiles,
    private readonly paths: ExecSinkPaths,
    command: string,
    private readonly opts: { pollMs: number; connectTimeoutMs: number },
  ) {
    this.uri = `exec:${command}`;
    this.filePath = paths.filePath;
    this.statusPath = paths.statusPath;
    this.finished = new Promise((resolve) => (this.settle = resolve));
  }

  /** Checks the paths and creates the snapshot's directory on the host; QEMU starts the writer at `migrate`. */
  static async open(opts: {
    files: HostFiles;
    filePath: string;
    keepFreeBytes: number;
    pollMs?: number;
    connectTimeoutMs?: number;
    chunkBytes?: number;
  }): Promise<RemoteExecSink> {
    const command = buildExecSinkCommand({
      filePath: opts.filePath,
      keepFreeBytes: opts.keepFreeBytes,
      chunkBytes: opts.chunkBytes,
    });
    const sink = new RemoteExecSink(opts.files, execSinkPaths(opts.filePath), command, {
      pollMs: opts.pollMs ?? 300,
      connectTimeoutMs: opts.connectTimeoutMs ?? 120_000,
    });
    sink.schedule();
    return sink;
  }

  private schedule(): void {
    if (this.settled) return;
    this.timer = setTimeout(() => void this.poll(), this.opts.pollMs);
    this.timer.unref?.();
  }

  private async poll(): Promise<void> {
    try {
      const st = parseExecSinkStatus(await this.files.readFile(this.paths.statusPath));
      if (!st) {
        if (this.closed || Date.now() - this.startedAt > this.opts.connectTimeoutMs) {
          return this.done(this.neverStarted());
        }
      } else if (st.state === "finished") {
        return await this.finishWith(st);
      } else if (Date.now() - this.lastAliveCheck > 3_000) {
        this.lastAliveCheck = Date.now();
        if (!(await execSinkAlive(this.files, st, this.paths.statusPath))) {
          // It may have written "finished" and exited since the status was read: read it once more.
          const last = parseExecSinkStatus(await this.files.readFile(this.paths.statusPath));
          if (last?.state === "finished") return await this.finishWith(last);
          await this.files.unlink(this.filePath).catch(() => false);
          return this.done({
            connected: true,
            bytesReceived: st.bytesReceived,
            bytesWritten: 0,
            complete: false,
            invalidReason: `the vmstate writer on the host (pid ${st.pid}) ended without finishing; if QEMU was still streaming, its stream was cut`,
          });
        }
      }
    } catch {
      // SFTP unavailable for a moment (the connection is re-made on the next call): the writer goes on.
    }
    this.schedule();
  }

  /** Settles with what a writer that says "finished" left, once its content is checked. */
  private async finishWith(st: ExecSinkStatus): Promise<void> {
    await this.done(await verifyRemoteVmstate(this.files, this.filePath, resultOfExecStatus(st, this.discardReason)));
  }

  /** The result when QEMU never started the writer (nothing received, nothing written). */
  private neverStarted(): VmstateSinkResult {
    return {
      connected: false,
      bytesReceived: 0,
      bytesWritten: 0,
      complete: false,
      discardReason: this.discardReason ?? "QEMU never started the writer",
    };
  }

  private async done(r: VmstateSinkResult): Promise<void> {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    // The result is in the dashboard's hands now: the job's outcome is the record.
    await this.files.unlink(this.paths.statusPath).catch(() => false);
    await this.files.unlink(this.paths.discardFlagPath).catch(() => false);
    this.settle(r);
  }

  /** Cancel: the writer removes the partial file and drains QEMU's stream to its end. */
  async switchToDiscard(reason: string): Promise<void> {
    this.discardReason ??= reason;
    await this.files
      .writeFile(this.paths.discardFlagPath, reason.slice(0, 200))
      .catch(logIgnored("the discard flag is advisory: the writer drains to EOF either way"));
  }

  /** QEMU will not start the writer (migrate refused) or is gone: settle once nothing runs. */
  async close(): Promise<void> {
    this.closed = true;
    const st = parseExecSinkStatus(await this.files.readFile(this.paths.statusPath).catch(() => null));
    if (!st) {
      await this.files.unlink(this.filePath).catch(() => false);
      await this.done(this.neverStarted());
    }
  }
}

/**
 * What the writer of a vmstate left on its host, whichever writer it was: the local sink process's status
 * file (vmstate-sink.ts inspectSink) or an exec: writer's, read over SFTP with its liveness from the
 * host's /proc. Undefined when there is none; throws when the host cannot be read now (the caller retries
 * later rather than taking an unreadable status for a missing one).
 */
export async function inspectSinkOn(
  access: { files: HostFiles | null; vmstateWriter: "local-sink" | "remote-exec" | null },
  vmstate: string,
): Promise<SinkInspection | undefined> {
  if (!access.files || !access.vmstateWriter) return undefined;
  if (access.vmstateWriter === "local-sink") return inspectSink(vmstate);
  const statusPath = sinkStatusPathOf(vmstate);
  const st = parseExecSinkStatus(await access.files.readFile(statusPath));
  if (!st) return undefined;
  const alive = st.state !== "finished" && (await execSinkAlive(access.files, st, statusPath));
  if (st.state === "finished" && st.complete) {
    // The writer says complete; the content decides (a truncated stream is removed, like the local sink does).
    const checked = await verifyRemoteVmstate(access.files, vmstate, resultOfExecStatus(st));
    return { status: { ...execStatusAsSinkStatus(st), result: checked }, alive };
  }
  return { status: execStatusAsSinkStatus(st), alive };
}

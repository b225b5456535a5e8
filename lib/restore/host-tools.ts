// Host-side tools of restores, local hosts only: qemu-img on a VM's images, the vmstate path QEMU is
// told to read, starting QEMU detached from the dashboard, waiting for a process to end.
// Invariants: qemu-img never writes an image some process holds open (checked with open-files.ts
// first; qemu-img's own lock is a second guard); the vmstate path handed to QEMU's `exec:` (which runs
// /bin/sh -c: QEMU.md §5) is resolved, confined to the host's snapshot directory and limited to
// ^[A-Za-z0-9._/-]+$, then single-quoted — anything else is refused, never escaped.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { access, constants, realpath } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { configValue, inheritedEnvironment } from "../config";
import { describeHolders, localFileHolders } from "../fleet/open-files";
import { processAlive } from "../fleet/qemu-process";

const execFileAsync = promisify(execFile);

export class RestoreStepError extends Error {
  constructor(
    readonly errorClass: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "RestoreStepError";
  }
}

export async function qemuImg(args: string[], timeoutMs = 10 * 60_000): Promise<string> {
  try {
    const { stdout } = await execFileAsync(configValue("SNAPFLEET_QEMU_IMG"), args, {
      maxBuffer: 16 << 20,
      timeout: timeoutMs,
    });
    return stdout;
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new RestoreStepError("qemu-img", `qemu-img ${args.join(" ")} failed: ${(e.stderr || e.message).trim()}`, {
      cause: err,
    });
  }
}

/** The internal snapshot names of an image (read with force-share). */
export async function internalSnapshotNames(image: string): Promise<string[]> {
  const info = JSON.parse(await qemuImg(["info", "-U", "--output=json", image], 60_000)) as {
    snapshots?: Array<{ name: string }>;
  };
  return (info.snapshots ?? []).map((s) => s.name);
}

/** Throws when any process holds one of `paths` open (qemu-img must not write an image in use). */
export async function assertNotHeld(paths: string[]): Promise<void> {
  const held = await localFileHolders(paths);
  for (const [p, holders] of held) {
    throw new RestoreStepError(
      "image-in-use",
      `${p} is still open by ${describeHolders(holders)}: its disk state cannot be changed while a process holds it`,
    );
  }
}

/** Waits until no process holds any of `paths` (QEMU closes its images as it exits), bounded. */
export async function waitNotHeld(paths: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const held = await localFileHolders(paths);
    if (held.size === 0) return;
    if (Date.now() > deadline) await assertNotHeld(paths);
    await sleep(200);
  }
}

const SAFE_PATH = /^[A-Za-z0-9._/-]+$/;

/**
 * The `exec:` URI that makes QEMU read a vmstate file, or a refusal. The file must exist, lie (after
 * resolving symlinks) inside `snapshotRoot`, and its path use only [A-Za-z0-9._/-].
 */
export async function vmstateExecUri(file: string, snapshotRoot: string): Promise<string> {
  let real: string;
  let root: string;
  try {
    real = await realpath(file);
    root = await realpath(snapshotRoot);
    await access(real, constants.R_OK);
  } catch (err) {
    throw new RestoreStepError(
      "vmstate-missing",
      `the vmstate ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      { cause: err },
    );
  }
  return confinedExecUri(real, root);
}

/**
 * The `exec:` URI for a vmstate whose path and snapshot root are already resolved (symlinks followed,
 * here or on the host), or a refusal: it must lie inside `root` and use only [A-Za-z0-9._/-].
 */
export function confinedExecUri(real: string, root: string): string {
  if (!real.startsWith(root.endsWith("/") ? root : `${root}/`)) {
    throw new RestoreStepError(
      "vmstate-path",
      `the vmstate ${real} is outside the host's snapshot directory ${root}: refused`,
    );
  }
  if (!SAFE_PATH.test(real)) {
    throw new RestoreStepError(
      "vmstate-path",
      `the vmstate path ${JSON.stringify(real)} has characters other than letters, digits and ._/-: refused (QEMU's exec: runs a shell)`,
    );
  }
  return `exec:cat '${real}'`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Waits for a process to end; false on timeout. */
export async function waitForExit(pid: number, startTicks: number | null, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!(await processAlive(pid, startTicks))) return true;
    await sleep(100);
  }
  return !(await processAlive(pid, startTicks));
}

export interface StartedQemu {
  pid: number;
  log: string;
  exited: Promise<number | null>;
}

/**
 * Starts QEMU as its own session (setsid): it outlives the dashboard, as the VM did before. stdout and
 * stderr are appended to `log` (the file the VM's QEMU wrote to before, when it was a regular file).
 * A minimal environment: the dashboard's own (database URL, secrets) is not handed to the guest's QEMU.
 */
export function startDetachedQemu(opts: {
  exe: string;
  argv: string[];
  cwd: string;
  log: string;
  stdoutLog?: string | null;
  detached: boolean;
  wrapper?: string[];
}): StartedQemu {
  const err = openSync(opts.log, "a");
  const out = opts.stdoutLog && opts.stdoutLog !== opts.log ? openSync(opts.stdoutLog, "a") : err;
  const env = inheritedEnvironment(["PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "XDG_RUNTIME_DIR", "USER", "LOGNAME"]);
  const [cmd, ...args] = opts.wrapper
    ? [...opts.wrapper, opts.exe, ...opts.argv.slice(1)]
    : [opts.exe, ...opts.argv.slice(1)];
  const child: ChildProcess = spawn(cmd!, args, {
    cwd: opts.cwd,
    stdio: ["ignore", out, err],
    detached: opts.detached,
    env,
    argv0: opts.wrapper ? undefined : opts.argv[0],
  });
  closeSync(err);
  if (out !== err) closeSync(out);
  const exited = new Promise<number | null>((resolve) => {
    child.once("error", () => resolve(null));
    child.once("exit", (code) => resolve(code));
  });
  if (opts.detached) child.unref();
  if (!child.pid) throw new RestoreStepError("qemu-start", `QEMU could not be started (${opts.exe})`);
  return { pid: child.pid, log: opts.log, exited };
}

/** QEMU's own error lines ("qemu-system-x86_64: …") at the end of its log, for failure messages. */
export function qemuErrorLines(logText: string): string {
  const lines = logText.split("\n").filter((l) => l.trim());
  const errors = lines.filter((l) => /qemu[-\w]*:|error|failed|Unknown|invalid/i.test(l));
  return (errors.length ? errors : lines).slice(-6).join("\n").trim();
}

export function dirOf(p: string): string {
  return path.dirname(p);
}

// What a dashboard that died may have left on the embedded PostgreSQL's data directory and port, and
// clearing it before a new start: a postmaster still running (orphaned when its dashboard was
// SIGKILLed: it does not die with its parent), a stale postmaster.pid, a port held by another program.
// Invariants: a signal only ever goes to a process that is a postgres of *this* data directory (its
// name is postgres and its -D argument or working directory is the cluster directory), never to one a
// live dashboard still owns; postmaster.pid is removed only once its process is gone.
// Linux only (/proc). postmaster.pid's layout: PostgreSQL's src/include/utils/pidfile.h.
import { readFileSync, readdirSync, readlinkSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";

/** Errors of the embedded PostgreSQL's start; the message says what is in the way and how to fix it. */
export class EmbeddedPostgresError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "EmbeddedPostgresError";
  }
}

export interface LeftoverTimeouts {
  /** How long a fast shutdown (SIGINT), or a shutdown already under way, may take. */
  shutdownMs: number;
  /** How long each last resort (SIGQUIT, then SIGKILL) may take. */
  killMs: number;
}

export const DEFAULT_LEFTOVER_TIMEOUTS: LeftoverTimeouts = { shutdownMs: 60_000, killMs: 10_000 };

interface PidFile {
  pid: number;
  dataDir: string;
  port: number | undefined;
  /** "starting" | "stopping" | "ready" | "standby" (line 8), absent while the postmaster writes it. */
  status: string | undefined;
}

interface ProcInfo {
  pid: number;
  comm: string;
  argv: string[];
  ppid: number;
  /** Clock ticks since boot (/proc/<pid>/stat field 22): with the pid, names one process over time. */
  startTime: string;
  zombie: boolean;
  cwd: string | undefined;
}

function readPidFile(clusterDir: string): PidFile | undefined {
  let text: string;
  try {
    text = readFileSync(path.join(clusterDir, "postmaster.pid"), "utf8");
  } catch {
    return undefined;
  }
  const lines = text.split("\n");
  const pid = Number(lines[0]);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  const port = Number(lines[3]);
  return {
    pid,
    dataDir: lines[1] ?? "",
    port: Number.isInteger(port) ? port : undefined,
    status: lines[7]?.trim() || undefined,
  };
}

function procInfo(pid: number): ProcInfo | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // comm may hold spaces and parentheses: the fields after it start after the last ")".
    const close = stat.lastIndexOf(")");
    const comm = stat.slice(stat.indexOf("(") + 1, close);
    const fields = stat.slice(close + 2).split(" ");
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8")
      .split("\0")
      .filter((a, i, all) => a !== "" || i < all.length - 1);
    let cwd: string | undefined;
    try {
      cwd = readlinkSync(`/proc/${pid}/cwd`);
    } catch {
      cwd = undefined; // another user's process, unless we are root
    }
    return { pid, comm, argv, ppid: Number(fields[1]), startTime: fields[19], zombie: fields[0] === "Z", cwd };
  } catch {
    return undefined;
  }
}

function realpathOr(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

function dataDirArg(argv: string[]): string | undefined {
  const i = argv.indexOf("-D");
  if (i >= 0 && argv[i + 1]) return argv[i + 1];
  return argv.find((a) => a.startsWith("--pgdata="))?.slice("--pgdata=".length);
}

function isPostgres(p: ProcInfo): boolean {
  return p.comm === "postgres" || path.basename(p.argv[0] ?? "") === "postgres";
}

/** A postgres process of the cluster at `clusterDir` (the postmaster by -D, its children by cwd). */
function isPostgresOf(p: ProcInfo, clusterDir: string): boolean {
  if (!isPostgres(p)) return false;
  const want = realpathOr(clusterDir);
  const d = dataDirArg(p.argv); // the postmaster's; its children rewrite their command line
  const byArg = d !== undefined && path.isAbsolute(d) && realpathOr(d) === want;
  const byCwd = p.cwd !== undefined && realpathOr(p.cwd) === want; // every postgres process chdirs to the data dir
  return byArg || byCwd;
}

function sameProcess(a: ProcInfo): boolean {
  const now = procInfo(a.pid);
  return now !== undefined && !now.zombie && now.startTime === a.startTime;
}

// ---- who owns the cluster --------------------------------------------------------------------------

/** The process that started the cluster, recorded beside it: {pid, startTime}. */
function ownerFile(clusterDir: string): string {
  return `${clusterDir}.owner.json`;
}

export function recordOwner(clusterDir: string): void {
  const self = procInfo(process.pid);
  try {
    writeFileSync(ownerFile(clusterDir), JSON.stringify({ pid: process.pid, startTime: self?.startTime }) + "\n");
  } catch {
    // Only a refinement of the owner check below; never a reason not to run.
  }
}

export function forgetOwner(clusterDir: string): void {
  try {
    const owner = JSON.parse(readFileSync(ownerFile(clusterDir), "utf8")) as { pid?: number };
    if (owner.pid === process.pid) rmSync(ownerFile(clusterDir), { force: true });
  } catch {
    // nothing recorded
  }
}

/**
 * The live process that started this postmaster and still runs (a dashboard using it), if any. The
 * embedded postmaster is a child of its dashboard; once that dies it is re-parented to init or a
 * subreaper, which the owner record (pid + start time) tells apart from the dashboard. Without a record
 * (a cluster started by an older Snapfleet), a Node.js parent other than pid 1 counts as an owner.
 */
function liveOwner(postmaster: ProcInfo, clusterDir: string): ProcInfo | undefined {
  if (postmaster.ppid <= 1) return undefined;
  const parent = procInfo(postmaster.ppid);
  if (!parent || parent.zombie) return undefined;
  let owner: { pid?: number; startTime?: string } | undefined;
  try {
    owner = JSON.parse(readFileSync(ownerFile(clusterDir), "utf8"));
  } catch {
    owner = undefined;
  }
  if (owner) return owner.pid === parent.pid && owner.startTime === parent.startTime ? parent : undefined;
  return programName(parent) === "node" ? parent : undefined;
}

// ---- clearing what a dead dashboard left -------------------------------------------------------------

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function gone(p: ProcInfo, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (sameProcess(p)) {
    if (Date.now() >= deadline) return false;
    await sleep(50);
  }
  return true;
}

function signal(p: ProcInfo, sig: NodeJS.Signals, clusterDir: string): void {
  // Checked again right before each signal: the pid must still name the same postgres of this cluster.
  const now = procInfo(p.pid);
  if (!now || now.zombie || now.startTime !== p.startTime || !isPostgresOf(now, clusterDir)) return;
  try {
    process.kill(p.pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return;
    throw new EmbeddedPostgresError(
      `PostgreSQL (pid ${p.pid}) is still running on ${clusterDir} and this process may not stop it (${(err as Error).message}): stop it, then start Snapfleet again`,
      { cause: err },
    );
  }
}

/** Postgres processes of this cluster other than the postmaster (backends outliving a killed postmaster). */
function clusterChildren(clusterDir: string): ProcInfo[] {
  const found: ProcInfo[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const p = procInfo(Number(entry));
    if (p && !p.zombie && p.pid !== process.pid && isPostgresOf(p, clusterDir)) found.push(p);
  }
  return found;
}

export interface ClearLeftoverOptions {
  clusterDir: string;
  log: (line: string) => void;
  timeouts?: Partial<LeftoverTimeouts>;
}

/**
 * Makes `clusterDir` startable again after its dashboard died: stops an orphaned postmaster of this
 * cluster (fast shutdown, then SIGQUIT, then SIGKILL, each bounded), waits for one already shutting
 * down, and removes a postmaster.pid whose process is gone. Refuses (throws) when a live dashboard
 * still owns the running cluster, or when the postmaster cannot be stopped.
 */
export async function clearLeftoverPostgres(options: ClearLeftoverOptions): Promise<void> {
  const { clusterDir, log } = options;
  const t = { ...DEFAULT_LEFTOVER_TIMEOUTS, ...options.timeouts };
  const pidFile = readPidFile(clusterDir);
  if (!pidFile) return;
  const p = procInfo(pidFile.pid);

  if (!p || p.zombie) {
    log(`removing stale ${path.join(clusterDir, "postmaster.pid")}: its PostgreSQL (pid ${pidFile.pid}) is gone`);
    await waitForChildren(clusterDir, t, log);
    removePidFile(clusterDir, pidFile.pid);
    return;
  }
  if (isPostgres(p) && p.cwd === undefined && dataDirArg(p.argv) === undefined) {
    return; // a postgres whose data directory this process cannot see: PostgreSQL itself decides
  }
  if (!isPostgresOf(p, clusterDir)) {
    // The pid was reused: PostgreSQL would take the file for a live postmaster's and refuse to start.
    const now = isPostgres(p) ? "a PostgreSQL of another data directory" : `${describeProcess(p)}, not PostgreSQL`;
    log(`removing stale ${path.join(clusterDir, "postmaster.pid")}: pid ${pidFile.pid} is now ${now}`);
    await waitForChildren(clusterDir, t, log);
    removePidFile(clusterDir, pidFile.pid);
    return;
  }

  const owner = liveOwner(p, clusterDir);
  const inUse = () =>
    new EmbeddedPostgresError(
      `the embedded PostgreSQL of ${clusterDir} (pid ${p.pid}) is in use by ${describeProcess(owner!)}, which is still running: stop that Snapfleet first, or give this one its own SNAPFLEET_DATA_DIR and SNAPFLEET_PG_PORT`,
    );
  if (pidFile.status === "stopping") {
    // Going away already (its dashboard's shutdown, or someone's): waited for, not signalled.
    log(
      `PostgreSQL (pid ${p.pid}) of ${clusterDir} is still shutting down; waiting up to ${Math.round(t.shutdownMs / 1000)} s`,
    );
  } else {
    if (owner) throw inUse();
    log(
      `PostgreSQL (pid ${p.pid}) of ${clusterDir} was left running by a Snapfleet that is gone; stopping it (fast shutdown)`,
    );
    signal(p, "SIGINT", clusterDir);
  }
  if (!(await gone(p, t.shutdownMs))) {
    if (owner && sameProcess(owner)) throw inUse(); // its dashboard still runs: its own shutdown's business
    log(
      `PostgreSQL (pid ${p.pid}) did not stop within ${Math.round(t.shutdownMs / 1000)} s; sending SIGQUIT (immediate shutdown)`,
    );
    signal(p, "SIGQUIT", clusterDir);
    if (!(await gone(p, t.killMs))) {
      log(`PostgreSQL (pid ${p.pid}) ignored SIGQUIT for ${Math.round(t.killMs / 1000)} s; sending SIGKILL`);
      signal(p, "SIGKILL", clusterDir);
      if (!(await gone(p, t.killMs))) {
        throw new EmbeddedPostgresError(
          `PostgreSQL (pid ${p.pid}) of ${clusterDir} does not stop, even on SIGKILL: stop it, then start Snapfleet again`,
        );
      }
    }
  }
  log(`the previous PostgreSQL (pid ${p.pid}) of ${clusterDir} has stopped`);
  await waitForChildren(clusterDir, t, log);
  removePidFile(clusterDir, pidFile.pid);
}

/** Backends of a postmaster that was killed exit on their own soon; PostgreSQL will not start while any remains. */
async function waitForChildren(clusterDir: string, t: LeftoverTimeouts, log: (line: string) => void): Promise<void> {
  const left = clusterChildren(clusterDir);
  if (!left.length) return;
  log(
    `waiting for ${left.length} leftover PostgreSQL process(es) of ${clusterDir} to exit: ${left.map((c) => c.pid).join(", ")}`,
  );
  const deadline = Date.now() + t.killMs;
  for (const c of left) if (!(await gone(c, Math.max(0, deadline - Date.now())))) signal(c, "SIGKILL", clusterDir);
  for (const c of left) {
    if (!(await gone(c, t.killMs))) {
      throw new EmbeddedPostgresError(
        `PostgreSQL process ${c.pid} of ${clusterDir} does not exit, even on SIGKILL: stop it, then start Snapfleet again`,
      );
    }
  }
}

/** Removes postmaster.pid if it still names `pid` (a new postmaster may have written its own since). */
function removePidFile(clusterDir: string, pid: number): void {
  if (readPidFile(clusterDir)?.pid === pid) rmSync(path.join(clusterDir, "postmaster.pid"), { force: true });
}

// ---- the port ------------------------------------------------------------------------------------

/** The program's file name (argv[0]): Node.js 24 names its main thread "MainThread", so comm says little. */
function programName(p: ProcInfo): string {
  return path.basename(p.argv[0] ?? "") || p.comm;
}

function describeProcess(p: ProcInfo): string {
  if (isPostgres(p)) {
    const d = dataDirArg(p.argv) ?? p.cwd;
    return d ? `PostgreSQL of ${d} (pid ${p.pid})` : `PostgreSQL (pid ${p.pid})`;
  }
  const cmd = p.argv.join(" ").trim();
  const shown = cmd.length > 120 ? `${cmd.slice(0, 117)}…` : cmd;
  return shown ? `${programName(p)} (pid ${p.pid}: ${shown})` : `${programName(p)} (pid ${p.pid})`;
}

/** The processes listening on TCP `port` in this network namespace, from /proc/net/tcp{,6} and /proc/<pid>/fd. */
export function listenersOf(port: number): string[] {
  const inodes = new Set<string>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      // sl local_address rem_address st … uid timeout inode; st 0A = LISTEN
      if (f.length > 9 && f[1].endsWith(`:${hexPort}`) && f[3] === "0A") inodes.add(f[9]);
    }
  }
  if (!inodes.size) return [];
  const holders: string[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue; // gone, or another user's
    }
    const holds = fds.some((fd) => {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${entry}/fd/${fd}`));
        return m !== null && inodes.has(m[1]);
      } catch {
        return false;
      }
    });
    const p = holds ? procInfo(Number(entry)) : undefined;
    if (p) holders.push(describeProcess(p));
  }
  return holders;
}

/** Throws an error naming the holder when PostgreSQL could not listen on 127.0.0.1:`port`. */
export async function assertPortFree(port: number): Promise<void> {
  const err = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    const probe = net.createServer();
    probe.once("error", (e) => resolve(e as NodeJS.ErrnoException));
    probe.listen({ port, host: "127.0.0.1", exclusive: true }, () => probe.close(() => resolve(undefined)));
  });
  if (!err) return;
  if (err.code === "EADDRINUSE") {
    const holders = listenersOf(port);
    const who = holders.length ? holders.join(" and ") : "another program";
    throw new EmbeddedPostgresError(
      `port ${port} for the embedded PostgreSQL is already in use by ${who}: stop it, or set SNAPFLEET_PG_PORT to a free port`,
      { cause: err },
    );
  }
  throw new EmbeddedPostgresError(
    `the embedded PostgreSQL cannot listen on 127.0.0.1:${port} (${err.message}): set SNAPFLEET_PG_PORT to another port`,
    {
      cause: err,
    },
  );
}

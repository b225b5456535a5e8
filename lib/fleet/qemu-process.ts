// QEMU processes on the dashboard's own machine, found from their QMP sockets: the process listening
// on a unix socket (/proc/net/unix → socket inode → /proc/<pid>/fd), and what /proc says about it.
// Used by discovery (launch facts), the snapshot engine (host-memory.ts) and restores.
// Invariants: read-only; a process that vanishes mid-scan is skipped; one /proc scan serves many
// sockets (listenerPids), so discovery of a host costs one scan, not one per VM.
import { logIgnored } from "../best-effort";
import { readFile, readdir, readlink } from "node:fs/promises";

/** Listening unix sockets by path → their inodes (flag __SO_ACCEPTCON = 0x10000). */
async function listeningInodes(paths: Set<string>): Promise<Map<string, string>> {
  const table = await readFile("/proc/net/unix", "utf8").catch(() => "");
  // Num RefCount Protocol Flags Type St Inode Path
  const byInode = new Map<string, string>();
  for (const line of table.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const p = f.slice(7).join(" ");
    if (paths.has(p) && (parseInt(f[3]!, 16) & 0x10000) !== 0) byInode.set(f[6]!, p);
  }
  return byInode;
}

/** For each socket path some process listens on: that process's pid (one /proc scan for all). */
export async function listenerPids(socketPaths: string[]): Promise<Map<string, number>> {
  const found = new Map<string, number>();
  const byInode = await listeningInodes(new Set(socketPaths));
  if (!byInode.size) return found;
  for (const entry of await readdir("/proc").catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    const fds = await readdir(`/proc/${entry}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const link = await readlink(`/proc/${entry}/fd/${fd}`).catch(() => "");
      const m = /^socket:\[(\d+)\]$/.exec(link);
      const p = m ? byInode.get(m[1]!) : undefined;
      if (p && !found.has(p)) found.set(p, Number(entry));
    }
    if (found.size === byInode.size) break;
  }
  return found;
}

/** The pid of the process listening on a unix socket (QEMU's QMP socket), via /proc/net/unix. */
export async function findListenerPid(socketPath: string): Promise<number | undefined> {
  return (await listenerPids([socketPath])).get(socketPath);
}

export interface ProcessFacts {
  pid: number;
  argv: string[];
  /** /proc/<pid>/exe; " (deleted)" stripped (an upgraded binary: the path now holds the new one). */
  exe: string | null;
  exeDeleted: boolean;
  cwd: string | null;
  uid: number | null;
  /** Regular files the process's stdout/stderr go to (kept when a restore starts it again). */
  stdout: string | null;
  stderr: string | null;
  /** The lines of /proc/<pid>/cgroup. */
  cgroup: string[];
  /** Kernel start time (clock ticks since boot): tells a pid reused by another process apart. */
  startTicks: number | null;
}

async function regularFileTarget(pid: number, fd: number): Promise<string | null> {
  const t = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => "");
  return t.startsWith("/") && !t.startsWith("/dev/") && !t.endsWith(" (deleted)") ? t : null;
}

/** What /proc says about a process; undefined when it is gone or not readable. */
export async function readProcessFacts(pid: number): Promise<ProcessFacts | undefined> {
  const raw = await readFile(`/proc/${pid}/cmdline`).catch(
    logIgnored("the process ended or is not readable: no command line"),
  );
  if (!raw || raw.length === 0) return undefined;
  const argv = raw.toString("utf8").replace(/\0$/, "").split("\0");
  const exeRaw = await readlink(`/proc/${pid}/exe`).catch(() => null);
  const exeDeleted = exeRaw?.endsWith(" (deleted)") ?? false;
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  const uid = /^Uid:\s+(\d+)/m.exec(status)?.[1];
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  // Field 22 (starttime), counted after the ")" that ends the command name.
  const afterComm = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const startTicks = afterComm.length > 19 ? Number(afterComm[19]) : NaN;
  return {
    pid,
    argv,
    exe: exeRaw ? exeRaw.replace(/ \(deleted\)$/, "") : null,
    exeDeleted,
    cwd: await readlink(`/proc/${pid}/cwd`).catch(() => null),
    uid: uid === undefined ? null : Number(uid),
    stdout: await regularFileTarget(pid, 1),
    stderr: await regularFileTarget(pid, 2),
    cgroup: (await readFile(`/proc/${pid}/cgroup`, "utf8").catch(() => "")).split("\n").filter(Boolean),
    startTicks: Number.isFinite(startTicks) ? startTicks : null,
  };
}

/** True while `pid` runs (and, when given, is still the process that started at `startTicks`). */
export async function processAlive(pid: number, startTicks?: number | null): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  if (!stat) return false;
  const afterComm = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  if (afterComm[0] === "Z") return false; // a zombie has exited; only its parent's wait is missing
  if (startTicks === undefined || startTicks === null) return true;
  return Number(afterComm[19]) === startTicks;
}

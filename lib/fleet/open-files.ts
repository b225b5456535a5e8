// Which processes of the dashboard's own machine hold a file open, read from /proc/<pid>/fd. The proof
// Snapfleet asks for before it removes or rewrites any file on a local host: a QEMU that opened a disk
// image, a vmstate being written by a sink, a qemu-nbd export — anything with an open descriptor counts.
// Invariants: read-only; paths are compared after realpath (a symlinked snapshot directory still
// matches); a /proc entry that vanishes mid-scan is skipped (its process is gone, so it holds nothing).
import { readFile, readdir, readlink, realpath } from "node:fs/promises";

export interface FileHolder {
  pid: number;
  /** The holder's command (argv[0] base name), for messages. */
  command: string;
}

async function canonical(p: string): Promise<string> {
  return realpath(p).catch(() => p);
}

async function commandOf(pid: number): Promise<string> {
  const raw = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
  const argv0 = raw.split("\0")[0] ?? "";
  return argv0.split("/").pop() || `pid ${pid}`;
}

/** For each path that some process holds open: who. Paths nobody holds are absent from the map. */
export async function localFileHolders(paths: string[]): Promise<Map<string, FileHolder[]>> {
  const wanted = new Map<string, string>(); // canonical → as given
  for (const p of paths) wanted.set(await canonical(p), p);
  const found = new Map<string, FileHolder[]>();
  if (!wanted.size) return found;
  for (const entry of await readdir("/proc").catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue; // the scan's own descriptors (e.g. a stat in flight) are not holders
    const fds = await readdir(`/proc/${entry}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const target = await readlink(`/proc/${entry}/fd/${fd}`).catch(() => "");
      const given = wanted.get(target);
      if (given === undefined) continue;
      const holders = found.get(given) ?? [];
      if (!holders.some((h) => h.pid === pid)) holders.push({ pid, command: await commandOf(pid) });
      found.set(given, holders);
    }
  }
  return found;
}

export function describeHolders(holders: FileHolder[]): string {
  return holders.map((h) => `${h.command} (pid ${h.pid})`).join(", ");
}

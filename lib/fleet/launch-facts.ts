// Launch facts: how a VM's QEMU runs — its command line, pid, binary, working directory, machine type,
// QEMU version, memory backend ids, and whether a manager owns it (libvirt, a systemd unit) or it is a
// plain process. Read at discovery (discovery.ts) and before a restore (lib/restore): local hosts from
// /proc (the QMP socket's listener → /proc/<pid>/{cmdline,exe,cwd,cgroup,fd/1,fd/2}), SSH hosts with
// one remote shell command doing the same; TLS endpoints give none (no access to the host's /proc).
// Invariants: never throws (missing facts are null with a note); never stores the environment (it may
// hold secrets).
import { readFile } from "node:fs/promises";
import type { Host } from "../db/generated/client";
import { logger } from "../logger";
import type { QmpClient } from "../qmp";
import type { LaunchFacts } from "./launch-json";
import { detectManager, guestAgentChardev, vmgenidDevices, type ManagerFacts } from "./qemu-argv";
import { listenerPids, readProcessFacts, type ProcessFacts } from "./qemu-process";
import { getSshConnection, sshTargetOfHost } from "./ssh";

const log = logger.child({ component: "launch-facts" });

/** What QMP tells: machine type and memory backend ids. */
async function qmpFacts(
  client: QmpClient,
): Promise<{ machine: string | null; memoryBackends: string[]; qemuVersion: string }> {
  const v = client.greeting.version.qemu;
  const [type, memdevs] = await Promise.all([
    client.qomGet("/machine", "type").catch(() => null), // no machine type: the facts say unknown
    client.queryMemdev().catch(() => []), // query-memdev missing (old QEMU): no backends to name
  ]);
  return {
    machine: typeof type === "string" ? type.replace(/-machine$/, "") : null,
    memoryBackends: memdevs.flatMap((m) => (m.id ? [m.id] : [])),
    qemuVersion: `${v.major}.${v.minor}.${v.micro}`,
  };
}

function fromProcess(
  p: ProcessFacts | undefined,
  own: string[],
  q: Awaited<ReturnType<typeof qmpFacts>>,
  source: LaunchFacts["source"],
  note: string | null,
): LaunchFacts {
  const manager: ManagerFacts = p
    ? detectManager(p.argv, p.cgroup, own)
    : { kind: "plain", reason: "unknown: the process could not be read" };
  return {
    readAt: new Date().toISOString(),
    source,
    note: p ? note : (note ?? "the QEMU process behind the monitor socket was not found"),
    pid: p?.pid ?? null,
    startTicks: p?.startTicks ?? null,
    argv: p?.argv ?? null,
    exe: p?.exe ?? null,
    exeDeleted: p?.exeDeleted ?? false,
    cwd: p?.cwd ?? null,
    uid: p?.uid ?? null,
    stdout: p?.stdout ?? null,
    stderr: p?.stderr ?? null,
    machine: q.machine,
    qemuVersion: q.qemuVersion,
    memoryBackends: q.memoryBackends,
    manager,
    vmgenid: p ? vmgenidDevices(p.argv).length > 0 : false,
    guestAgent: p ? guestAgentChardev(p.argv) !== undefined : false,
  };
}

let ownCgroup: Promise<string[]> | undefined;
function readOwnCgroup(): Promise<string[]> {
  ownCgroup ??= readFile("/proc/self/cgroup", "utf8")
    .then((s) => s.split("\n").filter(Boolean))
    .catch(() => []);
  return ownCgroup;
}

/**
 * The pids behind many local monitor sockets in one /proc scan (discovery of a host); pass the result
 * to readLaunchFacts as `pid`.
 */
export async function localQemuPids(endpoints: string[]): Promise<Map<string, number>> {
  return listenerPids(endpoints).catch(() => new Map<string, number>());
}

/** Launch facts of the QEMU behind `endpoint` on `host`. Never throws. */
export async function readLaunchFacts(
  host: Host,
  endpoint: string,
  client: QmpClient,
  known?: { pid?: number },
): Promise<LaunchFacts> {
  const q = await qmpFacts(client).catch(() => ({ machine: null, memoryBackends: [], qemuVersion: "unknown" }));
  try {
    if (host.kind === "local") {
      const pid = known?.pid ?? (await listenerPids([endpoint])).get(endpoint);
      const p = pid === undefined ? undefined : await readProcessFacts(pid);
      return fromProcess(p, await readOwnCgroup(), q, "proc", null);
    }
    if (host.kind === "ssh") {
      const p = await readRemoteProcess(host, endpoint);
      return fromProcess(p.facts, p.ownCgroup, q, "ssh", p.facts ? null : "the QEMU process was not found over SSH");
    }
  } catch (err) {
    log.debug({ err, endpoint }, "reading launch facts failed");
    return fromProcess(
      undefined,
      [],
      q,
      host.kind === "ssh" ? "ssh" : "proc",
      `reading the process failed: ${(err as Error).message}`,
    );
  }
  return fromProcess(
    undefined,
    [],
    q,
    "unavailable",
    "a QMP-over-TLS endpoint gives no access to the host's processes",
  );
}

const shq = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/**
 * The same as on a local host, by one POSIX shell command: find the listener's inode in
 * /proc/net/unix, the pid holding it, then print cmdline (base64, NUL-separated), exe, cwd, uid,
 * stdout/stderr targets, starttime and cgroup. Only the connecting user's processes are visible
 * unless it is root — as on a local host.
 */
async function readRemoteProcess(host: Host, endpoint: string): Promise<{ facts?: ProcessFacts; ownCgroup: string[] }> {
  const ssh = await getSshConnection(sshTargetOfHost(host));
  const script = `
p=${shq(endpoint)}
ino=$(awk -v p="$p" 'NR>1 && $8==p && $4 ~ /10000$/ {print $7; exit}' /proc/net/unix)
[ -n "$ino" ] || exit 0
for fd in /proc/[0-9]*/fd/*; do
  if [ "$(readlink "$fd" 2>/dev/null)" = "socket:[$ino]" ]; then pid=\${fd#/proc/}; pid=\${pid%%/*}; break; fi
done
[ -n "$pid" ] || exit 0
echo "pid=$pid"
echo "cmdline=$(base64 -w0 < /proc/$pid/cmdline)"
echo "exe=$(readlink /proc/$pid/exe)"
echo "cwd=$(readlink /proc/$pid/cwd)"
echo "uid=$(awk '/^Uid:/ {print $2}' /proc/$pid/status)"
echo "fd1=$(readlink /proc/$pid/fd/1)"
echo "fd2=$(readlink /proc/$pid/fd/2)"
echo "stat=$(cat /proc/$pid/stat)"
sed 's/^/cgroup=/' /proc/$pid/cgroup
`;
  const out = await ssh.exec(script);
  const lines = out.split("\n");
  const get = (k: string) => lines.find((l) => l.startsWith(`${k}=`))?.slice(k.length + 1);
  const pid = Number(get("pid"));
  if (!pid) return { ownCgroup: [] };
  const argv = Buffer.from(get("cmdline") ?? "", "base64")
    .toString("utf8")
    .replace(/\0$/, "")
    .split("\0");
  const exeRaw = get("exe") ?? "";
  const stat = get("stat") ?? "";
  const afterComm = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const file = (t: string | undefined) =>
    t && t.startsWith("/") && !t.startsWith("/dev/") && !t.endsWith(" (deleted)") ? t : null;
  return {
    ownCgroup: [],
    facts: {
      pid,
      argv,
      exe: exeRaw ? exeRaw.replace(/ \(deleted\)$/, "") : null,
      exeDeleted: exeRaw.endsWith(" (deleted)"),
      cwd: get("cwd") || null,
      uid: get("uid") ? Number(get("uid")) : null,
      stdout: file(get("fd1")),
      stderr: file(get("fd2")),
      cgroup: lines.filter((l) => l.startsWith("cgroup=")).map((l) => l.slice(7)),
      startTicks: afterComm.length > 19 ? Number(afterComm[19]) : null,
    },
  };
}

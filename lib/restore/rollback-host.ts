// The host side of a rollback (rollback.ts), one object per host kind, so the rollback's steps are
// written once:
//   local: this machine — execFile qemu-img, /proc, process.kill, spawn (host-tools.ts);
//   ssh:   the VM's host through the host-access seam (lib/fleet/host-access.ts), as the SSH user —
//          qemu-img over SSH exec, the remote /proc (is a pid alive, who holds the images), `kill`,
//          QEMU started detached with `setsid nohup` (every argument single-quoted: verify-remote.ts),
//          its log read over SFTP, the vmstate path resolved and confined on the host.
// Invariants: the same as host-tools.ts — qemu-img never runs on an image a process holds open (the
// host's /proc is read first), the exec: URI is built only from a confined strict-charset path.
import { mkdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import type { Host, Vm } from "../db/generated/client";
import { describeHolders } from "../fleet/open-files";
import { readLaunchFacts } from "../fleet/launch-facts";
import { parseLaunchFacts, type LaunchFacts } from "../fleet/launch-json";
import { processAlive } from "../fleet/qemu-process";
import { getVmSession } from "../fleet/sessions";
import {
  internalSnapshotNames,
  qemuImg,
  RestoreStepError,
  sleep,
  startDetachedQemu,
  vmstateExecUri,
  waitForExit,
  waitNotHeld,
} from "./host-tools";
import { currentQemu } from "./plan";
import { RemoteSandboxHost } from "./verify-remote";

export interface RunningQemu {
  pid: number;
  startTicks: number | null;
  /** How it was started (for putting it back after a failure before the disks changed). */
  launch: LaunchFacts | null;
}

export interface RollbackHost {
  label: string;
  internalSnapshotNames(image: string): Promise<string[]>;
  vmstateExecUri(file: string, snapshotRoot: string): Promise<string>;
  /** The QEMU behind the VM's monitor now, or undefined when none runs. */
  current(vm: Vm & { host: Host }): Promise<RunningQemu | undefined>;
  signal(pid: number, sig: "TERM"): Promise<void>;
  waitForExit(pid: number, startTicks: number | null, timeoutMs: number): Promise<boolean>;
  alive(pid: number): Promise<boolean>;
  waitNotHeld(paths: string[], timeoutMs: number): Promise<void>;
  qemuImg(args: string[]): Promise<string>;
  /** Makes the log's directory; returns the log's current size (its new part is this start's). */
  prepareLog(file: string): Promise<number>;
  /** A log file QEMU can append to: `wanted` when usable, else `fallback`. */
  logFile(wanted: string | null, fallback: string): Promise<string>;
  readLog(file: string, from: number): Promise<string>;
  startDetached(opts: {
    exe: string;
    argv: string[];
    cwd: string;
    log: string;
    stdoutLog?: string | null;
  }): Promise<number>;
}

export function rollbackHostFor(host: Host): RollbackHost {
  return host.kind === "ssh" ? sshRollbackHost(host) : localRollbackHost(host);
}

function localRollbackHost(host: Host): RollbackHost {
  return {
    label: host.name,
    internalSnapshotNames,
    vmstateExecUri,
    async current(vm) {
      const c = await currentQemu(vm);
      if (!c) return undefined;
      const vmLaunch = parseLaunchFacts(vm.launch);
      return {
        pid: c.process.pid,
        startTicks: c.process.startTicks,
        launch: vmLaunch?.pid === c.process.pid ? vmLaunch : synthLaunch(c.process, vmLaunch),
      };
    },
    async signal(pid) {
      try {
        process.kill(pid, "SIGTERM");
      } catch {
        // gone meanwhile
      }
    },
    waitForExit,
    alive: (pid) => processAlive(pid),
    waitNotHeld,
    qemuImg: (args) => qemuImg(args),
    async prepareLog(file) {
      await mkdir(path.dirname(file), { recursive: true });
      return stat(file).then(
        (s) => s.size,
        () => 0,
      );
    },
    async logFile(wanted, fallback) {
      return wanted ?? fallback;
    },
    async readLog(file, from) {
      return (await readFile(file, "utf8").catch(() => "")).slice(from);
    },
    async startDetached(opts) {
      return startDetachedQemu({ ...opts, detached: true }).pid;
    },
  };
}

const PID = (pid: number) => {
  if (!Number.isInteger(pid) || pid <= 1) throw new RestoreStepError("internal", `not a pid: ${pid}`);
  return String(pid);
};

function sshRollbackHost(host: Host): RollbackHost {
  const h = new RemoteSandboxHost(host);
  const files = h.files;
  /** The process's start time (field 22 of /proc/<pid>/stat), null when no such (live) process. */
  const startOf = async (pid: number): Promise<number | null | "zombie"> => {
    const s = await h.sh(`cat /proc/${PID(pid)}/stat 2>/dev/null; true`, 30_000);
    if (!s.trim()) return null;
    const rest = s.slice(s.lastIndexOf(")") + 2).split(" ");
    if (rest[0] === "Z") return "zombie";
    return Number(rest[19]);
  };
  const alive = async (pid: number, startTicks: number | null = null): Promise<boolean> => {
    const st = await startOf(pid);
    if (st === null || st === "zombie") return false;
    return startTicks === null || st === startTicks;
  };
  return {
    label: host.name,
    async internalSnapshotNames(image) {
      const info = JSON.parse(await h.qemuImg(["info", "-U", "--output=json", image], 60_000)) as {
        snapshots?: Array<{ name: string }>;
      };
      return (info.snapshots ?? []).map((s) => s.name);
    },
    vmstateExecUri: (file, root) => h.vmstateExecUri(file, root),
    async current(vm) {
      let client;
      try {
        client = await getVmSession(vm.id);
      } catch (err) {
        // No monitor: either no QEMU runs, or one runs that cannot be reached — then nothing is touched.
        const held = await files.fileHolders(vmImages(vm));
        if (held.size) {
          throw new RestoreStepError(
            "qemu-unreachable",
            `VM ${vm.name}'s monitor cannot be reached (${(err as Error).message}) while ${[...held].map(([p, hs]) => `${p} is open by ${describeHolders(hs)}`).join("; ")}: nothing was changed`,
          );
        }
        return undefined;
      }
      const launch = await readLaunchFacts(host, vm.endpoint, client);
      if (launch.pid === null) {
        throw new RestoreStepError(
          "refused",
          `the QEMU behind ${vm.endpoint} could not be found on ${host.name} over SSH (${launch.note ?? "no process"}): nothing was changed`,
        );
      }
      return { pid: launch.pid, startTicks: launch.startTicks, launch };
    },
    async signal(pid) {
      await h.sh(`kill -TERM ${PID(pid)} 2>/dev/null; true`, 30_000);
    },
    async waitForExit(pid, startTicks, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (!(await alive(pid, startTicks))) return true;
        await sleep(200);
      }
      return !(await alive(pid, startTicks));
    },
    alive: (pid) => alive(pid),
    async waitNotHeld(paths, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const held = await files.fileHolders(paths);
        if (held.size === 0) return;
        if (Date.now() > deadline) {
          const [p, holders] = [...held][0]!;
          throw new RestoreStepError(
            "image-in-use",
            `${p} is still open on ${host.name} by ${describeHolders(holders)}: its disk state cannot be changed while a process holds it`,
          );
        }
        await sleep(300);
      }
    },
    qemuImg: (args) => h.qemuImg(args),
    async prepareLog(file) {
      await files.mkdirp(path.posix.dirname(file));
      return (await files.stat(file))?.size ?? 0;
    },
    async logFile(wanted, fallback) {
      // QEMU's old log may not be writable by the SSH user (opened by whoever started it): then a log of
      // the rollback in the VM's snapshot directory.
      if (
        wanted &&
        (await h.sh(`test -f ${shq(wanted)} && test -w ${shq(wanted)} && echo yes; true`, 30_000)).trim() === "yes"
      )
        return wanted;
      return fallback;
    },
    async readLog(file, from) {
      return ((await files.readFile(file).catch(() => null)) ?? Buffer.alloc(0)).subarray(from).toString("utf8");
    },
    async startDetached(opts) {
      // stdout goes with stderr (one redirection; the recorded stdout file is not reopened separately).
      return h.spawnDetached([opts.exe, ...opts.argv.slice(1)], opts.log, opts.cwd);
    },
  };
}

const shq = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

function vmImages(vm: Vm): string[] {
  return (Array.isArray(vm.disks) ? (vm.disks as Array<{ file?: string }>) : []).flatMap((d) =>
    typeof d.file === "string" && d.file.startsWith("/") ? [d.file] : [],
  );
}

function synthLaunch(
  p: NonNullable<Awaited<ReturnType<typeof currentQemu>>>["process"],
  base: LaunchFacts | null,
): LaunchFacts {
  return {
    readAt: new Date().toISOString(),
    source: "proc",
    note: null,
    pid: p.pid,
    startTicks: p.startTicks,
    argv: p.argv,
    exe: p.exe,
    exeDeleted: p.exeDeleted,
    cwd: p.cwd,
    uid: p.uid,
    stdout: p.stdout,
    stderr: p.stderr,
    machine: base?.machine ?? null,
    qemuVersion: base?.qemuVersion ?? "unknown",
    memoryBackends: base?.memoryBackends ?? [],
    manager: base?.manager ?? { kind: "plain", reason: "read before the rollback" },
    vmgenid: base?.vmgenid ?? false,
    guestAgent: base?.guestAgent ?? false,
  };
}

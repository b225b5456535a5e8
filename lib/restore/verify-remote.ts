// Verifying a snapshot of a VM on an SSH host: the sandbox of verify.ts, run ON the VM's host through
// the host-access seam (lib/fleet/host-access.ts) — nothing of the snapshot leaves the host.
//   setup:  a private temp dir on the host (`mktemp -d`, 0700, as the SSH user); per disk a read-only
//           `qemu-nbd --load-snapshot` export of the internal snapshot (started detached: setsid nohup,
//           every argument single-quoted) and a throw-away qcow2 overlay over it (`qemu-img` over SSH);
//           the sandbox command line (argv.ts sandboxArgv) with its QMP socket in that dir.
//   active: QEMU started detached the same way (the recorded binary and cwd, -S -incoming defer); its
//           QMP socket reached over the host's SSH connection (stream-local forwarding);
//           `migrate-incoming exec:cat '<vmstate>'` (path resolved on the host, confined to its snapshot
//           directory, strict charset); `cont`; a few seconds of running; status; `screendump` into the
//           temp dir, read over SFTP; guest-ping over a forwarded agent socket when the VM has one;
//           `quit`; every process it started killed (by pid) and the temp dir removed over SFTP.
// Invariant: like the local verification, the running VM and the snapshot's files are never written.
// Limit: the sandbox runs detached on the host (no --pdeathsig across SSH): a dashboard that dies mid-way
// leaves it to run until it is killed by hand (its pid is in the Restore row's result: sandboxPid).
import { guestPingOver } from "./guest-agent";
import path from "node:path";
import type { Duplex } from "node:stream";
import { logIgnored } from "../best-effort";
import type { Host } from "../db/generated/client";
import { hostAccessFor } from "../fleet/host-access";
import { shellArg, type HostFiles } from "../fleet/host-files";
import { guestAgentChardev } from "../fleet/qemu-argv";
import { getSshConnection, sshTargetOfHost, type SshConnection } from "../fleet/ssh";
import { connectQmp, type QmpClient } from "../qmp";
import { sandboxArgv } from "./argv";
import { confinedExecUri, RestoreStepError, sleep } from "./host-tools";
import { connectMonitor, loadVmstate, nbdExportArgs, runGuest, takeScreendump, type Sandbox } from "./sandbox-run";

const QEMU_NBD = "qemu-nbd";
const QEMU_IMG = "qemu-img";

/** The verification's view of the SSH host: files (SFTP), programs and processes (SSH exec), QMP. */
export class RemoteSandboxHost {
  readonly files: HostFiles;
  private readonly pids: number[] = [];
  dir?: string;

  constructor(private readonly host: Host) {
    const files = hostAccessFor(host).files;
    if (!files) throw new RestoreStepError("refused", `host ${host.name} gives no file access`);
    this.files = files;
  }

  conn(): Promise<SshConnection> {
    return getSshConnection(sshTargetOfHost(this.host));
  }

  async sh(command: string, timeoutMs = 60_000): Promise<string> {
    return (await this.conn()).exec(command, timeoutMs);
  }

  async makeTempDir(): Promise<string> {
    const out = (await this.sh("mktemp -d /tmp/sf-verify-XXXXXXXX")).trim();
    if (!/^\/tmp\/sf-verify-[A-Za-z0-9]+$/.test(out))
      throw new RestoreStepError(
        "sandbox",
        `mktemp on ${this.host.name} answered ${JSON.stringify(out.slice(0, 200))}`,
      );
    this.dir = out;
    return out;
  }

  /**
   * Starts argv on the host in its own session, immune to the SSH session's end, stdin from /dev/null,
   * stdout+stderr appended to `log`; returns its pid (setsid does not fork: a background job of a
   * non-interactive sh is not a process-group leader, so `$!` is the program's own pid).
   */
  async spawnDetached(argv: string[], log: string, cwd = "/"): Promise<number> {
    const cmd = `(cd ${shellArg(cwd)} && exec setsid nohup ${argv.map(shellArg).join(" ")} >>${shellArg(log)} 2>&1 </dev/null) & echo $!`;
    const pid = Number((await this.sh(cmd)).trim());
    if (!Number.isInteger(pid) || pid <= 1)
      throw new RestoreStepError("sandbox", `${argv[0]} could not be started on ${this.host.name}`);
    this.pids.push(pid);
    return pid;
  }

  async alive(pid: number): Promise<boolean> {
    const stat = await this.sh(`cat /proc/${Math.trunc(pid)}/stat 2>/dev/null; true`).catch(() => "");
    if (!stat) return false;
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  }

  async waitExit(pid: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!(await this.alive(pid))) return true;
      await sleep(200);
    }
    return !(await this.alive(pid));
  }

  async qemuImg(args: string[], timeoutMs = 10 * 60_000): Promise<string> {
    try {
      return await this.files.run([QEMU_IMG, ...args], { timeoutMs });
    } catch (err) {
      throw new RestoreStepError(
        "qemu-img",
        `qemu-img ${args.join(" ")} on ${this.host.name} failed: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  async readText(p: string): Promise<string> {
    return ((await this.files.readFile(p).catch(() => null)) ?? Buffer.alloc(0)).toString("utf8");
  }

  /** The `exec:` URI that makes the sandbox read the vmstate: resolved on the host, confined, strict charset. */
  async vmstateExecUri(file: string, snapshotRoot: string): Promise<string> {
    let real: string;
    let root: string;
    try {
      const out = (await this.files.run(["realpath", "-e", "--", file, snapshotRoot])).split("\n");
      [real, root] = [out[0]!.trim(), out[1]!.trim()];
      await this.sh(`test -r ${shellArg(real)}`);
    } catch (err) {
      throw new RestoreStepError(
        "vmstate-missing",
        `the vmstate ${file} cannot be read on ${this.host.name}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    return confinedExecUri(real, root);
  }

  async connectQmp(socket: string): Promise<QmpClient> {
    const endpoint = await hostAccessFor(this.host).endpoint(socket);
    return connectQmp(endpoint, { connectTimeoutMs: 5_000, greetingTimeoutMs: 5_000, commandTimeoutMs: 30_000 });
  }

  /** Kills every process this sandbox started (newest first, by pid) and removes its temp dir. */
  async cleanup(qemuPid?: number): Promise<void> {
    if (qemuPid !== undefined) await this.waitExit(qemuPid, 5_000).catch(() => false);
    for (const pid of [...this.pids].reverse()) {
      await this.sh(`kill -KILL ${Math.trunc(pid)} 2>/dev/null; true`).catch(
        logIgnored("a sandbox process on the host may have exited already"),
      );
    }
    for (const pid of this.pids) await this.waitExit(pid, 3_000).catch(() => false);
    if (this.dir)
      await this.files.remove(this.dir).catch(logIgnored("a sandbox directory left on the host holds only copies"));
  }
}

export interface RemoteSandboxRun {
  sandboxPid: number;
  steps: string[];
  screenshot?: Buffer;
  guestPing?: { ok: boolean; error?: string };
  consoleTail?: string;
}

/**
 * The sandbox on an SSH host, from setup to the console picture; throws RestoreStepError on failure.
 * `onActive` is called once QEMU runs (the caller moves the Restore to active); `step` records progress.
 */
export async function verifyOnSshHost(
  host: Host,
  src: {
    exe: string;
    argv: string[];
    cwd: string | null;
    disks: Array<{ image: string; internalSnapshot: string }>;
    vmstate: string | null;
    live: boolean;
  },
  opts: { runMs: number; step: (s: string) => Promise<void>; onActive: (pid: number) => Promise<void> },
): Promise<RemoteSandboxRun> {
  const h = new RemoteSandboxHost(host);
  let qmp: QmpClient | undefined;
  let qemuPid: number | undefined;
  const steps: string[] = [];
  const step = async (s: string) => {
    steps.push(s);
    await opts.step(s);
  };
  try {
    const uri = src.live ? await h.vmstateExecUri(src.vmstate ?? "", host.snapshotDir) : undefined;
    const dir = await h.makeTempDir();
    const disks = new Map<string, string>();
    for (const [i, d] of src.disks.entries()) {
      const sock = path.posix.join(dir, `nbd${i}.sock`);
      const log = path.posix.join(dir, `nbd${i}.log`);
      const nbd = await h.spawnDetached([QEMU_NBD, ...nbdExportArgs(d, sock)], log);
      const deadline = Date.now() + 15_000;
      while (!(await h.files.stat(sock))) {
        if (Date.now() > deadline || !(await h.alive(nbd))) {
          throw new RestoreStepError(
            "sandbox",
            `qemu-nbd did not export ${d.internalSnapshot} of ${d.image} on ${host.name}: ${(await h.readText(log)).trim().slice(-1000)}`,
          );
        }
        await sleep(100);
      }
      const overlay = path.posix.join(dir, `disk${i}.qcow2`);
      await h.qemuImg(
        ["create", "-q", "-f", "qcow2", "-b", `nbd+unix:///?socket=${sock}`, "-F", "raw", overlay],
        60_000,
      );
      disks.set(d.image, overlay);
    }
    await step(
      `${disks.size} disk(s) on ${host.name}: read-only exports of the snapshot's internal snapshots, each under a throw-away overlay`,
    );

    // memory-backend-file mem-path values: directory or file, asked over SFTP (sandboxArgv is synchronous).
    const memPaths = src.argv.flatMap((a) =>
      [...a.matchAll(/(?:^|,)mem-path=((?:[^,]|,,)+)/g)].map((m) => m[1]!.replaceAll(",,", ",")),
    );
    const dirs = new Set<string>();
    for (const p of memPaths) if ((await h.files.stat(p).catch(() => null))?.isDirectory) dirs.add(p);
    const qmpSocket = path.posix.join(dir, "qmp.sock");
    const agentChardev = guestAgentChardev(src.argv);
    const agentSocket = agentChardev ? path.posix.join(dir, "qga.sock") : undefined;
    const sb = sandboxArgv(src.argv, {
      dir,
      qmpSocket,
      disks,
      incoming: src.live,
      agentChardev,
      agentSocket,
      isDirectory: (p) => dirs.has(p),
    });
    if (sb.refusals.length)
      throw new RestoreStepError(
        "refused",
        `this VM's command line cannot run in a sandbox: ${sb.refusals.join("; ")}`,
      );
    const logFile = path.posix.join(dir, "qemu.log");
    const readLog = () => h.readText(logFile);
    const pid = await h.spawnDetached([src.exe, ...sb.argv.slice(1)], logFile, src.cwd ?? "/");
    qemuPid = pid;
    await opts.onActive(pid);

    const sandbox: Sandbox = {
      dir,
      alive: () => h.alive(pid),
      waitExit: (timeoutMs) => h.waitExit(pid, timeoutMs),
      readLog,
      readFile: async (file) => (await h.files.readFile(file)) ?? undefined,
    };
    qmp = await connectMonitor(sandbox, async () =>
      (await h.files.stat(qmpSocket))
        ? h.connectQmp(qmpSocket).catch(logIgnored("the monitor is not listening yet: tried again until the deadline"))
        : undefined,
    );
    if (src.live) {
      await loadVmstate(sandbox, qmp, uri!);
      await step("RAM state loaded");
    }
    await runGuest(sandbox, qmp, opts.runMs);
    await step(`the guest ran ${opts.runMs / 1000} s`);
    const screenshot = await takeScreendump(sandbox, qmp);
    await step(screenshot ? "console picture taken" : "no display device: no console picture");
    const run: RemoteSandboxRun = { sandboxPid: pid, steps, screenshot };
    if (agentSocket) {
      run.guestPing = await guestPingOver(
        () => h.conn().then((c) => c.openStreamLocal(agentSocket) as unknown as Promise<Duplex>),
        10_000,
      );
      if (!run.guestPing.ok)
        throw new RestoreStepError("guest-agent", `the guest agent did not answer guest-ping: ${run.guestPing.error}`);
      await step("the guest agent answered guest-ping");
    }
    if (sb.serialLogs[0]) run.consoleTail = (await h.readText(sb.serialLogs[0])).replaceAll("\r", "").slice(-1500);
    return run;
  } finally {
    if (qmp?.connected)
      await qmp
        .quit({ timeoutMs: 3_000 })
        .catch(logIgnored("the sandbox QEMU may be gone already; cleanup kills it if not"));
    await qmp?.close().catch(logIgnored("closing the sandbox's monitor"));
    await h.cleanup(qemuPid);
  }
}

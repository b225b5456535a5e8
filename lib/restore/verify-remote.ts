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
import type { Host } from "../db/generated/client";
import { hostAccessFor } from "../fleet/host-access";
import { shellArg, type HostFiles } from "../fleet/host-files";
import { guestAgentChardev } from "../fleet/qemu-argv";
import { getSshConnection, sshTargetOfHost, type SshConnection } from "../fleet/ssh";
import { connectQmp, type QmpClient } from "../qmp";
import { sandboxArgv } from "./argv";
import { qemuErrorLines, RestoreStepError, sleep } from "./host-tools";
import { isPng, ppmToPng } from "./png";

const QEMU_NBD = "qemu-nbd";
const QEMU_IMG = "qemu-img";
const LOAD_TIMEOUT_MS = 10 * 60_000;
const SAFE_PATH = /^[A-Za-z0-9._/-]+$/;

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
    if (!/^\/tmp\/sf-verify-[A-Za-z0-9]+$/.test(out)) throw new RestoreStepError("sandbox", `mktemp on ${this.host.name} answered ${JSON.stringify(out.slice(0, 200))}`);
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
    if (!Number.isInteger(pid) || pid <= 1) throw new RestoreStepError("sandbox", `${argv[0]} could not be started on ${this.host.name}`);
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
      throw new RestoreStepError("qemu-img", `qemu-img ${args.join(" ")} on ${this.host.name} failed: ${(err as Error).message}`, { cause: err });
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
      throw new RestoreStepError("vmstate-missing", `the vmstate ${file} cannot be read on ${this.host.name}: ${(err as Error).message}`, { cause: err });
    }
    if (!real.startsWith(root.endsWith("/") ? root : `${root}/`)) {
      throw new RestoreStepError("vmstate-path", `the vmstate ${real} is outside the host's snapshot directory ${root}: refused`);
    }
    if (!SAFE_PATH.test(real)) {
      throw new RestoreStepError("vmstate-path", `the vmstate path ${JSON.stringify(real)} has characters other than letters, digits and ._/-: refused (QEMU's exec: runs a shell)`);
    }
    return `exec:cat '${real}'`;
  }

  async connectQmp(socket: string): Promise<QmpClient> {
    const endpoint = await hostAccessFor(this.host).endpoint(socket);
    return connectQmp(endpoint, { connectTimeoutMs: 5_000, greetingTimeoutMs: 5_000, commandTimeoutMs: 30_000 });
  }

  /** Kills every process this sandbox started (newest first, by pid) and removes its temp dir. */
  async cleanup(qemuPid?: number): Promise<void> {
    if (qemuPid !== undefined) await this.waitExit(qemuPid, 5_000).catch(() => false);
    for (const pid of [...this.pids].reverse()) {
      await this.sh(`kill -KILL ${Math.trunc(pid)} 2>/dev/null; true`).catch(() => undefined);
    }
    for (const pid of this.pids) await this.waitExit(pid, 3_000).catch(() => false);
    if (this.dir) await this.files.remove(this.dir).catch(() => undefined);
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
  src: { exe: string; argv: string[]; cwd: string | null; disks: Array<{ image: string; internalSnapshot: string }>; vmstate: string | null; live: boolean },
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
      const imageOpts = `driver=qcow2,read-only=on,file.driver=file,file.locking=off,file.filename=${d.image.replaceAll(",", ",,")}`;
      const nbd = await h.spawnDetached([QEMU_NBD, "--read-only", "--persistent", "--load-snapshot", `snapshot.name=${d.internalSnapshot}`, "-k", sock, "--image-opts", imageOpts], log);
      const deadline = Date.now() + 15_000;
      while (!(await h.files.stat(sock))) {
        if (Date.now() > deadline || !(await h.alive(nbd))) {
          throw new RestoreStepError("sandbox", `qemu-nbd did not export ${d.internalSnapshot} of ${d.image} on ${host.name}: ${(await h.readText(log)).trim().slice(-1000)}`);
        }
        await sleep(100);
      }
      const overlay = path.posix.join(dir, `disk${i}.qcow2`);
      await h.qemuImg(["create", "-q", "-f", "qcow2", "-b", `nbd+unix:///?socket=${sock}`, "-F", "raw", overlay], 60_000);
      disks.set(d.image, overlay);
    }
    await step(`${disks.size} disk(s) on ${host.name}: read-only exports of the snapshot's internal snapshots, each under a throw-away overlay`);

    // memory-backend-file mem-path values: directory or file, asked over SFTP (sandboxArgv is synchronous).
    const memPaths = src.argv.flatMap((a) => [...a.matchAll(/(?:^|,)mem-path=((?:[^,]|,,)+)/g)].map((m) => m[1]!.replaceAll(",,", ",")));
    const dirs = new Set<string>();
    for (const p of memPaths) if ((await h.files.stat(p).catch(() => null))?.isDirectory) dirs.add(p);
    const qmpSocket = path.posix.join(dir, "qmp.sock");
    const agentChardev = guestAgentChardev(src.argv);
    const agentSocket = agentChardev ? path.posix.join(dir, "qga.sock") : undefined;
    const sb = sandboxArgv(src.argv, { dir, qmpSocket, disks, incoming: src.live, agentChardev, agentSocket, isDirectory: (p) => dirs.has(p) });
    if (sb.refusals.length) throw new RestoreStepError("refused", `this VM's command line cannot run in a sandbox: ${sb.refusals.join("; ")}`);
    const logFile = path.posix.join(dir, "qemu.log");
    const readLog = () => h.readText(logFile);
    qemuPid = await h.spawnDetached([src.exe, ...sb.argv.slice(1)], logFile, src.cwd ?? "/");
    await opts.onActive(qemuPid);

    const deadline = Date.now() + 30_000;
    for (;;) {
      if (await h.files.stat(qmpSocket)) {
        qmp = await h.connectQmp(qmpSocket).catch(() => undefined);
        if (qmp) break;
      }
      if (!(await h.alive(qemuPid))) throw new RestoreStepError("sandbox", `the sandbox QEMU exited at start: ${qemuErrorLines(await readLog()) || "no reason given"}`);
      if (Date.now() > deadline) throw new RestoreStepError("sandbox", "the sandbox QEMU's monitor did not answer within 30 s");
      await sleep(200);
    }
    if (src.live) {
      await qmp.execute("migrate-incoming", { uri: uri! });
      const outcome = await waitLoaded(h, qmp, qemuPid);
      if (outcome !== "completed") {
        await h.waitExit(qemuPid, 3_000);
        throw new RestoreStepError("vmstate-load", `QEMU could not load the vmstate: ${qemuErrorLines(await readLog()) || outcome}`);
      }
      await step("RAM state loaded");
    }
    await qmp.cont();
    await sleep(opts.runMs);
    if (!(await h.alive(qemuPid))) throw new RestoreStepError("guest-stopped", `the sandbox QEMU exited while the guest ran: ${qemuErrorLines(await readLog()) || "no reason given"}`);
    const status = await qmp.queryStatus();
    if (status.status !== "running") throw new RestoreStepError("guest-stopped", `the restored guest is ${status.status} after ${opts.runMs / 1000} s (not running)`);
    await step(`the guest ran ${opts.runMs / 1000} s`);
    const screenshot = await screendump(h, qmp, dir);
    await step(screenshot ? "console picture taken" : "no display device: no console picture");
    const run: RemoteSandboxRun = { sandboxPid: qemuPid, steps, screenshot };
    if (agentSocket) {
      run.guestPing = await guestPingOver(() => h.conn().then((c) => c.openStreamLocal(agentSocket) as unknown as Promise<Duplex>), 10_000);
      if (!run.guestPing.ok) throw new RestoreStepError("guest-agent", `the guest agent did not answer guest-ping: ${run.guestPing.error}`);
      await step("the guest agent answered guest-ping");
    }
    if (sb.serialLogs[0]) run.consoleTail = (await h.readText(sb.serialLogs[0])).replaceAll("\r", "").slice(-1500);
    return run;
  } finally {
    if (qmp?.connected) await qmp.execute("quit", undefined, { timeoutMs: 3_000 }).catch(() => undefined);
    await qmp?.close().catch(() => undefined);
    await h.cleanup(qemuPid);
  }
}

async function waitLoaded(h: RemoteSandboxHost, qmp: QmpClient, pid: number): Promise<string> {
  const deadline = Date.now() + LOAD_TIMEOUT_MS;
  for (;;) {
    const info = await qmp.queryMigrate().catch(() => undefined);
    if (info?.status === "completed") return "completed";
    if (info?.status === "failed" || info?.status === "cancelled") return info["error-desc"] ?? `migration ${info.status}`;
    if (!info && !(await h.alive(pid))) return "QEMU exited while loading";
    if (Date.now() > deadline) return `not loaded within ${LOAD_TIMEOUT_MS / 60_000} min`;
    await sleep(300);
  }
}

async function screendump(h: RemoteSandboxHost, qmp: QmpClient, dir: string): Promise<Buffer | undefined> {
  const png = path.posix.join(dir, "console.png");
  try {
    await qmp.execute("screendump", { filename: png, format: "png" });
    const buf = await h.files.readFile(png);
    if (buf && isPng(buf)) return buf;
  } catch (err) {
    const msg = (err as Error).message;
    if (/console|display/i.test(msg) && !/format/i.test(msg)) return undefined;
  }
  const ppm = path.posix.join(dir, "console.ppm");
  try {
    await qmp.execute("screendump", { filename: ppm });
    const buf = await h.files.readFile(ppm);
    return buf ? ppmToPng(buf) : undefined;
  } catch {
    return undefined;
  }
}


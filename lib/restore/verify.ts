// Verifying a snapshot (POST /api/snapshots/{id}/verify): restore it into a throw-away sandbox QEMU on
// its host and watch it run — proof that it is restorable before anyone needs it.
//   setup:  per disk, a read-only NBD export of the snapshot's internal snapshot (`qemu-nbd -r -t
//           -l snapshot.name=snapfleet-<id>`, image locking off on that read-only open — qemu-nbd has
//           no --force-share —, the VM keeps its image; QEMU.md §9) and a
//           throw-away qcow2 overlay over it in a private temp directory; the sandbox's command line
//           (argv.ts sandboxArgv: same binary, machine and devices, NICs with no network, chardevs
//           nulled, its own QMP socket, no display, -S -incoming defer).
//   active: QEMU started (killed with the dashboard: setpriv --pdeathsig); `migrate-incoming exec:cat
//           '<vmstate>'`; on failure QEMU exits and its stderr says why (a truncated vmstate: "Unknown
//           combination of migration flags", …) — that is the verification's failure reason; `cont`;
//           a few seconds of running; the guest still runs (not shut down, panicked or in an internal
//           error); `screendump` (PNG; PPM converted in Node when the QEMU cannot); guest-ping when the
//           VM has a guest-agent channel; `quit`; everything in the temp directory removed.
// The snapshot row gets verifiedAt (and loses verifyError) or verifyError; the Restore row keeps the
// console picture. Never touches the running VM or the snapshot's files: its images are opened
// read-only without taking locks, the vmstate is only read, writes go to the overlays.
import type { Duplex } from "node:stream";
import { guestPingOver } from "./guest-agent";
import { existsSync, statSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { logIgnored } from "../best-effort";
import { configValue } from "../config";
import { db } from "../db/client";
import { guestAgentChardev } from "../fleet/qemu-argv";
import { processAlive } from "../fleet/qemu-process";
import type { Logger } from "../logger";
import { connectQmp, type QmpClient } from "../qmp";
import { publishSnapshot } from "../snapshots/jobs";
import { snapshotInclude, toSnapshotJson } from "../snapshots/serialize";
import { sandboxArgv } from "./argv";
import { qemuImg, RestoreStepError, sleep, startDetachedQemu, vmstateExecUri, waitForExit } from "./host-tools";
import { recordRestoreResult, transitionRestore } from "./jobs";
import { verifyOnSshHost } from "./verify-remote";
import { planVerify, restoreSource, snapshotOfRestore } from "./plan";
import { connectMonitor, loadVmstate, nbdExportArgs, runGuest, takeScreendump, type Sandbox } from "./sandbox-run";

const SETPRIV = "/usr/bin/setpriv";

export interface VerifyOptions {
  log: Logger;
  /** How long the restored guest runs before its console is taken (default 5 s). */
  runMs?: number;
}

export async function runVerify(restoreId: string, opts: VerifyOptions): Promise<void> {
  const log = opts.log.child({ restore: restoreId });
  const snap = await snapshotOfRestore(restoreId);
  const result: Record<string, unknown> = { steps: [] as string[] };
  const steps = result.steps as string[];
  const step = async (s: string) => {
    steps.push(s);
    await recordRestoreResult(restoreId, result).catch(
      logIgnored("the step list is progress shown while it runs; the outcome is written at the end", log),
    );
  };
  const children: Array<{ pid: number; exited: Promise<number | null> }> = [];
  let dir: string | undefined;
  let qmp: QmpClient | undefined;
  let qemuLog = "";
  let screenshot: Buffer | undefined;
  const succeed = async () => {
    const now = new Date();
    await db().restore.update({
      where: { id: restoreId },
      data: { screenshot: screenshot ? new Uint8Array(screenshot) : null, result: result as object },
    });
    await markSnapshot(snap.id, { verifiedAt: now, verifyError: null });
    await transitionRestore(restoreId, "completed", {
      detail: `verified: ${steps.join("; ")}`,
      data: { finishedAt: now },
    });
  };
  try {
    await transitionRestore(restoreId, "setup", {
      detail: "preparing a sandbox over read-only views of the snapshot's disks",
      data: { startedAt: new Date() },
    });
    const refusal = await planVerify(snap);
    if (refusal) throw new RestoreStepError("refused", refusal);
    const src = restoreSource(snap);
    const launch = src.launch!;
    const live = snap.mode === "live";
    if (snap.vm.host.kind === "ssh") {
      // The same sandbox, run on the VM's SSH host through the host-access seam (verify-remote.ts).
      const run = await verifyOnSshHost(
        snap.vm.host,
        { exe: launch.exe!, argv: launch.argv!, cwd: launch.cwd ?? null, disks: src.disks, vmstate: src.vmstate, live },
        {
          runMs: opts.runMs ?? 5_000,
          step,
          onActive: async (pid) => {
            result.sandboxPid = pid;
            await transitionRestore(restoreId, "active", {
              detail: `sandbox QEMU on ${snap.vm.host.name} (pid ${pid}) ${live ? "loading the RAM state" : "booting from the disks"}`,
            });
          },
        },
      );
      screenshot = run.screenshot;
      result.screenshot = screenshot !== undefined;
      if (run.guestPing) result.guestPing = run.guestPing;
      if (run.consoleTail !== undefined) result.consoleTail = run.consoleTail;
      await succeed();
      return;
    }
    const uri = live ? await vmstateExecUri(src.vmstate!, snap.vm.host.snapshotDir) : undefined;
    dir = await mkdtemp(path.join(os.tmpdir(), "sf-verify-"));
    const wrap = existsSync(SETPRIV) ? [SETPRIV, "--pdeathsig", "KILL", "--"] : undefined;
    const disks = new Map<string, string>();
    for (const [i, d] of src.disks.entries()) {
      const sock = path.join(dir, `nbd${i}.sock`);
      const nbd = spawnTool(
        [...(wrap ?? []), configValue("SNAPFLEET_QEMU_NBD"), ...nbdExportArgs(d, sock)],
        path.join(dir, `nbd${i}.log`),
      );
      children.push(nbd);
      await waitFor(
        () => existsSync(sock),
        15_000,
        async () =>
          `qemu-nbd did not export ${d.internalSnapshot} of ${d.image}: ${await readFile(path.join(dir!, `nbd${i}.log`), "utf8").catch(() => "")}`,
      );
      const overlay = path.join(dir, `disk${i}.qcow2`);
      await qemuImg(["create", "-q", "-f", "qcow2", "-b", `nbd+unix:///?socket=${sock}`, "-F", "raw", overlay], 60_000);
      disks.set(d.image, overlay);
    }
    await step(
      `${disks.size} disk(s): read-only exports of the snapshot's internal snapshots, each under a throw-away overlay`,
    );
    const qmpSocket = path.join(dir, "qmp.sock");
    const agentChardev = guestAgentChardev(launch.argv!);
    const agentSocket = agentChardev ? path.join(dir, "qga.sock") : undefined;
    const sb = sandboxArgv(launch.argv!, {
      dir,
      qmpSocket,
      disks,
      incoming: live,
      agentChardev,
      agentSocket,
      isDirectory: (p) => {
        try {
          return statSync(p).isDirectory();
        } catch {
          return false;
        }
      },
    });
    if (sb.refusals.length)
      throw new RestoreStepError(
        "refused",
        `this VM's command line cannot run in a sandbox: ${sb.refusals.join("; ")}`,
      );
    const logFile = path.join(dir, "qemu.log");
    const qemu = startDetachedQemu({
      exe: launch.exe!,
      argv: sb.argv,
      cwd: launch.cwd ?? "/",
      log: logFile,
      detached: false,
      wrapper: wrap,
    });
    children.push(qemu);
    const readLog = async () => (qemuLog = await readFile(logFile, "utf8").catch(() => qemuLog));
    result.sandboxPid = qemu.pid;
    await transitionRestore(restoreId, "active", {
      detail: `sandbox QEMU (pid ${qemu.pid}) ${live ? "loading the RAM state" : "booting from the disks"}`,
    });
    const sandbox: Sandbox = {
      dir,
      alive: () => processAlive(qemu.pid),
      waitExit: (timeoutMs) => waitForExit(qemu.pid, null, timeoutMs),
      readLog,
      // A screendump QEMU did not write: takeScreendump tries PPM next or reports no console picture.
      readFile: (file) => readFile(file).catch(() => undefined),
    };
    qmp = await connectMonitor(sandbox, async () =>
      existsSync(qmpSocket)
        ? connectQmp(
            { kind: "unix", path: qmpSocket },
            { connectTimeoutMs: 3_000, greetingTimeoutMs: 5_000, commandTimeoutMs: 30_000 },
          ).catch(logIgnored("the monitor is not listening yet: tried again until the deadline", log))
        : undefined,
    );
    if (live) {
      await loadVmstate(sandbox, qmp, uri!);
      await step("RAM state loaded");
    }
    const runMs = opts.runMs ?? 5_000;
    await runGuest(sandbox, qmp, runMs);
    await step(`the guest ran ${runMs / 1000} s`);
    screenshot = await takeScreendump(sandbox, qmp);
    result.screenshot = screenshot !== undefined;
    await step(screenshot ? "console picture taken" : "no display device: no console picture");
    if (agentSocket) {
      const ping = await guestPing(agentSocket, 10_000);
      result.guestPing = ping;
      if (!ping.ok)
        throw new RestoreStepError("guest-agent", `the guest agent did not answer guest-ping: ${ping.error}`);
      await step("the guest agent answered guest-ping");
    }
    const serial = sb.serialLogs[0];
    if (serial) result.consoleTail = (await readFile(serial, "utf8").catch(() => "")).replaceAll("\r", "").slice(-1500);
    await succeed();
  } catch (err) {
    const e =
      err instanceof RestoreStepError ? err : new RestoreStepError("internal", (err as Error).message, { cause: err });
    log.info({ err: e.message }, "verification failed");
    await markSnapshot(snap.id, { verifiedAt: null, verifyError: e.message }).catch(
      logIgnored("the snapshot's verdict is a display; the restore row below carries the failure", log),
    );
    await transitionRestore(restoreId, "failed", {
      detail: e.message,
      data: { finishedAt: new Date(), errorClass: e.errorClass, errorMessage: e.message },
    }).catch((terr) => log.error({ err: terr }, "could not mark the verification failed"));
  } finally {
    if (qmp?.connected)
      await qmp
        .quit({ timeoutMs: 3_000 })
        .catch(logIgnored("the sandbox QEMU may be gone already; it is killed below if not", log));
    await qmp?.close().catch(logIgnored("closing the sandbox's monitor", log));
    for (const c of children.reverse()) {
      if (!(await waitForExit(c.pid, null, c === children[0] ? 5_000 : 100))) {
        try {
          process.kill(c.pid, "SIGKILL");
        } catch {
          // gone
        }
        await Promise.race([c.exited, sleep(3_000)]);
      }
    }
    if (dir)
      await rm(dir, { recursive: true, force: true }).catch(
        logIgnored("a sandbox directory left in the temp dir holds only copies", log),
      );
  }
}

async function markSnapshot(id: string, data: { verifiedAt: Date | null; verifyError: string | null }): Promise<void> {
  const updated = await db().snapshot.update({ where: { id }, data, include: snapshotInclude });
  await publishSnapshot(toSnapshotJson(updated));
}

function spawnTool(cmd: string[], log: string): { pid: number; exited: Promise<number | null> } {
  const s = startDetachedQemu({ exe: cmd[0]!, argv: cmd, cwd: "/", log, detached: false });
  return s;
}

async function waitFor(ok: () => boolean, timeoutMs: number, why: () => Promise<string>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new RestoreStepError("sandbox", await why());
    await sleep(100);
  }
}

/** guest-ping over the agent's local unix socket (guest-agent.ts). */
function guestPing(socket: string, timeoutMs: number): Promise<{ ok: boolean; error?: string }> {
  return guestPingOver(
    () =>
      new Promise<Duplex>((resolve, reject) => {
        const s = net.createConnection(socket);
        s.once("connect", () => resolve(s));
        s.once("error", reject);
      }),
    timeoutMs,
  );
}

// Rolling a VM back to one of its snapshots (POST /api/snapshots/{id}/restore), for a VM whose QEMU is
// a plain process on the dashboard's own machine or on an SSH host (plan.ts refuses the others before
// anything is queued). Every step below runs on the VM's host through rollback-host.ts: locally with
// execFile, /proc and spawn; on an SSH host as the SSH user — qemu-img over SSH exec, the remote /proc
// (pid exit, image holders), QEMU started detached with `setsid nohup` (arguments single-quoted), its
// QMP socket reached over the host's SSH connection.
//   setup:  re-check the plan; the snapshot's internal disk snapshots are in the images; the vmstate
//           path is acceptable for QEMU's exec: (host-tools.ts); the safety snapshot's row and ledger
//           are written (a disks-only Snapshot, note "safety before restoring <id>", deletable).
//   active: stop QEMU (QMP `quit`, bounded wait for the pid; SIGTERM after 30 s); wait until no process
//           holds the images; the safety snapshot (`qemu-img snapshot -c`, offline: QEMU flushed its
//           images as it quit, so it is exactly the disks as they were); each disk to the snapshot's
//           state (`qemu-img snapshot -a snapfleet-<id>`); QEMU started again from the snapshot's own
//           command line (its instant's launch facts) + `-S -incoming defer`, in its own session so it
//           outlives the dashboard, stdout/stderr appended to the files the VM's QEMU wrote to (or a log
//           in the VM's snapshot directory); `migrate-incoming exec:cat '<vmstate>'`; `cont`.
//           disks-only snapshots cold-boot from the rolled-back disks (no -incoming).
// Failure: before the disks change, the VM's QEMU is started again as it was (the guest reboots: its
// RAM was lost with the stop); while the disks change, those already changed are put back from the
// safety snapshot first; after they changed, the VM is left stopped with the reason and the safety
// snapshot to undo with. The internal snapshot restored from is only read: the snapshot stays
// restorable (twice in a row) and deletable.
import { randomUUID } from "node:crypto";
import path from "node:path";
import { logIgnored } from "../best-effort";
import { lockKey, tryAdvisoryLock } from "../db/advisory-locks";
import { db } from "../db/client";
import { Prisma } from "../db/generated/client";
import { refreshVm } from "../fleet/discovery";
import { parseLaunchFacts, type LaunchFacts } from "../fleet/launch-json";
import { getVmSession, sessionForEndpoint } from "../fleet/sessions";
import type { Logger } from "../logger";
import type { QmpClient } from "../qmp";
import { internalSnapshotName, type Artifact } from "../snapshots/artifacts";
import { finishJob } from "../snapshots/execute-job";
import { publishSnapshot, vmDirName } from "../snapshots/jobs";
import { snapshotInclude, toSnapshotJson } from "../snapshots/serialize";
import { rollbackArgv } from "./argv";
import { qemuErrorLines, RestoreStepError, sleep } from "./host-tools";
import { recordRestoreResult, transitionRestore } from "./jobs";
import { planRollback, restoreSource, snapshotOfRestore } from "./plan";
import { rollbackHostFor, type RollbackHost } from "./rollback-host";

const QUIT_WAIT_MS = 30_000;
const TERM_WAIT_MS = 10_000;
const CONNECT_WAIT_MS = 30_000;
const LOAD_TIMEOUT_MS = 15 * 60_000;

export interface RollbackOptions {
  log: Logger;
}

interface Progress {
  steps: string[];
  [k: string]: unknown;
}

/** Runs one rollback (the restore row is `queued`, the job lock held by the caller). Never throws. */
export async function runRollback(restoreId: string, opts: RollbackOptions): Promise<void> {
  const log = opts.log.child({ restore: restoreId });
  const snap = await snapshotOfRestore(restoreId);
  const progress: Progress = { steps: [] };
  const step = async (s: string, extra: Record<string, unknown> = {}) => {
    progress.steps.push(s);
    Object.assign(progress, extra);
    log.info({ step: s }, "rollback step");
    await recordRestoreResult(restoreId, progress).catch((err) =>
      log.warn({ err }, "recording the rollback's progress failed"),
    );
  };
  let stage: "before-stop" | "stopped" | "disks-changing" | "disks-changed" = "before-stop";
  let original: { launch: LaunchFacts | null } = { launch: null };
  let safety: { id: string; name: string; images: string[] } | undefined;
  let applied: string[] = [];
  const host = rollbackHostFor(snap.vm.host);
  const vmLog = (snap.vm.host.kind === "ssh" ? path.posix : path).join(
    snap.vm.host.snapshotDir,
    vmDirName(snap.vm),
    "qemu-restore.log",
  );
  try {
    await transitionRestore(restoreId, "setup", {
      detail: "checking the snapshot and the VM",
      data: { startedAt: new Date() },
    });
    const plan = await planRollback(snap);
    if (plan.refusal)
      throw new RestoreStepError(
        "refused",
        `${plan.refusal.reason}${plan.refusal.commands.length ? `\n${plan.refusal.commands.join("\n")}` : ""}`,
      );
    const src = restoreSource(snap);
    const launch = src.launch!;
    const vm = snap.vm;
    for (const d of src.disks) {
      if (!(await host.internalSnapshotNames(d.image)).includes(d.internalSnapshot)) {
        throw new RestoreStepError(
          "disk-state-missing",
          `the internal snapshot ${d.internalSnapshot} is not in ${d.image} any more (deleted by hand?): nothing was changed`,
        );
      }
    }
    const live = snap.mode === "live";
    const uri = live ? await host.vmstateExecUri(src.vmstate!, vm.host.snapshotDir) : undefined;
    const current = await host.current(vm);
    original = { launch: current ? current.launch : parseLaunchFacts(vm.launch) };

    // The safety snapshot's row and ledger exist before the snapshot does (artifacts.ts).
    safety = { id: randomUUID(), name: "", images: src.disks.map((d) => d.image) };
    safety.name = internalSnapshotName(safety.id);
    const devices = new Map(
      (Array.isArray(vm.disks) ? (vm.disks as Array<{ file?: string; device?: string }>) : []).map((d) => [
        d.file,
        d.device,
      ]),
    );
    const ledger: Artifact[] = safety.images.map((image) => ({
      kind: "internal-snapshot",
      image,
      name: safety!.name,
      device: devices.get(image) ?? "disk",
    }));
    const now = new Date();
    const safetyLock = await tryAdvisoryLock(lockKey("job", safety.id));
    try {
      const created = await db().snapshot.create({
        data: {
          id: safety.id,
          vmId: vm.id,
          hostId: vm.hostId,
          mode: "disks_only",
          status: "setup",
          note: `safety before restoring ${snap.id}`,
          prunable: false,
          launch: (original.launch ?? Prisma.DbNull) as Prisma.InputJsonValue,
          artifacts: ledger as unknown as Prisma.InputJsonValue,
          createdAt: now,
          startedAt: now,
          history: {
            create: [
              { status: "queued", at: now, detail: `taken by the rollback to snapshot ${snap.id}` },
              { status: "preflight", at: now },
              { status: "setup", at: now, detail: "the disks as they are when the VM's QEMU has stopped" },
            ],
          },
        },
        include: snapshotInclude,
      });
      await publishSnapshot(toSnapshotJson(created));
      await db().restore.update({ where: { id: restoreId }, data: { safetySnapshotId: safety.id } });

      await transitionRestore(restoreId, "active", {
        detail: current ? `stopping QEMU (pid ${current.pid})` : "no QEMU runs for this VM: rolling its disks back",
      });
      if (current) {
        await stopQemu(host, vm.id, current.pid, current.startTicks, log);
        await step(`QEMU (pid ${current.pid}) stopped`, { oldPid: current.pid });
      }
      stage = "stopped";
      await host.waitNotHeld(safety.images, 15_000);
      for (const image of safety.images) await host.qemuImg(["snapshot", "-c", safety.name, image]);
      await finishJob(safety.id, {
        status: "completed",
        detail: `safety snapshot before restoring ${snap.id}: ${safety.images.length} disk${safety.images.length > 1 ? "s" : ""} (internal snapshot ${safety.name})`,
        files: safety.images.map((image) => ({
          path: image,
          role: "disk",
          format: "qcow2",
          internalSnapshot: safety!.name,
          sizeBytes: 0,
        })),
      });
    } catch (err) {
      if (safetyLock) {
        await finishJob(safety.id, {
          status: "failed",
          error: {
            errorClass: "internal",
            message: `the rollback failed before the safety snapshot was complete: ${(err as Error).message}`,
          },
        }).catch(
          logIgnored(
            "the rollback's own error is what the caller sees; recovery's sweep fails a safety snapshot left in flight",
            log,
          ),
        );
      }
      throw err;
    } finally {
      await safetyLock?.release();
    }
    await step(`safety snapshot ${safety.id} of ${safety.images.length} disk(s) taken`, {
      safetySnapshotId: safety.id,
    });

    stage = "disks-changing";
    for (const d of src.disks) {
      await host.qemuImg(["snapshot", "-a", d.internalSnapshot, d.image]);
      applied.push(d.image);
    }
    stage = "disks-changed";
    await step(`disks rolled back to ${src.disks.map((d) => d.internalSnapshot).join(", ")}`);

    const argv = rollbackArgv(launch.argv!, { incoming: live, newGuid: randomUUID });
    const logFile = await host.logFile(launch.stderr, vmLog);
    const logStart = await host.prepareLog(logFile);
    const started = {
      pid: await host.startDetached({
        exe: launch.exe!,
        argv,
        cwd: launch.cwd ?? "/",
        log: logFile,
        stdoutLog: launch.stdout,
      }),
    };
    await step(
      `QEMU started again (pid ${started.pid}${live ? ", waiting for the RAM state" : ", booting from the disks"})`,
      { newPid: started.pid, log: logFile, argv },
    );
    const qemuLog = async () => qemuErrorLines(await host.readLog(logFile, logStart));

    const client = await connectNew(host, vm.id, started.pid, qemuLog);
    if (live) {
      try {
        await client.migrateIncoming(uri!);
        const info = await waitIncoming(host, client, started.pid);
        if (info.status !== "completed") {
          const why = (await qemuLog()) || info.error || `migration ${info.status}`;
          throw new RestoreStepError("vmstate-load", `QEMU could not load the snapshot's RAM state: ${why}`);
        }
        await client.cont();
      } catch (err) {
        if (err instanceof RestoreStepError) throw err;
        // The monitor went away: QEMU exited (a refused vmstate ends it); its log says why.
        await host.waitForExit(started.pid, null, 3_000).catch(() => false);
        throw new RestoreStepError(
          "vmstate-load",
          `QEMU could not load the snapshot's RAM state: ${(await qemuLog()) || (err as Error).message}`,
          { cause: err },
        );
      }
      await step("RAM state loaded; the guest runs from the snapshot's instant");
    }
    // The VM's row follows its new QEMU (pid, state, launch facts) now rather than at the next discovery.
    await db()
      .vm.update({ where: { id: vm.id }, data: { goneAt: null } })
      .catch(() => undefined);
    await refreshVm(vm.id).catch((err) => log.warn({ err }, "re-reading the VM after the rollback failed"));
    await transitionRestore(restoreId, "completed", {
      detail: `${live ? "restored" : "cold-booted from"} the snapshot of ${(snap.startedAt ?? snap.createdAt).toISOString()}; safety snapshot ${safety.id}${started.pid ? `; QEMU pid ${started.pid}` : ""}`,
      data: { finishedAt: new Date() },
    });
  } catch (err) {
    const e =
      err instanceof RestoreStepError ? err : new RestoreStepError("internal", (err as Error).message, { cause: err });
    log.warn({ err, stage }, "rollback failed");
    let message = e.message;
    try {
      message += await recoverAfterFailure();
    } catch (rerr) {
      message += `. Putting the VM back failed too: ${(rerr as Error).message}`;
    }
    await transitionRestore(restoreId, "failed", {
      detail: message,
      data: { finishedAt: new Date(), errorClass: e.errorClass, errorMessage: message },
    }).catch((terr) => log.error({ err: terr }, "could not mark the rollback failed"));
  }

  async function recoverAfterFailure(): Promise<string> {
    if (stage === "before-stop") return ". Nothing was changed: the VM runs as before";
    if (stage === "disks-changing" && safety) {
      for (const image of applied) await host.qemuImg(["snapshot", "-a", safety.name, image]);
      applied = [];
      stage = "stopped";
    }
    if (stage === "stopped") {
      const l = original.launch;
      if (!l?.argv || !l.exe)
        return ". The VM's QEMU is stopped and its command line unknown: start it the way it is always started";
      const argv = rollbackArgv(l.argv, { incoming: false });
      const logFile = await host.logFile(l.stderr, vmLog);
      await host.prepareLog(logFile);
      const s = {
        pid: await host.startDetached({ exe: l.exe, argv: argv, cwd: l.cwd ?? "/", log: logFile, stdoutLog: l.stdout }),
      };
      progress.restartedPid = s.pid;
      await recordRestoreResult(restoreId, progress).catch((err) =>
        log.warn({ err }, "recording the restarted QEMU's pid failed"),
      );
      return `. The disks were left as they were and the VM's QEMU was started again (pid ${s.pid}) with its own command line: the guest boots (its RAM state was lost when QEMU stopped)`;
    }
    return `. The VM's disks are at the snapshot's state and its QEMU is stopped. To return to where the VM was, restore the safety snapshot ${safety?.id} (its disks as they were just before)`;
  }
}

/** QMP `quit`, then a bounded wait for the pid; SIGTERM if it lingers. Throws when it will not exit. */
async function stopQemu(
  host: RollbackHost,
  vmId: string,
  pid: number,
  startTicks: number | null,
  log: Logger,
): Promise<void> {
  const qmp = await getVmSession(vmId).catch(logIgnored("no monitor: QEMU is sent SIGTERM instead", log));
  if (qmp)
    await qmp
      .quit({ timeoutMs: 10_000 })
      .catch((err) => log.debug({ err }, "quit: the monitor closed before answering"));
  else await host.signal(pid, "TERM");
  // Over SSH the monitor's forwarded channel may stay half-open after QEMU exited (sshd sends EOF and
  // waits for ours): the old session is closed here, or the new QEMU's would be mistaken for it.
  const forget = async () => {
    if (qmp?.connected) await qmp.close().catch(logIgnored("closing the old QEMU's monitor after it exited", log));
  };
  if (await host.waitForExit(pid, startTicks, QUIT_WAIT_MS)) return forget();
  log.warn({ pid }, "QEMU did not quit: SIGTERM");
  await host.signal(pid, "TERM");
  if (await host.waitForExit(pid, startTicks, TERM_WAIT_MS)) return forget();
  throw new RestoreStepError(
    "qemu-stop",
    `QEMU (pid ${pid}) did not exit within ${(QUIT_WAIT_MS + TERM_WAIT_MS) / 1000} s of quit and SIGTERM: nothing else was changed`,
  );
}

/** The new QEMU's monitor, through THE VM session (the dashboard keeps it). */
async function connectNew(
  host: RollbackHost,
  vmId: string,
  pid: number,
  qemuLog: () => Promise<string>,
): Promise<QmpClient> {
  const vm = await db().vm.findUniqueOrThrow({ where: { id: vmId }, include: { host: true } });
  const deadline = Date.now() + CONNECT_WAIT_MS;
  for (;;) {
    try {
      return (await sessionForEndpoint(vm.host, vm.endpoint, vm.id)).client;
    } catch (err) {
      if (!(await host.alive(pid)))
        throw new RestoreStepError(
          "qemu-start",
          `the restarted QEMU exited at once: ${(await qemuLog()) || (err as Error).message}`,
        );
      if (Date.now() > deadline)
        throw new RestoreStepError(
          "qemu-start",
          `the restarted QEMU's monitor ${vm.endpoint} did not answer within ${CONNECT_WAIT_MS / 1000} s: ${(err as Error).message}`,
        );
      await sleep(200);
    }
  }
}

async function waitIncoming(
  host: RollbackHost,
  client: QmpClient,
  pid: number,
): Promise<{ status: string; error?: string }> {
  const deadline = Date.now() + LOAD_TIMEOUT_MS;
  for (;;) {
    const info = await client
      .queryMigrate()
      .catch(logIgnored("no answer this tick: whether QEMU is alive decides below"));
    if (!info) {
      // QEMU exits when the incoming migration fails (QEMU.md §4): the log says why.
      if (!(await host.alive(pid))) return { status: "failed" };
    } else if (info.status === "completed" || info.status === "failed" || info.status === "cancelled") {
      return { status: info.status, error: info["error-desc"] };
    }
    if (Date.now() > deadline)
      return { status: "timeout", error: `the RAM state did not load within ${LOAD_TIMEOUT_MS / 60_000} min` };
    await sleep(250);
  }
}

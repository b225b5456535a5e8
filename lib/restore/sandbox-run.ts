// The part of a verification that is the same wherever its sandbox QEMU runs (verify.ts on this
// machine, verify-remote.ts on an SSH host): how qemu-nbd exports the snapshot's disks and, once the
// sandbox's monitor answers, loading the vmstate, letting the guest run, checking that it still runs
// and taking its console picture. The caller says how to reach the process, its log and its files.
// Invariant: every failure is a RestoreStepError whose message is the verification's failure reason
// (QEMU's own stderr where it gave one).
import path from "node:path";
import { logIgnored } from "../best-effort";
import type { QmpClient } from "../qmp";
import { qemuErrorLines, RestoreStepError, sleep } from "./host-tools";
import { isPng, ppmToPng } from "./png";

const LOAD_TIMEOUT_MS = 10 * 60_000;

/** The sandbox QEMU process as the shared steps see it, wherever it runs. */
export interface Sandbox {
  /** The sandbox's private temp directory (screendumps go there). */
  dir: string;
  alive(): Promise<boolean>;
  /** Waits up to timeoutMs for the process to exit. */
  waitExit(timeoutMs: number): Promise<unknown>;
  /** QEMU's log so far. */
  readLog(): Promise<string>;
  /** A file the sandbox wrote, or undefined when it cannot be read. */
  readFile(file: string): Promise<Buffer | undefined>;
}

/**
 * qemu-nbd's arguments (after the program) for a read-only export of a disk's internal snapshot on the
 * unix socket `sock`. The image is opened without image locking: the VM's QEMU holds its write lock
 * (qemu-nbd has no --force-share; locking=off on a read-only open is what force-share does).
 */
export function nbdExportArgs(disk: { image: string; internalSnapshot: string }, sock: string): string[] {
  const image = disk.image.replaceAll(",", ",,");
  return [
    "--read-only",
    "--persistent",
    "--load-snapshot",
    `snapshot.name=${disk.internalSnapshot}`,
    "-k",
    sock,
    "--image-opts",
    `driver=qcow2,read-only=on,file.driver=file,file.locking=off,file.filename=${image}`,
  ];
}

/**
 * The sandbox's monitor, asked until it answers (bounded: 30 s). `tryConnect` answers undefined while
 * the monitor is not listening yet; a QEMU that exits meanwhile fails with its stderr.
 */
export async function connectMonitor(
  sb: Sandbox,
  tryConnect: () => Promise<QmpClient | undefined>,
): Promise<QmpClient> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const qmp = await tryConnect();
    if (qmp) return qmp;
    if (!(await sb.alive()))
      throw new RestoreStepError(
        "sandbox",
        `the sandbox QEMU exited at start: ${qemuErrorLines(await sb.readLog()) || "no reason given"}`,
      );
    if (Date.now() > deadline)
      throw new RestoreStepError("sandbox", "the sandbox QEMU's monitor did not answer within 30 s");
    await sleep(100);
  }
}

/** `migrate-incoming` from the vmstate's `exec:` URI, then waits until QEMU loaded it or says why not. */
export async function loadVmstate(sb: Sandbox, qmp: QmpClient, uri: string): Promise<void> {
  await qmp.migrateIncoming(uri);
  const outcome = await waitLoaded(sb, qmp);
  if (outcome !== "completed") {
    await sb.waitExit(3_000);
    throw new RestoreStepError(
      "vmstate-load",
      `QEMU could not load the vmstate: ${qemuErrorLines(await sb.readLog()) || outcome}`,
    );
  }
}

/** `cont`, `runMs` of running, then the guest must still run: its QEMU alive and its status `running`. */
export async function runGuest(sb: Sandbox, qmp: QmpClient, runMs: number): Promise<void> {
  await qmp.cont();
  await sleep(runMs);
  if (!(await sb.alive()))
    throw new RestoreStepError(
      "guest-stopped",
      `the sandbox QEMU exited while the guest ran: ${qemuErrorLines(await sb.readLog()) || "no reason given"}`,
    );
  const status = await qmp.queryStatus();
  if (status.status !== "running")
    throw new RestoreStepError(
      "guest-stopped",
      `the restored guest is ${status.status} after ${runMs / 1000} s (not running)`,
    );
}

/** PNG of the guest's console, or undefined when the VM has no display device. */
export async function takeScreendump(sb: Sandbox, qmp: QmpClient): Promise<Buffer | undefined> {
  const png = path.join(sb.dir, "console.png");
  try {
    await qmp.screendump(png, "png");
    const buf = await sb.readFile(png);
    if (buf && isPng(buf)) return buf;
  } catch (err) {
    const msg = (err as Error).message;
    if (/console|display/i.test(msg) && !/format/i.test(msg)) return undefined;
  }
  // QEMU without PNG support (< 7.1, or built without libpng): PPM, converted here.
  const ppm = path.join(sb.dir, "console.ppm");
  try {
    await qmp.screendump(ppm);
    const buf = await sb.readFile(ppm);
    return buf ? ppmToPng(buf) : undefined;
  } catch {
    return undefined;
  }
}

async function waitLoaded(sb: Sandbox, qmp: QmpClient): Promise<string> {
  const deadline = Date.now() + LOAD_TIMEOUT_MS;
  for (;;) {
    const info = await qmp
      .queryMigrate()
      .catch(logIgnored("no answer this tick: the process and deadline checks below decide"));
    if (info?.status === "completed") return "completed";
    if (info?.status === "failed" || info?.status === "cancelled")
      return info["error-desc"] ?? `migration ${info.status}`;
    if (!info && !(await sb.alive())) return "QEMU exited while loading";
    if (!info && !qmp.connected) {
      await sleep(300);
      if (!(await sb.alive())) return "QEMU exited while loading";
    }
    if (Date.now() > deadline) return `not loaded within ${LOAD_TIMEOUT_MS / 60_000} min`;
    await sleep(200);
  }
}

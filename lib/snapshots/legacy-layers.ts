// Disk layers of snapshots taken before internal snapshots (external overlays, docs/disk-chains.md
// "Snapshots taken before 0.2"): such a snapshot S froze the VM's image L_{k-1} as its disk and created
// an overlay L_k in its own directory that took the guest's writes. Deleting S merges L_k DOWN into
// L_{k-1} with `block-commit` through the VM's QEMU (an active commit + pivot when L_k is the VM's
// active layer), after which the overlay is unused and removed; the next kept snapshot whose disk image
// was L_k inherits L_{k-1} (deletion.ts updates its record).
// Node names are looked up by file name at merge time: they change with every QEMU start.
// Invariants: block jobs carry a job id of ours and every wait is bounded by progress (a job that
// stops moving is cancelled and dismissed, never left running or READY); a commit's failure leaves
// both layers in place (nothing is removed unless QEMU reported the job completed without error); a
// layer holding internal snapshots (newer snapshots were taken while it was the VM's active image) is
// never merged — it holds their disk state; a layer the VM no longer uses is never merged into an
// image it no longer uses either, and is kept, not removed, even once an operator acknowledged the drift.
import { logIgnored } from "../best-effort";
import { logger } from "../logger";
import type { QmpClient, QmpEvent } from "../qmp";
import type { BlockJobInfo, ImageInfo } from "../qmp/types";
import { INTERNAL_SNAPSHOT_PREFIX, RemovalBlockedError, type OverlayArtifact } from "./artifacts";
import { chainFiles } from "./disk-chain";

/** One disk's layer as recorded on a pre-internal-snapshot row (`diskChain`). */
export interface DiskChainEntry {
  /** The guest-visible device (qdev id or drive name), for people. */
  device: string;
  /** Node name of the image at the snapshot instant (stale after a QEMU restart: never used to act). */
  node: string;
  /** That image's path: the snapshot's disk file, frozen from then on. */
  image: string;
  format: string;
  /** The overlay this snapshot created, the VM's active layer right after it. */
  overlay: string;
  overlayNode: string;
}

export class DiskMergeError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "DiskMergeError";
  }
}

export interface CommitOptions {
  /** The layer to merge away (its data goes into its backing image). */
  overlayPath: string;
  /** The layer receiving the data: the overlay's backing image. */
  basePath: string;
  jobId: string;
  /**
   * Give up when the job shows no progress (same offset and status) for this long; default 5 min. No
   * fixed wall clock: a big layer merges as long as it keeps moving. A job given up on is cancelled
   * and dismissed, never left running or READY (it would block every later snapshot: preflight.ts).
   */
  stallMs?: number;
  /** How often progress is read (query-block-jobs); default 1 s. */
  pollMs?: number;
  /** Rate limit in bytes/s passed to block-commit (tests slow a merge down with it); default none. */
  speed?: number;
}

/**
 * Ends a block job of ours that must not outlive its caller: cancel (force: a READY mirror too), wait for
 * it to go, dismiss it if it stays concluded. Returns what happened; never throws.
 */
export async function cancelBlockJob(qmp: QmpClient, jobId: string, waitMs = 30_000): Promise<string> {
  if (!qmp.connected) return "the VM's monitor is gone: QEMU ended the job with its process";
  const present = async () =>
    (await qmp.queryBlockJobs().catch(() => [] as BlockJobInfo[])).find((j) => j.device === jobId);
  if (!(await present())) return "no job left";
  await qmp.blockJobCancel(jobId, { force: true }).catch(logIgnored("the job may have ended by itself meanwhile"));
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline && (await present())) await new Promise((r) => setTimeout(r, 200));
  const jobs = await qmp.queryJobs().catch(() => []);
  const concluded = jobs.find((j) => j.id === jobId && j.status === "concluded");
  if (concluded) await qmp.jobDismiss(jobId).catch(logIgnored("a job QEMU dismissed itself is gone"));
  return (await present())
    ? `block job ${jobId} did not go away after block-job-cancel`
    : `block job ${jobId} cancelled`;
}

export type CommitKind = "active" | "intermediate";

/**
 * Merges one layer down into its backing image with `block-commit`. When the layer is a device's
 * active image this is an active commit: QEMU mirrors new writes too, reports BLOCK_JOB_READY, and
 * `block-job-complete` pivots the device onto the base; otherwise the job completes by itself and
 * QEMU rewrites the upper layer's backing file name. Works with the guest running or paused.
 * Returns which kind it was; the overlay file is NOT removed (the caller does it once it is unused).
 */
export async function commitLayer(qmp: QmpClient, opts: CommitOptions): Promise<CommitKind> {
  const stallMs = opts.stallMs ?? 5 * 60_000;
  const pollMs = opts.pollMs ?? 1000;
  // The events below are the normal end; progress polling (watch) is the bound.
  const timeoutMs = 7 * 24 * 3600_000;
  const blocks = await qmp.queryBlock();
  const owner = blocks.find((b) => b.inserted && chainFiles(b.inserted.image).includes(opts.overlayPath));
  if (!owner?.inserted?.["node-name"]) {
    throw new DiskMergeError(`${opts.overlayPath} is not in any disk chain of this VM: nothing to merge it into`);
  }
  const root = owner.inserted["node-name"];
  const nodes = await qmp.queryNamedBlockNodes({ flat: true });
  const nodeOf = (file: string) => nodes.find((n) => n.drv !== "file" && n.image?.filename === file)?.["node-name"];
  const overlayNode = nodeOf(opts.overlayPath);
  const baseNode = nodeOf(opts.basePath);
  if (!overlayNode || !baseNode) {
    throw new DiskMergeError(
      `${opts.basePath} is not below ${opts.overlayPath} in the VM's disk chain any more: nothing was merged`,
    );
  }
  const kind: CommitKind = owner.inserted.image.filename === opts.overlayPath ? "active" : "intermediate";
  const ofJob = (ev: QmpEvent) => (ev.data as { device?: string }).device === opts.jobId;
  // Waiters first: QEMU may report before the command's reply (QEMU.md §6). The abort drops the ones
  // left unused (e.g. READY when the job failed at once).
  const waiters = new AbortController();
  const signal = waiters.signal;
  const ready =
    kind === "active" ? qmp.waitForEvent("BLOCK_JOB_READY", { predicate: ofJob, timeoutMs, signal }) : undefined;
  const done = qmp.waitForEvent(["BLOCK_JOB_COMPLETED", "BLOCK_JOB_CANCELLED"], {
    predicate: ofJob,
    timeoutMs,
    signal,
  });
  const errors: string[] = [];
  const offError = qmp.on("BLOCK_JOB_ERROR", (ev) => {
    if (ofJob(ev)) errors.push(String((ev.data as { operation?: string }).operation ?? "i/o error"));
  });
  let started = false;
  // Resolves with a reason when the job stops making progress for stallMs (never when it moves).
  const stalled = new Promise<string>((resolve) => {
    let last = "";
    let changedAt = Date.now();
    const tick = async () => {
      if (signal.aborted) return;
      const jobs = await qmp
        .queryBlockJobs()
        .catch(logIgnored("progress unknown this tick: the stall clock keeps running"));
      const job = jobs?.find((j) => j.device === opts.jobId);
      const seen = job ? `${job.status}:${job.offset}:${job.ready}` : "gone";
      if (seen !== last) {
        last = seen;
        changedAt = Date.now();
      } else if (job && Date.now() - changedAt > stallMs) {
        return resolve(
          `the merge made no progress for ${Math.round(stallMs / 1000)} s (at ${job.offset} of ${job.len} bytes, ${job.status ?? "running"})`,
        );
      }
      setTimeout(() => void tick(), pollMs).unref();
    };
    setTimeout(() => void tick(), pollMs).unref();
  });
  const orStall = <T>(p: Promise<T>) =>
    Promise.race([
      p,
      stalled.then((why) => Promise.reject(new DiskMergeError(`merging ${opts.overlayPath} was given up: ${why}`))),
    ]);
  try {
    await qmp.blockCommit({
      "job-id": opts.jobId,
      device: root,
      "top-node": overlayNode,
      "base-node": baseNode,
      ...(opts.speed ? { speed: opts.speed } : {}),
    });
    started = true;
    if (ready) {
      await orStall(Promise.race([ready, done]));
      await qmp.blockJobComplete(opts.jobId);
    }
    const end = await orStall(done);
    const data = end.data as { error?: string };
    if (end.event === "BLOCK_JOB_CANCELLED" || data.error) {
      throw new DiskMergeError(`merging ${opts.overlayPath} failed: ${data.error ?? "the job was cancelled"}`);
    }
    if (errors.length) throw new DiskMergeError(`merging ${opts.overlayPath} hit ${errors.join(", ")} errors`);
    return kind;
  } catch (err) {
    if (err instanceof DiskMergeError) throw err;
    throw new DiskMergeError(`merging ${opts.overlayPath} into its backing image failed: ${(err as Error).message}`, {
      cause: err,
    });
  } finally {
    offError();
    waiters.abort();
    // Whatever ended the wait, no job of ours is left running or READY to block later snapshots.
    if (started) {
      const note = await cancelBlockJob(qmp, opts.jobId);
      if (note !== "no job left") logger.warn({ job: opts.jobId, overlay: opts.overlayPath }, note);
    }
  }
}

/**
 * Takes a legacy layer out of the VM's disk: merges it into its base through the VM's QEMU. Says what
 * was done; `merged` false means the layer was left as it is (the caller then keeps the file too).
 */
export async function mergeLegacyLayer(
  a: OverlayArtifact,
  ctx: { qmp: QmpClient | undefined; driftAcknowledged: boolean },
): Promise<{ merged: boolean; note: string }> {
  if (!ctx.qmp?.connected) {
    throw new RemovalBlockedError(
      `merging ${a.path} back into ${a.base} needs the VM running (its QEMU does the merge): nothing was removed`,
    );
  }
  const blocks = await ctx.qmp.queryBlock();
  const owner = blocks.find((b) => b.inserted && chainFiles(b.inserted.image).includes(a.path));
  if (!owner?.inserted) {
    if (ctx.driftAcknowledged)
      return {
        merged: false,
        note: `${a.path} is not in the VM's disk chain any more: it was not merged and is kept in place`,
      };
    throw new RemovalBlockedError(
      `${a.path} is not in the VM's disk chain any more (the VM was restarted on other images?): nothing was merged. Review the VM's disk warning and confirm it first`,
    );
  }
  for (let i: ImageInfo | undefined = owner.inserted.image; i; i = i["backing-image"]) {
    if (i.filename !== a.path) continue;
    const held = (i.snapshots ?? []).filter((s) => s.name.startsWith(INTERNAL_SNAPSHOT_PREFIX));
    if (held.length) {
      throw new RemovalBlockedError(
        `${a.path} holds the disk state of ${held.length} newer snapshot${held.length > 1 ? "s" : ""} (internal snapshots ${held.map((s) => s.name).join(", ")}): delete ${held.length > 1 ? "those" : "that"} first`,
      );
    }
  }
  const kind = await commitLayer(ctx.qmp, {
    overlayPath: a.path,
    basePath: a.base,
    jobId: `sf-merge-${Date.now().toString(36)}`,
  });
  return { merged: true, note: `disk layer ${a.path} merged into ${a.base} (${kind} commit)` };
}

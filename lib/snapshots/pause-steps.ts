// The pause-critical QMP steps of a consistent snapshot, as decided in pause-plan.ts (its header,
// points 2 and 4, explains why): stop + transaction (internal qcow2 snapshots of every disk) + migrate
// written in one go (layerAndStream), and, on QEMU ≥ 9.0, the `cont` once the RAM stream proves the
// device state is saved (resumeWhenStreaming); plus the facts the plan needs, read from QMP and, for
// local hosts, from /proc and host-memory.ts (detectPauseFacts, explainPause). The gated sequence's
// writer and watch are ram-walk-gate.ts.
// Invariants: layerAndStream never waits for a reply between its commands and never cancels a
// migration (the caller discards an unwanted stream); detectPauseFacts and explainPause never throw
// on facts they cannot read ("unknown" / false).
import { readFile } from "node:fs/promises";
import { logIgnored } from "../best-effort";
import { blockdevSnapshotInternalSync, type QmpClient } from "../qmp";
import { collapseSupported, findListenerPid, readHostMemoryFacts } from "./host-memory";
import { canWatchThreads } from "./ram-walk-gate";
import {
  describePausePlan,
  planConsistentPause,
  type GuestMemoryKind,
  type PauseFacts,
  type PausePlan,
} from "./pause-plan";

/** For the VM page: the plan for this VM right now and its one-sentence explanation. */
export async function explainPause(
  qmp: QmpClient,
  hostKind: "local" | "ssh" | "tls",
): Promise<{ plan: PausePlan; text: string }> {
  const plan = planConsistentPause(await detectPauseFacts(qmp, hostKind));
  return { plan, text: describePausePlan(plan) };
}

// ---------------------------------------------------------------------------------------------
// The pause-critical QMP sequence
// ---------------------------------------------------------------------------------------------

/** A disk whose state the pause records: its node now, and the internal snapshot name to take. */
export interface PauseDisk {
  node: string;
  name: string;
}

export interface LayerAndStreamResult {
  stopped: boolean;
  /** Error of each step, undefined when it succeeded (or was not sent). */
  stopError?: unknown;
  transactionError?: unknown;
  migrateError?: unknown;
}

/**
 * The pause: `stop` (unless the VM is already paused), one `transaction` taking an internal qcow2
 * snapshot of every disk (blockdev-snapshot-internal-sync: a few metadata writes inside the image, no
 * file is created), and `migrate` — written back to back, so QEMU runs them with no dashboard round
 * trip in between (QMP executes in-band commands in order). Listen for STOP/RESUME/MIGRATION before
 * calling. When `migrate` was accepted but the transaction failed, the stream must be discarded (never
 * cancelled on 7.2); when `migrate` failed, the caller must `cont` a guest it stopped.
 */
export async function layerAndStream(
  qmp: QmpClient,
  opts: { disks: PauseDisk[]; uri?: string; stop: boolean; timeoutMs?: number },
): Promise<LayerAndStreamResult> {
  const o = { timeoutMs: opts.timeoutMs ?? 30_000 };
  const settle = (p: Promise<unknown>) =>
    p.then(
      () => undefined,
      (err: unknown) => err ?? new Error("failed"),
    );
  const stop = opts.stop ? settle(qmp.stop(o)) : Promise.resolve(undefined);
  const transaction = opts.disks.length
    ? settle(
        qmp.transaction(
          opts.disks.map((d) => blockdevSnapshotInternalSync(d.node, d.name)),
          undefined,
          o,
        ),
      )
    : Promise.resolve(undefined);
  // disks-only: no stream; the caller resumes the guest with `cont`.
  const migrate = opts.uri === undefined ? Promise.resolve(undefined) : settle(qmp.migrate(opts.uri, undefined, o));
  const [stopError, transactionError, migrateError] = await Promise.all([stop, transaction, migrate]);
  return { stopped: opts.stop && !stopError, stopError, transactionError, migrateError };
}

/**
 * Bytes the vmstate stream must have carried before a `cont` is safe on QEMU ≥ 9.0: the header and
 * setup sections are a few KiB and are written before QEMU stops the VM; RAM pages only after the
 * device state is saved (into a side buffer) and write tracking is on. 64 KiB can only be RAM data.
 */
export const RESUME_AFTER_STREAM_BYTES = 64 * 1024;

/**
 * QEMU ≥ 9.0 only (see pause-plan.ts header, point 4): resumes a guest Snapfleet paused once QEMU's query-migrate
 * shows RAM streaming (ram.transferred ≥ RESUME_AFTER_STREAM_BYTES), polling fast so the pause stays
 * short. No fixed deadline: a big guest's migration setup takes as long as it takes (seconds per GiB),
 * so it gives up only when QEMU shows no progress at all (same status, same bytes) for `stallMs`.
 * Returns false when the migration ended or stalled without it; the run then resumes the guest as
 * soon as its progress loop sees RAM streaming, and checks query-status at the end (run-snapshot.ts),
 * so a guest is never left paused after a snapshot. `npm test` runs the snapshot tests on QEMU 10 for
 * this path (scripts/ensure-qemu-backports.sh).
 */
export async function resumeWhenStreaming(
  qmp: QmpClient,
  opts: { pollMs?: number; stallMs?: number; now?: () => number } = {},
): Promise<boolean> {
  const now = opts.now ?? Date.now;
  const stallMs = opts.stallMs ?? 120_000;
  let last = "";
  let changedAt = now();
  for (;;) {
    const info = await qmp.queryMigrate();
    if (info.status === "active" && (info.ram?.transferred ?? 0) >= RESUME_AFTER_STREAM_BYTES) {
      await qmp.cont();
      return true;
    }
    if (
      info.status === "completed" ||
      info.status === "failed" ||
      info.status === "cancelled" ||
      info.status === undefined
    )
      return false;
    const seen = `${info.status}:${info.ram?.transferred ?? 0}`;
    if (seen !== last) {
      last = seen;
      changedAt = now();
    } else if (now() - changedAt > stallMs) return false;
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 5));
  }
}

/**
 * The facts planConsistentPause needs, from QMP (query-memdev, qom-get of the backends' hugetlb/share)
 * and, for local hosts, the host's THP setting and whether Snapfleet can collapse this QEMU's RAM.
 * Never throws: what cannot be read is "unknown" / false.
 */
export async function detectPauseFacts(
  qmp: QmpClient,
  hostKind: "local" | "ssh" | "tls",
): Promise<PauseFacts & { pid?: number }> {
  const memoryBytes = await qmp.queryMemorySizeSummary().then(
    (m) => m["base-memory"],
    () => 0,
  );
  let memoryKind: GuestMemoryKind = "unknown";
  try {
    const memdevs = await qmp.queryMemdev();
    if (memdevs.length === 0)
      memoryKind = "anonymous"; // plain -m: anonymous private RAM
    else {
      const kinds = await Promise.all(
        memdevs.map(async (m) => {
          const prop = (name: string) =>
            qmp.qomGet(`/objects/${m.id}`, name).catch(logIgnored("a memory backend without that property is neither"));
          if ((await prop("hugetlb")) === true) return "hugetlb";
          if ((await prop("share")) === true) return "shared";
          return "anonymous";
        }),
      );
      memoryKind = kinds.includes("hugetlb") ? "hugetlb" : kinds.includes("shared") ? "shared" : "anonymous";
    }
  } catch {
    // query-memdev missing: keep unknown
  }
  const diskWrittenBytes = await qmp
    .queryBlock()
    .then((blocks) =>
      blocks.reduce(
        (n, b) =>
          n + (b.inserted && !b.inserted.ro && b.inserted.drv === "qcow2" ? (b.inserted.image["actual-size"] ?? 0) : 0),
        0,
      ),
    )
    .catch(() => 0);
  const local = hostKind === "local" && qmp.endpoint.kind === "unix";
  const host = local ? await readHostMemoryFacts() : undefined;
  const pid = local ? await findListenerPid((qmp.endpoint as { path: string }).path) : undefined;
  const residentBytes = pid === undefined ? undefined : await residentRamBytes(pid);
  return {
    qemuVersion: qmp.greeting.version.qemu,
    memoryBytes,
    memoryKind,
    hostThp: host?.thp ?? "unknown",
    canCollapse: Boolean(host && pid && collapseSupported(host) && memoryKind === "anonymous"),
    diskWrittenBytes,
    residentBytes,
    canGate: Boolean(host?.perl && pid !== undefined && (await canWatchThreads(pid))),
    pid,
  };
}

/**
 * QEMU's resident anonymous and shared memory (/proc/<pid>/status RssAnon + RssShmem; memfd guest RAM is
 * shmem): the guest RAM its walk reads page by page, plus QEMU's own heap.
 */
async function residentRamBytes(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN);
  const total = kib("RssAnon") + kib("RssShmem");
  return Number.isFinite(total) ? total * 1024 : undefined;
}

// The scheduler of one process: two loops. Any number of processes may run them on one database:
// every step claims its rows (runs.ts, dispatch.ts, finalize.ts), so each occurrence fires exactly
// once and each item is handled by one process.
//   fire loop  claims due schedules (missed runs follow each schedule's policy, see firing.ts), then
//              sleeps until the earliest nextRunAt (at most pollMs). It does nothing else, so how late
//              a schedule fires never depends on how much fan-out work is pending.
//   work loop  dispatches due items, settles finished snapshots, recovers stale items, finalizes
//              ended runs and applies retention; it sleeps until the next due item (at most pollMs)
//              and goes again at once while there is work.
// wake() cuts both sleeps short (run now, an edited schedule). tick() runs one pass of both, in
// order: tests drive time by hand with it.
// Invariants: the loops never throw (they log and go on); time comes only from the injected clock.
import { PROCESS_ID } from "../config";
import { db } from "../db/client";
import type { Logger } from "../logger";
import { processSingleton } from "../process-singleton";
import {
  DEFAULT_RETRY,
  dispatchDueItems,
  recoverStaleItems,
  settleDispatchedItems,
  type RetryPolicy,
} from "./dispatch";
import { applyRetention, finalizeRuns, type FinalizedRun } from "./finalize";
import { verifyNewestOfRun } from "../restore/schedule-verify";
import { DEFAULT_MISSED_GRACE_MS } from "./firing";
import type { SnapshotJobPort } from "./port";
import { claimDueRuns, type CreatedRun } from "./runs";

export interface SchedulerClock {
  now(): Date;
  /** Resolves after `ms` of this clock's time, or early when `signal` aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

export const systemClock: SchedulerClock = {
  now: () => new Date(),
  sleep: (ms, signal) =>
    new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const t = setTimeout(done, Math.max(0, ms));
      function done() {
        clearTimeout(t);
        signal.removeEventListener("abort", done);
        resolve();
      }
      signal.addEventListener("abort", done, { once: true });
    }),
};

export interface SchedulerOptions {
  port: SnapshotJobPort;
  log: Logger;
  clock?: SchedulerClock;
  processId?: string;
  /** Schedules claimed per transaction. */
  batchSize?: number;
  /** Longest sleep of either loop (schedules created by other processes are seen within it). */
  pollMs?: number;
  graceMs?: number;
  retry?: RetryPolicy;
  /** Called after each committed claim with the runs it fired (realtime, benchmarks). */
  onFired?: (runs: CreatedRun[], at: Date) => void;
  onFinalized?: (runs: FinalizedRun[]) => void;
}

export interface TickResult {
  fired: CreatedRun[];
  dispatched: number;
  settled: number;
  recovered: number;
  finalized: FinalizedRun[];
  pruned: number;
}

export class SchedulerWorker {
  private readonly clock: SchedulerClock;
  private readonly processId: string;
  private wakeController = new AbortController();
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly opts: SchedulerOptions) {
    this.clock = opts.clock ?? systemClock;
    this.processId = opts.processId ?? PROCESS_ID;
  }

  private async step<T>(name: string, fn: () => Promise<T>, fallback: T): Promise<T> {
    // Firing is the time-critical part: fan-out work waits while a burst of due schedules is claimed.
    if (name !== "claim") await this.firing;
    try {
      return await fn();
    } catch (err) {
      this.opts.log.error({ err, step: name }, "scheduler step failed; continuing");
      return fallback;
    }
  }

  /** Settles when the fire loop is not draining a burst; the work loop yields to it. */
  private firing: Promise<void> = Promise.resolve();

  /** Claims every due schedule, batch after batch. Never throws. */
  async fire(): Promise<CreatedRun[]> {
    let done = () => {};
    this.firing = new Promise((resolve) => (done = resolve));
    try {
      return await this.claimAll();
    } finally {
      done();
    }
  }

  private async claimAll(): Promise<CreatedRun[]> {
    const fired: CreatedRun[] = [];
    const batchSize = this.opts.batchSize ?? 500;
    const graceMs = this.opts.graceMs ?? DEFAULT_MISSED_GRACE_MS;
    for (;;) {
      const now = this.clock.now();
      const claim = await this.step("claim", () => claimDueRuns({ now, batchSize, graceMs, firedBy: this.processId }), {
        claimed: 0,
        runs: [],
      });
      if (claim.runs.length) {
        fired.push(...claim.runs);
        this.opts.onFired?.(claim.runs, this.clock.now());
      }
      if (claim.claimed < batchSize || this.stopped) return fired;
    }
  }

  /** Moves items and runs along and applies retention. Never throws. */
  async work(): Promise<Omit<TickResult, "fired">> {
    const { log, port } = this.opts;
    const retry = this.opts.retry ?? DEFAULT_RETRY;
    const dispatched = await this.step(
      "dispatch",
      () => dispatchDueItems({ now: this.clock.now(), port, log, retry }),
      0,
    );
    const settled = await this.step("settle", () => settleDispatchedItems({ now: this.clock.now(), retry }), 0);
    const recovered = await this.step("recover", () => recoverStaleItems({ now: this.clock.now() }), 0);
    const finalized = await this.step("finalize", () => finalizeRuns({ now: this.clock.now() }), []);
    if (finalized.length) this.opts.onFinalized?.(finalized);
    let pruned = 0;
    for (const run of finalized) {
      if (run.completedVmIds.length === 0) continue;
      pruned += await this.step(
        "retention",
        () => applyRetention({ scheduleId: run.scheduleId, runId: run.id, vmIds: run.completedVmIds, port, log }),
        0,
      );
      await this.step(
        "verify",
        () => verifyNewestOfRun({ scheduleId: run.scheduleId, vmIds: run.completedVmIds, log }),
        0,
      );
    }
    return { dispatched, settled, recovered, finalized, pruned };
  }

  /** One pass of both loops, in order; tests drive time by hand with it. Never throws. */
  async tick(): Promise<TickResult> {
    const fired = await this.fire();
    return { fired, ...(await this.work()) };
  }

  /** Milliseconds until `sql`'s instant, at most pollMs; pollMs when it cannot be read. */
  private async delayUntil(query: () => Promise<{ at: Date | null }[]>): Promise<number> {
    const pollMs = this.opts.pollMs ?? 1_000;
    try {
      const [row] = await query();
      if (!row?.at) return pollMs;
      return Math.max(0, Math.min(pollMs, row.at.getTime() - this.clock.now().getTime()));
    } catch (err) {
      this.opts.log.warn({ err }, "scheduler could not read its next due time");
      return pollMs;
    }
  }

  private loop(body: () => Promise<number>): Promise<void> {
    return (async () => {
      while (!this.stopped) {
        const delay = await body();
        if (this.stopped) break;
        if (delay > 0) await this.clock.sleep(delay, this.wakeController.signal);
        if (this.wakeController.signal.aborted) this.wakeController = new AbortController();
      }
    })();
  }

  start(): void {
    if (this.running) return;
    const fireLoop = this.loop(async () => {
      await this.fire();
      return this.delayUntil(() => db().$queryRaw`SELECT min("nextRunAt") AS at FROM "Schedule" WHERE enabled`);
    });
    const workLoop = this.loop(async () => {
      const r = await this.work();
      // Items and runs are followed by polling: come back at once while there is work.
      if (r.dispatched > 0 || r.settled > 0 || r.recovered > 0 || r.finalized.length > 0) return 0;
      return this.delayUntil(
        () => db().$queryRaw`SELECT min("notBefore") AS at FROM "ScheduleRunItem" WHERE status = 'pending'`,
      );
    });
    this.running = Promise.all([fireLoop, workLoop]).then(() => undefined);
  }

  /** Cuts the current sleeps short: something is due now (run now, a schedule edited). */
  wake(): void {
    this.wakeController.abort();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake();
    await this.running;
  }
}

/** The process's scheduler, a process singleton so route handlers (a separate Next bundle) can wake it. */
const slot = processSingleton("__snapfleetScheduler", (): { worker?: SchedulerWorker } => ({}));

export function setScheduler(worker: SchedulerWorker | undefined): void {
  slot.worker = worker;
}
export function wakeScheduler(): void {
  slot.worker?.wake();
}

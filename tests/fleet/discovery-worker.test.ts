// Periodic discovery: one leader per database (a real PostgreSQL advisory lock), runs that never
// overlap and a loop that survives a failing run (its interval's variable is tested with the rest of the
// configuration: tests/config/config.test.ts). Timers are injected: the test fires them; nothing waits
// for time to pass.
import { afterEach, describe, expect, test } from "vitest";
import { startDiscoveryWorker, type DiscoveryWorker, type Timers } from "../../lib/fleet/discovery-worker";
import type { DiscoveryResult } from "../../lib/fleet/discovery";
import { logger } from "../../lib/logger";
import { useTestDatabase } from "../support/db";

const database = useTestDatabase();
const started: DiscoveryWorker[] = [];

afterEach(async () => {
  await Promise.all(started.splice(0).map((w) => w.stop()));
});

function manualTimers() {
  const armed: Array<{ fn: () => void; ms: number; cleared: boolean }> = [];
  const timers: Timers = {
    setTimeout: (fn, ms) => {
      const t = { fn, ms, cleared: false };
      armed.push(t);
      return t;
    },
    clearTimeout: (h) => {
      (h as { cleared: boolean }).cleared = true;
    },
  };
  const pending = () => armed.filter((t) => !t.cleared);
  /** Fires the oldest pending timer, as if its time had come. */
  const fire = () => {
    const t = pending()[0]!;
    armed.splice(armed.indexOf(t), 1);
    t.fn();
  };
  return { timers, pending, fire };
}

function worker(discover: () => Promise<DiscoveryResult[]>, timers: Timers) {
  const w = startDiscoveryWorker({
    databaseUrl: database.current.url,
    log: logger.child({ test: "discovery-worker" }),
    intervalMs: 30_000,
    timers,
    discover,
  });
  started.push(w);
  return w;
}

describe("discovery worker", () => {
  test("only one process leads; another takes over when the leader stops", async () => {
    const runs: string[] = [];
    const a = worker(async () => (runs.push("a"), []), manualTimers().timers);
    const b = worker(async () => (runs.push("b"), []), manualTimers().timers);
    expect(await a.tick()).toBe(true);
    expect(await b.tick()).toBe(false);
    expect(await b.tick()).toBe(false);
    expect(runs).toEqual(["a"]);
    expect([a.isLeader, b.isLeader]).toEqual([true, false]);

    await a.stop();
    expect(await b.tick()).toBe(true);
    expect(runs).toEqual(["a", "b"]);
  });

  test("runs never overlap, and the next one is armed only after a run ends", async () => {
    let release!: () => void;
    let calls = 0;
    const clock = manualTimers();
    const w = worker(async () => {
      calls++;
      await new Promise<void>((r) => (release = r));
      return [];
    }, clock.timers);
    expect(clock.pending().map((t) => t.ms)).toEqual([0]); // the first run starts at once

    clock.fire();
    const second = w.tick();
    await expect.poll(() => calls).toBe(1);
    expect(clock.pending()).toEqual([]); // nothing armed while running
    release();
    expect(await second).toBe(true);
    expect(calls).toBe(1);
    expect(clock.pending().map((t) => t.ms)).toEqual([30_000]);
  });

  test("a failing run is logged and the loop goes on", async () => {
    const clock = manualTimers();
    let fail = true;
    const w = worker(async () => {
      if (fail) throw new Error("boom");
      return [];
    }, clock.timers);
    expect(await w.tick()).toBe(false);
    expect(clock.pending().map((t) => t.ms)).toEqual([30_000]);
    fail = false;
    expect(await w.tick()).toBe(true);
  });
});

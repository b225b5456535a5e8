// Process singletons (lib/process-singleton.ts): a module loaded twice in one process — as Next.js does
// for server.ts and each route bundle, and on every dev reload — must still reach ONE instance.
import { describe, expect, it, vi } from "vitest";

describe("processSingleton", () => {
  it("gives a module loaded twice the same state, created once", async () => {
    const first = await import("../../lib/fleet/live-state");
    vi.resetModules();
    const second = await import("../../lib/fleet/live-state");
    expect(second).not.toBe(first); // two copies of the module, as in Next's bundles
    // Both copies order writes through one chain per VM: the second copy's work waits for the first's.
    const order: string[] = [];
    let release!: () => void;
    const blocked = new Promise<void>((r) => (release = r));
    const a = first.inVmOrder("vm-1", async () => {
      await blocked;
      order.push("first");
    });
    const b = second.inVmOrder("vm-1", async () => {
      order.push("second");
    });
    release();
    await Promise.all([a, b]);
    expect(order).toEqual(["first", "second"]);
  });

  it("runs create once per key, and again only after the value was removed", async () => {
    const { processSingleton } = await import("../../lib/process-singleton");
    const create = vi.fn(() => ({ made: Date.now() }));
    const one = processSingleton("__snapfleetTestSingleton", create);
    expect(processSingleton("__snapfleetTestSingleton", create)).toBe(one);
    expect(create).toHaveBeenCalledTimes(1);
    delete (globalThis as Record<string, unknown>).__snapfleetTestSingleton;
    expect(processSingleton("__snapfleetTestSingleton", create)).not.toBe(one);
    expect(create).toHaveBeenCalledTimes(2);
  });
});

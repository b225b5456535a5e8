// QmpEventHub on its own: order, filters, waiters, isolation of throwing listeners, teardown.
import { describe, expect, it, vi } from "vitest";
import { QmpDisconnectedError, QmpEventHub, QmpTimeoutError, type QmpEvent } from "../../lib/qmp";

function ev(event: string, data: Record<string, unknown> = {}, us = 0): QmpEvent {
  return { event, data, timestamp: { seconds: 1, microseconds: us }, timeUs: 1_000_000 + us };
}

describe("QmpEventHub", () => {
  it("delivers in wire order to name, list and '*' listeners; unsubscribe is idempotent", () => {
    const hub = new QmpEventHub();
    const seen: string[] = [];
    const off1 = hub.on("STOP", (e) => seen.push(`stop:${e.event}`));
    const off2 = hub.on(["STOP", "RESUME"], (e) => seen.push(`list:${e.event}`));
    const off3 = hub.on("*", (e) => seen.push(`all:${e.event}`));
    hub.dispatch(ev("STOP"));
    hub.dispatch(ev("RESUME"));
    hub.dispatch(ev("MIGRATION", { status: "setup" }));
    expect(seen).toEqual(["stop:STOP", "list:STOP", "all:STOP", "list:RESUME", "all:RESUME", "all:MIGRATION"]);
    off1();
    off1();
    off2();
    off3();
    expect(hub.listenerCount()).toBe(0);
  });

  it("a listener that throws does not stop the others; the error is logged", () => {
    const logged: unknown[] = [];
    const log = { debug() {}, info() {}, warn() {}, error: (o: Record<string, unknown>) => logged.push(o.err) };
    const hub = new QmpEventHub(log);
    const seen: string[] = [];
    hub.on("STOP", () => {
      throw new Error("boom");
    });
    hub.on("STOP", (e) => seen.push(e.event));
    hub.dispatch(ev("STOP"));
    expect(seen).toEqual(["STOP"]);
    expect((logged[0] as Error).message).toBe("boom");
  });

  it("waitFor with a predicate resolves on the first match and unregisters", async () => {
    const hub = new QmpEventHub();
    const p = hub.waitFor("MIGRATION", { predicate: (e) => e.data.status === "completed" });
    expect(hub.listenerCount()).toBe(1);
    hub.dispatch(ev("MIGRATION", { status: "active" }));
    hub.dispatch(ev("MIGRATION", { status: "completed" }, 7));
    expect((await p).timestamp.microseconds).toBe(7);
    expect(hub.listenerCount()).toBe(0);
  });

  it("a throwing predicate rejects that waiter only", async () => {
    const hub = new QmpEventHub();
    const bad = hub.waitFor("X", {
      predicate: () => {
        throw new Error("bad predicate");
      },
    });
    const good = hub.waitFor("X");
    hub.dispatch(ev("X"));
    await expect(bad).rejects.toThrow("bad predicate");
    expect((await good).event).toBe("X");
  });

  it("timeout and abort reject and unregister", async () => {
    const hub = new QmpEventHub();
    await expect(hub.waitFor("NEVER", { timeoutMs: 5 })).rejects.toBeInstanceOf(QmpTimeoutError);
    const ac = new AbortController();
    const p = hub.waitFor("NEVER", { signal: ac.signal });
    ac.abort(new Error("cancelled"));
    await expect(p).rejects.toThrow("cancelled");
    await expect(hub.waitFor("NEVER", { signal: AbortSignal.abort(new Error("already")) })).rejects.toThrow("already");
    expect(hub.listenerCount()).toBe(0);
  });

  it("an unawaited waiter that later rejects does not become an unhandled rejection", async () => {
    const hub = new QmpEventHub();
    const unhandled: unknown[] = [];
    const onUnhandled = (r: unknown) => unhandled.push(r);
    process.on("unhandledRejection", onUnhandled);
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      void hub.waitFor("NEVER", { timeoutMs: 1 }); // deliberately not awaited
      vi.advanceTimersByTime(1);
      // Node reports unhandled rejections after the microtask queue drains: one macrotask suffices.
      await new Promise((r) => setImmediate(r));
      expect(unhandled).toEqual([]);
      expect(hub.listenerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
      process.off("unhandledRejection", onUnhandled);
    }
  });

  it("end() rejects waiters with the reason, drops listeners, and ignores later events", async () => {
    const hub = new QmpEventHub();
    const seen: string[] = [];
    hub.on("*", (e) => seen.push(e.event));
    const w = hub.waitFor("STOP", { timeoutMs: 10_000 });
    const reason = new QmpDisconnectedError("peer closed the connection");
    hub.end(reason);
    await expect(w).rejects.toBe(reason);
    expect(hub.listenerCount()).toBe(0);
    hub.dispatch(ev("STOP"));
    expect(seen).toEqual([]);
    await expect(hub.waitFor("STOP")).rejects.toBe(reason);
    expect(hub.on("STOP", () => {})).toBeTypeOf("function");
    expect(hub.listenerCount()).toBe(0);
  });

  it("keeps a bounded history", () => {
    const hub = new QmpEventHub(undefined, 3);
    for (let i = 0; i < 5; i++) hub.dispatch(ev(`E${i}`));
    expect(hub.history.map((e) => e.event)).toEqual(["E2", "E3", "E4"]);
  });
});

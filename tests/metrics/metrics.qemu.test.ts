// GET /metrics as Prometheus scrapes it: the real gate (lib/server/gated-server.ts) in front of the real
// route (app/metrics/route.ts), real PostgreSQL, a real guest VM snapshotted through the job path (the
// API route, the pg-boss queue, the snapshot worker), and every answer parsed by the Prometheus
// client's own text-format parser (tests/support/prometheus-text.ts), never matched with a regex.
// Proves: no token → 401, a viewer's API token → 200 in text format 0.0.4; the completed snapshot is
// counted with its mode and lands in the duration, guest-pause and size histograms (with the figures the
// snapshot row recorded); the host's running-jobs series says 1 while the snapshot streams and 0 after;
// the QMP session and monitor-ownership series of the host; scheduler lateness, retention deletions and
// restore outcomes read from their rows; the loopback metrics port answers without a token but only to
// loopback Host names.
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as metricsRoute from "../../app/metrics/route";
import { POST as createSnapshotRoute } from "../../app/api/vms/[id]/snapshots/route";
import { createApiToken } from "../../lib/auth/store";
import { db } from "../../lib/db/client";
import { closeAllVmSessions } from "../../lib/fleet/sessions";
import { startBoss, stopBoss } from "../../lib/jobs/boss";
import { createLogger } from "../../lib/logger";
import { createMetricsServer } from "../../lib/metrics/loopback-server";
import type { SnapshotJson } from "../../lib/snapshots/snapshot-json";
import type { SnapshotStatusName } from "../../lib/snapshots/state-machine";
import { startSnapshotWorker } from "../../lib/snapshots/worker";
import { useTestDatabase } from "../support/db";
import { startGuestKitVm } from "../support/guest-kit";
import { seedLocalHost } from "../support/local-host";
import { disposeAllVms, type TestVm } from "../support/qemu";
import {
  parsePrometheusText,
  promHistogram,
  promSample,
  type PromFamily,
  type PromHistogram,
} from "../support/prometheus-text";
import { rawRequest, startTestGate, writeResponse } from "../support/gate-server";
import { settledSnapshot } from "../support/snapshot-jobs";

const database = useTestDatabase();
const log = createLogger(undefined, "silent");

let root: string;
let vm: TestVm;
let vmId: string;
let hostId: string;
let server: Server;
let port: number;
let viewerToken: string;
let stopWorker: () => Promise<void>;
/** What the worker does after persisting a status; the snapshot test scrapes while `active`. */
let afterStatus: (status: SnapshotStatusName) => Promise<void> = async () => {};

/** Next's stand-in behind the gate: the real /metrics route; nothing else is served here. */
async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const pathname = new URL(req.url ?? "/", "http://localhost").pathname;
  if (pathname !== "/metrics") {
    res.writeHead(404).end();
    return;
  }
  await writeResponse(res, await metricsRoute.GET());
}

const get = (p: number, urlPath: string, headers: Record<string, string> = {}) =>
  rawRequest(p, "GET", urlPath, { headers });

/** A scrape as Prometheus makes it with `authorization: { credentials_file: … }`, parsed. */
async function scrape(): Promise<PromFamily[]> {
  const a = await get(port, "/metrics", { authorization: `Bearer ${viewerToken}` });
  expect(a.status, a.body).toBe(200);
  return parsePrometheusText(a.body);
}

function family(families: PromFamily[], name: string): PromFamily {
  const f = families.find((x) => x.name === name);
  expect(f, `metric family ${name}`).toBeDefined();
  return f!;
}

const value = (families: PromFamily[], sample: string, labels: Record<string, string> = {}) =>
  promSample(families, sample, labels).value;

/** A histogram series, checked to be one: cumulative buckets never decrease and the +Inf one is the count. */
function histogramOf(families: PromFamily[], name: string, labels: Record<string, string> = {}): PromHistogram {
  expect(family(families, name).type).toBe("histogram");
  const h = promHistogram(families, name, labels);
  expect(h.buckets.length).toBeGreaterThan(1);
  for (let i = 1; i < h.buckets.length; i++) expect(h.buckets[i]![1]).toBeGreaterThanOrEqual(h.buckets[i - 1]![1]);
  expect(h.buckets.at(-1)).toEqual([Infinity, h.count]);
  return h;
}

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), "snapfleet-metrics-"));
  vm = await startGuestKitVm({ name: "mx", memoryMiB: 160, dirtyMiB: 16 });
  const seeded = await seedLocalHost(root, [vm]);
  hostId = seeded.host.id;
  vmId = seeded.vms[0]!.id;
  await startBoss(database.current.url, log);
  stopWorker = await startSnapshotWorker({ log, pollIntervalMs: 250, afterStatus: (status) => afterStatus(status) });
  viewerToken = (await createApiToken({ name: "prometheus", role: "viewer", expiresAt: null, createdBy: null })).token;
  ({ server, port } = await startTestGate({ handle, upgradeWs: (_req, socket) => socket.destroy(), log }));
});

afterAll(async () => {
  await stopWorker?.();
  await stopBoss();
  await closeAllVmSessions();
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  await disposeAllVms();
  await rm(root, { recursive: true, force: true });
});

describe("GET /metrics behind the gate", () => {
  test("without a token → 401 (JSON, no login redirect); a wrong token → 401; a viewer's API token → 200, text format 0.0.4", async () => {
    for (const p of ["/metrics", "/metrics/"]) {
      const anonymous = await get(port, p);
      expect(anonymous.status).toBe(401);
      expect(JSON.parse(anonymous.body)).toEqual({ error: "log in first" });
    }
    expect((await get(port, "/metrics", { authorization: "Bearer sft_not-a-real-token" })).status).toBe(401);

    const ok = await get(port, "/metrics", { authorization: `Bearer ${viewerToken}` });
    expect(ok.status).toBe(200);
    expect(ok.headers["content-type"]).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(ok.headers["cache-control"]).toBe("no-store");
    const families = await parsePrometheusText(ok.body);
    // Every snapfleet family says what it is; counters' samples end in _total.
    const ours = families.filter((f) => f.name.startsWith("snapfleet_"));
    expect(ours.length).toBeGreaterThanOrEqual(15);
    for (const f of ours) {
      expect(f.help, f.name).not.toBe("");
      if (f.type === "counter") for (const s of f.samples) expect(s.name).toBe(`${f.name}_total`);
    }
    // Nothing happened yet, and the series exist already (0), so rate() and alerts see them.
    expect(value(families, "snapfleet_snapshots_total", { status: "completed", mode: "live" })).toBe(0);
    expect(histogramOf(families, "snapfleet_snapshot_duration_seconds", { mode: "live" }).count).toBe(0);
    expect(value(families, "snapfleet_jobs_running", { host: "local", kind: "snapshot" })).toBe(0);
    // prom-client's default process metrics of the answering process.
    expect(family(families, "process_cpu_user_seconds").type).toBe("counter");
    expect(family(families, "nodejs_eventloop_lag_seconds").type).toBe("gauge");
  });

  test("a real snapshot through the job path: counted with its mode, in the duration, pause and size histograms; running 1 while it streams", async () => {
    let whileActive: PromFamily[] | undefined;
    afterStatus = async (status) => {
      if (status === "active") whileActive = await scrape();
    };
    const res = await createSnapshotRoute(
      new Request(`http://test/api/vms/${vmId}/snapshots`, { method: "POST", body: JSON.stringify({ mode: "live" }) }),
      { params: Promise.resolve({ id: vmId }) },
    );
    expect(res.status).toBe(202);
    const { snapshot } = (await res.json()) as { snapshot: SnapshotJson };
    const done = await settledSnapshot(snapshot.id);
    afterStatus = async () => {};
    expect(done.status, done.error?.message).toBe("completed");

    expect(whileActive, "a scrape while the snapshot was active").toBeDefined();
    expect(value(whileActive!, "snapfleet_jobs_running", { host: "local", kind: "snapshot" })).toBe(1);
    expect(value(whileActive!, "snapfleet_snapshots_total", { status: "completed", mode: "live" })).toBe(0);

    const after = await scrape();
    expect(value(after, "snapfleet_snapshots_total", { status: "completed", mode: "live" })).toBe(1);
    expect(value(after, "snapfleet_snapshots_total", { status: "completed", mode: "disks-only" })).toBe(0);
    expect(value(after, "snapfleet_snapshots_total", { status: "failed", mode: "live" })).toBe(0);

    const duration = histogramOf(after, "snapfleet_snapshot_duration_seconds", { mode: "live" });
    expect(duration.count).toBe(1);
    expect(duration.sum).toBeCloseTo(done.totalMs! / 1000, 3);
    const pause = histogramOf(after, "snapfleet_snapshot_guest_pause_seconds", { mode: "live" });
    expect(pause.count).toBe(1);
    expect(pause.sum).toBeCloseTo(done.guestPauseMs! / 1000, 6);
    const size = histogramOf(after, "snapfleet_snapshot_size_bytes", { mode: "live" });
    expect(size.count).toBe(1);
    expect(size.sum).toBe(done.sizeBytes);
    expect(size.sum).toBeGreaterThan(0);
    // The snapshot sits in the first bucket whose bound holds it, and in every bucket above.
    for (const [le, n] of size.buckets) expect(n).toBe(le >= done.sizeBytes! ? 1 : 0);

    // Per host: nothing queued or running any more; the VM's monitor is owned, its session open here.
    expect(value(after, "snapfleet_jobs_running", { host: "local", kind: "snapshot" })).toBe(0);
    expect(value(after, "snapfleet_jobs_queued", { host: "local", kind: "snapshot" })).toBe(0);
    expect(value(after, "snapfleet_jobs_running", { host: "local", kind: "verify" })).toBe(0);
    expect(value(after, "snapfleet_qmp_sessions_open", { host: "local" })).toBe(1);
    expect(value(after, "snapfleet_vm_monitors_owned", { host: "local" })).toBe(1);
    expect(value(after, "snapfleet_vms", { host: "local", state: "running" })).toBe(1);
    expect(value(after, "snapfleet_vms", { host: "local", state: "unreachable" })).toBe(0);
  });

  test("scheduler lateness and overdue schedules, retention deletions and restore outcomes and host health are read from their rows", async () => {
    const snap = await db().snapshot.findFirstOrThrow({ where: { vmId, status: "completed" } });
    const due = new Date(Date.now() - 3600_000);
    const schedule = await db().schedule.create({
      data: {
        name: "hourly",
        cron: "0 * * * *",
        targets: { vmIds: [vmId] },
        nextRunAt: new Date(Date.now() - 600_000),
      },
    });
    await db().scheduleRun.createMany({
      data: [
        // Fired 2.5 s after it was due: the scheduler's lateness.
        {
          scheduleId: schedule.id,
          scheduledFor: due,
          firedAt: new Date(due.getTime() + 2_500),
          trigger: "scheduled",
          status: "succeeded",
          finishedAt: new Date(),
        },
        // A catch-up run after downtime is late by design: not part of the lateness histogram.
        {
          scheduleId: schedule.id,
          scheduledFor: new Date(due.getTime() - 86_400_000),
          firedAt: due,
          trigger: "catch_up",
          status: "partial",
          finishedAt: new Date(),
        },
      ],
    });
    await db().schedulePrune.create({
      data: { scheduleId: schedule.id, snapshotId: snap.id, vmId, reason: "beyond keepLast 0" },
    });
    await db().host.update({ where: { id: hostId }, data: { healthy: true } });
    await db().restore.create({
      data: {
        kind: "verify",
        vmId,
        hostId,
        snapshotId: snap.id,
        status: "failed",
        errorClass: "qemu",
        errorMessage: "vmstate refused",
      },
    });

    const families = await scrape();
    const lateness = histogramOf(families, "snapfleet_schedule_lateness_seconds");
    expect(lateness.count).toBe(1);
    expect(lateness.sum).toBeCloseTo(2.5, 3);
    expect(lateness.buckets.find(([le]) => le === 2)![1]).toBe(0);
    expect(lateness.buckets.find(([le]) => le === 5)![1]).toBe(1);
    expect(value(families, "snapfleet_schedule_runs_total", { trigger: "scheduled", status: "succeeded" })).toBe(1);
    expect(value(families, "snapfleet_schedule_runs_total", { trigger: "catch_up", status: "partial" })).toBe(1);
    expect(value(families, "snapfleet_schedules_overdue")).toBe(1);
    expect(value(families, "snapfleet_schedule_overdue_seconds")).toBeGreaterThanOrEqual(600);
    expect(value(families, "snapfleet_retention_deletions_total")).toBe(1);
    expect(value(families, "snapfleet_restores_total", { kind: "verify", status: "failed" })).toBe(1);
    expect(value(families, "snapfleet_restores_total", { kind: "rollback", status: "completed" })).toBe(0);
    expect(value(families, "snapfleet_host_up", { host: "local", kind: "local" })).toBe(1);
  });
});

describe("the loopback metrics port (SNAPFLEET_METRICS_PORT)", () => {
  test("answers /metrics without a token, only to loopback Host names, and nothing else", async () => {
    const loopback = createMetricsServer(log);
    await new Promise<void>((r) => loopback.listen(0, "127.0.0.1", r));
    const p = (loopback.address() as AddressInfo).port;
    try {
      const ok = await get(p, "/metrics");
      expect(ok.status).toBe(200);
      expect(ok.headers["content-type"]).toBe("text/plain; version=0.0.4; charset=utf-8");
      // The same fleet figures as through the gate.
      const [direct, viaGate] = [await parsePrometheusText(ok.body), await scrape()];
      for (const labels of [
        { status: "completed", mode: "live" },
        { status: "failed", mode: "disks-only" },
      ]) {
        expect(value(direct, "snapfleet_snapshots_total", labels)).toBe(
          value(viaGate, "snapfleet_snapshots_total", labels),
        );
      }
      expect(direct.filter((f) => f.name.startsWith("snapfleet_")).map((f) => f.name)).toEqual(
        viaGate.filter((f) => f.name.startsWith("snapfleet_")).map((f) => f.name),
      );
      // A page whose DNS name was rebound to 127.0.0.1 carries its own name in Host.
      const rebound = await get(p, "/metrics", { host: `rebind.evil.example:${p}` });
      expect(rebound.status).toBe(400);
      expect(JSON.parse(rebound.body).error).toMatch(/localhost/);
      expect((await get(p, "/api/vms")).status).toBe(404);
    } finally {
      await new Promise((r) => loopback.close(r));
    }
  });
});

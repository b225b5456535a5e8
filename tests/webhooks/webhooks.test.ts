// Webhooks end to end below the browser, against real PostgreSQL, the real pg-boss queue and worker, and
// a real HTTP receiver (tests/support/webhook-receiver.ts) that checks every signature the documented
// way: registering through the route handlers (bad URLs refused with the reason, the secret shown once),
// events sent from their real emission points (a snapshot ending completed / failed, a restore ending, a
// schedule reaching its failure threshold, a host turning unreachable, a VM marked frozen), a receiver
// answering 500 then 200 (retried, both attempts logged), a delivery whose queue job was lost, receivers
// that are down or never answer (the emitting call does not wait; every attempt logged failed with the
// reason), "Send test", secret rotation, disabling and deleting.
import { randomUUID } from "node:crypto";
import net from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { GET as deliveriesRoute } from "../../app/api/webhooks/[id]/deliveries/route";
import { DELETE as deleteRoute, PATCH as patchRoute } from "../../app/api/webhooks/[id]/route";
import { POST as testRoute } from "../../app/api/webhooks/[id]/test/route";
import { GET as listRoute, POST as createRoute } from "../../app/api/webhooks/route";
import { db } from "../../lib/db/client";
import { discoverHost } from "../../lib/fleet/discovery";
import { requireBoss, startBoss, stopBoss, WEBHOOK_DELIVERY_QUEUE } from "../../lib/jobs/boss";
import { logger } from "../../lib/logger";
import { transitionRestore } from "../../lib/restore/jobs";
import { finalizeRuns } from "../../lib/scheduler/finalize";
import { finishJob } from "../../lib/snapshots/execute-job";
import { markVmFrozen } from "../../lib/snapshots/guest-attention";
import { transitionSnapshot } from "../../lib/snapshots/jobs";
import { DEFAULT_RETRY, requeueLostDeliveries, retryDelayMs, startWebhookWorker } from "../../lib/webhooks/deliver";
import {
  webhookCreatedJsonSchema,
  webhookDeliveryListJsonSchema,
  webhookListJsonSchema,
  type WebhookDeliveryJson,
  type WebhookJson,
} from "../../lib/webhooks/webhook-json";
import { useTestDatabase } from "../support/db";
import { freeTcpPort } from "../support/ports";
import { until } from "../support/wait";
import { startWebhookReceiver, type WebhookReceiver } from "../support/webhook-receiver";

const database = useTestDatabase();
const log = logger.child({ test: "webhooks" });
log.level = "warn";

/** Short timeouts and backoff so retries happen within the test: 3 attempts, 200 ms then 400 ms apart. */
const TIMEOUT_MS = 2000;
const RETRY = { maxAttempts: 3, baseDelayMs: 200, factor: 2 };

let receiver: WebhookReceiver;
let stopWorker: () => Promise<void>;
let hostId: string;
let vmId: string;
const silentServers: net.Server[] = [];

beforeAll(async () => {
  await startBoss(database.current.url, log);
  stopWorker = await startWebhookWorker({ log, timeoutMs: TIMEOUT_MS, retry: RETRY });
  receiver = await startWebhookReceiver();
  const host = await db().host.create({
    data: { name: "alpha", kind: "local", socketDir: "/tmp", snapshotDir: "/tmp", healthy: true },
  });
  hostId = host.id;
  vmId = (
    await db().vm.create({ data: { hostId, name: "web-1", endpoint: `/tmp/${randomUUID()}.sock`, state: "running" } })
  ).id;
});

afterAll(async () => {
  await stopWorker?.();
  await stopBoss();
  await receiver?.close();
  for (const s of silentServers) {
    s.close();
  }
});

// Each test registers its own hooks: none of them may catch another test's events.
afterEach(async () => {
  await db().webhook.deleteMany({});
});

const ctx = (id: string) => ({ params: Promise.resolve({ id }) });
const post = (body: unknown) =>
  createRoute(new Request("http://x/api/webhooks", { method: "POST", body: JSON.stringify(body) }));

async function register(
  path: string,
  events: string[],
  statuses?: number[],
): Promise<{ webhook: WebhookJson; secret: string }> {
  const res = await post({ url: receiver.url(path), events });
  expect(res.status).toBe(201);
  // The answers match the schemas the OpenAPI document publishes for them.
  const created = webhookCreatedJsonSchema.parse(await res.json());
  receiver.expect(path, { secret: created.secret, statuses });
  return created;
}

async function deliveries(hookId: string): Promise<WebhookDeliveryJson[]> {
  const res = await deliveriesRoute(new Request(`http://x/api/webhooks/${hookId}/deliveries`), ctx(hookId));
  expect(res.status).toBe(200);
  return webhookDeliveryListJsonSchema.parse(await res.json()).deliveries;
}

/** Waits until every delivery of the hook has ended (succeeded or failed) and there are `count` of them. */
function settled(hookId: string, count: number, timeoutMs = 30_000): Promise<WebhookDeliveryJson[]> {
  return until(
    async () => {
      const ds = await deliveries(hookId);
      return ds.length === count && ds.every((d) => d.status === "succeeded" || d.status === "failed") ? ds : undefined;
    },
    `${count} settled deliveries of webhook ${hookId}`,
    timeoutMs,
  );
}

async function activeSnapshot(): Promise<string> {
  const s = await db().snapshot.create({ data: { vmId, hostId, status: "active", startedAt: new Date() } });
  return s.id;
}

describe("webhooks", () => {
  it("refuses bad registrations with a message saying what to fix, and never lists the secret", async () => {
    const cases: Array<[unknown, number, RegExp]> = [
      [
        { url: "ftp://files.example.org/in", events: ["snapshot.failed"] },
        422,
        /must start with http:\/\/ or https:\/\/ \(not ftp:\)/,
      ],
      [{ url: "file:///etc/passwd", events: ["snapshot.failed"] }, 422, /http:\/\/ or https:\/\//],
      [
        { url: "https://user:pw@hooks.example.org/x", events: ["snapshot.failed"] },
        422,
        /must not contain a user name or password/,
      ],
      [{ url: "not a url", events: ["snapshot.failed"] }, 422, /is not an absolute URL/],
      [{ url: "https://hooks.example.org/x", events: [] }, 400, /events: choose at least one event/],
      [
        { url: "https://hooks.example.org/x", events: ["snapshot.exploded"] },
        400,
        /each event must be one of snapshot\.completed/,
      ],
      [{ events: ["snapshot.failed"] }, 400, /url/],
    ];
    for (const [body, status, message] of cases) {
      const res = await post(body);
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect((await res.json()).error).toMatch(message);
    }
    expect(await db().webhook.count()).toBe(0);

    const { webhook, secret } = await register("/listed", ["snapshot.completed"]);
    expect(secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    const listed = await (await listRoute()).text();
    expect(listed).toContain(webhook.id);
    expect(listed).not.toContain(secret);
    expect(webhookListJsonSchema.parse(JSON.parse(listed)).webhooks[0]).toMatchObject({
      url: receiver.url("/listed"),
      events: ["snapshot.completed"],
      enabled: true,
      lastDelivery: null,
    });
  });

  it("sends snapshot.completed and snapshot.failed from the snapshot state machine, signed", async () => {
    const { webhook } = await register("/snapshots", ["snapshot.completed", "snapshot.failed"]);
    const done = await activeSnapshot();
    await finishJob(done, { status: "completed", metrics: { guestPauseMs: 4.2, sizeBytes: 1234 } });
    const failed = await activeSnapshot();
    await finishJob(failed, {
      status: "failed",
      error: { errorClass: "target-write", message: "writing the vmstate failed: no space left on device" },
    });
    // A transition that is not an end sends nothing.
    const other = await db().snapshot.create({ data: { vmId, hostId, status: "queued" } });
    await transitionSnapshot(other.id, "preflight");

    const ds = await settled(webhook.id, 2);
    expect(ds.map((d) => [d.event, d.status, d.httpStatus, d.attempt]).sort()).toEqual([
      ["snapshot.completed", "succeeded", 200, 1],
      ["snapshot.failed", "succeeded", 200, 1],
    ]);
    const got = receiver.received("/snapshots");
    expect(got).toHaveLength(2);
    for (const r of got) {
      expect(r.signatureError).toBeNull();
      const body = JSON.parse(r.body);
      expect(body.type).toBe(r.event);
      expect(ds.map((d) => d.id)).toContain(r.delivery);
    }
    const completed = JSON.parse(got.find((r) => r.event === "snapshot.completed")!.body);
    expect(completed.data.snapshot).toMatchObject({
      id: done,
      vmName: "web-1",
      hostName: "alpha",
      status: "completed",
      guestPauseMs: 4.2,
    });
    const failure = JSON.parse(got.find((r) => r.event === "snapshot.failed")!.body);
    expect(failure.data.snapshot).toMatchObject({ id: failed, status: "failed" });
    expect(JSON.stringify(failure.data.snapshot)).toContain("no space left on device");
  });

  it("retries 6 times in all by default, at once then after 15 s, 1 min, 4 min, 16 min and 64 min (docs/webhooks.md)", () => {
    expect(DEFAULT_RETRY.maxAttempts).toBe(6);
    expect([1, 2, 3, 4, 5].map((failed) => retryDelayMs(failed, DEFAULT_RETRY) / 1000)).toEqual([
      15, 60, 240, 960, 3840,
    ]);
  });

  it("retries a receiver that answered 500, and logs both attempts", async () => {
    const { webhook } = await register("/flaky", ["snapshot.completed"], [500, 200]);
    await finishJob(await activeSnapshot(), { status: "completed" });
    const [d] = await settled(webhook.id, 1);
    expect(d).toMatchObject({ status: "succeeded", attempt: 2, httpStatus: 200, error: null, nextAttemptAt: null });
    expect(d!.attempts.map((a) => [a.attempt, a.httpStatus, a.error])).toEqual([
      [1, 500, "the receiver answered HTTP 500"],
      [2, 200, null],
    ]);
    // The second attempt came after the backoff, not at once.
    expect(Date.parse(d!.attempts[1]!.at) - Date.parse(d!.attempts[0]!.at)).toBeGreaterThanOrEqual(RETRY.baseDelayMs);
    const got = receiver.received("/flaky");
    expect(got.map((r) => r.delivery)).toEqual([d!.id, d!.id]);
    expect(got.every((r) => r.signatureValid)).toBe(true);
  });

  it("re-queues a waiting delivery whose queue job was lost, once", async () => {
    const { webhook } = await register("/lost", ["snapshot.completed"]);
    // As a worker that died mid-attempt leaves it: the row waits, its job is gone.
    const lost = await db().webhookDelivery.create({
      data: {
        webhookId: webhook.id,
        event: "snapshot.completed",
        payload: JSON.stringify({
          id: randomUUID(),
          type: "snapshot.completed",
          createdAt: new Date().toISOString(),
          data: {},
        }),
      },
    });
    expect(await requeueLostDeliveries({ graceMs: 60_000 })).toBe(0); // not overdue yet
    expect(await requeueLostDeliveries({ graceMs: 0, now: new Date(Date.now() + 1000) })).toBe(1);
    // Swept again: this delivery keeps its one job (other tests' deliveries may be between attempts, so the
    // sweep's total is not this test's to assert).
    await requeueLostDeliveries({ graceMs: 0, now: new Date(Date.now() + 1000) });
    expect(await requireBoss().findJobs(WEBHOOK_DELIVERY_QUEUE, { data: { deliveryId: lost.id } })).toHaveLength(1);
    const [d] = await settled(webhook.id, 1);
    expect(d).toMatchObject({ id: lost.id, status: "succeeded", attempt: 1, httpStatus: 200 });
    expect(receiver.received("/lost").map((r) => [r.delivery, r.signatureValid])).toEqual([[lost.id, true]]);
  });

  it("does not make the emitting call wait for receivers that are down or never answer; logs every failed attempt", async () => {
    const closedPort = await freeTcpPort();
    // A receiver that accepts the connection and never answers.
    const silent = net.createServer(() => {});
    silentServers.push(silent);
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const silentPort = (silent.address() as net.AddressInfo).port;
    const refused = await (
      await post({ url: `http://127.0.0.1:${closedPort}/hook`, events: ["snapshot.failed"] })
    ).json();
    const hanging = await (
      await post({ url: `http://127.0.0.1:${silentPort}/hook`, events: ["snapshot.failed"] })
    ).json();

    const id = await activeSnapshot();
    const started = performance.now();
    const json = await finishJob(id, {
      status: "failed",
      error: { errorClass: "migration-failed", message: "QEMU reported the migration failed" },
    });
    const elapsedMs = performance.now() - started;
    expect(json.status).toBe("failed");
    log.warn({ elapsedMs: Math.round(elapsedMs * 10) / 10 }, "finishJob with two dead receivers subscribed");
    // The call recorded and queued two deliveries; it did not wait for the hanging receiver (that takes TIMEOUT_MS).
    expect(elapsedMs).toBeLessThan(TIMEOUT_MS);
    expect(await db().webhookDelivery.count({ where: { status: { in: ["pending", "retrying"] } } })).toBe(2);

    const [r] = await settled(refused.webhook.id, 1);
    expect(r).toMatchObject({ status: "failed", attempt: RETRY.maxAttempts, httpStatus: null, nextAttemptAt: null });
    expect(r!.attempts).toHaveLength(RETRY.maxAttempts);
    for (const a of r!.attempts) expect(a.error).toMatch(/could not reach the receiver: .*ECONNREFUSED/);

    const [h] = await settled(hanging.webhook.id, 1, 60_000);
    expect(h).toMatchObject({ status: "failed", attempt: RETRY.maxAttempts, httpStatus: null });
    for (const a of h!.attempts) {
      expect(a.error).toBe(`no answer within ${TIMEOUT_MS / 1000} s`);
      expect(a.durationMs).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
    }
  }, 90_000);

  it("sends restore, schedule, host and VM events from where they happen", async () => {
    const { webhook } = await register("/ops", [
      "restore.completed",
      "schedule.flagged",
      "host.unreachable",
      "vm.frozen",
    ]);
    // A verification ending.
    const snapshotId = await activeSnapshot();
    const restore = await db().restore.create({ data: { kind: "verify", vmId, hostId, snapshotId, status: "active" } });
    await transitionRestore(restore.id, "completed");
    // A schedule whose run failed, with a threshold of 1: flagged by this run.
    const schedule = await db().schedule.create({
      data: { name: "nightly", cron: "0 2 * * *", targets: { vmIds: [vmId] }, failureAlertThreshold: 1 },
    });
    const run = await db().scheduleRun.create({
      data: { scheduleId: schedule.id, scheduledFor: new Date(), trigger: "scheduled", firedAt: new Date() },
    });
    await db().scheduleRunItem.create({
      data: {
        runId: run.id,
        scheduleId: schedule.id,
        vmId,
        hostId,
        vmName: "web-1",
        status: "failed",
        notBefore: new Date(),
      },
    });
    await finalizeRuns({ now: new Date() });
    // A healthy host whose socket directory is gone.
    const gone = await db().host.create({
      data: {
        name: "beta",
        kind: "local",
        socketDir: `/tmp/snapfleet-no-such-dir-${randomUUID()}`,
        snapshotDir: "/tmp",
        healthy: true,
      },
    });
    await discoverHost(gone.id);
    await discoverHost(gone.id); // still down: not sent again
    // A guest frozen by a failed background snapshot.
    await markVmFrozen(vmId, snapshotId, "the migration failed on QEMU 7.2", log);

    const ds = await settled(webhook.id, 4);
    expect(ds.every((d) => d.status === "succeeded")).toBe(true);
    const bodies = Object.fromEntries(receiver.received("/ops").map((r) => [r.event, JSON.parse(r.body).data]));
    expect(Object.keys(bodies).sort()).toEqual([
      "host.unreachable",
      "restore.completed",
      "schedule.flagged",
      "vm.frozen",
    ]);
    expect(bodies["restore.completed"].restore).toMatchObject({ id: restore.id, kind: "verify", status: "completed" });
    expect(bodies["schedule.flagged"]).toMatchObject({
      schedule: { id: schedule.id, name: "nightly" },
      consecutiveFailures: 1,
      threshold: 1,
      run: { id: run.id, status: "failed" },
    });
    expect(bodies["host.unreachable"]).toMatchObject({ host: { id: gone.id, name: "beta", kind: "local" } });
    expect(bodies["host.unreachable"].error).toEqual(expect.any(String));
    expect(bodies["vm.frozen"]).toMatchObject({
      vm: { id: vmId, name: "web-1", hostId },
      snapshotId,
      reason: "the migration failed on QEMU 7.2",
    });
    expect(receiver.received("/ops").every((r) => r.signatureValid)).toBe(true);
  });

  it("sends a test ping now through the route, and says why when the receiver is down", async () => {
    const { webhook } = await register("/ping", ["vm.frozen"]);
    const res = await testRoute(
      new Request(`http://x/api/webhooks/${webhook.id}/test`, { method: "POST" }),
      ctx(webhook.id),
    );
    expect(res.status).toBe(200);
    const { delivery } = (await res.json()) as { delivery: WebhookDeliveryJson };
    expect(delivery).toMatchObject({ event: "ping", status: "succeeded", httpStatus: 200, attempt: 1 });
    const [got] = receiver.received("/ping");
    expect(got).toMatchObject({ event: "ping", delivery: delivery.id, signatureValid: true });
    expect(JSON.parse(got!.body)).toMatchObject({ type: "ping", data: { webhookId: webhook.id } });
    expect((await deliveries(webhook.id))[0]).toMatchObject({ id: delivery.id, status: "succeeded" });

    const down = await (await post({ url: `http://127.0.0.1:${await freeTcpPort()}/`, events: ["vm.frozen"] })).json();
    const res2 = await testRoute(new Request("http://x", { method: "POST" }), ctx(down.webhook.id));
    const failed = ((await res2.json()) as { delivery: WebhookDeliveryJson }).delivery;
    expect(failed).toMatchObject({ event: "ping", status: "failed", attempt: 1 });
    expect(failed.error).toMatch(/ECONNREFUSED/);

    const missing = await testRoute(new Request("http://x", { method: "POST" }), ctx(randomUUID()));
    expect(missing.status).toBe(404);
    const bad = await testRoute(new Request("http://x", { method: "POST" }), ctx("nope"));
    expect(bad.status).toBe(400);
    expect((await bad.json()).error).toBe("webhook id must be a UUID");
  });

  it("rotates the secret, stops sending while disabled, and deletes the hook with its log", async () => {
    const { webhook, secret } = await register("/lifecycle", ["snapshot.completed"]);
    const patch = (body: unknown) =>
      patchRoute(new Request("http://x", { method: "PATCH", body: JSON.stringify(body) }), ctx(webhook.id));

    const rotated = (await (await patch({ rotateSecret: true })).json()) as { webhook: WebhookJson; secret: string };
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(rotated.secret).not.toBe(secret);
    receiver.expect("/lifecycle", { secret: rotated.secret });
    await finishJob(await activeSnapshot(), { status: "completed" });
    await settled(webhook.id, 1);
    expect(receiver.received("/lifecycle").map((r) => r.signatureValid)).toEqual([true]);

    const disabled = await (await patch({ enabled: false })).text();
    expect(JSON.parse(disabled).webhook).toMatchObject({ enabled: false });
    expect(disabled).not.toContain("whsec_");
    await finishJob(await activeSnapshot(), { status: "completed" });
    expect(await deliveries(webhook.id)).toHaveLength(1);

    const badUrl = await patch({ url: "gopher://old.example.org/" });
    expect(badUrl.status).toBe(422);

    const del = await deleteRoute(new Request("http://x", { method: "DELETE" }), ctx(webhook.id));
    expect(del.status).toBe(204);
    expect(await db().webhookDelivery.count({ where: { webhookId: webhook.id } })).toBe(0);
    const after = await deliveriesRoute(new Request(`http://x/api/webhooks/${webhook.id}/deliveries`), ctx(webhook.id));
    expect(after.status).toBe(404);
  });
});

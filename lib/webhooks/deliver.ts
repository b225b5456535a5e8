// The webhook delivery worker: takes "webhook-delivery" jobs (one per attempt) from pg-boss, POSTs the
// delivery's JSON body to its hook's URL, signed (sign.ts), with a timeout, and logs the attempt on the
// delivery row. A failed attempt (no answer, a connection error, a non-2xx answer) is re-queued with
// exponential backoff (`startAfter`) until the attempts run out; "Send test" (sendTestDelivery) makes
// one attempt at once, through the same code.
// Invariants: the job handler never throws (pg-boss retries nothing: retries are ours, each one logged;
// a delivery whose job was lost — its worker died mid-attempt — is re-queued by a sweep);
// redirects are not followed and the receiver's answer body is never read or stored — only its status
// (a hook must not become a way to read internal services: docs/webhooks.md "Security"); the secret and
// the URL are not logged (a URL may itself carry a receiver's token): the hook and delivery ids are.
// A slow or dead receiver only occupies this queue's workers, never the snapshot path.
import { randomUUID } from "node:crypto";
import { fromPrisma } from "pg-boss";
import { logIgnored } from "../best-effort";
import { db } from "../db/client";
import type { Prisma } from "../db/generated/client";
import { NotFoundError } from "../errors";
import { requireBoss, WEBHOOK_DELIVERY_QUEUE, WORKER_POLLING, type WebhookDeliveryJobData } from "../jobs/boss";
import type { Logger } from "../logger";
import { envelopeBody } from "./emit";
import { PING_EVENT } from "./events";
import { toDeliveryJson } from "./hooks";
import { DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, signatureHeader } from "./sign";
import type { WebhookAttemptJson, WebhookDeliveryJson } from "./webhook-json";

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  maxAttempts: number;
  /** Wait after the first failed attempt; each further one waits `factor` times longer. */
  baseDelayMs: number;
  factor: number;
}

/** 6 attempts: at once, then after 15 s, 1 min, 4 min, 16 min and 64 min (~85 min in all). */
export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 6, baseDelayMs: 15_000, factor: 4 };
export const DEFAULT_TIMEOUT_MS = 10_000;
/** A waiting delivery overdue by this long is checked for a lost queue job (and the sweep's period). */
const LOST_GRACE_MS = 5 * 60_000;

export interface DeliveryOptions {
  log: Logger;
  /** One attempt's bound: connecting, sending and the answer's status line (default 10 s). */
  timeoutMs?: number;
  retry?: RetryPolicy;
}

/** The wait before attempt `failed + 1`, after `failed` failed attempts. */
export function retryDelayMs(failed: number, retry: RetryPolicy): number {
  return retry.baseDelayMs * retry.factor ** (failed - 1);
}

interface AttemptOutcome {
  httpStatus: number | null;
  error: string | null;
  durationMs: number;
}

function describeFetchError(err: unknown, timeoutMs: number): string {
  const e = err as Error & { cause?: Error & { code?: string } };
  if (e?.name === "TimeoutError" || e?.name === "AbortError") return `no answer within ${timeoutMs / 1000} s`;
  const cause = e?.cause;
  if (cause?.message) return `could not reach the receiver: ${cause.message}`;
  return `could not reach the receiver: ${e?.message ?? String(err)}`;
}

async function post(
  target: { url: string; secret: string },
  delivery: { id: string; event: string; payload: string },
  timeoutMs: number,
): Promise<AttemptOutcome> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  try {
    const res = await fetch(target.url, {
      method: "POST",
      redirect: "manual",
      signal: AbortSignal.timeout(timeoutMs),
      headers: {
        "content-type": "application/json",
        "user-agent": "Snapfleet-Webhooks/1",
        [EVENT_HEADER]: delivery.event,
        [DELIVERY_HEADER]: delivery.id,
        [SIGNATURE_HEADER]: signatureHeader(target.secret, delivery.payload, new Date()),
      },
      body: delivery.payload,
    });
    // The answer's body is not read (see the header): release the connection.
    await res.body?.cancel().catch(logIgnored("releasing the connection of a webhook answer that is not read"));
    if (res.ok) return { httpStatus: res.status, error: null, durationMs: elapsed() };
    const why =
      res.status >= 300 && res.status < 400
        ? `the receiver answered HTTP ${res.status} (a redirect: they are not followed — register the final URL)`
        : `the receiver answered HTTP ${res.status}`;
    return { httpStatus: res.status, error: why, durationMs: elapsed() };
  } catch (err) {
    return { httpStatus: null, error: describeFetchError(err, timeoutMs), durationMs: elapsed() };
  }
}

/**
 * Makes the next attempt of a delivery and records it; with `retry`, a failure is re-queued until the
 * policy's attempts run out. Resolves with the delivery as recorded, or null when there is nothing to do
 * (the hook was deleted, the delivery already ended, or another worker recorded this attempt first).
 */
async function attemptDelivery(
  deliveryId: string,
  opts: { timeoutMs: number; retry: RetryPolicy | null; evenIfDisabled?: boolean },
): Promise<WebhookDeliveryJson | null> {
  const d = await db().webhookDelivery.findUnique({
    where: { id: deliveryId },
    include: { webhook: { select: { url: true, secret: true, enabled: true } } },
  });
  if (!d || d.status === "succeeded" || d.status === "failed") return null;
  const attempt = d.attempt + 1;
  const outcome: AttemptOutcome =
    d.webhook.enabled || opts.evenIfDisabled
      ? await post(d.webhook, d, opts.timeoutMs)
      : { httpStatus: null, error: "the webhook was disabled before this attempt", durationMs: 0 };
  const now = new Date();
  const entry: WebhookAttemptJson = { attempt, at: now.toISOString(), ...outcome };
  const attempts = [...(Array.isArray(d.attempts) ? d.attempts : []), entry] as unknown as Prisma.InputJsonValue;
  const retryable =
    outcome.error !== null && d.webhook.enabled && opts.retry !== null && attempt < opts.retry.maxAttempts;
  const nextAttemptAt = retryable && opts.retry ? new Date(now.getTime() + retryDelayMs(attempt, opts.retry)) : null;
  const status = outcome.error === null ? "succeeded" : retryable ? "retrying" : "failed";
  return db().$transaction(async (tx) => {
    // Guarded on the attempt number: a duplicate job that raced this one records nothing and queues nothing.
    const { count } = await tx.webhookDelivery.updateMany({
      where: { id: d.id, attempt: d.attempt },
      data: { attempt, status, ...outcome, attempts, nextAttemptAt, finishedAt: status === "retrying" ? null : now },
    });
    if (count === 0) return null;
    if (nextAttemptAt) {
      const data: WebhookDeliveryJobData = { deliveryId: d.id };
      await requireBoss().send(WEBHOOK_DELIVERY_QUEUE, data, { startAfter: nextAttemptAt, db: fromPrisma(tx) });
    }
    return toDeliveryJson(await tx.webhookDelivery.findUniqueOrThrow({ where: { id: d.id } }));
  });
}

/**
 * "Send test": records a `ping` delivery for the hook (enabled or not) and makes one attempt now, with
 * no retry; resolves with the delivery as logged (its status says whether the receiver took it).
 */
export async function sendTestDelivery(webhookId: string): Promise<WebhookDeliveryJson> {
  const hook = await db().webhook.findUnique({ where: { id: webhookId }, select: { id: true } });
  if (!hook) throw new NotFoundError(`no webhook with id ${webhookId}`);
  const payload = envelopeBody({
    id: randomUUID(),
    type: PING_EVENT,
    createdAt: new Date().toISOString(),
    data: { webhookId, message: "a test delivery from Snapfleet: the signature and this body show the receiver works" },
  });
  const row = await db().webhookDelivery.create({ data: { webhookId, event: PING_EVENT, payload } });
  const done = await attemptDelivery(row.id, { timeoutMs: DEFAULT_TIMEOUT_MS, retry: null, evenIfDisabled: true });
  return done ?? toDeliveryJson(await db().webhookDelivery.findUniqueOrThrow({ where: { id: row.id } }));
}

/**
 * Re-queues deliveries still waiting (pending / retrying) whose queue job is gone — a worker that died
 * mid-attempt leaves its job to expire, and pg-boss retries none: without this, they would wait forever.
 * Only deliveries overdue by `graceMs` are looked at. Resolves with how many were re-queued.
 */
export async function requeueLostDeliveries(opts: { graceMs?: number; now?: Date } = {}): Promise<number> {
  const boss = requireBoss();
  const before = new Date((opts.now ?? new Date()).getTime() - (opts.graceMs ?? LOST_GRACE_MS));
  const waiting = await db().webhookDelivery.findMany({
    where: {
      status: { in: ["pending", "retrying"] },
      OR: [{ nextAttemptAt: { lt: before } }, { nextAttemptAt: null, createdAt: { lt: before } }],
    },
    select: { id: true },
    take: 500,
  });
  let requeued = 0;
  for (const { id } of waiting) {
    // Row lock first, then the job: an attempt records its outcome (under this lock) before pg-boss marks
    // its job completed, so a row still waiting here with no live job really lost it — read the other way
    // round, an attempt finishing in between would be queued a second time.
    const sent = await db().$transaction(async (tx) => {
      const [row] = await tx.$queryRaw<
        Array<{ status: string }>
      >`SELECT status::text AS status FROM "WebhookDelivery" WHERE id = ${id}::uuid FOR UPDATE`;
      if (!row || (row.status !== "pending" && row.status !== "retrying")) return false;
      const jobs = await boss.findJobs<WebhookDeliveryJobData>(WEBHOOK_DELIVERY_QUEUE, {
        data: { deliveryId: id },
        db: fromPrisma(tx),
      });
      if (jobs.some((j) => ["created", "retry", "active"].includes(j.state))) return false;
      await boss.send(WEBHOOK_DELIVERY_QUEUE, { deliveryId: id } satisfies WebhookDeliveryJobData, {
        db: fromPrisma(tx),
      });
      return true;
    });
    if (sent) requeued++;
  }
  return requeued;
}

/** Starts this process's delivery worker; resolves with its stop(). */
export async function startWebhookWorker(
  opts: DeliveryOptions & { concurrency?: number },
): Promise<() => Promise<void>> {
  const { log } = opts;
  const boss = requireBoss();
  const sweep = async () => {
    try {
      const n = await requeueLostDeliveries();
      if (n) log.warn({ requeued: n }, "re-queued webhook deliveries whose queue job was lost");
    } catch (err) {
      log.warn({ err }, "looking for lost webhook deliveries failed");
    }
  };
  await sweep();
  const timer = setInterval(() => void sweep(), LOST_GRACE_MS);
  timer.unref();
  const attemptOpts = { timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, retry: opts.retry ?? DEFAULT_RETRY };
  await boss.work<WebhookDeliveryJobData>(
    WEBHOOK_DELIVERY_QUEUE,
    // Several at once: a receiver that never answers holds one slot for its timeout, not the queue.
    { localConcurrency: opts.concurrency ?? 4, ...WORKER_POLLING },
    async ([job]) => {
      if (!job) return;
      try {
        const d = await attemptDelivery(job.data.deliveryId, attemptOpts);
        if (d && d.status !== "succeeded") {
          log.info(
            {
              delivery: d.id,
              webhook: d.webhookId,
              event: d.event,
              attempt: d.attempt,
              status: d.status,
              error: d.error,
            },
            "webhook delivery attempt failed",
          );
        }
      } catch (err) {
        log.error({ err, delivery: job.data.deliveryId }, "webhook delivery attempt could not be recorded");
      }
    },
  );
  return async () => {
    clearInterval(timer);
    await boss
      .offWork(WEBHOOK_DELIVERY_QUEUE, { wait: true })
      .catch((err) => log.warn({ err }, "stopping the webhook worker failed"));
  };
}

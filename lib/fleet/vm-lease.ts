// Monitor ownership across dashboard processes (DESIGN.md §5 "Monitor ownership"). QEMU's monitor
// serves one client, so when several processes share one database each VM has ONE owner: the process
// holding its row in "VmLease". Only the owner connects to the VM's monitor (sessions.ts asks here before
// connecting), and the VM's work — snapshot jobs, rollbacks, deletions, crash recovery — runs there:
// the workers route a job of a VM owned elsewhere back to the queue (it reaches the owner), a deletion
// asks an idle owner to hand the VM over.
// Invariants:
//  - a lease is taken atomically (one INSERT … ON CONFLICT) only when free, expired, already ours, or
//    held by a process of this machine that no longer exists; times are the database's (UTC), never
//    this machine's clock;
//  - the owner renews all its leases every RENEW_MS; a lease not renewed for LEASE_TTL_MS (a dead or
//    cut-off process) is free: a dead owner loses its VMs within ~6 s (at once on its own machine);
//  - a lease in use (holdVm: a job runs on the VM here) is never handed over on request; an idle one is,
//    the session closed BEFORE the row goes, so the next owner finds the monitor free, and this process
//    does not take the VM back for HANDOVER_GRACE_MS, so the claimer gets it;
//  - state is a process singleton: Next's route bundles and server.ts are one owner.
import { randomUUID } from "node:crypto";
import { readlinkSync } from "node:fs";
import os from "node:os";
import { PROCESS_ID } from "../config";
import { db } from "../db/client";
import { logger } from "../logger";
import { processSingleton } from "../process-singleton";
import { NotOwnerError } from "./errors";

export const LEASE_TTL_MS = 6_000;
export const RENEW_MS = 2_000;
const CLAIM_POLL_MS = 200;
/**
 * After handing a VM over, this process does not take it back for this long: the claimer polls every
 * CLAIM_POLL_MS, and this process's own sweeps (recovery, disk drift) asking for the VM right after the
 * hand-over must not win the free row back before it.
 */
const HANDOVER_GRACE_MS = 2 * RENEW_MS;

const log = logger.child({ component: "vm-lease" });

interface LeaseState {
  owner: string;
  machine: string;
  /** vmId → local time (ms) until which the lease is surely ours (renewed at, + TTL − margin). */
  held: Map<string, number>;
  /** vmId → jobs using the VM in this process (a release request waits for 0). */
  inUse: Map<string, number>;
  /** VMs being handed over right now: not ours to use any more. */
  releasing: Set<string>;
  timer?: NodeJS.Timeout;
  renewing?: Promise<void>;
  /** Closes this process's session of a VM (set by sessions.ts: no import cycle). */
  closeSession?: (vmId: string) => Promise<void>;
}

function machineId(): string {
  let ns: string;
  try {
    ns = readlinkSync("/proc/self/ns/pid");
  } catch {
    ns = "no-pid-ns";
  }
  return `${os.hostname()}|${ns}`;
}

function state(): LeaseState {
  return processSingleton<LeaseState>("__snapfleetVmLeases", () => ({
    owner: `${PROCESS_ID}:${randomUUID().slice(0, 8)}`,
    machine: machineId(),
    held: new Map(),
    inUse: new Map(),
    releasing: new Set(),
  }));
}

/** This process as a lease owner: "hostname:pid:bootid". */
export function leaseOwnerId(): string {
  return state().owner;
}

export function setLeaseSessionCloser(fn: (vmId: string) => Promise<void>): void {
  state().closeSession = fn;
}

const TTL_S = LEASE_TTL_MS / 1000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export type LeaseAnswer = { owned: true } | { owned: false; owner: string };

/** Takes or renews the VM's lease if it is free, expired, ours, or held by a dead process of this machine. */
export async function acquireVmLease(vmId: string): Promise<LeaseAnswer> {
  const s = state();
  if (s.releasing.has(vmId)) return { owned: false, owner: `${s.owner} (handing it over)` };
  const until = s.held.get(vmId);
  if (until !== undefined && until > Date.now()) return { owned: true };
  try {
    return await takeVmLease(vmId);
  } catch (err) {
    // The database away (restarting) while a job here uses the VM: nobody can take the lease meanwhile,
    // and the job's session stays this process's; the renewal catches up once the database answers.
    if (s.held.has(vmId) && s.inUse.get(vmId)) {
      log.warn(
        { err, vm: vmId },
        "could not renew the VM's lease (database away); a job here uses it, so it stays this process's",
      );
      return { owned: true };
    }
    throw err;
  }
}

async function takeVmLease(vmId: string): Promise<LeaseAnswer> {
  const s = state();
  for (let attempt = 0; attempt < 2; attempt++) {
    const started = Date.now();
    // `deadOwner`: the exact owner string of a holder we saw dead on this machine (compare-and-swap).
    const deadOwner = attempt === 0 ? "" : await deadLocalOwner(vmId);
    if (attempt === 1 && !deadOwner) break;
    const rows = await db().$queryRaw<Array<{ owner: string }>>`
      INSERT INTO "VmLease" ("vmId", "owner", "ownerMachine", "ownerPid", "acquiredAt", "expiresAt")
      VALUES (${vmId}::uuid, ${s.owner}, ${s.machine}, ${process.pid}, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC' + make_interval(secs => ${TTL_S}))
      ON CONFLICT ("vmId") DO UPDATE SET
        "owner" = EXCLUDED."owner", "ownerMachine" = EXCLUDED."ownerMachine", "ownerPid" = EXCLUDED."ownerPid",
        "acquiredAt" = CASE WHEN "VmLease"."owner" = EXCLUDED."owner" THEN "VmLease"."acquiredAt" ELSE EXCLUDED."acquiredAt" END,
        "releaseRequestedAt" = CASE WHEN "VmLease"."owner" = EXCLUDED."owner" THEN "VmLease"."releaseRequestedAt" ELSE NULL END,
        "expiresAt" = EXCLUDED."expiresAt"
      WHERE "VmLease"."owner" = EXCLUDED."owner" OR "VmLease"."expiresAt" < now() AT TIME ZONE 'UTC' OR "VmLease"."owner" = ${deadOwner}
      RETURNING "owner"`;
    if (rows.length) {
      const fresh = !s.held.has(vmId);
      s.held.set(vmId, started + LEASE_TTL_MS - 1_000);
      if (fresh) log.debug({ vm: vmId, owner: s.owner }, "took the VM's lease");
      ensureRenewal();
      return { owned: true };
    }
  }
  s.held.delete(vmId);
  const row = await db().vmLease.findUnique({ where: { vmId }, select: { owner: true } });
  // Gone between the two statements (released): the next call takes it.
  return { owned: false, owner: row?.owner ?? "nobody (just released)" };
}

/** The holder's owner string when it is a process of this machine that no longer exists. */
async function deadLocalOwner(vmId: string): Promise<string> {
  const row = await db().vmLease.findUnique({
    where: { vmId },
    select: { owner: true, ownerMachine: true, ownerPid: true },
  });
  if (!row || row.ownerMachine !== state().machine || row.ownerPid === process.pid || alive(row.ownerPid)) return "";
  log.info(
    { vm: vmId, owner: row.owner },
    "the VM's lease holder is a dead process of this machine: taking the VM over",
  );
  return row.owner;
}

/** The lease, or NotOwnerError naming the owner. */
export async function requireVmLease(vmId: string, vmName = vmId): Promise<void> {
  const r = await acquireVmLease(vmId);
  if (!r.owned) throw new NotOwnerError(vmId, r.owner, vmName);
}

/**
 * The lease, asking its owner to hand the VM over if it is busy elsewhere: an idle owner does so at its
 * next renewal (≤ RENEW_MS), a dead one loses it within LEASE_TTL_MS. NotOwnerError after `waitMs`.
 */
export async function claimVmLease(vmId: string, waitMs: number, vmName = vmId): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const r = await acquireVmLease(vmId);
    if (r.owned) return;
    if (Date.now() >= deadline) throw new NotOwnerError(vmId, r.owner, vmName);
    // Asked on every poll (a no-op while the request stands): an owner that took the VM anew meanwhile
    // (its row is a new one, without the request) is asked again.
    await db().$executeRaw`
      UPDATE "VmLease" SET "releaseRequestedAt" = now() AT TIME ZONE 'UTC'
      WHERE "vmId" = ${vmId}::uuid AND "owner" <> ${state().owner} AND "releaseRequestedAt" IS NULL`;
    await new Promise((res) => setTimeout(res, CLAIM_POLL_MS));
  }
}

/**
 * Marks the VM in use by a job of this process (taking its lease first, claiming it from an idle owner
 * when `claimWaitMs` is given): the lease is not handed over until the returned function is called.
 * Throws NotOwnerError when another process owns the VM.
 */
export async function holdVm(vmId: string, opts: { claimWaitMs?: number; vmName?: string } = {}): Promise<() => void> {
  if (opts.claimWaitMs) await claimVmLease(vmId, opts.claimWaitMs, opts.vmName);
  else await requireVmLease(vmId, opts.vmName);
  const s = state();
  s.inUse.set(vmId, (s.inUse.get(vmId) ?? 0) + 1);
  let done = false;
  return () => {
    if (done) return;
    done = true;
    const n = (s.inUse.get(vmId) ?? 1) - 1;
    if (n > 0) s.inUse.set(vmId, n);
    else s.inUse.delete(vmId);
  };
}

/** Whether this process holds the VM's lease (as far as it knows without asking the database). */
export function holdsVmLease(vmId: string): boolean {
  const until = state().held.get(vmId);
  return until !== undefined && until > Date.now();
}

/** Gives the VM's lease up (its session is closed by the caller). */
export async function releaseVmLease(vmId: string): Promise<void> {
  const s = state();
  if (!s.held.has(vmId)) return;
  s.held.delete(vmId);
  await db()
    .vmLease.deleteMany({ where: { vmId, owner: s.owner } })
    .catch((err: unknown) => log.debug({ err, vm: vmId }, "releasing the VM's lease failed (it expires by itself)"));
}

/** Gives every lease of this process up (shutdown: the other processes take the VMs over at once). */
export async function releaseAllVmLeases(): Promise<void> {
  const s = state();
  clearInterval(s.timer);
  s.timer = undefined;
  if (!s.held.size) return;
  s.held.clear();
  await db()
    .vmLease.deleteMany({ where: { owner: s.owner } })
    .catch((err: unknown) => log.debug({ err }, "releasing this process's leases failed (they expire by themselves)"));
}

function ensureRenewal(): void {
  const s = state();
  if (s.timer) return;
  s.timer = setInterval(() => {
    if (s.renewing) return;
    s.renewing = renewLeases().finally(() => (s.renewing = undefined));
  }, RENEW_MS);
  s.timer.unref();
}

/** Renews every lease of this process; hands over idle VMs another process asked for; notices lost ones. */
export async function renewLeases(): Promise<void> {
  const s = state();
  if (!s.held.size) {
    clearInterval(s.timer);
    s.timer = undefined;
    return;
  }
  const started = Date.now();
  // Only leases held before the UPDATE can be judged lost by it: one taken while it runs is not in its answer.
  const judged = new Set(s.held.keys());
  let rows: Array<{ vmId: string; releaseRequested: boolean }>;
  try {
    rows = await db().$queryRaw<Array<{ vmId: string; releaseRequested: boolean }>>`
      UPDATE "VmLease" SET "expiresAt" = now() AT TIME ZONE 'UTC' + make_interval(secs => ${TTL_S})
      WHERE "owner" = ${s.owner}
      RETURNING "vmId"::text AS "vmId", ("releaseRequestedAt" IS NOT NULL) AS "releaseRequested"`;
  } catch (err) {
    log.warn({ err }, "renewing this process's VM leases failed; retrying (they expire after 6 s without renewal)");
    return;
  }
  const renewed = new Set(rows.map((r) => r.vmId));
  for (const vmId of [...s.held.keys()]) {
    if (renewed.has(vmId)) {
      s.held.set(vmId, started + LEASE_TTL_MS - 1_000);
      continue;
    }
    if (!judged.has(vmId)) continue;
    // Another process took it (this one could not renew in time): its session must not stay here.
    s.held.delete(vmId);
    log.warn({ vm: vmId }, "lost the VM's lease to another process");
    if (!s.inUse.get(vmId))
      await s
        .closeSession?.(vmId)
        .catch((err: unknown) => log.warn({ err, vm: vmId }, "closing the session of a lost VM failed"));
  }
  for (const r of rows) {
    if (!r.releaseRequested || s.inUse.get(r.vmId) || !s.held.has(r.vmId)) continue;
    s.releasing.add(r.vmId);
    try {
      log.info({ vm: r.vmId }, "handing the VM over to the process that asked for it");
      s.held.delete(r.vmId);
      await s.closeSession?.(r.vmId);
      await db().vmLease.deleteMany({ where: { vmId: r.vmId, owner: s.owner } });
    } catch (err) {
      log.warn({ err, vm: r.vmId }, "handing the VM over failed; its lease expires by itself");
    } finally {
      const vmId = r.vmId;
      setTimeout(() => s.releasing.delete(vmId), HANDOVER_GRACE_MS).unref();
    }
  }
}

// Discovery: which VMs a host has, and what each is. Runs on host add, on demand (POST
// /api/hosts/{id}/discover) and periodically (discovery-worker.ts).
// For each monitor on the host (local/ssh: the unix sockets named *.sock or *.qmp in its socket
// directory; tls: its endpoint list) it takes THE VM session (sessions.ts — never a second connection:
// a monitor serves one client) and probes it (probe.ts).
// Invariants:
//  - VMs are never deleted here. A VM whose socket vanished is marked `gone` (goneAt set, history and
//    snapshots kept); one whose socket is still there but does not answer is `unreachable` with why.
//  - A host that cannot be listed (SSH down, directory missing) tells us nothing about its VMs: they
//    become `unreachable` ("host unreachable: …"), never `gone`. A healthy host turning so is sent to
//    the webhooks (`host.unreachable`, lib/webhooks/emit.ts).
//  - A VM that comes back — same endpoint, or same (non-nil) QEMU uuid on a new socket of the same
//    host — is revived in place: same row, same id, same history.
//  - One discovery per host at a time in this process; callers arriving meanwhile share the run.
//  - Events are published only for rows that changed, so a quiet fleet makes no traffic; a run that
//    changes many VMs sends `fleet` one refresh event instead of one per VM (RunEvents).
import path from "node:path";
import { db } from "../db/client";
import type { Host, Prisma, Vm, VmState } from "../db/generated/client";
import { NotFoundError } from "../errors";
import { NotOwnerError } from "./errors";
import { logger } from "../logger";
import { processSingleton } from "../process-singleton";
import { FLEET_TOPIC, vmTopic } from "../realtime/messages";
import { publish } from "../realtime/publish";
import { emitWebhookEvent } from "../webhooks/emit";
import { hostAccessFor, MONITOR_SOCKET } from "./host-access";
import { publishHost } from "./host-events";
import { inVmOrder, stateFromRunState } from "./live-state";
import { localQemuPids, readLaunchFacts } from "./launch-facts";
import type { LaunchFacts } from "./launch-json";
import { probeVm, type VmFacts } from "./probe";
import { toVmJson, vmInclude } from "./serialize";
import {
  bindSession,
  closeVmSessionByEndpoint,
  connectFailure,
  getVmSession,
  probeContextFor,
  sessionForEndpoint,
} from "./sessions";
import { FLEET_EVENTS, type VmJson } from "./vm-json";

const log = logger.child({ component: "discovery" });

/** Monitor sockets are recognised by name: `*.sock` (Snapfleet's convention), `*.qmp` (Proxmox). */
/** Above this many changed VMs in one run, `fleet` gets one refresh event instead of one per VM. */
const FLEET_EVENTS_PER_RUN = 25;
/** Monitors probed at once per host. */
const CONCURRENCY = 8;

export interface DiscoveryResult {
  hostId: string;
  ok: boolean;
  error?: string;
  found: number;
  added: number;
  updated: number;
  revived: number;
  gone: number;
  unreachable: number;
  durationMs: number;
}

/** Host id → its discovery run in this process (a process singleton: routes and workers share runs). */
const running = processSingleton("__snapfleetDiscoveries", () => new Map<string, Promise<DiscoveryResult>>());

/** Discovers one host; concurrent calls for the same host share one run. */
export function discoverHost(hostId: string): Promise<DiscoveryResult> {
  const inFlight = running.get(hostId);
  if (inFlight) return inFlight;
  const run = runDiscovery(hostId).finally(() => running.delete(hostId));
  running.set(hostId, run);
  return run;
}

/** Discovers every host, one after another (each host probes its VMs in parallel). Never throws. */
export async function discoverAllHosts(): Promise<DiscoveryResult[]> {
  const hosts = await db().host.findMany({ select: { id: true }, orderBy: { name: "asc" } });
  const results: DiscoveryResult[] = [];
  for (const h of hosts) {
    try {
      results.push(await discoverHost(h.id));
    } catch (err) {
      log.warn({ err, host: h.id }, "discovery of a host failed");
    }
  }
  return results;
}

/** The monitors a host exposes, as Vm.endpoint values. Throws when the host cannot be listed. */
export function listMonitorEndpoints(host: Host): Promise<string[]> {
  return hostAccessFor(host).listMonitors();
}

function defaultName(host: Host, endpoint: string): string {
  if (host.kind === "tls") {
    const list = Array.isArray(host.tlsEndpoints) ? (host.tlsEndpoints as Array<Record<string, unknown>>) : [];
    const named = list.find((e) => e && `${e.host}:${e.port}` === endpoint.replace(/^\[|\](?=:)/g, ""));
    if (named && typeof named.name === "string" && named.name) return named.name;
    return endpoint;
  }
  return path.posix.basename(endpoint).replace(MONITOR_SOCKET, "");
}

/** The fields discovery owns, compared to decide whether anything changed. */
function detailsOf(facts: VmFacts, host: Host, endpoint: string, launch: LaunchFacts) {
  const { state, stateReason } = stateFromRunState(facts.status);
  return {
    launch: launch as unknown as Prisma.InputJsonValue,
    name: facts.name ?? defaultName(host, endpoint),
    uuid: facts.uuid,
    state,
    stateReason,
    qemuVersion: facts.qemuVersion,
    memoryBytes: facts.memoryBytes === null ? null : BigInt(facts.memoryBytes),
    disks: facts.disks as unknown as Prisma.InputJsonValue,
    bgSnapshotSupported: facts.bgSnapshotSupported,
    bgSnapshotBlocker: facts.bgSnapshotBlocker,
  };
}

/** JSON with sorted keys: PostgreSQL's jsonb does not keep key order, so compare canonically. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}

/** Launch facts without their timestamp: re-reading unchanged facts is no change. */
function withoutReadAt(launch: unknown): unknown {
  if (!launch || typeof launch !== "object" || Array.isArray(launch)) return launch ?? null;
  const { readAt: _readAt, ...rest } = launch as Record<string, unknown>;
  return rest;
}

function changed(vm: Vm, next: ReturnType<typeof detailsOf> & { endpoint?: string }): boolean {
  return (
    vm.name !== next.name ||
    vm.uuid !== next.uuid ||
    vm.state !== next.state ||
    vm.stateReason !== next.stateReason ||
    vm.qemuVersion !== next.qemuVersion ||
    vm.memoryBytes !== next.memoryBytes ||
    canonical(vm.disks) !== canonical(next.disks) ||
    vm.bgSnapshotSupported !== next.bgSnapshotSupported ||
    vm.bgSnapshotBlocker !== next.bgSnapshotBlocker ||
    canonical(withoutReadAt(vm.launch)) !== canonical(withoutReadAt(next.launch)) ||
    vm.goneAt !== null ||
    (next.endpoint !== undefined && vm.endpoint !== next.endpoint)
  );
}

/**
 * Events of one discovery run. Each changed VM is published on its own topic at once; the `fleet`
 * topic gets them one by one only for a handful — a run that changes many VMs (a host going away
 * with a thousand of them) sends one `fleet.refresh` instead, so Fleet tabs re-read one page rather
 * than process a thousand events.
 */
class RunEvents {
  private readonly fleet: Array<{ name: string; json: VmJson }> = [];

  constructor(private readonly hostId: string) {}

  async vm(id: string, name: string): Promise<void> {
    const vm = await db().vm.findUnique({ where: { id }, include: vmInclude });
    if (vm) await this.publish(name, toVmJson(vm));
  }

  async publish(name: string, json: VmJson): Promise<void> {
    await publish({ topic: vmTopic(json.id), name, payload: json });
    this.fleet.push({ name, json });
  }

  async flush(): Promise<void> {
    if (this.fleet.length === 0) return;
    if (this.fleet.length > FLEET_EVENTS_PER_RUN) {
      await publish({
        topic: FLEET_TOPIC,
        name: FLEET_EVENTS.fleetRefresh,
        payload: { hostId: this.hostId, changed: this.fleet.length },
      });
    } else {
      for (const e of this.fleet) await publish({ topic: FLEET_TOPIC, name: e.name, payload: e.json });
    }
    this.fleet.length = 0;
  }
}

/** Writes a state discovery decided (in order with the VM's event-driven writes); true if it changed. */
function setState(
  events: RunEvents,
  vm: Vm,
  state: VmState,
  stateReason: string | null,
  extra: Prisma.VmUpdateInput = {},
): Promise<boolean> {
  return inVmOrder(vm.id, async () => {
    const current = await db().vm.findUnique({ where: { id: vm.id }, select: { state: true, stateReason: true } });
    if (!current || (current.state === state && current.stateReason === stateReason && Object.keys(extra).length === 0))
      return false;
    await db().vm.update({ where: { id: vm.id }, data: { state, stateReason, ...extra } });
    await events.vm(vm.id, FLEET_EVENTS.vmState);
    return true;
  });
}

/** Writes what a probe found (in order with the VM's event writes); true when anything changed. */
function storeFacts(
  events: RunEvents,
  row: Vm,
  endpoint: string,
  details: ReturnType<typeof detailsOf>,
  now: Date,
): Promise<boolean> {
  return inVmOrder(row.id, async () => {
    const current = (await db().vm.findUnique({ where: { id: row.id } })) ?? row;
    const differs = changed(current, { ...details, endpoint });
    await db().vm.update({ where: { id: row.id }, data: { ...details, endpoint, lastSeenAt: now, goneAt: null } });
    if (differs)
      await events.vm(row.id, current.state !== details.state ? FLEET_EVENTS.vmState : FLEET_EVENTS.vmUpdated);
    return differs;
  });
}

/**
 * Re-reads one VM over its session now — for callers that just changed it (the snapshot engine after
 * cutting disks over to new overlays) and should not wait for the next periodic pass. Throws like
 * getVmSession when the VM cannot be reached. Returns the VM as stored.
 */
export async function refreshVm(vmId: string): Promise<VmJson> {
  const vm = await db().vm.findUnique({ where: { id: vmId }, include: { host: true } });
  if (!vm) throw new NotFoundError(`no VM with id ${vmId}`);
  const client = await getVmSession(vmId);
  const facts = await probeVm(client, probeContextFor(vm.host));
  const launch = await readLaunchFacts(vm.host, vm.endpoint, client);
  const events = new RunEvents(vm.hostId);
  await storeFacts(events, vm, vm.endpoint, detailsOf(facts, vm.host, vm.endpoint, launch), new Date());
  await events.flush();
  const stored = await db().vm.findUniqueOrThrow({ where: { id: vmId }, include: vmInclude });
  return toVmJson(stored);
}

/**
 * One state for many VMs in one statement (a host with a thousand VMs going away must not cost four
 * thousand queries). Gone VMs are left alone; returns how many changed. Not ordered with the VMs'
 * event writes: those never overwrite `gone`, and a later event about a VM is newer news anyway.
 */
async function setStates(
  events: RunEvents,
  vms: Vm[],
  state: VmState,
  stateReason: string,
  extra: Prisma.VmUpdateManyMutationInput = {},
): Promise<number> {
  if (vms.length === 0) return 0;
  const ids = vms.map((vm) => vm.id);
  const { count } = await db().vm.updateMany({
    where: { id: { in: ids }, state: { not: "gone" } },
    data: { state, stateReason, ...extra },
  });
  const rows = await db().vm.findMany({ where: { id: { in: ids }, state }, include: vmInclude });
  await Promise.all(rows.map((vm) => events.publish(FLEET_EVENTS.vmState, toVmJson(vm))));
  return count;
}

async function runDiscovery(hostId: string): Promise<DiscoveryResult> {
  const started = Date.now();
  const host = await db().host.findUnique({ where: { id: hostId } });
  if (!host) throw new NotFoundError(`no host with id ${hostId}`);
  const result: DiscoveryResult = {
    hostId,
    ok: true,
    found: 0,
    added: 0,
    updated: 0,
    revived: 0,
    gone: 0,
    unreachable: 0,
    durationMs: 0,
  };
  const known = await db().vm.findMany({ where: { hostId } });
  const events = new RunEvents(hostId);

  let endpoints: string[];
  try {
    endpoints = await listMonitorEndpoints(host);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    log.warn({ host: host.name, err: message }, "host cannot be listed");
    const reachable = known.filter(
      (vm) => vm.state !== "gone" && !(vm.state === "unreachable" && vm.stateReason === `host unreachable: ${message}`),
    );
    result.unreachable = await setStates(events, reachable, "unreachable", `host unreachable: ${message}`);
    await db().host.update({
      where: { id: hostId },
      data: { healthy: false, healthError: message, lastDiscoveredAt: new Date() },
    });
    await events.flush();
    await publishHost(hostId);
    // The change (reachable → not) goes to the webhooks, not every failed round.
    if (host.healthy)
      await emitWebhookEvent("host.unreachable", {
        host: { id: host.id, name: host.name, kind: host.kind },
        error: message,
        vmsUnreachable: result.unreachable,
      });
    return { ...result, ok: false, error: message, durationMs: Date.now() - started };
  }
  result.found = endpoints.length;

  const byEndpoint = new Map(known.map((vm) => [vm.endpoint, vm]));
  const listed = new Set(endpoints);
  // Rows whose endpoint is no longer listed: candidates for revival by uuid, otherwise gone.
  const missing = new Map(known.filter((vm) => !listed.has(vm.endpoint)).map((vm) => [vm.id, vm]));
  const context = probeContextFor(host);
  // One /proc scan finds the QEMU behind every local monitor (launch facts).
  const pids = host.kind === "local" ? await localQemuPids(endpoints) : undefined;

  const probeOne = async (endpoint: string) => {
    const existing = byEndpoint.get(endpoint);
    let facts: VmFacts;
    let launch: LaunchFacts;
    try {
      const { client } = await sessionForEndpoint(host, endpoint, existing?.id);
      facts = await probeVm(client, context);
      launch = await readLaunchFacts(host, endpoint, client, { pid: pids?.get(endpoint) });
    } catch (err) {
      // Another dashboard process owns this VM's monitor (vm-lease.ts): its session keeps the live state;
      // probing it from here would steal the monitor from a job, so it is left alone.
      if (err instanceof NotOwnerError) return;
      const why = connectFailure(existing?.id ?? "", existing?.name ?? defaultName(host, endpoint), err).message;
      result.unreachable++;
      if (existing) {
        await setState(events, existing, "unreachable", why, existing.goneAt ? { goneAt: null } : {});
      } else {
        const vm = await db().vm.create({
          data: { hostId, endpoint, name: defaultName(host, endpoint), state: "unreachable", stateReason: why },
        });
        result.added++;
        await events.vm(vm.id, FLEET_EVENTS.vmUpdated);
      }
      return;
    }
    const details = detailsOf(facts, host, endpoint, launch);
    const now = new Date();
    let target = existing;
    if (!target && facts.uuid) {
      target = [...missing.values()].find((vm) => vm.uuid === facts.uuid);
      if (target) {
        missing.delete(target.id);
        result.revived++;
      }
    }
    if (target) {
      if (target.goneAt && target.endpoint === endpoint) result.revived++;
      bindSession(host, endpoint, target.id);
      if (await storeFacts(events, target, endpoint, details, now)) result.updated++;
    } else {
      const vm = await db().vm.create({ data: { hostId, endpoint, ...details, lastSeenAt: now } });
      bindSession(host, endpoint, vm.id);
      result.added++;
      await events.vm(vm.id, FLEET_EVENTS.vmUpdated);
    }
  };

  const queue = [...endpoints];
  await Promise.all(
    Array.from({ length: Math.min(CONCURRENCY, queue.length) }, async () => {
      for (let e = queue.shift(); e !== undefined; e = queue.shift()) {
        try {
          await probeOne(e);
        } catch (err) {
          log.warn({ err, host: host.name, endpoint: e }, "probing a VM failed");
        }
      }
    }),
  );

  const vanished = [...missing.values()].filter((vm) => vm.state !== "gone");
  await Promise.all(vanished.map((vm) => closeVmSessionByEndpoint(host, vm.endpoint)));
  result.gone = await setStates(events, vanished, "gone", "its monitor socket vanished", { goneAt: new Date() });

  await db().host.update({
    where: { id: hostId },
    data: { healthy: true, healthError: null, lastDiscoveredAt: new Date() },
  });
  await events.flush();
  await publishHost(hostId);
  result.durationMs = Date.now() - started;
  log.debug({ host: host.name, ...result }, "discovery done");
  return result;
}

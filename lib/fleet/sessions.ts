// THE QMP session of each VM. QEMU's monitor serves one client at a time (QEMU.md §6), so discovery,
// live state and snapshot jobs all share one long-lived session per VM: getVmSession(vmId) is the only
// way to a VM's monitor. Callers never close() it.
// Invariants:
//  - One session (or connection attempt) per monitor endpoint per process: QmpPool, a process
//    singleton because Next's route bundles and server.ts must share it.
//  - Each new session gets the live-state listeners exactly once (STOP/RESUME/SHUTDOWN/… → Vm.state +
//    `vm.state` on `vm:<id>` and `fleet`), and its state is re-read with query-status so anything
//    missed while disconnected is corrected. A session that ends marks the VM unreachable (or keeps
//    `shutdown` when QEMU exited after a SHUTDOWN event); discovery reconnects on its next pass.
//  - Which VM a session belongs to is looked up at event time (`bindings`), so discovery can bind a
//    session it opened for a new socket to the row it then creates or revives.
//  - Several dashboard processes: a VM's session is opened only by the process holding its lease
//    (vm-lease.ts); any other gets NotOwnerError naming the owner, never a busy monitor. Closing a VM's
//    session gives its lease up.
import { logIgnored } from "../best-effort";
import { db } from "../db/client";
import type { Host } from "../db/generated/client";
import { DomainError, NotFoundError } from "../errors";
import { logger } from "../logger";
import { processSingleton } from "../process-singleton";
import {
  QmpConnectError,
  QmpEndpointError,
  QmpMonitorBusyError,
  QmpPool,
  type QmpClient,
  type QmpEndpoint,
} from "../qmp";
import { NotOwnerError, VmMonitorBusyError, VmUnreachableError } from "./errors";
import { STATE_EVENTS, applyVmState, stateFromEvent, stateFromRunState } from "./live-state";
import type { ProbeHostContext } from "./probe";
import { hostAccessFor } from "./host-access";
import { claimVmLease, releaseAllVmLeases, releaseVmLease, requireVmLease, setLeaseSessionCloser } from "./vm-lease";

const log = logger.child({ component: "vm-sessions" });

const CONNECT_OPTIONS = { connectTimeoutMs: 5_000, greetingTimeoutMs: 3_000, commandTimeoutMs: 30_000 };

interface SessionRegistry {
  pool: QmpPool;
  /** endpoint key → VM id. */
  bindings: Map<string, string>;
  /** Clients whose listeners are attached. */
  wired: WeakSet<QmpClient>;
  /** endpoint key → the reason of a SHUTDOWN seen on this session (so EOF afterwards is an exit, not a loss). */
  shutdownSeen: Map<string, string>;
}

/** The registry; `current` is undefined until first use and again after closeAllVmSessions. */
const slot = processSingleton("__snapfleetVmSessions", (): { current?: SessionRegistry } => ({}));

function registry(): SessionRegistry {
  if (!slot.current) setLeaseSessionCloser(closeVmSession);
  slot.current ??= {
    pool: new QmpPool({ ...CONNECT_OPTIONS, logger: logger.child({ component: "qmp" }) }),
    bindings: new Map(),
    wired: new WeakSet(),
    shutdownSeen: new Map(),
  };
  return slot.current;
}

/** The QMP endpoint of a monitor on a host: a socket path (local, ssh) or host:port (tls). */
export function endpointFor(host: Host, endpoint: string): Promise<QmpEndpoint> {
  return hostAccessFor(host).endpoint(endpoint);
}

/** The pool key of a monitor endpoint, computed without connecting or reading credentials. */
export function endpointKey(host: Host, endpoint: string): string {
  return hostAccessFor(host).endpointKey(endpoint);
}

/** What probeVm needs to know about the machine QEMU runs on. */
export function probeContextFor(host: Host): ProbeHostContext {
  return hostAccessFor(host).probe;
}

function wire(client: QmpClient, key: string): void {
  const reg = registry();
  if (reg.wired.has(client)) return;
  reg.wired.add(client);
  reg.shutdownSeen.delete(key);
  client.on(STATE_EVENTS, (ev) => {
    const change = stateFromEvent(ev);
    if (ev.event === "SHUTDOWN")
      reg.shutdownSeen.set(key, typeof ev.data.reason === "string" ? ev.data.reason : "shutdown");
    const vmId = reg.bindings.get(key);
    if (change && vmId) void applyVmState(vmId, change, { seen: true });
  });
  client.onDisconnect((reason) => {
    const vmId = reg.bindings.get(key);
    const shutdownReason = reg.shutdownSeen.get(key);
    reg.shutdownSeen.delete(key);
    if (!vmId || ("byClient" in reason && reason.byClient === true)) return;
    log.info({ vm: vmId, endpoint: key, reason: reason.message }, "QMP session ended");
    void applyVmState(
      vmId,
      shutdownReason
        ? { state: "shutdown", stateReason: `QEMU exited after shutdown (${shutdownReason})` }
        : { state: "unreachable", stateReason: `QMP session lost: ${reason.message}` },
    );
  });
}

/**
 * The session for a monitor endpoint on a host, bound to `vmId` when given. Connect failures throw
 * QmpConnectError / QmpMonitorBusyError (and host-level DomainErrors for SSH); discovery uses this
 * directly, everything else uses getVmSession.
 */
export async function sessionForEndpoint(
  host: Host,
  endpoint: string,
  vmId?: string,
): Promise<{ client: QmpClient; fresh: boolean }> {
  const reg = registry();
  const key = endpointKey(host, endpoint);
  // Another process owns this VM's monitor: NotOwnerError (discovery skips the VM, jobs are routed).
  if (vmId) await requireVmLease(vmId);
  if (vmId) reg.bindings.set(key, vmId);
  const existing = reg.pool.peek(key);
  if (existing) return { client: existing, fresh: false };
  const client = await reg.pool.acquire(await endpointFor(host, endpoint));
  const fresh = !reg.wired.has(client);
  wire(client, key);
  return { client, fresh };
}

/** Binds an open session to a VM row (discovery, after it created or revived the row). */
export function bindSession(host: Host, endpoint: string, vmId: string): void {
  registry().bindings.set(endpointKey(host, endpoint), vmId);
  // The session is open already: this process takes the VM's lease (or, if another got it first, lets go).
  void requireVmLease(vmId).catch(async (err: unknown) => {
    if (err instanceof NotOwnerError)
      await closeVmSessionByEndpoint(host, endpoint).catch(
        logIgnored("the owner's session is not ours to keep; ours may be closed already", log),
      );
    else log.warn({ err, vm: vmId }, "taking the lease of a discovered VM failed");
  });
}

function describeConnectError(err: unknown): string {
  if (err instanceof QmpMonitorBusyError) {
    return "another client holds the QMP monitor (QEMU serves one client at a time): disconnect it (virsh, socat, another dashboard) and retry";
  }
  if (err instanceof QmpConnectError) {
    if (err.code === "ECONNREFUSED") return "connection refused: QEMU is not running (stale socket)";
    if (err.code === "ENOENT") return "the monitor socket does not exist";
    if (err.code === "EACCES") return "permission denied on the monitor socket";
    return err.message;
  }
  return err instanceof Error ? err.message : String(err);
}

/** Maps a connect failure to the error callers get and the state the VM is left in. */
export function connectFailure(vmId: string, vmName: string, err: unknown): VmUnreachableError {
  const why = describeConnectError(err);
  if (err instanceof QmpMonitorBusyError) {
    return new VmMonitorBusyError(vmId, `VM ${vmName} is busy: ${why}`, { cause: err });
  }
  return new VmUnreachableError(vmId, `VM ${vmName} is unreachable: ${why}`, { cause: err });
}

/**
 * Returns THE long-lived QMP session of a VM, connecting lazily. Throws VmUnreachableError (a
 * ConflictError: 409) when the VM is gone or its monitor cannot be reached, VmMonitorBusyError when
 * another client holds the monitor, NotFoundError when there is no such VM.
 */
export async function getVmSession(vmId: string, opts: { claimWaitMs?: number } = {}): Promise<QmpClient> {
  const vm = await db().vm.findUnique({ where: { id: vmId }, include: { host: true } });
  if (!vm) throw new NotFoundError(`no VM with id ${vmId}`);
  if (vm.state === "gone") {
    throw new VmUnreachableError(
      vmId,
      `VM ${vm.name} is gone: its monitor socket vanished${vm.goneAt ? ` at ${vm.goneAt.toISOString()}` : ""}`,
    );
  }
  // Only the VM's owner connects (vm-lease.ts); `claimWaitMs` asks an idle owner to hand it over.
  if (opts.claimWaitMs) await claimVmLease(vmId, opts.claimWaitMs, vm.name);
  else await requireVmLease(vmId, vm.name);
  let session: { client: QmpClient; fresh: boolean };
  try {
    session = await sessionForEndpoint(vm.host, vm.endpoint, vm.id);
  } catch (err) {
    if (err instanceof NotOwnerError) throw err;
    if (err instanceof QmpEndpointError)
      throw new VmUnreachableError(vmId, `VM ${vm.name}: ${err.message}`, { cause: err });
    const failure =
      err instanceof DomainError
        ? new VmUnreachableError(vmId, `VM ${vm.name} is unreachable: ${err.message}`, { cause: err })
        : connectFailure(vm.id, vm.name, err);
    void applyVmState(vm.id, { state: "unreachable", stateReason: failure.message }, { onlyIfChanged: true });
    throw failure;
  }
  if (session.fresh) void syncState(vm.id, session.client);
  return session.client;
}

/** Re-reads the run state after (re)connecting; events only tell us about changes from now on. */
async function syncState(vmId: string, client: QmpClient): Promise<void> {
  try {
    const status = await client.queryStatus();
    await applyVmState(vmId, stateFromRunState(status.status), { onlyIfChanged: true, seen: true });
  } catch (err) {
    log.debug({ vm: vmId, err }, "query-status after connect failed");
  }
}

/** Closes a VM's session (VM gone, host removed). Its disconnect does not touch the VM's state. */
export async function closeVmSessionByEndpoint(host: Host, endpoint: string): Promise<void> {
  const reg = registry();
  const key = endpointKey(host, endpoint);
  const vmId = reg.bindings.get(key);
  reg.bindings.delete(key);
  await reg.pool.close(key);
  if (vmId) await releaseVmLease(vmId);
}

/** Closes this process's session of a VM, if any (its lease handed over or lost: vm-lease.ts). */
async function closeVmSession(vmId: string): Promise<void> {
  const reg = registry();
  for (const [key, bound] of reg.bindings) {
    if (bound !== vmId) continue;
    reg.bindings.delete(key);
    await reg.pool.close(key);
  }
}

/** VMs whose QMP session is open (connected) in this process right now (lib/metrics reads it). */
export function openVmSessionIds(): string[] {
  const reg = slot.current;
  if (!reg) return [];
  return [...reg.bindings].filter(([key]) => reg.pool.peek(key) !== undefined).map(([, vmId]) => vmId);
}

export async function closeAllVmSessions(): Promise<void> {
  const reg = slot.current;
  if (!reg) return releaseAllVmLeases();
  slot.current = undefined;
  reg.bindings.clear();
  await reg.pool.closeAll();
  // Monitors closed first, then the leases: the next owner finds the monitor free.
  await releaseAllVmLeases();
}

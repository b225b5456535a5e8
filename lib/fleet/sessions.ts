// THE QMP session of each VM. QEMU's monitor serves one client at a time (QEMU.md §6), so discovery,
// live state and snapshot jobs all share one long-lived session per VM: getVmSession(vmId) is the only
// way to a VM's monitor. Callers never close() it.
// Invariants:
//  - One session (or connection attempt) per monitor endpoint per process: QmpPool, on globalThis
//    because Next's route bundles and server.ts must share it.
//  - Each new session gets the live-state listeners exactly once (STOP/RESUME/SHUTDOWN/… → Vm.state +
//    `vm.state` on `vm:<id>` and `fleet`), and its state is re-read with query-status so anything
//    missed while disconnected is corrected. A session that ends marks the VM unreachable (or keeps
//    `shutdown` when QEMU exited after a SHUTDOWN event); discovery reconnects on its next pass.
//  - Which VM a session belongs to is looked up at event time (`bindings`), so discovery can bind a
//    session it opened for a new socket to the row it then creates or revives.
import { readFile, statfs } from "node:fs/promises";
import os from "node:os";
import { db } from "../db/client";
import type { Host } from "../db/generated/client";
import { DomainError, NotFoundError } from "../errors";
import { logger } from "../logger";
import {
  QmpConnectError,
  QmpEndpointError,
  QmpMonitorBusyError,
  QmpPool,
  formatEndpoint,
  type QmpClient,
  type QmpEndpoint,
} from "../qmp";
import { VmMonitorBusyError, VmUnreachableError } from "./errors";
import { STATE_EVENTS, applyVmState, stateFromEvent, stateFromRunState } from "./live-state";
import type { ProbeHostContext } from "./probe";
import { getSshConnection, sshTargetOfHost, type SshConnection } from "./ssh";

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

const g = globalThis as typeof globalThis & { __snapfleetVmSessions?: SessionRegistry };

function registry(): SessionRegistry {
  g.__snapfleetVmSessions ??= {
    pool: new QmpPool({ ...CONNECT_OPTIONS, logger: logger.child({ component: "qmp" }) }),
    bindings: new Map(),
    wired: new WeakSet(),
    shutdownSeen: new Map(),
  };
  return g.__snapfleetVmSessions;
}


/** The QMP endpoint of a monitor on a host: a socket path (local, ssh) or host:port (tls). */
export async function endpointFor(host: Host, endpoint: string): Promise<QmpEndpoint> {
  switch (host.kind) {
    case "local":
      return { kind: "unix", path: endpoint };
    case "ssh": {
      const ssh = await getSshConnection(sshTargetOfHost(host));
      return {
        kind: "ssh",
        host: ssh.target.address,
        port: ssh.target.port,
        username: ssh.target.user,
        socketPath: endpoint,
        hostKeySha256: ssh.hostKeySha256,
        sshClient: ssh.client,
      };
    }
    case "tls": {
      const m = /^(\[[0-9a-fA-F:.]+\]|[^:]+):(\d+)$/.exec(endpoint);
      if (!m) throw new DomainError(`TLS endpoint "${endpoint}" is not host:port`);
      if (!host.tlsCaPath) throw new DomainError(`host ${host.name} has no CA certificate configured`);
      const [ca, cert, key] = await Promise.all([
        readFile(host.tlsCaPath),
        host.tlsCertPath ? readFile(host.tlsCertPath) : undefined,
        host.tlsKeyPath ? readFile(host.tlsKeyPath) : undefined,
      ]);
      return { kind: "tls", host: m[1]!.replace(/^\[|\]$/g, ""), port: Number(m[2]), ca, cert, key };
    }
  }
}

/** The pool key of a monitor endpoint, computed without connecting or reading credentials. */
export function endpointKey(host: Host, endpoint: string): string {
  switch (host.kind) {
    case "local":
      return formatEndpoint({ kind: "unix", path: endpoint });
    case "ssh":
      return formatEndpoint({ kind: "ssh", host: host.address ?? "", port: host.port ?? 22, username: host.user ?? "", socketPath: endpoint });
    case "tls": {
      const m = /^(\[[0-9a-fA-F:.]+\]|[^:]+):(\d+)$/.exec(endpoint);
      return m ? formatEndpoint({ kind: "tls", host: m[1]!.replace(/^\[|\]$/g, ""), port: Number(m[2]), ca: "" }) : `tls:${endpoint}`;
    }
  }
}

/** What probeVm needs to know about the machine QEMU runs on. */
export function probeContextFor(host: Host): ProbeHostContext {
  if (host.kind === "local") {
    return {
      kernelRelease: async () => os.release(),
      fsTypeOf: async (p) => {
        const s = await statfs(p).catch(() => null);
        if (!s) return null;
        // linux/magic.h
        if (s.type === 0x01021994) return "tmpfs";
        if (s.type === 0x958458f6) return "hugetlbfs";
        return `filesystem 0x${s.type.toString(16)}`;
      },
    };
  }
  if (host.kind === "ssh") {
    const conn = (): Promise<SshConnection> => getSshConnection(sshTargetOfHost(host));
    return {
      kernelRelease: async () => (await conn()).kernelRelease(),
      fsTypeOf: async (p) => {
        const quoted = `'${p.replaceAll("'", `'\\''`)}'`;
        const out = await (await conn()).exec(`stat -f -c %T ${quoted}`).catch(() => null);
        return out?.trim() || null;
      },
    };
  }
  return { kernelRelease: async () => null, fsTypeOf: async () => null };
}

function wire(client: QmpClient, key: string): void {
  const reg = registry();
  if (reg.wired.has(client)) return;
  reg.wired.add(client);
  reg.shutdownSeen.delete(key);
  client.on(STATE_EVENTS, (ev) => {
    const change = stateFromEvent(ev);
    if (ev.event === "SHUTDOWN") reg.shutdownSeen.set(key, typeof ev.data.reason === "string" ? ev.data.reason : "shutdown");
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
export async function sessionForEndpoint(host: Host, endpoint: string, vmId?: string): Promise<{ client: QmpClient; fresh: boolean }> {
  const reg = registry();
  const key = endpointKey(host, endpoint);
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
export async function getVmSession(vmId: string): Promise<QmpClient> {
  const vm = await db().vm.findUnique({ where: { id: vmId }, include: { host: true } });
  if (!vm) throw new NotFoundError(`no VM with id ${vmId}`);
  if (vm.state === "gone") {
    throw new VmUnreachableError(vmId, `VM ${vm.name} is gone: its monitor socket vanished${vm.goneAt ? ` at ${vm.goneAt.toISOString()}` : ""}`);
  }
  let session: { client: QmpClient; fresh: boolean };
  try {
    session = await sessionForEndpoint(vm.host, vm.endpoint, vm.id);
  } catch (err) {
    if (err instanceof QmpEndpointError) throw new VmUnreachableError(vmId, `VM ${vm.name}: ${err.message}`, { cause: err });
    const failure = err instanceof DomainError ? new VmUnreachableError(vmId, `VM ${vm.name} is unreachable: ${err.message}`, { cause: err }) : connectFailure(vm.id, vm.name, err);
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
  reg.bindings.delete(key);
  await reg.pool.close(key);
}

export async function closeAllVmSessions(): Promise<void> {
  const reg = g.__snapfleetVmSessions;
  if (!reg) return;
  g.__snapfleetVmSessions = undefined;
  reg.bindings.clear();
  await reg.pool.closeAll();
}

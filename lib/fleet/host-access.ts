// THE host-access seam: one object per host kind (local, ssh, tls) behind one interface — the VM
// monitors it exposes (listMonitors), how to reach one (endpoint, endpointKey), what the probe needs to
// know about the machine QEMU runs on (probe), its files (local fs or SFTP; none on TLS hosts), and
// how the vmstate reaches its snapshot directory. Sessions, discovery, the snapshot engine, deletion,
// retention and crash recovery ask this object instead of branching on host.kind.
//
//   kind   files                     exec / proc                     vmstate writer    what it offers
//   local  node:fs                   execFile, this machine's /proc  local sink proc   everything
//   ssh    SFTP (one connection)     ssh exec (quoted), remote /proc exec: on the host  every snapshot mode, delete, retention
//   tls    none (QMP only)           none                            none              disks-only (host-capabilities.ts)
//
// Invariants: creating an access object connects nothing (connections are made on first use and
// shared per host: lib/fleet/ssh.ts); every file path given to a remote shell is single-quoted.
import { readFile, statfs } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import type { Duplex } from "node:stream";
import type { Host } from "../db/generated/client";
import { DomainError } from "../errors";
import { formatEndpoint, type QmpEndpoint } from "../qmp";
import { hostModeBlockers, type HostKindName, type SnapshotModeKey } from "./host-capabilities";
import { localHostFiles, shellArg, sshHostFiles, type HostFiles } from "./host-files";
import type { ProbeHostContext } from "./probe";
import { getSshConnection, sshTargetOfHost, type SshConnection } from "./ssh";

export interface HostAccess {
  kind: HostKindName;
  /** The host's name, for messages. */
  label: string;
  /** Files on the host: node:fs (local), SFTP (ssh); null when the host gives none (tls: QMP only). */
  files: HostFiles | null;
  /**
   * The monitors the host exposes, as Vm.endpoint values: sockets named *.sock / *.qmp in its socket
   * directory (local, ssh), or its configured host:port list (tls). Throws when the host cannot be listed.
   */
  listMonitors(): Promise<string[]>;
  /** The QMP endpoint of a monitor (a Vm.endpoint value): socket path, or host:port for TLS. */
  endpoint(monitor: string): Promise<QmpEndpoint>;
  /** The session pool's key of a monitor, computed without connecting or reading credentials. */
  endpointKey(monitor: string): string;
  /** What probeVm needs to know about the machine QEMU runs on. */
  probe: ProbeHostContext;
  /** How a RAM snapshot's vmstate reaches the host's snapshot directory; null: it cannot (tls). */
  vmstateWriter: "local-sink" | "remote-exec" | null;
  /** Per snapshot mode, why this kind cannot give it, or null (host-capabilities.ts). */
  modeBlockers(qemuVersion?: string | null): Record<SnapshotModeKey, string | null>;
  /**
   * Opens a stream to a unix socket on the host (a VM's guest agent chardev: lib/snapshots/quiesce.ts):
   * connect() locally, stream-local forwarding over SSH; null when the host gives none (tls).
   */
  openSocket: ((socketPath: string) => Promise<Duplex>) | null;
}

function connectLocalSocket(socketPath: string): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection(socketPath);
    s.once("connect", () => {
      s.off("error", reject);
      resolve(s);
    });
    s.once("error", reject);
  });
}

const TLS_ENDPOINT = /^(\[[0-9a-fA-F:.]+\]|[^:]+):(\d+)$/;
/** A QMP monitor socket in a host's socket directory. */
export const MONITOR_SOCKET = /\.(sock|qmp)$/;

async function socketsIn(host: Pick<Host, "socketDir">, files: HostFiles): Promise<string[]> {
  if (!host.socketDir) return [];
  return (await files.listSockets(host.socketDir)).filter((p) => MONITOR_SOCKET.test(p));
}

async function localFsType(p: string): Promise<string | null> {
  const s = await statfs(p).catch(() => null);
  if (!s) return null;
  // linux/magic.h
  if (s.type === 0x01021994) return "tmpfs";
  if (s.type === 0x958458f6) return "hugetlbfs";
  return `filesystem 0x${s.type.toString(16)}`;
}

function localAccess(host: Pick<Host, "name" | "socketDir">): HostAccess {
  return {
    kind: "local",
    label: host.name,
    files: localHostFiles,
    listMonitors: () => socketsIn(host, localHostFiles),
    endpoint: async (monitor) => ({ kind: "unix", path: monitor }),
    endpointKey: (monitor) => formatEndpoint({ kind: "unix", path: monitor }),
    probe: { kernelRelease: async () => os.release(), fsTypeOf: localFsType },
    vmstateWriter: "local-sink",
    modeBlockers: (v) => hostModeBlockers("local", v),
    openSocket: connectLocalSocket,
  };
}

function sshAccess(host: Host): HostAccess {
  const conn = (): Promise<SshConnection> => getSshConnection(sshTargetOfHost(host));
  // SFTP over the host's one shared connection, re-fetched on each use (a dropped one is re-made).
  const files = sshHostFiles(host.name, conn);
  return {
    kind: "ssh",
    label: host.name,
    files,
    listMonitors: () => socketsIn(host, files),
    endpoint: async (monitor) => {
      const ssh = await conn();
      return {
        kind: "ssh",
        host: ssh.target.address,
        port: ssh.target.port,
        username: ssh.target.user,
        socketPath: monitor,
        hostKeySha256: ssh.hostKeySha256,
        sshClient: ssh.client,
      };
    },
    endpointKey: (monitor) =>
      formatEndpoint({
        kind: "ssh",
        host: host.address ?? "",
        port: host.port ?? 22,
        username: host.user ?? "",
        socketPath: monitor,
      }),
    probe: {
      kernelRelease: async () => (await conn()).kernelRelease(),
      fsTypeOf: async (p) => {
        const out = await (await conn()).exec(`stat -f -c %T ${shellArg(p)}`).catch(() => null);
        return out?.trim() || null;
      },
    },
    vmstateWriter: "remote-exec",
    modeBlockers: (v) => hostModeBlockers("ssh", v),
    openSocket: async (socketPath) => (await conn()).openStreamLocal(socketPath),
  };
}

function tlsAccess(host: Host): HostAccess {
  return {
    kind: "tls",
    label: host.name,
    files: null,
    listMonitors: async () => {
      const list = Array.isArray(host.tlsEndpoints) ? host.tlsEndpoints : [];
      return list.flatMap((e) => {
        if (!e || typeof e !== "object" || Array.isArray(e)) return [];
        const o = e as Record<string, unknown>;
        if (typeof o.host !== "string" || typeof o.port !== "number") return [];
        return [`${o.host.includes(":") ? `[${o.host}]` : o.host}:${o.port}`];
      });
    },
    endpoint: async (monitor) => {
      const m = TLS_ENDPOINT.exec(monitor);
      if (!m) throw new DomainError(`TLS endpoint "${monitor}" is not host:port`);
      if (!host.tlsCaPath) throw new DomainError(`host ${host.name} has no CA certificate configured`);
      const [ca, cert, key] = await Promise.all([
        readFile(host.tlsCaPath),
        host.tlsCertPath ? readFile(host.tlsCertPath) : undefined,
        host.tlsKeyPath ? readFile(host.tlsKeyPath) : undefined,
      ]);
      return { kind: "tls", host: m[1]!.replace(/^\[|\]$/g, ""), port: Number(m[2]), ca, cert, key };
    },
    endpointKey: (monitor) => {
      const m = TLS_ENDPOINT.exec(monitor);
      return m
        ? formatEndpoint({ kind: "tls", host: m[1]!.replace(/^\[|\]$/g, ""), port: Number(m[2]), ca: "" })
        : `tls:${monitor}`;
    },
    probe: { kernelRelease: async () => null, fsTypeOf: async () => null },
    vmstateWriter: null,
    modeBlockers: (v) => hostModeBlockers("tls", v),
    openSocket: null,
  };
}

/** The access object of a host (cheap: nothing is connected until used). */
export function hostAccessFor(host: Host): HostAccess {
  switch (host.kind) {
    case "local":
      return localAccess(host);
    case "ssh":
      return sshAccess(host);
    case "tls":
      return tlsAccess(host);
  }
}

// Database rows → the wire shapes of lib/fleet/vm-json.ts. Every reader of a VM (REST, hub events,
// pages) goes through toVmJson, so a tab that reloads sees exactly what the stream told it.
// `vmInclude` is the relation set toVmJson needs; pass rows loaded with it.
import type { Host, Prisma, Vm } from "../db/generated/client";
import { hostModeBlockers } from "./host-capabilities";
import { parseLaunchFacts, type LaunchFacts } from "./launch-json";
import {
  diskSnapshotBlocker,
  type DiskDriftJson,
  type HostJson,
  type VmAttentionJson,
  type VmDiskJson,
  type VmJson,
} from "./vm-json";

export const vmInclude = {
  host: { select: { name: true, kind: true } },
  snapshots: {
    where: { deletedAt: null },
    orderBy: { createdAt: "desc" },
    take: 1,
    select: { id: true, status: true, createdAt: true, guestPauseMs: true },
  },
} satisfies Prisma.VmInclude;

export type VmWithRelations = Vm & {
  host: { name: string; kind?: Host["kind"] };
  snapshots?: Array<{ id: string; status: string; createdAt: Date; guestPauseMs: number | null }>;
};

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);

function disksOf(raw: Prisma.JsonValue): VmDiskJson[] {
  if (!Array.isArray(raw)) return [];
  return raw.flatMap((d) => {
    if (!d || typeof d !== "object" || Array.isArray(d)) return [];
    const o = d as Record<string, unknown>;
    return [
      {
        node: String(o.node ?? ""),
        device: String(o.device ?? ""),
        format: String(o.format ?? ""),
        file: String(o.file ?? ""),
        writable: o.writable === true,
        sizeBytes: typeof o.sizeBytes === "number" ? o.sizeBytes : null,
      },
    ];
  });
}

/** Vm.diskDrift as stored by lib/snapshots/disk-drift.ts; null when nothing drifted. */
function diskDriftOf(raw: Prisma.JsonValue | null): DiskDriftJson | null {
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) return null;
  const o = raw as Record<string, unknown>;
  const findings = Array.isArray(o.findings) ? o.findings.filter((f): f is string => typeof f === "string") : [];
  if (!findings.length) return null;
  return {
    checkedAt: typeof o.checkedAt === "string" ? o.checkedAt : new Date(0).toISOString(),
    findings,
    acknowledged: typeof o.fingerprint === "string" && o.fingerprint === o.acknowledgedFingerprint,
  };
}

/** Vm.frozen / Vm.pausedBySnapfleet as stored by lib/snapshots/guest-attention.ts. */
function attentionOf(raw: Prisma.JsonValue | null | undefined): VmAttentionJson | null {
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) return null;
  const o = raw as Record<string, unknown>;
  if (typeof o.reason !== "string") return null;
  return {
    since: typeof o.since === "string" ? o.since : new Date(0).toISOString(),
    reason: o.reason,
    snapshotId: typeof o.snapshotId === "string" ? o.snapshotId : null,
  };
}

/** Inline secrets of a command line (`-object secret,data=…`, `password=…`) never leave the server. */
export function redactLaunch(launch: LaunchFacts | null): LaunchFacts | null {
  if (!launch?.argv) return launch;
  return {
    ...launch,
    argv: launch.argv.map((a) =>
      a.replace(/((?:^|,)(?:data|password|passwd|key-secret-data)=)((?:[^,]|,,)*)/gi, "$1<redacted>"),
    ),
  };
}

export function toVmJson(vm: VmWithRelations, extra: { nextScheduledAt?: Date | null } = {}): VmJson {
  const last = vm.snapshots?.[0];
  const json: VmJson = {
    id: vm.id,
    hostId: vm.hostId,
    hostName: vm.host.name,
    name: vm.name,
    uuid: vm.uuid,
    endpoint: vm.endpoint,
    state: vm.state,
    stateReason: vm.stateReason,
    qemuVersion: vm.qemuVersion,
    memoryBytes: vm.memoryBytes === null ? null : Number(vm.memoryBytes),
    disks: disksOf(vm.disks),
    diskSnapshotBlocker: diskSnapshotBlocker(disksOf(vm.disks)),
    ...(vm.host.kind
      ? { hostKind: vm.host.kind, hostModeBlockers: hostModeBlockers(vm.host.kind, vm.qemuVersion) }
      : {}),
    diskDrift: diskDriftOf(vm.diskDrift),
    tags: vm.tags,
    bgSnapshotSupported: vm.bgSnapshotSupported,
    bgSnapshotBlocker: vm.bgSnapshotBlocker,
    lastSeenAt: iso(vm.lastSeenAt),
    goneAt: iso(vm.goneAt),
    launch: redactLaunch(parseLaunchFacts(vm.launch)),
    quiesce: vm.quiesce,
    frozen: attentionOf(vm.frozen),
    pausedBySnapfleet: attentionOf(vm.pausedBySnapfleet),
  };
  if (vm.snapshots) {
    json.lastSnapshot = last
      ? { id: last.id, status: last.status, createdAt: last.createdAt.toISOString(), guestPauseMs: last.guestPauseMs }
      : null;
  }
  if (extra.nextScheduledAt !== undefined) json.nextScheduledAt = iso(extra.nextScheduledAt);
  return json;
}

function tlsEndpointsOf(raw: Prisma.JsonValue | null): HostJson["tlsEndpoints"] {
  if (!Array.isArray(raw)) return null;
  return raw.flatMap((e) => {
    if (!e || typeof e !== "object" || Array.isArray(e)) return [];
    const o = e as Record<string, unknown>;
    if (typeof o.host !== "string" || typeof o.port !== "number") return [];
    return [{ host: o.host, port: o.port, ...(typeof o.name === "string" ? { name: o.name } : {}) }];
  });
}

export function toHostJson(host: Host, vmCounts: Record<string, number> = {}): HostJson {
  return {
    id: host.id,
    name: host.name,
    kind: host.kind,
    socketDir: host.socketDir,
    snapshotDir: host.snapshotDir,
    address: host.address,
    port: host.port,
    user: host.user,
    privateKeyPath: host.privateKeyPath,
    hostKeySha256: host.hostKeySha256,
    tlsEndpoints: tlsEndpointsOf(host.tlsEndpoints),
    tlsCaPath: host.tlsCaPath,
    tlsCertPath: host.tlsCertPath,
    tlsKeyPath: host.tlsKeyPath,
    healthy: host.healthy,
    healthError: host.healthError,
    lastDiscoveredAt: iso(host.lastDiscoveredAt),
    createdAt: host.createdAt.toISOString(),
    vmCounts,
  };
}

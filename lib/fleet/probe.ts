// Reads what the dashboard needs to know about one VM over its (shared) QMP session: name, uuid, run
// state, QEMU version, memory, disks, and whether a background snapshot is possible — and if not, why.
// All commands are sent at once (QEMU answers them in order on one session), so a probe costs one
// round of ~10 small replies.
//
// Background snapshot (QEMU ≥ 6.0, migration/ram.c ram_write_tracking_*) is impossible when:
//  - QEMU has no `background-snapshot` capability (older QEMU);
//  - migration is blocked at all (`query-migrate` → `blocked-reasons`, e.g. ivshmem peer mode, VFIO
//    devices without migration support) — migrate refuses before any snapshot starts;
//  - a VFIO device is attached (named from qom-list /machine/peripheral*): device DMA writes bypass the
//    userfaultfd write-protection the snapshot relies on;
//  - a capability QEMU declares incompatible with it is switched on (postcopy-ram, multifd, …: QEMU.md §5);
//  - the host kernel lacks userfaultfd write-protect (Linux < 5.7), or for shared (share=on) / hugetlb /
//    tmpfs-file guest memory, Linux < 5.19 (uffd-wp on shmem and hugetlbfs came in 5.19); file-backed
//    memory on a regular filesystem can never be write-protected.
// The decision is a pure function (backgroundSnapshotBlocker) so every branch is tested without a VM.
import { logIgnored } from "../best-effort";
import { incompatibleCapabilitiesOn, type QmpClient } from "../qmp";
import type { BlockInfo, MigrationCapabilityStatus, MigrationInfo, QomProperty, RunState } from "../qmp";
import type { VmDiskJson } from "./vm-json";

export interface MemoryBackendInfo {
  id: string;
  /** QOM type, e.g. memory-backend-ram, memory-backend-memfd, memory-backend-file. */
  type: string;
  share: boolean;
  hugetlb: boolean;
  memPath?: string;
  /** Filesystem type of memPath ("tmpfs", "hugetlbfs", "ext2/ext3", …) when it could be read. */
  memPathFs?: string | null;
}

export interface BlockerInputs {
  qemuVersion: string;
  capabilities: MigrationCapabilityStatus[];
  blockedReasons: string[];
  /** Devices under /machine/peripheral{,-anon}: id and QOM type. */
  devices: Array<{ id: string; type: string }>;
  memoryBackends: MemoryBackendInfo[];
  /** `uname -r` of the host running QEMU; null when unknown (then kernel checks are skipped). */
  kernelRelease: string | null;
}

function kernelAtLeast(release: string, major: number, minor: number): boolean | null {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) return null;
  const [maj, min] = [Number(m[1]), Number(m[2])];
  return maj > major || (maj === major && min >= minor);
}

/** null when a background snapshot is possible, otherwise the reasons (joined with "; "). */
export function backgroundSnapshotBlocker(i: BlockerInputs): string | null {
  const reasons: string[] = [];
  if (!i.capabilities.some((c) => c.capability === "background-snapshot")) {
    reasons.push(`QEMU ${i.qemuVersion} has no background-snapshot capability (needs QEMU 6.0 or newer)`);
  }
  if (i.blockedReasons.length) reasons.push(`QEMU blocks migration: ${i.blockedReasons.join("; ")}`);
  for (const d of i.devices) {
    if (/vfio/i.test(d.type)) {
      reasons.push(`VFIO passthrough device "${d.id}" (${d.type}): its DMA writes cannot be write-tracked`);
    }
  }
  const on = incompatibleCapabilitiesOn(i.capabilities);
  if (on.length)
    reasons.push(`migration capability ${on.join(", ")} is on and is incompatible with background-snapshot`);

  const kernel = i.kernelRelease;
  if (kernel && kernelAtLeast(kernel, 5, 7) === false) {
    reasons.push(`host kernel ${kernel} has no userfaultfd write-protect (needs Linux 5.7 or newer)`);
  } else {
    const sharedOk = kernel ? kernelAtLeast(kernel, 5, 19) : null;
    for (const b of i.memoryBackends) {
      const fs = b.memPathFs ?? null;
      if (b.memPath && fs && fs !== "tmpfs" && fs !== "hugetlbfs") {
        reasons.push(
          `memory backend "${b.id}" is file-backed on ${fs} (${b.memPath}): write-protection works only on anonymous, tmpfs and hugetlbfs memory`,
        );
        continue;
      }
      const kind = b.hugetlb || fs === "hugetlbfs" ? "hugetlb" : b.share || fs === "tmpfs" ? "shared" : null;
      if (kind && sharedOk === false) {
        reasons.push(
          `memory backend "${b.id}" is ${kind} memory (${b.type}${b.share ? ", share=on" : ""}): write-protecting it needs Linux 5.19 or newer, the host runs ${kernel}`,
        );
      }
    }
  }
  return reasons.length ? reasons.join("; ") : null;
}

export interface VmFacts {
  name: string | null;
  uuid: string | null;
  status: RunState;
  qemuVersion: string;
  memoryBytes: number | null;
  disks: VmDiskJson[];
  bgSnapshotSupported: boolean;
  bgSnapshotBlocker: string | null;
}

export interface ProbeHostContext {
  kernelRelease(): Promise<string | null>;
  /** Filesystem type name of a path on the host, or null when unknown. */
  fsTypeOf(path: string): Promise<string | null>;
}

const NIL_UUID = "00000000-0000-0000-0000-000000000000";

/** Drives with a medium → disks. Empty CD-ROM drives and trays without media are skipped. */
export function disksFromQueryBlock(blocks: BlockInfo[]): VmDiskJson[] {
  return blocks.flatMap((b) => {
    const ins = b.inserted;
    if (!ins || !ins["node-name"]) return [];
    return [
      {
        node: ins["node-name"],
        device: b.device || shortQdev(b.qdev) || ins["node-name"],
        format: ins.drv,
        file: ins.file,
        writable: !ins.ro,
        sizeBytes: typeof ins.image?.["virtual-size"] === "number" ? ins.image["virtual-size"] : null,
      },
    ];
  });
}

/** "/machine/peripheral/vd0/virtio-backend" → "vd0"; a bare id stays as is. */
function shortQdev(qdev: string | undefined): string {
  if (!qdev) return "";
  const m = /^\/machine\/peripheral(?:-anon)?\/([^/]+)/.exec(qdev);
  return m ? m[1]! : qdev;
}

function childType(type: string): string | null {
  const m = /^child<(.+)>$/.exec(type);
  return m ? m[1]! : null;
}

export async function probeVm(client: QmpClient, host: ProbeHostContext): Promise<VmFacts> {
  const v = client.greeting.version.qemu;
  const qemuVersion = `${v.major}.${v.minor}.${v.micro}`;
  const qomList = (path: string) => client.qomList(path).catch((): QomProperty[] => []); // a path this QEMU lacks lists nothing
  const [status, name, uuid, memory, blocks, caps, migrate, peripheral, peripheralAnon, objects] = await Promise.all([
    client.queryStatus(),
    client.queryName(),
    client.queryUuid(),
    client.queryMemorySizeSummary(),
    client.queryBlock(),
    client.queryMigrateCapabilities(),
    client.queryMigrate().catch((): MigrationInfo => ({})),
    qomList("/machine/peripheral"),
    qomList("/machine/peripheral-anon"),
    qomList("/objects"),
  ]);

  const devices = [...peripheral, ...peripheralAnon].flatMap((p) => {
    const type = childType(p.type);
    return type ? [{ id: p.name, type }] : [];
  });
  const backendProps = objects.flatMap((o) => {
    const type = childType(o.type);
    return type?.startsWith("memory-backend-") ? [{ id: o.name, type }] : [];
  });
  const qomGet = <T>(path: string, property: string) =>
    client.qomGet(path, property).then((v) => v as T, logIgnored("an object without that property"));
  const memoryBackends: MemoryBackendInfo[] = await Promise.all(
    backendProps.map(async ({ id, type }) => {
      const path = `/objects/${id}`;
      const [share, hugetlb, memPath] = await Promise.all([
        qomGet<boolean>(path, "share"),
        type === "memory-backend-memfd" ? qomGet<boolean>(path, "hugetlb") : undefined,
        type === "memory-backend-file" ? qomGet<string>(path, "mem-path") : undefined,
      ]);
      const backend: MemoryBackendInfo = { id, type, share: share === true, hugetlb: hugetlb === true };
      if (memPath) {
        backend.memPath = memPath;
        backend.memPathFs = await host.fsTypeOf(memPath);
      }
      return backend;
    }),
  );
  const kernelRelease = await host.kernelRelease();
  const blocker = backgroundSnapshotBlocker({
    qemuVersion,
    capabilities: caps,
    blockedReasons: migrate["blocked-reasons"] ?? [],
    devices,
    memoryBackends,
    kernelRelease,
  });
  const uuidText = uuid.UUID && uuid.UUID !== NIL_UUID ? uuid.UUID : null;
  return {
    name: name.name ?? null,
    uuid: uuidText,
    status: status.status,
    qemuVersion,
    memoryBytes:
      typeof memory["base-memory"] === "number" ? memory["base-memory"] + (memory["plugged-memory"] ?? 0) : null,
    disks: disksFromQueryBlock(blocks),
    bgSnapshotSupported: blocker === null,
    bgSnapshotBlocker: blocker,
  };
}

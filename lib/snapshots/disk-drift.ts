// Disk drift: a VM whose disks no longer match what its snapshots recorded — restarted on other images,
// an internal snapshot deleted by hand, a legacy layer taken out of its chain. Checked against the VM's
// live block graph (query-block: each device's chain and each qcow2 image's internal snapshots) by the
// snapshot worker's sweep and before every deletion; the findings are kept on the VM row
// (`Vm.diskDrift`), shown on its page, and block every disk-touching deletion of that VM until an
// operator acknowledges exactly those findings (a new finding needs a new acknowledgement).
// Invariants: a VM that cannot be reached is not judged (its last verdict stays); only snapshots that
// are completed and neither deleted nor being deleted count; the check itself changes nothing on the VM.
import { logIgnored } from "../best-effort";
import { createHash } from "node:crypto";
import { db } from "../db/client";
import type { Prisma } from "../db/generated/client";
import { ConflictError, NotFoundError } from "../errors";
import { publishVm } from "../fleet/live-state";
import { getVmSession } from "../fleet/sessions";
import { FLEET_EVENTS, type VmJson } from "../fleet/vm-json";
import { getVmJson } from "../fleet/vms";
import type { BlockInfo, ImageInfo } from "../qmp/types";
import { parseArtifacts } from "./artifacts";

interface StoredDrift {
  checkedAt: string;
  findings: string[];
  fingerprint: string;
  acknowledgedFingerprint?: string;
  acknowledgedAt?: string;
}

function parseStored(raw: unknown): StoredDrift | null {
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) return null;
  const o = raw as Partial<StoredDrift>;
  if (!Array.isArray(o.findings) || typeof o.fingerprint !== "string") return null;
  return o as StoredDrift;
}

/** The findings that block destructive actions (open and not acknowledged), or null. */
export function driftBlocksDestruction(raw: unknown): string[] | null {
  const d = parseStored(raw);
  if (!d?.findings.length || d.acknowledgedFingerprint === d.fingerprint) return null;
  return d.findings;
}

/** True when findings exist and an operator acknowledged exactly them. */
export function driftAcknowledged(raw: unknown): boolean {
  const d = parseStored(raw);
  return Boolean(d?.findings.length && d.acknowledgedFingerprint === d.fingerprint);
}

interface RecordedSnapshot {
  id: string;
  createdAt: Date;
  artifacts: unknown;
  diskChain: unknown;
}

/** Every image of the VM's chains, with its internal snapshot names. */
function liveImages(blocks: BlockInfo[]): Map<string, Set<string>> {
  const images = new Map<string, Set<string>>();
  for (const b of blocks) {
    for (let i: ImageInfo | undefined = b.inserted?.image; i; i = i["backing-image"]) {
      images.set(i.filename, new Set((i.snapshots ?? []).map((s) => s.name)));
    }
  }
  return images;
}

/** What no longer matches, one sentence each (pure). */
export function findDrift(blocks: BlockInfo[], snapshots: RecordedSnapshot[]): string[] {
  const images = liveImages(blocks);
  const tops = blocks.flatMap((b) => (b.inserted ? [b.inserted.image.filename] : []));
  const findings: string[] = [];
  for (const s of snapshots) {
    const label = `the snapshot of ${s.createdAt.toISOString().replace("T", " ").slice(0, 19)} UTC (${s.id.slice(0, 8)})`;
    for (const a of parseArtifacts(s.artifacts)) {
      if (a.kind !== "internal-snapshot") continue;
      const names = images.get(a.image);
      if (!names)
        findings.push(
          `${label} keeps ${a.device}'s state in ${a.image}, which the VM no longer uses (it runs on ${tops.join(", ") || "no disk"})`,
        );
      else if (!names.has(a.name))
        findings.push(`${label}: its internal snapshot ${a.name} is gone from ${a.image} (deleted outside Snapfleet?)`);
    }
    const chain = Array.isArray(s.diskChain) ? (s.diskChain as Array<{ image?: string; overlay?: string }>) : [];
    for (const e of chain) {
      if (e.overlay && !images.has(e.overlay)) {
        findings.push(
          `${label} layered the disk onto ${e.overlay}, which the VM no longer uses (it runs on ${tops.join(", ") || "no disk"}): guest writes made after that snapshot are in ${e.overlay}, and ${e.image} may have been written since, so that snapshot may no longer restore as taken`,
        );
      }
    }
  }
  return findings;
}

/**
 * Re-checks one VM against its live block graph and stores the verdict; a changed verdict is published
 * (vm.updated), so an open VM page shows it. Returns the findings, or null when the VM is unreachable.
 */
export async function checkDiskDrift(vmId: string): Promise<string[] | null> {
  const qmp = await getVmSession(vmId).catch(logIgnored("an unreachable VM is not judged: its last verdict stays"));
  if (!qmp) return null;
  const blocks = await qmp.queryBlock();
  const snapshots = await db().snapshot.findMany({
    // A snapshot being deleted is expected to lose its pieces one by one: not drift.
    where: { vmId, deletedAt: null, deletingSince: null, status: "completed" },
    select: { id: true, createdAt: true, artifacts: true, diskChain: true },
    orderBy: { createdAt: "asc" },
  });
  const findings = findDrift(blocks, snapshots);
  const before = parseStored(
    (await db().vm.findUnique({ where: { id: vmId }, select: { diskDrift: true } }))?.diskDrift,
  );
  const fingerprint = createHash("sha256").update(findings.join("\n")).digest("hex");
  const stored: StoredDrift | null = findings.length
    ? {
        checkedAt: new Date().toISOString(),
        findings,
        fingerprint,
        ...(before?.acknowledgedFingerprint
          ? { acknowledgedFingerprint: before.acknowledgedFingerprint, acknowledgedAt: before.acknowledgedAt }
          : {}),
      }
    : null;
  await db().vm.update({
    where: { id: vmId },
    data: { diskDrift: stored ? (stored as unknown as Prisma.InputJsonValue) : ({} as Prisma.InputJsonValue) },
  });
  if ((before?.fingerprint ?? null) !== (stored?.fingerprint ?? null))
    await publishVm(FLEET_EVENTS.vmUpdated, await getVmJson(vmId));
  return findings;
}

/**
 * An operator reviewed the findings: disk-touching deletions of this VM may go on. `reviewed` is the
 * list the operator was shown: when the stored findings differ (a check ran meanwhile), nothing is
 * acknowledged (ConflictError carrying the current VM). Returns the VM; publishes it.
 */
export async function acknowledgeDiskDrift(vmId: string, reviewed?: string[]): Promise<VmJson> {
  await db().$transaction(async (tx) => {
    const [row] = await tx.$queryRaw<Array<{ diskDrift: unknown; name: string }>>`
      SELECT "diskDrift", name FROM "Vm" WHERE id = ${vmId}::uuid FOR UPDATE`;
    if (!row) throw new NotFoundError(`no VM with id ${vmId}`);
    const d = parseStored(row.diskDrift);
    if (!d?.findings.length) return;
    if (reviewed && (reviewed.length !== d.findings.length || reviewed.some((f, i) => f !== d.findings[i]))) {
      throw new ConflictError(
        `the findings for VM ${row.name} changed since they were shown: nothing was acknowledged. Review the current list, then confirm again`,
        { vm: await getVmJson(vmId) },
      );
    }
    const acknowledged: StoredDrift = {
      ...d,
      acknowledgedFingerprint: d.fingerprint,
      acknowledgedAt: new Date().toISOString(),
    };
    await tx.vm.update({ where: { id: vmId }, data: { diskDrift: acknowledged as unknown as Prisma.InputJsonValue } });
  });
  const vm = await getVmJson(vmId);
  await publishVm(FLEET_EVENTS.vmUpdated, vm);
  return vm;
}

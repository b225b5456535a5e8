// What the schedule editor offers: VMs (not gone) with their host, hosts, and the IANA zones this
// server knows (the scheduler evaluates cron with the same tz database).
import { db } from "../db/client";
import { hostModeBlockers } from "../fleet/host-capabilities";

export async function editorOptions() {
  const [vms, hosts] = await Promise.all([
    db().vm.findMany({
      where: { state: { not: "gone" } },
      select: {
        id: true,
        name: true,
        hostId: true,
        tags: true,
        qemuVersion: true,
        host: { select: { name: true, kind: true } },
      },
      orderBy: [{ name: "asc" }, { id: "asc" }],
    }),
    db().host.findMany({ select: { id: true, name: true, kind: true }, orderBy: { name: "asc" } }),
  ]);
  return {
    // Per VM and host, the modes its host kind cannot give (a TLS host: disks-only only), so the editor
    // says so before the save (which refuses the same: lib/scheduler/service.ts assertModeOffered).
    vms: vms.map((v) => ({
      id: v.id,
      name: v.name,
      hostId: v.hostId,
      tags: v.tags,
      hostName: v.host.name,
      hostKind: v.host.kind,
      modeBlockers: hostModeBlockers(v.host.kind, v.qemuVersion),
    })),
    hosts: hosts.map((h) => ({ ...h, modeBlockers: hostModeBlockers(h.kind) })),
    timezones: ["UTC", ...Intl.supportedValuesOf("timeZone").filter((tz) => tz !== "UTC")],
  };
}

// What the schedule editor offers: VMs (not gone) with their host, hosts, and the IANA zones this
// server knows (the scheduler evaluates cron with the same tz database).
import { db } from "../db/client";

export async function editorOptions() {
  const [vms, hosts] = await Promise.all([
    db().vm.findMany({
      where: { state: { not: "gone" } },
      select: { id: true, name: true, hostId: true, tags: true, host: { select: { name: true } } },
      orderBy: [{ name: "asc" }, { id: "asc" }],
    }),
    db().host.findMany({ select: { id: true, name: true }, orderBy: { name: "asc" } }),
  ]);
  return {
    vms: vms.map((v) => ({ id: v.id, name: v.name, hostId: v.hostId, tags: v.tags, hostName: v.host.name })),
    hosts,
    timezones: ["UTC", ...Intl.supportedValuesOf("timeZone").filter((tz) => tz !== "UTC")],
  };
}

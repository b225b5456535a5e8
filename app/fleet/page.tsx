// Fleet: every host and every VM, live. The first page of VMs is read on the server with the query
// from the URL; FleetView then filters, sorts and pages through GET /api/vms and follows `fleet`.
import type { Metadata } from "next";
import { FleetView } from "@/components/fleet/fleet-view";
import type { FleetQuery } from "@/components/fleet/use-fleet-query";
import { PageHeader } from "@/components/ui/page-header";
import { listHosts } from "@/lib/fleet/hosts";
import { listVms } from "@/lib/fleet/vms";
import { vmListQuerySchema } from "@/lib/validations/vm";

export const metadata: Metadata = { title: "Fleet" };
export const dynamic = "force-dynamic";

export default async function FleetPage({
  searchParams,
}: {
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const raw = Object.fromEntries(Object.entries(await searchParams).map(([k, v]) => [k, Array.isArray(v) ? v[0] : v]));
  const parsed = vmListQuerySchema.safeParse(raw);
  const query = parsed.success ? parsed.data : vmListQuerySchema.parse({});
  const [hosts, list] = await Promise.all([listHosts(), listVms(query)]);
  const initialQuery: FleetQuery = {
    q: query.q ?? "",
    state: query.state ?? [],
    hostId: query.hostId ?? "",
    tag: query.tag ?? "",
    sort: query.sort,
    dir: query.dir,
    offset: query.offset,
    limit: query.limit,
  };
  return (
    <>
      <PageHeader title="Fleet" description="Hypervisor hosts and every VM on them, live." />
      <FleetView initialHosts={hosts} initialList={list} initialQuery={initialQuery} />
    </>
  );
}

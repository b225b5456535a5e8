// Snapshots: fleet-wide history with filters, status chips, sizes, durations and a pause/duration chart
// per VM. The first page is rendered on the server from the URL's filters; the view then follows live.
import type { Metadata } from "next";
import { PageHeader } from "@/components/ui/page-header";
import { SnapshotsView, type SnapshotFilters } from "@/components/snapshots/snapshots-view";
import { listSnapshots, snapshotFilterOptions } from "@/lib/snapshots/jobs";
import { snapshotListQuerySchema } from "@/lib/validations/snapshot";

export const metadata: Metadata = { title: "Snapshots" };
export const dynamic = "force-dynamic";

type Search = Record<string, string | string[] | undefined>;

const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v) ?? "";
const day = (v: string) => (/^\d{4}-\d{2}-\d{2}$/.test(v) ? v : "");

export default async function SnapshotsPage({ searchParams }: { searchParams: Promise<Search> }) {
  const sp = await searchParams;
  const parsedStatus = snapshotListQuerySchema.safeParse({ status: one(sp.status) || undefined });
  const filters: SnapshotFilters = {
    status: parsedStatus.success ? (parsedStatus.data.status ?? []) : [],
    vmId: /^[0-9a-f-]{36}$/i.test(one(sp.vmId)) ? one(sp.vmId) : "",
    hostId: /^[0-9a-f-]{36}$/i.test(one(sp.hostId)) ? one(sp.hostId) : "",
    from: day(one(sp.from)),
    to: day(one(sp.to)),
  };
  const [initial, options] = await Promise.all([
    listSnapshots(
      snapshotListQuerySchema.parse({
        status: filters.status.join(",") || undefined,
        vmId: filters.vmId || undefined,
        hostId: filters.hostId || undefined,
        from: filters.from ? `${filters.from}T00:00:00.000Z` : undefined,
        to: filters.to ? `${filters.to}T23:59:59.999Z` : undefined,
        limit: "50",
      }),
    ),
    snapshotFilterOptions(),
  ]);
  return (
    <>
      <PageHeader
        title="Snapshots"
        description="Every snapshot across the fleet: guest pause, duration and size, live."
      />
      <SnapshotsView initial={initial} initialFilters={filters} options={options} />
    </>
  );
}

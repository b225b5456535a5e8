import type { Metadata } from "next";
import { EmptyState } from "@/components/ui/empty-state";
import { PageHeader } from "@/components/ui/page-header";

export const metadata: Metadata = { title: "Snapshots" };

export default function SnapshotsPage() {
  return (
    <>
      <PageHeader title="Snapshots" description="Snapshot history across the fleet." />
      <EmptyState title="No snapshots yet" action={{ href: "/fleet", label: "Go to the fleet" }}>
        Open a running VM from the Fleet page and click Snapshot now. Every snapshot, with its guest pause,
        duration and size, is listed here.
      </EmptyState>
    </>
  );
}

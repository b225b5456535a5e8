// One "Snapshot now" for a selection of VMs (from the Fleet page): every job of the selection, live, in
// one view, with the VMs that were refused and why. Read on the server, then followed by BatchView.
import type { Metadata } from "next";
import Link from "next/link";
import { notFound } from "next/navigation";
import { BatchView } from "@/components/snapshots/batch-view";
import { PageHeader } from "@/components/ui/page-header";
import { NotFoundError } from "@/lib/errors";
import { getSnapshotBatch } from "@/lib/snapshots/batches";

export const metadata: Metadata = { title: "Snapshot batch" };
export const dynamic = "force-dynamic";

export default async function SnapshotBatchPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  if (!/^[0-9a-f-]{36}$/i.test(id)) notFound();
  let detail;
  try {
    detail = await getSnapshotBatch(id);
  } catch (err) {
    if (err instanceof NotFoundError) notFound();
    throw err;
  }
  const n = detail.snapshots.length + detail.batch.refused.length;
  return (
    <>
      <nav aria-label="Breadcrumb" className="mb-1 text-xs text-slate-500 dark:text-slate-400">
        <Link href="/snapshots" className="hover:underline">
          Snapshots
        </Link>{" "}
        / batch
      </nav>
      <PageHeader
        title="Snapshot batch"
        description={`Snapshot now for ${n} selected VM${n === 1 ? "" : "s"}: every job, live.`}
      />
      <BatchView initial={detail} />
    </>
  );
}

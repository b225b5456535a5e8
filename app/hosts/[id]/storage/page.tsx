// A host's snapshot storage: space used per VM, free space of its snapshot directory, and the next
// 24 h of scheduled snapshots with a warning when they would not fit (lib/fleet/host-storage.ts).
// Read on the server at each visit (the free space is a statfs/SFTP call, not a stream).
import type { Metadata } from "next";
import { notFound } from "next/navigation";
import { HostStorageView } from "@/components/hosts/host-storage-view";
import { PageHeader } from "@/components/ui/page-header";
import { NotFoundError } from "@/lib/errors";
import { getHostStorage } from "@/lib/fleet/host-storage";
import { idParam } from "@/lib/http/params";

export const metadata: Metadata = { title: "Host storage" };
export const dynamic = "force-dynamic";

export default async function HostStoragePage({ params }: { params: Promise<{ id: string }> }) {
  let storage;
  try {
    storage = await getHostStorage(await idParam(params, "host"));
  } catch (err) {
    if (err instanceof NotFoundError) notFound();
    throw err;
  }
  return (
    <>
      <PageHeader
        title={`Storage on ${storage.hostName}`}
        description={`Snapshot directory ${storage.snapshotDir} (${storage.hostKind} host).`}
      />
      <HostStorageView storage={storage} />
    </>
  );
}

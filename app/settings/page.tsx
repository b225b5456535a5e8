import type { Metadata } from "next";
import { EmptyState } from "@/components/ui/empty-state";
import { PageHeader } from "@/components/ui/page-header";

export const metadata: Metadata = { title: "Settings" };

export default function SettingsPage() {
  return (
    <>
      <PageHeader title="Settings" description="Hosts and dashboard configuration." />
      <EmptyState title="No hosts configured">
        A host is where QEMU runs. Add one by giving the directory of its VMs&apos; QMP sockets and the
        directory where snapshot files should be written.
      </EmptyState>
    </>
  );
}

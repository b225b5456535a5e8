import type { Metadata } from "next";
import { EmptyState } from "@/components/ui/empty-state";
import { PageHeader } from "@/components/ui/page-header";

export const metadata: Metadata = { title: "Fleet" };

export default function FleetPage() {
  return (
    <>
      <PageHeader title="Fleet" description="Hypervisor hosts and every VM on them, live." />
      <EmptyState title="No hosts yet" action={{ href: "/settings", label: "Add a host" }}>
        Register a hypervisor host in Settings → Hosts: a directory of QMP sockets on this machine, or a remote
        host over SSH. Its VMs appear here as soon as they are discovered.
      </EmptyState>
    </>
  );
}

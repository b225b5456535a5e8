// Settings: the hosts Snapfleet discovers VMs on (Settings → Hosts).
import type { Metadata } from "next";
import { HostsSettings } from "@/components/hosts/hosts-settings";
import { PageHeader } from "@/components/ui/page-header";
import { listHosts } from "@/lib/fleet/hosts";

export const metadata: Metadata = { title: "Settings" };
export const dynamic = "force-dynamic";

export default async function SettingsPage() {
  return (
    <>
      <PageHeader title="Settings" description="Hosts and dashboard configuration." />
      <HostsSettings initialHosts={await listHosts()} />
    </>
  );
}

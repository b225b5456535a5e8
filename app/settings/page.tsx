// Settings: the hosts Snapfleet discovers VMs on (Settings → Hosts).
import type { Metadata } from "next";
import Link from "next/link";
import { HostsSettings } from "@/components/hosts/hosts-settings";
import { PageHeader } from "@/components/ui/page-header";
import { listHosts } from "@/lib/fleet/hosts";

export const metadata: Metadata = { title: "Settings" };
export const dynamic = "force-dynamic";

export default async function SettingsPage() {
  return (
    <>
      <PageHeader
        title="Settings"
        description="Hosts and dashboard configuration."
        actions={
          <Link
            href="/settings/webhooks"
            className="rounded-md px-3 py-1.5 text-sm font-medium text-sky-700 hover:bg-sky-50 dark:text-sky-400 dark:hover:bg-sky-950"
          >
            Webhooks
          </Link>
        }
      />
      <HostsSettings initialHosts={await listHosts()} />
    </>
  );
}

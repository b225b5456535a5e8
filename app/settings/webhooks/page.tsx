// /settings/webhooks — Settings → Webhooks for admins (route-rules.ts ADMIN_PAGE_PREFIXES): the URLs
// Snapfleet POSTs signed events to, "Send test", and each hook's delivery log (docs/webhooks.md).
import type { Metadata } from "next";
import { PageHeader } from "@/components/ui/page-header";
import { WebhooksSettings } from "@/components/webhooks/webhooks-settings";
import { listWebhooks } from "@/lib/webhooks/hooks";

export const metadata: Metadata = { title: "Webhooks" };
export const dynamic = "force-dynamic";

export default async function WebhooksPage() {
  return (
    <>
      <PageHeader
        title="Webhooks"
        description="Signed HTTP POSTs to your URLs when snapshots, restores, schedules, hosts or VMs need attention."
      />
      <WebhooksSettings initialWebhooks={await listWebhooks()} />
    </>
  );
}

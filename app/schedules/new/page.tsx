// A new schedule: the editor with the cron preview; saving opens the schedule's page.
import type { Metadata } from "next";
import { ScheduleEditor } from "@/components/schedules/schedule-editor";
import { PageHeader } from "@/components/ui/page-header";
import { editorOptions } from "@/lib/scheduler/editor-data";

export const metadata: Metadata = { title: "New schedule" };
export const dynamic = "force-dynamic";

export default async function NewSchedulePage() {
  const options = await editorOptions();
  return (
    <>
      <PageHeader title="New schedule" description="Recurring snapshots of chosen VMs, with retention." />
      <ScheduleEditor {...options} />
    </>
  );
}

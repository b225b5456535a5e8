import type { Metadata } from "next";
import { EmptyState } from "@/components/ui/empty-state";
import { PageHeader } from "@/components/ui/page-header";

export const metadata: Metadata = { title: "Schedules" };

export default function SchedulesPage() {
  return (
    <>
      <PageHeader title="Schedules" description="Recurring snapshots with retention." />
      <EmptyState title="No schedules yet">
        Schedules take snapshots of chosen VMs on a cron timetable and keep only what their retention policy
        says. Add hosts first; schedules target their VMs.
      </EmptyState>
    </>
  );
}

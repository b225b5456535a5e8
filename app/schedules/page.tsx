// Schedules: every schedule with its next run, last result and success rate (flagged when failing),
// and the next 24 hours of runs per host so collisions show before they happen.
import type { Metadata } from "next";
import Link from "next/link";
import { ScheduleCalendar } from "@/components/schedules/schedule-calendar";
import { SchedulesView } from "@/components/schedules/schedules-view";
import { EmptyState } from "@/components/ui/empty-state";
import { PageHeader } from "@/components/ui/page-header";
import { listSchedules, scheduleCalendar } from "@/lib/scheduler/service";

export const metadata: Metadata = { title: "Schedules" };
export const dynamic = "force-dynamic";

export default async function SchedulesPage() {
  const [schedules, calendar] = await Promise.all([listSchedules(), scheduleCalendar(new Date(), 24)]);
  const newButton = (
    <Link
      href="/schedules/new"
      className="rounded-md bg-sky-600 px-3 py-1.5 text-sm font-medium text-white hover:bg-sky-500"
    >
      New schedule
    </Link>
  );
  return (
    <>
      <PageHeader title="Schedules" description="Recurring snapshots with retention." actions={newButton} />
      {schedules.length === 0 ? (
        <EmptyState title="No schedules yet" action={{ href: "/schedules/new", label: "New schedule" }}>
          Schedules take snapshots of chosen VMs, a host&apos;s VMs or VMs matching a name or tag, on a cron timetable
          in your time zone, and keep only what their retention policy says.
        </EmptyState>
      ) : (
        <div className="space-y-6">
          <SchedulesView schedules={schedules} />
          <ScheduleCalendar {...calendar} />
        </div>
      )}
    </>
  );
}

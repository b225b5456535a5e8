// One schedule: run now / delete, its runs (every VM's outcome, live), and the editor with the cron
// preview and the retention dry run.
import type { Metadata } from "next";
import { notFound } from "next/navigation";
import { ScheduleActions, ScheduleRuns } from "@/components/schedules/schedule-detail";
import { ScheduleEditor } from "@/components/schedules/schedule-editor";
import { PageHeader } from "@/components/ui/page-header";
import { NotFoundError } from "@/lib/errors";
import { editorOptions } from "@/lib/scheduler/editor-data";
import { getSchedule } from "@/lib/scheduler/service";

export const metadata: Metadata = { title: "Schedule" };
export const dynamic = "force-dynamic";

export default async function SchedulePage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  if (!/^[0-9a-f-]{36}$/i.test(id)) notFound();
  const data = await getSchedule(id).catch((err) => {
    if (err instanceof NotFoundError) notFound();
    throw err;
  });
  const options = await editorOptions();
  const { schedule, runs } = data;
  return (
    <>
      <PageHeader
        title={schedule.name}
        description={`${schedule.description} · ${schedule.targetSummary}`}
        actions={<ScheduleActions schedule={schedule} />}
      />
      <div className="grid gap-6 lg:grid-cols-[minmax(0,1fr)_minmax(0,1fr)]">
        <ScheduleRuns schedule={schedule} runs={runs} />
        <div>
          <h2 className="mb-3 text-base font-semibold">Settings</h2>
          <ScheduleEditor key={schedule.updatedAt} schedule={schedule} {...options} />
        </div>
      </div>
    </>
  );
}

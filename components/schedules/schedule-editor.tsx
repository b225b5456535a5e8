"use client";
// The schedule editor (new and edit): a cron builder with the expression in words and its next 5 runs
// in the chosen zone (./cron-preview.tsx), targets (./target-picker.tsx), mode, retention with a dry-run
// preview of what the policy would delete (./retention-preview.tsx; editing only: a new schedule has no
// snapshots), and the busy, missed-run, stagger and failure-flag settings. State, validation against the
// API's own schema and the save live in ./use-schedule-form.ts; this file lays the form out.
import { SNAPSHOT_MODES, type SnapshotModeName } from "@/lib/validations/snapshot";
import type { ScheduleView } from "@/lib/scheduler/service";
import { Button } from "@/components/ui/button";
import { CheckboxField } from "@/components/ui/checkbox-field";
import { CronPreview } from "./cron-preview";
import { WEEKDAYS, type Frequency } from "./cron-builder";
import { Field, input, NumberField, Section } from "./form-parts";
import { RetentionPreview } from "./retention-preview";
import { TargetPicker } from "./target-picker";
import { RETENTION_KEYS, useScheduleForm, type EditorHost, type EditorVm } from "./use-schedule-form";

const checkRow = "flex items-center gap-2 text-sm";

export function ScheduleEditor({
  schedule,
  vms,
  hosts,
  timezones,
}: {
  schedule?: ScheduleView;
  vms: EditorVm[];
  hosts: EditorHost[];
  timezones: string[];
}) {
  const { values, set, setB, cron, policy, matched, modeBlocker, error, saving, save } = useScheduleForm({
    schedule,
    vms,
    hosts,
  });
  const { builder, timezone } = values;
  /** The builder's day of month or minute, typed as a number. */
  const builderNumber = (key: "dayOfMonth" | "minute", id: string, label: string, min: number, max: number) => (
    <NumberField
      id={id}
      label={label}
      min={min}
      max={max}
      value={builder[key]}
      onChange={(v) => setB({ [key]: Number(v) })}
    />
  );

  return (
    <form onSubmit={save} className="space-y-5" aria-label={schedule ? "Edit schedule" : "New schedule"}>
      <Section title="Schedule">
        <Field label="Name" htmlFor="schedule-name">
          <input
            id="schedule-name"
            className={`${input} w-full max-w-md`}
            value={values.name}
            onChange={(e) => set("name")(e.target.value)}
            required
            maxLength={100}
          />
        </Field>
        <div className="flex flex-wrap gap-4">
          <Field label="Repeat" htmlFor="schedule-frequency">
            <select
              id="schedule-frequency"
              className={input}
              value={builder.frequency}
              onChange={(e) =>
                setB({ frequency: e.target.value as Frequency, custom: e.target.value === "custom" ? cron : undefined })
              }
            >
              <option value="hourly">Every hour</option>
              <option value="daily">Every day</option>
              <option value="weekly">Every week</option>
              <option value="monthly">Every month</option>
              <option value="custom">Custom (cron)</option>
            </select>
          </Field>
          {builder.frequency === "weekly" && (
            <Field label="On">
              <div className="flex gap-1">
                {WEEKDAYS.map((d, i) => (
                  <label key={d} className="flex items-center gap-1 text-xs">
                    <input
                      type="checkbox"
                      checked={builder.weekdays.includes(i)}
                      onChange={(e) =>
                        setB({
                          weekdays: e.target.checked
                            ? [...builder.weekdays, i]
                            : builder.weekdays.filter((x) => x !== i),
                        })
                      }
                    />
                    {d}
                  </label>
                ))}
              </div>
            </Field>
          )}
          {builder.frequency === "monthly" && builderNumber("dayOfMonth", "schedule-dom", "Day of month", 1, 31)}
          {(builder.frequency === "daily" || builder.frequency === "weekly" || builder.frequency === "monthly") && (
            <Field label="At" htmlFor="schedule-time">
              <input
                id="schedule-time"
                type="time"
                className={input}
                value={`${String(builder.hour).padStart(2, "0")}:${String(builder.minute).padStart(2, "0")}`}
                onChange={(e) => {
                  const [h, m] = e.target.value.split(":").map(Number);
                  setB({ hour: h ?? 0, minute: m ?? 0 });
                }}
              />
            </Field>
          )}
          {builder.frequency === "hourly" && builderNumber("minute", "schedule-minute", "At minute", 0, 59)}
          <Field label="Time zone" htmlFor="schedule-timezone">
            <select
              id="schedule-timezone"
              className={input}
              value={timezone}
              onChange={(e) => set("timezone")(e.target.value)}
            >
              {(timezones.includes(timezone) ? timezones : [timezone, ...timezones]).map((tz) => (
                <option key={tz} value={tz}>
                  {tz}
                </option>
              ))}
            </select>
          </Field>
        </div>
        <Field
          label="Cron expression"
          htmlFor="schedule-cron"
          hint="minute hour day-of-month month day-of-week, in the time zone above"
        >
          <input
            id="schedule-cron"
            className={`${input} w-64 font-mono`}
            value={cron}
            onChange={(e) => set("builder")((b) => ({ ...b, frequency: "custom", custom: e.target.value }))}
          />
        </Field>
        <CronPreview cron={cron} timezone={timezone} />
      </Section>

      <Section title="Targets">
        <TargetPicker values={values} set={set} matched={matched} vms={vms} hosts={hosts} />
        <Field label="Mode" htmlFor="schedule-mode">
          <select
            id="schedule-mode"
            className={input}
            value={values.mode}
            onChange={(e) => set("mode")(e.target.value as SnapshotModeName)}
          >
            {SNAPSHOT_MODES.map((m) => (
              <option key={m} value={m}>
                {m}
              </option>
            ))}
          </select>
          {modeBlocker && (
            <p data-testid="schedule-mode-blocker" className="mt-1 max-w-xl text-xs text-amber-700 dark:text-amber-400">
              Not possible for {modeBlocker}
            </p>
          )}
        </Field>
      </Section>

      <Section title="Retention">
        <p className="text-xs text-slate-500 dark:text-slate-400">
          After each successful run, per VM: keep the newest N, and the newest snapshot of each of the last N hours,
          days, weeks (ISO), months and years in the schedule&apos;s time zone (Proxmox Backup Server&apos;s rules).
          Only snapshots this schedule took are deleted, and manual ones marked prunable; the newest successful one
          never is. Empty: keep all.
        </p>
        <div className="flex flex-wrap gap-3">
          {RETENTION_KEYS.map(([k, label]) => (
            <NumberField
              key={k}
              id={`retention-${k}`}
              label={label}
              min={0}
              value={values.retention[k] ?? ""}
              onChange={(v) => set("retention")((r) => ({ ...r, [k]: v }))}
            />
          ))}
        </div>
        {schedule ? (
          <RetentionPreview scheduleId={schedule.id} policy={policy} timezone={timezone} />
        ) : (
          <p className="text-xs text-slate-500">A new schedule has no snapshots yet: nothing would be deleted.</p>
        )}
      </Section>

      <Section title="When things get in the way">
        <div className="grid gap-4 sm:grid-cols-2">
          <Field
            label="VM already snapshotting"
            htmlFor="schedule-busy"
            hint="Waiting gives up at the schedule's next run, with the reason recorded."
          >
            <select
              id="schedule-busy"
              className={input}
              value={values.busyPolicy}
              onChange={(e) => set("busyPolicy")(e.target.value)}
            >
              <option value="wait">Wait for it, then run</option>
              <option value="skip">Skip that VM (reason recorded)</option>
            </select>
          </Field>
          <Field label="Runs missed while the dashboard was down" htmlFor="schedule-missed">
            <select
              id="schedule-missed"
              className={input}
              value={values.missedRunPolicy}
              onChange={(e) => set("missedRunPolicy")(e.target.value)}
            >
              <option value="run-once">Run once on start</option>
              <option value="skip">Skip (recorded)</option>
            </select>
          </Field>
          <NumberField
            id="schedule-stagger"
            label="Stagger (seconds)"
            hint="Spread the VMs' start times over this window instead of starting all at once."
            min={0}
            max={86400}
            width="w-28"
            value={values.staggerSeconds}
            onChange={set("staggerSeconds")}
          />
          <NumberField
            id="schedule-threshold"
            label="Flag after failed runs in a row"
            hint="Flagged on the Schedules page; the schedule keeps running."
            min={1}
            max={1000}
            value={values.failureAlertThreshold}
            onChange={set("failureAlertThreshold")}
          />
        </div>
        <CheckboxField className={checkRow} checked={values.verifyNewest} onChange={set("verifyNewest")}>
          Verify the newest snapshot of each VM after every run (a sandbox restore on its host)
        </CheckboxField>
        <CheckboxField className={checkRow} checked={values.quiesce} onChange={set("quiesce")}>
          Freeze the guests&apos; filesystems through their agents (disks-only snapshots become application-consistent;
          off: each VM&apos;s own setting)
        </CheckboxField>
        <CheckboxField className={checkRow} checked={values.enabled} onChange={set("enabled")}>
          Enabled
        </CheckboxField>
      </Section>

      {error && (
        <p
          role="alert"
          className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-800 dark:bg-red-950 dark:text-red-200"
        >
          {error}
        </p>
      )}
      <Button variant="primary" type="submit" disabled={saving}>
        {schedule ? "Save changes" : "Create schedule"}
      </Button>
    </form>
  );
}

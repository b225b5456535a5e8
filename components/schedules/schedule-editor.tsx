"use client";
// The schedule editor (new and edit): a cron builder with the expression in words and its next 5 runs
// in the chosen zone (computed by the server, the same code the scheduler runs), targets (chosen VMs,
// a host, or a name/tag glob with the VMs it matches now), mode, retention with a dry-run preview of
// what the policy would delete (editing only: a new schedule has no snapshots), and the busy, missed-run,
// stagger and failure-flag settings. Saving goes through the same zod schema as the API.
import { useRouter } from "next/navigation";
import { useEffect, useMemo, useState, type ReactNode } from "react";
import { globMatcher } from "@/lib/schedule-rules/targets";
import type { RetentionPreview, ScheduleView } from "@/lib/scheduler/service";
import type { CronPreview } from "@/lib/schedule-rules/cron";
import { SNAPSHOT_MODES, type SnapshotModeName } from "@/lib/validations/snapshot";
import { DEFAULT_BUILDER, fromCron, toCron, WEEKDAYS, type BuilderState, type Frequency } from "./cron-builder";

export interface EditorVm {
  id: string;
  name: string;
  hostId: string;
  hostName: string;
  tags: string[];
  /** Per mode, why the VM's host kind cannot give it (lib/fleet/host-capabilities.ts); absent: no limit. */
  modeBlockers?: Record<SnapshotModeName, string | null>;
}

export interface EditorHost {
  id: string;
  name: string;
  modeBlockers?: Record<SnapshotModeName, string | null>;
}

type TargetKind = "vms" | "host" | "selector";
const RETENTION_KEYS = [
  ["keepLast", "Keep last"],
  ["keepHourly", "Hourly"],
  ["keepDaily", "Daily"],
  ["keepWeekly", "Weekly"],
  ["keepMonthly", "Monthly"],
  ["keepYearly", "Yearly"],
] as const;
type RetentionKey = (typeof RETENTION_KEYS)[number][0];

const input =
  "rounded-md border border-slate-300 bg-white px-2 py-1.5 text-sm dark:border-slate-700 dark:bg-slate-950 focus:outline-none focus:ring-2 focus:ring-sky-500";

function Field({ label, hint, children, htmlFor }: { label: string; hint?: ReactNode; children: ReactNode; htmlFor?: string }) {
  return (
    <div className="space-y-1">
      <label htmlFor={htmlFor} className="block text-sm font-medium">
        {label}
      </label>
      {children}
      {hint && <p className="text-xs text-slate-500 dark:text-slate-400">{hint}</p>}
    </div>
  );
}

function Section({ title, children }: { title: string; children: ReactNode }) {
  return (
    <fieldset className="space-y-4 rounded-xl border border-slate-200 bg-white p-4 dark:border-slate-800 dark:bg-slate-900">
      <legend className="px-1 text-sm font-semibold">{title}</legend>
      {children}
    </fieldset>
  );
}

function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}

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
  const router = useRouter();
  const [name, setName] = useState(schedule?.name ?? "");
  const [builder, setBuilder] = useState<BuilderState>(() => (schedule ? fromCron(schedule.cron) : DEFAULT_BUILDER));
  const [timezone, setTimezone] = useState(
    () => schedule?.timezone ?? (typeof Intl !== "undefined" ? Intl.DateTimeFormat().resolvedOptions().timeZone : "UTC"),
  );
  const initialTargets = schedule?.targets;
  const [targetKind, setTargetKind] = useState<TargetKind>(
    initialTargets && "hostId" in initialTargets ? "host" : initialTargets && "selector" in initialTargets ? "selector" : "vms",
  );
  const [vmIds, setVmIds] = useState<string[]>(initialTargets && "vmIds" in initialTargets ? initialTargets.vmIds : []);
  const [hostId, setHostId] = useState(initialTargets && "hostId" in initialTargets ? initialTargets.hostId : (hosts[0]?.id ?? ""));
  const [selector, setSelector] = useState(initialTargets && "selector" in initialTargets ? initialTargets.selector : "");
  const [mode, setMode] = useState<SnapshotModeName>(schedule?.mode ?? "live");
  const [retention, setRetention] = useState<Partial<Record<RetentionKey, string>>>(() =>
    Object.fromEntries(RETENTION_KEYS.map(([k]) => [k, schedule?.retention[k]?.toString() ?? ""])),
  );
  const [enabled, setEnabled] = useState(schedule?.enabled ?? true);
  const [busyPolicy, setBusyPolicy] = useState(schedule?.busyPolicy ?? "wait");
  const [missedRunPolicy, setMissedRunPolicy] = useState(schedule?.missedRunPolicy ?? "run-once");
  const [staggerSeconds, setStaggerSeconds] = useState(String(schedule?.staggerSeconds ?? 0));
  const [failureAlertThreshold, setFailureAlertThreshold] = useState(String(schedule?.failureAlertThreshold ?? 3));
  const [verifyNewest, setVerifyNewest] = useState(schedule?.verifyNewest ?? false);
  const [quiesce, setQuiesce] = useState(schedule?.quiesce ?? false);
  const [error, setError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);

  const cron = toCron(builder);
  const preview = useCronPreview(useDebounced(`${cron}|${timezone}`, 250));
  const policy = useMemo(
    () =>
      Object.fromEntries(
        RETENTION_KEYS.flatMap(([k]) => (retention[k] && /^\d+$/.test(retention[k]!) ? [[k, Number(retention[k])]] : [])),
      ) as Partial<Record<RetentionKey, number>>,
    [retention],
  );
  const retentionPreview = useRetentionPreview(schedule?.id, useDebounced(JSON.stringify({ policy, timezone }), 300));

  const matched = useMemo(() => {
    if (targetKind !== "selector" || !selector.trim()) return [];
    const re = globMatcher(selector.trim());
    return vms.filter((vm) => re.test(vm.name) || vm.tags.some((t) => re.test(t)));
  }, [targetKind, selector, vms]);

  const targets = targetKind === "vms" ? { vmIds } : targetKind === "host" ? { hostId } : { selector: selector.trim() };
  // Before the save: targets on a host kind that cannot give the mode (a TLS host: only disks-only).
  const modeBlocker = (() => {
    const blockers =
      targetKind === "host"
        ? [hosts.find((h) => h.id === hostId)?.modeBlockers?.[mode] ? { what: `host ${hosts.find((h) => h.id === hostId)!.name}`, why: hosts.find((h) => h.id === hostId)!.modeBlockers![mode]! } : null]
        : (targetKind === "vms" ? vms.filter((v) => vmIds.includes(v.id)) : matched).map((v) => (v.modeBlockers?.[mode] ? { what: `VM ${v.name}`, why: v.modeBlockers[mode]! } : null));
    const found = blockers.filter((b): b is { what: string; why: string } => b !== null);
    return found.length ? `${found.map((b) => b.what).join(", ")}: ${found[0]!.why}` : null;
  })();

  async function save(e: React.FormEvent) {
    e.preventDefault();
    setSaving(true);
    setError(null);
    const body = {
      name: name.trim(),
      cron,
      timezone,
      targets,
      mode,
      retention: policy,
      enabled,
      busyPolicy,
      missedRunPolicy,
      staggerSeconds: Number(staggerSeconds) || 0,
      failureAlertThreshold: Number(failureAlertThreshold) || 1,
      verifyNewest,
      quiesce,
    };
    try {
      const res = await fetch(schedule ? `/api/schedules/${schedule.id}` : "/api/schedules", {
        method: schedule ? "PATCH" : "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      const data = await res.json().catch(() => ({}));
      if (!res.ok) {
        setError(data.error ?? `the server answered ${res.status}`);
        return;
      }
      router.push(`/schedules/${data.schedule.id}`);
      router.refresh();
    } finally {
      setSaving(false);
    }
  }

  const setB = (patch: Partial<BuilderState>) => setBuilder((b) => ({ ...b, ...patch, custom: patch.custom ?? toCron({ ...b, ...patch }) }));
  const hostsById = new Map(hosts.map((h) => [h.id, h.name]));

  return (
    <form onSubmit={save} className="space-y-5" aria-label={schedule ? "Edit schedule" : "New schedule"}>
      <Section title="Schedule">
        <Field label="Name" htmlFor="schedule-name">
          <input id="schedule-name" className={`${input} w-full max-w-md`} value={name} onChange={(e) => setName(e.target.value)} required maxLength={100} />
        </Field>
        <div className="flex flex-wrap gap-4">
          <Field label="Repeat" htmlFor="schedule-frequency">
            <select
              id="schedule-frequency"
              className={input}
              value={builder.frequency}
              onChange={(e) => setB({ frequency: e.target.value as Frequency, custom: e.target.value === "custom" ? cron : undefined })}
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
                        setB({ weekdays: e.target.checked ? [...builder.weekdays, i] : builder.weekdays.filter((x) => x !== i) })
                      }
                    />
                    {d}
                  </label>
                ))}
              </div>
            </Field>
          )}
          {builder.frequency === "monthly" && (
            <Field label="Day of month" htmlFor="schedule-dom">
              <input id="schedule-dom" type="number" min={1} max={31} className={`${input} w-20`} value={builder.dayOfMonth} onChange={(e) => setB({ dayOfMonth: Number(e.target.value) })} />
            </Field>
          )}
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
          {builder.frequency === "hourly" && (
            <Field label="At minute" htmlFor="schedule-minute">
              <input id="schedule-minute" type="number" min={0} max={59} className={`${input} w-20`} value={builder.minute} onChange={(e) => setB({ minute: Number(e.target.value) })} />
            </Field>
          )}
          <Field label="Time zone" htmlFor="schedule-timezone">
            <select id="schedule-timezone" className={input} value={timezone} onChange={(e) => setTimezone(e.target.value)}>
              {(timezones.includes(timezone) ? timezones : [timezone, ...timezones]).map((tz) => (
                <option key={tz} value={tz}>
                  {tz}
                </option>
              ))}
            </select>
          </Field>
        </div>
        <Field label="Cron expression" htmlFor="schedule-cron" hint="minute hour day-of-month month day-of-week, in the time zone above">
          <input
            id="schedule-cron"
            className={`${input} w-64 font-mono`}
            value={cron}
            onChange={(e) => setBuilder((b) => ({ ...b, frequency: "custom", custom: e.target.value }))}
          />
        </Field>
        <div data-testid="cron-preview" aria-live="polite" className="rounded-md bg-slate-50 p-3 text-sm dark:bg-slate-950">
          {preview.error ? (
            <p className="text-red-700 dark:text-red-400">{preview.error}</p>
          ) : preview.data ? (
            <>
              <p className="font-medium">{preview.data.description}</p>
              <p className="mt-1 text-xs text-slate-500">Next runs:</p>
              <ol className="mt-0.5 list-inside list-decimal text-xs text-slate-700 dark:text-slate-300">
                {preview.data.nextRuns.map((r) => (
                  <li key={r.at}>{r.local}</li>
                ))}
              </ol>
            </>
          ) : (
            <p className="text-slate-500">…</p>
          )}
        </div>
      </Section>

      <Section title="Targets">
        <div className="flex flex-wrap gap-4 text-sm" role="radiogroup" aria-label="Target kind">
          {(
            [
              ["vms", "Chosen VMs"],
              ["host", "All VMs on a host"],
              ["selector", "VMs matching a name or tag"],
            ] as const
          ).map(([k, label]) => (
            <label key={k} className="flex items-center gap-1.5">
              <input type="radio" name="target-kind" checked={targetKind === k} onChange={() => setTargetKind(k)} />
              {label}
            </label>
          ))}
        </div>
        {targetKind === "vms" && (
          <div className="max-h-56 overflow-y-auto rounded-md border border-slate-200 p-2 dark:border-slate-800">
            {vms.length === 0 && <p className="text-sm text-slate-500">No VMs yet: add a host in Settings.</p>}
            {vms.map((vm) => (
              <label key={vm.id} className="flex items-center gap-2 py-0.5 text-sm">
                <input
                  type="checkbox"
                  checked={vmIds.includes(vm.id)}
                  onChange={(e) => setVmIds((ids) => (e.target.checked ? [...ids, vm.id] : ids.filter((x) => x !== vm.id)))}
                />
                {vm.name}
                <span className="text-xs text-slate-500">on {vm.hostName}</span>
              </label>
            ))}
          </div>
        )}
        {targetKind === "host" && (
          <Field label="Host" htmlFor="schedule-host" hint="VMs added to the host later are picked up at each run.">
            <select id="schedule-host" className={input} value={hostId} onChange={(e) => setHostId(e.target.value)}>
              {hosts.map((h) => (
                <option key={h.id} value={h.id}>
                  {h.name}
                </option>
              ))}
            </select>
          </Field>
        )}
        {targetKind === "selector" && (
          <Field
            label="Selector"
            htmlFor="schedule-selector"
            hint={
              <>
                A glob (<code>*</code>, <code>?</code>) matched against each VM&apos;s name and tags, case-insensitive; resolved at
                every run. Matches now: {matched.length ? matched.map((v) => `${v.name} (${hostsById.get(v.hostId) ?? "?"})`).join(", ") : "none"}
              </>
            }
          >
            <input id="schedule-selector" className={`${input} w-64 font-mono`} value={selector} onChange={(e) => setSelector(e.target.value)} placeholder="web-*" />
          </Field>
        )}
        <Field label="Mode" htmlFor="schedule-mode">
          <select id="schedule-mode" className={input} value={mode} onChange={(e) => setMode(e.target.value as SnapshotModeName)}>
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
          After each successful run, per VM: keep the newest N, and the newest snapshot of each of the last N hours, days,
          weeks (ISO), months and years in the schedule&apos;s time zone (Proxmox Backup Server&apos;s rules). Only snapshots
          this schedule took are deleted, and manual ones marked prunable; the newest successful one never is. Empty: keep all.
        </p>
        <div className="flex flex-wrap gap-3">
          {RETENTION_KEYS.map(([k, label]) => (
            <Field key={k} label={label} htmlFor={`retention-${k}`}>
              <input
                id={`retention-${k}`}
                type="number"
                min={0}
                className={`${input} w-20`}
                value={retention[k] ?? ""}
                onChange={(e) => setRetention((r) => ({ ...r, [k]: e.target.value }))}
              />
            </Field>
          ))}
        </div>
        {schedule ? (
          <RetentionPreviewTable state={retentionPreview} />
        ) : (
          <p className="text-xs text-slate-500">A new schedule has no snapshots yet: nothing would be deleted.</p>
        )}
      </Section>

      <Section title="When things get in the way">
        <div className="grid gap-4 sm:grid-cols-2">
          <Field label="VM already snapshotting" htmlFor="schedule-busy" hint="Waiting gives up at the schedule's next run, with the reason recorded.">
            <select id="schedule-busy" className={input} value={busyPolicy} onChange={(e) => setBusyPolicy(e.target.value)}>
              <option value="wait">Wait for it, then run</option>
              <option value="skip">Skip that VM (reason recorded)</option>
            </select>
          </Field>
          <Field label="Runs missed while the dashboard was down" htmlFor="schedule-missed">
            <select id="schedule-missed" className={input} value={missedRunPolicy} onChange={(e) => setMissedRunPolicy(e.target.value)}>
              <option value="run-once">Run once on start</option>
              <option value="skip">Skip (recorded)</option>
            </select>
          </Field>
          <Field label="Stagger (seconds)" htmlFor="schedule-stagger" hint="Spread the VMs' start times over this window instead of starting all at once.">
            <input id="schedule-stagger" type="number" min={0} max={86400} className={`${input} w-28`} value={staggerSeconds} onChange={(e) => setStaggerSeconds(e.target.value)} />
          </Field>
          <Field label="Flag after failed runs in a row" htmlFor="schedule-threshold" hint="Flagged on the Schedules page; the schedule keeps running.">
            <input id="schedule-threshold" type="number" min={1} max={1000} className={`${input} w-20`} value={failureAlertThreshold} onChange={(e) => setFailureAlertThreshold(e.target.value)} />
          </Field>
        </div>
        <label className="flex items-center gap-2 text-sm">
          <input type="checkbox" checked={verifyNewest} onChange={(e) => setVerifyNewest(e.target.checked)} />
          Verify the newest snapshot of each VM after every run (a sandbox restore on its host)
        </label>
        <label className="flex items-center gap-2 text-sm">
          <input type="checkbox" checked={quiesce} onChange={(e) => setQuiesce(e.target.checked)} />
          Freeze the guests&apos; filesystems through their agents (disks-only snapshots become application-consistent; off: each VM&apos;s own setting)
        </label>
        <label className="flex items-center gap-2 text-sm">
          <input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.target.checked)} />
          Enabled
        </label>
      </Section>

      {error && (
        <p role="alert" className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-800 dark:bg-red-950 dark:text-red-200">
          {error}
        </p>
      )}
      <button type="submit" disabled={saving} className="rounded-md bg-sky-600 px-4 py-2 text-sm font-semibold text-white hover:bg-sky-500 disabled:opacity-50">
        {schedule ? "Save changes" : "Create schedule"}
      </button>
    </form>
  );
}

function useCronPreview(key: string): { data?: CronPreview; error?: string } {
  const [state, setState] = useState<{ data?: CronPreview; error?: string }>({});
  useEffect(() => {
    const [cron, timezone] = key.split("|");
    const ctrl = new AbortController();
    fetch(`/api/schedules/preview?${new URLSearchParams({ cron: cron ?? "", timezone: timezone ?? "UTC" })}`, { signal: ctrl.signal })
      .then(async (res) => {
        const body = await res.json();
        setState(res.ok ? { data: body } : { error: body.error ?? "invalid expression" });
      })
      .catch((err: unknown) => {
        if (!ctrl.signal.aborted) setState({ error: `the preview could not be loaded: ${(err as Error).message}` });
      });
    return () => ctrl.abort();
  }, [key]);
  return state;
}

type RetentionState = { data?: RetentionPreview; error?: string };

function useRetentionPreview(scheduleId: string | undefined, key: string): RetentionState {
  const [state, setState] = useState<RetentionState>({});
  useEffect(() => {
    if (!scheduleId) return;
    const { policy, timezone } = JSON.parse(key) as { policy: Record<string, number>; timezone: string };
    const params = new URLSearchParams({ timezone, ...Object.fromEntries(Object.entries(policy).map(([k, v]) => [k, String(v)])) });
    // No rule at all is "keep all": ask with keepLast=0 so the stored policy is not used instead.
    if (Object.keys(policy).length === 0) params.set("keepLast", "0");
    const ctrl = new AbortController();
    fetch(`/api/schedules/${scheduleId}/preview-retention?${params}`, { signal: ctrl.signal })
      .then(async (res) => {
        const body = await res.json();
        setState(res.ok ? { data: body } : { error: body.error ?? "preview failed" });
      })
      .catch((err: unknown) => {
        if (!ctrl.signal.aborted) setState({ error: `the retention preview could not be loaded: ${(err as Error).message}` });
      });
    return () => ctrl.abort();
  }, [scheduleId, key]);
  return state;
}

function RetentionPreviewTable({ state }: { state: RetentionState }) {
  if (state.error) return <p className="text-sm text-red-700 dark:text-red-400">{state.error}</p>;
  if (!state.data) return <p className="text-xs text-slate-500">…</p>;
  const { data } = state;
  return (
    <div data-testid="retention-preview" className="space-y-2">
      <p className="text-sm">
        With <strong>{data.policySummary}</strong>, right now:{" "}
        <strong className={data.prune ? "text-red-700 dark:text-red-400" : undefined}>{data.prune} would be deleted</strong>,{" "}
        {data.keep} kept.
      </p>
      {data.snapshots.length > 0 && (
        <div className="max-h-64 overflow-y-auto rounded-md border border-slate-200 dark:border-slate-800">
          <table className="w-full text-left text-xs">
            <thead className="sticky top-0 bg-slate-50 text-slate-500 dark:bg-slate-950">
              <tr>
                <th className="px-2 py-1 font-medium">VM</th>
                <th className="px-2 py-1 font-medium">Taken</th>
                <th className="px-2 py-1 font-medium">Decision</th>
                <th className="px-2 py-1 font-medium">Why</th>
              </tr>
            </thead>
            <tbody className="divide-y divide-slate-100 dark:divide-slate-800">
              {data.snapshots.map((s) => (
                <tr key={s.id} data-action={s.action}>
                  <td className="px-2 py-1">{s.vmName}</td>
                  <td className="px-2 py-1 whitespace-nowrap" suppressHydrationWarning>
                    {new Date(s.takenAt).toLocaleString()}
                  </td>
                  <td className={`px-2 py-1 font-medium ${s.action === "prune" ? "text-red-700 dark:text-red-400" : "text-emerald-700 dark:text-emerald-400"}`}>
                    {s.action === "prune" ? "delete" : "keep"}
                  </td>
                  <td className="px-2 py-1 text-slate-600 dark:text-slate-400">{s.reason}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

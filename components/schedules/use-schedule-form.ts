"use client";
// The schedule editor's state, validation and submit. Values start from the schedule being edited (or
// the defaults of a new one); what is derived from them — the cron expression of the builder, the
// retention policy (empty fields left out), the VMs a selector matches now, and a target that cannot
// take the mode — is computed here, so the form's parts only render. Saving checks the body with the
// API's own schema (lib/validations/schedule.ts) first, so the message is the route's, without a round
// trip; then POST /api/schedules (new) or PATCH /api/schedules/{id}, and the schedule's page.
import { useRouter } from "next/navigation";
import { useMemo, useState } from "react";
import { apiFetch, messageOf } from "@/lib/http/api-fetch";
import { describeIssues } from "@/lib/http/error-body";
import { globMatcher } from "@/lib/schedule-rules/targets";
import type { ScheduleView } from "@/lib/scheduler/service";
import type { SnapshotModeName } from "@/lib/validations/snapshot";
import { scheduleCreateSchema } from "@/lib/validations/schedule";
import { DEFAULT_BUILDER, fromCron, toCron, type BuilderState } from "./cron-builder";

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

export type TargetKind = "vms" | "host" | "selector";

export const RETENTION_KEYS = [
  ["keepLast", "Keep last"],
  ["keepHourly", "Hourly"],
  ["keepDaily", "Daily"],
  ["keepWeekly", "Weekly"],
  ["keepMonthly", "Monthly"],
  ["keepYearly", "Yearly"],
] as const;
type RetentionKey = (typeof RETENTION_KEYS)[number][0];

/** What the operator edits; numbers stay the text typed until the save. */
export interface ScheduleFormValues {
  name: string;
  builder: BuilderState;
  timezone: string;
  targetKind: TargetKind;
  vmIds: string[];
  hostId: string;
  selector: string;
  mode: SnapshotModeName;
  retention: Partial<Record<RetentionKey, string>>;
  enabled: boolean;
  busyPolicy: string;
  missedRunPolicy: string;
  staggerSeconds: string;
  failureAlertThreshold: string;
  verifyNewest: boolean;
  quiesce: boolean;
}

function initialValues(schedule: ScheduleView | undefined, hosts: EditorHost[]): ScheduleFormValues {
  const t = schedule?.targets;
  return {
    name: schedule?.name ?? "",
    builder: schedule ? fromCron(schedule.cron) : DEFAULT_BUILDER,
    timezone:
      schedule?.timezone ?? (typeof Intl !== "undefined" ? Intl.DateTimeFormat().resolvedOptions().timeZone : "UTC"),
    targetKind: t && "hostId" in t ? "host" : t && "selector" in t ? "selector" : "vms",
    vmIds: t && "vmIds" in t ? t.vmIds : [],
    hostId: t && "hostId" in t ? t.hostId : (hosts[0]?.id ?? ""),
    selector: t && "selector" in t ? t.selector : "",
    mode: schedule?.mode ?? "live",
    retention: Object.fromEntries(RETENTION_KEYS.map(([k]) => [k, schedule?.retention[k]?.toString() ?? ""])),
    enabled: schedule?.enabled ?? true,
    busyPolicy: schedule?.busyPolicy ?? "wait",
    missedRunPolicy: schedule?.missedRunPolicy ?? "run-once",
    staggerSeconds: String(schedule?.staggerSeconds ?? 0),
    failureAlertThreshold: String(schedule?.failureAlertThreshold ?? 3),
    verifyNewest: schedule?.verifyNewest ?? false,
    quiesce: schedule?.quiesce ?? false,
  };
}

/** Targets on a host kind that cannot give the mode (a TLS host: only disks-only), said before the save. */
function modeBlockerOf(
  v: ScheduleFormValues,
  vms: EditorVm[],
  hosts: EditorHost[],
  matched: EditorVm[],
): string | null {
  const found: Array<{ what: string; why: string }> = [];
  if (v.targetKind === "host") {
    const host = hosts.find((h) => h.id === v.hostId);
    const why = host?.modeBlockers?.[v.mode];
    if (host && why) found.push({ what: `host ${host.name}`, why });
  } else {
    for (const vm of v.targetKind === "vms" ? vms.filter((x) => v.vmIds.includes(x.id)) : matched) {
      const why = vm.modeBlockers?.[v.mode];
      if (why) found.push({ what: `VM ${vm.name}`, why });
    }
  }
  return found.length ? `${found.map((b) => b.what).join(", ")}: ${found[0]!.why}` : null;
}

export function useScheduleForm({
  schedule,
  vms,
  hosts,
}: {
  schedule?: ScheduleView;
  vms: EditorVm[];
  hosts: EditorHost[];
}) {
  const router = useRouter();
  const [values, setValues] = useState(() => initialValues(schedule, hosts));
  const [error, setError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);

  const set =
    <K extends keyof ScheduleFormValues>(key: K) =>
    (value: ScheduleFormValues[K] | ((old: ScheduleFormValues[K]) => ScheduleFormValues[K])) =>
      setValues((v) => ({
        ...v,
        [key]:
          typeof value === "function"
            ? (value as (old: ScheduleFormValues[K]) => ScheduleFormValues[K])(v[key])
            : value,
      }));
  /** A builder change; the custom expression follows the builder unless the change sets it. */
  const setB = (patch: Partial<BuilderState>) =>
    set("builder")((b) => ({ ...b, ...patch, custom: patch.custom ?? toCron({ ...b, ...patch }) }));

  const cron = toCron(values.builder);
  const { retention, targetKind, selector } = values;
  const policy = useMemo(
    () =>
      Object.fromEntries(
        RETENTION_KEYS.flatMap(([k]) =>
          retention[k] && /^\d+$/.test(retention[k]!) ? [[k, Number(retention[k])]] : [],
        ),
      ) as Partial<Record<RetentionKey, number>>,
    [retention],
  );
  const matched = useMemo(() => {
    if (targetKind !== "selector" || !selector.trim()) return [];
    const re = globMatcher(selector.trim());
    return vms.filter((vm) => re.test(vm.name) || vm.tags.some((t) => re.test(t)));
  }, [targetKind, selector, vms]);
  const modeBlocker = modeBlockerOf(values, vms, hosts, matched);

  async function save(e: React.FormEvent) {
    e.preventDefault();
    const v = values;
    const body = {
      name: v.name.trim(),
      cron,
      timezone: v.timezone,
      targets:
        v.targetKind === "vms"
          ? { vmIds: v.vmIds }
          : v.targetKind === "host"
            ? { hostId: v.hostId }
            : { selector: v.selector.trim() },
      mode: v.mode,
      retention: policy,
      enabled: v.enabled,
      busyPolicy: v.busyPolicy,
      missedRunPolicy: v.missedRunPolicy,
      staggerSeconds: Number(v.staggerSeconds) || 0,
      failureAlertThreshold: Number(v.failureAlertThreshold) || 1,
      verifyNewest: v.verifyNewest,
      quiesce: v.quiesce,
    };
    const local = scheduleCreateSchema.safeParse(body);
    if (!local.success) {
      setError(describeIssues(local.error));
      return;
    }
    setSaving(true);
    setError(null);
    try {
      const saved = await apiFetch<{ schedule: { id: string } }>(
        schedule ? `/api/schedules/${schedule.id}` : "/api/schedules",
        {
          method: schedule ? "PATCH" : "POST",
          json: body,
        },
      );
      router.push(`/schedules/${saved.schedule.id}`);
      router.refresh();
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setSaving(false);
    }
  }

  return { values, set, setB, cron, policy, matched, modeBlocker, error, saving, save };
}

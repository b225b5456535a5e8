// Retention: which of a schedule's snapshots to keep and which to prune. A PURE function — the caller
// loads the rows and deletes; here only the decision, with the rule that kept each snapshot.
//
// Model: Proxmox Backup Server's prune (and Sanoid's): rules run in the order keep-last, hourly, daily,
// weekly, monthly, yearly over the VM's completed snapshots, newest first. keep-last N keeps the N
// newest. A periodic rule keeps the newest snapshot of each of its N most recent periods; periods that
// an earlier rule already covers do not count towards N (PBS `mark_selections`). Anything no rule keeps
// is pruned. No rule at all means keep everything.
// Invariants (tests/scheduler/retention.test.ts):
//   - decisions are per VM id and by snapshot id: names (of VMs, of schedules) play no part, so a
//     rename changes nothing;
//   - only snapshots this schedule created (scheduleId) are ever pruned, plus manual snapshots
//     (scheduleId null) of the same VMs that a user marked prunable; other schedules' and unmarked
//     manual snapshots are kept;
//   - the newest completed snapshot of each VM is never pruned;
//   - queued/running snapshots are never pruned; failed and cancelled ones are not counted nor pruned
//     here (they hold no usable snapshot; the snapshot engine cleans their partial files);
//   - periods are wall-clock periods in the schedule's time zone (a 25-hour day is one day; weeks are
//     ISO weeks starting Monday), except hours: the hour that repeats at fall-back is two distinct
//     hours, since two snapshots an hour apart are not the same hour of history.
import { RUNNING_SNAPSHOT_STATUSES } from "../validations/snapshot";

export interface RetentionPolicy {
  keepLast?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
}

export interface RetentionSnapshot {
  id: string;
  vmId: string;
  scheduleId: string | null;
  /** When the snapshot was taken (its start): what periods are counted on. */
  takenAt: Date;
  status: string;
  /** Manual snapshots are pruned only when marked. */
  prunable: boolean;
}

export type RetentionRule = "keep-last" | "hourly" | "daily" | "weekly" | "monthly" | "yearly";

export interface RetentionDecision {
  id: string;
  vmId: string;
  takenAt: Date;
  action: "keep" | "prune";
  /** Why, in words: the rule and period that kept it, or why it is pruned or untouchable. */
  reason: string;
  /** The rule that kept it, when a rule did. */
  rule?: RetentionRule;
  period?: string;
}

export interface RetentionInput {
  scheduleId: string;
  policy: RetentionPolicy;
  timezone: string;
  snapshots: RetentionSnapshot[];
}

const PERIODIC: ReadonlyArray<{ rule: Exclude<RetentionRule, "keep-last">; key: keyof RetentionPolicy }> = [
  { rule: "hourly", key: "keepHourly" },
  { rule: "daily", key: "keepDaily" },
  { rule: "weekly", key: "keepWeekly" },
  { rule: "monthly", key: "keepMonthly" },
  { rule: "yearly", key: "keepYearly" },
];

const IN_PROGRESS: ReadonlySet<string> = new Set(RUNNING_SNAPSHOT_STATUSES);

export function hasRules(policy: RetentionPolicy): boolean {
  return (policy.keepLast ?? 0) > 0 || PERIODIC.some(({ key }) => (policy[key] ?? 0) > 0);
}

/** "keep-last 3, daily 7, weekly 4". */
export function describePolicy(policy: RetentionPolicy): string {
  const parts: string[] = [];
  if ((policy.keepLast ?? 0) > 0) parts.push(`keep-last ${policy.keepLast}`);
  for (const { rule, key } of PERIODIC) if ((policy[key] ?? 0) > 0) parts.push(`${rule} ${policy[key]}`);
  return parts.length ? parts.join(", ") : "keep all";
}

export function decideRetention(input: RetentionInput): RetentionDecision[] {
  const { scheduleId, policy, timezone } = input;
  const decisions = new Map<string, RetentionDecision>();
  const keep = (s: RetentionSnapshot, reason: string, rule?: RetentionRule, period?: string) =>
    decisions.set(s.id, { id: s.id, vmId: s.vmId, takenAt: s.takenAt, action: "keep", reason, rule, period });
  const prune = (s: RetentionSnapshot, reason: string) =>
    decisions.set(s.id, { id: s.id, vmId: s.vmId, takenAt: s.takenAt, action: "prune", reason });

  const counted = new Map<string, RetentionSnapshot[]>();
  for (const s of input.snapshots) {
    if (s.scheduleId !== null && s.scheduleId !== scheduleId) keep(s, "belongs to another schedule");
    else if (s.scheduleId === null && !s.prunable) keep(s, "manual snapshot, not marked prunable");
    else if (IN_PROGRESS.has(s.status)) keep(s, "in progress");
    else if (s.status !== "completed") keep(s, `${s.status}: not counted by retention`);
    else {
      const list = counted.get(s.vmId) ?? [];
      list.push(s);
      counted.set(s.vmId, list);
    }
  }

  const rules = hasRules(policy);
  const summary = describePolicy(policy);
  const periodKeys = new PeriodKeys(timezone);
  for (const list of counted.values()) {
    list.sort((a, b) => b.takenAt.getTime() - a.takenAt.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    if (!rules) {
      for (const s of list) keep(s, "no retention rule: keep all");
      continue;
    }
    const marked = new Set<string>();
    const keepLast = policy.keepLast ?? 0;
    list.slice(0, keepLast).forEach((s, i) => {
      keep(s, `keep-last ${keepLast} (#${i + 1})`, "keep-last");
      marked.add(s.id);
    });
    for (const { rule, key } of PERIODIC) {
      const n = policy[key] ?? 0;
      if (n <= 0) continue;
      // Periods covered by snapshots earlier rules kept do not count towards this rule's N.
      const covered = new Set(list.filter((s) => marked.has(s.id)).map((s) => periodKeys.of(rule, s.takenAt)));
      const included = new Set<string>();
      for (const s of list) {
        if (marked.has(s.id)) continue;
        const period = periodKeys.of(rule, s.takenAt);
        if (covered.has(period)) continue;
        if (included.has(period)) {
          prune(s, `a newer snapshot is kept for ${rule} period ${period}`);
          marked.add(s.id);
          continue;
        }
        if (included.size >= n) break;
        included.add(period);
        keep(s, `${rule} ${n}: newest of ${period}`, rule, period);
        marked.add(s.id);
      }
    }
    const newest = list[0];
    for (const s of list) {
      if (s === newest) {
        // Unreachable with any rule set (the first rule keeps the newest); kept as the last line of
        // defence because pruning it would leave the VM without a snapshot.
        if (decisions.get(s.id)?.action !== "keep") keep(s, "newest successful snapshot of this VM");
        continue;
      }
      if (!marked.has(s.id)) prune(s, `not kept by ${summary}`);
    }
  }
  return input.snapshots.map((s) => decisions.get(s.id)!);
}

/** Period keys in one time zone; hour keys carry the UTC offset so the repeated hour is two hours. */
export class PeriodKeys {
  private readonly format: Intl.DateTimeFormat;

  constructor(readonly timezone: string) {
    this.format = new Intl.DateTimeFormat("en-US", {
      timeZone: timezone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    });
  }

  private parts(at: Date): { y: number; m: number; d: number; h: number; offsetMinutes: number } {
    const p = Object.fromEntries(this.format.formatToParts(at).map((x) => [x.type, x.value]));
    const y = Number(p.year);
    const m = Number(p.month);
    const d = Number(p.day);
    const h = Number(p.hour);
    const min = Number(p.minute);
    const wallAsUtc = Date.UTC(y, m - 1, d, h, min);
    const offsetMinutes = Math.round((wallAsUtc - Math.floor(at.getTime() / 60_000) * 60_000) / 60_000);
    return { y, m, d, h, offsetMinutes };
  }

  of(rule: Exclude<RetentionRule, "keep-last">, at: Date): string {
    const { y, m, d, h, offsetMinutes } = this.parts(at);
    const pad = (n: number, w = 2) => String(n).padStart(w, "0");
    switch (rule) {
      case "hourly": {
        const sign = offsetMinutes < 0 ? "-" : "+";
        const off = Math.abs(offsetMinutes);
        return `${y}-${pad(m)}-${pad(d)} ${pad(h)}:00${sign}${pad(Math.floor(off / 60))}:${pad(off % 60)}`;
      }
      case "daily":
        return `${y}-${pad(m)}-${pad(d)}`;
      case "weekly": {
        const { year, week } = isoWeek(y, m, d);
        return `${year}-W${pad(week)}`;
      }
      case "monthly":
        return `${y}-${pad(m)}`;
      case "yearly":
        return `${y}`;
    }
  }
}

/** ISO 8601 week of a calendar date (weeks start Monday; week 1 holds the year's first Thursday). */
export function isoWeek(y: number, m: number, d: number): { year: number; week: number } {
  const date = new Date(Date.UTC(y, m - 1, d));
  const dayOfWeek = date.getUTCDay() || 7;
  date.setUTCDate(date.getUTCDate() + 4 - dayOfWeek);
  const year = date.getUTCFullYear();
  const week = Math.ceil(((date.getTime() - Date.UTC(year, 0, 1)) / 86_400_000 + 1) / 7);
  return { year, week };
}

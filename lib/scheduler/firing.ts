// What a due schedule does when the scheduler claims it: PURE. Given the occurrence the schedule was
// waiting for (nextRunAt) and the scheduler's clock, decide which occurrence fires, whether it counts
// as missed, and the next occurrence to wait for.
//
// Rules:
//   - an occurrence no more than `graceMs` late fires normally ("scheduled"), one per claim, oldest
//     first — a scheduler that stalls for a few seconds loses nothing;
//   - occurrences later than that were missed while nothing was running. If a newer occurrence is still
//     on time it fires, and the missed ones are counted on it; otherwise the schedule's missed-run
//     policy fires the newest missed one once ("catch_up", run-once) or records it as skipped (skip).
//     Either way at most ONE run per claim: a scheduler down for a day does not fire 24 hourly runs;
//   - the next occurrence is the first strictly after the one considered, so a claim always moves the
//     schedule forward.
import { nextRunAfter, occurrencesBetween } from "../schedule-rules/cron";

export interface DueSchedule {
  cron: string;
  timezone: string;
  nextRunAt: Date;
  missedRunPolicy: "run-once" | "skip";
}

export interface FiringPlan {
  scheduledFor: Date;
  trigger: "scheduled" | "catch_up";
  /** "skip" records the run as skipped and snapshots nothing. */
  action: "fire" | "skip";
  /** Occurrences that passed without a run (not counting the one fired). */
  missedCount: number;
  reason: string | null;
  nextRunAt: Date;
}

export const DEFAULT_MISSED_GRACE_MS = 60_000;

export function planFiring(s: DueSchedule, now: Date, graceMs = DEFAULT_MISSED_GRACE_MS): FiringPlan {
  const cutoff = new Date(now.getTime() - graceMs);
  let late = { count: 0, last: undefined as Date | undefined, capped: false };
  if (s.nextRunAt.getTime() <= cutoff.getTime()) {
    const counted = occurrencesBetween(s.cron, s.timezone, s.nextRunAt, cutoff);
    // nextRunAt may be an instant the expression no longer produces (the cron was edited while the
    // row was locked elsewhere); it is still an occurrence the schedule was waiting for.
    late = counted.count ? counted : { count: 1, last: s.nextRunAt, capped: false };
  }
  const firstOnTime = late.last ? nextRunAfter(s.cron, s.timezone, late.last) : s.nextRunAt;
  const missedText = (n: number) =>
    `${late.capped ? "at least " : ""}${n} run${n === 1 ? "" : "s"} between ${s.nextRunAt.toISOString()} and ${late.last?.toISOString()}`;

  if (firstOnTime.getTime() <= now.getTime()) {
    return {
      scheduledFor: firstOnTime,
      trigger: "scheduled",
      action: "fire",
      missedCount: late.count,
      reason: late.count ? `missed ${missedText(late.count)} while the scheduler was not running` : null,
      nextRunAt: nextRunAfter(s.cron, s.timezone, firstOnTime),
    };
  }
  // Every due occurrence is late: the newest one stands for them all.
  const latest = late.last!;
  const lateText = `${Math.round((now.getTime() - latest.getTime()) / 1000)} s late`;
  return {
    scheduledFor: latest,
    trigger: "catch_up",
    action: s.missedRunPolicy === "run-once" ? "fire" : "skip",
    missedCount: late.count,
    reason:
      s.missedRunPolicy === "run-once"
        ? `missed ${missedText(late.count)} while the scheduler was not running; ran once on start (${lateText})`
        : `missed ${missedText(late.count)} while the scheduler was not running; skipped by the schedule's missed-run policy`,
    nextRunAt: firstOnTime,
  };
}

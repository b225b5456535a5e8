// planFiring, the pure decision a claim makes for a due schedule: on-time occurrences fire one by one,
// late ones follow the missed-run policy, and the schedule always moves forward.
import { describe, expect, it } from "vitest";
import { planFiring, type DueSchedule } from "../../lib/scheduler/firing";

const hourly = (nextRunAt: string, missedRunPolicy: DueSchedule["missedRunPolicy"] = "run-once"): DueSchedule => ({
  cron: "0 * * * *",
  timezone: "UTC",
  nextRunAt: new Date(nextRunAt),
  missedRunPolicy,
});
const at = (s: string) => new Date(s);
const iso = (p: ReturnType<typeof planFiring>) => ({
  ...p,
  scheduledFor: p.scheduledFor.toISOString(),
  nextRunAt: p.nextRunAt.toISOString(),
});

describe("planFiring", () => {
  it("fires an on-time occurrence and moves to the next", () => {
    expect(iso(planFiring(hourly("2026-05-01T10:00:00Z"), at("2026-05-01T10:00:00.250Z")))).toEqual({
      scheduledFor: "2026-05-01T10:00:00.000Z",
      trigger: "scheduled",
      action: "fire",
      missedCount: 0,
      reason: null,
      nextRunAt: "2026-05-01T11:00:00.000Z",
    });
  });

  it("fires each occurrence within the grace one claim at a time, oldest first", () => {
    const every10 = { ...hourly("2026-05-01T10:00:00Z"), cron: "* * * * *" };
    const p = planFiring(every10, at("2026-05-01T10:00:50Z"), 60_000);
    expect(iso(p)).toMatchObject({
      scheduledFor: "2026-05-01T10:00:00.000Z",
      trigger: "scheduled",
      nextRunAt: "2026-05-01T10:01:00.000Z",
    });
  });

  it("counts late occurrences on a newer on-time one", () => {
    const everyMinute = { ...hourly("2026-05-01T10:00:00Z"), cron: "* * * * *" };
    const p = planFiring(everyMinute, at("2026-05-01T10:05:30Z"), 60_000);
    expect(iso(p)).toMatchObject({
      scheduledFor: "2026-05-01T10:05:00.000Z",
      trigger: "scheduled",
      missedCount: 5,
      nextRunAt: "2026-05-01T10:06:00.000Z",
    });
    expect(p.reason).toMatch(/missed 5 runs between 2026-05-01T10:00:00.000Z and 2026-05-01T10:04:00.000Z/);
  });

  it.each([
    ["run-once", "fire"],
    ["skip", "skip"],
  ] as const)("all late (%s): one catch-up for the newest, counted", (policy, action) => {
    const p = planFiring(hourly("2026-05-01T08:00:00Z", policy), at("2026-05-01T12:20:00Z"));
    expect(iso(p)).toMatchObject({
      scheduledFor: "2026-05-01T12:00:00.000Z",
      trigger: "catch_up",
      action,
      missedCount: 5,
      nextRunAt: "2026-05-01T13:00:00.000Z",
    });
  });

  it("a stale nextRunAt the expression no longer produces still counts as one occurrence", () => {
    const edited = { ...hourly("2026-05-01T08:17:00Z"), cron: "0 0 1 1 *" };
    const p = planFiring(edited, at("2026-05-01T12:00:00Z"));
    expect(iso(p)).toMatchObject({
      scheduledFor: "2026-05-01T08:17:00.000Z",
      trigger: "catch_up",
      missedCount: 1,
      nextRunAt: "2027-01-01T00:00:00.000Z",
    });
  });
});

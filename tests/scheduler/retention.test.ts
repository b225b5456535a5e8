// Retention decisions, table-driven: each case lists snapshots (by id, with when they were taken) and
// the ids expected to be pruned. Renames, the DST hours, "never the last successful one" and "manual
// never unless marked" are cases of the same table.
import { describe, expect, it } from "vitest";
import {
  decideRetention,
  describePolicy,
  isoWeek,
  type RetentionPolicy,
  type RetentionSnapshot,
} from "../../lib/scheduler/retention";

const SCHEDULE = "00000000-0000-4000-8000-000000000001";
const OTHER_SCHEDULE = "00000000-0000-4000-8000-000000000002";
const VM_A = "00000000-0000-4000-8000-0000000000a1";
const VM_B = "00000000-0000-4000-8000-0000000000b1";

type Row = [id: string, takenAt: string, extra?: Partial<RetentionSnapshot>];

function snaps(rows: Row[]): RetentionSnapshot[] {
  return rows.map(([id, takenAt, extra]) => ({
    id,
    vmId: VM_A,
    scheduleId: SCHEDULE,
    takenAt: new Date(takenAt),
    status: "completed",
    prunable: false,
    ...extra,
  }));
}

interface Case {
  name: string;
  policy: RetentionPolicy;
  timezone?: string;
  snapshots: Row[];
  pruned: string[];
}

const cases: Case[] = [
  {
    name: "keep-last 3 keeps the three newest",
    policy: { keepLast: 3 },
    snapshots: [
      ["s1", "2026-05-01T00:00:00Z"],
      ["s2", "2026-05-02T00:00:00Z"],
      ["s3", "2026-05-03T00:00:00Z"],
      ["s4", "2026-05-04T00:00:00Z"],
      ["s5", "2026-05-05T00:00:00Z"],
    ],
    pruned: ["s1", "s2"],
  },
  {
    name: "no rule keeps everything",
    policy: {},
    snapshots: [
      ["s1", "2026-05-01T00:00:00Z"],
      ["s2", "2026-05-02T00:00:00Z"],
    ],
    pruned: [],
  },
  {
    name: "keep-daily 2 keeps the newest of each of the last two days",
    policy: { keepDaily: 2 },
    snapshots: [
      ["d1-morning", "2026-05-01T06:00:00Z"],
      ["d1-evening", "2026-05-01T18:00:00Z"],
      ["d2-morning", "2026-05-02T06:00:00Z"],
      ["d2-evening", "2026-05-02T18:00:00Z"],
      ["d3-morning", "2026-05-03T06:00:00Z"],
      ["d3-evening", "2026-05-03T18:00:00Z"],
    ],
    pruned: ["d1-morning", "d1-evening", "d2-morning", "d3-morning"],
  },
  {
    name: "periods already covered by keep-last do not count towards keep-daily (PBS)",
    policy: { keepLast: 1, keepDaily: 2 },
    snapshots: [
      ["d1", "2026-05-01T12:00:00Z"],
      ["d2", "2026-05-02T12:00:00Z"],
      ["d3-a", "2026-05-03T06:00:00Z"],
      ["d3-b", "2026-05-03T12:00:00Z"],
      ["d4", "2026-05-04T12:00:00Z"],
    ],
    // keep-last keeps d4; daily skips 05-04 (covered), keeps d3-b and d2; d3-a is an older one of a kept day.
    pruned: ["d1", "d3-a"],
  },
  {
    name: "daily days are local days in the schedule's zone, not UTC days",
    policy: { keepDaily: 1 },
    timezone: "America/New_York",
    snapshots: [
      // 2026-05-01 21:00 and 23:30 EDT: both on 1 May in New York though the second is 2 May in UTC.
      ["ny-21h", "2026-05-02T01:00:00Z"],
      ["ny-23h30", "2026-05-02T03:30:00Z"],
    ],
    pruned: ["ny-21h"],
  },
  {
    name: "the hour repeated at fall-back (Berlin 2026-10-25 02:xx) counts as two hours for keep-hourly",
    policy: { keepHourly: 3 },
    timezone: "Europe/Berlin",
    snapshots: [
      ["h0130-cest", "2026-10-24T23:30:00Z"],
      ["h0230-cest", "2026-10-25T00:30:00Z"],
      ["h0245-cest", "2026-10-25T00:45:00Z"],
      ["h0230-cet", "2026-10-25T01:30:00Z"],
      ["h0330-cet", "2026-10-25T02:30:00Z"],
    ],
    // Hours kept: 03 CET, 02 CET, 02 CEST (its newest, 02:45); 01 CEST is the 4th hour.
    pruned: ["h0130-cest", "h0230-cest"],
  },
  {
    name: "the 25-hour fall-back day is one day for keep-daily",
    policy: { keepDaily: 2 },
    timezone: "Europe/Berlin",
    snapshots: [
      ["oct24-late", "2026-10-24T21:30:00Z"], // 23:30 CEST on the 24th
      ["oct25-first", "2026-10-24T22:30:00Z"], // 00:30 CEST on the 25th
      ["oct25-last", "2026-10-25T22:30:00Z"], // 23:30 CET on the 25th, 25 hours of day later
    ],
    pruned: ["oct25-first"],
  },
  {
    name: "the 23-hour spring-forward day is one day; its hours skip 02:xx",
    policy: { keepDaily: 1, keepHourly: 2 },
    timezone: "Europe/Berlin",
    snapshots: [
      ["m29-0130", "2026-03-29T00:30:00Z"], // 01:30 CET
      ["m29-0310", "2026-03-29T01:10:00Z"], // 03:10 CEST (the next hour on the clock)
      ["m29-0350", "2026-03-29T01:50:00Z"], // 03:50 CEST
    ],
    // daily keeps m29-0350; hourly skips 03h (covered), keeps 01h; m29-0310 is an older one of 03h.
    pruned: ["m29-0310"],
  },
  {
    name: "weekly uses ISO weeks across the year boundary (2026-W53 runs to Sunday 2027-01-03)",
    policy: { keepWeekly: 2 },
    snapshots: [
      ["w52", "2026-12-24T12:00:00Z"],
      ["w53-thu", "2026-12-31T12:00:00Z"],
      ["w53-sun", "2027-01-03T12:00:00Z"],
      ["w01", "2027-01-04T12:00:00Z"],
    ],
    pruned: ["w52", "w53-thu"],
  },
  {
    name: "monthly and yearly keep the newest of each month and year",
    policy: { keepMonthly: 2, keepYearly: 2 },
    snapshots: [
      ["2025-06", "2025-06-15T00:00:00Z"],
      ["2025-12", "2025-12-15T00:00:00Z"],
      ["2026-01", "2026-01-15T00:00:00Z"],
      ["2026-02-a", "2026-02-10T00:00:00Z"],
      ["2026-02-b", "2026-02-20T00:00:00Z"],
    ],
    // monthly: 2026-02-b, 2026-01; yearly: 2026 covered, keeps 2025-12 (newest of 2025).
    pruned: ["2025-06", "2026-02-a"],
  },
  {
    name: "never the last successful one: newer failed runs do not count and keep-last 1 keeps the newest completed",
    policy: { keepLast: 1 },
    snapshots: [
      ["ok-old", "2026-05-01T00:00:00Z"],
      ["ok-newest", "2026-05-02T00:00:00Z"],
      ["failed-1", "2026-05-03T00:00:00Z", { status: "failed" }],
      ["failed-2", "2026-05-04T00:00:00Z", { status: "failed" }],
      ["cancelled", "2026-05-05T00:00:00Z", { status: "cancelled" }],
    ],
    pruned: ["ok-old"],
  },
  {
    name: "never the last successful one: a daily rule whose periods are all older still keeps the newest",
    policy: { keepDaily: 1 },
    snapshots: [
      ["a", "2026-05-01T00:00:00Z"],
      ["b", "2026-05-01T06:00:00Z"],
    ],
    pruned: ["a"],
  },
  {
    name: "queued and running snapshots are never pruned",
    policy: { keepLast: 1 },
    snapshots: [
      ["old", "2026-05-01T00:00:00Z"],
      ["new", "2026-05-02T00:00:00Z"],
      ["queued", "2026-04-01T00:00:00Z", { status: "queued" }],
      ["active", "2026-04-02T00:00:00Z", { status: "active" }],
    ],
    pruned: ["old"],
  },
  {
    name: "manual snapshots are never pruned unless marked prunable",
    policy: { keepLast: 1 },
    snapshots: [
      ["manual-old", "2026-04-01T00:00:00Z", { scheduleId: null }],
      ["manual-marked", "2026-04-02T00:00:00Z", { scheduleId: null, prunable: true }],
      ["sched-old", "2026-05-01T00:00:00Z"],
      ["sched-new", "2026-05-02T00:00:00Z"],
    ],
    pruned: ["manual-marked", "sched-old"],
  },
  {
    name: "another schedule's snapshots (even of a same-named, re-created schedule) are never pruned",
    policy: { keepLast: 1 },
    snapshots: [
      ["other-1", "2026-04-01T00:00:00Z", { scheduleId: OTHER_SCHEDULE }],
      ["other-2", "2026-04-02T00:00:00Z", { scheduleId: OTHER_SCHEDULE }],
      ["mine-1", "2026-05-01T00:00:00Z"],
      ["mine-2", "2026-05-02T00:00:00Z"],
    ],
    pruned: ["mine-1"],
  },
  {
    name: "VMs are decided apart by id: a VM renamed mid-history is one VM, a new VM under an old name is another",
    policy: { keepLast: 1 },
    snapshots: [
      // VM_A was "web-1", renamed "web-old" between these two: same id, one history.
      ["a-as-web1", "2026-05-01T00:00:00Z"],
      ["a-as-webold", "2026-05-02T00:00:00Z"],
      // VM_B was created later under the name "web-1": a different id, its own newest is kept.
      ["b-as-web1", "2026-05-01T12:00:00Z", { vmId: VM_B }],
    ],
    pruned: ["a-as-web1"],
  },
];

describe("decideRetention", () => {
  it.each(cases)("$name", ({ policy, timezone, snapshots, pruned }) => {
    const input = snaps(snapshots);
    const decisions = decideRetention({ scheduleId: SCHEDULE, policy, timezone: timezone ?? "UTC", snapshots: input });
    expect(decisions.map((d) => d.id)).toEqual(input.map((s) => s.id));
    expect(
      decisions
        .filter((d) => d.action === "prune")
        .map((d) => d.id)
        .sort(),
    ).toEqual([...pruned].sort());
    for (const d of decisions) expect(d.reason).toMatch(/\S/);
  });

  it("says which rule and period kept each snapshot", () => {
    const decisions = decideRetention({
      scheduleId: SCHEDULE,
      policy: { keepLast: 1, keepDaily: 2 },
      timezone: "Europe/Berlin",
      snapshots: snaps([
        ["d1", "2026-10-24T10:00:00Z"],
        ["d2", "2026-10-25T10:00:00Z"],
        ["d3", "2026-10-26T10:00:00Z"],
      ]),
    });
    expect(decisions.map(({ id, action, rule, period }) => ({ id, action, rule, period }))).toEqual([
      { id: "d1", action: "keep", rule: "daily", period: "2026-10-24" },
      { id: "d2", action: "keep", rule: "daily", period: "2026-10-25" },
      { id: "d3", action: "keep", rule: "keep-last", period: undefined },
    ]);
  });

  it("gives reasons for what it does not touch", () => {
    const [manual, other, failed] = decideRetention({
      scheduleId: SCHEDULE,
      policy: { keepLast: 1 },
      timezone: "UTC",
      snapshots: snaps([
        ["m", "2026-01-01T00:00:00Z", { scheduleId: null }],
        ["o", "2026-01-01T00:00:00Z", { scheduleId: OTHER_SCHEDULE }],
        ["f", "2026-01-01T00:00:00Z", { status: "failed" }],
      ]),
    });
    expect(manual?.reason).toBe("manual snapshot, not marked prunable");
    expect(other?.reason).toBe("belongs to another schedule");
    expect(failed?.reason).toBe("failed: not counted by retention");
  });

  it("describes a policy", () => {
    expect(describePolicy({ keepLast: 3, keepDaily: 7, keepWeekly: 4 })).toBe("keep-last 3, daily 7, weekly 4");
    expect(describePolicy({})).toBe("keep all");
  });

  it.each([
    [2026, 12, 31, 2026, 53],
    [2027, 1, 3, 2026, 53],
    [2027, 1, 4, 2027, 1],
    [2026, 1, 1, 2026, 1],
    [2021, 1, 3, 2020, 53],
  ])("ISO week of %i-%i-%i is %i-W%i", (y, m, d, year, week) => {
    expect(isoWeek(y, m, d)).toEqual({ year, week });
  });
});

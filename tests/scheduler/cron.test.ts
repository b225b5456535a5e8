// Cron in an IANA zone, with the clock injected as the instant to count from: the daylight-saving
// rules lib/schedule-rules/cron.ts promises (Europe/Berlin and America/New_York, spring and autumn 2026).
import { describe, expect, it } from "vitest";
import {
  InvalidCronError,
  describeCron,
  formatInZone,
  nextRunAfter,
  nextRuns,
  occurrencesBetween,
  previewCron,
} from "../../lib/schedule-rules/cron";

const iso = (ds: Date[]) => ds.map((d) => d.toISOString());
/** occurrencesBetween with the instants written as ISO strings. */
const between = (cron: string, tz: string, from: string, to: string, cap?: number) =>
  occurrencesBetween(cron, tz, new Date(from), new Date(to), cap);

describe("next runs across daylight-saving changes", () => {
  it.each([
    {
      what: "Berlin spring forward: 02:30 does not exist on 2026-03-29, runs once at 03:30 CEST",
      cron: "30 2 * * *",
      tz: "Europe/Berlin",
      from: "2026-03-27T12:00:00Z",
      runs: ["2026-03-28T01:30:00.000Z", "2026-03-29T01:30:00.000Z", "2026-03-30T00:30:00.000Z"],
    },
    {
      what: "Berlin fall back: 02:30 occurs twice on 2026-10-25, runs once at the first (CEST)",
      cron: "30 2 * * *",
      tz: "Europe/Berlin",
      from: "2026-10-23T12:00:00Z",
      runs: ["2026-10-24T00:30:00.000Z", "2026-10-25T00:30:00.000Z", "2026-10-26T01:30:00.000Z"],
    },
    {
      what: "Berlin fall back, counting from the first 02:30: the repeated 02:30 CET is not a second run",
      cron: "30 2 * * *",
      tz: "Europe/Berlin",
      from: "2026-10-25T00:30:00Z",
      runs: ["2026-10-26T01:30:00.000Z"],
    },
    {
      what: "Berlin fall back: every 30 minutes keeps a 30-minute interval through the repeated hour",
      cron: "*/30 * * * *",
      tz: "Europe/Berlin",
      from: "2026-10-24T23:45:00Z",
      runs: [
        "2026-10-25T00:00:00.000Z", // 02:00 CEST
        "2026-10-25T00:30:00.000Z", // 02:30 CEST
        "2026-10-25T01:00:00.000Z", // 02:00 CET
        "2026-10-25T01:30:00.000Z", // 02:30 CET
        "2026-10-25T02:00:00.000Z", // 03:00 CET
      ],
    },
    {
      what: "Berlin spring forward: hourly skips the hour that does not exist",
      cron: "0 * * * *",
      tz: "Europe/Berlin",
      from: "2026-03-28T23:30:00Z",
      runs: ["2026-03-29T00:00:00.000Z", "2026-03-29T01:00:00.000Z", "2026-03-29T02:00:00.000Z"],
    },
    {
      what: "New York spring forward: 02:30 on 2026-03-08 runs once at 03:30 EDT",
      cron: "30 2 * * *",
      tz: "America/New_York",
      from: "2026-03-07T12:00:00Z",
      runs: ["2026-03-08T07:30:00.000Z", "2026-03-09T06:30:00.000Z"],
    },
    {
      what: "New York fall back: 01:30 on 2026-11-01 runs once (EDT)",
      cron: "30 1 * * *",
      tz: "America/New_York",
      from: "2026-10-31T12:00:00Z",
      runs: ["2026-11-01T05:30:00.000Z", "2026-11-02T06:30:00.000Z"],
    },
    {
      what: "monthly at local midnight follows the zone's offset change",
      cron: "@monthly",
      tz: "Europe/Berlin",
      from: "2026-02-15T00:00:00Z",
      runs: ["2026-02-28T23:00:00.000Z", "2026-03-31T22:00:00.000Z"],
    },
  ])("$what", ({ cron, tz, from, runs }) => {
    expect(iso(nextRuns(cron, tz, new Date(from), runs.length))).toEqual(runs);
  });

  it("a daily job fires exactly once on each day of the DST weeks (Berlin)", () => {
    for (const [from, to] of [
      ["2026-03-26T00:00:00Z", "2026-04-02T00:00:00Z"],
      ["2026-10-22T00:00:00Z", "2026-10-29T00:00:00Z"],
    ]) {
      expect(between("30 2 * * *", "Europe/Berlin", from!, to!).count).toBe(7);
    }
  });

  it("counts the 25-hour day as 25 hourly runs and the 23-hour day as 23", () => {
    // Local days: 2026-10-25 00:00 CEST = 10-24T22:00Z … 10-25T23:00Z (exclusive).
    expect(between("0 * * * *", "Europe/Berlin", "2026-10-24T22:00:00Z", "2026-10-25T22:59:59Z").count).toBe(25);
    expect(between("0 * * * *", "Europe/Berlin", "2026-03-28T23:00:00Z", "2026-03-29T21:59:59Z").count).toBe(23);
  });

  it("counts with a cap and says so", () => {
    const r = between("* * * * *", "UTC", "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z", 100);
    expect(r).toMatchObject({ count: 100, capped: true });
    expect(r.first?.toISOString()).toBe("2026-01-01T00:00:00.000Z");
  });
});

describe("describing and previewing", () => {
  it("describes in words with the zone", () => {
    expect(describeCron("30 2 * * *", "Europe/Berlin")).toBe("At 02:30, every day (Europe/Berlin time)");
    expect(describeCron("0 */6 * * 1-5", "UTC")).toMatch(/every 6 hours.*Monday through Friday.*\(UTC time\)/);
  });

  it("previews the next 5 runs with wall-clock times in the zone", () => {
    const p = previewCron("30 2 * * *", "Europe/Berlin", new Date("2026-03-27T12:00:00Z"));
    expect(p.nextRuns).toHaveLength(5);
    expect(p.nextRuns[1]).toEqual({ at: "2026-03-29T01:30:00.000Z", local: "Sun 29 Mar 2026, 03:30 CEST" });
    expect(p.nextRuns[0]?.local).toBe("Sat 28 Mar 2026, 02:30 CET");
    expect(formatInZone(new Date("2026-11-01T05:30:00Z"), "America/New_York")).toBe("Sun 1 Nov 2026, 01:30 GMT-4");
  });
});

describe("invalid input", () => {
  it.each([
    ["", "UTC", /empty/],
    ["* * * *", "UTC", /5 fields/],
    ["0 * * * * *", "UTC", /5 fields/],
    ["61 * * * *", "UTC", /invalid cron expression/],
    ["@reboot", "UTC", /unknown cron macro/],
    ["0 0 30 2 *", "UTC", /invalid cron expression|never fires/],
    ["* * * * *", "Mars/Olympus_Mons", /unknown time zone/],
  ])("%s in %s is refused", (cron, tz, message) => {
    expect(() => nextRunAfter(cron, tz, new Date("2026-01-01T00:00:00Z"))).toThrow(InvalidCronError);
    expect(() => nextRunAfter(cron, tz, new Date("2026-01-01T00:00:00Z"))).toThrow(message);
  });
});

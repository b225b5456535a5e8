// The editor's cron builder: each shape round-trips through an expression; others stay custom.
import { describe, expect, it } from "vitest";
import { DEFAULT_BUILDER, fromCron, toCron } from "../../components/schedules/cron-builder";

describe("cron builder", () => {
  it.each([
    [{ frequency: "hourly", minute: 15 }, "15 * * * *"],
    [{ frequency: "daily", minute: 30, hour: 2 }, "30 2 * * *"],
    [{ frequency: "weekly", minute: 0, hour: 22, weekdays: [5, 1] }, "0 22 * * 1,5"],
    [{ frequency: "monthly", minute: 5, hour: 3, dayOfMonth: 1 }, "5 3 1 * *"],
  ] as const)("%o ⇄ %s", (shape, cron) => {
    const state = { ...DEFAULT_BUILDER, ...shape, weekdays: [...(("weekdays" in shape && shape.weekdays) || [0])] };
    expect(toCron(state)).toBe(cron);
    expect(toCron(fromCron(cron))).toBe(cron);
    expect(fromCron(cron).frequency).toBe(shape.frequency);
  });

  it.each(["*/15 * * * *", "0 9 * * 1-5", "0 0 1 1 *", "@daily", "0 2 1 * 1"])("%s stays custom", (cron) => {
    expect(fromCron(cron)).toMatchObject({ frequency: "custom", custom: cron });
    expect(toCron(fromCron(cron))).toBe(cron);
  });
});

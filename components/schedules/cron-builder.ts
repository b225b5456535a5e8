// The schedule editor's cron builder, as pure functions: a few plain shapes (hourly, daily, weekly,
// monthly) to and from a five-field cron expression. Anything else is edited as a custom expression.

export type Frequency = "hourly" | "daily" | "weekly" | "monthly" | "custom";

export interface BuilderState {
  frequency: Frequency;
  minute: number;
  hour: number;
  /** 0 = Sunday … 6 = Saturday (cron's numbering). */
  weekdays: number[];
  dayOfMonth: number;
  custom: string;
}

export const WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"] as const;

export const DEFAULT_BUILDER: BuilderState = {
  frequency: "daily",
  minute: 0,
  hour: 2,
  weekdays: [0],
  dayOfMonth: 1,
  custom: "0 2 * * *",
};

export function toCron(s: BuilderState): string {
  switch (s.frequency) {
    case "hourly":
      return `${s.minute} * * * *`;
    case "daily":
      return `${s.minute} ${s.hour} * * *`;
    case "weekly":
      return `${s.minute} ${s.hour} * * ${(s.weekdays.length ? [...s.weekdays].sort((a, b) => a - b) : [0]).join(",")}`;
    case "monthly":
      return `${s.minute} ${s.hour} ${s.dayOfMonth} * *`;
    case "custom":
      return s.custom.trim();
  }
}

const num = (v: string, max: number) => (/^\d+$/.test(v) && Number(v) <= max ? Number(v) : undefined);

/** Reads an expression back into the builder; shapes it cannot show come back as custom. */
export function fromCron(expression: string): BuilderState {
  const custom = { ...DEFAULT_BUILDER, frequency: "custom" as const, custom: expression };
  const f = expression.trim().split(/\s+/);
  if (f.length !== 5) return custom;
  const [mi, h, dom, mon, dow] = f as [string, string, string, string, string];
  const minute = num(mi, 59);
  if (minute === undefined || mon !== "*") return custom;
  if (h === "*" && dom === "*" && dow === "*")
    return { ...DEFAULT_BUILDER, frequency: "hourly", minute, custom: expression };
  const hour = num(h, 23);
  if (hour === undefined) return custom;
  if (dom === "*" && dow === "*") return { ...DEFAULT_BUILDER, frequency: "daily", minute, hour, custom: expression };
  if (dom === "*" && /^[0-6](,[0-6])*$/.test(dow)) {
    return {
      ...DEFAULT_BUILDER,
      frequency: "weekly",
      minute,
      hour,
      weekdays: dow.split(",").map(Number),
      custom: expression,
    };
  }
  const day = num(dom, 31);
  if (day !== undefined && day >= 1 && dow === "*") {
    return { ...DEFAULT_BUILDER, frequency: "monthly", minute, hour, dayOfMonth: day, custom: expression };
  }
  return custom;
}

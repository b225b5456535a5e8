// Cron expressions in an IANA time zone: validation, a description in words and the next run times.
// Pure: every function takes the instant to count from, so callers (and tests) choose the clock.
// lib/schedule-rules/ holds a schedule's pure rules (when: this file; whom: targets.ts) below every domain:
// the scheduler, the shared schedule schemas (lib/validations/schedule.ts) and fleet use them; they import
// no app module but lib/errors.ts.
//
// Expressions are the standard five fields (minute hour day-of-month month day-of-week) or a macro
// (@hourly, @daily, @weekly, @monthly, @yearly); when both day fields are restricted a day matching
// either fires (Vixie cron). Times are wall-clock times in the schedule's zone, evaluated by
// cron-parser (luxon underneath), which gives these daylight-saving rules — pinned by
// tests/scheduler/cron.test.ts:
//   - a wall-clock time skipped by the spring-forward jump (02:30 in Berlin on 2026-03-29) fires once,
//     an hour later by the wall clock (03:30 CEST): a daily job still runs once that day;
//   - a wall-clock time that occurs twice at fall-back (02:30 in Berlin on 2026-10-25) fires once, at
//     its first occurrence; expressions that fire every hour or more often fire in both repeated hours,
//     so their real interval stays the same.
import { CronExpressionParser, type CronExpression } from "cron-parser";
import cronstrue from "cronstrue";
import { InvalidInputError } from "../errors";

const MACROS = new Set(["@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@annually", "@midnight"]);
/** Upper bound of occurrences counted between two instants (a month of every-minute runs). */
export const MAX_COUNTED_OCCURRENCES = 50_000;

export class InvalidCronError extends InvalidInputError {}

const zoneValidity = new Map<string, boolean>();

export function isValidTimeZone(tz: string): boolean {
  if (!tz || tz.length > 64) return false;
  let valid = zoneValidity.get(tz);
  if (valid === undefined) {
    try {
      new Intl.DateTimeFormat("en-US", { timeZone: tz });
      valid = true;
    } catch {
      valid = false;
    }
    zoneValidity.set(tz, valid);
  }
  return valid;
}

/** Normalises whitespace; throws InvalidCronError with a message a user can act on. */
export function normalizeCron(expression: string): string {
  const expr = expression.trim().replace(/\s+/g, " ");
  if (expr === "") throw new InvalidCronError("cron expression is empty");
  if (expr.startsWith("@")) {
    if (!MACROS.has(expr.toLowerCase())) {
      throw new InvalidCronError(`unknown cron macro "${expr}": use @hourly, @daily, @weekly, @monthly or @yearly`);
    }
    return expr.toLowerCase();
  }
  const fields = expr.split(" ").length;
  if (fields !== 5) {
    throw new InvalidCronError(
      `cron expression needs 5 fields (minute hour day-of-month month day-of-week), got ${fields}`,
    );
  }
  return expr;
}

// Parsed expressions, reused (reset to a new start) rather than parsed again: with thousands of
// schedules a claim computes thousands of next runs. Safe to share: every use is synchronous.
const compiled = new Map<string, CronExpression>();
const MAX_COMPILED = 10_000;

function iterator(expression: string, timezone: string, after: Date): CronExpression {
  if (!isValidTimeZone(timezone)) throw new InvalidCronError(`unknown time zone "${timezone}"`);
  const key = `${timezone}\n${expression}`;
  let it = compiled.get(key);
  if (!it) {
    const expr = normalizeCron(expression);
    try {
      it = CronExpressionParser.parse(expr, { tz: timezone, currentDate: after, strict: false });
    } catch (err) {
      throw new InvalidCronError(`invalid cron expression "${expr}": ${(err as Error).message}`, undefined, {
        cause: err,
      });
    }
    if (compiled.size >= MAX_COMPILED) compiled.clear();
    compiled.set(key, it);
  }
  it.reset(after);
  return it;
}

/** Throws InvalidCronError unless the expression parses and fires at least once from `now`. */
export function assertValidCron(expression: string, timezone: string, now: Date): void {
  nextRunAfter(expression, timezone, now);
}

// Next-run results, memoised: in a burst thousands of schedules share an expression, a zone and the
// instant they fired at, and the answer is a pure function of those three.
const nextRunMemo = new Map<string, number>();
const MAX_MEMO = 20_000;

/** The first occurrence strictly after `after`. */
export function nextRunAfter(expression: string, timezone: string, after: Date): Date {
  const key = `${timezone}\n${expression}\n${after.getTime()}`;
  const memo = nextRunMemo.get(key);
  if (memo !== undefined) return new Date(memo);
  const it = iterator(expression, timezone, after);
  let next: Date;
  try {
    next = it.next().toDate();
  } catch (err) {
    throw new InvalidCronError(`cron expression "${expression}" never fires`, undefined, { cause: err });
  }
  if (nextRunMemo.size >= MAX_MEMO) nextRunMemo.clear();
  nextRunMemo.set(key, next.getTime());
  return next;
}

/** The next `count` occurrences strictly after `after`. */
export function nextRuns(expression: string, timezone: string, after: Date, count: number): Date[] {
  const it = iterator(expression, timezone, after);
  const out: Date[] = [];
  for (let i = 0; i < count; i++) out.push(it.next().toDate());
  return out;
}

/** Occurrences in [from, to] (both inclusive), up to `max` of them. */
export function occurrencesBetween(
  expression: string,
  timezone: string,
  from: Date,
  to: Date,
  max = MAX_COUNTED_OCCURRENCES,
): { count: number; first: Date | undefined; last: Date | undefined; capped: boolean } {
  const it = iterator(expression, timezone, new Date(from.getTime() - 1));
  let count = 0;
  let first: Date | undefined;
  let last: Date | undefined;
  while (count < max) {
    const next = it.next().toDate();
    if (next.getTime() > to.getTime()) return { count, first, last, capped: false };
    first ??= next;
    last = next;
    count++;
  }
  return { count, first, last, capped: true };
}

/** The occurrences in [from, to] (both inclusive), at most `max`. */
export function listOccurrences(expression: string, timezone: string, from: Date, to: Date, max: number): Date[] {
  const it = iterator(expression, timezone, new Date(from.getTime() - 1));
  const out: Date[] = [];
  while (out.length < max) {
    const next = it.next().toDate();
    if (next.getTime() > to.getTime()) break;
    out.push(next);
  }
  return out;
}

/** "At 02:30, every day (Europe/Berlin time)". */
export function describeCron(expression: string, timezone: string): string {
  const expr = normalizeCron(expression);
  const words = cronstrue.toString(expr, {
    use24HourTimeFormat: true,
    throwExceptionOnParseError: true,
    verbose: true,
  });
  return `${words} (${timezone} time)`;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** "Sun 29 Mar 2026, 03:30 CEST" — an instant as a wall-clock time in the zone. Assembled from parts
 * so the text does not depend on the ICU version's punctuation. */
export function formatInZone(at: Date, timezone: string): string {
  let f = formatters.get(timezone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-GB", {
      timeZone: timezone,
      weekday: "short",
      day: "numeric",
      month: "short",
      year: "numeric",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
      timeZoneName: "short",
    });
    formatters.set(timezone, f);
  }
  const p = Object.fromEntries(f.formatToParts(at).map((x) => [x.type, x.value]));
  return `${p.weekday} ${p.day} ${p.month} ${p.year}, ${p.hour}:${p.minute} ${p.timeZoneName}`;
}

export interface CronPreview {
  expression: string;
  timezone: string;
  description: string;
  nextRuns: { at: string; local: string }[];
}

/** What the editor shows before saving: the expression in words and its next runs. */
export function previewCron(expression: string, timezone: string, now: Date, count = 5): CronPreview {
  const expr = normalizeCron(expression);
  const runs = nextRuns(expr, timezone, now, count);
  return {
    expression: expr,
    timezone,
    description: describeCron(expr, timezone),
    nextRuns: runs.map((d) => ({ at: d.toISOString(), local: formatInZone(d, timezone) })),
  };
}

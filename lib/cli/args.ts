// Small argument helpers shared by CLI subcommands. Owns: durations ("10s", "500ms", "2m", "1h" or
// bare seconds) and the CLI's usage error type (exit code 2).

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses "10s", "500ms", "2m", "1h", "1.5s" or a bare number of seconds into milliseconds. */
export function parseDuration(text: string, what = "duration"): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new UsageError(`invalid ${what} "${text}" (expected e.g. 10s, 500ms, 2m)`);
  const ms = Number(m[1]) * UNITS[m[2] ?? "s"]!;
  if (!Number.isFinite(ms) || ms <= 0) throw new UsageError(`invalid ${what} "${text}": must be positive`);
  return Math.round(ms);
}

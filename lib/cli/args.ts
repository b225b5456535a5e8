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

export interface FlagSpec {
  /** Flags taking a value (`--mode live` or `--mode=live`); repeatable ones collect every value. */
  valued?: readonly string[];
  /** Flags without a value (`--wait`). */
  boolean?: readonly string[];
  /** Valued flags that may be given more than once (`--endpoint a:1 --endpoint b:2`). */
  repeatable?: readonly string[];
}

export interface ParsedFlags {
  values: Record<string, string>;
  lists: Record<string, string[]>;
  set: Set<string>;
  positional: string[];
}

/** Strict: an unknown flag or a valued flag without its value is a usage error naming it. */
export function parseFlags(args: string[], spec: FlagSpec): ParsedFlags {
  const valued = new Set([...(spec.valued ?? []), ...(spec.repeatable ?? [])]);
  const booleans = new Set(spec.boolean ?? []);
  const repeatable = new Set(spec.repeatable ?? []);
  const out: ParsedFlags = { values: {}, lists: {}, set: new Set(), positional: [] };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--") {
      out.positional.push(...args.slice(i + 1));
      break;
    }
    if (!a.startsWith("--") || a === "--") {
      out.positional.push(a);
      continue;
    }
    const eq = a.indexOf("=");
    const name = a.slice(2, eq === -1 ? undefined : eq);
    if (booleans.has(name)) {
      if (eq !== -1) throw new UsageError(`--${name} takes no value`);
      out.set.add(name);
    } else if (valued.has(name)) {
      const value = eq === -1 ? args[++i] : a.slice(eq + 1);
      if (value === undefined || (eq === -1 && value.startsWith("--"))) throw new UsageError(`--${name} needs a value`);
      if (repeatable.has(name)) (out.lists[name] ??= []).push(value);
      else if (name in out.values) throw new UsageError(`--${name} given twice`);
      else out.values[name] = value;
    } else {
      throw new UsageError(`unknown option --${name}`);
    }
  }
  return out;
}

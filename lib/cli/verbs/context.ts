// What every dashboard verb gets: the streams, whether stdout/stdin are terminals, the environment (for
// SNAPFLEET_URL/TOKEN and the credentials file), the poll interval for --wait, and a lazily built
// client — so `--help` and usage errors never need credentials.
import type { Environment } from "../../config";
import { parseFlags, UsageError } from "../args";
import { EXIT } from "../exit-codes";
import { resolveTarget } from "../credentials";
import { ApiClient } from "../http-client";
import type { CliIo } from "../qmp";

export interface VerbIo extends CliIo {
  /** Defaults: process.stdout.isTTY / process.stdin.isTTY. */
  stdoutIsTty?: boolean;
  stdinIsTty?: boolean;
  /** The environment the verb's configuration is read from (lib/config.ts); default: this process's. */
  env?: Environment;
  /** How often --wait re-reads the job (default 500 ms). */
  pollIntervalMs?: number;
}

export interface VerbContext {
  io: VerbIo;
  env: Environment | undefined;
  tty: boolean;
  interactive: boolean;
  pollIntervalMs: number;
  client(): Promise<ApiClient>;
}

export const DEFAULT_POLL_MS = 500;

export function verbContext(io: VerbIo): VerbContext {
  const env = io.env;
  let client: Promise<ApiClient> | undefined;
  return {
    io,
    env,
    tty: io.stdoutIsTty ?? Boolean(process.stdout.isTTY),
    interactive: io.stdinIsTty ?? Boolean(process.stdin.isTTY),
    pollIntervalMs: io.pollIntervalMs ?? DEFAULT_POLL_MS,
    client: () => (client ??= resolveTarget(env).then((t) => ApiClient.for(t))),
  };
}

/** Prints a value as the verb's one JSON document. */
export function printJson(ctx: VerbContext, value: unknown): void {
  ctx.io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Prints the verb's usage for --help; the verb is done. */
export function printUsage(ctx: VerbContext, usage: string): number {
  ctx.io.stdout.write(`${usage}\n`);
  return EXIT.done;
}

/** `--help`/`-h` anywhere in the verb's arguments. */
export function wantsHelp(args: string[]): boolean {
  return args.includes("--help") || args.includes("-h");
}

/**
 * A `<noun> list` verb that takes no arguments: GETs `apiPath`; with --json prints the body and answers
 * undefined (the verb is done), else hands the body back for the verb's table.
 */
export async function listOrPrintJson<T>(
  verb: string,
  usage: string,
  args: string[],
  ctx: VerbContext,
  apiPath: string,
): Promise<T | undefined> {
  const flags = parseFlags(args, { boolean: ["json"] });
  if (flags.positional.length) throw new UsageError(`${verb} takes no arguments\n${usage}`);
  const body = await (await ctx.client()).get<T>(apiPath);
  if (!flags.set.has("json")) return body;
  printJson(ctx, body);
  return undefined;
}

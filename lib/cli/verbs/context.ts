// What every dashboard verb gets: the streams, whether stdout/stdin are terminals, the environment (for
// SNAPFLEET_URL/TOKEN and the credentials file), the poll interval for --wait, and a lazily built
// client — so `--help` and usage errors never need credentials.
import { resolveTarget } from "../credentials";
import { ApiClient } from "../http-client";
import type { CliIo } from "../qmp";

export interface VerbIo extends CliIo {
  /** Defaults: process.stdout.isTTY / process.stdin.isTTY. */
  stdoutIsTty?: boolean;
  stdinIsTty?: boolean;
  env?: NodeJS.ProcessEnv;
  /** How often --wait re-reads the job (default 500 ms). */
  pollIntervalMs?: number;
}

export interface VerbContext {
  io: VerbIo;
  env: NodeJS.ProcessEnv;
  tty: boolean;
  interactive: boolean;
  pollIntervalMs: number;
  client(): Promise<ApiClient>;
}

export const DEFAULT_POLL_MS = 500;

export function verbContext(io: VerbIo): VerbContext {
  const env = io.env ?? process.env;
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

/** `--help`/`-h` anywhere in the verb's arguments. */
export function wantsHelp(args: string[]): boolean {
  return args.includes("--help") || args.includes("-h");
}

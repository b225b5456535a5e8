// The dashboard verbs of `snapfleet` (REST API clients) and the one place their errors become output
// and exit codes: a CliError prints its message (and hints) with its code, a UsageError exits 2, and
// anything unexpected exits 1 with its message. Verbs never call process.exit().
import { ConfigError } from "../../config";
import { UsageError } from "../args";
import { CliError, EXIT } from "../exit-codes";
import { verbContext, type VerbContext, type VerbIo } from "./context";
import { runHosts, runVms } from "./fleet";
import { runLogin, runLogout, runWhoami } from "./login";
import { runRestore } from "./restore";
import { runSchedules } from "./schedules";
import { runSnapshot, runSnapshots } from "./snapshots";

const VERBS: Record<string, (args: string[], ctx: VerbContext) => Promise<number>> = {
  login: runLogin,
  logout: runLogout,
  whoami: runWhoami,
  hosts: runHosts,
  vms: runVms,
  snapshot: runSnapshot,
  snapshots: runSnapshots,
  restore: runRestore,
  schedules: runSchedules,
};

export function isApiVerb(name: string): boolean {
  return Object.hasOwn(VERBS, name);
}

export async function runApiVerb(name: string, args: string[], io: VerbIo): Promise<number> {
  const ctx = verbContext(io);
  try {
    return await VERBS[name]!(args, ctx);
  } catch (err) {
    if (err instanceof CliError) {
      io.stderr.write(`snapfleet ${name}: ${err.message}\n${err.hints.map((h) => `${h}\n`).join("")}`);
      return err.exitCode;
    }
    if (err instanceof UsageError || err instanceof ConfigError) {
      io.stderr.write(`snapfleet ${name}: ${err.message}\n`);
      return EXIT.usage;
    }
    io.stderr.write(`snapfleet ${name}: ${(err as Error).message ?? String(err)}\n`);
    return EXIT.failed;
  }
}

// The `snapfleet` command line: dispatches subcommands. Kept free of Next.js and Prisma so it starts
// fast and works on a hypervisor host with only the package installed. Subcommands return an exit code
// and never call process.exit(), so their sockets close and output flushes before the process ends.
import { ConfigError } from "../config";
import { UsageError } from "./args";
import { EXIT_CODES_HELP } from "./exit-codes";
import { runQmp } from "./qmp";
import { isApiVerb, runApiVerb } from "./verbs";
import type { VerbIo } from "./verbs/context";

const USAGE = `Usage: snapfleet <command> [options]

Dashboard (REST API; credentials from "snapfleet login" or SNAPFLEET_URL + SNAPFLEET_TOKEN):
  login <url> [--user <name>]            store the dashboard's URL and a credential (see: snapfleet login --help)
  logout | whoami                        forget the credential / show who it is
  hosts list | hosts add <kind> <name> …  the hypervisor hosts; add needs admin (see: snapfleet hosts --help)
  vms list [--host <h>] [--state <s>]    the VMs
  snapshot <vm> [--mode <m>] [--wait]    take a snapshot; --wait shows its progress and exits by its outcome
  snapshots list | show | delete         snapshot history (see: snapfleet snapshots --help)
  restore <snapshot> [--wait] [--yes]    roll a VM back to a snapshot
  schedules list | schedules run <name>  schedules; run one now
  Every dashboard command takes --json (one JSON document on stdout) and --help.

On this machine:
  qmp <endpoint> <command> [json-args]   run one QMP command against a VM (see: snapfleet qmp --help)
  qmp <endpoint> --events <duration>     print a VM's QMP events as JSON lines
  user create --admin <name>             create a user (password from a prompt or stdin); --role viewer|operator|admin
  token create --role <role> --name <n>  create an API token for scripts, printed once; [--expires 30d]

Options:
  -h, --help     this help

${EXIT_CODES_HELP}`;

export async function main(argv: string[], io: VerbIo): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== undefined && isApiVerb(sub)) return runApiVerb(sub, rest, io);
  switch (sub) {
    case "qmp":
      return runQmp(rest, io);
    case "user":
    case "token":
      try {
        // Loaded on demand: these reach the database; `qmp` stays free of Prisma.
        const users = await import("./users");
        return await (sub === "user" ? users.runUser(rest, io) : users.runToken(rest, io));
      } catch (err) {
        io.stderr.write(`snapfleet ${sub}: ${(err as Error).message}\n`);
        return err instanceof UsageError || err instanceof ConfigError ? 2 : 1;
      }
    case undefined:
    case "-h":
    case "--help":
    case "help":
      (sub === undefined ? io.stderr : io.stdout).write(`${USAGE}\n`);
      return sub === undefined ? 2 : 0;
    default:
      io.stderr.write(`snapfleet: unknown command "${sub}"\n${USAGE}\n`);
      return 2;
  }
}

/** Entry point used by bin/snapfleet.mjs: wires real stdio and signals. */
export async function run(): Promise<void> {
  let onStop!: () => void;
  const interrupted = new Promise<void>((resolve) => (onStop = resolve));
  process.once("SIGINT", onStop);
  process.once("SIGTERM", onStop);
  // `snapfleet qmp … --events 1m | head` closes the pipe early: stop watching instead of crashing.
  process.stdout.on("error", onStop);
  try {
    process.exitCode = await main(process.argv.slice(2), {
      stdout: process.stdout,
      stderr: process.stderr,
      interrupted,
    });
  } finally {
    process.off("SIGINT", onStop);
    process.off("SIGTERM", onStop);
  }
}

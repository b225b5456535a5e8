// The `snapfleet` command line: dispatches subcommands. Kept free of Next.js and Prisma so it starts
// fast and works on a hypervisor host with only the package installed. Subcommands return an exit code
// and never call process.exit(), so their sockets close and output flushes before the process ends.
import { UsageError } from "./args";
import { runQmp, type CliIo } from "./qmp";

const USAGE = `Usage: snapfleet <command> [options]

Commands:
  qmp <endpoint> <command> [json-args]   run one QMP command against a VM (see: snapfleet qmp --help)
  qmp <endpoint> --events <duration>     print a VM's QMP events as JSON lines
  user create --admin <name>             create a user (password from a prompt or stdin); --role viewer|operator|admin
  token create --role <role> --name <n>  create an API token for scripts, printed once; [--expires 30d]

Options:
  -h, --help     this help`;

export async function main(argv: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = argv;
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
        return err instanceof UsageError ? 2 : 1;
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
    process.exitCode = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, interrupted });
  } finally {
    process.off("SIGINT", onStop);
    process.off("SIGTERM", onStop);
  }
}

// `snapfleet qmp <endpoint> [command [json-args]] [--events <duration>]` — one QMP command (or an event
// watch) from the shell, through the same lib/qmp client the server uses.
// Output contract: the reply's "return" value as JSON on stdout; with --events one compact JSON object
// per line ({"event","data","timestamp"} as QEMU sent it), flushed as events arrive. Diagnostics go to
// stderr. Exit codes: 0 ok, 1 QEMU returned an error (its class and desc are printed), 2 usage,
// 3 could not connect (incl. monitor busy, TLS refused), 4 other QMP failure (timeout, protocol, lost).
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import {
  QmpCommandError,
  QmpConnectError,
  QmpEndpointError,
  QmpError,
  connectQmp,
  parseEndpoint,
  type QmpClient,
  type QmpEndpoint,
  type QmpEvent,
  type QmpLogger,
} from "../qmp";
import { UsageError, parseDuration } from "./args";

export interface CliIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  /** Resolves when the user interrupts (SIGINT/SIGTERM); tests pass a promise they control. */
  interrupted?: Promise<void>;
}

export const QMP_USAGE = `Usage: snapfleet qmp <endpoint> [<command> [<json-args>]] [options]

Runs one QMP command and prints its reply as JSON, or watches events.

Endpoints:
  unix:/path/to/qmp.sock
  tcp:host:port
  tls:host:port            with --ca (and --cert/--key when QEMU has verify-peer=on)
  ssh:user@host[:port]:/remote/qmp.sock   with --ssh-key and --ssh-host-key

Options:
  --events <duration>      print events (one JSON per line) for this long, e.g. 10s, 2m;
                           with a command, listens from before the command is sent
  --timeout <duration>     command timeout (default 30s)
  --connect-timeout <d>    connect timeout (default 5s); no greeting within it = monitor busy
  --ca <file>              CA certificate (PEM) that signed QEMU's server certificate
  --cert <file>            client certificate (PEM)
  --key <file>             client private key (PEM)
  --servername <name>      name to verify the server certificate against (default: host)
  --ssh-key <file>         SSH private key;  --ssh-host-key SHA256:… expected host key
  -v, --verbose            log QMP traffic (-->/<--) to stderr
  -h, --help

Exit codes: 0 ok, 1 QEMU error, 2 usage, 3 connect failed/monitor busy, 4 timeout/protocol/disconnect.

Examples:
  snapfleet qmp unix:/run/qemu/vm1.qmp query-status
  snapfleet qmp unix:/run/qemu/vm1.qmp query-named-block-nodes '{"flat": true}'
  snapfleet qmp tls:10.0.0.5:4445 --ca ca.pem --cert me.pem --key me.key query-migrate
  snapfleet qmp unix:/run/qemu/vm1.qmp --events 10s`;

function readPem(file: string | undefined, flag: string): Buffer | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file);
  } catch (err) {
    throw new UsageError(`${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function stderrLogger(io: CliIo, verbose: boolean): QmpLogger | undefined {
  if (!verbose) return undefined;
  const line = (level: string) => (obj: Record<string, unknown>, msg?: string) => {
    const err = obj.err instanceof Error ? `: ${obj.err.message}` : "";
    io.stderr.write(`${level}${msg ?? ""}${err}\n`);
  };
  return { debug: line(""), info: line("info: "), warn: line("warn: "), error: line("error: ") };
}

function eventLine(ev: QmpEvent): string {
  return `${JSON.stringify({ event: ev.event, data: ev.data, timestamp: ev.timestamp })}\n`;
}

/** Exit code and stderr message for a failure. */
function report(io: CliIo, err: unknown): number {
  if (err instanceof UsageError) {
    io.stderr.write(`snapfleet qmp: ${err.message}\n(see snapfleet qmp --help)\n`);
    return 2;
  }
  if (err instanceof QmpCommandError) {
    io.stderr.write(`error: ${err.errorClass}: ${err.desc}\n`);
    return 1;
  }
  if (err instanceof QmpEndpointError) {
    io.stderr.write(`snapfleet qmp: ${err.message}\n`);
    return 2;
  }
  if (err instanceof QmpConnectError) {
    io.stderr.write(`error: ${err.name}: ${err.message}\n`);
    return 3;
  }
  if (err instanceof QmpError) {
    io.stderr.write(`error: ${err.name}: ${err.message}\n`);
    return 4;
  }
  io.stderr.write(`error: ${(err as Error)?.stack ?? String(err)}\n`);
  return 4;
}

interface Parsed {
  endpoint: QmpEndpoint;
  command?: string;
  args?: Record<string, unknown>;
  eventsMs?: number;
  timeoutMs: number;
  connectTimeoutMs: number;
  verbose: boolean;
}

function parse(argv: string[]): Parsed | "help" {
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        events: { type: "string" },
        timeout: { type: "string" },
        "connect-timeout": { type: "string" },
        ca: { type: "string" },
        cert: { type: "string" },
        key: { type: "string" },
        servername: { type: "string" },
        "ssh-key": { type: "string" },
        "ssh-host-key": { type: "string" },
        verbose: { type: "boolean", short: "v" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return "help";
  const [endpointText, command, json, ...extra] = positionals;
  if (!endpointText) throw new UsageError("missing <endpoint>");
  if (extra.length > 0)
    throw new UsageError(`unexpected argument "${extra[0]}" (quote the JSON arguments as one word)`);
  if (!command && values.events === undefined) throw new UsageError("missing <command> (or --events <duration>)");

  let args: Record<string, unknown> | undefined;
  if (json !== undefined) {
    try {
      args = JSON.parse(json);
    } catch (err) {
      throw new UsageError(`<json-args> is not valid JSON: ${(err as Error).message}`);
    }
    if (typeof args !== "object" || args === null || Array.isArray(args))
      throw new UsageError("<json-args> must be a JSON object");
  }

  const endpoint = parseEndpoint(endpointText, {
    tls:
      values.ca === undefined
        ? undefined
        : {
            ca: readPem(values.ca, "--ca")!,
            cert: readPem(values.cert, "--cert"),
            key: readPem(values.key, "--key"),
            servername: values.servername,
          },
    ssh: {
      privateKey: readPem(values["ssh-key"], "--ssh-key"),
      hostKeySha256: values["ssh-host-key"],
    },
  });
  if (endpoint.kind === "tls" && values.ca === undefined) throw new UsageError("tls: endpoints need --ca <file>");
  return {
    endpoint,
    command,
    args,
    eventsMs: values.events === undefined ? undefined : parseDuration(values.events, "--events duration"),
    timeoutMs: values.timeout === undefined ? 30_000 : parseDuration(values.timeout, "--timeout"),
    connectTimeoutMs:
      values["connect-timeout"] === undefined ? 5000 : parseDuration(values["connect-timeout"], "--connect-timeout"),
    verbose: values.verbose ?? false,
  };
}

/** Runs `snapfleet qmp …`; returns the exit code. Never throws. */
export async function runQmp(argv: string[], io: CliIo): Promise<number> {
  let client: QmpClient | undefined;
  try {
    const p = parse(argv);
    if (p === "help") {
      io.stdout.write(`${QMP_USAGE}\n`);
      return 0;
    }
    client = await connectQmp(p.endpoint, {
      connectTimeoutMs: p.connectTimeoutMs,
      greetingTimeoutMs: p.connectTimeoutMs,
      commandTimeoutMs: p.timeoutMs,
      logger: stderrLogger(io, p.verbose),
    });

    if (p.eventsMs === undefined) {
      const reply = await client.execute(p.command!, p.args);
      io.stdout.write(`${JSON.stringify(reply, null, 2)}\n`);
      return 0;
    }

    // Watch mode: subscribe before sending anything, so the command's own events are included.
    const off = client.on("*", (ev) => io.stdout.write(eventLine(ev)));
    io.stderr.write(`listening for events on ${client.label} for ${p.eventsMs} ms\n`);
    if (p.command) {
      const reply = await client.execute(p.command, p.args);
      io.stdout.write(`${JSON.stringify({ return: reply })}\n`);
    }
    let timer: NodeJS.Timeout | undefined;
    const elapsed = new Promise<"elapsed">((resolve) => (timer = setTimeout(() => resolve("elapsed"), p.eventsMs)));
    const lost = client.disconnected.then((reason) => reason);
    const interrupted = (io.interrupted ?? new Promise<never>(() => {})).then(() => "interrupted" as const);
    const outcome = await Promise.race([elapsed, lost, interrupted]);
    clearTimeout(timer);
    off();
    if (outcome instanceof QmpError) {
      // QEMU quitting ends a watch normally (SHUTDOWN was printed); anything else is a failure.
      if (outcome.name === "QmpDisconnectedError") {
        io.stderr.write(`${outcome.message}\n`);
        return 0;
      }
      return report(io, outcome);
    }
    return 0;
  } catch (err) {
    return report(io, err);
  } finally {
    await client?.close();
  }
}

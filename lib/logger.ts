// The process logger (pino). Modules take a child logger with their context (`{ vm }`, `{ job }`);
// QMP traffic goes out at debug level. Secrets (keys, passwords, connection strings, credentials inside
// disk URLs) are never logged: every line's fields, message and error pass lib/security/redact.ts at
// every level. `createLogger(destination)` lets tests capture the output and grep it; `logTo(destination)`
// sends the process logger's lines elsewhere than stdout (the test run: one file per test file).
import pino from "pino";
import { configuredLogLevel } from "./config";
import { redactSecrets, scrubDeep } from "./security/redact";

export function createLogger(destination?: pino.DestinationStream, level: string = configuredLogLevel()): pino.Logger {
  const options: pino.LoggerOptions = {
    level,
    base: undefined,
    redact: [
      "password",
      "privateKey",
      "connectionString",
      "*.password",
      "*.privateKey",
      "token",
      "*.token",
      "authorization",
      "*.authorization",
    ],
    serializers: {
      err: (err: unknown) => scrubDeep(err instanceof Error ? pino.stdSerializers.err(err) : err),
    },
    formatters: {
      log: (obj) => scrubDeep(obj),
    },
    hooks: {
      logMethod(args, method) {
        method.apply(
          this,
          args.map((a) => (typeof a === "string" ? redactSecrets(a) : a)) as Parameters<typeof method>,
        );
      },
    },
  };
  return scrubChildBindings(destination ? pino(options, destination) : pino(options));
}

/** Child bindings (`logger.child({ disk })`) are serialized once, outside formatters.log: scrub them too. */
function scrubChildBindings(l: pino.Logger): pino.Logger {
  const child = l.child.bind(l);
  l.child = ((bindings: pino.Bindings, opts?: pino.ChildLoggerOptions) =>
    scrubChildBindings(child(scrubDeep(bindings), opts))) as unknown as typeof l.child;
  return l;
}

/** Where the process logger's lines go: stdout until logTo() names another destination. */
let processDestination: pino.DestinationStream = pino.destination(1);

export const logger = createLogger({ write: (line: string) => processDestination.write(line) });

/** Sends the process logger's lines (and its children's, whenever made) to `destination` from now on. */
export function logTo(destination: pino.DestinationStream): void {
  processDestination = destination;
}

export type Logger = pino.Logger;

// The process logger (pino). Modules take a child logger with their context (`{ vm }`, `{ job }`);
// QMP traffic goes out at debug level. Secrets (keys, passwords, connection strings) are never logged.
import pino from "pino";

export const logger = pino({
  level: process.env.LOG_LEVEL || "info",
  base: undefined,
  redact: ["password", "privateKey", "connectionString", "*.password", "*.privateKey"],
});

export type Logger = pino.Logger;

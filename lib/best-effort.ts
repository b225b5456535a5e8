// Best-effort steps: cleanups whose failure changes nothing for the caller (a temp file already gone, a
// connection already closed, a probe of something optional). Their errors are never dropped silently:
// logIgnored(why) logs each at debug level with the reason ignoring it is right (LOG_LEVEL=debug shows
// them), and hands back undefined so the caller's flow reads as it did.
import type { Logger } from "./logger";
import { logger } from "./logger";

export function logIgnored(why: string, log: Pick<Logger, "debug"> = logger): (err: unknown) => undefined {
  return (err: unknown) => {
    log.debug({ err }, `ignored: ${why}`);
    return undefined;
  };
}

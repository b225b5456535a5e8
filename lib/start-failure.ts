// How a fatal start error reaches the operator: logged (pino, with the error) and printed on stderr as
// one sentence with the reason. The reason survives whatever was thrown or rejected — an Error (with
// its causes), an AggregateError with an empty message (Node's connect errors), a string, an object,
// or nothing at all — since a library that rejects with `undefined` must not leave the log mute.
import { inspect } from "node:util";
import type { Logger } from "./logger";

const MAX_REASON = 2_000;

function errorText(err: Error): string {
  if (err.message) return err.message;
  if (err instanceof AggregateError && err.errors.length) return err.errors.map((e) => reasonOf(e)).join("; ");
  return (err as NodeJS.ErrnoException).code ?? err.name;
}

/** The reason a value thrown or rejected carries, as text on one line. */
export function reasonOf(thrown: unknown): string {
  let text: string;
  if (thrown instanceof Error) {
    text = errorText(thrown);
    // Causes add what the outer message leaves out (e.g. the errno behind a domain error).
    let cause = thrown.cause;
    for (let depth = 0; cause !== undefined && cause !== null && depth < 3; depth++) {
      const more = cause instanceof Error ? errorText(cause) : reasonOf(cause);
      if (!text.includes(more)) text += ` (${more})`;
      cause = cause instanceof Error ? cause.cause : undefined;
    }
  } else if (typeof thrown === "string") {
    text = thrown.trim() || "an empty string was thrown";
  } else if (thrown === undefined || thrown === null) {
    text = `no reason was given (the start was rejected with ${String(thrown)})`;
  } else if (
    typeof thrown === "object" &&
    typeof (thrown as { message?: unknown }).message === "string" &&
    (thrown as { message: string }).message
  ) {
    text = (thrown as { message: string }).message;
  } else if (typeof thrown === "object") {
    text = `a non-Error value was thrown: ${inspect(thrown, { depth: 3, breakLength: Infinity })}`;
  } else {
    text = `${String(thrown)} was thrown`;
  }
  text = text.replace(/\s+/g, " ").trim();
  return text.length > MAX_REASON ? `${text.slice(0, MAX_REASON - 1)}…` : text;
}

/** One human sentence: "Snapfleet failed to start: <reason>." */
export function startFailureSentence(thrown: unknown): string {
  const reason = reasonOf(thrown);
  return `Snapfleet failed to start: ${reason}${/[.!?…]$/.test(reason) ? "" : "."}`;
}

/** Logs the failure (with an Error pino can serialise, even for a non-Error) and prints the sentence on stderr. */
export function reportStartFailure(thrown: unknown, log: Logger, stderr: NodeJS.WritableStream = process.stderr): void {
  const sentence = startFailureSentence(thrown);
  try {
    const err = thrown instanceof Error ? thrown : new Error(reasonOf(thrown));
    log.fatal({ err, reason: reasonOf(thrown) }, "Snapfleet failed to start");
  } catch {
    // the sentence below still tells the reason
  }
  stderr.write(`${sentence}\n`);
}

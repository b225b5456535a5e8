// Route-handler helpers: parse a JSON body or query string with a zod schema and map domain errors to
// HTTP. Every 4xx is `{ "error": "<what to fix>", "details"?: … }` (./error-body.ts); unexpected errors
// are logged and answered 500 without internals.
import { NextResponse } from "next/server";
import { z } from "zod";
import { ConflictError, DomainError, InvalidInputError, NotFoundError } from "../errors";
import { describeIssues } from "./error-body";
import { logger } from "../logger";
import { bigintReplacer } from "../realtime/hub";
import { AuthError, TooManyAttemptsError } from "../auth/errors";
import { redactSecrets } from "../security/redact";

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export function json(body: unknown, init?: { status?: number }): NextResponse {
  // BigInt columns (byte counts) are sent as numbers: they stay well below 2^53. Secret-shaped values
  // (credentials inside disk URLs, key= options) are masked whatever the handler returned.
  return new NextResponse(redactSecrets(JSON.stringify(body, bigintReplacer)), {
    status: init?.status ?? 200,
    headers: { "content-type": "application/json" },
  });
}

export async function parseBody<S extends z.ZodType>(req: Request, schema: S): Promise<z.infer<S>> {
  let raw: unknown;
  try {
    const text = await req.text();
    raw = text.trim() === "" ? {} : JSON.parse(text);
  } catch {
    throw new HttpError(400, "request body must be JSON");
  }
  const result = schema.safeParse(raw);
  if (!result.success) throw new HttpError(400, describeIssues(result.error), z.treeifyError(result.error));
  return result.data;
}

export function parseQuery<S extends z.ZodType>(req: Request, schema: S): z.infer<S> {
  const params = Object.fromEntries(new URL(req.url).searchParams);
  const result = schema.safeParse(params);
  if (!result.success) throw new HttpError(400, describeIssues(result.error), z.treeifyError(result.error));
  return result.data;
}

export function errorResponse(err: unknown): NextResponse {
  if (err instanceof HttpError) return json({ error: err.message, details: err.details }, { status: err.status });
  if (err instanceof AuthError) return json({ error: err.message }, { status: 401 });
  if (err instanceof TooManyAttemptsError) {
    const res = json({ error: err.message }, { status: 429 });
    res.headers.set("Retry-After", String(err.retryAfterSeconds));
    return res;
  }
  if (err instanceof NotFoundError) return json({ error: err.message, details: err.details }, { status: 404 });
  if (err instanceof ConflictError) return json({ error: err.message, details: err.details }, { status: 409 });
  if (err instanceof InvalidInputError) return json({ error: err.message, details: err.details }, { status: 422 });
  if (err instanceof DomainError) return json({ error: err.message, details: err.details }, { status: 400 });
  logger.error({ err }, "unhandled error in a route handler");
  return json({ error: "internal error; see the server log" }, { status: 500 });
}

/** Wraps a route handler so thrown errors become the right HTTP answer. */
export function route<A extends unknown[]>(handler: (...args: A) => Promise<Response>) {
  return async (...args: A): Promise<Response> => {
    try {
      return await handler(...args);
    } catch (err) {
      return errorResponse(err);
    }
  };
}

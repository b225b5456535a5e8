// The browser's one way to the REST API: fetch, then one error shape for every way a call can fail.
// A refusal or failure of the server (non-2xx) becomes ApiError with its status and, when the answer is
// the API's JSON error body (./error-body.ts), that body; a dashboard that does not answer becomes
// ApiError with status 0. Every ApiError's message is fit to show as is: the server's own `error`, or
// what happened in words. An aborted call rethrows the AbortError untouched (the caller aborted it and
// knows why). Answers are never cached (`cache: "no-store"` unless the caller says otherwise). A route
// whose non-2xx answer is a result, not an error (GET /api/health's 503 "database down"), is named by
// the caller (`answerStatuses`).
// Kept free of Next.js and server modules: views import it, and it never reaches lib/db.
import type { z } from "zod";
import { errorBodySchema, type ErrorBody } from "./error-body";

export class ApiError extends Error {
  constructor(
    /** The HTTP status, or 0 when no answer came (network failure, dashboard down). */
    readonly status: number,
    message: string,
    /** The API's JSON error body when the answer carried one. */
    readonly body: ErrorBody | null = null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "ApiError";
  }

  /** The error body's `details` (per-field issues, the running job's id, a refusal's commands…). */
  get details(): unknown {
    return this.body?.details;
  }
}

export interface ApiFetchInit extends Omit<RequestInit, "body"> {
  /** Sent as the request's JSON body, with `content-type: application/json`. */
  json?: unknown;
  /** Non-2xx statuses whose body is this route's answer, not an error (GET /api/health's 503). */
  answerStatuses?: readonly number[];
}

/** With `schema`: the answer parsed by it (an answer it rejects is an ApiError). */
export function apiFetch<S extends z.ZodType>(url: string, init: ApiFetchInit & { schema: S }): Promise<z.infer<S>>;
/** Without: the answer's JSON as the caller declares it (unchecked), or undefined for an empty answer. */
export function apiFetch<T = unknown>(url: string, init?: ApiFetchInit): Promise<T>;
export async function apiFetch(url: string, init: ApiFetchInit & { schema?: z.ZodType } = {}): Promise<unknown> {
  const { json, schema, answerStatuses, headers, ...rest } = init;
  let res: Response;
  try {
    res = await fetch(url, {
      cache: "no-store",
      ...rest,
      headers: json === undefined ? headers : { "content-type": "application/json", ...headers },
      body: json === undefined ? undefined : JSON.stringify(json),
    });
  } catch (err) {
    if (isAbort(err)) throw err;
    throw new ApiError(0, `could not reach the dashboard: ${causeOf(err)}`, null, { cause: err });
  }
  let text: string;
  try {
    text = await res.text();
  } catch (err) {
    if (isAbort(err)) throw err;
    throw new ApiError(0, `the dashboard's answer broke off: ${causeOf(err)}`, null, { cause: err });
  }
  const parsed = parseJson(text);
  if (!res.ok && !answerStatuses?.includes(res.status)) {
    const body = errorBodySchema.safeParse(parsed.value);
    if (body.success && body.data.error) throw new ApiError(res.status, body.data.error, body.data);
    throw new ApiError(res.status, `the server answered ${res.status}${res.statusText ? ` ${res.statusText}` : ""}`);
  }
  if (!parsed.ok) throw new ApiError(res.status, "the server's answer was not JSON; reload the page");
  if (!schema) return parsed.value;
  const checked = schema.safeParse(parsed.value);
  if (!checked.success) {
    throw new ApiError(res.status, "the server's answer was not understood; reload the page", null, {
      cause: checked.error,
    });
  }
  return checked.data;
}

/** A message fit to show for anything a call threw (ApiError's is already one). */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function isAbort(err: unknown): boolean {
  return err instanceof Error && err.name === "AbortError";
}

/** Node's fetch says "fetch failed" and puts the reason (ECONNREFUSED…) in `cause`; browsers say it at once. */
function causeOf(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
  if (typeof cause?.code === "string") return cause.code;
  return messageOf(err);
}

/** Empty text is an empty answer (204, or a DELETE without a body). */
function parseJson(text: string): { ok: boolean; value: unknown } {
  if (text.trim() === "") return { ok: true, value: undefined };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    // Not JSON (a proxy's error page, a crash before the handler): the status says what happened instead.
    return { ok: false, value: undefined };
  }
}

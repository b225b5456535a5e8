// The CLI's one way to the dashboard: fetch against its REST API with the stored credential
// (`Authorization: Bearer <token>` or the session cookie). Owns the mapping of answers to exit codes:
// a 4xx is a refusal (exit 3) carrying the server's own message and details, a 5xx or an unreachable
// dashboard a failure (exit 1). Never logs or prints the credential. Kept free of Next.js and Prisma.
import { CliError, EXIT } from "./exit-codes";
import type { Credential, Target } from "./credentials";

const REQUEST_TIMEOUT_MS = 30_000;

/** A 4xx from the dashboard, with its `{ error, details }` body. */
export class ApiRefusedError extends CliError {
  constructor(
    readonly status: number,
    message: string,
    readonly details: unknown,
    hints: string[] = [],
  ) {
    super(EXIT.refused, message, hints);
    this.name = "ApiRefusedError";
  }
}

function authHeaders(credential: Credential | null): Record<string, string> {
  if (!credential) return {};
  return credential.kind === "token" ? { authorization: `Bearer ${credential.token}` } : { cookie: credential.cookie };
}

/** Commands a refusal suggests (a restore refused with what to run by hand). */
function hintsOf(details: unknown): string[] {
  if (!details || typeof details !== "object") return [];
  const d = details as { commands?: unknown; refusal?: { commands?: unknown } };
  const commands = Array.isArray(d.commands)
    ? d.commands
    : Array.isArray(d.refusal?.commands)
      ? d.refusal.commands
      : [];
  return commands.filter((c): c is string => typeof c === "string").map((c) => `  ${c}`);
}

export interface ApiResponse<T> {
  status: number;
  body: T;
  headers: Headers;
}

export class ApiClient {
  constructor(
    readonly baseUrl: string,
    private readonly credential: Credential | null,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  static for(target: Target): ApiClient {
    return new ApiClient(target.url, target.credential);
  }

  get<T>(path: string, query?: Record<string, string | number | undefined>): Promise<T> {
    const qs = query
      ? new URLSearchParams(
          Object.entries(query)
            .filter((e): e is [string, string | number] => e[1] !== undefined)
            .map(([k, v]) => [k, String(v)]),
        ).toString()
      : "";
    return this.request<T>("GET", qs ? `${path}?${qs}` : path).then((r) => r.body);
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>("POST", path, body).then((r) => r.body);
  }

  delete<T>(path: string): Promise<T> {
    return this.request<T>("DELETE", path).then((r) => r.body);
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<ApiResponse<T>> {
    const url = `${this.baseUrl}${path}`;
    let res: Response;
    try {
      res = await this.fetchImpl(url, {
        method,
        headers: {
          accept: "application/json",
          ...(body === undefined ? {} : { "content-type": "application/json" }),
          ...authHeaders(this.credential),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        redirect: "manual",
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (err as Error).message;
      throw new CliError(EXIT.failed, `cannot reach the dashboard at ${this.baseUrl}: ${why}`);
    }
    const text = await res.text();
    let parsed: unknown = undefined;
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        // Not JSON (a proxy's error page): the status line below says what happened instead.
        parsed = undefined;
      }
    }
    if (res.ok) return { status: res.status, body: parsed as T, headers: res.headers };
    const message = (parsed as { error?: unknown } | undefined)?.error;
    const details =
      (parsed as { details?: unknown; refusal?: unknown } | undefined)?.details ??
      (parsed as { refusal?: unknown } | undefined)?.refusal;
    const said = typeof message === "string" && message ? message : `HTTP ${res.status} ${res.statusText}`.trim();
    if (res.status >= 500) throw new CliError(EXIT.failed, `the dashboard failed (${res.status}): ${said}`);
    if (res.status === 401)
      throw new ApiRefusedError(401, `${said} — run snapfleet login ${this.baseUrl}, or set SNAPFLEET_TOKEN`, details);
    if (res.status >= 300 && res.status < 400)
      throw new CliError(
        EXIT.failed,
        `the dashboard answered ${res.status} (a redirect to ${res.headers.get("location")}): is ${this.baseUrl} the dashboard's URL?`,
      );
    throw new ApiRefusedError(res.status, said, details, hintsOf(details));
  }
}

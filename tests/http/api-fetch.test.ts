// apiFetch against a real HTTP server (node:http on loopback): what the caller gets for a good answer,
// the API's JSON error body, an error page that is not JSON, an empty answer, an answer its schema
// rejects, a dashboard that is down, a connection cut mid-answer, and an aborted call.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { ApiError, apiFetch } from "@/lib/http/api-fetch";

interface Seen {
  method: string;
  contentType: string | undefined;
  body: string;
}

let server: http.Server;
let base: string;
const seen: Seen[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      seen.push({ method: req.method ?? "", contentType: req.headers["content-type"], body });
      const send = (status: number, text: string, type = "application/json") => {
        res.writeHead(status, { "content-type": type });
        res.end(text);
      };
      switch (req.url) {
        case "/vm":
          return send(200, JSON.stringify({ id: "vm-1", name: "web-1", extra: true }));
        case "/echo":
          return send(201, body);
        case "/refused":
          return send(422, JSON.stringify({ error: "tags: at most 20", details: { tags: ["too many"] } }));
        case "/proxy-error":
          return send(502, "<html><body>Bad Gateway</body></html>", "text/html");
        case "/error-without-message":
          return send(500, JSON.stringify({ status: "down" }));
        case "/health-down":
          return send(503, JSON.stringify({ ok: false, db: "down", reason: "connection refused" }));
        case "/empty":
          res.writeHead(204);
          return res.end();
        case "/not-json":
          return send(200, "<html>login</html>", "text/html");
        case "/cut":
          res.writeHead(200, { "content-type": "application/json", "content-length": "1000" });
          res.write('{"id":');
          return setImmediate(() => res.destroy());
        case "/slow":
          return setTimeout(() => send(200, "{}"), 5_000).unref();
        default:
          return send(404, JSON.stringify({ error: "no such route" }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

async function failure(p: Promise<unknown>): Promise<ApiError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApiError);
  return err as ApiError;
}

describe("apiFetch", () => {
  it("returns the answer parsed by the schema", async () => {
    const vm = await apiFetch(`${base}/vm`, { schema: z.object({ id: z.string(), name: z.string() }) });
    expect(vm).toEqual({ id: "vm-1", name: "web-1" });
  });

  it("sends `json` as a JSON body with its content type and the caller's method", async () => {
    const answer = await apiFetch<{ tags: string[] }>(`${base}/echo`, { method: "PATCH", json: { tags: ["db"] } });
    expect(answer).toEqual({ tags: ["db"] });
    expect(seen.at(-1)).toEqual({ method: "PATCH", contentType: "application/json", body: '{"tags":["db"]}' });
  });

  it("turns the API's error body into an ApiError with its status, message and details", async () => {
    const err = await failure(apiFetch(`${base}/refused`, { method: "POST", json: {} }));
    expect(err.status).toBe(422);
    expect(err.message).toBe("tags: at most 20");
    expect(err.details).toEqual({ tags: ["too many"] });
    expect(err.body).toEqual({ error: "tags: at most 20", details: { tags: ["too many"] } });
  });

  it("says the status in words when the error answer is not JSON (a proxy's error page)", async () => {
    const err = await failure(apiFetch(`${base}/proxy-error`));
    expect(err.status).toBe(502);
    expect(err.message).toBe("the server answered 502 Bad Gateway");
    expect(err.body).toBeNull();
  });

  it("says the status when a JSON error answer has no `error`", async () => {
    const err = await failure(apiFetch(`${base}/error-without-message`));
    expect(err.status).toBe(500);
    expect(err.message).toBe("the server answered 500 Internal Server Error");
  });

  it("returns the body of a status the caller declares an answer", async () => {
    const health = await apiFetch(`${base}/health-down`, {
      answerStatuses: [503],
      schema: z.object({ db: z.string(), reason: z.string() }),
    });
    expect(health).toEqual({ db: "down", reason: "connection refused" });
    const err = await failure(apiFetch(`${base}/health-down`));
    expect(err.status).toBe(503);
  });

  it("returns undefined for an empty answer", async () => {
    await expect(apiFetch(`${base}/empty`, { method: "DELETE" })).resolves.toBeUndefined();
  });

  it("refuses a 2xx answer that is not JSON or that the schema rejects", async () => {
    const notJson = await failure(apiFetch(`${base}/not-json`));
    expect(notJson.status).toBe(200);
    expect(notJson.message).toBe("the server's answer was not JSON; reload the page");
    const mismatch = await failure(apiFetch(`${base}/vm`, { schema: z.object({ id: z.number() }) }));
    expect(mismatch.message).toBe("the server's answer was not understood; reload the page");
    expect(mismatch.cause).toBeInstanceOf(z.ZodError);
  });

  it("gives status 0 and the reason when the dashboard does not answer", async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const err = await failure(apiFetch(`http://127.0.0.1:${port}/api/vms`));
    expect(err.status).toBe(0);
    expect(err.message).toBe("could not reach the dashboard: ECONNREFUSED");
    expect(err.body).toBeNull();
  });

  it("gives status 0 when the connection is cut in the middle of the answer", async () => {
    const err = await failure(apiFetch(`${base}/cut`));
    expect(err.status).toBe(0);
    expect(err.message).toMatch(/^the dashboard's answer broke off: /);
  });

  it("rethrows an abort as the caller's AbortError, not an ApiError", async () => {
    const ctrl = new AbortController();
    const call = apiFetch(`${base}/slow`, { signal: ctrl.signal });
    ctrl.abort();
    const err = await call.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).not.toBeInstanceOf(ApiError);
    expect((err as Error).name).toBe("AbortError");
  });
});

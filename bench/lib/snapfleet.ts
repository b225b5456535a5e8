// A real Snapfleet for the product-path benchmarks: server.ts in production mode (built first when the
// build is missing or older than the sources, like `npm start`), its own embedded PostgreSQL and data
// directory, one `local` host whose socket directory the bench's VMs put their second QMP monitor in.
// The bench talks to it only as a client would: HTTP API and the /ws WebSocket.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import WebSocket from "ws";
import { readEmbeddedCredentials } from "../../lib/db/embedded-postgres";
import { dashboardBuildIsStale } from "../../scripts/build-freshness.mjs";
import { freeTcpPort } from "../../tests/support/ports";
import { REPO_ROOT } from "./report";

export interface WsFrame {
  /** Date.now() when the frame arrived (same clock as QEMU's event timestamps: both are wall clock). */
  atMs: number;
  type: string;
  topic?: string;
  name?: string;
  payload?: Record<string, unknown>;
}

export interface WsClient {
  frames: WsFrame[];
  subscribe(topics: string[]): Promise<void>;
  waitFor(pred: (f: WsFrame) => boolean, timeoutMs: number, fromIndex?: number): Promise<WsFrame>;
  close(): void;
}

export interface SnapfleetServer {
  baseUrl: string;
  hostId: string;
  socketDir: string;
  snapshotDir: string;
  /** Seconds spent building the dashboard first (0 when the build was fresh). */
  buildS: number;
  /** Resolves (never rejects) with the reason and last output if the server process exits. */
  exited: Promise<string>;
  alive(): boolean;
  api<T>(method: "GET" | "POST" | "DELETE", url: string, body?: unknown): Promise<T>;
  /** The bench token's Authorization header, for requests api() does not fit (pages, raw timings). */
  authHeaders: Record<string, string>;
  /** The server's own database (its app role), for parts that seed it in bulk. */
  databaseUrl: string;
  ws(): Promise<WsClient>;
  /** Runs discovery and returns the VM named `name` once Snapfleet knows it. */
  findVm(name: string, timeoutMs?: number): Promise<{ id: string; name: string; state: string }>;
  stop(): Promise<void>;
}

/** Builds the dashboard when `npm start` would (no build, or sources newer than it). */
function ensureBuild(log: (m: string) => void): number {
  if (!dashboardBuildIsStale(REPO_ROOT)) return 0;
  const t = performance.now();
  // Others edit the sources while this runs: a half-written file fails the build; retry once later.
  for (let attempt = 1; ; attempt++) {
    log(`building the dashboard (next build)${attempt > 1 ? ", again" : ""}…`);
    const r = spawnSync(path.join(REPO_ROOT, "node_modules", ".bin", "next"), ["build"], {
      cwd: REPO_ROOT,
      env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1" },
      encoding: "utf8",
    });
    if (r.status === 0) return (performance.now() - t) / 1000;
    const tail = (r.stdout + r.stderr).trim().split("\n").slice(-15).join("\n");
    if (attempt >= 2) throw new Error(`next build failed: ${tail}`);
    log(`next build failed, retrying in 60 s:\n${tail}`);
    spawnSync("sleep", ["60"]);
  }
}

/** "pause 51.0 ms: STOP 0.0, …" from the server's JSON log line. */
function pauseTimelineOf(line: string): string {
  try {
    const { pauseMs, timeline } = JSON.parse(line) as { pauseMs?: number; timeline?: string };
    return `pause ${pauseMs?.toFixed(1) ?? "?"} ms: ${timeline ?? ""}`;
  } catch {
    return line;
  }
}

async function waitHealthy(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server.ts exited with code ${child.exitCode}`);
    try {
      const r = await fetch(url);
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`Snapfleet did not answer ${url} within ${timeoutMs} ms`);
}

export async function startSnapfleet(log: (m: string) => void): Promise<SnapfleetServer> {
  const buildS = ensureBuild(log);
  const work = await mkdtemp(path.join(os.tmpdir(), "sfb-server-"));
  // embedded-postgres runs as `postgres`, which must be able to enter the data dir's parents.
  await import("node:fs/promises").then((fs) => fs.chmod(work, 0o755));
  const socketDir = path.join(work, "sockets");
  const snapshotDir = path.join(work, "snapshots");
  await mkdir(socketDir);
  await mkdir(snapshotDir);
  const [port, pgPort] = [await freeTcpPort(), await freeTcpPort()];
  let stderr = "";
  const child = spawn(path.join(REPO_ROOT, "node_modules", ".bin", "tsx"), ["server.ts"], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      NODE_ENV: "production",
      PORT: String(port),
      HOST: "127.0.0.1",
      SNAPFLEET_DATA_DIR: path.join(work, "data"),
      SNAPFLEET_PG_PORT: String(pgPort),
      NEXT_TELEMETRY_DISABLED: "1",
      LOG_LEVEL: "info",
      DATABASE_URL: "",
      // Host paths must lie under the roots (lib/fleet/host-paths.ts): the bench's are in `work`.
      SNAPFLEET_HOST_ROOTS: work,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  // pino logs to stdout: keep the tail of both streams for when the server dies, and pass each snapshot's
  // pause timeline (lib/snapshots/run-snapshot.ts) on to the bench's log.
  for (const stream of [child.stdout!, child.stderr!])
    stream.on("data", (c: Buffer) => (stderr = (stderr + c.toString()).slice(-16000)));
  readline.createInterface({ input: child.stdout! }).on("line", (line) => {
    if (line.includes('"pause timeline')) log(pauseTimelineOf(line));
  });
  const exited = new Promise<string>((resolve) =>
    child.once("exit", (code, signal) =>
      resolve(`Snapfleet's server exited (${signal ?? `code ${code}`}); its last output:\n${stderr.slice(-4000)}`),
    ),
  );
  const baseUrl = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill("SIGTERM");
      await Promise.race([new Promise((r) => child.once("exit", r)), new Promise((r) => setTimeout(r, 15_000))]);
      if (child.exitCode === null) child.kill("SIGKILL");
    }
    await rm(work, { recursive: true, force: true });
  };
  try {
    await waitHealthy(`${baseUrl}/api/health`, child, 120_000);
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n${stderr}`, { cause: err });
  }

  // Everything needs a login: an admin API token made with the CLI against this server's database.
  const tokenRun = spawnSync(
    process.execPath,
    [
      path.join(REPO_ROOT, "bin", "snapfleet.mjs"),
      "token",
      "create",
      "--role",
      "admin",
      "--name",
      "bench",
      "--expires",
      "1d",
    ],
    {
      cwd: REPO_ROOT,
      encoding: "utf8",
      env: {
        ...process.env,
        DATABASE_URL: "",
        SNAPFLEET_DATA_DIR: path.join(work, "data"),
        SNAPFLEET_PG_PORT: String(pgPort),
      },
    },
  );
  if (tokenRun.status !== 0) {
    await stop();
    throw new Error(`snapfleet token create failed: ${tokenRun.stderr}`);
  }
  const auth = { authorization: `Bearer ${tokenRun.stdout.trim()}` };

  const api = async <T>(method: "GET" | "POST" | "DELETE", url: string, body?: unknown): Promise<T> => {
    const r = await fetch(baseUrl + url, {
      method,
      headers: body === undefined ? auth : { ...auth, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`${method} ${url} → ${r.status}: ${text.slice(0, 500)}`);
    return (text ? JSON.parse(text) : undefined) as T;
  };

  let hostId: string;
  try {
    const created = await api<{ host: { id: string } }>("POST", "/api/hosts", {
      name: "bench",
      kind: "local",
      socketDir,
      snapshotDir,
    });
    hostId = created.host.id;
  } catch (err) {
    await stop();
    throw err;
  }

  const ws = async (): Promise<WsClient> => {
    const sock = new WebSocket(`${baseUrl.replace("http", "ws")}/ws`, { headers: auth });
    await new Promise<void>((resolve, reject) => {
      sock.once("open", () => resolve());
      sock.once("error", reject);
    });
    const frames: WsFrame[] = [];
    const waiters = new Set<() => void>();
    sock.on("message", (raw) => {
      const atMs = Date.now();
      try {
        frames.push({ atMs, ...(JSON.parse(String(raw)) as Omit<WsFrame, "atMs">) });
      } catch {
        return;
      }
      for (const w of [...waiters]) w();
    });
    const waitFor = (pred: (f: WsFrame) => boolean, timeoutMs: number, fromIndex = 0) =>
      new Promise<WsFrame>((resolve, reject) => {
        const check = () => {
          const f = frames.slice(fromIndex).find(pred);
          if (!f) return false;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(f);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no matching WebSocket frame within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    return {
      frames,
      waitFor,
      subscribe: async (topics) => {
        const from = frames.length;
        sock.send(JSON.stringify({ type: "subscribe", topics }));
        await waitFor((f) => f.type === "subscribed", 10_000, from);
      },
      close: () => sock.close(),
    };
  };

  const findVm = async (name: string, timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await api("POST", `/api/hosts/${hostId}/discover`);
      const list = await api<{ vms: Array<{ id: string; name: string; state: string }> }>(
        "GET",
        `/api/vms?hostId=${hostId}&limit=200`,
      );
      const vm = list.vms.find((v) => v.name === name && v.state === "running");
      if (vm) return vm;
      if (Date.now() > deadline) throw new Error(`Snapfleet did not discover VM ${name} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 500));
    }
  };

  const creds = readEmbeddedCredentials(path.join(work, "data"));
  if (!creds) {
    await stop();
    throw new Error(`no ${path.join(work, "data")}/postgres-credentials.json after the server started`);
  }
  const databaseUrl = `postgresql://${creds.appUser}:${encodeURIComponent(creds.appPassword)}@127.0.0.1:${pgPort}/snapfleet`;
  return {
    baseUrl,
    hostId,
    socketDir,
    snapshotDir,
    buildS,
    exited,
    alive: () => child.exitCode === null && child.signalCode === null,
    api,
    authHeaders: auth,
    databaseUrl,
    ws,
    findVm,
    stop,
  };
}

// A dashboard that died leaves its embedded PostgreSQL running (the postmaster does not die with its
// parent); the next start must come up anyway, with the real PostgreSQL of a temp data dir: the crash is
// a SIGKILL of a child process that started the database with the production code
// (fixtures/dashboard-database.ts). Also: a live dashboard's PostgreSQL is never stopped, and a port
// held by another program is refused with an error that names that program.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { startEmbeddedPostgres } from "../../lib/db/embedded-postgres";
import { freeTcpPort } from "../support/ports";
import { until } from "../support/wait";

const REPO = path.resolve(import.meta.dirname, "../..");
const FIXTURE = path.join(REPO, "tests/db/fixtures/dashboard-database.ts");

const children = new Set<ChildProcess>();
const dataDirs: string[] = [];

function tempDataDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "snapfleet-restart-"));
  dataDirs.push(dir);
  return dir;
}

function postmasterPid(dataDir: string): number | undefined {
  try {
    return Number(readFileSync(path.join(dataDir, "postgres", "postmaster.pid"), "utf8").split("\n")[0]);
  } catch {
    return undefined;
  }
}

/** Runs (a zombie, not yet reaped by init, has ended). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

function isPostgres(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "postgres";
  } catch {
    return false;
  }
}

interface Started {
  child: ChildProcess;
  url: string;
  postmasterPid: number;
  output: () => string;
}

/** Spawns the fixture; `ready` resolves once it printed its database URL (rejects with its output otherwise). */
function spawnDashboardDatabase(dataDir: string, port: number): { output: () => string; ready: Promise<Started> } {
  const child = spawn(process.execPath, ["--import", "tsx", FIXTURE], {
    cwd: REPO,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      DATABASE_URL: "",
      SNAPFLEET_DATA_DIR: dataDir,
      SNAPFLEET_PG_PORT: String(port),
      LOG_LEVEL: "info",
    },
  });
  children.add(child);
  child.on("exit", () => children.delete(child));
  let out = "";
  const output = () => out;
  const ready = new Promise<Started>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the fixture did not start within 45 s:\n${out}`)), 45_000);
    child.stderr!.on("data", (d) => (out += d));
    child.stdout!.on("data", (d: Buffer) => {
      out += d;
      for (const line of out.split("\n")) {
        if (!line.startsWith("{")) continue;
        const o = JSON.parse(line) as { url?: string; postmasterPid?: number; error?: string };
        if (o.url) {
          clearTimeout(timer);
          resolve({ child, url: o.url, postmasterPid: o.postmasterPid!, output });
          return;
        }
        if (o.error) {
          clearTimeout(timer);
          reject(new Error(`the fixture failed: ${o.error}\n${out}`));
          return;
        }
      }
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the fixture exited (${code ?? signal}) before its database was up:\n${out}`));
    });
  });
  return { output, ready };
}

function startDashboardDatabase(dataDir: string, port: number): Promise<Started> {
  return spawnDashboardDatabase(dataDir, port).ready;
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once("exit", (code) => resolve(code)));
}

async function selectOne(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<{ one: number }>("SELECT 1 AS one")).rows[0].one;
  } finally {
    await client.end();
  }
}

afterEach(async () => {
  for (const child of children) child.kill("SIGKILL");
  // A postgres of a test's data dir that outlived its test: an immediate shutdown, then its dir goes.
  for (const dir of dataDirs.splice(0)) {
    const pid = postmasterPid(dir);
    if (pid && running(pid) && isPostgres(pid)) {
      process.kill(pid, "SIGQUIT");
      await until(() => (running(pid) ? undefined : true), `leftover postgres ${pid} to exit`, 15_000).catch(() =>
        process.kill(pid, "SIGKILL"),
      );
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

afterAll(() => {
  for (const child of children) child.kill("SIGKILL");
});

describe("embedded PostgreSQL after a dashboard died", () => {
  it("starts again over the PostgreSQL a SIGKILLed dashboard left running, and stops that one first", async () => {
    const dataDir = tempDataDir();
    const port = await freeTcpPort();

    const first = await startDashboardDatabase(dataDir, port);
    expect(await selectOne(first.url)).toBe(1);
    first.child.kill("SIGKILL");
    await exited(first.child);
    // The crash left the postmaster running, orphaned, on the data dir and the port.
    expect(running(first.postmasterPid) && isPostgres(first.postmasterPid)).toBe(true);
    expect(postmasterPid(dataDir)).toBe(first.postmasterPid);

    const second = await startDashboardDatabase(dataDir, port);
    expect(await selectOne(second.url)).toBe(1);
    expect(second.postmasterPid).not.toBe(first.postmasterPid);
    expect(running(first.postmasterPid)).toBe(false);
    expect(second.output()).toMatch(/was left running by a Snapfleet that is gone; stopping it/);

    // While its dashboard lives, the new PostgreSQL is not another start's to stop: refused, by name.
    await expect(
      startEmbeddedPostgres({ dataDir, port, leftoverTimeouts: { shutdownMs: 1_000, killMs: 1_000 } }),
    ).rejects.toThrow(
      new RegExp(`\\(pid ${second.postmasterPid}\\) is in use by .*pid ${second.child.pid}.*still running`),
    );
    expect(await selectOne(second.url)).toBe(1);

    // Its own shutdown still stops it cleanly and leaves no pid file.
    second.child.kill("SIGTERM");
    expect(await exited(second.child)).toBe(0);
    expect(running(second.postmasterPid)).toBe(false);
    expect(existsSync(path.join(dataDir, "postgres", "postmaster.pid"))).toBe(false);
  });

  it("waits for a left-over PostgreSQL that is still shutting down", async () => {
    const dataDir = tempDataDir();
    const port = await freeTcpPort();
    const first = await startDashboardDatabase(dataDir, port);
    // A client keeps the orphan's smart shutdown (SIGTERM) going: it stays "stopping" until the client leaves.
    const client = new pg.Client({ connectionString: first.url });
    client.on("error", () => {});
    await client.connect();
    first.child.kill("SIGKILL");
    await exited(first.child);
    process.kill(first.postmasterPid, "SIGTERM");
    const pidFile = path.join(dataDir, "postgres", "postmaster.pid");
    await until(
      () => (readFileSync(pidFile, "utf8").split("\n")[7]?.trim() === "stopping" ? true : undefined),
      "the orphan to be stopping",
      10_000,
    );

    const second = spawnDashboardDatabase(dataDir, port);
    await until(
      () => (/still shutting down; waiting up to 60 s/.test(second.output()) ? true : undefined),
      "the start to wait",
      30_000,
    );
    expect(running(first.postmasterPid)).toBe(true); // waited for, not killed
    await client.end();
    const started = await second.ready;
    expect(running(first.postmasterPid)).toBe(false);
    expect(await selectOne(started.url)).toBe(1);
    started.child.kill("SIGTERM");
    expect(await exited(started.child)).toBe(0);
  });

  it("names the program that holds the port", async () => {
    const dataDir = tempDataDir();
    const port = await freeTcpPort();
    const holder = spawn(
      process.execPath,
      ["-e", `require("node:net").createServer().listen(${port}, "127.0.0.1", () => console.log("listening"))`],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    children.add(holder);
    holder.on("exit", () => children.delete(holder));
    await new Promise<void>((resolve, reject) => {
      holder.stdout!.once("data", () => resolve());
      holder.once("exit", (code) => reject(new Error(`the port holder exited (${code})`)));
    });

    const started = startEmbeddedPostgres({ dataDir, port });
    await expect(started).rejects.toThrow(
      new RegExp(`port ${port} .*already in use by node \\(pid ${holder.pid}: .*createServer`),
    );
    await expect(started).rejects.toThrow(/set SNAPFLEET_PG_PORT to a free port/);
    // Refused before anything was initialised or started on the data dir.
    expect(existsSync(path.join(dataDir, "postgres", "PG_VERSION"))).toBe(false);
  });
});

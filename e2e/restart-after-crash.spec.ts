// Fault: the dashboard's server process is SIGKILLed (an OOM kill, a crash) while a live snapshot
// streams; the operator runs `npm start` again — no manual step in between. A second, dedicated
// dashboard (its own port, data dir and embedded PostgreSQL) is started exactly as `npm start` starts it
// (node scripts/start.mjs: the production build, tsx server.ts), with a real guest-kit VM. After the
// restart: the dashboard answers, the snapshot job ends with its outcome (completed on proof, or failed
// with the reason), the guest kept running and keeps running, and no partial vmstate is left.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect, test, type APIRequestContext } from "@playwright/test";
import { makeSocketDir, type SocketDir } from "../tests/fleet/support";
import { freeTcpPort } from "../tests/support/ports";
import { expectGuestAdvances } from "../tests/support/guest-progress";
import type { TestVm } from "../tests/support/qemu";
import { addLocalHost, disposeVms, startDiscoverableGuestKitVm } from "./support/fleet";

const REPO = path.resolve(import.meta.dirname, "..");
const dataDir = mkdtempSync(path.join(tmpdir(), "snapfleet-crash-"));
let PORT: number;
let env: NodeJS.ProcessEnv;

let sockets: SocketDir;
let vm: TestVm;
let dashboard: ChildProcess | undefined;

/** Stops this spec's dashboard (SIGTERM to its process group, SIGKILL after 20 s) and any PostgreSQL of its data dir. */
async function stopDashboard(): Promise<void> {
  const group = dashboard?.pid;
  if (group) {
    const signal = (sig: NodeJS.Signals) => {
      try {
        process.kill(-group, sig);
        return true;
      } catch {
        return false; // the group is gone
      }
    };
    if (signal("SIGTERM")) {
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline && signal(0 as unknown as NodeJS.Signals))
        await new Promise((r) => setTimeout(r, 200));
      signal("SIGKILL");
    }
  }
  // A PostgreSQL the SIGKILLed server left and no start adopted would outlive the spec: stop it too.
  const pidFile = path.join(dataDir, "postgres", "postmaster.pid");
  const pgPid = existsSync(pidFile) ? Number(readFileSync(pidFile, "utf8").split("\n")[0]) : 0;
  if (pgPid > 0) {
    try {
      process.kill(pgPid, "SIGINT");
    } catch {
      // already gone
    }
  }
}

/** `npm start`: scripts/start.mjs in its own process group (as a shell or a service manager starts it). */
function npmStart(): ChildProcess {
  return spawn(process.execPath, [path.join(REPO, "scripts/start.mjs")], {
    cwd: REPO,
    env,
    stdio: "ignore",
    detached: true,
  });
}

async function waitUp(request: APIRequestContext): Promise<void> {
  // A refused connection while the server starts is asked again at the next interval.
  await expect
    .poll(async () => (await request.get(`http://localhost:${PORT}/api/health`).catch(() => undefined))?.status(), {
      timeout: 120_000,
      intervals: [500],
    })
    .toBe(200);
}

/**
 * The node process running server.ts under the given start.mjs. Two processes there name server.ts: the
 * tsx CLI and the node process it spawns, which is the server — the one that is not the parent of the other.
 */
function serverPidUnder(startPid: number): number {
  const parentOf = (pid: string) => Number(/^\d+ \(.*\) \S (\d+)/.exec(readFileSync(`/proc/${pid}/stat`, "utf8"))?.[1]);
  const descends = (pid: string): boolean => {
    for (let p = Number(pid), i = 0; p > 1 && i < 10; p = parentOf(String(p)), i++) if (p === startPid) return true;
    return false;
  };
  const candidates = readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0").includes("server.ts") && descends(p);
      } catch {
        return false; // exited meanwhile
      }
    });
  const parents = new Set(candidates.map(parentOf));
  const server = candidates.filter((p) => !parents.has(Number(p)));
  if (server.length !== 1)
    throw new Error(`expected one server.ts process under ${startPid}, found ${server.join(", ")}`);
  return Number(server[0]);
}

test.beforeAll(async () => {
  // Ports of its own (not derived from the journeys' server): nothing else may answer as this dashboard.
  PORT = await freeTcpPort();
  env = {
    ...process.env,
    PORT: String(PORT),
    SNAPFLEET_DATA_DIR: dataDir,
    SNAPFLEET_PG_PORT: String(await freeTcpPort()),
    DATABASE_URL: "",
    LOG_LEVEL: "warn",
    SNAPFLEET_HOST_ROOTS: tmpdir(),
  };
  sockets = await makeSocketDir("sf-e2e-crash-");
  vm = await startDiscoverableGuestKitVm(sockets, "e2e-crash", { memoryMiB: 256, dirtyMiB: 96 });
});

test.afterAll(async () => {
  await stopDashboard();
  await disposeVms(sockets);
});

test("server SIGKILLed mid-snapshot, then npm start again: it comes back by itself and the job ends with its outcome", async ({
  playwright,
}) => {
  test.setTimeout(300_000);
  dashboard = npmStart();
  const anon = await playwright.request.newContext();
  await waitUp(anon);
  const admin = spawnSync(
    process.execPath,
    [path.join(REPO, "bin/snapfleet.mjs"), "user", "create", "--admin", "crash-admin"],
    { cwd: REPO, env, input: "crash-admin-password\n", encoding: "utf8" },
  );
  expect(admin.status, admin.stderr).toBe(0);
  const api = await playwright.request.newContext({ baseURL: `http://localhost:${PORT}` });
  expect(
    (await api.post("/api/auth/login", { data: { name: "crash-admin", password: "crash-admin-password" } })).status(),
  ).toBe(200);

  const vmId = (await addLocalHost(api, "crash-host", sockets)).vmId("e2e-crash");

  const created = await api.post(`/api/vms/${vmId}/snapshots`, { data: { mode: "live" } });
  expect(created.status(), await created.text()).toBe(202);
  const id = (await created.json()).snapshot.id as string;
  await expect
    .poll(async () => (await (await api.get(`/api/snapshots/${id}`)).json()).status, {
      timeout: 60_000,
      intervals: [100],
    })
    .toBe("active");

  // The OOM killer takes the server process alone; its embedded PostgreSQL and the vmstate sink are left.
  const serverPid = serverPidUnder(dashboard.pid!);
  process.kill(serverPid, "SIGKILL");
  await new Promise<void>((r) => (dashboard!.exitCode !== null ? r() : dashboard!.once("exit", () => r())));
  // The server itself is gone (not only its launcher): what answers next is the new start.
  expect(existsSync(`/proc/${serverPid}`)).toBe(false);

  dashboard = npmStart();
  await waitUp(anon);
  expect(
    (await api.post("/api/auth/login", { data: { name: "crash-admin", password: "crash-admin-password" } })).status(),
  ).toBe(200);
  const end = await expect
    .poll(async () => (await (await api.get(`/api/snapshots/${id}`)).json()).status, {
      timeout: 150_000,
      intervals: [500],
    })
    .toMatch(/^(completed|failed)$/)
    .then(
      async () =>
        (await (await api.get(`/api/snapshots/${id}`)).json()) as {
          status: string;
          error: { message: string } | null;
          files: Array<{ path: string; role: string }>;
        },
    );
  if (end.status === "failed") {
    expect(end.error!.message).toMatch(/dashboard restarted/);
    const dir = path.join(sockets.snapshotDir);
    const leftovers = readdirSync(dir, { recursive: true })
      .map(String)
      .filter((f) => f.endsWith("vmstate.bin"));
    expect(leftovers).toEqual([]);
  } else {
    expect(existsSync(end.files.find((f) => f.role === "vmstate")!.path)).toBe(true);
  }
  await expectGuestAdvances(vm);
  await api.dispose();
  await anon.dispose();
});

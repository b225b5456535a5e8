// The `snapfleet` CLI's dashboard verbs, run as the real bin (node bin/snapfleet.mjs, a child process per
// command) against a running dashboard (fixtures/api-dashboard.ts: the real gate, route handlers, hub and
// workers on this file's database) with two real QEMU VMs on a local host: "cli-web" (guest kit, qcow2
// disk, snapshots and a rollback) and "cli-raw" (raw disk only: live and disks-only snapshots are refused).
// Walks what an operator does from a shell: login (admin → personal token, operator → session, file mode
// 0600), hosts add/list, vms list, snapshot --wait (plain progress lines in a pipe, a redrawn bar on a
// terminal), snapshots list/show/delete, restore --wait, schedules list/run; and every exit code: 0 done,
// 2 usage (bad option, ambiguous name with its candidates), 3 refused (the server's own message).
import { spawn } from "node:child_process";
import { mkdirSync, statSync, writeFileSync } from "node:fs";
import { mkdtemp, readFile, rm, truncate } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createApiToken, createUser } from "../../lib/auth/store";
import { db } from "../../lib/db/client";
import type { RestoreJson } from "../../lib/restore/restore-json";
import type { SnapshotJson } from "../../lib/snapshots/snapshot-json";
import { makeSocketDir, startFleetVm, type SocketDir } from "../fleet/support";
import { killDetached } from "../restore/support";
import { useTestDatabase } from "../support/db";
import { startGuestKitVm } from "../support/guest-kit";
import { freeTcpPort } from "../support/ports";
import { disposeAllVms } from "../support/qemu";
import { until } from "../support/wait";

const database = useTestDatabase();
const REPO = path.resolve(import.meta.dirname, "../..");
const BIN = path.join(REPO, "bin/snapfleet.mjs");
const PASSWORDS = { admin: "cli-admin-password", operator: "cli-operator-password" };

let sockets: SocketDir;
let home: string;
let url: string;
let operatorToken: string;
let dashboard: ReturnType<typeof spawn>;
let dashboardLog = "";
const detachedPids: number[] = [];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function baseEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, XDG_CONFIG_HOME: path.join(home, ".config"), ...extra };
  if (!extra.SNAPFLEET_URL) delete env.SNAPFLEET_URL;
  if (!extra.SNAPFLEET_TOKEN) delete env.SNAPFLEET_TOKEN;
  return env;
}

/** Runs a command line to its end; stdin gets `input` (or nothing, closed). */
function run(
  file: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd: REPO, env: opts.env ?? baseEnv(), stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new Error(
          `${args.join(" ")} did not end within ${opts.timeoutMs ?? 60_000} ms\nstdout: ${stdout}\nstderr: ${stderr}`,
        ),
      );
    }, opts.timeoutMs ?? 60_000);
    child.on("error", reject);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(opts.input ?? "");
  });
}

/** `snapfleet …` as a shell runs it (no terminal: stdout and stdin are pipes). */
const snapfleet = (args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}) =>
  run(process.execPath, [BIN, ...args], opts);
/** As the operator's script: SNAPFLEET_URL + SNAPFLEET_TOKEN, no credentials file needed. */
const asOperator = (args: string[], timeoutMs?: number) =>
  snapfleet(args, { env: baseEnv({ SNAPFLEET_URL: url, SNAPFLEET_TOKEN: operatorToken }), timeoutMs });

function parse<T>(r: Run): T {
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as T;
}

beforeAll(async () => {
  home = await mkdtemp(path.join(os.tmpdir(), "sf-cli-home-"));
  sockets = await makeSocketDir("sf-cli-");
  // cli-web: the guest kit (RAM dirtier, disk counter) on a qcow2 disk; cli-raw: no guest, one raw disk.
  await startGuestKitVm({
    name: "cli-web",
    memoryMiB: 160,
    dirtyMiB: 16,
    extraArgs: ["-qmp", `unix:${sockets.dir}/cli-web.sock,server=on,wait=off`],
  });
  const raw = path.join(home, "raw.img");
  writeFileSync(raw, Buffer.alloc(0));
  await truncate(raw, 16 << 20);
  await startFleetVm(sockets.dir, "cli-raw", {
    memoryMiB: 64,
    disks: 0,
    extraArgs: ["-drive", `file=${raw},format=raw,if=virtio`],
  });

  await createUser("cli-admin", "admin", PASSWORDS.admin);
  await createUser("cli-op", "operator", PASSWORDS.operator);
  operatorToken = (
    await createApiToken({ name: "cli-test-operator", role: "operator", expiresAt: null, createdBy: "test" })
  ).token;

  const port = await freeTcpPort();
  url = `http://127.0.0.1:${port}`;
  dashboard = spawn(process.execPath, ["--import", "tsx", path.join(REPO, "tests/cli/fixtures/api-dashboard.ts")], {
    cwd: REPO,
    env: { ...process.env, DATABASE_URL: database.current.url, PORT: String(port) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let ready = false;
  dashboard.stdout!.setEncoding("utf8").on("data", (d: string) => {
    dashboardLog += d;
    if (d.includes('"ready":true')) ready = true;
  });
  dashboard.stderr!.setEncoding("utf8").on("data", (d: string) => (dashboardLog += d));
  await until(
    () => {
      if (dashboard.exitCode !== null)
        throw new Error(`the dashboard exited ${dashboard.exitCode}: ${dashboardLog.slice(-3000)}`);
      return ready || undefined;
    },
    "the dashboard to listen",
    90_000,
  );
}, 240_000);

afterAll(async () => {
  if (dashboard && dashboard.exitCode === null) {
    dashboard.kill("SIGTERM");
    await until(
      () => (dashboard.exitCode !== null || dashboard.signalCode !== null ? true : undefined),
      "the dashboard to stop",
      30_000,
    ).catch(() => dashboard.kill("SIGKILL"));
  }
  await killDetached(detachedPids);
  await disposeAllVms();
  await sockets?.cleanup();
  await rm(home, { recursive: true, force: true });
}, 90_000);

describe("snapfleet against a running dashboard", () => {
  test("login as an admin stores a personal API token (mode 0600); hosts add discovers both VMs; hosts list", async () => {
    const login = await snapfleet(["login", url, "--user", "cli-admin"], { input: `${PASSWORDS.admin}\n` });
    expect(login.code, login.stderr).toBe(0);
    expect(login.stderr).toMatch(
      /logged in to http:\/\/127\.0\.0\.1:\d+ as cli-admin \(admin\); a personal API token is stored in .*credentials\.json/,
    );
    const file = path.join(home, ".config/snapfleet/credentials.json");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const stored = JSON.parse(await readFile(file, "utf8")) as { url: string; token?: string; session?: string };
    expect(stored).toMatchObject({ url, token: expect.stringMatching(/^sft_/) });
    expect(stored.session).toBeUndefined();
    // The login session was ended: only the token is a live credential.
    expect(await db().session.count({ where: { user: { name: "cli-admin" } } })).toBe(0);
    // A token's identity is its name: cli-<user>@<machine>-<stamp>.
    expect((await snapfleet(["whoami"])).stdout).toMatch(
      /^cli-cli-admin@[\w.-]+-\d{14} \(admin, token\) at http:\/\/127\.0\.0\.1:\d+\n$/,
    );

    const add = await snapfleet([
      "hosts",
      "add",
      "local",
      "lab",
      "--socket-dir",
      sockets.dir,
      "--snapshot-dir",
      sockets.snapshotDir,
    ]);
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toMatch(/^added local host lab \([0-9a-f-]{36}\): discovered 2 VMs\n$/);

    const { hosts } = parse<{
      hosts: Array<{ name: string; kind: string; healthy: boolean; vmCounts: Record<string, number> }>;
    }>(await snapfleet(["hosts", "list", "--json"]));
    expect(hosts).toEqual([
      expect.objectContaining({
        name: "lab",
        kind: "local",
        healthy: true,
        vmCounts: expect.objectContaining({ running: 2 }),
      }),
    ]);
    const table = await snapfleet(["hosts", "list"]);
    expect(table.stdout).toMatch(
      /^NAME\s+KIND\s+HEALTH\s+VMS\s+DISCOVERED\s+ID\nlab\s+local\s+healthy\s+2 \(2 running\)/,
    );
  });

  test("login as an operator keeps the session; what the role may not do is refused with the server's message (exit 3)", async () => {
    const login = await snapfleet(["login", url, "--user", "cli-op"], { input: `${PASSWORDS.operator}\n` });
    expect(login.code, login.stderr).toBe(0);
    expect(login.stderr).toMatch(/as cli-op \(operator\); the login session is stored in .* valid until/);
    const vms = await snapfleet(["vms", "list"]);
    expect(vms.code, vms.stderr).toBe(0);
    expect(vms.stdout).toMatch(
      /^NAME\s+HOST\s+STATE\s+MEMORY\s+LAST SNAPSHOT\s+ID\ncli-raw\s+lab\s+running\s+64 MiB\s+-\s+[0-9a-f-]{36}\ncli-web\s+lab\s+running\s+160 MiB/,
    );
    const refused = await snapfleet([
      "hosts",
      "add",
      "local",
      "lab2",
      "--socket-dir",
      sockets.dir,
      "--snapshot-dir",
      sockets.snapshotDir,
    ]);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toBe("snapfleet hosts: your role (operator) may not do this; it needs admin\n");
    const logout = await snapfleet(["logout"]);
    expect(logout.stderr).toMatch(/logged out of http:\/\/127\.0\.0\.1:\d+: session ended/);
    const after = await snapfleet(["vms", "list"]);
    expect(after.code).toBe(2);
    expect(after.stderr).toMatch(/no dashboard configured: run snapfleet login <url>/);
  });

  test("snapshot <vm-name> --wait in a pipe: plain progress lines, exit 0, completed; snapshots list --json has it", async () => {
    const r = await asOperator(["snapshot", "cli-web", "--note", "from the cli", "--wait"], 180_000);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(r.stdout).not.toContain("\r");
    expect(lines[0]).toMatch(/^status=(queued|preflight|setup|active)/);
    expect(lines).toContainEqual(
      expect.stringMatching(/^status=completed progress=100% transferred=\d+\.\dMiB\/\d+\.\dMiB/),
    );
    expect(lines.at(-1)).toMatch(
      /^completed: snapshot [0-9a-f-]{36} of cli-web \(live, .* in .*, guest paused \d+ ms\)$/,
    );
    const id = /snapshot ([0-9a-f-]{36})/.exec(lines.at(-1)!)![1]!;

    const { snapshots } = parse<{ snapshots: SnapshotJson[] }>(
      await asOperator(["snapshots", "list", "--json", "--vm", "cli-web"]),
    );
    expect(snapshots.map((s) => [s.id, s.status, s.mode, s.note])).toEqual([[id, "completed", "live", "from the cli"]]);
    const show = await asOperator(["snapshots", "show", id.slice(0, 8)]);
    expect(show.stdout).toMatch(
      new RegExp(`^id\\s+${id}\\nvm\\s+lab/cli-web .*\\nmode\\s+live\\nstatus\\s+completed\\n`),
    );
  }, 240_000);

  test("snapshot --wait on a terminal redraws one progress bar line", async () => {
    // script(1) gives the CLI a pseudo-terminal as stdout, as an interactive shell would.
    const command = [process.execPath, BIN, "snapshot", "lab/cli-web", "--mode", "live", "--wait"]
      .map((a) => `'${a}'`)
      .join(" ");
    const r = await run("script", ["-qec", command, "/dev/null"], {
      env: baseEnv({ SNAPFLEET_URL: url, SNAPFLEET_TOKEN: operatorToken }),
      timeoutMs: 180_000,
    });
    expect(r.code, r.stdout).toBe(0);
    const redraws = r.stdout.split("\r").filter((s) => s.includes("\x1b[K"));
    expect(redraws.length).toBeGreaterThanOrEqual(2);
    // eslint-disable-next-line no-control-regex -- the progress bar's erase-line escape is what is checked
    expect(r.stdout).toMatch(/\rcompleted\s+\[#{24}\]\s+100%\s+\d+\.\dMiB\/\d+\.\dMiB\x1b\[K\r?\n/);
    expect(r.stdout).toMatch(/completed: snapshot [0-9a-f-]{36} of cli-web/);
  }, 240_000);

  test("refusals exit 3 with the dashboard's message; bad usage exits 2 and says what to fix", async () => {
    const raw = await asOperator(["snapshot", "cli-raw", "--mode", "disks-only"]);
    expect(raw.code).toBe(3);
    expect(raw.stderr).toMatch(
      /^snapfleet snapshot: VM cli-raw cannot take a disks-only snapshot: disk .* \(raw, .*raw\.img\) is not qcow2: .*only a ram-only snapshot/,
    );
    const badMode = await asOperator(["snapshot", "cli-web", "--mode", "full"]);
    expect([badMode.code, badMode.stderr]).toEqual([
      2,
      'snapfleet snapshot: --mode must be one of live, ram-only, disks-only, not "full"\n',
    ]);
    const unknownOption = await asOperator(["vms", "list", "--colour"]);
    expect([unknownOption.code, unknownOption.stderr]).toEqual([2, "snapfleet vms: unknown option --colour\n"]);
    const noVm = await asOperator(["snapshot", "cli-nothing"]);
    expect([noVm.code, noVm.stderr]).toEqual([
      3,
      'snapfleet snapshot: no VM named "cli-nothing" (snapfleet vms list shows them)\n',
    ]);
    expect((await asOperator(["frobnicate"])).code).toBe(2);
  });

  test("restore <vm>@latest --yes --wait rolls the VM back (exit 0); without --yes in a script it is a usage error", async () => {
    const unconfirmed = await asOperator(["restore", "cli-web@latest"]);
    expect([unconfirmed.code, unconfirmed.stderr]).toEqual([
      2,
      "snapfleet restore: restore discards the VM's state since the snapshot: pass --yes to confirm when stdin is not a terminal\n",
    ]);
    const { snapshots } = parse<{ snapshots: SnapshotJson[] }>(
      await asOperator(["snapshots", "list", "--json", "--vm", "cli-web", "--status", "completed"]),
    );
    const r = await asOperator(["restore", "cli-web@latest", "--yes", "--wait", "--json"], 240_000);
    const { restore } = JSON.parse(r.stdout) as { restore: RestoreJson };
    if (typeof restore.result?.newPid === "number") detachedPids.push(restore.result.newPid);
    expect(r.code, `${r.stderr}\n${JSON.stringify(restore.error)}`).toBe(0);
    expect(restore).toMatchObject({
      kind: "rollback",
      status: "completed",
      vmName: "cli-web",
      snapshotId: snapshots[0]!.id,
      safetySnapshotId: expect.any(String),
    });
    expect(restore.statusHistory.map((h) => h.status)).toEqual(["queued", "setup", "active", "completed"]);
    const vm = await db().vm.findFirstOrThrow({ where: { name: "cli-web" } });
    expect(vm.state).toBe("running");
  }, 300_000);

  test("snapshots delete <short id> removes the older snapshot; show says deleted", async () => {
    const { snapshots } = parse<{ snapshots: SnapshotJson[] }>(
      await asOperator(["snapshots", "list", "--json", "--vm", "cli-web"]),
    );
    const oldest = snapshots.filter((s) => s.note === "from the cli")[0]!;
    const del = await asOperator(["snapshots", "delete", oldest.id.slice(0, 8)], 120_000);
    expect(del.code, del.stderr).toBe(0);
    expect(del.stdout).toBe(`deleted snapshot ${oldest.id} of lab/cli-web\n`);
    // History lists leave deleted snapshots out; the snapshot itself still says what became of it.
    const list = await asOperator(["snapshots", "list", "--vm", "cli-web"]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).not.toContain(oldest.id.slice(0, 8));
    const show = await asOperator(["snapshots", "show", oldest.id]);
    expect(show.stdout).toMatch(/^status\s+deleted$/m);
    const again = await asOperator(["snapshots", "delete", "0000"]);
    expect(again.code).toBe(3);
  }, 180_000);

  test("schedules list and run: a manual run snapshots its VM", async () => {
    const raw = await db().vm.findFirstOrThrow({ where: { name: "cli-raw" } });
    const created = await fetch(`${url}/api/schedules`, {
      method: "POST",
      headers: { authorization: `Bearer ${operatorToken}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "nightly-raw", cron: "0 3 * * *", targets: { vmIds: [raw.id] }, mode: "ram-only" }),
    });
    expect(created.status, await created.clone().text()).toBe(201);
    const list = await asOperator(["schedules", "list"]);
    expect(list.stdout).toMatch(
      /^NAME\s+ENABLED\s+CRON\s+MODE\s+TARGETS\s+NEXT RUN \(UTC\)\s+LAST RUN\s+ID\nnightly-raw\s+yes\s+0 3 \* \* \* \(UTC\)\s+ram-only\s/,
    );
    const r = await asOperator(["schedules", "run", "nightly-raw"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^run [0-9a-f-]{36} of schedule nightly-raw started: 1 VM\n$/);
    // The run's snapshot is an ordinary one: let it end before the dashboard stops.
    const settled = await until(
      async () => {
        const { snapshots } = parse<{ snapshots: SnapshotJson[] }>(
          await asOperator(["snapshots", "list", "--json", "--vm", "cli-raw"]),
        );
        return snapshots.find((s) => ["completed", "failed", "cancelled"].includes(s.status));
      },
      "the scheduled snapshot to end",
      120_000,
    );
    expect([settled.status, settled.mode, settled.scheduleId], settled.error?.message).toEqual([
      "completed",
      "ram-only",
      expect.any(String),
    ]);
  }, 180_000);

  test("an ambiguous VM name exits 2 listing the candidates; <host>/<name> picks one", async () => {
    const other = await db().host.create({
      data: {
        name: "annex",
        kind: "local",
        socketDir: path.join(home, "annex"),
        snapshotDir: path.join(home, "annex-snaps"),
      },
    });
    mkdirSync(other.socketDir!, { recursive: true });
    await db().vm.create({
      data: {
        hostId: other.id,
        name: "cli-web",
        endpoint: path.join(other.socketDir!, "cli-web.sock"),
        state: "unreachable",
      },
    });
    const r = await asOperator(["snapshot", "cli-web"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^snapfleet snapshot: "cli-web" matches 2 VMs; name one as <host>\/<name> or by id:\n {2}(annex|lab)\/cli-web {2}[0-9a-f-]{36} {2}\w+\n {2}(annex|lab)\/cli-web /,
    );
    const shown = await asOperator(["snapshots", "list", "--vm", "lab/cli-web", "--json"]);
    expect(shown.code, shown.stderr).toBe(0);
  });
});

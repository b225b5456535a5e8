// `snapfleet qmp` end to end: the real bin launcher (bin/snapfleet.mjs → tsx → lib/cli/main.ts) as a
// child process against real QEMU VMs — replies as JSON, QEMU errors and exit codes, events as JSON
// lines (watched on one monitor while another monitor of the same VM triggers them), TLS flags.
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../lib/cli/main";
import { connectQmp } from "../../lib/qmp";
import { makeTestPki, startTlsVm, type TestPki } from "../qmp/tls-certs";
import { disposeAllVms, startVm, type TestVm } from "../support/qemu";

const BIN = path.resolve(import.meta.dirname, "../../bin/snapfleet.mjs");

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
  });
}

/** Runs main() in this process with captured output. */
async function inProcess(args: string[]): Promise<Run> {
  let stdout = "";
  let stderr = "";
  const code = await main(args, {
    stdout: { write: (t: string) => (stdout += t) },
    stderr: { write: (t: string) => (stderr += t) },
  });
  return { code, stdout, stderr };
}

let vm: TestVm;
let monitor2: string;

beforeAll(async () => {
  // A second QMP monitor: events go to every monitor (QEMU.md §6), so a test can trigger them on one
  // while the CLI watches the other (each monitor serves one client).
  const tmp = await mkdtemp(path.join(os.tmpdir(), "qmp-cli-"));
  monitor2 = path.join(tmp, "qmp2.sock");
  vm = await startVm({ name: "qmp-cli", memoryMiB: 64, extraArgs: ["-qmp", `unix:${monitor2},server=on,wait=off`] });
});

afterAll(async () => {
  await disposeAllVms();
  if (monitor2) await rm(path.dirname(monitor2), { recursive: true, force: true });
});

describe("snapfleet qmp", () => {
  it("prints the reply as JSON", async () => {
    const r = await cli(["qmp", `unix:${vm.qmpSocket}`, "query-status"]);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(JSON.parse(r.stdout)).toMatchObject({ running: true, status: "running" });
  });

  it("passes JSON arguments", async () => {
    const r = await cli(["qmp", `unix:${vm.qmpSocket}`, "query-named-block-nodes", '{"flat": true}']);
    expect(r.code).toBe(0);
    expect(
      JSON.parse(r.stdout)
        .map((n: { "node-name": string }) => n["node-name"])
        .sort(),
    ).toEqual(["disk0", "disk0-file"]);
  });

  it("exits 1 with QEMU's error class and message", async () => {
    const r = await cli(["qmp", `unix:${vm.qmpSocket}`, "no-such-command"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe("error: CommandNotFound: The command no-such-command has not been found\n");
    const g = await cli(["qmp", `unix:${vm.qmpSocket}`, "job-dismiss", '{"id": "nope"}']);
    expect(g.code).toBe(1);
    expect(g.stderr).toMatch(/^error: GenericError: /);
  });

  it("exits 2 on usage errors", async () => {
    // In-process through main() (same code as the bin, minus ~0.5 s of tsx start-up per case).
    for (const args of [
      ["qmp", `unix:${vm.qmpSocket}`, "query-status", "{not json"],
      ["qmp", `unix:${vm.qmpSocket}`, "query-status", "[1]"],
      ["qmp", `unix:${vm.qmpSocket}`, "query-status", "{}", "extra"],
      ["qmp", `unix:${vm.qmpSocket}`],
      ["qmp"],
      ["qmp", "bogus:endpoint", "query-status"],
      ["qmp", `unix:${vm.qmpSocket}`, "query-status", "--frobnicate"],
      ["qmp", "tls:127.0.0.1:1", "query-status"],
      ["qmp", `unix:${vm.qmpSocket}`, "--events", "soon"],
      ["qmp", `unix:${vm.qmpSocket}`, "query-status", "--timeout", "0s"],
      ["nope"],
      [],
    ]) {
      const r = await inProcess(args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stdout, args.join(" ")).toBe("");
      expect(r.stderr, args.join(" ")).not.toBe("");
    }
    expect((await inProcess(["qmp", "--help"])).stdout).toContain("Usage: snapfleet qmp <endpoint>");
    // And once through the real launcher.
    const r = await cli(["qmp", `unix:${vm.qmpSocket}`, "query-status", "{not json"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("<json-args> is not valid JSON");
    const help = await cli(["--help"]);
    expect(help).toMatchObject({ code: 0, stderr: "" });
    expect(help.stdout).toContain("qmp <endpoint> <command> [json-args]");
  });

  it("exits 3 when it cannot connect, and reports a busy monitor as such", async () => {
    const missing = await cli(["qmp", "unix:/nonexistent/qmp.sock", "query-status"]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain("no such socket");
    const holder = await connectQmp({ kind: "unix", path: vm.qmpSocket });
    try {
      const busy = await cli(["qmp", `unix:${vm.qmpSocket}`, "query-status", "--connect-timeout", "500ms"]);
      expect(busy.code).toBe(3);
      expect(busy.stderr).toMatch(/QmpMonitorBusyError: .*busy/);
    } finally {
      await holder.close();
    }
  });

  it("-v logs the QMP traffic to stderr", async () => {
    const r = await cli(["qmp", `unix:${vm.qmpSocket}`, "query-name", "-v"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ name: "qmp-cli" });
    expect(r.stderr).toContain('--> {"execute":"query-name","id":"sf-2"}');
    expect(r.stderr).toContain('<-- {"return": {"name": "qmp-cli"}, "id": "sf-2"}');
  });

  it("--events prints events as JSON lines as they come; SIGINT ends the watch cleanly", async () => {
    const child = spawn(process.execPath, [BIN, "qmp", `unix:${vm.qmpSocket}`, "--events", "60s"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const exited = once(child, "close");
    let stdout = "";
    let stderr = "";
    const lineWaiters: Array<() => void> = [];
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
      for (const w of lineWaiters.splice(0)) w();
    });
    const listening = new Promise<void>((resolve) =>
      child.stderr.setEncoding("utf8").on("data", (d: string) => {
        stderr += d;
        if (stderr.includes("listening for events")) resolve();
      }),
    );
    const untilLines = async (n: number) => {
      while (stdout.split("\n").filter(Boolean).length < n) await new Promise<void>((r) => lineWaiters.push(r));
    };
    try {
      await listening;
      const trigger = await connectQmp({ kind: "unix", path: monitor2 });
      try {
        await trigger.stop();
        await trigger.cont();
      } finally {
        await trigger.close();
      }
      await untilLines(2);
      child.kill("SIGINT");
      const [code] = await exited;
      expect(code).toBe(0);
      const events = stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
      expect(events.map((e) => e.event)).toEqual(["STOP", "RESUME"]);
      for (const e of events) {
        expect(Object.keys(e)).toEqual(["event", "data", "timestamp"]);
        expect(e.timestamp).toEqual({ seconds: expect.any(Number), microseconds: expect.any(Number) });
      }
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });

  it("a command with --events listens from before the command: its own events are printed", async () => {
    const stop = await cli(["qmp", `unix:${vm.qmpSocket}`, "stop", "--events", "300ms"]);
    expect(stop.code).toBe(0);
    const lines = stop.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines).toContainEqual({ return: {} });
    expect(lines.find((l) => l.event)?.event).toBe("STOP");
    expect((await cli(["qmp", `unix:${vm.qmpSocket}`, "cont"])).code).toBe(0);
  });
});

describe("snapfleet qmp over TLS", () => {
  let pki: TestPki;
  let tlsVm: TestVm;
  const files = (name: string) => path.join(pki.dir, name);

  beforeAll(async () => {
    pki = makeTestPki();
    tlsVm = await startTlsVm(pki, "qmp-cli-tls", 64);
  });

  afterAll(async () => {
    await tlsVm?.dispose();
    pki?.cleanup();
  });

  it("--ca/--cert/--key connect; without --cert QEMU refuses (exit 3)", async () => {
    const ep = `tls:127.0.0.1:${tlsVm.tlsPort}`;
    const ok = await cli([
      "qmp",
      ep,
      "--ca",
      files("ca-cert.pem"),
      "--cert",
      files("client-cert.pem"),
      "--key",
      files("client-key.pem"),
      "query-name",
    ]);
    expect(ok).toMatchObject({ code: 0, stderr: "" });
    expect(JSON.parse(ok.stdout)).toEqual({ name: "qmp-cli-tls" });
    const refused = await cli(["qmp", ep, "--ca", files("ca-cert.pem"), "query-name"]);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/QmpConnectError: .*client certificate/);
    const missingFile = await cli(["qmp", ep, "--ca", files("nope.pem"), "query-name"]);
    expect(missingFile.code).toBe(2);
    expect(missingFile.stderr).toContain("ENOENT");
  });
});

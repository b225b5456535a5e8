// Tests of tests/support/qemu.ts against real QEMU (no guest OS: the VMs idle in firmware):
// monitors greet and answer, the naming contract (diskN / vdN / mem0) holds, start-up failures carry
// QEMU's stderr, the TLS monitor enforces its identity, and no QEMU outlives its test process.
import { execFile, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import tls from "node:tls";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { disposeAllVms, startVm, startVms } from "../support/qemu";
import { RawQmp } from "./raw-qmp";

const execFileAsync = promisify(execFile);
const REPO = path.resolve(import.meta.dirname, "../..");

afterAll(disposeAllVms);

/** Alive = exists and is not a zombie (an orphaned QEMU may wait unreaped for a moment). */
function isAlive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

describe("startVm", () => {
  it("starts two VMs whose monitors greet, negotiate and report running; dispose removes everything", async () => {
    const vms = await startVms(2);
    expect(new Set(vms.map((vm) => vm.dir)).size).toBe(2);
    for (const vm of vms) {
      // Raw socket on purpose: the greeting must be the first line a new client reads (QEMU.md §6).
      const sock = net.createConnection(vm.qmpSocket);
      sock.setEncoding("utf8");
      let buffered = "";
      const nextLine = () =>
        new Promise<string>((resolve, reject) => {
          const take = () => {
            const nl = buffered.indexOf("\n");
            if (nl < 0) return false;
            const line = buffered.slice(0, nl);
            buffered = buffered.slice(nl + 1);
            sock.off("data", onData);
            resolve(line);
            return true;
          };
          const onData = (chunk: string) => {
            buffered += chunk;
            take();
          };
          if (!take()) sock.on("data", onData);
          sock.once("error", reject);
        });
      const greeting = await nextLine();
      expect(greeting).toMatch(/^\{"QMP": ?\{"version": ?\{"qemu": ?\{/);
      expect(
        (JSON.parse(greeting) as { QMP: { version: { qemu: { major: number } } } }).QMP.version.qemu.major,
      ).toBeGreaterThanOrEqual(7);
      sock.write('{"execute":"qmp_capabilities"}\n');
      expect(JSON.parse(await nextLine())).toEqual({ return: {} });
      sock.write('{"execute":"query-status"}\n');
      expect(JSON.parse(await nextLine())).toMatchObject({ return: { running: true, status: "running" } });
      sock.destroy();
    }
    for (const vm of vms) {
      await vm.dispose();
      expect(await vm.exited).toBe(0); // SIGTERM: QEMU shuts down cleanly
      expect(isAlive(vm.pid)).toBe(false);
      expect(existsSync(vm.dir)).toBe(false);
    }
  });

  it("names disks diskN over diskN-file on devices vdN, and backs RAM with memfd mem0 on request", async () => {
    const vm = await startVm({
      name: "layout",
      disks: [{ sizeMiB: 16 }, { sizeMiB: 8, readOnly: true }],
      memoryBackend: "memfd",
      memoryMiB: 64,
    });
    const { qmp } = await RawQmp.connect(vm.qmpSocket);
    try {
      const nodes = await qmp.execute<{ "node-name": string; drv: string; ro: boolean; file: string }[]>(
        "query-named-block-nodes",
        { flat: true },
      );
      const byName = new Map(nodes.map((n) => [n["node-name"], n]));
      expect(byName.get("disk0")).toMatchObject({ drv: "qcow2", ro: false, file: vm.disks[0].path });
      expect(byName.get("disk1")).toMatchObject({ drv: "qcow2", ro: true });
      expect(byName.get("disk1-file")).toMatchObject({ drv: "file" });
      const blocks = await qmp.execute<{ qdev?: string; inserted?: { "node-name": string } }[]>("query-block");
      expect(blocks.map((b) => [b.qdev, b.inserted?.["node-name"]])).toEqual([
        ["/machine/peripheral/vd0/virtio-backend", "disk0"],
        ["/machine/peripheral/vd1/virtio-backend", "disk1"],
      ]);
      const memdevs = await qmp.execute<{ id: string; size: number; share: boolean }[]>("query-memdev");
      expect(memdevs).toEqual([expect.objectContaining({ id: "mem0", size: 64 * 1024 * 1024, share: true })]);
      expect(vm.memoryPath()).toMatch(/^\/proc\/\d+\/fd\/\d+$/);
    } finally {
      qmp.close();
      await vm.dispose();
    }
  });

  it("starts paused and waiting for an incoming migration with incoming: true", async () => {
    const vm = await startVm({ incoming: true, disks: 0 });
    const { qmp } = await RawQmp.connect(vm.qmpSocket);
    expect(await qmp.execute("query-status")).toMatchObject({ running: false, status: "inmigrate" });
    qmp.close();
    await vm.dispose();
  });

  it("rejects with QEMU's stderr when QEMU refuses to start, and leaves nothing behind", async () => {
    const leftovers = () => readdirSync(os.tmpdir()).filter((f) => f.startsWith("snapfleet-test-bad-"));
    const before = new Set(leftovers());
    await expect(startVm({ name: "bad", extraArgs: ["-device", "no-such-device"] })).rejects.toThrow(
      /QEMU exited \(code 1\)[\s\S]*no-such-device/,
    );
    expect(leftovers().filter((f) => !before.has(f))).toEqual([]);
  });

  it("waitForSerial reports a timeout with the serial tail", async () => {
    const vm = await startVm({ disks: 0 });
    await expect(vm.waitForSerial(/never printed/, 300)).rejects.toThrow(/timed out after 300 ms/);
    await vm.dispose();
  });
});

describe("TLS monitor", () => {
  const CERT_EXT = `[ca]
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
[server]
basicConstraints=critical,CA:FALSE
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1
[client]
basicConstraints=critical,CA:FALSE
extendedKeyUsage=clientAuth
`;

  async function makePki(dir: string): Promise<void> {
    const ossl = (args: string[]) => execFileAsync("openssl", args, { cwd: dir });
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    await writeFile(path.join(dir, "ext.cnf"), CERT_EXT);
    await ossl([
      "req",
      "-x509",
      ...ec,
      "-keyout",
      "ca-key.pem",
      "-out",
      "ca-cert.pem",
      "-subj",
      "/CN=Snapfleet Test CA",
      "-days",
      "2",
      "-config",
      "ext.cnf",
      "-extensions",
      "ca",
    ]);
    // tls-authz compares the subject DN in certificate order: /O=Snapfleet/CN=dashboard → "O=Snapfleet,CN=dashboard".
    const leaves = {
      server: "/CN=127.0.0.1",
      client: "/O=Snapfleet/CN=dashboard",
      intruder: "/O=Snapfleet/CN=intruder",
    };
    for (const [who, subj] of Object.entries(leaves)) {
      await ossl(["req", "-new", ...ec, "-keyout", `${who}-key.pem`, "-out", `${who}.csr`, "-subj", subj]);
      const ext = who === "server" ? "server" : "client";
      await ossl([
        "x509",
        "-req",
        "-in",
        `${who}.csr`,
        "-CA",
        "ca-cert.pem",
        "-CAkey",
        "ca-key.pem",
        "-CAcreateserial",
        "-out",
        `${who}-cert.pem`,
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        "-extensions",
        ext,
      ]);
    }
  }

  /** One QMP exchange over TLS. QEMU 7.2 lags one message over TLS: a lone "\n" after each command flushes it (QEMU.md §6). */
  async function tlsQuery(port: number, dir: string, who: string): Promise<unknown[]> {
    const read = (f: string) => readFile(path.join(dir, f));
    const sock = tls.connect({
      host: "127.0.0.1",
      port,
      ca: await read("ca-cert.pem"),
      cert: await read(`${who}-cert.pem`),
      key: await read(`${who}-key.pem`),
    });
    const lines: unknown[] = [];
    let buffered = "";
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`TLS QMP: no answer, got ${JSON.stringify(lines)}`)), 10_000);
      const send = (cmd: string) => {
        sock.write(`${JSON.stringify({ execute: cmd })}\n`);
        setTimeout(() => sock.write("\n"), 20);
      };
      sock.setEncoding("utf8");
      sock.on("data", (chunk: string) => {
        buffered += chunk;
        for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          if (!line) continue;
          lines.push(JSON.parse(line));
          if (lines.length === 1) send("qmp_capabilities");
          else if (lines.length === 2) send("query-status");
          else {
            clearTimeout(timer);
            sock.destroy();
            resolve(lines);
          }
        }
      });
      // A refused identity shows up as the server closing the session before any greeting.
      sock.on("close", () => {
        clearTimeout(timer);
        resolve(lines);
      });
      sock.on("error", () => undefined);
    });
  }

  it("serves QMP over TLS to the pinned client identity only", async () => {
    const pki = await mkdtemp(path.join(os.tmpdir(), "snapfleet-test-pki-"));
    try {
      await makePki(pki);
      const credsDir = path.join(pki, "server");
      await mkdir(credsDir);
      for (const f of ["ca-cert.pem", "server-cert.pem", "server-key.pem"])
        await copyFile(path.join(pki, f), path.join(credsDir, f));
      const vm = await startVm({ disks: 0, tls: { credsDir, authzIdentity: "O=Snapfleet,CN=dashboard" } });
      expect(vm.tlsPort).toBeGreaterThan(0);
      const ok = await tlsQuery(vm.tlsPort!, pki, "client");
      expect(ok[0]).toMatchObject({ QMP: { version: { qemu: { major: expect.any(Number) } } } });
      expect(ok[1]).toEqual({ return: {} });
      expect(ok[2]).toMatchObject({ return: { running: true } });
      expect(await tlsQuery(vm.tlsPort!, pki, "intruder")).toEqual([]);
      await vm.dispose();
    } finally {
      await rm(pki, { recursive: true, force: true });
    }
  });
});

describe("cleanup when the test process goes away", () => {
  // A child Node process starts a VM, reports it, then leaves in the given way. Each case then asserts
  // how the child ended and that its QEMU dies (polled with a bound: the kernel or the child's exit
  // handler kills it, not this process).
  async function orphanScenario(
    how: "exit" | "SIGTERM" | "SIGKILL",
  ): Promise<{ pid: number; dir: string; ended: { code: number | null; signal: NodeJS.Signals | null } }> {
    const scriptDir = await mkdtemp(path.join(os.tmpdir(), "snapfleet-test-orphan-"));
    const script = path.join(scriptDir, "child.mts"); // .mts: ESM, for top-level await
    await writeFile(
      script,
      `import { startVm } from ${JSON.stringify(path.join(REPO, "tests/support/qemu.ts"))};
const vm = await startVm({ name: "orphan", disks: 0 });
process.stdout.write(JSON.stringify({ pid: vm.pid, dir: vm.dir }) + "\\n");
process.stdin.on("data", () => process.exit(0)); // "exit" scenario: leave without disposing
`,
    );
    const child = spawn(process.execPath, ["--import", "tsx", script], {
      cwd: REPO,
      stdio: ["pipe", "pipe", "inherit"],
    });
    const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once("exit", (code, signal) => resolve({ code, signal })),
    );
    try {
      const info = await new Promise<{ pid: number; dir: string }>((resolve, reject) => {
        let out = "";
        child.stdout.setEncoding("utf8");
        child.stdout.on("data", (chunk: string) => {
          out += chunk;
          if (out.includes("\n")) resolve(JSON.parse(out.slice(0, out.indexOf("\n"))) as { pid: number; dir: string });
        });
        void ended.then(({ code, signal }) => reject(new Error(`child exited early (${code ?? signal})`)));
      });
      expect(isAlive(info.pid)).toBe(true);
      if (how === "exit") child.stdin.write("exit\n");
      else child.kill(how);
      return { ...info, ended: await ended };
    } finally {
      child.kill("SIGKILL");
      await rm(scriptDir, { recursive: true, force: true });
    }
  }

  it("kills QEMU and removes its dir on process.exit()", async () => {
    const { pid, dir, ended } = await orphanScenario("exit");
    expect(ended).toEqual({ code: 0, signal: null });
    await expect.poll(() => isAlive(pid), { timeout: 5_000, interval: 50 }).toBe(false);
    expect(existsSync(dir)).toBe(false);
  });

  it("kills QEMU and removes its dir on SIGTERM", async () => {
    const { pid, dir, ended } = await orphanScenario("SIGTERM");
    expect(ended).toEqual({ code: null, signal: "SIGTERM" }); // its handler cleaned up, then re-raised the signal
    await expect.poll(() => isAlive(pid), { timeout: 5_000, interval: 50 }).toBe(false);
    expect(existsSync(dir)).toBe(false);
  });

  it("kills QEMU even when the test process is SIGKILLed (PR_SET_PDEATHSIG via setpriv)", async () => {
    const { pid, dir, ended } = await orphanScenario("SIGKILL");
    expect(ended).toEqual({ code: null, signal: "SIGKILL" }); // no handler of its own ran
    await expect.poll(() => isAlive(pid), { timeout: 5_000, interval: 50 }).toBe(false);
    expect(existsSync(dir)).toBe(true); // nobody could remove it: the process died hard
    await rm(dir, { recursive: true, force: true });
  });
});

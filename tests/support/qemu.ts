// Real QEMU VMs for integration tests: builds the command line (q35, TCG, no defaults, QMP on a unix
// socket, serial console to a file, qcow2 disks via -blockdev), starts QEMU, waits until its monitor
// greets and answers (then leaves it free for the test's own client), and guarantees cleanup. Owns every QEMU process it starts: a module-level registry kills
// them on disposeAllVms(), on process 'exit', SIGINT and SIGTERM; and each QEMU runs under
// `setpriv --pdeathsig KILL`, so the kernel kills it even if this process dies by SIGKILL.
// Naming contract other suites rely on: disk N = format node "diskN" over file node "diskN-file",
// device virtio-blk-pci id "vdN"; memfd RAM = backend id "mem0"; TLS monitor chardev "qmptls".
// QEMU facts used here: /work/shared/QEMU.md (greeting on connect §6, one client per monitor §6).
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { chown, mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { freeTcpPort } from "./ports";

const execFileAsync = promisify(execFile);

const QEMU_BINARY = process.env.SNAPFLEET_QEMU ?? "qemu-system-x86_64";
const QEMU_IMG = process.env.SNAPFLEET_QEMU_IMG ?? "qemu-img";
const SETPRIV = "/usr/bin/setpriv";
const STARTUP_TIMEOUT_MS = 20_000;
const TERM_GRACE_MS = 2_000;
const POLL_MS = 50;

export interface DiskSpec {
  sizeMiB?: number; // default 64
  format?: "qcow2";
  readOnly?: boolean;
}

export interface VmOptions {
  name?: string; // default vm-<n>; also passed as -name
  memoryMiB?: number; // default 128
  disks?: number | DiskSpec[]; // default one 64 MiB qcow2 disk
  kernel?: string;
  initrd?: string;
  append?: string;
  memoryBackend?: "ram" | "memfd"; // memfd: id mem0, share=on (restore must use the same)
  // QMP over TLS on 127.0.0.1:tlsPort, client certificates required (verify-peer=on). credsDir holds
  // ca-cert.pem, server-cert.pem, server-key.pem. authzIdentity pins the client: its subject DN in
  // certificate order, as GnuTLS 3.7 prints it (subject /O=Snapfleet/CN=dashboard → "O=Snapfleet,CN=dashboard").
  tls?: { credsDir: string; authzIdentity?: string };
  incoming?: boolean; // -S -incoming defer
  diskPaths?: string[]; // existing qcow2 images instead of new disks
  extraArgs?: string[];
  /**
   * Run QEMU as this unprivileged user (tests run as root): its directory and disks are chowned to it and
   * QEMU is started through setpriv --reuid/--regid --clear-groups. Files it must open elsewhere (extra
   * monitor sockets' directories) must be the user's too.
   */
  runAs?: { uid: number; gid: number };
  /** Extra environment for QEMU and what it runs (e.g. its `exec:` migration writers). */
  env?: Record<string, string>;
}

export interface TestVm {
  name: string;
  dir: string;
  qmpSocket: string;
  tlsPort?: number;
  disks: { node: string; path: string }[];
  pid: number;
  serialPath: string;
  /** The full QEMU argv (after setpriv), for error messages and for building a matching restore. */
  args: string[];
  /** Everything the guest printed on ttyS0 so far, "\r" removed (the kernel console writes CRLF). */
  serialOutput(): string;
  /** Resolves with the first match in serialOutput().slice(fromOffset); match.index is absolute. */
  waitForSerial(pattern: RegExp, timeoutMs?: number, fromOffset?: number): Promise<RegExpMatchArray>;
  /** The guest RAM as a host file (/proc/<pid>/fd/<n> of the memfd) for memoryBackend "memfd", else undefined. */
  memoryPath(): string | undefined;
  /** QEMU's stderr+stdout so far. */
  stderr(): string;
  /** Sends a signal (default SIGKILL: "the host lost the VM"); cleanup still needs dispose(). */
  kill(signal?: NodeJS.Signals): void;
  /** QEMU's exit code; null when it died from a signal (or failed to spawn). */
  exited: Promise<number | null>;
  /** SIGTERM, SIGKILL after 2 s, then removes dir. Idempotent. */
  dispose(): Promise<void>;
}

interface Tracked {
  vm: TestVm;
  child: ChildProcess;
  done: boolean;
}

// One registry per process even if this module is loaded twice (relative and "@/" imports).
const REGISTRY_KEY = Symbol.for("snapfleet.test.qemu.registry");
type GlobalWithRegistry = typeof globalThis & { [REGISTRY_KEY]?: Set<Tracked> };
const registry: Set<Tracked> = ((globalThis as GlobalWithRegistry)[REGISTRY_KEY] ??= installProcessHooks(new Set()));
let vmCounter = 0;

function installProcessHooks(set: Set<Tracked>): Set<Tracked> {
  // 'exit' handlers must be synchronous: SIGKILL (QEMU cannot block it) and rmSync.
  process.on("exit", () => killAllSync(set));
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    const onSignal = () => {
      killAllSync(set);
      // Our listener suppresses the default action; if nobody else handles the signal, re-raise it.
      process.removeListener(signal, onSignal);
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
  return set;
}

function killAllSync(set: Set<Tracked>): void {
  for (const t of set) {
    if (!t.done) {
      try {
        process.kill(t.vm.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    rmSync(t.vm.dir, { recursive: true, force: true });
  }
  set.clear();
}

/** QEMU option values: a comma inside a value is written as ",,". */
function optValue(value: string): string {
  return value.replaceAll(",", ",,");
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function readText(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

/** Creates a qcow2 image whose backing file is `backing` (restore: never write the snapshot's own image). */
export async function createOverlay(backing: string, top: string): Promise<void> {
  await execFileAsync(QEMU_IMG, ["create", "-q", "-f", "qcow2", "-b", backing, "-F", "qcow2", top]);
}

/**
 * Copies internal snapshot `name` of `image` into a new standalone qcow2 `out` (read with force-share:
 * the image may be open by its running VM; the snapshot's clusters are never written in place).
 */
export async function exportInternalSnapshot(image: string, name: string, out: string): Promise<void> {
  await execFileAsync(QEMU_IMG, exportSnapshotArgs(image, name, out));
}

/** `qemu-img` arguments of exportInternalSnapshot (also timed by the disk-snapshot bench). */
export function exportSnapshotArgs(image: string, name: string, out: string): string[] {
  return ["convert", "-U", "-f", "qcow2", "-O", "qcow2", "-l", `snapshot.name=${name}`, image, out];
}

async function createDisks(dir: string, opts: VmOptions): Promise<{ node: string; path: string; readOnly: boolean }[]> {
  if (opts.diskPaths) return opts.diskPaths.map((p, i) => ({ node: `disk${i}`, path: p, readOnly: false }));
  const specs: DiskSpec[] =
    typeof opts.disks === "number" ? Array.from({ length: opts.disks }, () => ({})) : (opts.disks ?? [{}]);
  return Promise.all(
    specs.map(async (spec, i) => {
      const file = path.join(dir, `disk${i}.qcow2`);
      await execFileAsync(QEMU_IMG, ["create", "-q", "-f", "qcow2", file, `${spec.sizeMiB ?? 64}M`]);
      return { node: `disk${i}`, path: file, readOnly: spec.readOnly ?? false };
    }),
  );
}

function buildArgs(
  opts: VmOptions,
  name: string,
  dir: string,
  disks: { node: string; path: string; readOnly: boolean }[],
  tlsPort: number | undefined,
): string[] {
  const memoryMiB = opts.memoryMiB ?? 128;
  const machine = ["q35"];
  const args: string[] = [];
  if (opts.memoryBackend === "memfd") {
    args.push("-object", `memory-backend-memfd,id=mem0,size=${memoryMiB}M,share=on`);
    machine.push("memory-backend=mem0");
  }
  args.push(
    "-name",
    optValue(name),
    "-machine",
    machine.join(","),
    "-accel",
    "tcg",
    "-nodefaults",
    "-display",
    "none",
    "-no-user-config",
    "-m",
    `${memoryMiB}M`,
    "-qmp",
    `unix:${optValue(path.join(dir, "qmp.sock"))},server=on,wait=off`,
    "-serial",
    `file:${optValue(path.join(dir, "serial.log"))}`,
  );
  for (const [i, d] of disks.entries()) {
    const ro = d.readOnly ? ",read-only=on" : "";
    args.push(
      "-blockdev",
      `driver=file,node-name=${d.node}-file,filename=${optValue(d.path)}${ro}`,
      "-blockdev",
      `driver=qcow2,node-name=${d.node},file=${d.node}-file${ro}`,
      "-device",
      `virtio-blk-pci,drive=${d.node},id=vd${i}`,
    );
  }
  if (opts.kernel) args.push("-kernel", opts.kernel);
  if (opts.initrd) args.push("-initrd", opts.initrd);
  if (opts.append !== undefined) args.push("-append", opts.append);
  if (opts.tls && tlsPort !== undefined) {
    args.push("-object", `tls-creds-x509,id=tls0,dir=${optValue(opts.tls.credsDir)},endpoint=server,verify-peer=on`);
    let authz = "";
    if (opts.tls.authzIdentity) {
      args.push("-object", `authz-simple,id=authz0,identity=${optValue(opts.tls.authzIdentity)}`);
      authz = ",tls-authz=authz0";
    }
    args.push(
      "-chardev",
      `socket,id=qmptls,host=127.0.0.1,port=${tlsPort},server=on,wait=off,tls-creds=tls0${authz}`,
      "-mon",
      "chardev=qmptls,mode=control",
    );
  }
  if (opts.incoming) args.push("-S", "-incoming", "defer");
  args.push(...(opts.extraArgs ?? []));
  return args;
}

/**
 * Resolves true once the monitor has greeted AND answered qmp_capabilities, then closes the probe
 * connection (QEMU resets the monitor for the next client). The greeting alone proves little: QMP I/O
 * runs in a monitor iothread that greets before machine creation ends (a bad -device still fails after
 * a greeting); a non-OOB command is executed by the main loop, which only runs once start-up is done.
 */
function probeMonitor(socketPath: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.createConnection(socketPath);
    let data = "";
    let greeted = false;
    const finish = (ok: boolean) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    sock.setEncoding("utf8");
    sock.on("data", (chunk: string) => {
      data += chunk;
      for (let nl = data.indexOf("\n"); nl >= 0; nl = data.indexOf("\n")) {
        const line = data.slice(0, nl);
        data = data.slice(nl + 1);
        if (!greeted && line.includes('"QMP"')) {
          greeted = true;
          sock.write('{"execute":"qmp_capabilities"}\n');
        } else if (greeted && line.includes('"return"')) {
          finish(true);
        }
      }
    });
    sock.on("error", () => finish(false));
    sock.on("close", () => finish(false));
  });
}

function memfdPathOf(pid: number): string | undefined {
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      const link = `/proc/${pid}/fd/${fd}`;
      try {
        if (readlinkSync(link).startsWith("/memfd:memory-backend-memfd")) return link;
      } catch {
        // fd closed while listing
      }
    }
  } catch {
    // process gone
  }
  return undefined;
}

export async function startVm(opts: VmOptions = {}): Promise<TestVm> {
  const n = ++vmCounter;
  const name = opts.name ?? `vm-${n}`;
  // Keep the prefix short: a unix socket path must fit in 108 bytes.
  const dir = await mkdtemp(
    path.join(os.tmpdir(), `snapfleet-test-${name.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 24)}-`),
  );
  let disks: { node: string; path: string; readOnly: boolean }[];
  try {
    disks = await createDisks(dir, opts);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`startVm(${name}): qemu-img failed: ${(err as Error).message}`, { cause: err });
  }
  const tlsPort = opts.tls ? await freeTcpPort() : undefined;
  const qemuArgs = buildArgs(opts, name, dir, disks, tlsPort);
  if (opts.runAs) {
    const { uid, gid } = opts.runAs;
    await chown(dir, uid, gid);
    await Promise.all(disks.map((d) => chown(d.path, uid, gid)));
  }
  return launch({
    name,
    dir,
    disks,
    tlsPort,
    qemuArgs,
    memfd: opts.memoryBackend === "memfd",
    runAs: opts.runAs,
    env: opts.env,
  });
}

/**
 * The VM's owner restarts it the way they always do: QEMU is stopped (SIGTERM, as a service manager
 * does) and started again with the very same command line — same disk paths, same monitor and serial
 * paths. Returns the new process's TestVm (the old one is spent; its directory and disks are kept).
 */
export async function restartVm(vm: TestVm): Promise<TestVm> {
  const tracked = [...registry].find((t) => t.vm === vm);
  if (!tracked) throw new Error(`restartVm(${vm.name}): not a running test VM`);
  vm.kill("SIGTERM");
  await vm.exited;
  registry.delete(tracked);
  await rm(vm.qmpSocket, { force: true });
  return launch({
    name: vm.name,
    dir: vm.dir,
    disks: vm.disks.map((d) => ({ ...d, readOnly: false })),
    tlsPort: vm.tlsPort,
    qemuArgs: vm.args,
    memfd: false,
  });
}

interface LaunchSpec {
  name: string;
  dir: string;
  disks: { node: string; path: string; readOnly: boolean }[];
  tlsPort: number | undefined;
  qemuArgs: string[];
  memfd: boolean;
  runAs?: { uid: number; gid: number };
  env?: Record<string, string>;
}

/** Spawns QEMU with `qemuArgs` and waits for its monitor; the TestVm owns `dir` from then on. */
async function launch(spec: LaunchSpec): Promise<TestVm> {
  const { name, dir, disks, tlsPort, qemuArgs } = spec;
  const qmpSocket = path.join(dir, "qmp.sock");
  const serialPath = path.join(dir, "serial.log");
  const stderrPath = path.join(dir, "qemu.stderr");
  const outFd = openSync(stderrPath, "a");
  const usePdeathsig = existsSync(SETPRIV);
  if (spec.runAs && !usePdeathsig) throw new Error(`startVm(${name}): runAs needs ${SETPRIV}`);
  const asUser = spec.runAs
    ? ["--reuid", String(spec.runAs.uid), "--regid", String(spec.runAs.gid), "--clear-groups"]
    : [];
  const env = spec.env ? { ...process.env, ...spec.env } : process.env;
  const child = usePdeathsig
    ? spawn(SETPRIV, [...asUser, "--pdeathsig", "KILL", "--", QEMU_BINARY, ...qemuArgs], {
        stdio: ["ignore", outFd, outFd],
        env,
      })
    : spawn(QEMU_BINARY, qemuArgs, { stdio: ["ignore", outFd, outFd], env });
  closeSync(outFd);

  let spawnError: Error | undefined;
  const exited = new Promise<number | null>((resolve) => {
    child.once("error", (err) => {
      spawnError = err;
      resolve(null);
    });
    child.once("exit", (code) => resolve(code));
  });
  let hasExited = false;
  void exited.then(() => {
    hasExited = true;
    tracked.done = true;
  });

  let disposing: Promise<void> | undefined;
  const vm: TestVm = {
    name,
    dir,
    qmpSocket,
    tlsPort,
    disks: disks.map(({ node, path: p }) => ({ node, path: p })),
    pid: child.pid ?? -1,
    serialPath,
    args: qemuArgs,
    serialOutput: () => readText(serialPath).replaceAll("\r", ""),
    stderr: () => readText(stderrPath),
    memoryPath: () => (spec.memfd && !hasExited ? memfdPathOf(vm.pid) : undefined),
    waitForSerial: (pattern, timeoutMs = 30_000, fromOffset = 0) =>
      waitForSerial(vm, () => hasExited, pattern, timeoutMs, fromOffset),
    kill: (signal = "SIGKILL") => {
      if (!hasExited) child.kill(signal);
    },
    exited,
    dispose: () =>
      (disposing ??= (async () => {
        if (!hasExited) {
          child.kill("SIGTERM");
          const timer = sleep(TERM_GRACE_MS).then(() => "timeout" as const);
          if ((await Promise.race([exited, timer])) === "timeout" && !hasExited) child.kill("SIGKILL");
          await exited;
        }
        registry.delete(tracked);
        await rm(dir, { recursive: true, force: true });
      })()),
  };
  const tracked: Tracked = { vm, child, done: false };
  registry.add(tracked);

  const commandAndStderr = () =>
    `QEMU ${QEMU_BINARY} ${qemuArgs.join(" ")}\n--- qemu.stderr ---\n${vm.stderr().slice(-4000)}`;
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  for (;;) {
    let failure: string | undefined;
    if (hasExited || spawnError) {
      const code = await exited;
      failure = `QEMU exited (code ${code}${spawnError ? `, ${spawnError.message}` : ""}) before QMP was ready`;
    } else if (existsSync(qmpSocket) && (await probeMonitor(qmpSocket, 5_000))) {
      return vm;
    } else if (Date.now() > deadline) {
      failure = `no QMP greeting on ${qmpSocket} within ${STARTUP_TIMEOUT_MS} ms`;
    }
    if (failure) {
      const message = `startVm(${name}): ${failure}\n${commandAndStderr()}`; // read stderr before dir goes
      await vm.dispose();
      throw new Error(message);
    }
    await sleep(POLL_MS / 2);
  }
}

async function waitForSerial(
  vm: TestVm,
  hasExited: () => boolean,
  pattern: RegExp,
  timeoutMs: number,
  fromOffset: number,
): Promise<RegExpMatchArray> {
  // A global/sticky regex carries lastIndex between exec calls: search with a stateless copy.
  const re = new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ""));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const exitedBefore = hasExited(); // read before the output, so the last lines are always searched
    const output = vm.serialOutput();
    const match = re.exec(output.slice(fromOffset));
    if (match) {
      match.index = (match.index ?? 0) + fromOffset;
      return match;
    }
    if (exitedBefore || Date.now() > deadline) {
      const why = exitedBefore ? `QEMU exited (code ${await vm.exited})` : `timed out after ${timeoutMs} ms`;
      throw new Error(
        `${vm.name}: ${pattern} not seen on serial (from offset ${fromOffset}): ${why}\n` +
          `--- serial (tail) ---\n${output.slice(-3000)}\n--- qemu.stderr ---\n${vm.stderr().slice(-2000)}`,
      );
    }
    await sleep(POLL_MS);
  }
}

export async function startVms(n: number, opts: VmOptions = {}): Promise<TestVm[]> {
  const started = await Promise.allSettled(
    Array.from({ length: n }, (_, i) => startVm({ ...opts, name: opts.name ? `${opts.name}-${i}` : undefined })),
  );
  const failed = started.find((r): r is PromiseRejectedResult => r.status === "rejected");
  const vms = started.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  if (failed) {
    await Promise.all(vms.map((vm) => vm.dispose()));
    throw failed.reason;
  }
  return vms;
}

export async function disposeAllVms(): Promise<void> {
  await Promise.all([...registry].map((t) => t.vm.dispose()));
}

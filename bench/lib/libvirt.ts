// libvirt's consistent live snapshot, for comparison: `virsh snapshot-create-as --live --memspec …
// --diskspec …` on a transient domain running the same guest kit (same kernel, initrd, command line,
// 1 GiB, q35, TCG). libvirt 9.0 takes it as a pre-copy migration to the memory file while the guest
// runs, pauses at the end, layers the disk, resumes. The bench starts virtlogd and libvirtd itself (no
// systemd; Debian's libvirt-daemon-system, installed here with apt-get when missing and running as
// root) and stops them at the end. Guest pause = QEMU's STOP → RESUME timestamps, read on a second QMP
// monitor added to the domain with <qemu:commandline> (virsh qemu-monitor-event 9.0 prints only its own
// receive time, not QEMU's).
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { connectQmp, type QmpEvent } from "../../lib/qmp";
import { existsSync, readFileSync } from "node:fs";
import { chmod, mkdtemp, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { guestKitVmOptions } from "../../tests/support/guest-kit";
import { BUSY_DIRTY_MIB, GUEST_MEMORY_MIB, pauseFrom, type Load } from "./guest";
import type { SnapshotSample } from "./methods";
import type { BenchContext } from "./context";
import type { MethodRunner } from "../parts/pause";

const run = promisify(execFile);
const URI = "qemu:///system";
export const LIBVIRT_CAP_MS = 10_000;
const virsh = (...args: string[]) => run("virsh", ["-c", URI, ...args], { maxBuffer: 1 << 20, timeout: 600_000 });

interface Daemons {
  stop(): Promise<void>;
}

let daemons: Promise<Daemons> | undefined;

async function which(bin: string): Promise<boolean> {
  return run("sh", ["-c", `command -v ${bin}`]).then(
    () => true,
    () => false,
  );
}

async function ensureInstalled(ctx: BenchContext): Promise<string | undefined> {
  if ((await which("libvirtd")) && (await which("virsh"))) return undefined;
  if (process.getuid?.() !== 0 || !(await which("apt-get")))
    return "libvirtd is not installed (Debian: apt-get install --no-install-recommends libvirt-daemon-system libvirt-clients)";
  ctx.log("installing libvirt (apt-get install --no-install-recommends libvirt-daemon-system libvirt-clients)…");
  try {
    await run("apt-get", ["install", "-y", "--no-install-recommends", "libvirt-daemon-system", "libvirt-clients"], {
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
      timeout: 600_000,
      maxBuffer: 16 << 20,
    });
    return undefined;
  } catch (err) {
    return `libvirt is not installable here: ${(err as Error).message.split("\n")[0]}`;
  }
}

function startDaemon(bin: string): ChildProcess {
  const child = spawn(bin, [], { stdio: "ignore" });
  child.on("error", () => {});
  return child;
}

async function startDaemons(): Promise<Daemons> {
  // Already running (another tool's)? Use it and leave it alone.
  if (
    await virsh("version").then(
      () => true,
      () => false,
    )
  )
    return { stop: async () => {} };
  const logd = startDaemon("virtlogd");
  const libvirtd = startDaemon("libvirtd");
  const deadline = Date.now() + 30_000;
  while (
    !(await virsh("version").then(
      () => true,
      () => false,
    ))
  ) {
    if (Date.now() > deadline || libvirtd.exitCode !== null) {
      libvirtd.kill();
      logd.kill();
      throw new Error("libvirtd did not come up within 30 s");
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  return {
    stop: async () => {
      for (const c of [libvirtd, logd]) {
        if (c.exitCode === null) {
          c.kill("SIGTERM");
          await Promise.race([new Promise((r) => c.once("exit", r)), new Promise((r) => setTimeout(r, 10_000))]);
        }
      }
    },
  };
}

/** Stops the daemons the bench started (run.ts calls it at the end). */
export async function stopLibvirt(): Promise<void> {
  const d = await daemons?.catch(() => undefined); // daemons that failed to start have nothing to stop
  daemons = undefined;
  await d?.stop();
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/'/g, "&apos;");
}

async function waitForSerial(file: string, re: RegExp, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (existsSync(file) && re.test(readFileSync(file, "utf8"))) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${re} not seen on ${file} within ${timeoutMs} ms`);
}

export async function libvirtRunner(ctx: BenchContext): Promise<MethodRunner> {
  const unavailable = await ensureInstalled(ctx);
  return {
    id: "libvirt",
    label: "libvirt 9.0 `snapshot-create-as --live --memspec --diskspec`",
    unavailable,
    async start(load: Load, runNo: number) {
      daemons ??= startDaemons();
      await daemons;
      const dir = await mkdtemp(path.join(os.tmpdir(), "sfb-libvirt-"));
      await chmod(dir, 0o777); // QEMU runs as libvirt-qemu
      const name = `sfb-${load}-${runNo}-${process.pid}`;
      const disk = path.join(dir, "disk0.qcow2");
      await run("qemu-img", ["create", "-q", "-f", "qcow2", disk, "64M"]);
      await chmod(disk, 0o666);
      const serial = path.join(dir, "serial.log");
      const kit = await guestKitVmOptions({
        memoryMiB: GUEST_MEMORY_MIB,
        dirtyMiB: load === "busy" ? BUSY_DIRTY_MIB : 0,
        diskCounter: true,
      });
      const monitor = path.join(dir, "bench-qmp.sock");
      const xml = `<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>${name}</name>
  <memory unit='MiB'>${GUEST_MEMORY_MIB}</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type><kernel>${xmlEscape(kit.kernel!)}</kernel><initrd>${xmlEscape(kit.initrd!)}</initrd><cmdline>${xmlEscape(kit.append!)}</cmdline></os>
  <on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='${xmlEscape(disk)}'/><target dev='vda' bus='virtio'/></disk>
    <serial type='file'><source path='${xmlEscape(serial)}'/><target port='0'/></serial>
    <memballoon model='none'/>
  </devices>
  <qemu:commandline><qemu:arg value='-qmp'/><qemu:arg value='unix:${xmlEscape(monitor)},server=on,wait=off'/></qemu:commandline>
</domain>`;
      const xmlFile = path.join(dir, "domain.xml");
      await import("node:fs/promises").then((fs) => fs.writeFile(xmlFile, xml));
      await virsh("create", xmlFile);
      const qmp = await connectQmp({ kind: "unix", path: monitor });
      const events: QmpEvent[] = [];
      qmp.on(["STOP", "RESUME"], (e) => events.push(e));
      const dispose = async () => {
        await qmp.close().catch(() => {}); // closed already: fine for a dispose
        await virsh("destroy", name).catch(() => {}); // a domain that is gone already needs no destroy
        await rm(dir, { recursive: true, force: true });
      };
      try {
        await waitForSerial(serial, /^READY /m, 90_000);
        if (load === "busy") await waitForSerial(serial, /^RAM CONSISTENT /m, 180_000);
      } catch (err) {
        await dispose();
        throw err;
      }
      return {
        dispose,
        async take(ordinal: number): Promise<SnapshotSample> {
          const from = events.length;
          const mem = path.join(dir, `mem-${ordinal}`);
          const started = performance.now();
          // Like pre-copy, libvirt's live snapshot never converges while the guest dirties RAM faster
          // than the stream: after LIBVIRT_CAP_MS the bench suspends the domain (what an operator does).
          let forced = false;
          const cap = setTimeout(() => {
            forced = true;
            void virsh("suspend", name).catch(() => {}); // the save may have ended meanwhile: nothing to suspend
          }, LIBVIRT_CAP_MS);
          try {
            await virsh(
              "snapshot-create-as",
              "--domain",
              name,
              "--name",
              `s${ordinal}`,
              "--live",
              "--atomic",
              "--no-metadata",
              "--memspec",
              `file=${mem},snapshot=external`,
              "--diskspec",
              `vda,snapshot=external,file=${path.join(dir, `ov-${ordinal}.qcow2`)}`,
            );
          } catch (err) {
            return { ok: false, error: ((err as { stderr?: string }).stderr ?? (err as Error).message).trim() };
          } finally {
            clearTimeout(cap);
          }
          if (forced && /paused/.test((await virsh("domstate", name)).stdout)) await virsh("resume", name);
          const totalMs = performance.now() - started;
          const { pauseMs } = pauseFrom(events, from);
          const bytes = await stat(mem).then(
            (s) => s.size,
            () => undefined, // no file: size unknown
          );
          await rm(mem, { force: true });
          return {
            ok: true,
            pauseMs,
            totalMs,
            bytes,
            note: forced ? `did not converge in ${LIBVIRT_CAP_MS / 1000} s: suspended by the bench` : undefined,
          };
        },
      };
    },
  };
}

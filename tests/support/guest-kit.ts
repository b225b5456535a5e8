// Guest kit for real-QEMU tests: a tiny Linux (host kernel + busybox initramfs) whose PID 1 dirties RAM
// and writes a counter to its disk while checking, continuously, that both are still coherent — so a
// restored snapshot shows on its serial console whether its RAM is point-in-time and whether its disk
// matches its RAM. Owns: building/locating the kit (scripts/guest-kit/build.sh), the kernel command
// line, and parsing the guest's serial lines. Full protocol and formats: header of build.sh.
//
// Serial lines (one per write): "READY …", "tick <t> sweep=<s> disk_n=<n>" every second,
// "DISK CONSISTENT n=<n> checks=<c>" | "DISK MISMATCH ram=<n> disk=<m|invalid>…" after each tick,
// "RAM CONSISTENT sweep=<s> pages=<P>" | "RAM CORRUPT pages=<k> …" at sweep ends (≤ ~1/s).
// Checks run all the time (verify-before-rewrite), and results are cumulative since boot. A snapshot may
// fall between a check and its report line, so after a restore the SECOND report of each kind is the
// first that covers the whole restored state (with the final CORRUPT page count); a MISMATCH/CORRUPT
// line means failure as soon as it appears. waitForGuestVerdict() applies this rule.
//
// How a restore must be started (the vmstate names RAM blocks and devices; any difference is refused):
//   1. top = new qcow2 over the snapshot's disk: createOverlay(snapshotDisk, top) — never write the
//      snapshot's own file;
//   2. startVm({ ...await guestKitVmOptions(sameOptsAsSource), incoming: true, diskPaths: [top] }) —
//      same -m, same memoryBackend (its id is mem0), same devices in the same order (vd0…, serial),
//      same kernel/initrd/append (7.2 restored without them too, but identical is the safe rule);
//   3. QMP: qmp_capabilities; migrate-incoming {"uri":"exec:cat '<vmstate>'"}; poll query-migrate until
//      "completed" (or "failed": QEMU then exits); cont;
//   4. waitForGuestVerdict(vm) → { ram, disk }.
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { startVm, type TestVm, type VmOptions } from "./qemu";

const execFileAsync = promisify(execFile);
const BUILD_SCRIPT = path.resolve(import.meta.dirname, "../../scripts/guest-kit/build.sh");

export interface GuestKit {
  kernel: string;
  initrd: string;
  /** initrd plus the guest agent's archive (qemu-ga, virtio_console, ext4): for runAgent. */
  initrdAgent: string;
}

export interface GuestKitOptions extends VmOptions {
  /** RAM dirtier/checker buffer in MiB (default 32; 0 = off). Must fit in memoryMiB with ~100 MiB to spare. */
  dirtyMiB?: number;
  /** RAM written once at boot and then left alone, in MiB (default 0): a resident, idle guest. */
  fillMiB?: number;
  /** Counter on /dev/vda (the first disk), checked against RAM (default true). */
  diskCounter?: boolean;
  /** One disk check+write every diskIntervalMs (default 50). */
  diskIntervalMs?: number;
  /** Wait for the READY line before resolving (default true; boot ≈ 5 s under TCG). */
  waitForReady?: boolean;
  /**
   * A guest agent channel: virtio-serial port org.qemu.guest_agent.0 on chardev "qga0", a unix socket
   * QEMU listens on at this path. Alone, nothing in the guest reads it (an agent that never answers).
   */
  agentSocket?: string;
  /**
   * Run qemu-ga in the guest on that channel (needs agentSocket and a second disk: the agent freezes an
   * ext2 filesystem the guest makes on /dev/vdb, mounted at /data). The AGENT line precedes READY.
   */
  runAgent?: boolean;
}

/** Kernel command-line defaults; memory default leaves room for the kernel (~60 MiB) plus the buffer. */
const DEFAULT_MEMORY_MIB = 192;
const DEFAULT_DIRTY_MIB = 32;
const READY_TIMEOUT_MS = 60_000;

let kitPromise: Promise<GuestKit> | undefined;

/** Builds the kit once (cached on disk; build.sh locks, so parallel test files are safe). */
export function ensureGuestKit(): Promise<GuestKit> {
  kitPromise ??= (async () => {
    try {
      const { stdout } = await execFileAsync("bash", [BUILD_SCRIPT], { maxBuffer: 1 << 20 });
      const kernel = /^kernel=(.+)$/m.exec(stdout)?.[1];
      const initrd = /^initrd=(.+)$/m.exec(stdout)?.[1];
      const initrdAgent = /^initrd_agent=(.+)$/m.exec(stdout)?.[1];
      if (!kernel || !initrd || !initrdAgent) throw new Error(`unexpected build.sh output: ${stdout}`);
      return { kernel, initrd, initrdAgent };
    } catch (err) {
      kitPromise = undefined; // let a later call retry (e.g. after installing a missing package)
      const e = err as Error & { stderr?: string };
      throw new Error(`guest kit build failed: ${e.message}\n${e.stderr ?? ""}`, { cause: err });
    }
  })();
  return kitPromise;
}

/** The exact VmOptions of a guest-kit VM: use them unchanged (plus incoming/diskPaths) for a restore. */
export async function guestKitVmOptions(opts: GuestKitOptions = {}): Promise<VmOptions> {
  const {
    dirtyMiB,
    fillMiB,
    diskCounter,
    diskIntervalMs,
    agentSocket,
    runAgent,
    waitForReady: _ignored,
    ...vmOptions
  } = opts;
  const kit = await ensureGuestKit();
  const append = [
    "console=ttyS0",
    "quiet", // kernel messages would interleave with the checkers' lines
    "panic=-1",
    `snapfleet.dirty_mib=${dirtyMiB ?? DEFAULT_DIRTY_MIB}`,
    ...(fillMiB ? [`snapfleet.fill_mib=${fillMiB}`] : []),
    `snapfleet.disk=${diskCounter === false ? 0 : 1}`,
    `snapfleet.disk_ms=${diskIntervalMs ?? 50}`,
    ...(runAgent ? ["snapfleet.agent=1"] : []),
  ].join(" ");
  const agentArgs = agentSocket
    ? [
        "-device",
        "virtio-serial-pci,id=vser0",
        "-chardev",
        `socket,id=qga0,path=${agentSocket.replaceAll(",", ",,")},server=on,wait=off`,
        "-device",
        "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0",
      ]
    : [];
  return {
    ...vmOptions,
    memoryMiB: vmOptions.memoryMiB ?? DEFAULT_MEMORY_MIB,
    kernel: kit.kernel,
    initrd: runAgent ? kit.initrdAgent : kit.initrd,
    append,
    // A guest panic (panic=-1 reboots) ends QEMU instead of rebooting into a fresh, innocent-looking run.
    extraArgs: ["-no-reboot", ...agentArgs, ...(vmOptions.extraArgs ?? [])],
  };
}

export async function startGuestKitVm(opts: GuestKitOptions = {}): Promise<TestVm> {
  const vm = await startVm(await guestKitVmOptions(opts));
  if (opts.waitForReady !== false && !opts.incoming) {
    try {
      // Under TCG the guest writes its fill at roughly 0.2–1 GiB/s: allow for it on top of the boot.
      const m = await vm.waitForSerial(
        /^(READY .*|FAILED)\n/m,
        READY_TIMEOUT_MS + ((opts.fillMiB ?? 0) / 1024) * 30_000,
      );
      if (m[1] === "FAILED") throw new Error(`${vm.name}: guest kit set-up failed\n${vm.serialOutput().slice(-2000)}`);
    } catch (err) {
      await vm.dispose();
      throw err;
    }
  }
  return vm;
}

export interface GuestTick {
  tick: number;
  sweep: number;
  diskN: number;
}

/** Complete tick lines only (the log may end in a half-written line). */
export function parseGuestTicks(output: string): GuestTick[] {
  return [...output.matchAll(/^tick (\d+) sweep=(\d+) disk_n=(\d+)\n/gm)].map((m) => ({
    tick: Number(m[1]),
    sweep: Number(m[2]),
    diskN: Number(m[3]),
  }));
}

export type RamVerdict =
  { status: "consistent"; sweep: number } | { status: "corrupt"; corruptPages: number; line: string };
export type DiskVerdict =
  { status: "consistent"; n: number } | { status: "mismatch"; ram: number; disk: number | "invalid"; line: string };

export interface GuestVerdict {
  ram?: RamVerdict;
  disk?: DiskVerdict;
}

const RAM_LINE = /^RAM (CONSISTENT sweep=(\d+)|CORRUPT pages=(\d+))[^\n]*\n/gm;
const DISK_LINE = /^DISK (CONSISTENT n=(\d+)|MISMATCH ram=(\d+) disk=(\d+|invalid))[^\n]*\n/gm;

// Reports are cumulative since boot, so the second one after a restore is the verdict (see header).
function ramVerdict(lines: RegExpMatchArray[]): RamVerdict | undefined {
  const second = lines[1];
  if (!second) return undefined;
  if (second[3] !== undefined) return { status: "corrupt", corruptPages: Number(second[3]), line: second[0].trim() };
  return { status: "consistent", sweep: Number(second[2]) };
}

function diskVerdict(lines: RegExpMatchArray[]): DiskVerdict | undefined {
  const second = lines[1];
  if (!second) return undefined;
  if (second[3] !== undefined) {
    return {
      status: "mismatch",
      ram: Number(second[3]),
      disk: second[4] === "invalid" ? "invalid" : Number(second[4]),
      line: second[0].trim(),
    };
  }
  return { status: "consistent", n: Number(second[2]) };
}

/**
 * Waits for the second RAM and the second DISK report after `fromOffset` (default: the whole log —
 * right for a restored QEMU, whose serial log starts empty) and returns what they say: by then every
 * page and the disk record have been checked after the restore (≈ 2 s). Pass ram/disk false for a
 * guest started without that checker.
 */
export async function waitForGuestVerdict(
  vm: TestVm,
  opts: { fromOffset?: number; timeoutMs?: number; ram?: boolean; disk?: boolean } = {},
): Promise<GuestVerdict> {
  const { fromOffset = 0, timeoutMs = 30_000, ram = true, disk = true } = opts;
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void vm.exited.then(() => (exited = true));
  for (;;) {
    const exitedBefore = exited; // read before the output: the last lines are always considered
    const output = vm.serialOutput().slice(fromOffset);
    const verdict: GuestVerdict = {
      ram: ram ? ramVerdict([...output.matchAll(RAM_LINE)]) : undefined,
      disk: disk ? diskVerdict([...output.matchAll(DISK_LINE)]) : undefined,
    };
    if ((!ram || verdict.ram) && (!disk || verdict.disk)) return verdict;
    if (exitedBefore || Date.now() > deadline) {
      throw new Error(
        `${vm.name}: no guest verdict (${exitedBefore ? "QEMU exited" : `timeout ${timeoutMs} ms`}); so far ` +
          `${JSON.stringify(verdict)}\n--- serial (tail) ---\n${output.slice(-3000)}\n--- qemu.stderr ---\n${vm.stderr().slice(-2000)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Layout of a dirtier page (scripts/guest-kit/snapfleet-guest.c): u64 LE magic, generation, index, … */
export const GUEST_RAM_MAGIC = 0x31544c4650414e53n; // "SNAPFLT1"
export const GUEST_PAGE_SIZE = 4096;

export function parseGuestPageHeader(buf: Buffer, offset = 0): { gen: bigint; index: bigint } | undefined {
  if (buf.length < offset + 24 || buf.readBigUInt64LE(offset) !== GUEST_RAM_MAGIC) return undefined;
  return { gen: buf.readBigUInt64LE(offset + 8), index: buf.readBigUInt64LE(offset + 16) };
}

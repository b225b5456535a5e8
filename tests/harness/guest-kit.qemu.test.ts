// Tests of the guest kit against real QEMU: it boots and works (READY, ticks, a growing disk counter),
// and its checkers give the right verdict on restored states built by hand with plain QMP:
//   same-instant disk + RAM            → DISK CONSISTENT, RAM CONSISTENT  (positive control)
//   disk older than RAM                → DISK MISMATCH                   (negative control, disk)
//   some RAM pages from an older image → RAM CORRUPT pages=<exactly those> (negative control, RAM)
// States are captured from a *stopped* source with a regular migration to a file (safe and quick, no
// background-snapshot: QEMU.md §2 traps do not apply) and a qemu-img copy of its disk.
import { execFile } from "node:child_process";
import { closeSync, openSync, readSync, writeSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  GUEST_PAGE_SIZE,
  guestKitVmOptions,
  parseGuestPageHeader,
  parseGuestTicks,
  startGuestKitVm,
  waitForGuestVerdict,
  type GuestKitOptions,
} from "../support/guest-kit";
import { createOverlay, disposeAllVms, startVm, type TestVm } from "../support/qemu";
import { RawQmp, waitForMigration } from "./raw-qmp";

const execFileAsync = promisify(execFile);

// Restores must use these exact options again (same -m, backend id, kernel/initrd/append, devices).
const GUEST: GuestKitOptions = { name: "kit", memoryMiB: 160, dirtyMiB: 16, diskCounter: true, memoryBackend: "memfd" };

let work: string;
let source: TestVm;
let sourceQmp: RawQmp;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), "snapfleet-test-kit-"));
  source = await startGuestKitVm(GUEST);
  sourceQmp = (await RawQmp.connect(source.qmpSocket)).qmp;
});

afterAll(async () => {
  sourceQmp?.close();
  await disposeAllVms();
  if (work) await rm(work, { recursive: true, force: true });
});

/** Waits for `count` more complete tick lines after the current end of the serial log. */
async function waitTicks(vm: TestVm, count: number) {
  const from = vm.serialOutput().length;
  let offset = from;
  for (let i = 0; i < count; i++) {
    const m = await vm.waitForSerial(/^tick [^\n]*\n/m, 15_000, offset);
    offset = (m.index ?? 0) + m[0].length;
  }
  return parseGuestTicks(vm.serialOutput().slice(from));
}

describe("guest kit boot", () => {
  it("prints READY, then advancing ticks, a growing disk counter and consistent reports", async () => {
    const out = source.serialOutput();
    expect(out).toMatch(/^READY dirty_mib=16 pages=4096 disk=\/dev\/vda$/m);
    expect(out).toMatch(/^DISK START n=0 dev=\/dev\/vda$/m);
    const ticks = await waitTicks(source, 3);
    expect(ticks.length).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < ticks.length; i++) {
      expect(ticks[i].tick).toBe(ticks[i - 1].tick + 1);
      expect(ticks[i].sweep).toBeGreaterThan(ticks[i - 1].sweep); // the dirtier keeps rewriting RAM
      expect(ticks[i].diskN).toBeGreaterThan(ticks[i - 1].diskN); // and the counter keeps hitting the disk
    }
    const verdict = await waitForGuestVerdict(source);
    expect(verdict.ram).toMatchObject({ status: "consistent" });
    expect(verdict.disk).toMatchObject({ status: "consistent" });
  });
});

describe("checkers on restored states", () => {
  const diskA = () => path.join(work, "disk-a.qcow2");
  const diskB = () => path.join(work, "disk-b.qcow2");
  const ramA = () => path.join(work, "ram-a.mig");
  const ramB = () => path.join(work, "ram-b.mig");
  /** Dirtier pages of the source's RAM at instant A: memfd offset → page bytes. */
  const stalePages = new Map<number, Buffer>();

  /** Disk, raw RAM sample and vmstate of the stopped source, all at one instant. */
  async function capture(disk: string, vmstate: string, sampleRam: boolean) {
    await execFileAsync("qemu-img", ["convert", "-U", "-O", "qcow2", source.disks[0].path, disk]);
    if (sampleRam) sampleDirtierPages(source.memoryPath()!, 12);
    await sourceQmp.execute("migrate", { uri: `exec:cat > '${vmstate}'` });
    await waitForMigration(sourceQmp);
  }

  /** Keeps `count` dirtier pages spread over the buffer (pages whose index is a multiple of 256). */
  function sampleDirtierPages(memfd: string, count: number) {
    const fd = openSync(memfd, "r");
    const chunk = Buffer.alloc(1 << 20);
    try {
      for (let offset = 0; stalePages.size < count; offset += chunk.length) {
        const n = readSync(fd, chunk, 0, chunk.length, offset);
        if (n <= 0) break;
        for (let p = 0; p + GUEST_PAGE_SIZE <= n && stalePages.size < count; p += GUEST_PAGE_SIZE) {
          const header = parseGuestPageHeader(chunk, p);
          if (header && header.index % 256n === 0n)
            stalePages.set(offset + p, Buffer.from(chunk.subarray(p, p + GUEST_PAGE_SIZE)));
        }
      }
    } finally {
      closeSync(fd);
    }
  }

  beforeAll(async () => {
    // Instant A: everything captured while stopped; then the guest runs on (counter and sweeps advance).
    await sourceQmp.execute("stop");
    await capture(diskA(), ramA(), true);
    expect(stalePages.size).toBe(12);
    await sourceQmp.execute("cont"); // from postmigrate: QEMU re-activates the disks itself
    await waitTicks(source, 2);
    // Instant B.
    await sourceQmp.execute("stop");
    await capture(diskB(), ramB(), false);
    sourceQmp.close();
    await source.dispose(); // frees a core for the restores
  });

  /** Boots nothing: loads `vmstate` into a fresh paused QEMU over a new top image on `disk`, then runs it. */
  async function restore(disk: string, vmstate: string, beforeCont?: (vm: TestVm) => void) {
    const top = path.join(work, `top-${path.basename(vmstate)}-${Date.now()}.qcow2`);
    await createOverlay(disk, top);
    const vm = await startVm({
      ...(await guestKitVmOptions(GUEST)),
      name: "restored",
      incoming: true,
      diskPaths: [top],
    });
    const { qmp } = await RawQmp.connect(vm.qmpSocket);
    try {
      await qmp.execute("migrate-incoming", { uri: `exec:cat '${vmstate}'` });
      await waitForMigration(qmp);
      beforeCont?.(vm);
      await qmp.execute("cont");
      return { vm, verdict: await waitForGuestVerdict(vm) };
    } finally {
      qmp.close();
    }
  }

  it("positive control: disk and RAM of one instant → DISK CONSISTENT and RAM CONSISTENT", async () => {
    const { vm, verdict } = await restore(diskA(), ramA());
    expect(verdict.disk).toMatchObject({ status: "consistent" });
    expect(verdict.ram).toMatchObject({ status: "consistent" });
    expect(vm.serialOutput()).not.toMatch(/^READY/m); // it resumed, it did not boot
    await vm.dispose();
  });

  it("negative control: disk from an earlier instant than RAM → DISK MISMATCH ram > disk", async () => {
    const { vm, verdict } = await restore(diskA(), ramB());
    expect(verdict.disk).toMatchObject({ status: "mismatch" });
    if (verdict.disk?.status !== "mismatch" || verdict.disk.disk === "invalid")
      throw new Error("expected a valid disk record");
    expect(verdict.disk.ram).toBeGreaterThan(verdict.disk.disk);
    expect(vm.serialOutput()).toMatch(/^DISK MISMATCH ram=\d+ disk=\d+$/m);
    expect(verdict.ram).toMatchObject({ status: "consistent" }); // RAM itself is one instant
    await vm.dispose();
  });

  it("negative control: RAM pages from an earlier instant → RAM CORRUPT counting exactly those pages", async () => {
    let planted = 0;
    const { vm, verdict } = await restore(diskB(), ramB(), (restored) => {
      // Paused after the load: overwrite some dirtier pages with their (valid, but older) content
      // from instant A — what a snapshot that saved those pages at the wrong time would contain.
      const fd = openSync(restored.memoryPath()!, "r+");
      const current = Buffer.alloc(GUEST_PAGE_SIZE);
      try {
        for (const [offset, old] of stalePages) {
          readSync(fd, current, 0, GUEST_PAGE_SIZE, offset);
          const now = parseGuestPageHeader(current);
          const then = parseGuestPageHeader(old)!;
          if (now?.index !== then.index || now.gen === then.gen) continue; // page moved or unchanged
          writeSync(fd, old, 0, GUEST_PAGE_SIZE, offset);
          planted++;
        }
      } finally {
        closeSync(fd);
      }
    });
    expect(planted).toBeGreaterThanOrEqual(8);
    expect(verdict.ram).toMatchObject({ status: "corrupt", corruptPages: planted });
    expect(verdict.disk).toMatchObject({ status: "consistent" });
    await vm.dispose();
  });
});

// Restoring a guest-kit snapshot for the consistency proofs: a fresh QEMU started like the source
// (-incoming defer) over a NEW image holding the snapshot's disk state (a copy of the internal snapshot
// inside the VM's image, or a new top over an old-style frozen image), the vmstate loaded by QEMU itself
// (`exec:cat`), then run until the guest's own checkers give their verdict. QEMU reads the file: a Node
// writer piping it into a socket races QEMU closing the channel when the load is done, and once failed
// a CI run with "Premature close" (QEMU 10) although nothing was wrong with the snapshot.
// expectRestoresConsistent is the proof most tests want: restored, and both checkers say consistent.
import path from "node:path";
import { expect } from "vitest";
import { connectQmp } from "../../lib/qmp";
import { guestKitVmOptions, waitForGuestVerdict, type GuestKitOptions, type GuestVerdict } from "./guest-kit";
import { createOverlay, exportInternalSnapshot, startVm, type TestVm } from "./qemu";
import { until } from "./wait";

const LOAD_TIMEOUT_MS = 60_000;

/**
 * Loads `vmstate` over the snapshot's disk state — internal snapshot `internalSnapshot` of `disk`, or
 * (old-style snapshots) `disk` itself as a frozen backing file — into a VM started with the source's
 * `guest` options, runs it, and returns its verdict with the still running VM (the caller disposes it).
 */
export async function restoreGuestKitSnapshot(
  guest: GuestKitOptions,
  snapshot: { disk: string; internalSnapshot?: string; vmstate: string },
  opts: { work: string; name: string },
): Promise<{ vm: TestVm; verdict: GuestVerdict }> {
  const top = path.join(opts.work, `${opts.name}-top.qcow2`);
  // Never write the snapshot's own file.
  if (snapshot.internalSnapshot) await exportInternalSnapshot(snapshot.disk, snapshot.internalSnapshot, top);
  else await createOverlay(snapshot.disk, top);
  const vm = await startVm({ ...(await guestKitVmOptions(guest)), name: opts.name, incoming: true, diskPaths: [top] });
  const qmp = await connectQmp({ kind: "unix", path: vm.qmpSocket });
  try {
    await qmp.execute("migrate-incoming", { uri: `exec:cat '${snapshot.vmstate.replaceAll("'", "'\\''")}'` });
    const info = await until(
      async () => {
        const i = await qmp.queryMigrate();
        return i.status === "completed" || i.status === "failed" ? i : undefined;
      },
      "QEMU to load the vmstate",
      LOAD_TIMEOUT_MS,
    );
    if (info.status === "failed") throw new Error(info["error-desc"] ?? "failed");
    await qmp.cont();
  } catch (err) {
    // A vmstate QEMU refuses makes it exit: its stderr says why.
    throw new Error(
      `loading ${snapshot.vmstate} into ${opts.name}: ${(err as Error).message}\n--- qemu.stderr ---\n${vm.stderr().slice(-2000)}`,
      { cause: err },
    );
  } finally {
    await qmp.close();
  }
  return { vm, verdict: await waitForGuestVerdict(vm, { timeoutMs: LOAD_TIMEOUT_MS }) };
}

/**
 * Restores the snapshot whose artifacts are `files` (its disk and its vmstate) with
 * restoreGuestKitSnapshot and expects the guest's own checkers to find its RAM and disk consistent.
 * Returns the still running restored VM (the caller disposes it).
 */
export async function expectRestoresConsistent(
  guest: GuestKitOptions,
  files: ReadonlyArray<{ role: string; path: string; internalSnapshot?: string }>,
  opts: { work: string; name: string },
): Promise<TestVm> {
  const disk = files.find((f) => f.role === "disk")!;
  const vmstate = files.find((f) => f.role === "vmstate")!;
  const { vm, verdict } = await restoreGuestKitSnapshot(
    guest,
    { disk: disk.path, internalSnapshot: disk.internalSnapshot, vmstate: vmstate.path },
    opts,
  );
  expect(verdict.ram).toMatchObject({ status: "consistent" });
  expect(verdict.disk).toMatchObject({ status: "consistent" });
  return vm;
}

// A dashboard killed between the guest agent's freeze and its thaw (docs/quiesce.md): crash recovery thaws
// the guest (crash-undo.ts VmUndo.fsFrozen, quiesce.ts thawAfterCrash). Real parts: a guest-kit VM running
// Debian's qemu-ga (ext2 on /data), real PostgreSQL, and a stand-in dashboard process
// (fixtures/dashboard-stand-in.ts "freeze": the production runSnapshot, disks-only with quiesce, its
// onUndoChange writing the job row) whose pause write is held back, so it sits frozen until SIGKILLed.
//   - the agent answers the next sweep: the guest's fsfreeze status is "thawed" again and the failed
//     job's message says the filesystems were thawed;
//   - the agent's socket held by another client during the first sweep (QEMU serves one client: the
//     sweep's channel gets no answer): the job is settled anyway, its message saying the thaw is sent
//     again, the row keeps the record; once the socket is free, the next sweep thaws the guest.
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "../../lib/db/client";
import type { Host, Vm } from "../../lib/db/generated/client";
import { readLaunchFacts } from "../../lib/fleet/launch-facts";
import { closeAllVmSessions, getVmSession } from "../../lib/fleet/sessions";
import { GuestAgentChannel } from "../../lib/guest-agent/channel";
import { logger } from "../../lib/logger";
import { planArtifacts } from "../../lib/snapshots/artifacts";
import { parseVmUndo } from "../../lib/snapshots/crash-undo";
import { vmDirName } from "../../lib/snapshots/jobs";
import { recoverInterruptedSnapshots } from "../../lib/snapshots/recovery";
import { useTestDatabase } from "../support/db";
import { startGuestKitVm } from "../support/guest-kit";
import { expectGuestAdvances } from "../support/guest-progress";
import { seedLocalHost } from "../support/local-host";
import { disposeAllVms, type TestVm } from "../support/qemu";
import { killStandIns, startDashboard } from "./fixtures/stand-in-dashboard";

useTestDatabase();
const log = logger.child({ test: "thaw-after-crash" });
log.level = "error";

/** Recovery's bound on the agent conversation (SNAPFLEET_QUIESCE_TIMEOUT_MS, as an operator sets it). */
const BOUND_MS = 2_000;
let root: string;
let vm: TestVm;
let host: Host;
let vmRow: Vm;
let argv: string[];
const agentSocket = () => path.join(root, "qt-qga.sock");

beforeAll(async () => {
  process.env.SNAPFLEET_QUIESCE_TIMEOUT_MS = String(BOUND_MS);
  root = await mkdtemp(path.join(os.tmpdir(), "snapfleet-thaw-"));
  vm = await startGuestKitVm({
    name: "qt",
    memoryMiB: 160,
    dirtyMiB: 8,
    disks: 2,
    agentSocket: agentSocket(),
    runAgent: true,
  });
  expect(vm.serialOutput()).toMatch(/^AGENT port=\/dev\/vport\S+ fs=\/dev\/vdb$/m);
  const seeded = await seedLocalHost(root, [vm]);
  host = seeded.host;
  vmRow = seeded.vms[0]!;
  // What discovery records: the VM's command line (where its agent channel is declared).
  const launch = await readLaunchFacts(host, vmRow.endpoint, await getVmSession(vmRow.id));
  expect(launch.guestAgent).toBe(true);
  argv = launch.argv!;
  await closeAllVmSessions(); // QEMU serves one monitor client: the stand-in dashboard is the next
}, 180_000);

afterAll(async () => {
  delete process.env.SNAPFLEET_QUIESCE_TIMEOUT_MS;
  killStandIns();
  await closeAllVmSessions();
  await disposeAllVms();
  if (root) await rm(root, { recursive: true, force: true });
});

const connect = () =>
  new Promise<net.Socket>((resolve, reject) => {
    const s = net.createConnection(agentSocket());
    s.once("connect", () => resolve(s));
    s.once("error", reject);
  });

/** The test's own channel to the guest's agent, synchronised. */
async function agentChannel(): Promise<GuestAgentChannel> {
  const c = await GuestAgentChannel.open(connect, 5_000);
  await c.sync(10_000);
  return c;
}

async function freezeStatus(): Promise<string> {
  const c = await agentChannel();
  try {
    return await c.fsfreezeStatus(10_000);
  } finally {
    c.close();
  }
}

/**
 * A disks-only quiesced job in `setup` with its ledger (as the job layer writes them), run by a stand-in
 * dashboard until its guest is frozen, then SIGKILLed there.
 */
async function dashboardKilledWhileFrozen(): Promise<string> {
  await closeAllVmSessions(); // QEMU serves one monitor client: recovery's session from before lets the stand-in in
  const row = await db().snapshot.create({
    data: {
      vmId: vmRow.id,
      hostId: host.id,
      mode: "disks_only",
      quiesce: true,
      status: "setup",
      history: { create: [{ status: "queued" }, { status: "preflight" }, { status: "setup" }] },
    },
  });
  const targetDir = path.join(host.snapshotDir, vmDirName(vmRow), row.id);
  const disks = vm.disks.map((d, i) => ({ device: `disk${i}`, image: d.path }));
  await db().snapshot.update({
    where: { id: row.id },
    data: { artifacts: planArtifacts({ targetDir, disks, snapshotId: row.id }) },
  });

  const dashboard = startDashboard({
    mode: "freeze",
    qmpSocket: vm.qmpSocket,
    argv,
    snapshotRoot: host.snapshotDir,
    vmDirName: vmDirName(vmRow),
    snapshotId: row.id,
  });
  // Recorded before the freeze was written, and the run is past the freeze: it waits in its pause write.
  const reported = await dashboard.next((l) => !!(l.undo as { fsFrozen?: unknown } | null)?.fsFrozen);
  expect(reported.undo).toEqual({ guestStopped: true, fsFrozen: { agentSocket: agentSocket() } });
  await dashboard.next((l) => l.holding === "pause");
  await dashboard.kill();

  // What the dead dashboard left: the record on its row, and a guest whose filesystems stay frozen.
  const left = await db().snapshot.findUniqueOrThrow({ where: { id: row.id } });
  expect(parseVmUndo(left.undoOnCrash)).toEqual({ guestStopped: true, fsFrozen: { agentSocket: agentSocket() } });
  return row.id;
}

const THAWED =
  "the guest's filesystems, which Snapfleet had frozen for the snapshot, were thawed (1 filesystem, through its guest agent)";

describe("a dashboard killed between the agent's freeze and its thaw", () => {
  it("the next sweep thaws the guest, and the job's message says so", async () => {
    const id = await dashboardKilledWhileFrozen();
    expect(await freezeStatus()).toBe("frozen");

    expect(await recoverInterruptedSnapshots(log)).toBe(1);
    expect(await freezeStatus()).toBe("thawed");
    const row = await db().snapshot.findUniqueOrThrow({ where: { id } });
    expect(row.status).toBe("failed");
    expect(row.errorMessage).toContain(`On the VM: ${THAWED}.`);
    // Nothing left to undo: later sweeps leave the job alone.
    expect(row.undoOnCrash).toBeNull();
    await expectGuestAdvances(vm);
  });

  it("an agent that cannot be reached during the sweep: the job is settled saying the thaw is retried, and the next sweep thaws", async () => {
    const id = await dashboardKilledWhileFrozen();
    // The test holds the agent's one client slot: the sweep's channel is accepted by nobody.
    const holder = await agentChannel();
    try {
      expect(await holder.fsfreezeStatus(10_000)).toBe("frozen");
      expect(await recoverInterruptedSnapshots(log)).toBe(1);
      const settled = await db().snapshot.findUniqueOrThrow({ where: { id } });
      expect(settled.status).toBe("failed");
      expect(settled.errorMessage).toMatch(
        /the guest agent did not answer guest-sync-delimited within 2 s: the guest's filesystems may still be frozen; the next recovery sweep sends guest-fsfreeze-thaw again/,
      );
      expect(parseVmUndo(settled.undoOnCrash)?.fsFrozen).toEqual({ agentSocket: agentSocket() });
      expect(await holder.fsfreezeStatus(10_000)).toBe("frozen");
    } finally {
      holder.close();
    }

    expect(await recoverInterruptedSnapshots(log)).toBe(0); // nothing in flight: only the thaw was left
    expect(await freezeStatus()).toBe("thawed");
    const row = await db().snapshot.findUniqueOrThrow({ where: { id } });
    expect(parseVmUndo(row.undoOnCrash)).toEqual({ done: [THAWED] });
    await expectGuestAdvances(vm);
  });
});

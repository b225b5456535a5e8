// Measurement, not a test (run by hand; prints figures): guest pause and throughput of live and
// ram-only snapshots of a 1 GiB guest-kit VM rewriting 256 MiB of RAM, first and second snapshot of the
// same QEMU process, through lib/snapshots/run-snapshot.ts exactly as the product takes them.
//   tsx tests/snapshots/measure-1gib.ts [dirtyMiB=256] [memoryMiB=1024]
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Host } from "../../lib/db/generated/client";
import { hostFilesFor } from "../../lib/fleet/host-files";
import { connectQmp } from "../../lib/qmp";
import { deleteInternalSnapshot } from "../../lib/snapshots/internal-snapshots";
import { runSnapshot } from "../../lib/snapshots/run-snapshot";
import type { SnapshotModeName } from "../../lib/validations/snapshot";
import { startGuestKitVm } from "../support/guest-kit";
import { disposeAllVms } from "../support/qemu";

const dirtyMiB = Number(process.argv[2] ?? 256);
const memoryMiB = Number(process.argv[3] ?? 1024);
const MB = 1e6;

async function measure(mode: SnapshotModeName): Promise<void> {
  const root = await mkdtemp(path.join(os.tmpdir(), "sf-measure-"));
  const vm = await startGuestKitVm({ name: `m-${mode}`, memoryMiB, dirtyMiB, diskCounter: true });
  const qmp = await connectQmp({ kind: "unix", path: vm.qmpSocket });
  try {
    await vm.waitForSerial(/^RAM CONSISTENT [^\n]*\n/m, 120_000); // the dirtier has filled its buffer once
    for (const run of ["1st", "2nd"]) {
      const r = await runSnapshot({
        qmp,
        snapshotId: randomUUID(),
        mode,
        vmDirName: "m",
        hostKind: "local",
        hostFiles: hostFilesFor({ kind: "local" } as Host),
        snapshotRoot: root,
        hooks: { onPlan: async () => {}, onStatus: async () => {} },
      });
      if (r.status !== "completed") throw new Error(`${mode} ${run}: ${r.error?.message}`);
      const m = r.metrics;
      const vmstate = r.files.find((f) => f.role === "vmstate")!;
      console.log(
        `${mode.padEnd(8)} ${run}: guest pause ${m.guestPauseMs?.toFixed(1)} ms | QEMU downtime ${m.qemuDowntimeMs} ms | ` +
          `setup ${m.setupMs} ms | total ${(m.totalMs! / 1000).toFixed(2)} s | vmstate ${(vmstate.sizeBytes / MB).toFixed(0)} MB | ` +
          `throughput ${(m.throughputBytesPerSec! / MB).toFixed(0)} MB/s`,
      );
      for (const d of r.files.filter((f) => f.internalSnapshot))
        await deleteInternalSnapshot({ image: d.path, name: d.internalSnapshot! }, qmp);
      await rm(r.targetDir, { recursive: true, force: true });
    }
  } finally {
    await qmp.close();
    await vm.dispose();
    await rm(root, { recursive: true, force: true });
  }
}

console.log(
  `${memoryMiB} MiB guest-kit VM, ${dirtyMiB} MiB rewritten continuously; ${os.cpus().length} CPUs (${os.cpus()[0]?.model}), load ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(" ")}`,
);
try {
  await measure("live");
  await measure("ram-only");
} finally {
  await disposeAllVms();
}

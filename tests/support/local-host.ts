// The local host most real-QEMU tests run on: a `local` Host row whose snapshot directory is
// <root>/snaps (created), and a running VM row per test VM, reached at the VM's own QMP socket.
import { mkdirSync } from "node:fs";
import path from "node:path";
import { db } from "../../lib/db/client";
import type { Host, Vm } from "../../lib/db/generated/client";
import type { TestVm } from "./qemu";

export async function seedLocalHost(root: string, vms: TestVm[]): Promise<{ host: Host; vms: Vm[] }> {
  const host = await db().host.create({
    data: { name: "local", kind: "local", socketDir: root, snapshotDir: path.join(root, "snaps") },
  });
  mkdirSync(host.snapshotDir);
  const rows: Vm[] = [];
  for (const vm of vms) {
    rows.push(
      await db().vm.create({
        data: { hostId: host.id, name: vm.name, endpoint: vm.qmpSocket, state: "running", bgSnapshotSupported: true },
      }),
    );
  }
  return { host, vms: rows };
}

// A VM row as discovery stores a running QEMU 7.2 guest (512 MiB, one writable 1 GiB qcow2 disk), for
// tests that need the database's view of a VM and no QEMU: its monitor socket, in `dir`, has no listener.
import path from "node:path";
import { db } from "../../lib/db/client";
import type { Host, Vm } from "../../lib/db/generated/client";

const GiB = 1024 ** 3;

/** Creates the row; `data` overrides any column (`disks` as the JSON discovery stores). */
export function createVmRow(
  host: Host,
  name: string,
  dir: string,
  data: Partial<Omit<Vm, "disks">> & { disks?: unknown } = {},
): Promise<Vm> {
  const disk = { node: "disk0", device: "vd0", format: "qcow2", writable: true, sizeBytes: GiB };
  return db().vm.create({
    data: {
      hostId: host.id,
      name,
      endpoint: path.join(dir, `${name}.sock`),
      state: "running",
      bgSnapshotSupported: true,
      qemuVersion: "7.2.0",
      memoryBytes: BigInt(512 * 1024 ** 2),
      disks: [{ ...disk, file: path.join(dir, `${name}.qcow2`) }],
      ...data,
    } as never,
  });
}

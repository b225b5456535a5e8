// Helpers for the fleet tests: a directory of QMP sockets like a hypervisor's /run/snapfleet/qmp, and
// VMs that expose their monitor there. Each VM keeps the harness's own monitor (vm.qmpSocket) as a
// SECOND monitor, so a test can act on the VM "from outside" while Snapfleet holds the first one.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { readEmbeddedCredentials } from "../../lib/db/embedded-postgres";
import { startVm, type TestVm, type VmOptions } from "../support/qemu";

export interface SocketDir {
  dir: string;
  snapshotDir: string;
  cleanup(): Promise<void>;
}

export async function makeSocketDir(prefix = "sf-fleet-"): Promise<SocketDir> {
  // Short: unix socket paths must fit in 108 bytes.
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  const snapshotDir = await mkdtemp(path.join(os.tmpdir(), `${prefix}snap-`));
  return {
    dir,
    snapshotDir,
    cleanup: async () => {
      await rm(dir, { recursive: true, force: true });
      await rm(snapshotDir, { recursive: true, force: true });
    },
  };
}

export interface FleetVm extends TestVm {
  /** The monitor Snapfleet discovers (in the socket directory). */
  fleetSocket: string;
}

/** A VM whose discoverable monitor is `<socketDir>/<name>.sock`. */
export async function startFleetVm(socketDir: string, name: string, opts: VmOptions = {}): Promise<FleetVm> {
  const fleetSocket = path.join(socketDir, `${name}.sock`);
  const vm = await startVm({
    memoryMiB: 128,
    ...opts,
    name,
    extraArgs: ["-qmp", `unix:${fleetSocket},server=on,wait=off`, ...(opts.extraArgs ?? [])],
  });
  return Object.assign(vm, { fleetSocket });
}

/**
 * What discovery records for the harness's disk `index` of `vm` (startVm names its nodes disk<i> and
 * its devices vd<i>, qcow2 images): a row of Vm.disks as a test expects it.
 */
export function harnessDisk(vm: TestVm, index: number, sizeMiB: number, writable = true) {
  return {
    node: `disk${index}`,
    device: `vd${index}`,
    format: "qcow2",
    file: vm.disks[index]!.path,
    writable,
    sizeBytes: sizeMiB * 1024 * 1024,
  };
}

/**
 * The database of the server Playwright starts (playwright.config.ts: embedded PostgreSQL on
 * E2E_PORT + 10, Snapfleet's fixed local credentials), for specs that seed rows directly.
 */
export function e2eDatabaseUrl(): string {
  const port = Number(process.env.E2E_PORT || 3100) + 10;
  // The embedded PostgreSQL's generated credentials, kept in the e2e server's data dir.
  const creds = readEmbeddedCredentials(process.env.E2E_DATA_DIR!);
  if (!creds) throw new Error(`no PostgreSQL credentials in ${process.env.E2E_DATA_DIR}: is the e2e server up?`);
  return `postgresql://${creds.appUser}:${encodeURIComponent(creds.appPassword)}@127.0.0.1:${port}/snapfleet`;
}

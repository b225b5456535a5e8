// What a rollback or a verification of a snapshot would do, decided before anything is queued: the
// confirmation dialog shows the rollback plan (what is lost, what stays), and a refusal — a manager
// owns the VM, a remote host, a snapshot without disk state — is a 422 with the reason and the exact
// commands an operator would run instead.
import { access, readFile } from "node:fs/promises";
import type { Host, Snapshot, Vm } from "../db/generated/client";
import { db } from "../db/client";
import { hostAccessFor } from "../fleet/host-access";
import { parseLaunchFacts, type LaunchFacts } from "../fleet/launch-json";
import { detectManager, vmgenidDevices, type ManagerFacts } from "../fleet/qemu-argv";
import { listenerPids, readProcessFacts, type ProcessFacts } from "../fleet/qemu-process";
import { rollbackArgv } from "./argv";
import { snapshotFileJsonSchema, type SnapshotFileJson } from "../snapshots/snapshot-json";
import type { RollbackPlanJson } from "./restore-json";

export type SnapshotWithVm = Snapshot & { vm: Vm & { host: Host } };

/** The snapshot a restore row (rollback or verification) restores, with its VM and host. */
export async function snapshotOfRestore(restoreId: string): Promise<SnapshotWithVm> {
  const { snapshotId } = await db().restore.findUniqueOrThrow({
    where: { id: restoreId },
    select: { snapshotId: true },
  });
  return (await db().snapshot.findUniqueOrThrow({
    where: { id: snapshotId },
    include: { vm: { include: { host: true } } },
  })) as SnapshotWithVm;
}

export interface RestoreSource {
  /** The command line the snapshot's instant ran with (or, for older snapshots, the VM's latest). */
  launch: LaunchFacts | null;
  launchFrom: "snapshot" | "vm";
  disks: Array<{ image: string; internalSnapshot: string }>;
  vmstate: string | null;
}

export function filesOf(snap: Snapshot): SnapshotFileJson[] {
  return (Array.isArray(snap.files) ? snap.files : []).flatMap((f) => {
    const r = snapshotFileJsonSchema.safeParse(f);
    return r.success ? [r.data] : [];
  });
}

export function restoreSource(snap: SnapshotWithVm): RestoreSource {
  const own = parseLaunchFacts(snap.launch);
  const files = filesOf(snap);
  return {
    launch: own?.argv ? own : parseLaunchFacts(snap.vm.launch),
    launchFrom: own?.argv ? "snapshot" : "vm",
    disks: files.flatMap((f) =>
      f.role === "disk" && f.internalSnapshot ? [{ image: f.path, internalSnapshot: f.internalSnapshot }] : [],
    ),
    vmstate: files.find((f) => f.role === "vmstate")?.path ?? null,
  };
}

/** The QEMU running behind the VM's monitor right now (local hosts), or undefined when none runs. */
export async function currentQemu(vm: Vm): Promise<{ process: ProcessFacts; manager: ManagerFacts } | undefined> {
  const pid = (await listenerPids([vm.endpoint])).get(vm.endpoint);
  if (pid === undefined) return undefined;
  const p = await readProcessFacts(pid);
  if (!p) return undefined;
  const own = (await readFile("/proc/self/cgroup", "utf8").catch(() => "")).split("\n").filter(Boolean);
  return { process: p, manager: detectManager(p.argv, p.cgroup, own) };
}

const q = (s: string) => (/^[A-Za-z0-9._/:=,@+-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`);

/** The commands an operator runs to roll back by hand (disk state; the RAM state needs -incoming). */
export function manualCommands(
  manager: ManagerFacts | { kind: "remote"; host: string },
  disks: RestoreSource["disks"],
  pid?: number,
): string[] {
  const stamp = new Date().toISOString().slice(0, 19).replace(/[-:T]/g, "");
  const stop =
    manager.kind === "libvirt"
      ? `virsh shutdown ${q(manager.name ?? "")}   # or: virsh destroy ${q(manager.name ?? "")}`
      : manager.kind === "systemd"
        ? `systemctl${manager.user ? " --user" : ""} stop ${q(manager.name ?? "")}`
        : manager.kind === "remote"
          ? `# on ${manager.host}: stop the VM's QEMU the way it was started`
          : `kill ${pid ?? "<qemu pid>"}   # stop the VM's QEMU`;
  const start =
    manager.kind === "libvirt"
      ? `virsh start ${q(manager.name ?? "")}`
      : manager.kind === "systemd"
        ? `systemctl${manager.user ? " --user" : ""} start ${q(manager.name ?? "")}`
        : "# start the VM's QEMU the way it is always started";
  return [
    stop,
    ...disks.map((d) => `qemu-img snapshot -c snapfleet-safety-${stamp} ${q(d.image)}   # keep the current disk state`),
    ...disks.map((d) => `qemu-img snapshot -a ${q(d.internalSnapshot)} ${q(d.image)}`),
    start,
  ];
}

/**
 * The exact rollback of a plain QEMU on an SSH host, by hand: log in, stop it, keep the current disk
 * state, apply the snapshot, start the recorded command line again (with `-S -incoming defer` and the
 * vmstate loaded through its monitor for a live snapshot). Every argument single-quoted.
 */
export function sshManualCommands(host: Host, src: RestoreSource, live: boolean, pid: number | null): string[] {
  const sq = (a: string) => `'${a.replaceAll("'", `'\\''`)}'`;
  const stamp = new Date().toISOString().slice(0, 19).replace(/[-:T]/g, "");
  const launch = src.launch!;
  const argv = rollbackArgv(launch.argv!, { incoming: live });
  const log = launch.stderr && launch.stderr.startsWith("/") ? launch.stderr : "/dev/null";
  const lines = [
    `ssh -p ${host.port ?? 22} ${sq(`${host.user ?? ""}@${host.address ?? ""}`)}   # then, on ${host.name}:`,
    `kill ${pid ?? "<qemu pid>"}   # stop the VM's QEMU; wait until it has exited`,
    ...src.disks.map(
      (d) => `qemu-img snapshot -c snapfleet-safety-${stamp} ${sq(d.image)}   # keep the current disk state`,
    ),
    ...src.disks.map((d) => `qemu-img snapshot -a ${sq(d.internalSnapshot)} ${sq(d.image)}`),
    `(cd ${sq(launch.cwd ?? "/")} && exec setsid nohup ${sq(launch.exe!)} ${argv.slice(1).map(sq).join(" ")} >>${sq(log)} 2>&1 </dev/null) &`,
  ];
  if (live && src.vmstate) {
    lines.push(
      `# then on its QMP monitor: {"execute":"qmp_capabilities"} {"execute":"migrate-incoming","arguments":{"uri":${JSON.stringify(`exec:cat ${sq(src.vmstate)}`)}}} — once {"execute":"query-migrate"} says "completed": {"execute":"cont"}`,
    );
  }
  return lines;
}

async function exists(p: string): Promise<boolean> {
  return access(p).then(
    () => true,
    () => false,
  );
}

/** The rollback plan; `refusal` set when Snapfleet will not do it. */
export async function planRollback(snap: SnapshotWithVm, now = new Date()): Promise<RollbackPlanJson> {
  const vm = snap.vm;
  const src = restoreSource(snap);
  const snapshotAt = (snap.startedAt ?? snap.createdAt).toISOString();
  const newer = await db().snapshot.count({
    where: { vmId: vm.id, deletedAt: null, status: "completed", createdAt: { gt: snap.createdAt } },
  });
  const warnings: string[] = [];
  const plan: RollbackPlanJson = {
    snapshotId: snap.id,
    vmId: vm.id,
    vmName: vm.name,
    possible: false,
    refusal: null,
    snapshotAt,
    lostGuestMs: Math.max(0, now.getTime() - new Date(snapshotAt).getTime()),
    newerSnapshots: newer,
    coldBoot: snap.mode === "disks_only",
    vmgenid: src.launch?.argv ? vmgenidDevices(src.launch.argv).length > 0 : false,
    disks: src.disks,
    warnings,
  };
  const refuse = (reason: string, commands: string[] = []): RollbackPlanJson => ({
    ...plan,
    refusal: { reason, commands },
  });

  if (snap.deletedAt || snap.deletingSince) return refuse("the snapshot is deleted or being deleted");
  if (snap.status !== "completed")
    return refuse(`the snapshot is ${snap.status}: only a completed snapshot can be restored`);
  if (snap.mode === "ram_only")
    return refuse(
      "a ram-only snapshot holds no disk state: loading its RAM over today's disks would give the guest a disk from another instant",
    );
  if (!src.disks.length) {
    return refuse(
      "the snapshot has no internal disk snapshot (it was taken before Snapfleet kept disk state inside the images): restore it by hand, see docs/disk-chains.md",
    );
  }
  if (vm.host.kind === "ssh") return planSshRollback(snap, src, plan, refuse);
  if (vm.host.kind !== "local") {
    return refuse(
      `VM ${vm.name} runs on ${vm.host.kind} host ${vm.host.name}: Snapfleet rolls back VMs of the dashboard's own machine only`,
      manualCommands({ kind: "remote", host: vm.host.name }, src.disks),
    );
  }
  if (vm.state === "gone") return refuse(`VM ${vm.name} is gone from its host: nothing to roll back`);
  if (!src.launch?.argv || !src.launch.exe) {
    return refuse(
      `the command line of VM ${vm.name}'s QEMU is unknown (${src.launch?.note ?? "no launch facts recorded"}): Snapfleet cannot start it again`,
    );
  }
  const current = await currentQemu(vm);
  const manager = current?.manager ?? src.launch.manager;
  if (manager.kind !== "plain") {
    return refuse(
      `VM ${vm.name} is owned by ${manager.kind === "libvirt" ? `libvirt (domain ${manager.name})` : `the systemd unit ${manager.name}`}: ${manager.reason}. ` +
        `Snapfleet does not stop or start a VM behind its manager's back. Roll back by hand (the guest boots from the snapshot's disks${snap.mode === "live" ? "; its RAM state cannot be loaded through the manager" : ""}):`,
      manualCommands(manager, src.disks, current?.process.pid),
    );
  }
  const uid = process.getuid?.();
  const qemuUid = current?.process.uid ?? src.launch.uid;
  if (uid !== undefined && uid !== 0 && qemuUid !== null && qemuUid !== uid) {
    return refuse(
      `VM ${vm.name}'s QEMU runs as uid ${qemuUid}, the dashboard as uid ${uid}: it could not start it as the same user`,
      manualCommands(manager, src.disks, current?.process.pid),
    );
  }
  const missing = src.disks.filter((d) => !src.launch!.argv!.some((a) => a.includes(d.image)));
  if (missing.length) {
    return refuse(
      `the recorded command line does not open ${missing.map((d) => d.image).join(", ")}: the snapshot's disks are not the ones QEMU would start on`,
    );
  }
  for (const d of src.disks)
    if (!(await exists(d.image))) return refuse(`the image ${d.image} does not exist any more`);
  if (!(await exists(src.launch.exe))) return refuse(`the QEMU binary ${src.launch.exe} is gone`);
  if (snap.mode === "live" && (!src.vmstate || !(await exists(src.vmstate))))
    return refuse(`the snapshot's vmstate ${src.vmstate ?? ""} is missing`);
  if (src.launchFrom === "vm")
    warnings.push(
      "the snapshot predates launch facts: the VM's latest known command line is used; if its devices changed since, the RAM state will not load (the disks stay rolled back; undo with the safety snapshot)",
    );
  if (src.launch.exeDeleted)
    warnings.push(
      `the QEMU binary ${src.launch.exe} was replaced since the VM started: the new one will load the snapshot`,
    );
  if (!current) warnings.push("no QEMU runs for this VM now: its disks are rolled back and it is started");
  return { ...plan, possible: true };
}

/**
 * The rollback of a plain QEMU on an SSH host (rollback.ts through rollback-host.ts), checked on the host
 * over SFTP / SSH exec: the recorded launch facts (read over SSH: launch-facts.ts) give the binary, argv
 * and cwd; QEMU runs as the SSH user (who will stop it, change its images and start it again); the
 * images, the binary and the vmstate exist there. A refusal gives the commands to run by hand.
 */
async function planSshRollback(
  snap: SnapshotWithVm,
  src: RestoreSource,
  plan: RollbackPlanJson,
  refuse: (reason: string, commands?: string[]) => RollbackPlanJson,
): Promise<RollbackPlanJson> {
  const vm = snap.vm;
  const live = snap.mode === "live";
  if (vm.state === "gone") return refuse(`VM ${vm.name} is gone from its host: nothing to roll back`);
  const launch = src.launch;
  if (!launch?.argv || !launch.exe || !launch.cwd) {
    return refuse(
      `the command line of VM ${vm.name}'s QEMU on ${vm.host.name} is not fully known (${launch?.note ?? (launch ? "no working directory recorded" : "no launch facts recorded")}): Snapfleet cannot start it again`,
    );
  }
  const byHand = () => sshManualCommands(vm.host, src, live, parseLaunchFacts(vm.launch)?.pid ?? launch.pid);
  const manager = parseLaunchFacts(vm.launch)?.manager ?? launch.manager;
  if (manager.kind !== "plain") {
    return refuse(
      `VM ${vm.name} on ${vm.host.name} is owned by ${manager.kind === "libvirt" ? `libvirt (domain ${manager.name})` : `the systemd unit ${manager.name}`}: ${manager.reason}. Snapfleet does not stop or start a VM behind its manager's back. Roll back by hand:`,
      manualCommands(manager, src.disks),
    );
  }
  const files = hostAccessFor(vm.host).files;
  if (!files) return refuse(`host ${vm.host.name} gives no file access`);
  try {
    const sshUid = Number((await files.run(["id", "-u"], { timeoutMs: 30_000 })).trim());
    const qemuUid = parseLaunchFacts(vm.launch)?.uid ?? launch.uid;
    if (qemuUid !== null && sshUid !== 0 && qemuUid !== sshUid) {
      return refuse(
        `VM ${vm.name}'s QEMU runs as uid ${qemuUid} on ${vm.host.name}, the SSH login ${vm.host.user ?? ""} is uid ${sshUid}: it could not start it as the same user. Roll back by hand, as the user that runs its QEMU:`,
        byHand(),
      );
    }
    const missing = src.disks.filter((d) => !launch.argv!.some((a) => a.includes(d.image)));
    if (missing.length)
      return refuse(
        `the recorded command line does not open ${missing.map((d) => d.image).join(", ")}: the snapshot's disks are not the ones QEMU would start on`,
      );
    for (const d of src.disks)
      if (!(await files.stat(d.image)))
        return refuse(`the image ${d.image} does not exist any more on ${vm.host.name}`);
    if (!(await files.stat(launch.exe))) return refuse(`the QEMU binary ${launch.exe} is gone from ${vm.host.name}`);
    if (live && (!src.vmstate || !(await files.stat(src.vmstate))))
      return refuse(`the snapshot's vmstate ${src.vmstate ?? ""} is missing on ${vm.host.name}`);
  } catch (err) {
    return refuse(
      `host ${vm.host.name} could not be checked over SSH: ${(err as Error).message}. Roll back by hand:`,
      byHand(),
    );
  }
  const warnings = plan.warnings;
  if (src.launchFrom === "vm")
    warnings.push(
      "the snapshot predates launch facts: the VM's latest known command line is used; if its devices changed since, the RAM state will not load (the disks stay rolled back; undo with the safety snapshot)",
    );
  if (launch.exeDeleted)
    warnings.push(
      `the QEMU binary ${launch.exe} was replaced since the VM started: the new one will load the snapshot`,
    );
  if (vm.state !== "running" && vm.state !== "paused")
    warnings.push(`the VM is ${vm.state}: if no QEMU runs for it, its disks are rolled back and it is started`);
  return { ...plan, possible: true };
}

/** Why a verification cannot run, or null. */
export async function planVerify(snap: SnapshotWithVm): Promise<string | null> {
  const src = restoreSource(snap);
  if (snap.deletedAt || snap.deletingSince) return "the snapshot is deleted or being deleted";
  if (snap.status !== "completed") return `the snapshot is ${snap.status}: only a completed snapshot can be verified`;
  if (snap.mode === "ram_only")
    return "a ram-only snapshot holds no disk state: the sandbox would have no disks of its instant";
  if (!src.disks.length)
    return "the snapshot has no internal disk snapshot (taken before Snapfleet kept disk state inside the images)";
  if (snap.vm.host.kind === "tls")
    return `the sandbox runs on the snapshot's host, and ${snap.vm.host.name} is a TLS host (QMP only): Snapfleet cannot start a QEMU there`;
  if (!src.launch?.argv || !src.launch.exe)
    return `the command line of the VM's QEMU is unknown (${src.launch?.note ?? "no launch facts recorded"})`;
  if (snap.mode === "live" && snap.vm.host.kind === "ssh") {
    // On an SSH host the vmstate is checked over SFTP (verify-remote.ts resolves and confines it again).
    const files = hostAccessFor(snap.vm.host).files;
    const st = src.vmstate && files ? await files.stat(src.vmstate).catch(() => null) : null;
    if (!st) return `the snapshot's vmstate ${src.vmstate ?? ""} is missing on ${snap.vm.host.name}`;
    return null;
  }
  if (snap.mode === "live" && (!src.vmstate || !(await exists(src.vmstate))))
    return `the snapshot's vmstate ${src.vmstate ?? ""} is missing`;
  return null;
}

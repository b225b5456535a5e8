// What each host kind can offer, decided BEFORE anything is queued: the snapshot API (jobs.ts
// createSnapshotJob), the schedule editor and the schedules' save (lib/scheduler/service.ts), the VM
// page (VmJson.hostModeBlockers) and the snapshot preflight all ask this one pure function, so a mode a
// host kind cannot give is refused with the same reason everywhere, and never after a job was queued.
// Client-safe: no imports from the server side (lib/qmp/version.ts is pure).
//
// The documented paths (README, "Hosts"):
//  - local: every mode; the vmstate is written by a local sink process (lib/snapshots/vmstate-sink.ts).
//  - ssh:   every mode; QEMU itself runs the host-side writer (`migrate exec:` — a POSIX sh + coreutils
//           pipeline on the hypervisor: lib/snapshots/remote-sink.ts) into the host's snapshotDir;
//           the dashboard reads its status over SFTP. Only QMP and SFTP go over SSH: a cut connection
//           never breaks QEMU's stream.
//  - tls:   QMP and nothing else. disks-only (internal qcow2 snapshots inside the VM's images need only
//           QMP); live and ram-only are refused: the vmstate must live on the VM's own host (restore
//           happens there) and nothing can write it there, and streaming it over the network to the
//           dashboard is refused on QEMU < 8.1, where a stream that breaks freezes the guest for good
//           (QEMU.md §2) — on newer QEMU it is not offered either, for the first reason.
import { freezesOnFailedBackgroundSnapshot, parseQemuVersion } from "../qmp/version";

export type HostKindName = "local" | "ssh" | "tls";
export type SnapshotModeKey = "live" | "ram-only" | "disks-only";

/**
 * Why a `mode` snapshot cannot be offered for a VM on a host of `kind` (with that QEMU version, when
 * known), or null when the host kind allows it. The VM's own limits (raw disks, no background
 * snapshot) are separate (diskSnapshotBlocker, bgSnapshotBlocker).
 */
export function hostModeBlocker(kind: HostKindName, mode: SnapshotModeKey, qemuVersion?: string | null): string | null {
  if (kind !== "tls" || mode === "disks-only") return null;
  const freezes = freezesOnFailedBackgroundSnapshot(parseQemuVersion(qemuVersion));
  return (
    `a ${mode} snapshot needs the VM's RAM written to its own host, and a TLS host gives Snapfleet only QMP: nothing can write the vmstate there` +
    (freezes
      ? `, and streaming it to the dashboard instead is refused on QEMU ${qemuVersion}, where a RAM stream that breaks (network, dashboard restart) freezes the guest for good`
      : "") +
    ". Take a disks-only snapshot (its state stays inside the VM's qcow2 images, through QMP alone), or add the host over SSH for RAM snapshots"
  );
}

/** hostModeBlocker for every mode (the VM page and the schedule editor show them before any click). */
export function hostModeBlockers(
  kind: HostKindName,
  qemuVersion?: string | null,
): Record<SnapshotModeKey, string | null> {
  return {
    live: hostModeBlocker(kind, "live", qemuVersion),
    "ram-only": hostModeBlocker(kind, "ram-only", qemuVersion),
    "disks-only": hostModeBlocker(kind, "disks-only", qemuVersion),
  };
}

/** What a host kind needs and supports, one line for the host list and the schedule editor. */
export function hostKindSummary(kind: HostKindName): string {
  switch (kind) {
    case "local":
      return "all snapshot modes, delete, retention, restore and verify";
    case "ssh":
      return "all snapshot modes (QEMU writes the vmstate on the host itself), delete, retention and verify (a sandbox on the host) over SSH/SFTP; rollback by hand";
    case "tls":
      return "disks-only snapshots (internal qcow2 snapshots through QMP); live and ram-only are refused";
  }
}

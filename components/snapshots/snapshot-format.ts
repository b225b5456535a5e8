// Presentation helpers shared by the snapshot panel, the VM's history and the Snapshots page: durations,
// rates, the step list of a job, which of two updates of one job is newer (and a list with an update
// merged in), what to do after a failure (by error class, see lib/snapshots/run-snapshot.ts
// SnapshotErrorClass), and where a deletion stands.
import type { SnapshotJson, SnapshotStatusJson } from "@/lib/snapshots/snapshot-json";
import { formatBytes } from "@/components/fleet/format";

export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "—";
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(ms / 60_000);
  return `${m} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function formatRate(bytesPerSec: number | null | undefined): string {
  return bytesPerSec ? `${formatBytes(bytesPerSec)}/s` : "—";
}

/** Wall time of a job from start to end (or now, while it runs). */
export function durationMs(s: SnapshotJson, now = Date.now()): number | null {
  if (!s.startedAt) return null;
  const end = s.finishedAt ? new Date(s.finishedAt).getTime() : now;
  return end - new Date(s.startedAt).getTime();
}

export function isRunning(status: SnapshotStatusJson): boolean {
  return status === "queued" || status === "preflight" || status === "setup" || status === "active";
}

/** Two updates of one job may arrive out of order (separate NOTIFY connections): keep the newer. */
export function newerOf(current: SnapshotJson | null, next: SnapshotJson): SnapshotJson {
  if (!current || current.id !== next.id) return next;
  if (next.statusHistory.length !== current.statusHistory.length)
    return next.statusHistory.length > current.statusHistory.length ? next : current;
  if (next.deletedAt || next.cancelRequested !== current.cancelRequested) return next;
  return (next.ramTransferredBytes ?? 0) >= (current.ramTransferredBytes ?? 0) ? next : current;
}

/** `rows` with the update `s` in its snapshot's place (the newer of the two), or first when it is new. */
export function withUpdate(rows: SnapshotJson[], s: SnapshotJson): SnapshotJson[] {
  const i = rows.findIndex((r) => r.id === s.id);
  if (i === -1) return [s, ...rows];
  const next = [...rows];
  next[i] = newerOf(rows[i]!, s);
  return next;
}

/**
 * Where a snapshot's deletion stands: null when none is under way (or it finished: deletedAt), "deleting"
 * while its steps run, "blocked" when a step stopped it (deletion.error; deleting again resumes it).
 */
export type DeletionState =
  { kind: "deleting"; done: number; total: number } | { kind: "blocked"; error: string; done: number; total: number };

export function deletionStateOf(s: SnapshotJson): DeletionState | null {
  if (!s.deletion || s.deletedAt) return null;
  const done = s.deletion.steps.filter((st) => st.state === "done").length;
  const total = s.deletion.steps.length;
  return s.deletion.error
    ? { kind: "blocked", error: s.deletion.error, done, total }
    : { kind: "deleting", done, total };
}

/** What deleting this snapshot removes, in words, for the confirm dialog. */
export function deletionEffect(s: SnapshotJson): string {
  const parts: string[] = [];
  if (s.files.some((f) => f.role === "vmstate") || (s.mode !== "disks-only" && s.status === "completed"))
    parts.push("its vmstate file (RAM and device state)");
  const internal = s.files.filter((f) => f.role === "disk" && f.internalSnapshot).length;
  if (internal)
    parts.push(
      `its internal disk snapshot${internal > 1 ? "s" : ""} from the VM's disk image${internal > 1 ? "s" : ""}`,
    );
  const removes = parts.length
    ? `This removes ${parts.join(" and ")}`
    : "This removes what the snapshot left on its host";
  const legacy = s.diskChain.length
    ? " Its disk layers (taken before internal snapshots) are merged back into the VM's disk chain."
    : "";
  return `${removes}; the VM keeps running on its own disks.${legacy} The snapshot can no longer be restored.`;
}

export type StepState = "pending" | "current" | "done" | "failed" | "skipped";
export interface Step {
  key: string;
  label: string;
  state: StepState;
}

/** The steps the panel shows for a job: preflight, pause, disks, RAM — those its mode has. */
export function stepsOf(s: SnapshotJson): Step[] {
  const reached = new Set(s.statusHistory.map((h) => h.status));
  const lastRunning = [...s.statusHistory].reverse().find((h) => isRunning(h.status))?.status;
  const ended = s.status === "failed" || s.status === "cancelled";
  // A step runs while the job is in one of `during`, and is done once the job reached one of `doneAt`.
  const step = (key: string, label: string, during: SnapshotStatusJson[], doneAt: SnapshotStatusJson[]): Step => {
    let state: StepState = "pending";
    if (doneAt.some((d) => reached.has(d))) state = "done";
    else if (during.includes(s.status)) state = "current";
    else if (ended && lastRunning && during.includes(lastRunning)) state = s.status === "failed" ? "failed" : "skipped";
    else if (ended) state = "skipped";
    return { key, label, state };
  };
  const setupDoneAt: SnapshotStatusJson[] = s.mode === "disks-only" ? ["completed"] : ["active", "completed"];
  const steps = [step("preflight", "Preflight checks", ["queued", "preflight"], ["setup"])];
  if (s.mode !== "ram-only") {
    steps.push(step("pause", "Pause guest", ["setup"], setupDoneAt));
    steps.push(step("disks", "Disk state", ["setup"], setupDoneAt));
  }
  if (s.mode !== "disks-only")
    steps.push(
      step("ram", "RAM and device state", s.mode === "ram-only" ? ["setup", "active"] : ["active"], ["completed"]),
    );
  return steps;
}

/** What the operator should do after a failure, in words. */
export function adviceFor(errorClass: string): string {
  switch (errorClass) {
    case "refused":
      return "Nothing was changed on the VM. Fix the cause above, then take the snapshot again.";
    case "incompatible":
      return "This VM cannot keep running while its RAM is saved. Take a disks-only snapshot instead.";
    case "target-write":
      return "The VM kept running and nothing was kept. Free space in the host's snapshot directory (or choose another in Settings → Hosts), then try again.";
    case "target-truncated":
    case "migration-failed":
      return "QEMU stopped the stream early. Check that the VM still responds, then try again; the server log has QEMU's side.";
    case "qemu-exited":
      return "The VM's QEMU stopped during the snapshot. Restart the VM; the message says where its newest disk writes are.";
    case "connection-lost":
      return "The SSH connection to the VM's host dropped; the VM's QEMU kept running and nothing was kept. Check the network path to the host, then try again.";
    case "vm-unreachable":
      return "Check that the VM runs and that its monitor socket is reachable from the dashboard, then try again.";
    case "interrupted":
      return "The dashboard restarted mid-snapshot. Check the VM, then take the snapshot again.";
    case "disk-snapshot":
      return "QEMU could not take the disks' internal snapshots; nothing was changed. The reason is below; check the disk images, then try again.";
    default:
      return "The VM was put back as it was where possible. The server log has the details.";
  }
}

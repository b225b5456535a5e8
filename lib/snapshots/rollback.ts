// Rolling back what a failed or cancelled snapshot run created, once QEMU is done with its stream and the
// guest runs again (run-snapshot.ts decides when): the internal disk snapshots the run took, then the
// files and directories of its ledger (artifacts.ts), each only once proven unused (remove-artifacts.ts).
// Invariants: never throws; returns one sentence per thing left behind, saying where it is and that
// deleting the snapshot removes it later (it stays in the ledger); nothing outside the ledger is touched.
import { logIgnored } from "../best-effort";
import path from "node:path";
import type { HostFiles } from "../fleet/host-files";
import type { QmpClient } from "../qmp";
import { describeArtifact, internalSnapshotName, type Artifact } from "./artifacts";
import { deleteInternalSnapshot } from "./internal-snapshots";
import { removeArtifact } from "./remove-artifacts";

export interface RollbackInput {
  qmp: QmpClient;
  snapshotId: string;
  /** Images whose internal snapshot the run's transaction took (or may have). */
  taken: Array<{ image: string }>;
  ledger: Artifact[];
  /** The host's files (local fs, SFTP); null when it gives none (TLS). */
  files: HostFiles | null;
}

export async function rollBackRun(input: RollbackInput): Promise<string[]> {
  const notes: string[] = [];
  const name = internalSnapshotName(input.snapshotId);
  const alive = input.qmp.connected;
  for (const t of input.taken) {
    if (!alive) {
      notes.push(`the internal snapshot ${name} may remain in ${t.image}: deleting this snapshot removes it`);
      continue;
    }
    try {
      await deleteInternalSnapshot({ image: t.image, name }, input.qmp, input.files);
    } catch (err) {
      notes.push(
        `deleting the internal snapshot ${name} from ${t.image} failed (${(err as Error).message}): deleting this snapshot retries it`,
      );
    }
  }
  const ctx = { qmp: alive ? input.qmp : undefined, files: input.files, driftAcknowledged: false };
  for (const a of [...input.ledger].reverse()) {
    if (a.kind !== "file" && a.kind !== "dir") continue;
    try {
      const note = await removeArtifact(a, ctx);
      if (note.includes(" kept:")) notes.push(note);
    } catch (err) {
      notes.push(`${describeArtifact(a)} was kept (${(err as Error).message}): deleting this snapshot retries it`);
    }
  }
  // The VM's directory holds every snapshot of the VM; it goes with its last one (never recursively).
  const dir = input.ledger.find((a) => a.kind === "dir");
  if (dir && input.files)
    await input.files
      .rmdir(path.dirname(dir.path))
      .catch(logIgnored("the VM's directory stays while it holds other snapshots"));
  return notes;
}

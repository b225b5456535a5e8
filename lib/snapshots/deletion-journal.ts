// The journal of a snapshot's deletion (`Snapshot.deletion`), as deletion.ts writes it and the wire shape
// reads it: one step per artifact of the ledger, in removal order, each with its state and what happened.
// Invariants: no I/O; parseJournal never throws (a malformed journal reads as none, and a step whose
// artifact does not parse is dropped).
import { parseArtifacts, type Artifact } from "./artifacts";

export type DeletionStepState = "pending" | "running" | "done" | "failed";

export interface DeletionStep {
  artifact: Artifact;
  state: DeletionStepState;
  /** What was done, or why it failed. */
  note?: string;
  at?: string;
}

export interface DeletionJournal {
  reason: string;
  startedAt: string;
  steps: DeletionStep[];
  /** Why the deletion stopped, while it is stopped. */
  error?: string;
}

export function parseJournal(raw: unknown): DeletionJournal | null {
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) return null;
  const j = raw as Partial<DeletionJournal>;
  if (!Array.isArray(j.steps)) return null;
  const steps = j.steps.flatMap((s): DeletionStep[] => {
    const [artifact] = parseArtifacts([s?.artifact]);
    return artifact ? [{ ...s, artifact }] : [];
  });
  return {
    reason: String(j.reason ?? ""),
    startedAt: String(j.startedAt ?? ""),
    steps,
    ...(j.error ? { error: String(j.error) } : {}),
  };
}

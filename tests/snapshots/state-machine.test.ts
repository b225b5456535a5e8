// The snapshot state machine as exact sequences: every path a job can take, and the ones it cannot.
import { describe, expect, it } from "vitest";
import { SNAPSHOT_STATUSES } from "../../lib/validations/snapshot";
import {
  SNAPSHOT_TRANSITIONS,
  assertTransition,
  canTransition,
  isTerminal,
  type SnapshotStatusName,
} from "../../lib/snapshots/state-machine";

function walk(sequence: SnapshotStatusName[]): boolean {
  return sequence.every((s, i) => i === 0 || canTransition(sequence[i - 1], s));
}

describe("SNAPSHOT_TRANSITIONS", () => {
  it("is exactly this table", () => {
    expect(SNAPSHOT_TRANSITIONS).toEqual({
      queued: ["preflight", "failed", "cancelled"],
      preflight: ["setup", "failed", "cancelled"],
      setup: ["active", "completed", "failed", "cancelled"],
      active: ["completed", "failed", "cancelled"],
      completed: [],
      failed: [],
      cancelled: [],
    });
  });

  it.each([
    ["live / ram-only", ["queued", "preflight", "setup", "active", "completed"]],
    ["disks-only", ["queued", "preflight", "setup", "completed"]],
    ["refused in preflight", ["queued", "preflight", "failed"]],
    ["failed while streaming", ["queued", "preflight", "setup", "active", "failed"]],
    ["cancelled while queued", ["queued", "cancelled"]],
    ["cancelled mid-stream", ["queued", "preflight", "setup", "active", "cancelled"]],
    ["worker lost before it started", ["queued", "failed"]],
  ] as const)("allows %s: %j", (_name, seq) => {
    expect(walk([...seq])).toBe(true);
  });

  it.each([
    ["skipping preflight", ["queued", "setup"]],
    ["going back", ["active", "setup"]],
    ["leaving completed", ["completed", "failed"]],
    ["leaving failed", ["failed", "queued"]],
    ["leaving cancelled", ["cancelled", "active"]],
    ["preflight straight to active", ["preflight", "active"]],
  ] as const)("refuses %s: %j", (_name, seq) => {
    expect(walk([...seq])).toBe(false);
    expect(() => assertTransition(seq[0], seq[1])).toThrow(`a snapshot cannot go from ${seq[0]} to ${seq[1]}`);
  });

  it("terminal states have no way out and every state is in the table", () => {
    for (const s of SNAPSHOT_STATUSES) {
      expect(SNAPSHOT_TRANSITIONS[s]).toBeDefined();
      expect(isTerminal(s)).toBe(SNAPSHOT_TRANSITIONS[s].length === 0);
    }
  });
});

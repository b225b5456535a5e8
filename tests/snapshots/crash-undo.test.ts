// The crash-undo record as the job row keeps it (Snapshot.undoOnCrash, crash-undo.ts parseVmUndo): the
// guest's frozen filesystems (fsFrozen) are read back, rows written before it existed still parse, and a
// malformed record counts as nothing to undo. What recovery does with it: thaw-after-crash.qemu.test.ts.
import { describe, expect, it } from "vitest";
import { parseVmUndo } from "../../lib/snapshots/crash-undo";

describe("parseVmUndo", () => {
  it("reads the frozen filesystems with the agent's socket, beside the other changes", () => {
    expect(parseVmUndo({ guestStopped: true, fsFrozen: { agentSocket: "/run/vms/web-qga.sock" } })).toEqual({
      guestStopped: true,
      fsFrozen: { agentSocket: "/run/vms/web-qga.sock" },
    });
    expect(
      parseVmUndo({ fsFrozen: { agentSocket: "/run/vms/web-qga.sock" }, done: ["the guest … was resumed"] }),
    ).toEqual({
      fsFrozen: { agentSocket: "/run/vms/web-qga.sock" },
      done: ["the guest … was resumed"],
    });
  });

  it("keeps reading rows written before the freeze was recorded", () => {
    const capabilities = [{ capability: "background-snapshot", state: false }];
    expect(parseVmUndo({ capabilities, guestStopped: true })).toEqual({ capabilities, guestStopped: true });
    expect(parseVmUndo({ done: ["the migration capabilities were put back"] })).toEqual({
      done: ["the migration capabilities were put back"],
    });
  });

  it("drops a freeze record without a usable socket, and nothing else makes it something to undo", () => {
    expect(parseVmUndo({ fsFrozen: { agentSocket: "" } })).toBeNull();
    expect(parseVmUndo({ fsFrozen: "/run/vms/web-qga.sock" })).toBeNull();
    expect(parseVmUndo({ fsFrozen: { agentSocket: 7 }, guestStopped: true })).toEqual({ guestStopped: true });
    expect(parseVmUndo(null)).toBeNull();
  });
});

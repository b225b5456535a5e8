// classify(): a QMP session over SSH that ended because the SSH connection went away is "connection-lost"
// (QEMU kept running), however deep the transport's code sits in the cause chain; a monitor that closed
// by itself stays "qemu-exited".
import { describe, expect, it } from "vitest";
import { QmpDisconnectedError, SSH_CONNECTION_LOST } from "../../lib/qmp";
import { classify, TRANSIENT_SNAPSHOT_ERRORS } from "../../lib/snapshots/run-errors";

const lost = () => Object.assign(new Error("the SSH connection to the host was lost"), { code: SSH_CONNECTION_LOST });

describe("classify, SSH connection lost", () => {
  it("the session's own end and a later command on the dead session are both connection-lost", () => {
    const ended = new QmpDisconnectedError("connection error (ESSHLOST)", { cause: lost() });
    const later = new QmpDisconnectedError(`not connected (${ended.message})`, { cause: ended });
    for (const err of [ended, later]) {
      const f = classify(err);
      expect(f.errorClass).toBe("connection-lost");
      expect(f.message).toMatch(/^the connection to the host was lost; QEMU keeps running/);
    }
    expect(TRANSIENT_SNAPSHOT_ERRORS).toContain("connection-lost");
  });

  it("a monitor that closed (QEMU went away) is still qemu-exited", () => {
    expect(classify(new QmpDisconnectedError("peer closed the connection")).errorClass).toBe("qemu-exited");
  });
});

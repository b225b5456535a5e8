// The pure parts of quiesce: which snapshots are frozen (quiesceSkipReason) and how QEMU names the
// guest agent's socket chardev in query-chardev (parseUnixChardev, strings as QEMU 7.2 prints them).
// The conversation with a real agent is tested in quiesce.qemu.test.ts.
import { describe, expect, it } from "vitest";
import { parseUnixChardev } from "../../lib/guest-agent/locate";
import { quiesceSkipReason } from "../../lib/snapshots/quiesce";

describe("quiesceSkipReason", () => {
  it("freezes a running VM's disks-only snapshot", () => {
    expect(quiesceSkipReason({ mode: "disks-only", runState: "running", disks: 2 })).toBeNull();
  });

  it("never freezes a snapshot whose vmstate would keep the frozen filesystems, and says so", () => {
    expect(quiesceSkipReason({ mode: "live", runState: "running", disks: 1 })).toMatch(
      /^not frozen: a live snapshot keeps the guest's RAM with its disks/,
    );
    expect(quiesceSkipReason({ mode: "ram-only", runState: "running", disks: 1 })).toBe(
      "a RAM-only snapshot takes no disk state",
    );
  });

  it("does not ask a paused guest's agent (it cannot run) nor a VM without disks", () => {
    expect(quiesceSkipReason({ mode: "disks-only", runState: "paused", disks: 1 })).toBe(
      "the VM is paused: its guest agent cannot run",
    );
    expect(quiesceSkipReason({ mode: "disks-only", runState: "running", disks: 0 })).toBe(
      "the VM has no disk to snapshot",
    );
  });
});

describe("parseUnixChardev", () => {
  it("reads a listening socket with and without a client connected", () => {
    expect(parseUnixChardev("disconnected:unix:/run/vms/web-qga.sock,server=on")).toEqual({
      path: "/run/vms/web-qga.sock",
      server: true,
      connected: false,
    });
    expect(parseUnixChardev("unix:/run/vms/web-qga.sock,server=on")).toEqual({
      path: "/run/vms/web-qga.sock",
      server: true,
      connected: true,
    });
  });

  it("tells a client-mode socket and other backends apart", () => {
    expect(parseUnixChardev("disconnected:unix:/var/lib/libvirt/qemu/ga.sock")).toEqual({
      path: "/var/lib/libvirt/qemu/ga.sock",
      server: false,
      connected: false,
    });
    expect(parseUnixChardev("pty:/dev/pts/3")).toBeUndefined();
    expect(parseUnixChardev("disconnected:tcp:127.0.0.1:4444,server=on")).toBeUndefined();
  });
});

// The command lines restores build (lib/restore/argv.ts) and what launch facts read from one
// (lib/fleet/qemu-argv.ts): pure, no QEMU.
import { describe, expect, it } from "vitest";
import { detectManager, guestAgentChardev, parseKeyValues, vmgenidDevices } from "../../lib/fleet/qemu-argv";
import { rollbackArgv, sandboxArgv } from "../../lib/restore/argv";

const VM = [
  "qemu-system-x86_64",
  "-name",
  "web",
  "-machine",
  "q35",
  "-m",
  "512M",
  "-nodefaults",
  "-qmp",
  "unix:/run/vms/web.sock,server=on,wait=off",
  "-blockdev",
  "driver=file,node-name=d0f,filename=/vms/web.qcow2",
  "-blockdev",
  "driver=qcow2,node-name=d0,file=d0f",
  "-device",
  "virtio-blk-pci,drive=d0,id=vd0",
  "-netdev",
  "tap,id=n0,ifname=tap0,script=no",
  "-device",
  "virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56",
  "-chardev",
  "socket,id=qga0,path=/run/vms/web-qga.sock,server=on,wait=off",
  "-device",
  "virtio-serial-pci",
  "-device",
  "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0",
  "-device",
  "vmgenid,guid=11111111-2222-3333-4444-555555555555",
  "-serial",
  "unix:/run/vms/web-console.sock,server=on,wait=off",
  "-vnc",
  ":5",
  "-daemonize",
  "-pidfile",
  "/run/vms/web.pid",
];

describe("launch facts from a command line", () => {
  it("reads QEMU's key=value escaping", () => {
    expect(parseKeyValues("file,path=/a,,b,server=on")).toEqual([
      ["file", undefined],
      ["path", "/a,b"],
      ["server", "on"],
    ]);
  });
  it("recognises libvirt, a systemd unit other than the dashboard's, and a plain process", () => {
    const libvirt = [
      "qemu-system-x86_64",
      "-name",
      "guest=db01,debug-threads=on",
      "-blockdev",
      '{"driver":"file","filename":"/var/lib/libvirt/images/db01.qcow2"}',
    ];
    expect(detectManager(libvirt, [], [])).toMatchObject({ kind: "libvirt", name: "db01" });
    expect(
      detectManager(VM, ["0::/system.slice/qemu-web.service"], ["0::/system.slice/snapfleet.service"]),
    ).toMatchObject({ kind: "systemd", name: "qemu-web.service" });
    expect(
      detectManager(VM, ["0::/system.slice/snapfleet.service"], ["0::/system.slice/snapfleet.service"]),
    ).toMatchObject({ kind: "plain" });
    expect(
      detectManager(VM, ["0::/user.slice/user-1000.slice/user@1000.service/app.slice/vm.service"], ["0::/"]),
    ).toMatchObject({ kind: "systemd", name: "vm.service", user: true });
    expect(detectManager(VM, ["0::/user.slice/user-1000.slice/session-3.scope"], ["0::/"])).toMatchObject({
      kind: "plain",
    });
  });
  it("finds the vmgenid device and the guest agent's chardev", () => {
    expect(vmgenidDevices(VM)).toEqual([{ id: undefined, guid: "11111111-2222-3333-4444-555555555555" }]);
    expect(guestAgentChardev(VM)).toBe("qga0");
  });
});

describe("rollbackArgv", () => {
  it("adds -S -incoming defer, drops -daemonize, gives vmgenid a new guid, keeps everything else", () => {
    const out = rollbackArgv(VM, { incoming: true, newGuid: () => "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee" });
    expect(out.slice(-3)).toEqual(["-S", "-incoming", "defer"]);
    expect(out).not.toContain("-daemonize");
    expect(out).toContain("vmgenid,guid=aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");
    expect(out).toContain("unix:/run/vms/web.sock,server=on,wait=off");
    expect(out).toContain("/run/vms/web.pid");
  });
  it("a QEMU an earlier rollback started is started again without that rollback's additions", () => {
    const earlier = rollbackArgv(VM, { incoming: true, newGuid: () => "x" });
    expect(rollbackArgv(earlier, { incoming: false })).not.toContain("-incoming");
    expect(rollbackArgv(earlier, { incoming: false })).not.toContain("-S");
    expect(rollbackArgv([...VM, "-S"], { incoming: true }).filter((a) => a === "-S")).toHaveLength(1);
    expect(rollbackArgv(VM, { incoming: false })).toContain("vmgenid,guid=11111111-2222-3333-4444-555555555555");
  });
});

describe("sandboxArgv", () => {
  const spec = {
    dir: "/tmp/sb",
    qmpSocket: "/tmp/sb/qmp.sock",
    disks: new Map([["/vms/web.qcow2", "/tmp/sb/disk0.qcow2"]]),
    incoming: true,
    agentChardev: "qga0",
    agentSocket: "/tmp/sb/qga.sock",
    isDirectory: () => false,
  };
  it("touches nothing of the VM: overlay disks, isolated NIC, own sockets, no display", () => {
    const { argv, refusals } = sandboxArgv(VM, spec);
    expect(refusals).toEqual([]);
    const joined = argv.join(" ");
    expect(joined).not.toMatch(/\/run\/vms\//); // no socket or pid file of the VM
    expect(joined).not.toContain("/vms/web.qcow2");
    expect(argv).toContain("driver=file,node-name=d0f,filename=/tmp/sb/disk0.qcow2");
    expect(argv).toContain("hubport,id=n0,hubid=100");
    expect(argv).toContain("virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56"); // the NIC stays: its state is in the vmstate
    expect(argv).toContain("socket,id=qga0,path=/tmp/sb/qga.sock,server=on,wait=off");
    expect(argv).toContain("file:/tmp/sb/serial0.log");
    expect(argv).not.toContain("-vnc");
    expect(argv).not.toContain("-daemonize");
    expect(argv.slice(-7)).toEqual([
      "-display",
      "none",
      "-qmp",
      "unix:/tmp/sb/qmp.sock,server=on,wait=off",
      "-S",
      "-incoming",
      "defer",
    ]);
  });
  it("refuses what it cannot make harmless", () => {
    const other = [
      ...VM,
      "-drive",
      "file=/vms/data.raw,format=raw,if=virtio",
      "-device",
      "vfio-pci,host=01:00.0",
      "-nic",
      "user,model=e1000",
    ];
    const { refusals } = sandboxArgv(other, spec);
    expect(refusals.join("\n")).toMatch(/\/vms\/data.raw is not part of the snapshot/);
    expect(refusals.join("\n")).toMatch(/vfio-pci/);
    expect(refusals.join("\n")).toMatch(/-nic/);
    expect(sandboxArgv([...VM, "-drive", "file=/isos/install.iso,media=cdrom"], spec).refusals).toEqual([]);
  });
  it("gives a file-backed RAM its own file", () => {
    const shm = [...VM, "-object", "memory-backend-file,id=mem0,size=512M,mem-path=/dev/shm/web-ram,share=on"];
    expect(sandboxArgv(shm, spec).argv).toContain("memory-backend-file,id=mem0,size=512M,mem-path=/tmp/sb,share=on");
  });
});

// Where a running VM's guest agent is reached: the chardev behind its `virtserialport
// name=org.qemu.guest_agent.0` (from the VM's command line, launch facts: qemu-argv.ts) and that
// chardev's socket path as the VM's QEMU reports it now (QMP query-chardev, chardev/char-socket.c:
// "disconnected:unix:<path>,server=on" while no client is connected, "unix:<path>,server=on" while one
// is). Only a unix socket on which QEMU listens can be connected to (a client-mode chardev connects out
// to something else, e.g. libvirt's own agent socket), and only while no other client holds it (QEMU
// serves one; a second waits unanswered).
// Invariants: never throws — the answer is a path or the reason there is none, in words.
import { guestAgentChardev } from "../fleet/qemu-argv";
import type { QmpClient } from "../qmp";

export type AgentSocket = { path: string } | { reason: string };

/** QMP query-chardev's filename of a unix socket chardev → its path, whether QEMU listens on it and whether a client is connected. */
export function parseUnixChardev(filename: string): { path: string; server: boolean; connected: boolean } | undefined {
  const m = /^(disconnected:)?unix:(.+?)(,server(=on)?)?$/.exec(filename);
  if (!m) return undefined;
  return { path: m[2]!, server: Boolean(m[3]), connected: !m[1] };
}

export async function locateAgentSocket(qmp: QmpClient, argv: string[] | null | undefined): Promise<AgentSocket> {
  if (!argv?.length)
    return {
      reason: "the VM's command line is unknown (launch facts not read), so its guest agent channel cannot be found",
    };
  const id = guestAgentChardev(argv);
  if (!id) return { reason: "no guest agent channel (the VM has no virtserialport name=org.qemu.guest_agent.0)" };
  let chardevs: Array<{ label: string; filename: string }>;
  try {
    chardevs = await qmp.queryChardev();
  } catch (err) {
    return { reason: `QEMU did not list its chardevs: ${(err as Error).message}` };
  }
  const dev = chardevs.find((c) => c.label === id);
  if (!dev) return { reason: `the guest agent's chardev "${id}" is not in QEMU's chardev list` };
  const unix = parseUnixChardev(dev.filename);
  if (!unix)
    return {
      reason: `the guest agent's chardev "${id}" is ${dev.filename.replace(/^disconnected:/, "").split(":")[0]}, not a unix socket Snapfleet can connect to`,
    };
  if (!unix.server)
    return {
      reason: `the guest agent's chardev "${id}" connects out to ${unix.path} (another program owns the agent)`,
    };
  if (unix.connected)
    return {
      reason: `another client is connected to the guest agent's socket ${unix.path} (QEMU serves one at a time)`,
    };
  return { path: unix.path };
}

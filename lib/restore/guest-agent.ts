// The QEMU guest agent's liveness check for a sandbox restore (verify): guest-sync-delimited (the agent's
// own resynchronisation: it answers the id after discarding anything half-read) then guest-ping, over a
// stream to the agent's socket — a local unix socket, or one forwarded over SSH. The wire protocol is
// lib/guest-agent/channel.ts (shared with snapshot quiesce).
// Invariants: never throws (the outcome says why); the stream is destroyed when the check ends; bounded
// by timeoutMs.
import type { Duplex } from "node:stream";
import { GuestAgentChannel } from "../guest-agent/channel";

/** guest-sync + guest-ping over a stream opened by `open` (a local socket, or one forwarded over SSH). */
export async function guestPingOver(
  open: () => Promise<Duplex>,
  timeoutMs: number,
): Promise<{ ok: boolean; error?: string }> {
  const deadline = Date.now() + timeoutMs;
  const left = () => Math.max(1, deadline - Date.now());
  let channel: GuestAgentChannel | undefined;
  try {
    channel = await GuestAgentChannel.open(open, left());
    await channel.sync(left());
    await channel.ping(left());
    return { ok: true };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  } finally {
    channel?.close();
  }
}

// The QEMU guest agent's liveness check for a sandbox restore (verify): guest-sync-delimited (the agent's
// own resynchronisation: it answers the id after discarding anything half-read) then guest-ping, over a
// stream to the agent's socket — a local unix socket, or one forwarded over SSH.
// Invariants: never throws (the outcome says why); the stream is destroyed when the check ends; bounded
// by timeoutMs.
import type { Duplex } from "node:stream";

export /** guest-sync + guest-ping over an opened stream (the agent's socket forwarded over SSH). */
async function guestPingOver(open: () => Promise<Duplex>, timeoutMs: number): Promise<{ ok: boolean; error?: string }> {
  let s: Duplex;
  try {
    s = await open();
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
  return new Promise((resolve) => {
    const id = Math.floor(Math.random() * 1e9);
    let buf = "";
    const done = (r: { ok: boolean; error?: string }) => {
      clearTimeout(timer);
      s.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done({ ok: false, error: `no answer within ${timeoutMs / 1000} s` }), timeoutMs);
    s.setEncoding("utf8");
    s.on("data", (d: string) => {
      buf += d.replaceAll("\xff", "");
      const lines = buf.split("\n").filter((l) => l.trim());
      if (lines.some((l) => l.includes(`"return": ${id}`) || l.includes(`"return":${id}`)) && lines.some((l) => /"return":\s*\{\s*\}/.test(l))) done({ ok: true });
    });
    s.on("error", (err: Error) => done({ ok: false, error: err.message }));
    s.write(`\xff{"execute":"guest-sync-delimited","arguments":{"id":${id}}}\n{"execute":"guest-ping"}\n`);
  });
}

// A `unix:` migration target for tests: QEMU connects and streams the vmstate, we write it to a file
// (or discard it). Shell-free, unlike `exec:cat > file` (QEMU.md §5), and deterministic: `done`
// resolves once QEMU closed the stream and every byte is on disk, so no polling for the file to settle.
// It never fails the stream: a failing sink would freeze a background-snapshotted guest (QEMU.md §2).
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import net from "node:net";
import path from "node:path";

export interface MigrationSink {
  /** URI for `migrate`. */
  uri: string;
  /** Resolves with the byte count once the stream ended and (if any) the file is flushed. */
  done: Promise<number>;
  close(): Promise<void>;
}

/** Listens on `<dir>/<name>.sock`; writes the stream to `file`, or discards it when file is undefined. */
export async function startMigrationSink(dir: string, name: string, file?: string): Promise<MigrationSink> {
  const sockPath = path.join(dir, `${name}.sock`);
  let resolveDone!: (n: number) => void;
  const done = new Promise<number>((resolve) => (resolveDone = resolve));
  const conns = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    conns.add(sock);
    sock.on("close", () => conns.delete(sock));
    server.close(); // one migration per sink
    let bytes = 0;
    sock.on("data", (c: Buffer) => (bytes += c.length));
    sock.on("error", () => {});
    if (file) {
      const out = createWriteStream(file);
      sock.pipe(out);
      out.on("finish", () => resolveDone(bytes));
    } else {
      sock.resume();
      sock.on("close", () => resolveDone(bytes));
    }
  });
  server.listen(sockPath);
  await once(server, "listening");
  return {
    uri: `unix:${sockPath}`,
    done,
    async close() {
      for (const c of conns) c.destroy();
      if (server.listening) await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

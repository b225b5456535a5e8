// A `unix:` vmstate sink for the bare-QMP methods: QEMU connects, every byte goes to a file. Like the
// product's sink it never closes or stops reading before QEMU does (a broken stream freezes a 7.2
// background-snapshotted guest, QEMU.md §2). `done` resolves with the byte count once the file is closed.
import { createWriteStream } from "node:fs";
import net from "node:net";
import path from "node:path";

export interface FileSink {
  uri: string;
  /** Resolves once QEMU closed the stream and the file is flushed. */
  done: Promise<number>;
  close(): void;
}

export async function openFileSink(dir: string, name: string, file: string): Promise<FileSink> {
  const sock = path.join(dir, `${name}.sock`);
  let received = 0;
  let resolveDone!: (n: number) => void;
  const done = new Promise<number>((r) => (resolveDone = r));
  const server = net.createServer((conn) => {
    server.close(); // one stream per sink
    const out = createWriteStream(file);
    conn.on("data", (chunk: Buffer) => {
      received += chunk.length;
      if (!out.write(chunk)) {
        conn.pause();
        out.once("drain", () => conn.resume());
      }
    });
    conn.on("error", () => {});
    conn.on("end", () => out.end());
    out.on("close", () => resolveDone(received));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(sock, resolve);
  });
  return {
    uri: `unix:${sock}`,
    done,
    close: () => server.close(),
  };
}

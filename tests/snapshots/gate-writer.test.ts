// The gate's writer (lib/snapshots/gate-writer.pl) with a real pipe and a real producer standing in for
// QEMU's migration thread (perl writing a file into the pipe with blocking writes, as QEMU's channel
// does), and a unix-socket reader standing in for the vmstate sink. What QEMU cannot show on demand is
// checked here: the producer blocks in pipe_write at the gate; the relayed stream is byte-exact with the
// filler page dropped; a lost race leaves the stream intact; the dashboard's side closing without a word
// opens the gate, and that stream is drained, not kept; a sink that is gone turns the copy into a drain
// (the producer never sees a broken pipe).
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { blockedInPipeWrite, gateWriterCommand, prepareRamWalkGate } from "../../lib/snapshots/ram-walk-gate";
import { until } from "../support/wait";

let dir: string;
let data: Buffer;
let dataPath: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "snapfleet-gw-"));
  data = randomBytes(3 * 1024 * 1024 + 123);
  dataPath = path.join(dir, "stream.bin");
  await writeFile(dataPath, data);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** A unix socket collecting one connection's bytes: the sink's stand-in. */
async function collector(name: string): Promise<{ socket: string; received: Promise<Buffer>; bytesSoFar(): number }> {
  const socket = path.join(dir, `${name}.sink`);
  let resolve!: (b: Buffer) => void;
  let soFar = 0;
  const received = new Promise<Buffer>((r) => (resolve = r));
  const server = net.createServer((c) => {
    const chunks: Buffer[] = [];
    c.on("data", (d) => {
      chunks.push(d);
      soFar += d.length;
    });
    c.on("end", () => {
      server.close();
      resolve(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((r) => server.listen(socket, r));
  return { socket, received, bytesSoFar: () => soFar };
}

/**
 * `producer | writer`, as QEMU runs its `exec:` target: the producer writes its pid to a file, waits
 * `delayMs` (so the writer may close the gate first, or not), then writes the whole stream with blocking
 * writes and exits with its write status.
 */
function pipeline(writer: string, name: string, delayMs: number) {
  const pidFile = path.join(dir, `${name}.pid`);
  const producer = `perl -e 'open(P, ">", $ARGV[0]); print P $$; close P; select(undef, undef, undef, ${delayMs / 1000}); open(D, "<", $ARGV[1]); binmode D; binmode STDOUT; local $/; my $d = <D>; exit(syswrite(STDOUT, $d) == length($d) ? 0 : 3)' '${pidFile}' '${dataPath}'`;
  const child = spawn("/bin/sh", ["-c", `${producer} | ${writer}`], { stdio: "ignore" });
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  const pid = until(
    async () => Number(await readFile(pidFile, "utf8").catch(() => "")) || undefined,
    "the producer's pid",
    10_000,
  );
  return { exited, pid };
}

it("gated: the producer blocks at the gate until it opens, then the stream arrives byte-exact without the filler", async () => {
  const sink = await collector("gated");
  const gate = await prepareRamWalkGate({ socketDir: dir, name: "gated", sinkUri: `unix:${sink.socket}` });
  const run = pipeline(gate.uri.slice("exec:".length), "gated", 300);
  expect(await gate.state(10_000)).toBe("gated");
  const producer = await run.pid;
  await until(
    async () => (await blockedInPipeWrite(producer)) || undefined,
    "the producer blocked at the gate",
    10_000,
  );
  // Held: the producer stays blocked and nothing reached the sink.
  expect(await blockedInPipeWrite(producer)).toBe(true);
  expect(sink.bytesSoFar()).toBe(0);
  gate.open();
  const received = await sink.received;
  expect(received.length).toBe(data.length);
  expect(sha(received)).toBe(sha(data));
  expect(await gate.outcome).toBe(`done ${data.length}`);
  expect(await run.exited).toBe(0);
  await gate.dispose();
});

it("a lost race (the producer wrote first): reported open, and the stream arrives intact", async () => {
  const sink = await collector("open");
  const gate = await prepareRamWalkGate({ socketDir: dir, name: "open", sinkUri: `unix:${sink.socket}` });
  // The writer starts 300 ms after the producer filled the pipe.
  const run = pipeline(`{ sleep 0.3; ${gate.uri.slice("exec:".length)}; }`, "open", 0);
  expect(await gate.state(10_000)).toBe("open");
  const received = await sink.received;
  expect(sha(received)).toBe(sha(data));
  expect(await run.exited).toBe(0);
  await gate.dispose();
});

it("the dashboard's side closing without a word opens the gate, and that stream is drained, never kept", async () => {
  let sinkConnected = false;
  const probe = net.createServer(() => (sinkConnected = true)); // on a path of its own: counts connections
  const control = path.join(dir, "eof.gate");
  // A bare control socket that hangs up once the writer reports: what a dashboard killed at that moment
  // leaves. Whether the disks were taken then is unknown, so no vmstate may come of it.
  const server = net.createServer((c) => c.once("data", () => c.destroy()));
  await new Promise<void>((r) => server.listen(control, r));
  const probeSocket = path.join(dir, "eof-probe.sink");
  await new Promise<void>((r) => probe.listen(probeSocket, r));
  const run = pipeline(gateWriterCommand(control, probeSocket), "eof", 300);
  // QEMU's side is not held: the producer writes its whole stream and exits cleanly.
  expect(await run.exited).toBe(0);
  expect(sinkConnected).toBe(false);
  server.close();
  probe.close();
});

it("a sink that is gone: the writer drains the stream to its end, the producer never sees a broken pipe, the reason is reported", async () => {
  const gate = await prepareRamWalkGate({
    socketDir: dir,
    name: "nosink",
    sinkUri: `unix:${path.join(dir, "nobody.sink")}`,
  });
  const run = pipeline(gate.uri.slice("exec:".length), "nosink", 300);
  expect(await gate.state(10_000)).toBe("gated");
  gate.open();
  expect(await gate.outcome).toMatch(/^error cannot reach the sink/);
  expect(await run.exited).toBe(0);
  await gate.dispose();
});

it("refuses paths it would have to put unquoted in QEMU's shell command", () => {
  expect(() => gateWriterCommand("/tmp/a b/c.gate", "/tmp/s.sock")).toThrow(/refusing to put/);
  expect(gateWriterCommand("/tmp/x/c.gate", "/tmp/x/s.sock")).toMatch(
    /^exec perl '\/.+gate-writer\.pl' '\/tmp\/x\/c\.gate' '\/tmp\/x\/s\.sock'$/,
  );
});

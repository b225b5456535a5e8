// The vmstate sink against real sockets and real filesystems: a complete stream is kept, a truncated
// one is removed, a full disk (a real 1 MiB tmpfs) — or one with less free space than the room kept for
// the VM's disk writes — turns it into a drain that still reads everything QEMU sends, and
// switchToDiscard does the same on purpose. The "QEMU" here is a plain unix-socket
// client writing a synthetic vmstate (QEVM header … 0x00 0x06 <len> {json}).
// The sink is a process of its own (sink-process.ts): these tests also pin that it stays in the caller's
// session (its scheduling group), shrugs off the signals sent to the caller's whole process group, keeps
// a status file while it works (removed once the result is handed over), exits when done or when QEMU
// never connects, and that a sink process that dies is reported and its file removed.
// Surviving the dashboard itself, with real QEMU: sink-survives-dashboard.qemu.test.ts.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import { constants as osConstants, getPriority, tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GROUP_SIGNALS, SINK_NICE, type SinkStatus } from "../../lib/snapshots/sink-process";
import { checkVmstate, VmstateSink } from "../../lib/snapshots/vmstate-sink";
import { alive, until } from "../support/wait";
import { expectSinkGaveUp, fakeVmstate } from "./fixtures/sink-fixtures";

let root: string;
let sockDir: string;
let n = 0;

beforeAll(() => {
  root = mkdtempSync(path.join(tmpdir(), "sink-test-"));
  sockDir = path.join(root, "sock");
  mkdirSync(sockDir, { mode: 0o700 });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Plays QEMU: connects, writes every chunk (honouring backpressure), closes. Resolves when all was sent. */
function sendStream(
  socketPath: string,
  data: Buffer,
  chunk = 64 * 1024,
  onProgress?: (sent: number) => void | Promise<void>,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect(socketPath);
    s.once("error", reject);
    const writeAll = async () => {
      for (let off = 0; off < data.length; off += chunk) {
        s.write(data.subarray(off, off + chunk));
        await onProgress?.(off + chunk);
        // (checked after onProgress: a 'drain' during its await must not be waited for again)
        if (s.writableNeedDrain) await new Promise((r) => s.once("drain", r));
      }
    };
    s.once("connect", () => {
      writeAll().then(() => s.end(() => resolve()), reject);
    });
  });
}

async function openSink(dir: string, connectTimeoutMs?: number) {
  return VmstateSink.open({
    filePath: path.join(dir, `vm-${++n}`, "vmstate.bin"),
    socketDir: sockDir,
    name: `t${n}`,
    connectTimeoutMs,
  });
}

/**
 * A process's run state and which of GROUP_SIGNALS it catches or has pending, from /proc/<pid>/status
 * (SigCgt: caught; SigPnd + ShdPnd: sent, not yet delivered). Gone: state "gone", nothing pending.
 */
function signalState(pid: number): { state: string; caught: string[]; pending: string[] } {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return { state: "gone", caught: [], pending: [] };
  }
  const mask = (field: string) => BigInt(`0x${new RegExp(`^${field}:\\s*([0-9a-f]+)$`, "m").exec(status)![1]}`);
  const inMask = (m: bigint) =>
    GROUP_SIGNALS.filter((sig) => ((m >> BigInt(osConstants.signals[sig] - 1)) & 1n) === 1n);
  return {
    state: /^State:\s*(.*)$/m.exec(status)![1],
    caught: inMask(mask("SigCgt")),
    pending: inMask(mask("SigPnd") | mask("ShdPnd")),
  };
}

function readStatus(sink: VmstateSink): SinkStatus | undefined {
  try {
    return JSON.parse(readFileSync(sink.statusPath, "utf8")) as SinkStatus;
  } catch {
    return undefined;
  }
}

describe("checkVmstate", () => {
  it("accepts a complete stream and names what is wrong with others", () => {
    const good = fakeVmstate(1000);
    expect(checkVmstate(good.subarray(0, 8), good, good.length)).toBeUndefined();
    expect(checkVmstate(good.subarray(0, 8), good.subarray(0, good.length - 3), good.length - 3)).toMatch(/truncated/);
    expect(checkVmstate(Buffer.from("NOPE0000"), good, good.length)).toMatch(/QEVM/);
    expect(checkVmstate(Buffer.alloc(0), Buffer.alloc(0), 0)).toMatch(/no data/);
  });
});

describe("VmstateSink", () => {
  it("writes a complete stream to its file and removes its socket", async () => {
    const sink = await openSink(root);
    expect(sink.uri).toBe(`unix:${sink.socketPath}`);
    const data = fakeVmstate(3 * 1024 * 1024 + 17);
    await sendStream(sink.socketPath, data);
    const result = await sink.finished;
    expect(result).toMatchObject({
      connected: true,
      complete: true,
      bytesReceived: data.length,
      bytesWritten: data.length,
    });
    expect(readFileSync(sink.filePath).equals(data)).toBe(true);
    expect(existsSync(sink.socketPath)).toBe(false);
  });

  it("removes a truncated stream and says so", async () => {
    const sink = await openSink(root);
    const data = fakeVmstate(512 * 1024);
    await sendStream(sink.socketPath, data.subarray(0, 300 * 1024));
    const result = await sink.finished;
    expect(result.complete).toBe(false);
    expect(result.invalidReason).toMatch(/truncated/);
    expect(existsSync(sink.filePath)).toBe(false);
  });

  it("accepts only one connection", async () => {
    const sink = await openSink(root);
    const first = net.connect(sink.socketPath);
    await new Promise((r) => first.once("connect", r));
    const data = fakeVmstate(1024);
    // The listener is closed once QEMU's stream is accepted: a second client is refused or dropped (reset
    // when it reached the listen backlog before the sink process accepted the first).
    const second = await new Promise<string>((resolve) => {
      const s = net.connect(sink.socketPath);
      s.once("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error"));
      s.once("close", () => resolve("closed"));
    });
    expect(["ECONNREFUSED", "ENOENT", "ECONNRESET", "closed"]).toContain(second);
    first.end(data);
    expect((await sink.finished).complete).toBe(true);
  });

  it("on a full disk keeps draining everything QEMU sends, records ENOSPC and leaves no file", async () => {
    const mnt = path.join(root, "tmpfs");
    mkdirSync(mnt);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt]);
    try {
      const sink = await openSink(mnt);
      const data = fakeVmstate(8 * 1024 * 1024);
      // Every byte is accepted: the sender never sees an error, as QEMU must not.
      await sendStream(sink.socketPath, data);
      const result = await sink.finished;
      expect(result.bytesReceived).toBe(data.length);
      expect(result.complete).toBe(false);
      expect(result.writeError?.code).toBe("ENOSPC");
      expect(existsSync(sink.filePath)).toBe(false);
    } finally {
      execFileSync("umount", [mnt]);
    }
  });

  it("leaves the room kept for the VM's disk writes: below it, it stops writing as on ENOSPC and drains", async () => {
    const mnt = path.join(root, "tmpfs-keep");
    mkdirSync(mnt);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=16m", "tmpfs", mnt]);
    try {
      execFileSync("fallocate", ["-l", String(13 * 1024 * 1024), path.join(mnt, "ballast")]); // 3 MiB left
      const sink = await VmstateSink.open({
        filePath: path.join(mnt, "vmstate.bin"),
        socketDir: sockDir,
        name: `t${++n}`,
        keepFreeBytes: 4 * 1024 * 1024,
      });
      const data = fakeVmstate(2 * 1024 * 1024); // it would fit: the room is what it must not take
      await sendStream(sink.socketPath, data);
      const result = await sink.finished;
      expect(result).toMatchObject({ bytesReceived: data.length, bytesWritten: 0, complete: false });
      expect(result.writeError).toMatchObject({ code: "ENOSPC", keptFreeBytes: 4 * 1024 * 1024 });
      expect(result.writeError!.message).toMatch(
        /^only 3\.0 MiB left on the file system, and 4\.0 MiB of it is kept for the VM's disk writes/,
      );
      expect(existsSync(sink.filePath)).toBe(false);
    } finally {
      execFileSync("umount", [mnt]);
    }
  });

  it("switchToDiscard drops the file but reads the stream to its end", async () => {
    const sink = await openSink(root);
    const data = fakeVmstate(4 * 1024 * 1024);
    let switched = false;
    // The sink is another process: wait until it has switched before sending the rest.
    await sendStream(sink.socketPath, data, 64 * 1024, async (sent) => {
      if (!switched && sent >= 1024 * 1024) {
        switched = true;
        await sink.switchToDiscard("cancelled by the user");
      }
    });
    const result = await sink.finished;
    expect(result).toMatchObject({
      complete: false,
      bytesReceived: data.length,
      bytesWritten: 0,
      discardReason: "cancelled by the user",
    });
    expect(result.writeError).toBeUndefined();
    expect(existsSync(sink.filePath)).toBe(false);
  });

  it("close() before QEMU connects removes the file and the socket", async () => {
    const sink = await openSink(root);
    await sink.close();
    const result = await sink.finished;
    expect(result).toMatchObject({ connected: false, complete: false, bytesReceived: 0 });
    expect(existsSync(sink.filePath)).toBe(false);
    expect(existsSync(sink.socketPath)).toBe(false);
  });

  it("refuses to overwrite an existing file (and leaves the other sink's files alone)", async () => {
    const sink = await openSink(root);
    await expect(VmstateSink.open({ filePath: sink.filePath, socketDir: sockDir, name: "dup" })).rejects.toThrow(
      /EEXIST/,
    );
    expect(existsSync(sink.filePath)).toBe(true);
    expect(readStatus(sink)?.pid).toBe(sink.pid);
    await sink.close();
  });

  it("runs in a process of its own, in the caller's session, that keeps a status file while it works, then exits", async () => {
    const sink = await openSink(root);
    expect(sink.pid).not.toBe(process.pid);
    // Fields 5 and 6 of /proc/<pid>/stat: process group and session. A session of its own would be a
    // scheduling autogroup of its own, competing with QEMU as an equal (see vmstate-sink.ts).
    const ids = (pid: number) => readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ").slice(2, 4);
    expect(ids(sink.pid)).toEqual(ids(process.pid));
    // A little nicer than its parent, so QEMU fills the socket between its reads (sink-process.ts).
    expect(getPriority(sink.pid)).toBe(Math.min(19, getPriority() + SINK_NICE));
    expect(readStatus(sink)).toMatchObject({ version: 1, pid: sink.pid, filePath: sink.filePath, state: "listening" });

    const data = fakeVmstate(2 * 1024 * 1024);
    const conn = net.connect(sink.socketPath);
    await new Promise((r) => conn.once("connect", r));
    conn.write(data.subarray(0, 1024 * 1024));
    const streaming = await until(
      () => (readStatus(sink)?.state === "streaming" ? readStatus(sink) : undefined),
      "state streaming",
      10_000,
    );
    expect(streaming.connectedAt).toBeTruthy();
    // What a Ctrl-C, a closed terminal or `systemctl stop` sends to every process of the dashboard's
    // group: the sink keeps the stream (and the file) whole. The delivery itself is observed — the
    // kernel's pending set for the sink (/proc/<pid>/status) empties of them — before the rest of the
    // stream is sent: the sink is then still running and streaming, and only a sink that survived them
    // can report the whole stream written.
    expect(signalState(sink.pid).caught).toEqual([...GROUP_SIGNALS]); // handled, not left to their default action
    for (const signal of GROUP_SIGNALS) process.kill(sink.pid, signal);
    const delivered = await until(
      () => {
        const s = signalState(sink.pid);
        return s.pending.length === 0 ? s : undefined;
      },
      "the signals to be delivered to the sink",
      10_000,
    );
    expect(delivered.state).toMatch(/^[RSD] /); // not a zombie (killed) nor stopped (SIGTSTP)
    expect(readStatus(sink)?.state).toBe("streaming");
    conn.end(data.subarray(1024 * 1024));
    const result = await sink.finished;
    expect(result).toMatchObject({ complete: true, bytesWritten: data.length });
    expect(readFileSync(sink.filePath).equals(data)).toBe(true);
    // The result is in the caller's hands: the status file is gone, and so is the process.
    expect(existsSync(sink.statusPath)).toBe(false);
    await until(() => (alive(sink.pid) ? undefined : true), "the sink process to exit", 5_000);
  });

  it("gives up, removing its file and socket, when QEMU never connects", async () => {
    const sink = await openSink(root, 300);
    await expectSinkGaveUp(await sink.finished, sink, "QEMU did not connect within 300 ms");
  });

  it("a sink process that dies is reported, and its partial file removed", async () => {
    const sink = await openSink(root);
    const conn = net.connect(sink.socketPath);
    conn.on("error", () => {});
    await new Promise((r) => conn.once("connect", r));
    conn.write(fakeVmstate(1024 * 1024));
    await until(() => (readStatus(sink)?.state === "streaming" ? true : undefined), "state streaming", 10_000);
    process.kill(sink.pid, "SIGKILL");
    const result = await sink.finished;
    expect(result.complete).toBe(false);
    expect(result.invalidReason).toMatch(/sink process exited unexpectedly \(SIGKILL\).*stream was cut/);
    expect(existsSync(sink.filePath)).toBe(false);
    conn.destroy();
  });
});

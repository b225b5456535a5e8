// The SSH hosts' vmstate writer (lib/snapshots/remote-sink.ts), run the way QEMU runs it — `/bin/sh -c
// <command>` with the stream on stdin — without QEMU: shell metacharacters can never reach /bin/sh, the
// writer keeps the stream, stops writing before the room kept for the disks but drains to EOF (the
// writing side never sees a broken pipe), obeys the discard flag, never overwrites, runs on after the
// first shell exited, and leaves a status file that says what happened.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { vmDirName } from "../../lib/snapshots/jobs";
import {
  buildExecSinkCommand,
  execSinkPaths,
  parseExecSinkStatus,
  quoteRemotePath,
  RemoteExecSink,
  resultOfExecStatus,
  SAFE_REMOTE_PATH,
  UnsafeRemotePathError,
  verifyRemoteVmstate,
  type ExecSinkStatus,
} from "../../lib/snapshots/remote-sink";
import { localHostFiles, type HostFiles } from "../../lib/fleet/host-files";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "sf-execsink-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A stream shaped like a vmstate: QEVM v3 header, payload, QEMU's closing VM description. */
function fakeVmstate(payloadBytes: number): Buffer {
  const desc = Buffer.from(JSON.stringify({ page_size: 4096, devices: [{ name: "x" }] }));
  const len = Buffer.alloc(4);
  len.writeUInt32BE(desc.length);
  return Buffer.concat([
    Buffer.from([0x51, 0x45, 0x56, 0x4d, 0, 0, 0, 3]),
    Buffer.alloc(payloadBytes, 0xab),
    Buffer.from([0x00, 0x06]),
    len,
    desc,
  ]);
}

/**
 * Runs the command as QEMU's exec: does (`/bin/sh -c <command>`, the stream on its stdin) — fed by `cat`
 * from a file, whose failure (EPIPE: the reader went away) is reported as writeError. Resolves with the
 * final status once the writer finished. (Node's own child stdin is destroyed when the first shell exits,
 * which QEMU never does, so a shell pipeline plays QEMU's part.)
 */
async function runLikeQemu(
  command: string,
  input: Buffer,
  statusPath: string,
): Promise<{ status: ExecSinkStatus; writeError?: string }> {
  const inputFile = path.join(dir, `input-${Math.random().toString(36).slice(2)}`);
  await writeFile(inputFile, input);
  const child = spawn(
    "/bin/sh",
    ["-c", '{ cat "$1" || echo "CAT FAILED" >&2; } | /bin/sh -c "$2"', "sh", inputFile, command],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  await new Promise((r) => child.once("close", r));
  const deadline = Date.now() + 20_000;
  for (;;) {
    const st = parseExecSinkStatus(await readFile(statusPath).catch(() => null));
    if (st?.state === "finished") {
      await rm(inputFile, { force: true });
      return { status: st, writeError: stderr.trim() || undefined };
    }
    if (Date.now() > deadline) throw new Error(`the writer did not finish: ${JSON.stringify(st)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("exec: writer quoting", () => {
  test.each([
    "/tmp/a$(id)/vmstate.bin",
    "/tmp/a;id/vmstate.bin",
    "/tmp/a'b/vmstate.bin",
    '/tmp/a"b/vmstate.bin',
    "/tmp/a`id`/vmstate.bin",
    "/tmp/a b/vmstate.bin",
    "/tmp/a\nid/vmstate.bin",
    "/tmp/a|id/vmstate.bin",
    "/tmp/a&id/vmstate.bin",
    "/tmp/a*/vmstate.bin",
    "/tmp/${IFS}/vmstate.bin",
    "/tmp/../etc/vmstate.bin",
    "relative/vmstate.bin",
    "/tmp/a\\b/vmstate.bin",
    "/tmp/a>b/vmstate.bin",
  ])("refuses %j before any shell sees it", (p) => {
    expect(() => quoteRemotePath(p)).toThrow(UnsafeRemotePathError);
    expect(() => buildExecSinkCommand({ filePath: p, keepFreeBytes: 0 })).toThrow(UnsafeRemotePathError);
  });

  test("random paths full of metacharacters: refused, or made only of the safe set", () => {
    const alphabet = "abc/._-@+$();'\"`|&<>*?[]{}~!#% \t\n\\=:,^";
    let seed = 42;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    for (let i = 0; i < 2000; i++) {
      const p = `/${Array.from({ length: 1 + Math.floor(rnd() * 20) }, () => alphabet[Math.floor(rnd() * alphabet.length)]).join("")}`;
      let quoted: string | undefined;
      try {
        quoted = quoteRemotePath(p);
      } catch (err) {
        expect(err).toBeInstanceOf(UnsafeRemotePathError);
        continue;
      }
      expect(p).toMatch(SAFE_REMOTE_PATH);
      expect(quoted).toBe(`'${p}'`);
    }
  });

  test("a VM name or snapshot directory with shell syntax never runs anything", async () => {
    const canary = path.join(dir, "PWNED");
    const hostile = `$(touch ${canary});touch ${canary}'"\`touch ${canary}\``;
    // The VM's directory name is sanitised; the snapshot directory is checked and refused.
    const vmDir = vmDirName({ id: "0123456789abcdef", name: hostile });
    expect(`/x/${vmDir}`).toMatch(SAFE_REMOTE_PATH);
    expect(() => buildExecSinkCommand({ filePath: `${dir}/${hostile}/vmstate.bin`, keepFreeBytes: 0 })).toThrow(
      UnsafeRemotePathError,
    );
    const filePath = path.join(dir, vmDir, "vmstate.bin");
    await import("node:fs/promises").then((fs) => fs.mkdir(path.dirname(filePath), { recursive: true }));
    const { status } = await runLikeQemu(
      buildExecSinkCommand({ filePath, keepFreeBytes: 0 }),
      fakeVmstate(1000),
      execSinkPaths(filePath).statusPath,
    );
    expect(status.complete).toBe(true);
    expect(existsSync(canary)).toBe(false);
  });
});

describe("exec: writer behaviour", () => {
  test("writes the whole stream, in chunks, and says so", async () => {
    const filePath = path.join(dir, "ok", "vmstate.bin");
    await import("node:fs/promises").then((fs) => fs.mkdir(path.dirname(filePath), { recursive: true }));
    const input = fakeVmstate(3 * 1024 * 1024 + 123);
    const { status, writeError } = await runLikeQemu(
      buildExecSinkCommand({ filePath, keepFreeBytes: 1024, chunkBytes: 1024 * 1024 }),
      input,
      execSinkPaths(filePath).statusPath,
    );
    expect(writeError).toBeUndefined();
    expect(status).toMatchObject({
      state: "finished",
      complete: true,
      code: "",
      bytesWritten: input.length,
      bytesReceived: input.length,
    });
    expect((await readFile(filePath)).equals(input)).toBe(true);
    const checked = await verifyRemoteVmstate(localHostFiles, filePath, resultOfExecStatus(status));
    expect(checked).toMatchObject({ complete: true, bytesWritten: input.length });
  });

  test("below the room kept for the disks it stops writing, removes the file and drains to EOF", async () => {
    const filePath = path.join(dir, "full", "vmstate.bin");
    await import("node:fs/promises").then((fs) => fs.mkdir(path.dirname(filePath), { recursive: true }));
    const input = fakeVmstate(2 * 1024 * 1024);
    const huge = 2 ** 52; // more than any file system has free
    const { status, writeError } = await runLikeQemu(
      buildExecSinkCommand({ filePath, keepFreeBytes: huge, chunkBytes: 65536 }),
      input,
      execSinkPaths(filePath).statusPath,
    );
    expect(writeError).toBeUndefined(); // QEMU's side never saw a broken pipe
    expect(status).toMatchObject({
      state: "finished",
      complete: false,
      code: "ENOSPC",
      bytesWritten: 0,
      bytesReceived: input.length,
    });
    expect(existsSync(filePath)).toBe(false);
    expect(resultOfExecStatus(status).writeError).toMatchObject({ code: "ENOSPC", keptFreeBytes: huge });
  });

  test("the discard flag (cancel) removes the file and drains", async () => {
    const filePath = path.join(dir, "cancel", "vmstate.bin");
    await import("node:fs/promises").then((fs) => fs.mkdir(path.dirname(filePath), { recursive: true }));
    await writeFile(execSinkPaths(filePath).discardFlagPath, "cancelled");
    const input = fakeVmstate(1024 * 1024);
    const { status, writeError } = await runLikeQemu(
      buildExecSinkCommand({ filePath, keepFreeBytes: 0, chunkBytes: 65536 }),
      input,
      execSinkPaths(filePath).statusPath,
    );
    expect(writeError).toBeUndefined();
    expect(status).toMatchObject({ complete: false, code: "discard", bytesReceived: input.length });
    expect(existsSync(filePath)).toBe(false);
  });

  test("an existing file is never overwritten; a truncated stream is caught by the content check", async () => {
    const filePath = path.join(dir, "exists", "vmstate.bin");
    await import("node:fs/promises").then((fs) => fs.mkdir(path.dirname(filePath), { recursive: true }));
    await writeFile(filePath, "someone else's");
    const { status } = await runLikeQemu(
      buildExecSinkCommand({ filePath, keepFreeBytes: 0 }),
      fakeVmstate(1000),
      execSinkPaths(filePath).statusPath,
    );
    expect(status).toMatchObject({ complete: false, code: "EEXIST" });
    expect(await readFile(filePath, "utf8")).toBe("someone else's");

    const cut = path.join(dir, "cut", "vmstate.bin");
    await import("node:fs/promises").then((fs) => fs.mkdir(path.dirname(cut), { recursive: true }));
    const truncated = fakeVmstate(5000).subarray(0, 3000);
    const r = await runLikeQemu(
      buildExecSinkCommand({ filePath: cut, keepFreeBytes: 0 }),
      truncated,
      execSinkPaths(cut).statusPath,
    );
    expect(r.status.complete).toBe(true); // the writer only copies…
    const checked = await verifyRemoteVmstate(localHostFiles, cut, resultOfExecStatus(r.status));
    expect(checked).toMatchObject({ complete: false, invalidReason: expect.stringContaining("truncated") }); // …the dashboard judges
    expect(existsSync(cut)).toBe(false);
  });
});

describe("exec: writer followed by the dashboard (RemoteExecSink)", () => {
  /**
   * A writer whose stream pauses for a second after its first kilobyte (QEMU still streaming), followed by
   * a sink whose reads of the writer's /proc entry go through `onProc`; every other file is the real one.
   */
  async function follow(filePath: string, onProc: (read: () => Promise<Buffer | null>) => Promise<Buffer | null>) {
    const files: HostFiles = {
      ...localHostFiles,
      readFile: (p) => (p.startsWith("/proc/") ? onProc(() => localHostFiles.readFile(p)) : localHostFiles.readFile(p)),
    };
    await mkdir(path.dirname(filePath), { recursive: true }); // run-snapshot.ts makes it before the sink
    const sink = await RemoteExecSink.open({ files, filePath, keepFreeBytes: 0, pollMs: 20 });
    const input = path.join(dir, `${path.basename(path.dirname(filePath))}-input`);
    const stream = fakeVmstate(64 * 1024);
    await writeFile(input, stream);
    const qemu = spawn(
      "/bin/sh",
      [
        "-c",
        '{ head -c 1000 "$1"; sleep 1; tail -c +1001 "$1"; } | /bin/sh -c "$2"',
        "sh",
        input,
        sink.uri.slice("exec:".length),
      ],
      { stdio: "ignore" },
    );
    await new Promise((r) => qemu.once("close", r));
    return { result: await sink.finished, size: stream.length };
  }

  test("a writer that wrote 'finished' and exited between two reads is finished, not dead: its vmstate is kept", async () => {
    const filePath = path.join(dir, "race", "vmstate.bin");
    const { statusPath } = execSinkPaths(filePath);
    const { result, size } = await follow(filePath, async () => {
      // The process is gone when the dashboard looks for it: it has just written "finished" and exited.
      for (let i = 0; i < 200; i++) {
        if (parseExecSinkStatus(await readFile(statusPath).catch(() => null))?.state === "finished") break;
        await new Promise((r) => setTimeout(r, 25));
      }
      return null;
    });
    expect(result).toMatchObject({ complete: true, bytesWritten: size });
    expect(existsSync(filePath)).toBe(true);
  });

  test("a host whose files cannot be read for a moment (SFTP reconnecting) does not make the writer dead", async () => {
    const filePath = path.join(dir, "hiccup", "vmstate.bin");
    let failed = 0;
    const { result, size } = await follow(filePath, async (read) => {
      if (failed++ < 3) throw Object.assign(new Error("SFTP channel closed"), { code: "EIO" });
      return read();
    });
    expect(failed).toBeGreaterThan(0);
    expect(result).toMatchObject({ complete: true, bytesWritten: size });
    expect(existsSync(filePath)).toBe(true);
  });
});

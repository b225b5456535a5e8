// The typed commands lib/qmp gives the rest of the app (commands.ts): what goes on the wire, and the
// checked replies. A scripted peer, because a QEMU that answers query-block-jobs with a malformed list
// cannot be had on demand; the commands against real QEMU run in tests/snapshots/legacy-layers.qemu.test.ts
// (block-commit, query-block-jobs, block-job-complete/cancel) and tests/restore (migrate-incoming,
// screendump, quit).
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { connectQmp, type QmpClient } from "../../lib/qmp";
import { startFakePeer, type FakeConnection, type FakePeer } from "./fake-peer";

let peer: FakePeer;
let client: QmpClient;
let conn: FakeConnection;

beforeEach(async () => {
  peer = await startFakePeer();
  const connP = peer.nextConnection();
  const clientP = connectQmp(peer.endpoint, { connectTimeoutMs: 1000, greetingTimeoutMs: 300, commandTimeoutMs: 2000 });
  conn = await connP;
  await conn.handshake();
  client = await clientP;
});

afterEach(async () => {
  await client.close();
  await peer.close();
});

const JOB = {
  type: "commit",
  device: "merge-1",
  len: 1048576,
  offset: 4096,
  busy: true,
  paused: false,
  speed: 0,
  "io-status": "ok",
  ready: false,
  status: "running",
};

describe("query-block-jobs", () => {
  it("returns QEMU's list", async () => {
    const jobs = client.queryBlockJobs();
    conn.reply(await conn.nextCommand(), [JOB]);
    expect(await jobs).toEqual([JOB]);
  });

  it.each([
    ["an object instead of a list", { jobs: [] }],
    ["an entry without its progress", [{ type: "commit", device: "merge-1" }]],
    ["a device that is no string", [{ ...JOB, device: 7 }]],
  ])("fails the command, not the session, on %s", async (_what, reply) => {
    const jobs = client.queryBlockJobs();
    conn.reply(await conn.nextCommand(), reply);
    await expect(jobs).rejects.toMatchObject({
      name: "QmpProtocolError",
      kind: "bad-reply",
      message: expect.stringMatching(/^query-block-jobs returned an unexpected reply/),
    });
    const status = client.queryStatus();
    conn.reply(await conn.nextCommand(), { running: true, status: "running" });
    expect(await status).toMatchObject({ status: "running" });
  });
});

describe("commands whose arguments are QEMU's wire names", () => {
  it.each<[string, (c: QmpClient) => Promise<void>, { execute: string; arguments?: Record<string, unknown> }]>([
    [
      "blockCommit",
      (c) => c.blockCommit({ "job-id": "merge-1", device: "drive0", "top-node": "top", "base-node": "base" }),
      {
        execute: "block-commit",
        arguments: { "job-id": "merge-1", device: "drive0", "top-node": "top", "base-node": "base" },
      },
    ],
    [
      "blockJobComplete",
      (c) => c.blockJobComplete("merge-1"),
      { execute: "block-job-complete", arguments: { device: "merge-1" } },
    ],
    [
      "blockJobCancel (force)",
      (c) => c.blockJobCancel("merge-1", { force: true }),
      { execute: "block-job-cancel", arguments: { device: "merge-1", force: true } },
    ],
    [
      "migrateIncoming",
      (c) => c.migrateIncoming("unix:/run/snapfleet/in.sock"),
      { execute: "migrate-incoming", arguments: { uri: "unix:/run/snapfleet/in.sock" } },
    ],
    [
      "screendump as PNG",
      (c) => c.screendump("/tmp/console.png", "png"),
      { execute: "screendump", arguments: { filename: "/tmp/console.png", format: "png" } },
    ],
    // QEMU < 7.1 refuses an unknown `format` argument: the PPM fallback must not send one.
    [
      "screendump as PPM (no format argument)",
      (c) => c.screendump("/tmp/console.ppm"),
      { execute: "screendump", arguments: { filename: "/tmp/console.ppm" } },
    ],
    ["quit", (c) => c.quit(), { execute: "quit" }],
  ])("%s", async (_name, run, expected) => {
    const done = run(client);
    const cmd = await conn.nextCommand();
    expect({ execute: cmd.execute, arguments: cmd.arguments }).toEqual({ arguments: undefined, ...expected });
    conn.reply(cmd);
    await expect(done).resolves.toBeUndefined();
  });
});

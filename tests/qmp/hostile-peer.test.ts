// The client against a scripted fake peer that breaks the protocol on purpose: garbage, oversize lines,
// unknown ids, silence, slow drips, resets. Each case must give a typed error, leave no socket open and
// no listener registered, and never crash the process. (Everything a real QEMU can do is tested against
// real QEMU in *.qemu.test.ts.)
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import net from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  QmpClient,
  QmpCommandError,
  QmpConnectError,
  QmpDisconnectedError,
  QmpError,
  QmpMonitorBusyError,
  QmpProtocolError,
  QmpTimeoutError,
  connectQmp,
  formatEndpoint,
  type QmpConnectOptions,
  type QmpEndpoint,
  type QmpEvent,
} from "../../lib/qmp";
import { makeTestPki } from "./tls-certs";
import { FakeConnection, GREETING, openSocketHandles, startFakePeer, type FakePeer } from "./fake-peer";

const FAST: QmpConnectOptions = { connectTimeoutMs: 1000, greetingTimeoutMs: 300, commandTimeoutMs: 2000 };

let peer: FakePeer | undefined;
let baselineHandles: number;
const clients: QmpClient[] = [];

/** Resolves when `p` does, or fails the test after `ms` with `what`. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} (not within ${ms} ms)`)), ms);
  });
  try {
    return await Promise.race([p, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Connects with the peer doing a normal handshake; returns both ends. */
async function session(
  opts: QmpConnectOptions = {},
  endpoint?: QmpEndpoint,
): Promise<{ client: QmpClient; conn: FakeConnection }> {
  const connP = peer!.nextConnection();
  const clientP = connectQmp(endpoint ?? peer!.endpoint, { ...FAST, ...opts });
  const conn = await connP;
  await conn.handshake();
  const client = await clientP;
  clients.push(client);
  return { client, conn };
}

/** Asserts the session is over for `reason`-like errors and that nothing is left registered. */
async function expectEnded(client: QmpClient, type: new (...a: never[]) => QmpError) {
  const reason = await client.disconnected;
  expect(reason).toBeInstanceOf(type);
  expect(client.connected).toBe(false);
  expect(client.runstate).toBe("closed");
  expect(client.pendingCount).toBe(0);
  expect(client.listenerCount()).toBe(0);
  await expect(client.queryStatus()).rejects.toBeInstanceOf(QmpDisconnectedError);
}

beforeEach(() => {
  baselineHandles = openSocketHandles();
});

afterEach(async () => {
  // The client must have closed every connection itself: wait for the server side to see it.
  for (const c of clients.splice(0)) await c.close();
  if (peer) {
    await within(Promise.all(peer.connections.map((c) => c.closed)), 3000, "client left a socket open");
    await peer.close();
  }
  // Handles close on a later turn of the event loop (late under load): wait for them, then assert.
  const deadline = Date.now() + 3000;
  while (openSocketHandles() !== baselineHandles && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  expect(openSocketHandles()).toBe(baselineHandles);
});

describe.each(["unix", "tcp"] as const)("over %s", (kind) => {
  beforeEach(async () => {
    peer = await startFakePeer(kind);
  });

  describe("greeting phase", () => {
    it("garbage instead of a greeting → QmpProtocolError(garbage), socket closed", async () => {
      const connP = peer!.nextConnection();
      const clientP = connectQmp(peer!.endpoint, FAST);
      (await connP).send(Buffer.from([0xff, 0xfe, 0x00, 0x7b, 0x0a]));
      const err = await clientP.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(QmpProtocolError);
      expect((err as QmpProtocolError).kind).toBe("garbage");
      expect((err as QmpError).endpoint).toBe(formatEndpoint(peer!.endpoint));
    });

    it("a non-greeting message first → QmpProtocolError(bad-greeting)", async () => {
      const connP = peer!.nextConnection();
      const clientP = connectQmp(peer!.endpoint, FAST);
      (await connP).send({ return: {}, id: "sf-1" });
      await expect(clientP).rejects.toMatchObject({ name: "QmpProtocolError", kind: "bad-greeting" });
    });

    it("a greeting without a version → QmpProtocolError(bad-greeting)", async () => {
      const connP = peer!.nextConnection();
      const clientP = connectQmp(peer!.endpoint, FAST);
      (await connP).send({ QMP: { capabilities: [] } });
      await expect(clientP).rejects.toMatchObject({ name: "QmpProtocolError", kind: "bad-greeting" });
    });

    it("a peer that never greets → QmpMonitorBusyError after greetingTimeoutMs (not a hang)", async () => {
      const started = performance.now();
      const err = await connectQmp(peer!.endpoint, { ...FAST, greetingTimeoutMs: 200 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(QmpMonitorBusyError);
      expect(err).toBeInstanceOf(QmpConnectError);
      expect((err as QmpMonitorBusyError).code).toBe("EBUSY");
      expect(performance.now() - started).toBeLessThan(2000);
    });

    it("a greeting dripped one byte at a time still connects", async () => {
      const connP = peer!.nextConnection();
      const clientP = connectQmp(peer!.endpoint, { ...FAST, greetingTimeoutMs: 5000 });
      const conn = await connP;
      await conn.drip(`${JSON.stringify(GREETING)}\r\n`, 1);
      const cmd = await conn.nextCommand();
      expect(cmd.execute).toBe("qmp_capabilities");
      conn.reply(cmd);
      const client = await clientP;
      clients.push(client);
      expect(client.greeting.version.qemu).toEqual({ major: 7, minor: 2, micro: 22 });
    });

    it("a greeting dripped too slowly → QmpTimeoutError('(greeting)'), not busy", async () => {
      const connP = peer!.nextConnection();
      const clientP = connectQmp(peer!.endpoint, { ...FAST, greetingTimeoutMs: 150 });
      const conn = await connP;
      conn.send('{"QMP": {"vers');
      const err = await clientP.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(QmpTimeoutError);
      expect(err).not.toBeInstanceOf(QmpMonitorBusyError);
      expect((err as QmpTimeoutError).command).toBe("(greeting)");
    });

    it("peer hangs up before greeting → QmpConnectError(EPEERCLOSED)", async () => {
      const connP = peer!.nextConnection();
      const clientP = connectQmp(peer!.endpoint, FAST);
      (await connP).socket.end();
      await expect(clientP).rejects.toMatchObject({ name: "QmpConnectError", code: "EPEERCLOSED" });
    });

    it("qmp_capabilities refused → QmpProtocolError(negotiation-failed)", async () => {
      const connP = peer!.nextConnection();
      const clientP = connectQmp(peer!.endpoint, FAST);
      const conn = await connP;
      conn.send(GREETING);
      const cmd = await conn.nextCommand();
      conn.send({ error: { class: "GenericError", desc: "no" }, id: cmd.id });
      const err = await clientP.catch((e: unknown) => e);
      expect(err).toMatchObject({ name: "QmpProtocolError", kind: "negotiation-failed" });
      expect((err as Error).cause).toBeInstanceOf(QmpCommandError);
    });

    it("aborting connect → QmpConnectError(ABORT_ERR)", async () => {
      const ac = new AbortController();
      const connP = peer!.nextConnection();
      const clientP = connectQmp(peer!.endpoint, { ...FAST, greetingTimeoutMs: 5000, signal: ac.signal });
      await connP;
      ac.abort();
      await expect(clientP).rejects.toMatchObject({ name: "QmpConnectError", code: "ABORT_ERR" });
    });
  });

  describe("running session", () => {
    it("routes pipelined replies by id, whatever their order", async () => {
      const { client, conn } = await session();
      const a = client.execute("query-a");
      const b = client.execute("query-b", { x: 1 });
      const c = client.execute("query-c");
      const cmds = [await conn.nextCommand(), await conn.nextCommand(), await conn.nextCommand()];
      expect(cmds.map((x) => x.execute)).toEqual(["query-a", "query-b", "query-c"]);
      expect(cmds[1]!.arguments).toEqual({ x: 1 });
      expect(new Set(cmds.map((x) => x.id)).size).toBe(3);
      conn.reply(cmds[2]!, "C");
      conn.reply(cmds[0]!, "A");
      conn.reply(cmds[1]!, "B");
      expect(await Promise.all([a, b, c])).toEqual(["A", "B", "C"]);
    });

    it("an error reply → QmpCommandError with class, desc and command; session survives", async () => {
      const { client, conn } = await session();
      const p = client.execute("nope");
      const cmd = await conn.nextCommand();
      conn.send({ error: { class: "CommandNotFound", desc: "The command nope has not been found" }, id: cmd.id });
      const err = await p.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(QmpCommandError);
      expect(err).toMatchObject({
        errorClass: "CommandNotFound",
        desc: "The command nope has not been found",
        command: "nope",
      });
      expect(client.connected).toBe(true);
    });

    it("garbage mid-session → pending command and disconnect reason are QmpProtocolError(garbage)", async () => {
      const { client, conn } = await session();
      const lost: QmpError[] = [];
      client.onDisconnect((r) => lost.push(r));
      const waiter = client.waitForEvent("STOP");
      const p = client.queryStatus();
      await conn.nextCommand();
      conn.send("}}}} not json {{{{\r\n");
      await expect(p).rejects.toMatchObject({ name: "QmpProtocolError", kind: "garbage" });
      await expect(waiter).rejects.toBeInstanceOf(QmpProtocolError);
      await expectEnded(client, QmpProtocolError);
      expect(lost).toHaveLength(1);
    });

    // What the peer sends while a command waits, and the QmpProtocolError kind that fails the command and
    // ends the session.
    it.each([
      {
        title: "a line over maxLineBytes → QmpProtocolError(oversize-line) before the line ends",
        opts: { maxLineBytes: 64 * 1024 },
        // 1 MiB with no newline: the client must give up at 64 KiB, not buffer it all.
        sent: Buffer.alloc(1024 * 1024, 0x61),
        kind: "oversize-line",
      },
      {
        title: "a reply with an id we never issued → QmpProtocolError(unknown-id)",
        opts: {},
        sent: { return: {}, id: "sf-99999" },
        kind: "unknown-id",
      },
      {
        title: "an error reply without id (QEMU could not parse our input) → QmpProtocolError(server-parse-error)",
        opts: {},
        sent: { error: { class: "GenericError", desc: "JSON parse error, invalid keyword 'x'" } },
        kind: "server-parse-error",
      },
    ])("$title", async ({ opts, sent, kind }) => {
      const { client, conn } = await session(opts);
      const p = client.queryStatus();
      await conn.nextCommand();
      conn.send(sent);
      await expect(p).rejects.toMatchObject({ name: "QmpProtocolError", kind });
      await expectEnded(client, QmpProtocolError);
    });

    it("the default limit is 16 MiB: a 17 MiB reply is refused", async () => {
      const { client, conn } = await session();
      const p = client.queryStatus();
      const cmd = await conn.nextCommand();
      conn.send(`{"return": "${"x".repeat(17 * 1024 * 1024)}", "id": ${JSON.stringify(cmd.id)}}\r\n`);
      const err = await p.catch((e: unknown) => e);
      expect(err).toMatchObject({ name: "QmpProtocolError", kind: "oversize-line" });
      expect((err as Error).message).toContain(String(16 * 1024 * 1024));
    });

    it("a routed reply with neither return nor error fails that command only", async () => {
      const { client, conn } = await session();
      const p = client.queryStatus();
      const cmd = await conn.nextCommand();
      conn.send({ id: cmd.id, weird: true });
      await expect(p).rejects.toMatchObject({ name: "QmpProtocolError", kind: "bad-reply" });
      const q = client.queryName();
      conn.reply(await conn.nextCommand(), { name: "vm" });
      expect(await q).toEqual({ name: "vm" });
    });

    it("an event without a timestamp → QmpProtocolError(bad-event)", async () => {
      const { client, conn } = await session();
      conn.send({ event: "STOP" });
      await expectEnded(client, QmpProtocolError);
      expect(client.disconnectReason).toMatchObject({ kind: "bad-event" });
    });

    it("a second greeting mid-session → QmpProtocolError(unexpected-message)", async () => {
      const { client, conn } = await session();
      conn.send(GREETING);
      await expectEnded(client, QmpProtocolError);
      expect(client.disconnectReason).toMatchObject({ kind: "unexpected-message" });
    });

    it("a reply dripped one byte at a time is reassembled", async () => {
      const { client, conn } = await session();
      const p = client.queryStatus();
      const cmd = await conn.nextCommand();
      await conn.drip(`${JSON.stringify({ return: { status: "running", running: true }, id: cmd.id })}\r\n`, 1);
      expect(await p).toEqual({ status: "running", running: true });
    });

    it("a reply slower than the command timeout → QmpTimeoutError; the late reply is dropped, session lives", async () => {
      const { client, conn } = await session();
      const p = client.execute("slow", undefined, { timeoutMs: 100 });
      const cmd = await conn.nextCommand();
      const err = await p.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(QmpTimeoutError);
      expect(err).toMatchObject({ command: "slow", timeoutMs: 100 });
      conn.reply(cmd, "late");
      const q = client.queryName();
      conn.reply(await conn.nextCommand(), { name: "still-here" });
      expect(await q).toEqual({ name: "still-here" });
      expect(client.connected).toBe(true);
    });

    it("a slow drip that outlasts the command timeout → QmpTimeoutError", async () => {
      const { client, conn } = await session();
      const p = client.execute("drip", undefined, { timeoutMs: 150 });
      const cmd = await conn.nextCommand();
      const drip = conn.drip(`${JSON.stringify({ return: "x".repeat(200), id: cmd.id })}\r\n`, 1, 5);
      await expect(p).rejects.toBeInstanceOf(QmpTimeoutError);
      await client.close();
      await drip;
    });

    it("abort signal rejects with its reason and drops the late reply", async () => {
      const { client, conn } = await session();
      const ac = new AbortController();
      const p = client.execute("long", undefined, { signal: ac.signal });
      const cmd = await conn.nextCommand();
      ac.abort(new Error("user cancelled"));
      await expect(p).rejects.toThrow("user cancelled");
      conn.reply(cmd);
      const q = client.queryName();
      conn.reply(await conn.nextCommand(), {});
      await q;
    });

    it("EOF mid-reply → QmpDisconnectedError naming the unfinished message", async () => {
      const { client, conn } = await session();
      const p = client.queryStatus();
      const cmd = await conn.nextCommand();
      conn.socket.end(`{"return": {"status": "runn`);
      void cmd;
      const err = await p.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(QmpDisconnectedError);
      expect((err as QmpDisconnectedError).reason).toMatch(/peer closed the connection mid-message \(\d+ bytes/);
      await expectEnded(client, QmpDisconnectedError);
    });

    it("a throwing event listener is isolated; events before a reply reach listeners registered before", async () => {
      const { client, conn } = await session();
      const seen: QmpEvent[] = [];
      const offBad = client.on("STOP", () => {
        throw new Error("listener bug");
      });
      const offAll = client.on("*", (ev) => seen.push(ev));
      const stopped = client.waitForEvent("STOP");
      const p = client.stop();
      const cmd = await conn.nextCommand();
      conn.event("STOP", undefined, 1_800_000_001, 42); // QEMU sends STOP before the reply (QEMU.md §6)
      conn.reply(cmd);
      await p;
      const ev = await stopped;
      expect(ev).toEqual({
        event: "STOP",
        data: {},
        timestamp: { seconds: 1_800_000_001, microseconds: 42 },
        timeUs: 1_800_000_001_000_042,
      });
      expect(seen.map((e) => e.event)).toEqual(["STOP"]);
      expect(client.recentEvents.at(-1)).toEqual(ev);
      offBad();
      offAll();
      expect(client.listenerCount()).toBe(0);
    });

    it("waitForEvent: predicate, timeout and abort leave no listener behind", async () => {
      const { client, conn } = await session();
      const job = client.waitForEvent("JOB_STATUS_CHANGE", { predicate: (e) => e.data.status === "concluded" });
      conn.event("JOB_STATUS_CHANGE", { id: "j1", status: "running" });
      conn.event("JOB_STATUS_CHANGE", { id: "j1", status: "concluded" });
      expect((await job).data).toEqual({ id: "j1", status: "concluded" });
      await expect(client.waitForEvent("SHUTDOWN", { timeoutMs: 30 })).rejects.toBeInstanceOf(QmpTimeoutError);
      const ac = new AbortController();
      const aborted = client.waitForEvent("SHUTDOWN", { signal: ac.signal });
      ac.abort(new Error("stop waiting"));
      await expect(aborted).rejects.toThrow("stop waiting");
      expect(client.listenerCount()).toBe(0);
    });

    it("close() rejects pending commands with QmpDisconnectedError(byClient) and is idempotent", async () => {
      const { client, conn } = await session();
      const disconnects: QmpError[] = [];
      client.onDisconnect((r) => disconnects.push(r));
      const p = client.queryStatus().catch((e: unknown) => e);
      await conn.nextCommand();
      await Promise.all([client.close(), client.close()]);
      const err = await p;
      expect(err).toBeInstanceOf(QmpDisconnectedError);
      expect((err as QmpDisconnectedError).byClient).toBe(true);
      expect(disconnects).toHaveLength(1);
      await expectEnded(client, QmpDisconnectedError);
      await conn.closed;
    });

    it("invalid command names and unserialisable arguments are refused locally", async () => {
      const { client } = await session();
      await expect(client.execute("bad name")).rejects.toBeInstanceOf(TypeError);
      await expect(client.execute("x", { n: 1n })).rejects.toBeInstanceOf(TypeError);
      expect(client.pendingCount).toBe(0);
    });
  });
});

describe("connect failures", () => {
  beforeEach(() => {
    peer = undefined;
  });

  it("no such unix socket → QmpConnectError(ENOENT)", async () => {
    await expect(connectQmp({ kind: "unix", path: "/nonexistent/qmp.sock" }, FAST)).rejects.toMatchObject({
      name: "QmpConnectError",
      code: "ENOENT",
    });
  });

  it("nothing listening on the TCP port → QmpConnectError(ECONNREFUSED)", async () => {
    const srv = net.createServer().listen(0, "127.0.0.1");
    await once(srv, "listening");
    const port = (srv.address() as net.AddressInfo).port;
    await new Promise((r) => srv.close(r));
    await expect(connectQmp({ kind: "tcp", host: "127.0.0.1", port }, FAST)).rejects.toMatchObject({
      name: "QmpConnectError",
      code: "ECONNREFUSED",
    });
  });

  describe("against a listener that never accepts", () => {
    let child: ChildProcess;
    let port: number;
    const fillers: net.Socket[] = [];

    beforeEach(async () => {
      // A stopped process's listen queue (backlog 1) fills up; after that the kernel drops SYNs,
      // so a connect() hangs — the only way to exercise the connect timeout without a network.
      child = spawn(
        process.execPath,
        [
          "-e",
          `const s=require("net").createServer();s.listen({port:0,host:"127.0.0.1",backlog:1},()=>{` +
            `process.stdout.write(s.address().port+"\\n",()=>process.kill(process.pid,"SIGSTOP"))})`,
        ],
        { stdio: ["ignore", "pipe", "inherit"] },
      );
      const [data] = (await once(child.stdout!, "data")) as [Buffer];
      port = Number(data.toString().trim());
      for (let i = 0; i < 6; i++) fillers.push(net.connect(port, "127.0.0.1").on("error", () => {}));
    });

    afterEach(async () => {
      for (const f of fillers.splice(0)) {
        f.destroy();
        if (!f.closed) await once(f, "close");
      }
      const closed = once(child, "close"); // exit + stdio pipes closed
      child.kill("SIGKILL");
      await closed;
    });

    it("connect timeout → QmpConnectError(ETIMEDOUT)", async () => {
      const err = await connectQmp({ kind: "tcp", host: "127.0.0.1", port }, { ...FAST, connectTimeoutMs: 300 }).catch(
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ name: "QmpConnectError", code: "ETIMEDOUT" });
    });
  });

  it("TLS to a peer that accepts TCP but never answers → QmpMonitorBusyError", async () => {
    // What a busy QEMU TLS monitor looks like: the kernel completes TCP, QEMU never accept()s.
    const tcp = await startFakePeer("tcp");
    const pki = makeTestPki();
    try {
      const ep = tcp.endpoint as { host: string; port: number };
      const err = await connectQmp(
        { kind: "tls", host: ep.host, port: ep.port, ca: pki.ca, cert: pki.clientCert, key: pki.clientKey },
        { ...FAST, greetingTimeoutMs: 200 },
      ).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(QmpMonitorBusyError);
      await within(Promise.all(tcp.connections.map((c) => c.closed)), 3000, "TLS socket left open");
    } finally {
      await tcp.close();
      pki.cleanup();
    }
  });

  it("TLS endpoint without a CA → QmpEndpointError before any connection", async () => {
    await expect(connectQmp({ kind: "tls", host: "127.0.0.1", port: 1, ca: "" }, FAST)).rejects.toMatchObject({
      name: "QmpEndpointError",
    });
  });
});

describe("over TCP", () => {
  let tcp: FakePeer;
  beforeEach(async () => {
    tcp = await startFakePeer("tcp");
  });
  afterEach(async () => {
    await within(Promise.all(tcp.connections.map((c) => c.closed)), 3000, "client left a TCP socket open");
    await tcp.close();
  });

  it("a reset mid-reply → QmpDisconnectedError with ECONNRESET as cause", async () => {
    const connP = tcp.nextConnection();
    const clientP = connectQmp(tcp.endpoint, FAST);
    const conn = await connP;
    await conn.handshake();
    const client = await clientP;
    const p = client.queryStatus();
    await conn.nextCommand();
    await new Promise<void>((resolve) => conn.socket.write(`{"return": {"stat`, () => resolve()));
    conn.socket.resetAndDestroy();
    const err = await p.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QmpDisconnectedError);
    expect((err as Error).message).toMatch(/ECONNRESET|mid-message/);
    await expectEnded(client, QmpDisconnectedError);
    await client.close();
  });
});

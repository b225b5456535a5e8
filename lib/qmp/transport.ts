// Byte streams to a QMP monitor: unix socket, TCP, TCP+TLS (client certificate, server verified
// against a CA), and — in transport-ssh.ts — a remote unix socket through SSH. Everything above this
// file sees one interface, QmpTransport, whatever the stream is (qemu.qmp's protocol.py keeps the
// stream apart from the QMP logic the same way). open-transport.ts picks the opener for an endpoint.
//
// Invariants:
//  - Every stream has an 'error' listener from the moment it is created: a socket error can never
//    become an uncaught exception.
//  - A failed open leaves nothing behind: the stream is destroyed before the promise rejects, and
//    every failure is a QmpConnectError (QmpMonitorBusyError when the peer accepted us but never
//    answered).
//  - TLS only: each command is followed by a separate one-byte "\n" write, the workaround for QEMU
//    7.2 replying one message late over TLS (QEMU.md §6; see TlsTransport.write).
import net from "node:net";
import type { Duplex } from "node:stream";
import tls from "node:tls";
import {
  formatEndpoint,
  type QmpEndpoint,
  type QmpTcpEndpoint,
  type QmpTlsEndpoint,
  type QmpUnixEndpoint,
} from "./endpoint";
import {
  QmpConnectError,
  QmpEndpointError,
  connectAbortedError,
  connectTimeoutError,
  monitorBusyError,
} from "./errors";
import type { QmpLogger } from "./types";

export interface QmpTransportSink {
  onData(chunk: Buffer): void;
  /** Called once, when the stream is fully closed; `err` is the socket error that closed it, if any. */
  onClose(err?: Error): void;
}

/** A connected byte stream to one QMP monitor. */
export interface QmpTransport {
  /** Formatted endpoint, for logs and errors. */
  readonly label: string;
  /** Bytes received so far (0 after a connect means the peer never spoke: monitor busy). */
  readonly bytesRead: number;
  readonly closed: boolean;
  /** Starts the flow of data to `sink`; streams stay paused until then so nothing is lost. Once. */
  start(sink: QmpTransportSink): void;
  /** Writes one complete QMP message line, "\n" included. Errors surface through onClose. */
  write(line: string): void;
  /** Half-closes, waits up to graceMs for the peer to close, then destroys. Resolves when closed. */
  close(graceMs?: number): Promise<void>;
  /** Closes at once (RST where the stream supports it is not needed: QEMU treats EOF the same). */
  destroy(): void;
}

export interface QmpTransportContext {
  /** Time allowed to reach the peer (TCP connect, or SSH connect + channel open). */
  connectTimeoutMs: number;
  /**
   * Time allowed for the peer to answer once connected. A TLS handshake that gets no answer in this
   * time is a busy monitor: QEMU does not accept() a second client, the kernel's backlog does.
   */
  answerTimeoutMs: number;
  signal?: AbortSignal;
  logger?: QmpLogger;
}

/** Opens a transport for an endpoint kind. Plug in a different one through QmpConnectOptions. */
export type QmpTransportFactory = (endpoint: QmpEndpoint, ctx: QmpTransportContext) => Promise<QmpTransport>;

/**
 * Whether 'close' was already emitted. Not `stream.closed`: that turns true when destroy() starts,
 * before the handle is released and 'close' fires.
 */
function closeEmitted(stream: Duplex): boolean {
  return (stream as { _readableState?: { closeEmitted?: boolean } })._readableState?.closeEmitted === true;
}

/** Wraps any Duplex (net.Socket, tls.TLSSocket, ssh2 Channel) as a QmpTransport. */
export class StreamTransport implements QmpTransport {
  private sink?: QmpTransportSink;
  private lastError?: Error;
  private isClosed = false;
  private received = 0;
  private readonly closedPromise: Promise<void>;

  constructor(
    protected readonly stream: Duplex,
    readonly label: string,
    private readonly onClosed?: () => void,
    /** Why the stream closed when the stream itself gave no error (e.g. the SSH connection under a channel went away). */
    private readonly closeReason?: () => Error | undefined,
  ) {
    stream.on("error", (err: Error) => {
      this.lastError ??= err;
    });
    this.closedPromise = new Promise((resolve) => {
      const onClose = () => {
        if (this.isClosed) return;
        this.isClosed = true;
        try {
          this.onClosed?.();
        } finally {
          this.lastError ??= this.closeReason?.();
          resolve();
          this.sink?.onClose(this.lastError);
        }
      };
      // A stream that closed before we got it would never emit 'close' again.
      if (closeEmitted(stream)) queueMicrotask(onClose);
      else stream.once("close", onClose);
    });
  }

  get bytesRead(): number {
    return this.received;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  start(sink: QmpTransportSink): void {
    if (this.sink) throw new Error("transport already started");
    this.sink = sink;
    this.stream.on("data", (chunk: Buffer | string) => {
      const buf = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
      this.received += buf.length;
      this.sink!.onData(buf);
    });
    if (this.isClosed) queueMicrotask(() => sink.onClose(this.lastError));
  }

  write(line: string): void {
    if (this.isClosed || this.stream.destroyed || this.stream.writableEnded) return;
    this.stream.write(line);
  }

  async close(graceMs = 1000): Promise<void> {
    if (!this.isClosed) {
      if (!this.stream.writableEnded && !this.stream.destroyed) this.stream.end();
      const timer = setTimeout(() => this.stream.destroy(), graceMs);
      await this.closedPromise;
      clearTimeout(timer);
    }
  }

  destroy(): void {
    this.stream.destroy();
  }
}

/**
 * QEMU 7.2's TLS chardev reads one byte per fd wake-up and GnuTLS keeps the rest of the record
 * buffered, so the rest of a command is only read when the next record arrives on the socket:
 * every reply lags one message (QEMU.md §6, reproduced here). A lone "\n" record after each command
 * keeps the fd readable until the command is consumed; JSON treats the "\n" as whitespace. It must be
 * its own record: Node merges writes queued together into one SSL_write, so it is issued only from the
 * command's write callback, i.e. after the command's record has been handed to the kernel.
 */
export class TlsTransport extends StreamTransport {
  override write(line: string): void {
    const s = this.stream;
    if (this.closed || s.destroyed || s.writableEnded) return;
    s.write(line, (err) => {
      if (!err && !s.destroyed && !s.writableEnded) s.write("\n");
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Opening streams
// ---------------------------------------------------------------------------------------------

const ERROR_HINTS: Record<string, string> = {
  ECONNREFUSED: "connection refused (QEMU not running? a dead QEMU leaves its socket file behind)",
  ENOENT: "no such socket",
  EACCES: "permission denied",
  ECONNRESET: "connection reset by peer",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ENOTFOUND: "host name not found",
};

/** Maps a socket/TLS error of the connect phase to QmpConnectError (no credentials in it). */
export function toConnectError(err: unknown, label: string, phase = "connect"): QmpConnectError {
  if (err instanceof QmpConnectError) return err;
  const e = err as NodeJS.ErrnoException;
  const code = typeof e?.code === "string" ? e.code : undefined;
  const hint = code && ERROR_HINTS[code];
  const isTls =
    code !== undefined &&
    (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO|HOSTNAME|ALTNAME/.test(code) || code.startsWith("ERR_SSL"));
  const what = hint ?? (isTls ? `TLS verification failed: ${e?.message ?? code}` : (e?.message ?? String(err)));
  return new QmpConnectError(`QMP ${phase} to ${label} failed: ${what}`, { endpoint: label, code, cause: err });
}

interface ReadyOptions {
  /** Event that means "usable": 'connect' for plain sockets, 'secureConnect' for TLS. */
  readyEvent: "connect" | "secureConnect";
  label: string;
  ctx: QmpTransportContext;
}

/** Waits for a freshly created socket to be ready, with connect/answer timeouts and abort. */
function awaitReady(stream: net.Socket, { readyEvent, label, ctx }: ReadyOptions): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const cleanup = () => {
      settled = true;
      if (timer) clearTimeout(timer);
      stream.off("connect", onTcpConnect);
      stream.off(readyEvent, onReady);
      stream.off("error", onError);
      stream.off("close", onClose);
      ctx.signal?.removeEventListener("abort", onAbort);
    };
    const fail = (err: QmpConnectError) => {
      if (settled) return;
      cleanup();
      // Reject only once the socket is really gone, so a failed connect leaves no handle behind.
      if (closeEmitted(stream)) reject(err);
      else {
        stream.once("close", () => reject(err));
        stream.destroy();
      }
    };
    const onReady = () => {
      if (settled) return;
      cleanup();
      resolve();
    };
    const onError = (err: Error) => fail(toConnectError(err, label));
    const onClose = () =>
      fail(
        new QmpConnectError(`QMP connect to ${label} failed: peer closed the connection`, {
          endpoint: label,
          code: "EPEERCLOSED",
        }),
      );
    const onAbort = () => fail(connectAbortedError(label, ctx.signal?.reason));
    const onTcpConnect = () => {
      if (readyEvent === "connect") return;
      // TCP is up; now the peer must answer the TLS handshake. Silence here is a busy monitor.
      clearTimeout(timer);
      timer = setTimeout(
        () => fail(monitorBusyError(label, `TCP connected but no TLS answer within ${ctx.answerTimeoutMs} ms`)),
        ctx.answerTimeoutMs,
      );
    };
    timer = setTimeout(() => fail(connectTimeoutError(label, ctx.connectTimeoutMs)), ctx.connectTimeoutMs);
    stream.on("connect", onTcpConnect);
    stream.on(readyEvent, onReady);
    stream.on("error", onError);
    stream.on("close", onClose);
    if (ctx.signal?.aborted) onAbort();
    else ctx.signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function tuneTcp(socket: net.Socket): void {
  // Commands are tiny and latency-sensitive (and the TLS "\n" record must not wait for an ACK).
  socket.setNoDelay(true);
  // Sessions live for days; keepalive notices a hypervisor that vanished without FIN.
  socket.setKeepAlive(true, 30_000);
}

export async function openUnix(e: QmpUnixEndpoint, ctx: QmpTransportContext): Promise<QmpTransport> {
  const label = formatEndpoint(e);
  const socket = net.createConnection({ path: e.path });
  socket.on("error", () => {}); // see invariants; real handling is in awaitReady / StreamTransport
  await awaitReady(socket, { readyEvent: "connect", label, ctx });
  return new StreamTransport(socket, label);
}

export async function openTcp(e: QmpTcpEndpoint, ctx: QmpTransportContext): Promise<QmpTransport> {
  const label = formatEndpoint(e);
  const socket = net.createConnection({ host: e.host, port: e.port });
  socket.on("error", () => {});
  await awaitReady(socket, { readyEvent: "connect", label, ctx });
  tuneTcp(socket);
  return new StreamTransport(socket, label);
}

export async function openTls(e: QmpTlsEndpoint, ctx: QmpTransportContext): Promise<QmpTransport> {
  const label = formatEndpoint(e);
  if (e.ca === undefined || e.ca.length === 0) {
    throw new QmpEndpointError(`TLS endpoint ${label} needs the CA certificate that signed QEMU's server certificate`);
  }
  if ((e.cert === undefined) !== (e.key === undefined)) {
    throw new QmpEndpointError(`TLS endpoint ${label}: give both a client certificate and its key, or neither`);
  }
  let socket: tls.TLSSocket;
  try {
    socket = tls.connect({
      host: e.host,
      port: e.port,
      ca: e.ca,
      cert: e.cert,
      key: e.key,
      // Node refuses an IP as SNI; without servername it checks an IP host against the IP SANs.
      servername: e.servername ?? (net.isIP(e.host) ? undefined : e.host),
      rejectUnauthorized: true,
      minVersion: "TLSv1.2",
    });
  } catch (err) {
    // Unparseable PEM material throws synchronously.
    throw toConnectError(err, label, "TLS setup");
  }
  socket.on("error", () => {});
  await awaitReady(socket, { readyEvent: "secureConnect", label, ctx });
  tuneTcp(socket);
  return new TlsTransport(socket, label);
}

// One QMP session: greeting, capabilities negotiation, commands routed by id, events, teardown.
// Modelled on qemu.qmp's QMPClient (qmp_client.py) over AsyncProtocol (protocol.py): a runstate
// (connecting → running → disconnecting → closed), a pending map of id → caller, and one teardown path
// whatever ended the session. Unlike qemu.qmp a client is single-use; QmpPool reconnects by creating
// a new one.
//
// Protocol facts relied on (docs/interop/qmp-spec.rst; QEMU.md §6):
//  - The server speaks first: {"QMP": {"version", "capabilities"}}. Nothing else may come first.
//  - Until qmp_capabilities succeeds every command fails with CommandNotFound. We do not enable
//    "oob": we never use exec-oob, and in-band commands are then strictly ordered.
//  - `id` is echoed verbatim. We send string ids unique to this session ("sf-<n>"), so a reply is
//    routed to exactly one caller; an error reply with no id is QEMU failing to parse our input.
//  - Events may precede the reply of the command that caused them; they are dispatched in wire order
//    (events.ts).
//
// Invariants:
//  - Every execute() settles exactly once: reply, QmpCommandError, timeout, abort, or the disconnect
//    reason. A timed-out command's late reply is recognised and dropped; the session survives.
//  - Any protocol violation, EOF or socket error ends the session: pending commands and event waiters
//    reject with the reason, listeners are dropped, the socket is destroyed, onDisconnect fires once.
//  - Nothing from the peer can throw out of the data handler (a process-crashing exception).
import { QmpCommands, type QmpExecuteOptions } from "./commands";
import { formatEndpoint, type QmpEndpoint } from "./endpoint";
import {
  QmpCommandError,
  QmpConnectError,
  QmpDisconnectedError,
  QmpError,
  QmpProtocolError,
  QmpTimeoutError,
  connectAbortedError,
  excerpt,
  monitorBusyError,
} from "./errors";
import { QmpEventHub, type QmpEventListener, type WaitForEventOptions } from "./events";
import { DEFAULT_MAX_LINE_BYTES, LineDecoder, encodeCommand, parseMessage, type QmpInbound } from "./framing";
import { openTransport } from "./open-transport";
import type { QmpTransport, QmpTransportFactory } from "./transport";
import type { QmpEvent, QmpGreeting, QmpLogger } from "./types";

export interface QmpConnectOptions {
  /** Reaching the peer (TCP/unix connect, SSH). Default 5000. */
  connectTimeoutMs?: number;
  /**
   * Connected → greeting (and TLS handshake). Silence for this long means another client holds the
   * monitor: QmpMonitorBusyError. Default 3000.
   */
  greetingTimeoutMs?: number;
  /** Default per-command timeout (also for qmp_capabilities). 0 or Infinity: none. Default 30000. */
  commandTimeoutMs?: number;
  /** Longest accepted line from the peer. Default 16 MiB. */
  maxLineBytes?: number;
  /** Logs QMP traffic at debug (`-->` / `<--`) and session changes at info/warn. */
  logger?: QmpLogger;
  /** Aborts connecting (QmpConnectError code ABORT_ERR). Has no effect once connected. */
  signal?: AbortSignal;
  /** How many recent events to keep in `recentEvents`. Default 200. */
  eventHistory?: number;
  /** Opens the byte stream; defaults to unix/tcp/tls/ssh transports. For tests and new transports. */
  transportFactory?: QmpTransportFactory;
}

export type QmpRunstate = "connecting" | "running" | "disconnecting" | "closed";

type InternalState = "greeting" | "negotiating" | "running" | "disconnecting" | "closed";

interface PendingCommand {
  command: string;
  resolve(value: unknown): void;
  reject(err: unknown): void;
  cleanup(): void;
}

/** Commands whose arguments may hold secrets: logged without arguments. */
const REDACTED_COMMANDS = new Set([
  "set_password",
  "change-vnc-password",
  "object-add",
  "human-monitor-command",
  "qom-set",
]);
const LOG_LINE_MAX = 4096;
const ABANDONED_MAX = 1024;
const CLOSE_GRACE_MS = 1000;

export class QmpClient extends QmpCommands {
  readonly endpoint: QmpEndpoint;
  /** Formatted endpoint: log field and pool key. */
  readonly label: string;
  private greetingInfo?: QmpGreeting;
  private state: InternalState = "greeting";
  private reason?: QmpError;
  private nextId = 1;
  private readonly pending = new Map<string, PendingCommand>();
  /** Ids of commands we stopped waiting for (timeout/abort), so their late replies are expected. */
  private readonly abandoned = new Set<string>();
  private readonly decoder: LineDecoder;
  private readonly hub: QmpEventHub;
  private readonly disconnectListeners = new Set<(reason: QmpError) => void>();
  private readonly commandTimeoutMs: number;
  private readonly log?: QmpLogger;
  private greetingWaiter?: { resolve(g: QmpGreeting): void; reject(err: QmpError): void };
  private closing?: Promise<void>;
  private resolveDisconnected!: (reason: QmpError) => void;
  /** Resolves (never rejects) with the reason once the session has ended. */
  readonly disconnected: Promise<QmpError>;

  /** Connects, reads the greeting and negotiates; resolves with a running client. */
  static async connect(endpoint: QmpEndpoint, opts: QmpConnectOptions = {}): Promise<QmpClient> {
    const label = formatEndpoint(endpoint);
    const connectTimeoutMs = opts.connectTimeoutMs ?? 5000;
    const greetingTimeoutMs = opts.greetingTimeoutMs ?? 3000;
    const factory = opts.transportFactory ?? openTransport;
    let transport: QmpTransport;
    try {
      transport = await factory(endpoint, {
        connectTimeoutMs,
        answerTimeoutMs: greetingTimeoutMs,
        signal: opts.signal,
        logger: opts.logger,
      });
    } catch (err) {
      if (err instanceof QmpError) throw err;
      throw new QmpConnectError(`QMP connect to ${label} failed: ${(err as Error)?.message ?? err}`, {
        endpoint: label,
        cause: err,
      });
    }
    const client = new QmpClient(endpoint, transport, opts);
    await client.handshake(greetingTimeoutMs, opts.signal);
    return client;
  }

  private constructor(
    endpoint: QmpEndpoint,
    private readonly transport: QmpTransport,
    opts: QmpConnectOptions,
  ) {
    super();
    this.endpoint = endpoint;
    this.label = formatEndpoint(endpoint);
    this.log = opts.logger;
    this.commandTimeoutMs = opts.commandTimeoutMs ?? 30_000;
    this.decoder = new LineDecoder(opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES);
    this.hub = new QmpEventHub(opts.logger, opts.eventHistory ?? 200, { endpoint: this.label });
    this.disconnected = new Promise((resolve) => (this.resolveDisconnected = resolve));
  }

  // -------------------------------------------------------------------------------------------
  // Public surface
  // -------------------------------------------------------------------------------------------

  get greeting(): QmpGreeting {
    // Set before connect() resolves; a client is never handed out earlier.
    return this.greetingInfo!;
  }

  get connected(): boolean {
    return this.state === "running";
  }

  get runstate(): QmpRunstate {
    return this.state === "greeting" || this.state === "negotiating" ? "connecting" : this.state;
  }

  /** Why the session ended (undefined while it runs). */
  get disconnectReason(): QmpError | undefined {
    return this.reason;
  }

  /** Commands awaiting a reply. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** Event listeners + waiters + disconnect listeners still registered (0 after close: no leaks). */
  listenerCount(): number {
    return this.hub.listenerCount() + this.disconnectListeners.size;
  }

  /** The last events received, oldest first. */
  get recentEvents(): readonly QmpEvent[] {
    return this.hub.history;
  }

  /**
   * Runs a QMP command and resolves with its "return" value. Rejects with QmpCommandError (QEMU's
   * class/desc), QmpTimeoutError, the abort reason, QmpProtocolError, or QmpDisconnectedError.
   */
  execute<T = unknown>(command: string, args?: Record<string, unknown>, opts: QmpExecuteOptions = {}): Promise<T> {
    return this.send(command, args, opts, false) as Promise<T>;
  }

  /** Subscribes to an event name (or several, or "*"). Returns unsubscribe. */
  on(event: string | readonly string[], listener: QmpEventListener): () => void {
    return this.hub.on(event, listener);
  }

  /** Next matching event; call BEFORE the command that triggers it (it registers immediately). */
  waitForEvent(event: string | readonly string[], opts?: WaitForEventOptions): Promise<QmpEvent> {
    return this.hub.waitFor(event, opts);
  }

  /** Called once when the session ends, whoever ended it; at once (async) if it already has. */
  onDisconnect(listener: (reason: QmpError) => void): () => void {
    if (this.state === "closed" && this.reason) {
      const reason = this.reason;
      queueMicrotask(() => listener(reason));
      return () => {};
    }
    this.disconnectListeners.add(listener);
    return () => {
      this.disconnectListeners.delete(listener);
    };
  }

  /** Ends the session: pending commands reject (QmpDisconnectedError), the socket closes. Idempotent. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    if (this.state === "closed") {
      this.closing = this.transport.close(CLOSE_GRACE_MS);
      return this.closing;
    }
    const reason = new QmpDisconnectedError("closed by client", { byClient: true, endpoint: this.label });
    this.state = "disconnecting";
    this.reason = reason;
    this.rejectAll(reason);
    this.hub.end(reason);
    this.log?.info({ endpoint: this.label }, "QMP session closing");
    this.closing = this.transport.close(CLOSE_GRACE_MS).then(() => {
      this.state = "closed";
      this.notifyDisconnect(reason);
    });
    return this.closing;
  }

  // -------------------------------------------------------------------------------------------
  // Session establishment
  // -------------------------------------------------------------------------------------------

  private async handshake(greetingTimeoutMs: number, signal?: AbortSignal): Promise<void> {
    const onAbort = () => this.fail(connectAbortedError(this.label, signal?.reason));
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      const greeting = new Promise<QmpGreeting>((resolve, reject) => (this.greetingWaiter = { resolve, reject }));
      const timer = setTimeout(() => this.fail(this.greetingTimeoutError(greetingTimeoutMs)), greetingTimeoutMs);
      this.transport.start({ onData: (chunk) => this.onData(chunk), onClose: (err) => this.onTransportClose(err) });
      if (signal?.aborted) onAbort();
      try {
        this.greetingInfo = await greeting;
      } finally {
        clearTimeout(timer);
        this.greetingWaiter = undefined;
      }
      try {
        await this.send("qmp_capabilities", undefined, {}, true);
      } catch (err) {
        if (err instanceof QmpCommandError) {
          this.fail(
            new QmpProtocolError("negotiation-failed", `qmp_capabilities refused: ${err.message}`, {
              endpoint: this.label,
              cause: err,
            }),
          );
        } else if (err instanceof QmpError) this.fail(err);
        throw this.reason ?? err;
      }
      this.state = "running";
      const v = this.greetingInfo.version.qemu;
      this.log?.info({ endpoint: this.label, qemu: `${v.major}.${v.minor}.${v.micro}` }, "QMP session established");
    } catch (err) {
      if (this.state !== "closed")
        this.fail(err instanceof QmpError ? err : new QmpError(String(err), { cause: err, endpoint: this.label }));
      // The caller never gets this client, so nobody could close() it: wait for the socket here.
      await this.transport.close(0);
      throw this.reason ?? err;
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  private greetingTimeoutError(ms: number): QmpError {
    if (this.transport.bytesRead === 0)
      return monitorBusyError(this.label, `connected but no greeting within ${ms} ms`);
    return new QmpTimeoutError(
      `incomplete QMP greeting from ${this.label} after ${ms} ms (${this.transport.bytesRead} bytes)`,
      {
        endpoint: this.label,
        timeoutMs: ms,
        command: "(greeting)",
      },
    );
  }

  // -------------------------------------------------------------------------------------------
  // Commands
  // -------------------------------------------------------------------------------------------

  private send(
    command: string,
    args: Record<string, unknown> | undefined,
    opts: QmpExecuteOptions,
    internal: boolean,
  ): Promise<unknown> {
    if (!(this.state === "running" || (internal && this.state === "negotiating"))) {
      return Promise.reject(
        new QmpDisconnectedError(
          this.reason ? `not connected (${this.reason.message})` : `not connected (${this.runstate})`,
          {
            endpoint: this.label,
            cause: this.reason,
          },
        ),
      );
    }
    const id = `sf-${this.nextId++}`;
    let line: string;
    try {
      line = encodeCommand(command, args, id);
    } catch (err) {
      return Promise.reject(err);
    }
    if (opts.signal?.aborted) return Promise.reject(opts.signal.reason);
    return new Promise<unknown>((resolve, reject) => {
      const timeoutMs = opts.timeoutMs ?? this.commandTimeoutMs;
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => this.abandon(id, opts.signal!.reason);
      if (timeoutMs > 0 && Number.isFinite(timeoutMs)) {
        timer = setTimeout(
          () =>
            this.abandon(
              id,
              new QmpTimeoutError(`${command} got no reply within ${timeoutMs} ms`, {
                endpoint: this.label,
                timeoutMs,
                command,
              }),
            ),
          timeoutMs,
        );
      }
      opts.signal?.addEventListener("abort", onAbort, { once: true });
      this.pending.set(id, {
        command,
        resolve,
        reject,
        cleanup: () => {
          if (timer) clearTimeout(timer);
          opts.signal?.removeEventListener("abort", onAbort);
        },
      });
      this.logTraffic("-->", line, command);
      this.transport.write(`${line}\n`);
    });
  }

  /** Stops waiting for a command; its reply, if it ever comes, is dropped quietly. */
  private abandon(id: string, err: unknown): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    p.cleanup();
    this.abandoned.add(id);
    if (this.abandoned.size > ABANDONED_MAX) this.abandoned.delete(this.abandoned.values().next().value!);
    this.log?.warn({ endpoint: this.label, command: p.command, err }, "QMP command abandoned");
    p.reject(err);
  }

  private rejectAll(reason: QmpError): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) {
      p.cleanup();
      p.reject(reason);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Inbound
  // -------------------------------------------------------------------------------------------

  private onData(chunk: Buffer): void {
    if (this.state === "closed" || this.state === "disconnecting") return;
    try {
      this.decoder.push(chunk, (line) => this.onLine(line));
    } catch (err) {
      const reason =
        err instanceof QmpError
          ? err
          : new QmpProtocolError("garbage", `failed to process QMP input: ${(err as Error)?.message}`, { cause: err });
      this.fail(this.withEndpoint(reason));
    }
  }

  /** Throws QmpProtocolError for fatal violations; onData turns that into the session's end. */
  private onLine(line: string): void {
    if (this.state === "closed" || this.state === "disconnecting") return;
    this.logTraffic("<--", line);
    const msg = parseMessage(line);
    if (this.state === "greeting") {
      if (msg.type !== "greeting") {
        throw new QmpProtocolError("bad-greeting", `expected a QMP greeting first, got: ${excerpt(line)}`);
      }
      // Synchronously: further lines in this chunk belong to the negotiating session.
      this.state = "negotiating";
      this.greetingWaiter?.resolve(msg.greeting);
      return;
    }
    switch (msg.type) {
      case "greeting":
        throw new QmpProtocolError("unexpected-message", `second QMP greeting in one session: ${excerpt(line)}`);
      case "event":
        this.hub.dispatch(msg.event);
        return;
      default:
        this.route(msg, line);
    }
  }

  private route(msg: Exclude<QmpInbound, { type: "greeting" | "event" }>, line: string): void {
    if (!msg.hasId) {
      if (msg.type === "error") {
        // qmp-spec 2.4.2: the server could not parse a request well enough to find its id.
        throw new QmpProtocolError(
          "server-parse-error",
          `QEMU could not parse a command: ${msg.errorClass}: ${msg.desc}`,
        );
      }
      throw new QmpProtocolError("unknown-id", `QMP reply without id: ${excerpt(line)}`);
    }
    const id = msg.id;
    const p = typeof id === "string" ? this.pending.get(id) : undefined;
    if (!p) {
      if (typeof id === "string" && this.abandoned.delete(id)) {
        this.log?.debug({ endpoint: this.label, id }, "late reply to an abandoned QMP command dropped");
        return;
      }
      // We issued no such id: the stream is not the conversation we think it is.
      throw new QmpProtocolError("unknown-id", `QMP reply to an id this session never issued: ${excerpt(line)}`);
    }
    this.pending.delete(id as string);
    p.cleanup();
    switch (msg.type) {
      case "return":
        p.resolve(msg.value);
        return;
      case "error":
        p.reject(new QmpCommandError(p.command, msg.errorClass, msg.desc, { endpoint: this.label }));
        return;
      case "bad-reply":
        p.reject(
          new QmpProtocolError("bad-reply", `bad reply to ${p.command}: ${msg.problem}`, { endpoint: this.label }),
        );
        return;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Teardown
  // -------------------------------------------------------------------------------------------

  private onTransportClose(err?: Error): void {
    if (this.state === "closed" || this.state === "disconnecting") return;
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    const partial =
      this.decoder.bufferedBytes > 0
        ? ` mid-message (${this.decoder.bufferedBytes} bytes of an unfinished line dropped)`
        : "";
    if (this.state === "greeting" || this.state === "negotiating") {
      const phase = this.state === "greeting" ? "before the QMP greeting" : "during capabilities negotiation";
      const hint =
        this.endpoint.kind === "tls"
          ? " (over TLS this is how QEMU refuses a missing or unauthorized client certificate)"
          : "";
      this.fail(
        new QmpConnectError(
          `QMP connect to ${this.label} failed: peer closed the connection ${phase}${partial}${hint}`,
          {
            endpoint: this.label,
            code: code ?? "EPEERCLOSED",
            cause: err,
          },
        ),
      );
      return;
    }
    const what = err ? `connection error (${code ?? err.message})` : "peer closed the connection";
    this.fail(new QmpDisconnectedError(`${what}${partial}`, { endpoint: this.label, cause: err }));
  }

  /** The single teardown path for everything but close(). Idempotent. */
  private fail(reason: QmpError): void {
    if (this.state === "closed" || this.state === "disconnecting") return;
    const wasRunning = this.state === "running";
    this.state = "closed";
    this.reason = reason;
    this.rejectAll(reason);
    this.hub.end(reason);
    this.greetingWaiter?.reject(reason);
    this.transport.destroy();
    if (wasRunning) this.log?.warn({ endpoint: this.label, err: reason }, "QMP session lost");
    else this.log?.debug({ endpoint: this.label, err: reason }, "QMP session failed to start");
    this.notifyDisconnect(reason);
  }

  private notifyDisconnect(reason: QmpError): void {
    this.resolveDisconnected(reason);
    const listeners = [...this.disconnectListeners];
    this.disconnectListeners.clear();
    for (const l of listeners) {
      try {
        l(reason);
      } catch (err) {
        this.log?.error({ endpoint: this.label, err }, "QMP disconnect listener threw; continuing");
      }
    }
  }

  private withEndpoint(err: QmpError): QmpError {
    if (err.endpoint === undefined) (err as { endpoint?: string }).endpoint = this.label;
    return err;
  }

  private logTraffic(dir: "-->" | "<--", line: string, command?: string): void {
    if (!this.log) return;
    let text = line;
    if (command && REDACTED_COMMANDS.has(command)) text = JSON.stringify({ execute: command, arguments: "[redacted]" });
    if (text.length > LOG_LINE_MAX) text = `${text.slice(0, LOG_LINE_MAX)}… (${text.length} chars)`;
    this.log.debug({ endpoint: this.label }, `${dir} ${text}`);
  }
}

/** Connects to a QMP monitor and negotiates capabilities. See QmpConnectOptions for the timeouts. */
export function connectQmp(endpoint: QmpEndpoint, opts?: QmpConnectOptions): Promise<QmpClient> {
  return QmpClient.connect(endpoint, opts);
}

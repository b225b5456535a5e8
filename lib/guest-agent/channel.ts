// One conversation with a QEMU guest agent (qemu-ga) over a byte stream to its host-side chardev — a
// local unix socket, or one forwarded over SSH. The only implementation of the agent's wire protocol in
// Snapfleet: snapshot quiesce (lib/snapshots/quiesce.ts) and verify's guest-ping (lib/restore) use it.
// Protocol (QEMU docs/interop/qemu-ga.rst, qga/qapi-schema.json): JSON commands, one per line; the
// agent keeps no "id" of its own but echoes a request's "id"; `guest-sync-delimited` re-synchronises a
// stream that may hold a half-read command or stale replies — the client sends a 0xFF byte (never valid
// JSON: the agent's parser resets), the agent answers 0xFF then {"return": <id>}, and everything before
// that reply is stale.
// Invariants: every wait is bounded by the caller's timeout (an agent that never reads is the normal
// case of a guest without a running agent: the host side accepts and buffers); replies are matched by
// id, so a late reply to a command that timed out is dropped, never taken for another's; commands are
// written in call order and the agent runs them in that order; close() destroys the stream.
import type { Duplex } from "node:stream";
import { logIgnored } from "../best-effort";

/** The root of this module's errors. */
export class GuestAgentError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}
/** The agent did not answer within the bound (it may still run the command later). */
export class GuestAgentTimeoutError extends GuestAgentError {}
/** The agent answered with an error (its class and description). */
export class GuestAgentCommandError extends GuestAgentError {
  constructor(
    readonly command: string,
    readonly errorClass: string,
    readonly desc: string,
  ) {
    super(`${command}: ${desc} (${errorClass})`);
  }
}
/** The stream ended or failed. */
export class GuestAgentClosedError extends GuestAgentError {}

interface Pending {
  command: string;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

const MAX_LINE = 1024 * 1024;

const isCount = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0;

export class GuestAgentChannel {
  private buf = "";
  private readonly pending = new Map<string, Pending>();
  private nextId = Math.floor(Math.random() * 1e9);
  private closedBy: Error | undefined;

  private constructor(private readonly stream: Duplex) {
    stream.on("data", (d: Buffer) => this.onData(d));
    stream.on("error", (err: Error) =>
      this.onClose(new GuestAgentClosedError(`the guest agent channel failed: ${err.message}`, { cause: err })),
    );
    stream.on("close", () => this.onClose(new GuestAgentClosedError("the guest agent channel was closed")));
  }

  /** Opens the stream, bounded by timeoutMs. */
  static async open(open: () => Promise<Duplex>, timeoutMs: number): Promise<GuestAgentChannel> {
    let timer: NodeJS.Timeout | undefined;
    const opening = open();
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new GuestAgentTimeoutError(`the guest agent channel did not open within ${seconds(timeoutMs)}`)),
        timeoutMs,
      );
    });
    try {
      return new GuestAgentChannel(await Promise.race([opening, timedOut]));
    } catch (err) {
      // A stream that opens after we gave up is closed at once.
      opening.then((s) => s.destroy(), logIgnored("the agent stream failed to open: the caller already has its error"));
      throw err instanceof GuestAgentError
        ? err
        : new GuestAgentClosedError(`the guest agent channel could not be opened: ${(err as Error).message}`, {
            cause: err,
          });
    } finally {
      clearTimeout(timer);
    }
  }

  get closed(): boolean {
    return this.closedBy !== undefined;
  }

  /** guest-sync-delimited: after it resolves, the stream carries no stale reply. */
  async sync(timeoutMs: number): Promise<void> {
    const id = this.nextId++;
    const key = `sync:${id}`;
    const answered = this.wait(key, "guest-sync-delimited", timeoutMs);
    this.write(
      Buffer.concat([
        Buffer.from([0xff]),
        Buffer.from(`${JSON.stringify({ execute: "guest-sync-delimited", arguments: { id } })}\n`),
      ]),
    );
    await answered;
  }

  /** Runs one command and resolves with its "return" value. */
  execute<T = unknown>(command: string, args: Record<string, unknown> | undefined, timeoutMs: number): Promise<T> {
    const id = `sf-${this.nextId++}`;
    const answered = this.wait(id, command, timeoutMs);
    this.write(Buffer.from(`${JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id })}\n`));
    return answered as Promise<T>;
  }

  /** Runs `command` and checks its reply's type; a reply of another type fails the command. */
  private executeChecked<T>(command: string, timeoutMs: number, fits: (v: unknown) => v is T): Promise<T> {
    return this.execute<unknown>(command, undefined, timeoutMs).then((reply) => {
      if (fits(reply)) return reply;
      throw new GuestAgentError(`${command}: unexpected reply ${JSON.stringify(reply)?.slice(0, 200)}`);
    });
  }

  /** guest-ping: the agent runs and reads its channel. */
  async ping(timeoutMs: number): Promise<void> {
    await this.execute("guest-ping", undefined, timeoutMs);
  }

  /** guest-fsfreeze-freeze: freezes the guest's filesystems; resolves with how many. Sent synchronously. */
  fsfreezeFreeze(timeoutMs: number): Promise<number> {
    return this.executeChecked("guest-fsfreeze-freeze", timeoutMs, isCount);
  }

  /** guest-fsfreeze-thaw: resolves with how many filesystems were thawed. Sent synchronously. */
  fsfreezeThaw(timeoutMs: number): Promise<number> {
    return this.executeChecked("guest-fsfreeze-thaw", timeoutMs, isCount);
  }

  /** guest-fsfreeze-status: "thawed" or "frozen". */
  fsfreezeStatus(timeoutMs: number): Promise<string> {
    return this.executeChecked("guest-fsfreeze-status", timeoutMs, (v): v is string => typeof v === "string");
  }

  close(): void {
    this.stream.destroy();
    this.onClose(new GuestAgentClosedError("the guest agent channel was closed"));
  }

  private write(bytes: Buffer): void {
    if (this.closedBy) return; // wait() has already rejected with the reason
    this.stream.write(bytes);
  }

  private wait(key: string, command: string, timeoutMs: number): Promise<unknown> {
    if (this.closedBy) return Promise.reject(this.closedBy);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(key);
        reject(new GuestAgentTimeoutError(`the guest agent did not answer ${command} within ${seconds(timeoutMs)}`));
      }, timeoutMs);
      this.pending.set(key, {
        command,
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
    });
  }

  private onData(chunk: Buffer): void {
    // 0xFF only delimits a guest-sync-delimited reply; it is never part of JSON.
    this.buf += Buffer.from(chunk.filter((b) => b !== 0xff)).toString("utf8");
    if (this.buf.length > MAX_LINE && !this.buf.includes("\n")) {
      this.close();
      return;
    }
    let nl: number;
    while ((nl = this.buf.indexOf("\n")) !== -1) {
      const line = this.buf.slice(0, nl).trim();
      this.buf = this.buf.slice(nl + 1);
      if (line) this.onLine(line);
    }
  }

  private onLine(line: string): void {
    let msg: { return?: unknown; error?: { class?: string; desc?: string }; id?: unknown };
    try {
      msg = JSON.parse(line) as typeof msg;
    } catch {
      return; // noise before a sync (a half-written reply from an earlier client)
    }
    // guest-sync-delimited answers {"return": <id>} with no "id" of its own.
    const key =
      msg.id !== undefined ? String(msg.id) : typeof msg.return === "number" ? `sync:${msg.return}` : undefined;
    const p = key === undefined ? undefined : this.pending.get(key);
    if (!p || key === undefined) return; // stale: a reply to a command that timed out, or to another client
    this.pending.delete(key);
    if (msg.error)
      p.reject(
        new GuestAgentCommandError(p.command, msg.error.class ?? "GenericError", msg.error.desc ?? "no description"),
      );
    else p.resolve(msg.return);
  }

  private onClose(err: Error): void {
    if (this.closedBy) return;
    this.closedBy = err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}

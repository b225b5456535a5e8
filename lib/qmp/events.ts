// Event fan-out for one QMP session: listeners by name or "*", one-shot waiters, a short history.
//
// QEMU sends events to every monitor, interleaved with replies, and an event may arrive BEFORE the
// reply to the command that caused it (`stop` → STOP, then {"return": {}} — QEMU.md §6). So:
//  - dispatch is synchronous, in wire order, from the reader: a listener or waiter registered before
//    `execute()` is called cannot miss an event that command triggers (qemu.qmp's "register before
//    you execute" rule in events.py);
//  - a throwing listener is logged and skipped, never allowed to break the reader;
//  - when the session ends every waiter is rejected with the reason and every listener is dropped, so
//    a closed client holds no closures (listenerCount() === 0).
import { QmpError, QmpTimeoutError } from "./errors";
import type { QmpEvent, QmpLogger } from "./types";

export type QmpEventListener = (ev: QmpEvent) => void;

export interface WaitForEventOptions {
  predicate?: (ev: QmpEvent) => boolean;
  /** Reject with QmpTimeoutError after this long; no timeout when absent. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

interface Registration {
  names: ReadonlySet<string> | "*";
  listener: QmpEventListener;
}

export class QmpEventHub {
  private registrations: Registration[] = [];
  private readonly recent: QmpEvent[] = [];
  private readonly waiterEnds = new Set<(reason: QmpError) => void>();
  private ended?: QmpError;

  constructor(
    private readonly logger?: QmpLogger,
    private readonly historyLimit = 200,
    private readonly context: Record<string, unknown> = {},
  ) {}

  /** Number of live listeners and waiters (for leak checks). */
  listenerCount(): number {
    return this.registrations.length;
  }

  /** The last events received (oldest first), bounded by historyLimit. */
  get history(): readonly QmpEvent[] {
    return this.recent;
  }

  /**
   * Calls `listener` for each event named `names` ("*" = all). Returns an unsubscribe function
   * (idempotent). On an ended hub, registers nothing.
   */
  on(names: string | readonly string[], listener: QmpEventListener): () => void {
    if (this.ended) return () => {};
    const reg: Registration = {
      names: names === "*" ? "*" : new Set(typeof names === "string" ? [names] : names),
      listener,
    };
    this.registrations.push(reg);
    return () => {
      const i = this.registrations.indexOf(reg);
      if (i !== -1) this.registrations.splice(i, 1);
    };
  }

  /**
   * Resolves with the next matching event. Registered synchronously, so call it before the command
   * that triggers the event. Rejects on timeout (QmpTimeoutError), abort (the signal's reason) or
   * session end (the disconnect reason).
   *
   * The returned promise is pre-marked as handled: a waiter created "just in case" and then not
   * awaited (the command failed first) must not crash the process with an unhandled rejection.
   */
  waitFor(names: string | readonly string[], opts: WaitForEventOptions = {}): Promise<QmpEvent> {
    let resolve!: (ev: QmpEvent) => void;
    let reject!: (err: unknown) => void;
    const promise = new Promise<QmpEvent>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // A waiter nobody awaits (the caller gave up, e.g. an aborted race) must not become an unhandled
    // rejection; whoever awaits `promise` still gets the error.
    promise.catch((err: unknown) => err);
    if (this.ended) {
      reject(this.ended);
      return promise;
    }
    if (opts.signal?.aborted) {
      reject(opts.signal.reason);
      return promise;
    }
    let timer: NodeJS.Timeout | undefined;
    const onAbort = () => settle(() => reject(opts.signal!.reason));
    const settle = (fn: () => void) => {
      unsubscribe();
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      this.waiterEnds.delete(onEnd);
      fn();
    };
    const onEnd = (reason: QmpError) => settle(() => reject(reason));
    const unsubscribe = this.on(names, (ev) => {
      let match = true;
      if (opts.predicate) {
        try {
          match = opts.predicate(ev);
        } catch (err) {
          settle(() => reject(err));
          return;
        }
      }
      if (match) settle(() => resolve(ev));
    });
    this.waiterEnds.add(onEnd);
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    if (opts.timeoutMs !== undefined && Number.isFinite(opts.timeoutMs)) {
      const label = typeof names === "string" ? names : names.join("|");
      timer = setTimeout(
        () =>
          settle(() =>
            reject(
              new QmpTimeoutError(`no ${label} event within ${opts.timeoutMs} ms`, {
                timeoutMs: opts.timeoutMs!,
                command: `(event ${label})`,
                endpoint: this.context.endpoint as string | undefined,
              }),
            ),
          ),
        opts.timeoutMs,
      );
    }
    return promise;
  }

  /** Delivers one event to every matching registration, in registration order. */
  dispatch(ev: QmpEvent): void {
    if (this.ended) return;
    this.recent.push(ev);
    if (this.recent.length > this.historyLimit) this.recent.shift();
    // Copy: listeners may unsubscribe (waiters always do) while we iterate.
    for (const reg of [...this.registrations]) {
      if (reg.names !== "*" && !reg.names.has(ev.event)) continue;
      try {
        reg.listener(ev);
      } catch (err) {
        this.logger?.error({ ...this.context, err, event: ev.event }, "QMP event listener threw; continuing");
      }
    }
  }

  /** Ends the hub: rejects waiters with `reason`, drops all listeners. Idempotent. */
  end(reason: QmpError): void {
    if (this.ended) return;
    this.ended = reason;
    for (const onEnd of [...this.waiterEnds]) onEnd(reason);
    this.registrations = [];
  }
}

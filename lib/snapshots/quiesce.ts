// Guest-agent quiesce of a snapshot: `guest-fsfreeze-freeze` through the VM's QEMU guest agent right
// before the pause-critical step (pause-steps.ts layerAndStream), `guest-fsfreeze-thaw` right after it,
// so the disks' internal snapshots hold filesystems the guest flushed and froze (application-consistent)
// instead of the state a power cut leaves (crash-consistent). Owns the decision whether to freeze
// (quiesceSkipReason), the bounded freeze/thaw conversation (freezeGuest → GuestFreeze.thaw) and the
// words the snapshot row keeps (Snapshot.consistency, Snapshot.quiesceNote). docs/quiesce.md.
//
// Why only snapshots without RAM: a snapshot that keeps the guest's RAM (live) already restores the
// running guest exactly, and its vmstate would hold the guest WITH frozen filesystems — a rollback
// would resume a guest whose writes block until someone thaws it. Proxmox VE skips the freeze for
// snapshots with vmstate for the same reason (PVE::QemuConfig::__snapshot_check_freeze_needed).
// Why a hard bound: Linux qemu-ga has no freeze timeout of its own (qga/commands-posix.c: the frozen
// state lasts until guest-fsfreeze-thaw or the agent's exit; only the Windows agent's VSS limits it to
// ~10 s) — so Snapfleet bounds it:
//   - one budget (timeoutMs, default 10 s) covers opening the channel, guest-sync-delimited and the
//     freeze; an agent that does not answer sync gets no freeze at all;
//   - a freeze not answered within the budget is followed AT ONCE by a thaw on the same channel (the
//     agent runs commands in order: a late freeze is undone right after it), and the snapshot goes on
//     crash-consistent — it never waits on a freeze that might still be pending without its thaw;
//   - once frozen, a watchdog sends the thaw when the budget ends, whatever the snapshot is doing; a
//     pause that had not returned by then is recorded crash-consistent (the thaw may have come first);
//   - a thaw not answered is re-sent (a fresh channel when the old one broke) until a second budget
//     ends, then logged as an error and written on the row in capitals; the channel then stays open in
//     the background (up to THAW_LINGER_MS) with one more thaw queued, because closing it could drop
//     the queued thaw on its way to a slow agent that still has the freeze to run.
// A dashboard that dies between the freeze and the thaw takes the watchdog with it: the run records the
// agent's socket BEFORE the freeze is written (FreezeGuestInput.beforeFreeze → crash-undo.ts VmUndo.fsFrozen)
// and crash recovery thaws through a fresh channel (thawAfterCrash).
// Invariants: never throws (every outcome is a consistency and a sentence); never fails the snapshot;
// every freeze sent is followed by a thaw on the same channel; the channel is closed when done.
import type { Duplex } from "node:stream";
import { GuestAgentChannel, GuestAgentCommandError, GuestAgentTimeoutError } from "../guest-agent/channel";
import { locateAgentSocket } from "../guest-agent/locate";
import type { Logger } from "../logger";
import type { QmpClient } from "../qmp";
import type { SnapshotModeName } from "../validations/snapshot";

export type SnapshotConsistencyName = "application" | "crash";

/** What the job gives the run when the snapshot was asked to quiesce. */
export interface QuiesceRequest {
  /** The VM's command line (launch facts): where its agent channel is declared. */
  argv: string[] | null;
  /** Opens a stream to a unix socket on the VM's host; null when the host gives none (TLS: QMP only). */
  openSocket: ((path: string) => Promise<Duplex>) | null;
  /** The hard bound of the freeze (default QUIESCE_TIMEOUT_MS). */
  timeoutMs?: number;
}

export interface QuiesceOutcome {
  consistency: SnapshotConsistencyName;
  /** Why crash when quiesce was asked, or what the freeze did ("froze 2 filesystems for 34 ms"). */
  note: string;
  /** Freeze sent → thaw answered, when the guest was frozen. */
  frozenMs?: number;
  /** A freeze was sent and no thaw was confirmed: the guest's filesystems may still be frozen. */
  mayBeFrozen?: boolean;
}

export const QUIESCE_TIMEOUT_MS = 10_000;
/** How long one thaw attempt waits before it is sent again (within the thaw budget). */
const THAW_ATTEMPT_MS = 1_000;
const STATUS_CHECK_MS = 1_000;
/** How long an unanswered thaw keeps its channel open in the background. */
const THAW_LINGER_MS = 5 * 60_000;

/** Why a snapshot asked to quiesce is not frozen, or null when it is to be frozen. Pure. */
export function quiesceSkipReason(o: { mode: SnapshotModeName; runState: string; disks: number }): string | null {
  if (o.mode === "ram-only") return "a RAM-only snapshot takes no disk state";
  if (o.mode === "live") {
    return "not frozen: a live snapshot keeps the guest's RAM with its disks (restoring it resumes the guest exactly), and freezing would store frozen filesystems in its vmstate; quiesce applies to disks-only snapshots";
  }
  if (o.disks === 0) return "the VM has no disk to snapshot";
  if (o.runState !== "running") return `the VM is ${o.runState}: its guest agent cannot run`;
  return null;
}

/** The freeze of one snapshot: thaw() ends it (always call it, whatever happened in between). */
export interface GuestFreeze {
  /**
   * Sends guest-fsfreeze-thaw before its first await (so the caller may then resume the guest) and
   * resolves once it is answered (or its budget ended) with what the snapshot row says.
   * `instantTaken`: the disks' state was taken while the guest was frozen.
   */
  thaw(instantTaken: boolean): Promise<QuiesceOutcome>;
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** A freeze that did not happen: thaw() only reports why (after any thaw it had to send). */
function notFrozen(note: string, pendingThaw?: Promise<ThawResult>): GuestFreeze {
  return {
    thaw: async () => {
      const r = await pendingThaw;
      return {
        consistency: "crash",
        note: r?.note ? `${note}; ${r.note}` : note,
        ...(r?.mayBeFrozen ? { mayBeFrozen: true } : {}),
      };
    },
  };
}

export interface FreezeGuestInput {
  qmp: QmpClient;
  request: QuiesceRequest;
  log?: Logger;
  now?: () => number;
  /**
   * Awaited right before guest-fsfreeze-freeze is written, with the agent's socket path: the run records
   * that the guest may be frozen (crash-undo.ts), so a restarted dashboard can thaw it. Must not throw.
   */
  beforeFreeze?(agentSocket: string): Promise<void>;
}

/**
 * Freezes the guest's filesystems through its agent within the request's budget. Never throws; when
 * the guest could not be frozen the returned freeze says why (and has already sent any thaw needed).
 */
export async function freezeGuest(input: FreezeGuestInput): Promise<GuestFreeze> {
  const now = input.now ?? (() => performance.now());
  const { request, log } = input;
  const timeoutMs = request.timeoutMs ?? QUIESCE_TIMEOUT_MS;
  const startedAt = now();
  const left = () => Math.max(1, startedAt + timeoutMs - now());

  if (!request.openSocket) return notFrozen("this host gives no access to the guest agent's socket (QMP only)");
  const socket = await locateAgentSocket(input.qmp, request.argv);
  if ("reason" in socket) return notFrozen(socket.reason);
  const open = () => request.openSocket!(socket.path);

  let channel: GuestAgentChannel | undefined;
  try {
    channel = await GuestAgentChannel.open(open, left());
    await channel.sync(left());
  } catch (err) {
    channel?.close();
    return notFrozen(`${(err as Error).message}; nothing was frozen`);
  }

  await input.beforeFreeze?.(socket.path);
  const freezeSentAt = now();
  let count: number;
  try {
    count = await channel.fsfreezeFreeze(left());
  } catch (err) {
    if (err instanceof GuestAgentCommandError) {
      // The agent thaws whatever it froze before answering an error (qga/commands-posix.c).
      channel.close();
      return notFrozen(`the guest agent refused to freeze: ${err.desc}`);
    }
    // No answer: the freeze may still run in the guest. Its thaw goes right behind it on the same
    // channel, and the snapshot does not wait for either.
    const why =
      err instanceof GuestAgentTimeoutError
        ? `the guest agent did not answer guest-fsfreeze-freeze within ${seconds(timeoutMs)}`
        : (err as Error).message;
    log?.warn({ reason: why }, "quiesce: freeze not answered; thaw sent, snapshot goes on crash-consistent");
    const thawing = settleThaw({ channel, open, budgetMs: timeoutMs, log, now });
    return notFrozen(`${why}; thaw sent at once, snapshot taken crash-consistent`, thawing);
  }
  if (typeof count !== "number" || count <= 0) {
    channel.close();
    return notFrozen("the guest agent found no filesystem it can freeze");
  }

  // Frozen. The watchdog ends the freeze when the budget does, whatever the snapshot is doing.
  let state: "frozen" | "thaw-by-watchdog" | "thaw-by-run" = "frozen";
  let thawing: Promise<ThawResult> | undefined;
  const startThaw = () => (thawing ??= settleThaw({ channel, open, budgetMs: timeoutMs, log, now }));
  const watchdog = setTimeout(() => {
    if (state !== "frozen") return;
    state = "thaw-by-watchdog";
    log?.warn({ timeoutMs }, "quiesce: the freeze reached its bound; thawing now");
    void startThaw();
  }, left());

  return {
    thaw: async (instantTaken) => {
      clearTimeout(watchdog);
      const byWatchdog = state === "thaw-by-watchdog";
      if (state === "frozen") state = "thaw-by-run";
      const r = await startThaw();
      const frozenMs = r.answeredAt !== undefined ? r.answeredAt - freezeSentAt : undefined;
      const froze = `froze ${plural(count, "filesystem")}${frozenMs !== undefined ? ` for ${frozenMs.toFixed(0)} ms (freeze sent → thaw answered)` : ""}`;
      const tail = r.note ? `; ${r.note}` : "";
      const left = r.mayBeFrozen ? { mayBeFrozen: true } : {};
      if (byWatchdog) {
        return {
          consistency: "crash",
          note: `${froze}, but the pause had not returned when the ${seconds(timeoutMs)} bound thawed the guest: taken crash-consistent${tail}`,
          frozenMs,
          ...left,
        };
      }
      if (!instantTaken)
        return { consistency: "crash", note: `${froze}; the disks' state was not taken${tail}`, frozenMs, ...left };
      return { consistency: "application", note: `${froze}${tail}`, frozenMs, ...left };
    },
  };
}

interface ThawResult {
  /** When the thaw was answered (undefined: never within the budget). */
  answeredAt?: number;
  /** Something the row must say about the thaw (unconfirmed, status not "thawed"), or undefined. */
  note?: string;
  /** No thaw answered, or the agent still says "frozen" after it. */
  mayBeFrozen: boolean;
}

/**
 * Sends guest-fsfreeze-thaw at once and keeps re-sending it (on a fresh channel when the old one broke)
 * until it is answered or budgetMs ends; then checks guest-fsfreeze-status. Closes the channel.
 */
async function settleThaw(o: {
  channel: GuestAgentChannel;
  open: () => Promise<Duplex>;
  budgetMs: number;
  log?: Logger;
  now: () => number;
}): Promise<ThawResult> {
  const deadline = o.now() + o.budgetMs;
  let channel = o.channel;
  let lastError = "";
  try {
    // The first send happens synchronously here: before the caller's next step (its `cont`).
    let attempt: Promise<number> = channel.fsfreezeThaw(Math.min(THAW_ATTEMPT_MS, o.budgetMs));
    for (;;) {
      try {
        await attempt;
        const answeredAt = o.now();
        const status = await channel
          .fsfreezeStatus(Math.max(1, Math.min(STATUS_CHECK_MS, deadline - o.now())))
          .catch((err: Error) => `unknown (${err.message})`);
        if (status === "thawed") return { answeredAt, mayBeFrozen: false };
        o.log?.error({ status }, 'quiesce: guest-fsfreeze-status after the thaw is not "thawed"');
        return {
          answeredAt,
          note: `after the thaw the guest agent reports its filesystems ${status}`,
          mayBeFrozen: status === "frozen",
        };
      } catch (err) {
        // A timeout is what the note says anyway; another failure (the channel broke) is worth naming.
        if (!(err instanceof GuestAgentTimeoutError)) lastError = (err as Error).message;
      }
      const left = deadline - o.now();
      if (left <= 0) break;
      if (channel.closed) {
        channel = await GuestAgentChannel.open(o.open, left).catch((err: Error) => {
          lastError = err.message;
          return channel;
        });
      }
      attempt = channel.fsfreezeThaw(Math.max(1, Math.min(THAW_ATTEMPT_MS, left)));
    }
    o.log?.error(
      { lastError },
      "quiesce: THE GUEST AGENT NEVER CONFIRMED THE THAW: the guest's filesystems may still be frozen",
    );
    const queued = linger(channel, o.log);
    return {
      mayBeFrozen: true,
      note: `THAW NOT CONFIRMED: the guest agent did not answer guest-fsfreeze-thaw within ${seconds(o.budgetMs)}${lastError ? ` (${lastError})` : ""}; the guest's filesystems may still be frozen until it does${queued ? " (a thaw stays queued for it)" : ": send guest-fsfreeze-thaw to its agent"}`,
    };
  } finally {
    if (!lingering.has(channel)) channel.close();
    if (channel !== o.channel) o.channel.close();
  }
}

const lingering = new WeakSet<GuestAgentChannel>();

/** Keeps a channel open with one more thaw queued until the agent answers it (or THAW_LINGER_MS). False: the channel is gone. */
function linger(channel: GuestAgentChannel, log?: Logger): boolean {
  if (channel.closed) return false;
  lingering.add(channel);
  channel
    .fsfreezeThaw(THAW_LINGER_MS)
    .then(
      () => log?.warn("quiesce: the guest agent answered the thaw late; its filesystems are thawed"),
      (err: Error) => log?.error({ err }, "quiesce: the guest agent never answered the thaw"),
    )
    .finally(() => channel.close());
  return true;
}

/** What crash recovery's thaw did, in words for the job's message (crash-undo.ts). */
export type CrashThaw = { done: string } | { failed: string; retry: boolean };

/**
 * The thaw of a run that died between its freeze and its thaw (crash-undo.ts): a fresh channel to the
 * agent socket the run recorded, guest-sync-delimited (the dead run may have left half a command in it),
 * guest-fsfreeze-status, and guest-fsfreeze-thaw when the agent says "frozen" (a thaw of a thawed guest
 * would be harmless: the status makes the message exact), then the status again — all within timeoutMs.
 * An agent that does not answer is worth asking again (retry); one that refuses is not. Never throws.
 */
export async function thawAfterCrash(
  open: () => Promise<Duplex>,
  timeoutMs = QUIESCE_TIMEOUT_MS,
  now: () => number = () => performance.now(),
): Promise<CrashThaw> {
  const deadline = now() + timeoutMs;
  const left = () => Math.max(1, deadline - now());
  let channel: GuestAgentChannel | undefined;
  try {
    channel = await GuestAgentChannel.open(open, left());
    await channel.sync(left());
    if ((await channel.fsfreezeStatus(left())) === "thawed")
      return { done: "the guest's filesystems were not frozen (its guest agent says thawed)" };
    const count = await channel.fsfreezeThaw(left());
    const status = await channel.fsfreezeStatus(left());
    if (status !== "thawed") {
      return {
        failed: `the guest agent answered guest-fsfreeze-thaw but reports its filesystems ${status}; the next recovery sweep sends the thaw again`,
        retry: true,
      };
    }
    return {
      done: `the guest's filesystems, which Snapfleet had frozen for the snapshot, were thawed (${plural(count, "filesystem")}, through its guest agent)`,
    };
  } catch (err) {
    if (err instanceof GuestAgentCommandError) {
      return {
        failed: `the guest agent refused ${err.command} (${err.desc}): the guest's filesystems may still be frozen; thaw them by hand (docs/quiesce.md)`,
        retry: false,
      };
    }
    return {
      failed: `${(err as Error).message}: the guest's filesystems may still be frozen; the next recovery sweep sends guest-fsfreeze-thaw again`,
      retry: true,
    };
  } finally {
    channel?.close();
  }
}

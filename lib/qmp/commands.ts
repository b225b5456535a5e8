// Typed wrappers for the QMP commands Snapfleet uses. QmpClient extends QmpCommands, so
// `client.queryStatus()` etc. are one `execute()` each; anything with an `execute` can reuse them.
// Invariants: command and argument names are QEMU's wire names, written only in this folder; replies
// are returned as QEMU sent them (types in types.ts) — those that callers read fields of and that are
// checked say so, and a reply that does not fit fails that command with QmpProtocolError "bad-reply";
// no wrapper adds retries or hidden state.
// Traps from QEMU.md that shape these wrappers are noted where they apply.
import { excerpt, QmpProtocolError } from "./errors";
import type {
  BlockCommitArgs,
  BlockDeviceInfo,
  BlockInfo,
  BlockJobInfo,
  BlockdevSnapshotSync,
  ChardevInfo,
  JobInfo,
  MemdevInfo,
  MemoryInfo,
  MigrateOptions,
  MigrateSetParameters,
  MigrationCapabilityStatus,
  MigrationInfo,
  NameInfo,
  QomProperty,
  SnapshotDeleteArgs,
  SnapshotLoadArgs,
  SnapshotSaveArgs,
  StatusInfo,
  TransactionAction,
  TransactionProperties,
  UuidInfo,
  VersionInfo,
} from "./types";

export interface QmpExecuteOptions {
  /** Overrides the session's commandTimeoutMs; 0 or Infinity waits forever. */
  timeoutMs?: number;
  /** Aborting rejects with the signal's reason; QEMU still runs the command, its reply is dropped. */
  signal?: AbortSignal;
}

/** Builds a `transaction` action that snapshots one node into a new external overlay. */
export function blockdevSnapshotSync(data: BlockdevSnapshotSync): TransactionAction {
  return { type: "blockdev-snapshot-sync", data };
}

/**
 * Builds a `transaction` action that takes an internal qcow2 snapshot of one node: the snapshot lives
 * inside the image (copy-on-write keeps it from later writes); `device` is a BlockBackend or root node name.
 */
export function blockdevSnapshotInternalSync(device: string, name: string): TransactionAction {
  return { type: "blockdev-snapshot-internal-sync", data: { device, name } };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isBlockJobInfo(v: unknown): v is BlockJobInfo {
  return (
    isRecord(v) &&
    typeof v.device === "string" &&
    typeof v.type === "string" &&
    typeof v.offset === "number" &&
    typeof v.len === "number" &&
    (v.status === undefined || typeof v.status === "string") &&
    (v.ready === undefined || typeof v.ready === "boolean")
  );
}

const isArrayOf =
  <T>(item: (v: unknown) => v is T) =>
  (v: unknown): v is T[] =>
    Array.isArray(v) && v.every(item);

const isMemdev = (v: unknown): v is MemdevInfo =>
  isRecord(v) && typeof v.size === "number" && (v.id === undefined || typeof v.id === "string");
const isChardev = (v: unknown): v is ChardevInfo =>
  isRecord(v) && typeof v.label === "string" && typeof v.filename === "string";
const isQomProperty = (v: unknown): v is QomProperty =>
  isRecord(v) && typeof v.name === "string" && typeof v.type === "string";

/** The reply if it has the shape `fits` checks; else the command fails (not the session). */
function checked<T>(command: string, reply: unknown, fits: (v: unknown) => v is T): T {
  if (fits(reply)) return reply;
  throw new QmpProtocolError(
    "bad-reply",
    `${command} returned an unexpected reply: ${excerpt(JSON.stringify(reply) ?? String(reply))}`,
  );
}

export abstract class QmpCommands {
  abstract execute<T = unknown>(command: string, args?: Record<string, unknown>, opts?: QmpExecuteOptions): Promise<T>;

  /** Same as the exported builder, for `QmpClient.blockdevSnapshotSync(...)`. */
  static readonly blockdevSnapshotSync = blockdevSnapshotSync;

  queryStatus(opts?: QmpExecuteOptions): Promise<StatusInfo> {
    return this.execute<StatusInfo>("query-status", undefined, opts);
  }

  queryName(opts?: QmpExecuteOptions): Promise<NameInfo> {
    return this.execute<NameInfo>("query-name", undefined, opts);
  }

  queryUuid(opts?: QmpExecuteOptions): Promise<UuidInfo> {
    return this.execute<UuidInfo>("query-uuid", undefined, opts);
  }

  queryVersion(opts?: QmpExecuteOptions): Promise<VersionInfo> {
    return this.execute<VersionInfo>("query-version", undefined, opts);
  }

  queryMemorySizeSummary(opts?: QmpExecuteOptions): Promise<MemoryInfo> {
    return this.execute<MemoryInfo>("query-memory-size-summary", undefined, opts);
  }

  queryBlock(opts?: QmpExecuteOptions): Promise<BlockInfo[]> {
    return this.execute<BlockInfo[]>("query-block", undefined, opts);
  }

  /** `flat: true` lists each node once without nesting backing images. */
  queryNamedBlockNodes(args: { flat?: boolean } = {}, opts?: QmpExecuteOptions): Promise<BlockDeviceInfo[]> {
    return this.execute<BlockDeviceInfo[]>("query-named-block-nodes", args, opts);
  }

  /**
   * Deletes an internal qcow2 snapshot of a node that QEMU holds open (an offline image: qemu-img
   * snapshot -d). Fails with GenericError when the snapshot does not exist.
   */
  blockdevSnapshotDeleteInternalSync(device: string, name: string, opts?: QmpExecuteOptions): Promise<unknown> {
    return this.execute("blockdev-snapshot-delete-internal-sync", { device, name }, opts);
  }

  /** `{}` before the first migration of the QEMU process. */
  queryMigrate(opts?: QmpExecuteOptions): Promise<MigrationInfo> {
    return this.execute<MigrationInfo>("query-migrate", undefined, opts);
  }

  queryMigrateCapabilities(opts?: QmpExecuteOptions): Promise<MigrationCapabilityStatus[]> {
    return this.execute<MigrationCapabilityStatus[]>("query-migrate-capabilities", undefined, opts);
  }

  /** Refused while a migration runs ("There's a migration process in progress"). */
  migrateSetCapabilities(capabilities: MigrationCapabilityStatus[], opts?: QmpExecuteOptions): Promise<void> {
    return this.execute<Record<string, never>>("migrate-set-capabilities", { capabilities }, opts).then(
      () => undefined,
    );
  }

  /** Note: returns {} yet changes nothing while a background snapshot is active (QEMU.md §2). */
  migrateSetParameters(params: MigrateSetParameters, opts?: QmpExecuteOptions): Promise<void> {
    return this.execute("migrate-set-parameters", { ...params }, opts).then(() => undefined);
  }

  /**
   * Starts a migration and returns at once; follow it with MIGRATION events (register before calling)
   * or query-migrate. `exec:` URIs run /bin/sh -c: never build one from untrusted text (QEMU.md §5).
   * A rejected migrate still emits MIGRATION setup → failed: trust only events after a successful reply.
   */
  migrate(uri: string, options: MigrateOptions = {}, opts?: QmpExecuteOptions): Promise<void> {
    return this.execute("migrate", { uri, ...options }, opts).then(() => undefined);
  }

  /** Never on a background snapshot with QEMU 7.2: it freezes the guest for good (QEMU.md §2). */
  migrateCancel(opts?: QmpExecuteOptions): Promise<void> {
    return this.execute("migrate_cancel", undefined, opts).then(() => undefined);
  }

  /**
   * Loads RAM and device state into a QEMU started with `-incoming defer` and returns at once; follow it
   * with queryMigrate (or MIGRATION events) until completed or failed. Same `exec:` caution as migrate.
   */
  migrateIncoming(uri: string, opts?: QmpExecuteOptions): Promise<void> {
    return this.execute("migrate-incoming", { uri }, opts).then(() => undefined);
  }

  /** Ends the QEMU process; the monitor may close before the reply arrives (the call then rejects). */
  quit(opts?: QmpExecuteOptions): Promise<void> {
    return this.execute("quit", undefined, opts).then(() => undefined);
  }

  /**
   * Writes the guest's console to `filename` on QEMU's host: PPM, or PNG with format "png" (QEMU ≥ 7.1
   * built with libpng; older ones refuse the argument). Fails when the VM has no display.
   */
  screendump(filename: string, format?: "png", opts?: QmpExecuteOptions): Promise<void> {
    return this.execute("screendump", { filename, ...(format ? { format } : {}) }, opts).then(() => undefined);
  }

  stop(opts?: QmpExecuteOptions): Promise<void> {
    return this.execute("stop", undefined, opts).then(() => undefined);
  }

  cont(opts?: QmpExecuteOptions): Promise<void> {
    return this.execute("cont", undefined, opts).then(() => undefined);
  }

  /** All actions succeed or none do (e.g. blockdev-snapshot-sync of every disk at one instant). */
  transaction(
    actions: TransactionAction[],
    properties?: TransactionProperties,
    opts?: QmpExecuteOptions,
  ): Promise<void> {
    const args: Record<string, unknown> = { actions };
    if (properties) args.properties = properties;
    return this.execute("transaction", args, opts).then(() => undefined);
  }

  /** The memory backends (-object memory-backend-*); empty for a plain `-m`. Checked. */
  queryMemdev(opts?: QmpExecuteOptions): Promise<MemdevInfo[]> {
    return this.execute<unknown>("query-memdev", undefined, opts).then((r) =>
      checked("query-memdev", r, isArrayOf(isMemdev)),
    );
  }

  /** The character devices and where each is connected. Checked. */
  queryChardev(opts?: QmpExecuteOptions): Promise<ChardevInfo[]> {
    return this.execute<unknown>("query-chardev", undefined, opts).then((r) =>
      checked("query-chardev", r, isArrayOf(isChardev)),
    );
  }

  /** The properties (and children) of the QOM object at `path`. Checked. */
  qomList(path: string, opts?: QmpExecuteOptions): Promise<QomProperty[]> {
    return this.execute<unknown>("qom-list", { path }, opts).then((r) =>
      checked("qom-list", r, isArrayOf(isQomProperty)),
    );
  }

  /** One QOM property's value, as QEMU sent it: its type depends on the property, so the caller checks it. */
  qomGet(path: string, property: string, opts?: QmpExecuteOptions): Promise<unknown> {
    return this.execute<unknown>("qom-get", { path, property }, opts);
  }

  queryJobs(opts?: QmpExecuteOptions): Promise<JobInfo[]> {
    return this.execute<JobInfo[]>("query-jobs", undefined, opts);
  }

  /** Block jobs in progress (block-commit, mirror, stream), `device` being each job's id. Checked. */
  queryBlockJobs(opts?: QmpExecuteOptions): Promise<BlockJobInfo[]> {
    return this.execute<unknown>("query-block-jobs", undefined, opts).then((reply) =>
      checked("query-block-jobs", reply, (v): v is BlockJobInfo[] => Array.isArray(v) && v.every(isBlockJobInfo)),
    );
  }

  /**
   * Starts merging `top-node` down into `base-node` and returns at once. With the active image as top
   * (an active commit) the job mirrors new writes, emits BLOCK_JOB_READY and waits for
   * blockJobComplete; otherwise it ends by itself with BLOCK_JOB_COMPLETED. Register for the events first.
   */
  blockCommit(args: BlockCommitArgs, opts?: QmpExecuteOptions): Promise<void> {
    return this.execute("block-commit", { ...args }, opts).then(() => undefined);
  }

  /** Pivots a READY job (active commit, mirror) onto its target and ends it. */
  blockJobComplete(device: string, opts?: QmpExecuteOptions): Promise<void> {
    return this.execute("block-job-complete", { device }, opts).then(() => undefined);
  }

  /** Cancels a block job; `force` also ends a READY one without pivoting. Fails if no such job. */
  blockJobCancel(device: string, options: { force?: boolean } = {}, opts?: QmpExecuteOptions): Promise<void> {
    return this.execute("block-job-cancel", { device, ...options }, opts).then(() => undefined);
  }

  /** Removes a concluded job; snapshot-* jobs stay in query-jobs until dismissed. */
  jobDismiss(id: string, opts?: QmpExecuteOptions): Promise<void> {
    return this.execute("job-dismiss", { id }, opts).then(() => undefined);
  }

  /**
   * Internal snapshot as a job: the guest is paused for the whole save and QMP may block meanwhile
   * (QEMU.md §5). Errors appear only in query-jobs[].error; dismiss the job after `concluded`.
   */
  snapshotSave(args: SnapshotSaveArgs, opts?: QmpExecuteOptions): Promise<void> {
    return this.execute("snapshot-save", { ...args }, opts).then(() => undefined);
  }

  snapshotLoad(args: SnapshotLoadArgs, opts?: QmpExecuteOptions): Promise<void> {
    return this.execute("snapshot-load", { ...args }, opts).then(() => undefined);
  }

  snapshotDelete(args: SnapshotDeleteArgs, opts?: QmpExecuteOptions): Promise<void> {
    return this.execute("snapshot-delete", { ...args }, opts).then(() => undefined);
  }

  /** HMP passthrough, for debugging only: its output is unstructured text that changes between versions. */
  humanMonitorCommand(commandLine: string, opts?: QmpExecuteOptions & { cpuIndex?: number }): Promise<string> {
    const args: Record<string, unknown> = { "command-line": commandLine };
    if (opts?.cpuIndex !== undefined) args["cpu-index"] = opts.cpuIndex;
    return this.execute<string>("human-monitor-command", args, opts);
  }
}

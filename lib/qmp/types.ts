// Types of QMP messages and of the replies our typed wrappers return (QEMU 7.2's QAPI schema,
// qapi/{run-state,misc,machine,block-core,migration,job,transaction}.json).
// Invariant: field names are QEMU's wire names exactly as QEMU sends them (kebab-case, and the odd
// snake_case like `backing_file`), so a grep for a QMP field finds both the schema and our code.
// Only the fields we rely on or that operators commonly read are listed; QEMU may send more.

/** pino-compatible logger (pino.Logger satisfies it). */
export interface QmpLogger {
  debug(obj: Record<string, unknown>, msg?: string): void;
  info(obj: Record<string, unknown>, msg?: string): void;
  warn(obj: Record<string, unknown>, msg?: string): void;
  error(obj: Record<string, unknown>, msg?: string): void;
}

// ---------------------------------------------------------------------------------------------
// Protocol
// ---------------------------------------------------------------------------------------------

export interface QmpVersionTriple {
  major: number;
  minor: number;
  micro: number;
}

/** The greeting's QMP member: {"QMP": {"version": {...}, "capabilities": ["oob"]}}. */
export interface QmpGreeting {
  version: { qemu: QmpVersionTriple; package: string };
  capabilities: string[];
}

/** QEMU's event time (g_get_real_time at emission), kept as sent. */
export interface QmpTimestamp {
  seconds: number;
  microseconds: number;
}

export interface QmpEvent<D = Record<string, unknown>> {
  event: string;
  /** `{}` when QEMU sent no data member (STOP, RESUME). */
  data: D;
  timestamp: QmpTimestamp;
  /** seconds * 1e6 + microseconds; exact in a double until the year 2255. */
  timeUs: number;
}

// ---------------------------------------------------------------------------------------------
// Event data
// ---------------------------------------------------------------------------------------------

export interface MigrationEventData {
  status: MigrationStatus;
}
export interface JobStatusChangeEventData {
  id: string;
  status: JobStatus;
}
export interface ShutdownEventData {
  guest: boolean;
  reason: string;
}
export interface BlockJobEventData {
  type: string;
  device: string;
  len: number;
  offset: number;
  speed: number;
  error?: string;
}

// ---------------------------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------------------------

export type RunState =
  | "debug"
  | "inmigrate"
  | "internal-error"
  | "io-error"
  | "paused"
  | "postmigrate"
  | "prelaunch"
  | "finish-migrate"
  | "restore-vm"
  | "running"
  | "save-vm"
  | "shutdown"
  | "suspended"
  | "watchdog"
  | "guest-panicked"
  | "colo";

/** query-status */
export interface StatusInfo {
  running: boolean;
  status: RunState;
  /** Deprecated, still sent by 7.2. */
  singlestep?: boolean;
}

/** query-name: `name` is absent when QEMU was started without -name. */
export interface NameInfo {
  name?: string;
}

/** query-uuid: all zeroes when QEMU was started without -uuid. */
export interface UuidInfo {
  UUID: string;
}

/** query-version */
export interface VersionInfo {
  qemu: QmpVersionTriple;
  package: string;
}

/** query-memory-size-summary: bytes. */
export interface MemoryInfo {
  "base-memory": number;
  "plugged-memory"?: number;
}

/** One memory backend of query-memdev (fields Snapfleet reads). */
export interface MemdevInfo {
  id?: string;
  size: number;
}

/** One chardev of query-chardev: `filename` is e.g. "disconnected:unix:/path,server=on". */
export interface ChardevInfo {
  label: string;
  filename: string;
}

/** One property of qom-list: `type` is e.g. "child<virtio-blk-pci>" or "bool". */
export interface QomProperty {
  name: string;
  type: string;
}

export interface ImageInfoSnapshot {
  id: string;
  name: string;
  "vm-state-size": number;
  "date-sec": number;
  "date-nsec": number;
  "vm-clock-sec": number;
  "vm-clock-nsec": number;
  icount?: number;
}

export interface ImageInfo {
  filename: string;
  format: string;
  "virtual-size": number;
  "actual-size"?: number;
  "dirty-flag"?: boolean;
  "cluster-size"?: number;
  encrypted?: boolean;
  compressed?: boolean;
  "backing-filename"?: string;
  "full-backing-filename"?: string;
  "backing-filename-format"?: string;
  snapshots?: ImageInfoSnapshot[];
  "backing-image"?: ImageInfo;
  "format-specific"?: { type: string; data: Record<string, unknown> };
}

/** An entry of query-named-block-nodes, and BlockInfo.inserted. */
export interface BlockDeviceInfo {
  file: string;
  "node-name"?: string;
  ro: boolean;
  drv: string;
  backing_file?: string;
  backing_file_depth: number;
  encrypted: boolean;
  detect_zeroes: string;
  bps: number;
  bps_rd: number;
  bps_wr: number;
  iops: number;
  iops_rd: number;
  iops_wr: number;
  image: ImageInfo;
  cache: { writeback: boolean; direct: boolean; "no-flush": boolean };
  write_threshold: number;
}

/** An entry of query-block (one per BlockBackend / drive). */
export interface BlockInfo {
  device: string;
  qdev?: string;
  type: string;
  removable: boolean;
  locked: boolean;
  tray_open?: boolean;
  "io-status"?: "ok" | "failed" | "nospace";
  inserted?: BlockDeviceInfo;
}

export type MigrationStatus =
  | "none"
  | "setup"
  | "cancelling"
  | "cancelled"
  | "active"
  | "postcopy-active"
  | "postcopy-paused"
  | "postcopy-recover"
  | "completed"
  | "failed"
  | "colo"
  | "pre-switchover"
  | "device"
  | "wait-unplug";

/** MigrationInfo.ram. `mbps` is megaBITS per second (QEMU.md §1). Byte counts are bytes. */
export interface MigrationStats {
  transferred: number;
  remaining: number;
  total: number;
  duplicate: number;
  skipped: number;
  normal: number;
  "normal-bytes": number;
  "dirty-pages-rate": number;
  mbps: number;
  "dirty-sync-count": number;
  "postcopy-requests": number;
  "page-size": number;
  "multifd-bytes": number;
  "pages-per-second": number;
  "precopy-bytes"?: number;
  "downtime-bytes"?: number;
  "postcopy-bytes"?: number;
}

/**
 * query-migrate: `{}` before the first migration of the process; times are milliseconds.
 * `downtime` appears at completion and hides the real guest pause — measure STOP→RESUME instead.
 */
export interface MigrationInfo {
  status?: MigrationStatus;
  ram?: MigrationStats;
  "total-time"?: number;
  "expected-downtime"?: number;
  downtime?: number;
  "setup-time"?: number;
  "cpu-throttle-percentage"?: number;
  "error-desc"?: string;
  "blocked-reasons"?: string[];
}

export type MigrationCapability =
  | "xbzrle"
  | "rdma-pin-all"
  | "auto-converge"
  | "zero-blocks"
  | "compress"
  | "events"
  | "postcopy-ram"
  | "x-colo"
  | "release-ram"
  | "block"
  | "return-path"
  | "pause-before-switchover"
  | "multifd"
  | "dirty-bitmaps"
  | "postcopy-blocktime"
  | "late-block-activate"
  | "x-ignore-shared"
  | "validate-uuid"
  | "background-snapshot"
  | "zero-copy-send"
  | "postcopy-preempt";

export interface MigrationCapabilityStatus {
  /** Other QEMU versions know other capabilities; the string fallback keeps them usable. */
  capability: MigrationCapability | (string & {});
  state: boolean;
}

/** migrate-set-parameters arguments (all optional; QEMU changes only what is given). */
export interface MigrateSetParameters {
  "announce-initial"?: number;
  "announce-max"?: number;
  "announce-rounds"?: number;
  "announce-step"?: number;
  "compress-level"?: number;
  "compress-threads"?: number;
  "compress-wait-thread"?: boolean;
  "decompress-threads"?: number;
  "throttle-trigger-threshold"?: number;
  "cpu-throttle-initial"?: number;
  "cpu-throttle-increment"?: number;
  "cpu-throttle-tailslow"?: boolean;
  "tls-creds"?: string | null;
  "tls-hostname"?: string | null;
  "tls-authz"?: string | null;
  /** bytes/s; no effect on a background snapshot in 7.2 (QEMU.md §3). */
  "max-bandwidth"?: number;
  /** milliseconds */
  "downtime-limit"?: number;
  "x-checkpoint-delay"?: number;
  "block-incremental"?: boolean;
  "multifd-channels"?: number;
  "xbzrle-cache-size"?: number;
  "max-postcopy-bandwidth"?: number;
  "max-cpu-throttle"?: number;
  "multifd-compression"?: "none" | "zlib" | "zstd";
  "multifd-zlib-level"?: number;
  "multifd-zstd-level"?: number;
}

/** migrate arguments besides `uri` (7.2). */
export interface MigrateOptions {
  blk?: boolean;
  inc?: boolean;
  detach?: boolean;
  resume?: boolean;
}

/** blockdev-snapshot-sync: one of `device` / `node-name` names the active layer to snapshot. */
export interface BlockdevSnapshotSync {
  device?: string;
  "node-name"?: string;
  "snapshot-file": string;
  "snapshot-node-name"?: string;
  format?: string;
  mode?: "existing" | "absolute-paths";
}

export type TransactionAction =
  | { type: "blockdev-snapshot-sync"; data: BlockdevSnapshotSync }
  | { type: "blockdev-snapshot"; data: { node: string; overlay: string } }
  | { type: "blockdev-snapshot-internal-sync"; data: { device: string; name: string } }
  | { type: "block-dirty-bitmap-add"; data: { node: string; name: string; persistent?: boolean } }
  | { type: "blockdev-backup"; data: Record<string, unknown> & { device: string; target: string; sync: string } };

export interface TransactionProperties {
  "completion-mode"?: "individual" | "grouped";
}

export type JobType =
  | "commit"
  | "stream"
  | "mirror"
  | "backup"
  | "create"
  | "amend"
  | "snapshot-load"
  | "snapshot-save"
  | "snapshot-delete";

export type JobStatus =
  | "undefined"
  | "created"
  | "running"
  | "paused"
  | "ready"
  | "standby"
  | "waiting"
  | "pending"
  | "aborting"
  | "concluded"
  | "null";

/** query-jobs entry. A failed job reports only here, in `error` (QEMU.md §5). */
export interface JobInfo {
  id: string;
  type: JobType;
  status: JobStatus;
  "current-progress": number;
  "total-progress": number;
  error?: string;
}

/** query-block-jobs entry: a block job's progress (`device` is its job id). */
export interface BlockJobInfo {
  type: string;
  device: string;
  len: number;
  offset: number;
  /** The job's JobStatus (QEMU ≥ 2.12). */
  status?: JobStatus;
  /** A mirror or active commit has caught up: block-job-complete may pivot. */
  ready?: boolean;
}

/** block-commit arguments (node names, as query-named-block-nodes reports them). */
export interface BlockCommitArgs {
  "job-id": string;
  /** The root node (or BlockBackend) of the chain. */
  device: string;
  "top-node": string;
  "base-node": string;
  /** Bytes per second; absent: unlimited. */
  speed?: number;
}

/** snapshot-save arguments: `vmstate` and `devices` are node names (QEMU.md §5). */
export interface SnapshotSaveArgs {
  "job-id": string;
  tag: string;
  vmstate: string;
  devices: string[];
}

export interface SnapshotDeleteArgs {
  "job-id": string;
  tag: string;
  devices: string[];
}

export type SnapshotLoadArgs = SnapshotSaveArgs;

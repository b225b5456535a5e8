// The fleet's Prometheus metrics, built from one FleetStats read (fleet-stats.ts) into a registry of
// its own for one scrape: nothing is kept between scrapes, so concurrent scrapes never mix their values
// and every value is the database's at that scrape. Names follow Prometheus conventions (snapfleet_
// prefix, unit suffixes _seconds/_bytes, _total for counters); docs/metrics.md lists each one.
// Invariants:
//  - every label combination that can occur (status × mode, host × kind, …) is exported from the first
//    scrape on, 0 when nothing happened yet, so rate() and alerts see a series before its first event;
//  - label values are host names and the enums' fixed values: cardinality is bounded by the fleet size.
import { Counter, Gauge, Registry, type Metric } from "prom-client";
import {
  DURATION_BUCKETS_S,
  GUEST_PAUSE_BUCKETS_S,
  LATENESS_BUCKETS_S,
  RESTORE_KINDS,
  RESTORE_OUTCOMES,
  SCHEDULE_RUN_OUTCOMES,
  SCHEDULE_TRIGGERS,
  SIZE_BUCKETS_BYTES,
  SNAPSHOT_MODES,
  SNAPSHOT_OUTCOMES,
  VM_STATES,
  type FleetStats,
  type HistogramData,
} from "./fleet-stats";

/** Job kinds per host: snapshots, and the two kinds of restore (lib/restore). */
const JOB_KINDS = ["snapshot", "rollback", "verify"] as const;

type Labels = Record<string, string>;

/**
 * A histogram whose buckets were counted in SQL. prom-client's Histogram only learns values one
 * observe() at a time; this exports already-aggregated buckets in the same shape (`_bucket{le}`,
 * `_sum`, `_count`), which prom-client's Registry writes like any of its own metrics.
 */
function countedHistogram(
  name: string,
  help: string,
  bounds: number[],
  series: Array<{ labels: Labels; data: HistogramData }>,
): Metric {
  const values = series.flatMap(({ labels, data }) => [
    ...bounds.map((le, i) => ({
      metricName: `${name}_bucket`,
      labels: { ...labels, le },
      value: data.buckets[i] ?? 0,
    })),
    { metricName: `${name}_bucket`, labels: { ...labels, le: "+Inf" }, value: data.count },
    { metricName: `${name}_sum`, labels, value: data.sum },
    { metricName: `${name}_count`, labels, value: data.count },
  ]);
  const metric = {
    name,
    help,
    type: "histogram",
    aggregator: "sum",
    collect: undefined,
    get: async () => ({ name, help, type: "histogram", aggregator: "sum", values }),
  };
  // Structurally what prom-client's Registry reads from a metric (name, help, type, get()).
  return metric as unknown as Metric;
}

/** Every combination of the labels' values: { a: [1, 2], b: [x] } → [{ a: 1, b: x }, { a: 2, b: x }]. */
function labelCombinations(labels: Record<string, readonly string[]>): Labels[] {
  return Object.entries(labels).reduce<Labels[]>(
    (combos, [name, values]) => combos.flatMap((c) => values.map((v) => ({ ...c, [name]: v }))),
    [{}],
  );
}

const EMPTY_HISTOGRAM = (bounds: number[]): HistogramData => ({ buckets: bounds.map(() => 0), sum: 0, count: 0 });

export function fleetRegistry(stats: FleetStats, version: string): Registry {
  const registry = new Registry();
  const registers = [registry];
  const hostName = new Map(stats.hosts.map((h) => [h.id, h.name]));
  // Rows of a host deleted since the queries ran are dropped.
  const onHost = (hostId: string, set: (host: string) => void) => {
    const host = hostName.get(hostId);
    if (host) set(host);
  };

  new Gauge({
    name: "snapfleet_info",
    help: "Always 1; the dashboard's version as a label.",
    labelNames: ["version"],
    registers,
  }).set({ version }, 1);

  /** A counter of outcomes, every combination of `labels` exported (0 until it happens). */
  const outcomes = (name: string, help: string, labels: Record<string, readonly string[]>) => {
    const counter = new Counter({ name, help, labelNames: Object.keys(labels), registers });
    for (const combination of labelCombinations(labels)) counter.inc(combination, 0);
    return counter;
  };

  // ---- Snapshots ----
  const snapshots = outcomes(
    "snapfleet_snapshots_total",
    "Snapshots that ended, by final status (completed, failed, cancelled) and mode (live, ram-only, disks-only).",
    { status: SNAPSHOT_OUTCOMES, mode: SNAPSHOT_MODES },
  );
  for (const r of stats.snapshots)
    if ((SNAPSHOT_OUTCOMES as readonly string[]).includes(r.status))
      snapshots.inc({ status: r.status, mode: r.mode }, r.count);

  const perMode = (data: Map<string, HistogramData>, bounds: number[]) =>
    SNAPSHOT_MODES.map((mode) => ({ labels: { mode }, data: data.get(mode) ?? EMPTY_HISTOGRAM(bounds) }));
  registry.registerMetric(
    countedHistogram(
      "snapfleet_snapshot_duration_seconds",
      "Wall time of completed snapshots, from the job's start to completed, by mode.",
      DURATION_BUCKETS_S,
      perMode(stats.durationSeconds, DURATION_BUCKETS_S),
    ),
  );
  registry.registerMetric(
    countedHistogram(
      "snapfleet_snapshot_guest_pause_seconds",
      "How long the guest was paused (measured) during completed snapshots, by mode.",
      GUEST_PAUSE_BUCKETS_S,
      perMode(stats.guestPauseSeconds, GUEST_PAUSE_BUCKETS_S),
    ),
  );
  registry.registerMetric(
    countedHistogram(
      "snapfleet_snapshot_size_bytes",
      "Bytes written by completed snapshots (vmstate and disk state), by mode.",
      SIZE_BUCKETS_BYTES,
      perMode(stats.sizeBytes, SIZE_BUCKETS_BYTES),
    ),
  );

  // ---- Jobs per host: queue depth and running ----
  const queued = new Gauge({
    name: "snapfleet_jobs_queued",
    help: "Jobs waiting in the queue (not started yet), by host and kind (snapshot, rollback, verify).",
    labelNames: ["host", "kind"],
    registers,
  });
  const running = new Gauge({
    name: "snapfleet_jobs_running",
    help: "Jobs running now (snapshot: preflight, setup or active; restore: setup or active), by host and kind.",
    labelNames: ["host", "kind"],
    registers,
  });
  for (const h of stats.hosts) {
    for (const kind of JOB_KINDS) {
      queued.set({ host: h.name, kind }, 0);
      running.set({ host: h.name, kind }, 0);
    }
  }
  for (const [hostId, n] of stats.queuedSnapshots) onHost(hostId, (host) => queued.inc({ host, kind: "snapshot" }, n));
  for (const r of stats.queuedRestores) onHost(r.hostId, (host) => queued.inc({ host, kind: r.kind }, r.count));
  for (const [hostId, n] of stats.runningSnapshots)
    onHost(hostId, (host) => running.inc({ host, kind: "snapshot" }, n));
  for (const r of stats.runningRestores) onHost(r.hostId, (host) => running.inc({ host, kind: r.kind }, r.count));

  // ---- Hosts, VMs and QMP sessions ----
  const up = new Gauge({
    name: "snapfleet_host_up",
    help: "1 when the host's last discovery reached it (Host.healthy), else 0; by host and kind (local, ssh, tls).",
    labelNames: ["host", "kind"],
    registers,
  });
  for (const h of stats.hosts) up.set({ host: h.name, kind: h.kind }, h.healthy ? 1 : 0);

  const vms = new Gauge({
    name: "snapfleet_vms",
    help: "VMs by host and state; unreachable: their QMP monitor could not be reached (session lost or refused).",
    labelNames: ["host", "state"],
    registers,
  });
  for (const h of stats.hosts) for (const state of VM_STATES) vms.set({ host: h.name, state }, 0);
  for (const r of stats.vms) onHost(r.hostId, (host) => vms.set({ host, state: r.state }, r.count));

  const owned = new Gauge({
    name: "snapfleet_vm_monitors_owned",
    help: "VMs whose QMP monitor is owned by a live dashboard process (an unexpired lease), fleet-wide, by host.",
    labelNames: ["host"],
    registers,
  });
  const sessions = new Gauge({
    name: "snapfleet_qmp_sessions_open",
    help: "QMP sessions open in the process that answered this scrape, by host.",
    labelNames: ["host"],
    registers,
  });
  for (const h of stats.hosts) {
    owned.set({ host: h.name }, stats.leasedVms.get(h.id) ?? 0);
    sessions.set({ host: h.name }, stats.openSessions.get(h.id) ?? 0);
  }

  // ---- Restores and verifications ----
  const restores = outcomes(
    "snapfleet_restores_total",
    "Restores that ended, by kind (rollback, verify) and final status (completed, failed).",
    { kind: RESTORE_KINDS, status: RESTORE_OUTCOMES },
  );
  for (const r of stats.restores) restores.inc({ kind: r.kind, status: r.status }, r.count);

  // ---- Scheduler ----
  const runs = outcomes(
    "snapfleet_schedule_runs_total",
    "Schedule runs that ended, by trigger (scheduled, manual, catch_up) and final status.",
    { trigger: SCHEDULE_TRIGGERS, status: SCHEDULE_RUN_OUTCOMES },
  );
  for (const r of stats.scheduleRuns) runs.inc({ trigger: r.trigger, status: r.status }, r.count);

  registry.registerMetric(
    countedHistogram(
      "snapfleet_schedule_lateness_seconds",
      "How late the scheduler fired each on-time run: fired at minus due at (catch-up and manual runs excluded).",
      LATENESS_BUCKETS_S,
      [{ labels: {}, data: stats.latenessSeconds }],
    ),
  );
  new Gauge({
    name: "snapfleet_schedules_overdue",
    help: "Enabled schedules whose next run is due and not fired yet.",
    registers,
  }).set(stats.overdueSchedules.count);
  new Gauge({
    name: "snapfleet_schedule_overdue_seconds",
    help: "How long the most overdue enabled schedule's next run has been due without firing (0: none overdue).",
    registers,
  }).set(stats.overdueSchedules.maxSeconds);

  new Counter({
    name: "snapfleet_retention_deletions_total",
    help: "Snapshots deleted by schedules' retention policies.",
    registers,
  }).inc(stats.retentionDeletions);

  return registry;
}

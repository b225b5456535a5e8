// A realistic snapshot history in bulk, for the history tests and `npm run bench -- history`: hosts, VMs
// spread over them, and `rows` Snapshot rows (with their status changes) inserted by generate_series in
// one statement each — a million rows in well under a minute, no round trip per row.
// The shape follows a fleet that has run for `days`: rows evenly spread in time (inserted oldest first, as
// they would have been), VMs picked at random, ~93 % completed, ~4 % failed, ~3 % cancelled, ~6 % of the
// completed ones deleted by retention, the newest two still in flight (active, queued) and no row in
// preflight or setup — the rare statuses a filter must find without reading the table.
// Deterministic for a given `seed` except the UUIDs. `sameInstant` > 1 gives that many rows each
// createdAt, so the (createdAt, id) tie-break of the keyset cursor is exercised.
import pg from "pg";

export interface HistorySeedOptions {
  rows: number;
  hosts?: number;
  vms?: number;
  days?: number;
  /** The newest row's createdAt (default now). */
  newest?: Date;
  /** Rows sharing each createdAt (default 1). */
  sameInstant?: number;
  /** Also write the status changes (queued, active, final) of each row (default true). */
  statusChanges?: boolean;
  /** Name prefix of the hosts and VMs (default "hist"). */
  prefix?: string;
  seed?: number;
}

export interface HistorySeed {
  rows: number;
  hosts: Array<{ id: string; name: string }>;
  vms: Array<{ id: string; name: string; hostId: string }>;
  oldest: Date;
  newest: Date;
  /** Seconds spent in all, and per step (rows, indexes, vacuumAnalyze). */
  seconds: number;
  steps: Record<string, number>;
}

// What discovery records of a QEMU launch: about half a kilobyte per snapshot, as in production.
const LAUNCH = {
  binary: "/usr/bin/qemu-system-x86_64",
  machine: "pc-q35-7.2",
  cwd: "/var/lib/snapfleet",
  argv: [
    "/usr/bin/qemu-system-x86_64",
    "-name",
    "guest",
    "-machine",
    "q35,accel=kvm",
    "-cpu",
    "host",
    "-smp",
    "2",
    "-m",
    "2048",
    "-drive",
    "file=/var/lib/snapfleet/images/guest.qcow2,if=none,id=drive0,format=qcow2",
    "-device",
    "virtio-blk-pci,drive=drive0",
    "-netdev",
    "tap,id=net0,ifname=tap0,script=no",
    "-device",
    "virtio-net-pci,netdev=net0",
    "-qmp",
    "unix:/run/snapfleet/guest.sock,server=on,wait=off",
    "-display",
    "none",
    "-daemonize",
  ],
  memoryBackends: [{ id: "pc.ram", size: 2147483648, shared: false }],
  owner: null,
};

export async function seedSnapshotHistory(connectionString: string, opts: HistorySeedOptions): Promise<HistorySeed> {
  const {
    rows,
    hosts = 10,
    vms = 200,
    days = 365,
    sameInstant = 1,
    statusChanges = true,
    prefix = "hist",
    seed = 0.42,
  } = opts;
  const newest = new Date(Math.floor((opts.newest ?? new Date()).getTime()));
  const spanMs = days * 86_400_000;
  const started = performance.now();
  const steps: Record<string, number> = {};
  let mark = started;
  const step = (name: string) => {
    const now = performance.now();
    steps[name] = Math.round(now - mark) / 1000;
    mark = now;
  };
  const client = new pg.Client({ connectionString });
  await client.connect();
  let hostRows: pg.QueryResult<{ id: string; name: string }>;
  let vmRows: pg.QueryResult<{ id: string; name: string; hostId: string }>;
  try {
    hostRows = await client.query<{ id: string; name: string }>(
      `INSERT INTO "Host" (id, name, kind, "socketDir", "snapshotDir", healthy, "updatedAt")
       SELECT gen_random_uuid(), $1 || '-host-' || lpad(g::text, 2, '0'), 'local', '/run/snapfleet/' || g, '/var/lib/snapfleet/snapshots/' || g, true, now()
       FROM generate_series(1, $2) g RETURNING id, name`,
      [prefix, hosts],
    );
    vmRows = await client.query<{ id: string; name: string; hostId: string }>(
      `INSERT INTO "Vm" (id, "hostId", endpoint, name, state, "qemuVersion", "memoryBytes", "bgSnapshotSupported", "updatedAt")
       SELECT gen_random_uuid(), ($3::uuid[])[1 + g % $2], '/run/snapfleet/vm-' || g || '.sock', $1 || '-vm-' || lpad(g::text, 3, '0'), 'running', '7.2.0', 2147483648, true, now()
       FROM generate_series(0, $4 - 1) g RETURNING id, name, "hostId"`,
      [prefix, hosts, hostRows.rows.map((h) => h.id), vms],
    );
    // A bulk load builds its indexes afterwards (as pg_restore does): the same definitions, sorted once
    // instead of a million random inserts into each.
    await client.query("SET maintenance_work_mem = '256MB'");
    const indexes = await client.query<{ name: string; def: string }>(
      `SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def FROM pg_index i
       WHERE i.indrelid IN ('"Snapshot"'::regclass, '"SnapshotStatusChange"'::regclass)
         AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)`,
    );
    for (const ix of indexes.rows) await client.query(`DROP INDEX ${ix.name}`);
    await client.query("SELECT setseed($1)", [seed]);
    // g = 0 is the oldest row; createdAt steps evenly to `newest`, `sameInstant` rows per instant. The VM
    // of each row is looked up in arrays (no join, no sort: rows go in in g order, i.e. in time order), and
    // the status changes are written from the same pass (queued; active once started; the final status).
    const vmIds = vmRows.rows.map((v) => v.id);
    await client.query(
      `WITH s AS (
         SELECT gen_random_uuid() AS id, ($7::uuid[])[1 + vi] AS vm_id, ($8::uuid[])[1 + vi] AS host_id, ($9::text[])[1 + vi] AS vm_name, r2,
           CASE WHEN g = $1 - 1 THEN 'queued' WHEN g = $1 - 2 THEN 'active'
                WHEN r < 0.93 THEN 'completed' WHEN r < 0.97 THEN 'failed' ELSE 'cancelled' END AS status,
           CASE WHEN r2 < 0.80 THEN 'live' WHEN r2 < 0.95 THEN 'disks_only' ELSE 'ram_only' END AS mode,
           r < 0.93 AND r2 < 0.06 AND g < $1 - 2 AS deleted,
           date_trunc('milliseconds', to_timestamp(($2::float8 - $3::float8 * (1 - (floor(g / $4) * $4)::float8 / greatest($1 - 1, 1))) / 1000) AT TIME ZONE 'UTC') AS at
         FROM (SELECT g, random() AS r, random() AS r2, floor(random() * $6)::int AS vi FROM generate_series(0, $1 - 1) g) raw
       ), ins AS (
         INSERT INTO "Snapshot" (id, "vmId", "hostId", mode, status, progress, "ramTotalBytes", "ramTransferredBytes", "throughputBytesPerSec",
           "guestPauseMs", "qemuDowntimeMs", "setupMs", "totalMs", "sizeBytes", files, "errorClass", "errorMessage", artifacts, launch,
           "createdAt", "startedAt", "finishedAt", "deletingSince", "deletedAt")
         SELECT s.id, s.vm_id, s.host_id, s.mode::"SnapshotMode", s.status::"SnapshotStatus", CASE WHEN s.status = 'completed' THEN 1 ELSE 0.4 END,
           2147483648, CASE WHEN s.status = 'completed' THEN 2147483648 END, CASE WHEN s.status = 'completed' THEN 180000000 + (s.r2 * 60000000)::bigint END,
           CASE WHEN s.status = 'completed' THEN 4 + s.r2 * 40 END, CASE WHEN s.status = 'completed' THEN 2 + s.r2 * 20 END,
           CASE WHEN s.status <> 'queued' THEN 30 + s.r2 * 200 END, CASE WHEN s.status IN ('completed', 'failed', 'cancelled') THEN 9000 + s.r2 * 6000 END,
           CASE WHEN s.status = 'completed' THEN 1073741824 + (s.r2 * 1073741824)::bigint END,
           CASE WHEN s.status = 'completed' THEN jsonb_build_array(
             jsonb_build_object('path', '/var/lib/snapfleet/snapshots/' || s.vm_name || '/' || s.id || '/vmstate.bin', 'role', 'vmstate', 'sizeBytes', 1073741824),
             jsonb_build_object('path', '/var/lib/snapfleet/images/' || s.vm_name || '.qcow2', 'role', 'disk', 'node', 'drive0', 'format', 'qcow2',
               'internalSnapshot', 'snapfleet-' || s.id, 'sizeBytes', 10737418240)) ELSE '[]' END,
           CASE s.status WHEN 'failed' THEN 'enospc' WHEN 'cancelled' THEN 'cancelled' END,
           CASE s.status WHEN 'failed' THEN 'the snapshot directory ran out of space while writing the vmstate' WHEN 'cancelled' THEN 'cancelled by an operator' END,
           jsonb_build_array(jsonb_build_object('kind', 'dir', 'path', '/var/lib/snapfleet/snapshots/' || s.vm_name || '/' || s.id),
             jsonb_build_object('kind', 'internal-snapshot', 'image', '/var/lib/snapfleet/images/' || s.vm_name || '.qcow2', 'name', 'snapfleet-' || s.id)),
           $5::jsonb,
           s.at, CASE WHEN s.status <> 'queued' THEN s.at + interval '40 milliseconds' END,
           CASE WHEN s.status IN ('completed', 'failed', 'cancelled') THEN s.at + interval '12 seconds' END,
           CASE WHEN s.deleted THEN s.at + interval '30 days' END, CASE WHEN s.deleted THEN s.at + interval '30 days 2 seconds' END
         FROM s
         RETURNING id, status, "createdAt", "startedAt", "finishedAt", "errorMessage"
       )
       INSERT INTO "SnapshotStatusChange" ("snapshotId", status, at, detail)
       SELECT ins.id, c.status, c.at, c.detail FROM ins
       CROSS JOIN LATERAL (VALUES ('queued'::"SnapshotStatus", ins."createdAt", NULL), ('active', ins."startedAt", NULL), (ins.status, ins."finishedAt", ins."errorMessage")) c(status, at, detail)
       WHERE $10 AND c.at IS NOT NULL`,
      [
        rows,
        newest.getTime(),
        spanMs,
        sameInstant,
        JSON.stringify(LAUNCH),
        vms,
        vmIds,
        vmRows.rows.map((v) => v.hostId),
        vmRows.rows.map((v) => v.name),
        statusChanges,
      ],
    );
    step("rows");
    for (const ix of indexes.rows) await client.query(ix.def);
    step("indexes");
    // A table that has been in use for a year has been vacuumed and analysed by autovacuum.
    await client.query(`VACUUM ANALYZE "Snapshot"`);
    if (statusChanges) await client.query(`VACUUM ANALYZE "SnapshotStatusChange"`);
    await client.query(`ANALYZE "Vm"`);
    await client.query(`ANALYZE "Host"`);
    step("vacuumAnalyze");
  } finally {
    await client.end();
  }
  const oldestMs = newest.getTime() - spanMs;
  return {
    rows,
    hosts: hostRows.rows,
    vms: vmRows.rows,
    oldest: new Date(oldestMs),
    newest,
    seconds: Math.round(performance.now() - started) / 1000,
    steps,
  };
}

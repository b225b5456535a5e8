// Seeds a large fleet straight into PostgreSQL (one INSERT … SELECT generate_series), for the
// 1,000-VM list and Fleet page measurements. VM i is `<prefix><i, 4 digits>`; states cycle through
// running, paused, shutdown, unreachable, gone (i % 5); memory 512 MiB × (1 + i % 8); tag tier-<i % 3>;
// every 10th VM has a completed snapshot, i hours old.
import pg from "pg";

export interface SeedOptions {
  hostName: string;
  count: number;
  prefix: string;
  socketDir: string;
  snapshotDir: string;
}

export async function seedScaleFleet(connectionString: string, o: SeedOptions): Promise<{ hostId: string }> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await client.query("BEGIN");
    const host = await client.query<{ id: string }>(
      `INSERT INTO "Host" (id, name, kind, "socketDir", "snapshotDir", healthy, "updatedAt")
       VALUES (gen_random_uuid(), $1, 'local', $2, $3, true, now()) RETURNING id`,
      [o.hostName, o.socketDir, o.snapshotDir],
    );
    const hostId = host.rows[0]!.id;
    await client.query(
      `INSERT INTO "Vm" (id, "hostId", endpoint, name, state, "qemuVersion", "memoryBytes", disks, tags,
                         "bgSnapshotSupported", "lastSeenAt", "updatedAt")
       SELECT gen_random_uuid(), $1, $2 || '/' || $3 || lpad(i::text, 4, '0') || '.sock', $3 || lpad(i::text, 4, '0'),
              (ARRAY['running','paused','shutdown','unreachable','gone'])[1 + i % 5]::"VmState", '7.2.22',
              (512 * (1 + i % 8))::bigint * 1048576,
              jsonb_build_array(jsonb_build_object('node', 'disk0', 'device', 'vd0', 'format', 'qcow2',
                'file', '/var/lib/vms/' || i || '.qcow2', 'writable', true, 'sizeBytes', 10737418240)),
              ARRAY['tier-' || (i % 3)], true, now(), now()
       FROM generate_series(1, $4::int) AS i`,
      [hostId, o.socketDir, o.prefix, o.count],
    );
    await client.query(
      `INSERT INTO "Snapshot" (id, "vmId", "hostId", status, "createdAt", "guestPauseMs")
       SELECT gen_random_uuid(), v.id, v."hostId", 'completed', now() - (substring(v.name from '\\d+$')::int * interval '1 hour'), 3.2
       FROM "Vm" v WHERE v."hostId" = $1 AND substring(v.name from '\\d+$')::int % 10 = 0`,
      [hostId],
    );
    await client.query("COMMIT");
    return { hostId };
  } catch (err) {
    await client.query("ROLLBACK").catch(() => {}); // the error being thrown below is the one to report
    throw err;
  } finally {
    await client.end();
  }
}

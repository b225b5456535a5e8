// The /api/schedules route handlers against a real PostgreSQL: validation messages, create with the
// preview, list, update (nextRunAt follows), run now, retention preview, cron preview, the calendar
// with collisions, delete.
import { describe, expect, it } from "vitest";
import { DELETE, GET as getOne, PATCH } from "../../app/api/schedules/[id]/route";
import { GET as previewRetentionRoute } from "../../app/api/schedules/[id]/preview-retention/route";
import { POST as runNow } from "../../app/api/schedules/[id]/run/route";
import { GET as calendar } from "../../app/api/schedules/calendar/route";
import { GET as cronPreview } from "../../app/api/schedules/preview/route";
import { GET as list, POST as create } from "../../app/api/schedules/route";
import { db } from "../../lib/db/client";
import { findCollisions } from "../../lib/scheduler/service";
import { useTestDatabase } from "../support/db";
import { seedHost, seedVms } from "./support";

useTestDatabase();

const post = (body: unknown) =>
  create(new Request("http://x/api/schedules", { method: "POST", body: JSON.stringify(body) }));
const ctx = (id: string) => ({ params: Promise.resolve({ id }) });

describe("/api/schedules", () => {
  it("refuses invalid input with a message saying what to fix", async () => {
    const host = await seedHost();
    const cases: [unknown, RegExp][] = [
      [{ name: "x", cron: "* * *", targets: { hostId: host.id } }, /cron: cron expression needs 5 fields/],
      [
        { name: "x", cron: "0 * * * *", timezone: "Nowhere/City", targets: { hostId: host.id } },
        /timezone: timezone must be an IANA/,
      ],
      [{ name: "x", cron: "0 * * * *", targets: {} }, /targets/],
      [
        { name: "x", cron: "0 * * * *", targets: { hostId: host.id }, retention: { keepDaily: -1 } },
        /keepDaily must not be negative/,
      ],
      [
        { name: "x", cron: "0 * * * *", targets: { hostId: host.id }, busyPolicy: "queue" },
        /busyPolicy must be "wait" or "skip"/,
      ],
    ];
    for (const [body, message] of cases) {
      const res = await post(body);
      expect(res.status).toBe(400);
      expect((await res.json()).error).toMatch(message);
    }
    const missingHost = await post({
      name: "x",
      cron: "0 * * * *",
      targets: { hostId: "00000000-0000-4000-8000-000000000000" },
    });
    expect(missingHost.status).toBe(422);
  });

  it("creates, lists, updates, runs now, previews and deletes", async () => {
    const host = await seedHost("alpha");
    await seedVms(host.id, ["web-1", "web-2"]);
    const res = await post({
      name: "nightly",
      cron: "30 2 * * *",
      timezone: "Europe/Berlin",
      targets: { hostId: host.id },
      mode: "ram-only",
      retention: { keepLast: 7 },
    });
    expect(res.status).toBe(201);
    const { schedule, preview } = await res.json();
    expect(schedule).toMatchObject({
      name: "nightly",
      mode: "ram-only",
      description: "At 02:30, every day (Europe/Berlin time)",
      targetSummary: "all VMs on alpha",
      retentionSummary: "keep-last 7",
      flagged: false,
    });
    expect(preview.nextRuns).toHaveLength(5);
    expect(schedule.nextRunAt).toBe(preview.nextRuns[0].at);

    expect((await post({ name: "nightly", cron: "0 * * * *", targets: { hostId: host.id } })).status).toBe(409);

    const listed = await (await list()).json();
    expect(listed.schedules.map((s: { name: string }) => s.name)).toEqual(["nightly"]);

    const patch = (body: unknown) =>
      PATCH(new Request("http://x", { method: "PATCH", body: JSON.stringify(body) }), ctx(schedule.id));
    const disabled = await (await patch({ enabled: false })).json();
    expect(disabled.schedule).toMatchObject({ enabled: false, nextRunAt: null });
    const hourly = await (await patch({ enabled: true, cron: "0 * * * *", timezone: "UTC" })).json();
    expect(new Date(hourly.schedule.nextRunAt).getUTCMinutes()).toBe(0);
    expect((await patch({})).status).toBe(400);

    const run = await runNow(new Request("http://x", { method: "POST" }), ctx(schedule.id));
    expect(run.status).toBe(202);
    expect((await run.json()).run).toMatchObject({ trigger: "manual", vmCount: 2, status: "running" });
    const detail = await (await getOne(new Request("http://x"), ctx(schedule.id))).json();
    expect(detail.runs[0].items.map((i: { vmName: string }) => i.vmName).sort()).toEqual(["web-1", "web-2"]);
    expect(detail.preview.nextRuns).toHaveLength(5);

    const snapshot = await db().snapshot.create({
      data: { vmId: detail.runs[0].items[0].vmId, hostId: host.id, scheduleId: schedule.id, status: "completed" },
    });
    const stored = await (await previewRetentionRoute(new Request("http://x/p"), ctx(schedule.id))).json();
    expect(stored).toMatchObject({ policySummary: "keep-last 7", keep: 1, prune: 0 });
    expect(stored.snapshots[0]).toMatchObject({ id: snapshot.id, action: "keep", rule: "keep-last" });
    const proposed = await (
      await previewRetentionRoute(new Request("http://x/p?keepDaily=3"), ctx(schedule.id))
    ).json();
    expect(proposed.policySummary).toBe("daily 3");

    expect((await DELETE(new Request("http://x"), ctx(schedule.id))).status).toBe(204);
    expect((await getOne(new Request("http://x"), ctx(schedule.id))).status).toBe(404);
    expect((await getOne(new Request("http://x"), ctx("not-a-uuid"))).status).toBe(404);
    // The snapshot the schedule took stays, unlinked.
    expect(await db().snapshot.findUnique({ where: { id: snapshot.id } })).toMatchObject({
      scheduleId: null,
      deletedAt: null,
    });
  });

  it("previews a cron expression in words with its next runs", async () => {
    const res = await cronPreview(
      new Request("http://x/api/schedules/preview?cron=0%209%20*%20*%201-5&timezone=America/New_York&count=3"),
    );
    const body = await res.json();
    expect(body.description).toBe("At 09:00, Monday through Friday (America/New_York time)");
    expect(body.nextRuns).toHaveLength(3);
    const bad = await cronPreview(new Request("http://x/api/schedules/preview?cron=99%20*%20*%20*%20*"));
    expect(bad.status).toBe(400);
  });

  it("shows the next 24 h per host with collisions over the host limit", async () => {
    const host = await seedHost("busy-host");
    const quiet = await seedHost("quiet-host");
    await seedVms(host.id, ["a", "b", "c"]);
    await seedVms(quiet.id, ["q"]);
    for (const name of ["one", "two"]) {
      expect((await post({ name, cron: "0 3 * * *", timezone: "UTC", targets: { hostId: host.id } })).status).toBe(201);
    }
    expect(
      (await post({ name: "spread", cron: "0 4 * * *", timezone: "UTC", targets: { hostId: quiet.id } })).status,
    ).toBe(201);
    const body = await (await calendar(new Request("http://x/api/schedules/calendar?hours=24"))).json();
    const busy = body.hosts.find((h: { hostName: string }) => h.hostName === "busy-host");
    expect(busy.limit).toBe(2);
    expect(busy.runs.map((r: { scheduleName: string; vmCount: number }) => [r.scheduleName, r.vmCount])).toEqual([
      ["one", 3],
      ["two", 3],
    ]);
    expect(busy.collisions).toHaveLength(1);
    expect(busy.collisions[0]).toMatchObject({ concurrent: 6, schedules: ["one", "two"] });
    const q = body.hosts.find((h: { hostName: string }) => h.hostName === "quiet-host");
    expect(q).toMatchObject({ collisions: [], runs: [{ scheduleName: "spread", vmCount: 1 }] });
  });

  it("finds the stretches where more spans overlap than the limit", () => {
    const m = 60_000;
    expect(
      findCollisions(
        [
          { start: 0, end: 10 * m, schedule: "a" },
          { start: 5 * m, end: 15 * m, schedule: "b" },
          { start: 8 * m, end: 9 * m, schedule: "c" },
          { start: 20 * m, end: 30 * m, schedule: "d" },
        ],
        2,
      ),
    ).toEqual([
      {
        from: new Date(8 * m).toISOString(),
        to: new Date(9 * m).toISOString(),
        concurrent: 3,
        schedules: ["a", "b", "c"],
      },
    ]);
    expect(
      findCollisions(
        [
          { start: 0, end: m, schedule: "a" },
          { start: m, end: 2 * m, schedule: "b" },
        ],
        1,
      ),
    ).toEqual([]);
  });
});

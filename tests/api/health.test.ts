// GET /api/health: 200 with the version while PostgreSQL answers, 503 with a reason when it does not.
import { afterEach, describe, expect, it } from "vitest";
import { GET } from "../../app/api/health/route";
import { createPrismaClient } from "../../lib/db/client";
import type { PrismaClient } from "../../lib/db/generated/client";
import pkg from "../../package.json" with { type: "json" };
import { useTestDatabase } from "../support/db";

const database = useTestDatabase();
const g = globalThis as { __snapfleetPrisma?: PrismaClient };

describe("GET /api/health", () => {
  afterEach(() => {
    g.__snapfleetPrisma = database.current.prisma;
  });

  it("says the database is up", async () => {
    const res = await GET();
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, db: "up", version: pkg.version });
  });

  it("answers 503 with the reason when the database is down", async () => {
    // Port 9 (discard) on loopback: nothing listens, so the connection is refused at once.
    const down = createPrismaClient("postgresql://nobody:none@127.0.0.1:9/none");
    g.__snapfleetPrisma = down;
    const res = await GET();
    expect(res.status).toBe(503);
    const body = await res.json();
    expect(body).toMatchObject({ ok: false, db: "down", version: pkg.version });
    expect(body.reason).toMatch(/\S/);
    await down.$disconnect();
  });
});

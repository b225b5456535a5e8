// GET /api/health — liveness of the dashboard and its database, for the top bar and for monitoring.
import { NextResponse } from "next/server";
import { checkDatabase } from "@/lib/db/health";
import { readVersion } from "@/lib/config";

export const dynamic = "force-dynamic";

export async function GET() {
  const version = readVersion();
  const db = await checkDatabase();
  if (db.up) return NextResponse.json({ ok: true, db: "up", version });
  return NextResponse.json({ ok: false, db: "down", version, reason: db.reason }, { status: 503 });
}

"use client";
// Shows whether the dashboard can reach its database, from GET /api/health, refreshed every 15 s.
import { useEffect, useState } from "react";
import { apiFetch } from "@/lib/http/api-fetch";

type Health = { ok: boolean; db: "up" | "down"; version?: string; reason?: string };

export function HealthBadge() {
  const [health, setHealth] = useState<Health | null>(null);

  useEffect(() => {
    let cancelled = false;
    const check = async () => {
      try {
        // 503 is the answer "database down", with the reason.
        const body = await apiFetch<Health>("/api/health", { answerStatuses: [503] });
        if (!cancelled) setHealth(body);
      } catch {
        if (!cancelled) setHealth({ ok: false, db: "down", reason: "dashboard unreachable" });
      }
    };
    void check();
    const timer = setInterval(() => void check(), 15_000);
    return () => {
      cancelled = true;
      clearInterval(timer);
    };
  }, []);

  if (!health) return <span className="text-xs text-slate-400">checking…</span>;
  const up = health.db === "up";
  return (
    <span
      role="status"
      title={health.reason ?? (health.version ? `Snapfleet ${health.version}` : undefined)}
      className={`inline-flex items-center gap-1.5 rounded-full px-2.5 py-1 text-xs font-medium ${
        up
          ? "bg-emerald-50 text-emerald-700 dark:bg-emerald-950 dark:text-emerald-300"
          : "bg-red-50 text-red-700 dark:bg-red-950 dark:text-red-300"
      }`}
    >
      <span aria-hidden className={`h-2 w-2 rounded-full ${up ? "bg-emerald-500" : "bg-red-500"}`} />
      {up ? "database up" : `database down${health.reason ? `: ${health.reason}` : ""}`}
    </span>
  );
}

"use client";
// A small "live" / "reconnecting…" marker for pages that show streamed state.
import { useRealtimeStatus } from "./realtime-provider";

export function RealtimeIndicator() {
  const status = useRealtimeStatus();
  const live = status === "connected";
  return (
    <span
      data-testid="realtime-status"
      data-status={status}
      title={live ? "Updates arrive live" : "Live updates paused; reconnecting"}
      className={`inline-flex items-center gap-1.5 text-xs ${live ? "text-emerald-700 dark:text-emerald-400" : "text-amber-700 dark:text-amber-400"}`}
    >
      <span
        aria-hidden
        className={`h-1.5 w-1.5 rounded-full ${live ? "bg-emerald-500" : "animate-pulse bg-amber-500"}`}
      />
      {live ? "live" : status === "connecting" ? "connecting…" : "reconnecting…"}
    </span>
  );
}

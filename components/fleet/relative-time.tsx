"use client";
// A timestamp shown relative to now ("3 min ago"), exact time on hover. Every RelativeTime on the page
// shares ONE 30-second ticker (a 200-row table would otherwise run 400 intervals). The server renders
// the same text; a minute boundary between render and hydration is tolerated.
import { useSyncExternalStore } from "react";
import { formatDateTime, formatRelative } from "./format";

const TICK_MS = 30_000;
const listeners = new Set<() => void>();
let now = Date.now();
let ticker: ReturnType<typeof setInterval> | undefined;

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  if (!ticker) {
    now = Date.now();
    ticker = setInterval(() => {
      now = Date.now();
      for (const l of listeners) l();
    }, TICK_MS);
  }
  return () => {
    listeners.delete(listener);
    if (listeners.size === 0 && ticker) {
      clearInterval(ticker);
      ticker = undefined;
    }
  };
}

const snapshot = () => now;
/** On the server a module lives for many requests: refresh its clock (stable within a second). */
function serverSnapshot(): number {
  const t = Date.now();
  if (t - now > 1000) now = t;
  return now;
}

export function RelativeTime({ iso, fallback = "—" }: { iso: string | null | undefined; fallback?: string }) {
  const current = useSyncExternalStore(subscribe, snapshot, serverSnapshot);
  if (!iso) return <span className="text-slate-400 dark:text-slate-500">{fallback}</span>;
  return (
    <time dateTime={iso} title={formatDateTime(iso)} suppressHydrationWarning>
      {formatRelative(iso, current)}
    </time>
  );
}

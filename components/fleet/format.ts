// Formatting shared by the fleet's tables and pages: binary byte units (guest memory and disks are
// sized in MiB/GiB), compact relative times, durations.
import { toBinaryUnit } from "@/lib/binary-units";

export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return "—";
  const { value: v, unit } = toBinaryUnit(bytes);
  return `${v >= 100 || Number.isInteger(v) ? Math.round(v) : v.toFixed(1)} ${unit}`;
}

export function formatRelative(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "—";
  const diff = new Date(iso).getTime() - now;
  const abs = Math.abs(diff);
  const future = diff > 0;
  const fmt = (n: number, unit: string) => (future ? `in ${n} ${unit}` : `${n} ${unit} ago`);
  if (abs < 45_000) return future ? "in a moment" : "just now";
  if (abs < 3_600_000) return fmt(Math.round(abs / 60_000), "min");
  if (abs < 86_400_000) return fmt(Math.round(abs / 3_600_000), "h");
  return fmt(Math.round(abs / 86_400_000), "d");
}

// One formatter for the page: toLocaleString() builds a new Intl.DateTimeFormat on every call, which
// shows up when a 200-row table formats 400 timestamps.
const DATE_TIME = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  return DATE_TIME.format(new Date(iso));
}

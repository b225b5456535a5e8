"use client";
// Hosts at the top of the Fleet page: health (with the reason when unhealthy), VMs per state, when it
// was last discovered, and "Discover now". Kept current by `host.updated` events (FleetView).
import Link from "next/link";
import { useState } from "react";
import { Button } from "@/components/ui/button";
import type { HostJson } from "@/lib/fleet/vm-json";
import { apiFetch, messageOf } from "@/lib/http/api-fetch";
import { RelativeTime } from "./relative-time";

const KIND_LABEL: Record<HostJson["kind"], string> = { local: "local", ssh: "SSH", tls: "QMP/TLS" };

export function HostCards({ hosts, onDiscovered }: { hosts: HostJson[]; onDiscovered: () => void }) {
  if (hosts.length === 0) return null;
  return (
    <section aria-labelledby="hosts-heading" className="space-y-2">
      <div className="flex items-baseline gap-3">
        <h2 id="hosts-heading" className="text-base font-semibold">
          Hosts
        </h2>
        <Link href="/settings" className="text-xs text-sky-700 hover:underline dark:text-sky-400">
          Manage hosts
        </Link>
      </div>
      <ul className="grid gap-3 sm:grid-cols-2 lg:grid-cols-3">
        {hosts.map((h) => (
          <HostCard key={h.id} host={h} onDiscovered={onDiscovered} />
        ))}
      </ul>
    </section>
  );
}

function HostCard({ host, onDiscovered }: { host: HostJson; onDiscovered: () => void }) {
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<string | null>(null);
  const total = Object.values(host.vmCounts).reduce((a, b) => a + b, 0);
  const discover = async () => {
    setBusy(true);
    setMessage(null);
    try {
      const body = await apiFetch<{ error?: string; found?: number; added?: number; gone?: number; ok?: boolean }>(
        `/api/hosts/${host.id}/discover`,
        { method: "POST" },
      );
      if (body.ok === false) setMessage(body.error ?? "host unreachable");
      else setMessage(`${body.found} found, ${body.added} new, ${body.gone} gone`);
      onDiscovered();
    } catch (err) {
      setMessage(messageOf(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <li
      data-testid="host-card"
      data-host-name={host.name}
      className="rounded-lg border border-slate-200 bg-white p-3 text-sm dark:border-slate-800 dark:bg-slate-900"
    >
      <div className="flex items-center gap-2">
        <span
          aria-label={host.healthy ? "healthy" : "unhealthy"}
          title={host.healthError ?? "reachable"}
          className={`h-2 w-2 rounded-full ${host.healthy ? "bg-emerald-500" : host.lastDiscoveredAt ? "bg-red-500" : "bg-slate-400"}`}
        />
        <span className="font-medium">{host.name}</span>
        <span className="rounded bg-slate-100 px-1.5 text-[11px] font-medium text-slate-600 dark:bg-slate-800 dark:text-slate-300">
          {KIND_LABEL[host.kind]}
        </span>
        <Button variant="link-small" className="ml-auto" onClick={discover} busy={busy} busyLabel="Discovering…">
          Discover now
        </Button>
      </div>
      {!host.healthy && host.healthError && (
        <p className="mt-1 text-xs text-red-700 dark:text-red-400">{host.healthError}</p>
      )}
      <p className="mt-1.5 text-xs text-slate-600 dark:text-slate-400">
        {total} VM{total === 1 ? "" : "s"}
        {(["running", "paused", "shutdown", "unreachable", "gone"] as const)
          .filter((s) => host.vmCounts[s])
          .map((s) => ` · ${host.vmCounts[s]} ${s}`)
          .join("")}
      </p>
      <p className="mt-0.5 text-xs text-slate-500 dark:text-slate-500">
        discovered <RelativeTime iso={host.lastDiscoveredAt} fallback="never" /> ·{" "}
        <Link
          href={`/hosts/${host.id}/storage`}
          prefetch={false}
          className="text-sky-700 hover:underline dark:text-sky-400"
        >
          Storage
        </Link>
      </p>
      {message && (
        <p role="status" className="mt-1 text-xs text-slate-600 dark:text-slate-400">
          {message}
        </p>
      )}
    </li>
  );
}

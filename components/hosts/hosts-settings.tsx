"use client";
// Settings → Hosts: the hosts with their health, and add / edit / remove. Health follows `fleet`
// events (host.updated, host.removed) so a host going down shows here without a reload.
import Link from "next/link";
import { useState } from "react";
import { useTopic } from "@/components/realtime/realtime-provider";
import { RelativeTime } from "@/components/fleet/relative-time";
import { FLEET_EVENTS, hostJsonSchema, hostRemovedPayloadSchema, type HostJson } from "@/lib/fleet/vm-json";
import { HostForm, type SavedHostResponse } from "./host-form";
import { ConfirmRemove } from "@/components/ui/confirm-remove";
import { DataTable } from "@/components/ui/data-table";
import { apiFetch, messageOf } from "@/lib/http/api-fetch";
import { SettingsSection } from "@/components/ui/settings-section";

function target(h: HostJson): string {
  if (h.kind === "local") return h.socketDir ?? "";
  if (h.kind === "ssh") return `${h.user}@${h.address}:${h.port} ${h.socketDir ?? ""}`;
  const n = h.tlsEndpoints?.length ?? 0;
  return `${n} TLS endpoint${n === 1 ? "" : "s"}`;
}

export function HostsSettings({ initialHosts }: { initialHosts: HostJson[] }) {
  const [hosts, setHosts] = useState(initialHosts);
  const [mode, setMode] = useState<{ kind: "idle" } | { kind: "add" } | { kind: "edit"; id: string }>({
    kind: initialHosts.length ? "idle" : "add",
  });
  const [notice, setNotice] = useState<string | null>(null);

  const upsert = (host: HostJson) =>
    setHosts((hs) => {
      const i = hs.findIndex((h) => h.id === host.id);
      const next = i < 0 ? [...hs, host] : hs.map((h) => (h.id === host.id ? host : h));
      return next.sort((a, b) => a.name.localeCompare(b.name));
    });

  useTopic("fleet", (name, payload) => {
    if (name === FLEET_EVENTS.hostUpdated) {
      const parsed = hostJsonSchema.safeParse(payload);
      if (parsed.success) upsert(parsed.data);
    } else if (name === FLEET_EVENTS.hostRemoved) {
      const parsed = hostRemovedPayloadSchema.safeParse(payload);
      if (parsed.success) setHosts((hs) => hs.filter((h) => h.id !== parsed.data.id));
    }
  });

  const onSaved = (verb: string) => (saved: SavedHostResponse) => {
    upsert(saved.host);
    setMode({ kind: "idle" });
    const d = saved.discovery;
    setNotice(
      `${verb} ${saved.host.name}. ` +
        (d
          ? d.ok
            ? `${d.found} VM${d.found === 1 ? "" : "s"} found.`
            : `Discovery failed: ${d.error}`
          : "Discovery is still running."),
    );
  };

  return (
    <SettingsSection
      id="hosts-settings-heading"
      title="Hosts"
      addLabel="Add host"
      onAdd={
        mode.kind === "add"
          ? null
          : () => {
              setNotice(null);
              setMode({ kind: "add" });
            }
      }
    >
      {notice && (
        <p
          role="status"
          className="rounded-md bg-emerald-50 px-3 py-2 text-sm text-emerald-800 dark:bg-emerald-950 dark:text-emerald-300"
        >
          {notice}{" "}
          <Link href="/fleet" className="font-medium underline">
            Open the fleet
          </Link>
        </p>
      )}

      {mode.kind === "add" && <HostForm onSaved={onSaved("Added")} onCancel={() => setMode({ kind: "idle" })} />}

      {hosts.length === 0 && mode.kind !== "add" && <p className="text-sm text-slate-500">No hosts configured.</p>}
      {hosts.length > 0 && (
        <DataTable
          columns={[
            { label: "Name" },
            { label: "Kind" },
            { label: "Monitors" },
            { label: "Snapshots to" },
            { label: "Health" },
            { label: "Actions", srOnly: true },
          ]}
        >
          {hosts.map((h) =>
            mode.kind === "edit" && mode.id === h.id ? (
              <tr key={h.id}>
                <td colSpan={6} className="p-3">
                  <HostForm host={h} onSaved={onSaved("Saved")} onCancel={() => setMode({ kind: "idle" })} />
                </td>
              </tr>
            ) : (
              <HostRow
                key={h.id}
                host={h}
                onEdit={() => setMode({ kind: "edit", id: h.id })}
                onRemoved={() => setHosts((hs) => hs.filter((x) => x.id !== h.id))}
              />
            ),
          )}
        </DataTable>
      )}
    </SettingsSection>
  );
}

function HostRow({ host, onEdit, onRemoved }: { host: HostJson; onEdit: () => void; onRemoved: () => void }) {
  const [error, setError] = useState<string | null>(null);
  const vms = Object.values(host.vmCounts).reduce((a, b) => a + b, 0);
  const remove = async () => {
    setError(null);
    try {
      await apiFetch(`/api/hosts/${host.id}`, { method: "DELETE" });
      onRemoved();
    } catch (err) {
      setError(messageOf(err));
    }
  };
  return (
    <tr data-testid="host-row" data-host-name={host.name}>
      <td className="px-3 py-2 font-medium">{host.name}</td>
      <td className="px-3 py-2">{host.kind}</td>
      <td className="max-w-72 truncate px-3 py-2 font-mono text-xs" title={target(host)}>
        {target(host)}
        {host.kind === "ssh" && host.hostKeySha256 && (
          <span className="block truncate text-slate-500" title={host.hostKeySha256}>
            {host.hostKeySha256}
          </span>
        )}
      </td>
      <td className="max-w-56 truncate px-3 py-2 font-mono text-xs" title={host.snapshotDir}>
        {host.snapshotDir}
      </td>
      <td className="px-3 py-2 text-xs">
        <span className={host.healthy ? "text-emerald-700 dark:text-emerald-400" : "text-red-700 dark:text-red-400"}>
          {host.healthy ? "healthy" : host.lastDiscoveredAt ? "unreachable" : "not checked"}
        </span>
        {host.healthError && (
          <span className="block max-w-64 truncate text-red-700 dark:text-red-400" title={host.healthError}>
            {host.healthError}
          </span>
        )}
        <span className="block text-slate-500">
          {vms} VM{vms === 1 ? "" : "s"} · <RelativeTime iso={host.lastDiscoveredAt} fallback="never discovered" />
        </span>
        {error && (
          <span role="alert" className="block text-red-700 dark:text-red-400">
            {error}
          </span>
        )}
      </td>
      <td className="whitespace-nowrap px-3 py-2 text-right">
        <button
          type="button"
          onClick={onEdit}
          className="rounded px-2 py-1 text-xs text-sky-700 hover:bg-sky-50 dark:text-sky-400 dark:hover:bg-sky-950"
        >
          Edit
        </button>
        <ConfirmRemove
          confirmLabel={`Remove ${host.name} and its ${vms} VM record${vms === 1 ? "" : "s"}`}
          onConfirm={remove}
        />
      </td>
    </tr>
  );
}

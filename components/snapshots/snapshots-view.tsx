"use client";
// The Snapshots page's live body: fleet-wide history with filters (status chips, VM, host, date range —
// kept in the URL so a view can be shared), status chips, pause, duration and size per row, a small
// pause/duration chart per VM, and "Load more" by keyset cursor. A snapshot being deleted shows
// "Deleting…" or "Delete blocked: <why>" under its status (retry from the VM's page). Follows `fleet` "snapshot.updated"
// (status changes of every job) and re-reads after a reconnect.
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useCallback, useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { formatBytes } from "@/components/fleet/format";
import { RelativeTime } from "@/components/fleet/relative-time";
import { RealtimeIndicator } from "@/components/realtime/realtime-indicator";
import {
  snapshotListJsonSchema,
  type SnapshotJson,
  type SnapshotListJson,
  type SnapshotStatusJson,
} from "@/lib/snapshots/snapshot-json";
import { PauseChart } from "./pause-chart";
import { formatRate, withUpdate } from "./snapshot-format";
import { SnapshotOutcomeCells } from "./snapshot-outcome-cells";
import { useSnapshotUpdates } from "./use-snapshot-updates";
import { DataTable, LoadMoreButton } from "@/components/ui/data-table";
import { useCan } from "@/components/auth/identity-provider";
import { RestoreDialog } from "@/components/restore/restore-dialog";
import { SnapshotRestoreActions } from "@/components/restore/snapshot-restore-actions";
import { SNAPSHOT_STATUSES } from "@/lib/validations/snapshot";
import { apiFetch, messageOf } from "@/lib/http/api-fetch";
import { VmNameCell } from "./vm-name-cell";
import { ErrorText } from "@/components/ui/error-text";
import { NamedOptions } from "@/components/ui/named-options";

const PAGE = 50;

export interface SnapshotFilters {
  status: SnapshotStatusJson[];
  vmId: string;
  hostId: string;
  from: string;
  to: string;
}

export interface SnapshotFilterOptions {
  vms: Array<{ id: string; name: string; hostName: string }>;
  hosts: Array<{ id: string; name: string }>;
}

function queryOf(f: SnapshotFilters): URLSearchParams {
  const q = new URLSearchParams();
  if (f.status.length) q.set("status", f.status.join(","));
  if (f.vmId) q.set("vmId", f.vmId);
  if (f.hostId) q.set("hostId", f.hostId);
  // Days are UTC days (as the server renders them): from the start of `from` to the end of `to`.
  if (f.from) q.set("from", `${f.from}T00:00:00.000Z`);
  if (f.to) q.set("to", `${f.to}T23:59:59.999Z`);
  return q;
}

function matches(s: SnapshotJson, f: SnapshotFilters): boolean {
  if (f.status.length && !f.status.includes(s.status)) return false;
  if (f.vmId && s.vmId !== f.vmId) return false;
  if (f.hostId && s.hostId !== f.hostId) return false;
  const q = queryOf(f);
  if (q.get("from") && s.createdAt < q.get("from")!) return false;
  if (q.get("to") && s.createdAt > q.get("to")!) return false;
  return true;
}

export function SnapshotsView({
  initial,
  initialFilters,
  options,
}: {
  initial: SnapshotListJson;
  initialFilters: SnapshotFilters;
  options: SnapshotFilterOptions;
}) {
  const [filters, setFilters] = useState(initialFilters);
  const [rows, setRows] = useState(initial.snapshots);
  const [cursor, setCursor] = useState(initial.nextCursor);
  const [error, setError] = useState<string | null>(null);
  /** The snapshot whose rollback confirmation is open (operators only: Restore and Verify are theirs). */
  const [restoring, setRestoring] = useState<string | null>(null);
  const router = useRouter();
  const canRestore = useCan("operator");
  const filtersRef = useRef(filters);
  const first = useRef(true);
  useEffect(() => {
    filtersRef.current = filters;
  }, [filters]);

  const load = useCallback(async (f: SnapshotFilters, after: string | null) => {
    const q = queryOf(f);
    q.set("limit", String(PAGE));
    if (after) q.set("cursor", after);
    try {
      const page = await apiFetch(`/api/snapshots?${q}`, { schema: snapshotListJsonSchema });
      setRows((old) =>
        after ? [...old, ...page.snapshots.filter((s) => !old.some((o) => o.id === s.id))] : page.snapshots,
      );
      setCursor(page.nextCursor);
      setError(null);
    } catch (err) {
      setError(`Could not load snapshots: ${messageOf(err)}`);
    }
  }, []);

  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    const url = new URL(window.location.href);
    url.search = new URLSearchParams(
      Object.entries({
        status: filters.status.join(","),
        vmId: filters.vmId,
        hostId: filters.hostId,
        from: filters.from,
        to: filters.to,
      }).filter(([, v]) => v),
    ).toString();
    window.history.replaceState(null, "", url);
    void load(filters, null);
  }, [filters, load]);

  useSnapshotUpdates(
    "fleet",
    (s) =>
      setRows((old) => {
        if (!s.deletedAt && matches(s, filtersRef.current)) return withUpdate(old, s);
        return old.some((r) => r.id === s.id) ? old.filter((r) => r.id !== s.id) : old;
      }),
    { onReconnect: () => void load(filtersRef.current, null) },
  );

  const totals = useMemo(() => {
    const done = rows.filter((r) => r.status === "completed");
    return {
      count: rows.length,
      failed: rows.filter((r) => r.status === "failed").length,
      bytes: done.reduce((n, r) => n + (r.sizeBytes ?? 0), 0),
    };
  }, [rows]);

  const toggleStatus = (st: SnapshotStatusJson) =>
    setFilters((f) => ({ ...f, status: f.status.includes(st) ? f.status.filter((x) => x !== st) : [...f.status, st] }));
  const setFilter = (key: "vmId" | "hostId" | "from" | "to") => (value: string) =>
    setFilters((f) => ({ ...f, [key]: value }));

  return (
    <div className="space-y-4">
      {restoring && (
        <RestoreDialog
          snapshotId={restoring}
          onClose={() => setRestoring(null)}
          // The rollback's progress streams on the VM's page (its Restore panel).
          onStarted={() => {
            const vmId = rows.find((r) => r.id === restoring)?.vmId;
            if (vmId) router.push(`/vms/${vmId}`);
          }}
        />
      )}
      <div className="flex flex-wrap items-end gap-3 rounded-lg border border-slate-200 bg-white p-3 dark:border-slate-800 dark:bg-slate-900">
        <fieldset className="min-w-0">
          <legend className="mb-1 text-xs font-medium text-slate-600 dark:text-slate-400">Status</legend>
          <div className="flex flex-wrap gap-1">
            {SNAPSHOT_STATUSES.map((st) => (
              <button
                key={st}
                type="button"
                aria-pressed={filters.status.includes(st)}
                onClick={() => toggleStatus(st)}
                className={`rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset ${
                  filters.status.includes(st)
                    ? "bg-sky-600 text-white ring-sky-600"
                    : "text-slate-700 ring-slate-300 hover:bg-slate-50 dark:text-slate-300 dark:ring-slate-700 dark:hover:bg-slate-800"
                }`}
              >
                {st}
              </button>
            ))}
          </div>
        </fieldset>
        <FilterSelect
          label="VM"
          value={filters.vmId}
          onChange={setFilter("vmId")}
          anyLabel="all VMs"
          options={options.vms.map((v) => ({ id: v.id, name: `${v.name} (${v.hostName})` }))}
        />
        <FilterSelect
          label="Host"
          value={filters.hostId}
          onChange={setFilter("hostId")}
          anyLabel="all hosts"
          options={options.hosts}
        />
        <FilterDate label="From (UTC)" value={filters.from} onChange={setFilter("from")} />
        <FilterDate label="To (UTC)" value={filters.to} onChange={setFilter("to")} />
        <div className="ml-auto flex items-center gap-3 text-xs text-slate-500 dark:text-slate-400">
          <span>
            {totals.count} shown · {totals.failed} failed · {formatBytes(totals.bytes)} kept
          </span>
          <RealtimeIndicator />
        </div>
      </div>

      <ErrorText error={error} />

      <PauseChart snapshots={rows} />

      {rows.length === 0 ? (
        <p className="rounded-xl border border-dashed border-slate-300 bg-white px-6 py-12 text-center text-sm text-slate-600 dark:border-slate-700 dark:bg-slate-900 dark:text-slate-400">
          No snapshots match these filters. Open a running VM from the{" "}
          <Link href="/fleet" className="text-sky-700 hover:underline dark:text-sky-400">
            Fleet
          </Link>{" "}
          page and click Snapshot now.
        </p>
      ) : (
        <DataTable
          columns={[
            { label: "Taken" },
            { label: "VM" },
            { label: "Mode" },
            { label: "Status" },
            { label: "Guest pause", align: "right" },
            { label: "Duration", align: "right" },
            { label: "Throughput", align: "right" },
            { label: "Size", align: "right" },
            { label: "Note / reason" },
            ...(canRestore ? [{ label: "Restore" }] : []),
          ]}
        >
          {rows.map((s) => (
            <tr key={s.id} data-snapshot-id={s.id}>
              <td className="whitespace-nowrap px-3 py-1.5">
                <RelativeTime iso={s.createdAt} />
              </td>
              <VmNameCell vmId={s.vmId} vmName={s.vmName} hostName={s.hostName} />
              <SnapshotOutcomeCells s={s} showDeletion />
              <td className="px-3 py-1.5 text-right tabular-nums">{formatRate(s.throughputBytesPerSec)}</td>
              <td className="px-3 py-1.5 text-right tabular-nums">{formatBytes(s.sizeBytes)}</td>
              <td className="max-w-72 truncate px-3 py-1.5" title={s.error?.message ?? s.note ?? undefined}>
                {s.error ? (
                  <span className="text-red-700 dark:text-red-400">{s.error.message}</span>
                ) : (
                  <span className="text-slate-600 dark:text-slate-400">{s.note}</span>
                )}
              </td>
              {canRestore && (
                <td className="whitespace-nowrap px-3 py-1.5">
                  <SnapshotRestoreActions s={s} onRestore={setRestoring} />
                </td>
              )}
            </tr>
          ))}
        </DataTable>
      )}
      {cursor && <LoadMoreButton onClick={() => void load(filters, cursor)} />}
    </div>
  );
}

const input = "rounded-md border border-slate-300 bg-white px-2 py-1.5 text-sm dark:border-slate-700 dark:bg-slate-950";

function FilterLabel({ label, children }: { label: string; children: ReactNode }) {
  return (
    <label className="text-sm">
      <span className="mb-1 block text-xs font-medium text-slate-600 dark:text-slate-400">{label}</span>
      {children}
    </label>
  );
}

/** A filter picking one of `options` by id, or any (""). */
function FilterSelect({
  label,
  value,
  onChange,
  anyLabel,
  options,
}: {
  label: string;
  value: string;
  onChange: (value: string) => void;
  anyLabel: string;
  options: Array<{ id: string; name: string }>;
}) {
  return (
    <FilterLabel label={label}>
      <select value={value} onChange={(e) => onChange(e.target.value)} className={input}>
        <option value="">{anyLabel}</option>
        <NamedOptions items={options} />
      </select>
    </FilterLabel>
  );
}

function FilterDate({ label, value, onChange }: { label: string; value: string; onChange: (value: string) => void }) {
  return (
    <FilterLabel label={label}>
      <input type="date" value={value} onChange={(e) => onChange(e.target.value)} className={input} />
    </FilterLabel>
  );
}

"use client";
// The Fleet page's table of one page of VMs: sortable column headers, a row per VM (name linking to its
// page, a "no live snapshot" badge, host, state, tags that filter the list when clicked, memory, disks,
// last snapshot, next scheduled run) and, for operators, the selection checkboxes (the selection is the
// caller's: it survives filtering and paging). Rows are memoised: a live update re-renders one row.
import Link from "next/link";
import { memo } from "react";
import type { VmJson } from "@/lib/fleet/vm-json";
import type { VmSortKey } from "@/lib/validations/vm";
import { formatBytes } from "./format";
import { RelativeTime } from "./relative-time";
import { StateChip } from "./state-chip";
import type { FleetQuery } from "./use-fleet-query";

const COLUMNS: Array<{ key: string; label: string; sort?: VmSortKey; className?: string }> = [
  { key: "name", label: "Name", sort: "name" },
  { key: "host", label: "Host", sort: "host" },
  { key: "state", label: "State", sort: "state" },
  { key: "tags", label: "Tags" },
  { key: "memory", label: "Memory", sort: "memory", className: "text-right" },
  { key: "disks", label: "Disks", className: "text-right" },
  { key: "lastSnapshot", label: "Last snapshot", sort: "lastSnapshot" },
  { key: "next", label: "Next scheduled" },
];

export function VmTable({
  vms,
  query,
  loading,
  noHosts,
  selectable,
  selected,
  onSelect,
  onSort,
  onTag,
}: {
  vms: VmJson[];
  query: FleetQuery;
  loading: boolean;
  /** No host is registered: the empty table says how to add one. */
  noHosts: boolean;
  selectable: boolean;
  selected: ReadonlyMap<string, string>;
  /** Selects (or unselects) these VMs. */
  onSelect: (vms: Array<{ id: string; name: string }>, on: boolean) => void;
  onSort: (key: VmSortKey) => void;
  onTag: (tag: string) => void;
}) {
  const selectableVms = vms.filter((v) => v.state !== "gone");
  return (
    <div className="overflow-x-auto rounded-lg border border-slate-200 bg-white dark:border-slate-800 dark:bg-slate-900">
      <table className={`min-w-full text-sm transition-opacity ${loading ? "opacity-60" : ""}`} aria-busy={loading}>
        <thead className="border-b border-slate-200 bg-slate-50 text-left text-xs font-medium uppercase tracking-wide text-slate-500 dark:border-slate-800 dark:bg-slate-900/60 dark:text-slate-400">
          <tr>
            {selectable && (
              <th scope="col" className="w-8 px-3 py-2">
                <input
                  type="checkbox"
                  aria-label="Select every VM on this page"
                  checked={selectableVms.length > 0 && selectableVms.every((v) => selected.has(v.id))}
                  onChange={(e) => onSelect(selectableVms, e.target.checked)}
                />
              </th>
            )}
            {COLUMNS.map((c) => {
              const sorted = c.sort && query.sort === c.sort;
              return (
                <th
                  key={c.key}
                  scope="col"
                  aria-sort={sorted ? (query.dir === "asc" ? "ascending" : "descending") : undefined}
                  className={`px-3 py-2 ${c.className ?? ""}`}
                >
                  {c.sort ? (
                    <button
                      type="button"
                      onClick={() => onSort(c.sort!)}
                      className="inline-flex items-center gap-1 uppercase hover:text-slate-900 dark:hover:text-white"
                    >
                      {c.label}
                      <span aria-hidden className={sorted ? "" : "opacity-0"}>
                        {query.dir === "asc" ? "▲" : "▼"}
                      </span>
                    </button>
                  ) : (
                    c.label
                  )}
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody className="divide-y divide-slate-100 dark:divide-slate-800">
          {vms.map((vm) => (
            <VmRow
              key={vm.id}
              vm={vm}
              selectable={selectable}
              selected={selected.has(vm.id)}
              onSelect={onSelect}
              onTag={onTag}
            />
          ))}
          {vms.length === 0 && (
            <tr>
              <td
                colSpan={COLUMNS.length + (selectable ? 1 : 0)}
                className="px-3 py-10 text-center text-slate-500 dark:text-slate-400"
              >
                {noHosts ? (
                  <>
                    No hosts yet.{" "}
                    <Link href="/settings" className="font-medium text-sky-700 hover:underline dark:text-sky-400">
                      Add a host
                    </Link>{" "}
                    to discover its VMs.
                  </>
                ) : query.q || query.state.length || query.hostId || query.tag ? (
                  "No VM matches these filters."
                ) : (
                  "No VMs discovered yet."
                )}
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}

const VmRow = memo(function VmRow({
  vm,
  selectable,
  selected,
  onSelect,
  onTag,
}: {
  vm: VmJson;
  selectable: boolean;
  selected: boolean;
  onSelect: (vms: Array<{ id: string; name: string }>, on: boolean) => void;
  onTag: (tag: string) => void;
}) {
  const diskBytes = vm.disks.reduce((sum, d) => sum + (d.sizeBytes ?? 0), 0);
  return (
    <tr
      data-testid="vm-row"
      data-vm-name={vm.name}
      className={`hover:bg-slate-50 dark:hover:bg-slate-800/50 ${vm.state === "gone" ? "text-slate-400 dark:text-slate-500" : ""}`}
    >
      {selectable && (
        <td className="px-3 py-1">
          <input
            type="checkbox"
            aria-label={`Select ${vm.name}`}
            checked={selected}
            disabled={vm.state === "gone"}
            onChange={() => onSelect([vm], !selected)}
          />
        </td>
      )}
      <td className="max-w-64 truncate px-3 py-1">
        {/* No viewport prefetch: 200 visible rows would mean 200 route prefetches per page. */}
        <Link
          href={`/vms/${vm.id}`}
          prefetch={false}
          className="font-medium text-sky-700 hover:underline dark:text-sky-400"
        >
          {vm.name}
        </Link>
        {!vm.bgSnapshotSupported && vm.state !== "gone" && vm.qemuVersion && (
          <span
            title={vm.bgSnapshotBlocker ?? undefined}
            className="ml-2 rounded bg-amber-100 px-1 text-[10px] font-semibold uppercase text-amber-800 dark:bg-amber-900 dark:text-amber-200"
          >
            no live snapshot
          </span>
        )}
      </td>
      <td className="px-3 py-1 text-slate-600 dark:text-slate-400">{vm.hostName}</td>
      <td className="px-3 py-1">
        <StateChip state={vm.state} reason={vm.stateReason} />
      </td>
      <td className="px-3 py-1">
        <span className="flex flex-wrap gap-1">
          {vm.tags.map((t) => (
            <button
              key={t}
              type="button"
              title={`Show VMs tagged ${t}`}
              onClick={() => onTag(t)}
              className="rounded bg-slate-100 px-1.5 text-xs text-slate-700 hover:bg-sky-100 dark:bg-slate-800 dark:text-slate-300 dark:hover:bg-sky-900"
            >
              {t}
            </button>
          ))}
        </span>
      </td>
      <td className="px-3 py-1 text-right tabular-nums">{formatBytes(vm.memoryBytes)}</td>
      <td
        className="px-3 py-1 text-right tabular-nums"
        title={vm.disks.map((d) => `${d.node}: ${d.file}`).join("\n") || undefined}
      >
        {vm.disks.length ? `${vm.disks.length} · ${formatBytes(diskBytes)}` : "—"}
      </td>
      <td className="px-3 py-1">
        {vm.lastSnapshot ? (
          <span className="inline-flex items-center gap-1.5">
            <RelativeTime iso={vm.lastSnapshot.createdAt} />
            {vm.lastSnapshot.status !== "completed" && (
              <span className="text-xs text-slate-500">({vm.lastSnapshot.status})</span>
            )}
          </span>
        ) : (
          <span className="text-slate-400 dark:text-slate-500">never</span>
        )}
      </td>
      <td className="px-3 py-1">
        <RelativeTime iso={vm.nextScheduledAt ?? null} fallback="not scheduled" />
      </td>
    </tr>
  );
});

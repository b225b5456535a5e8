"use client";
// The Fleet page's live body: host cards, then the VM table with search, state, host and tag filters,
// sort and paging. The query, the URL and the page's reads are ./use-fleet-query.ts; live updates from
// the `fleet` topic and the hosts are ./use-live-vm-page.ts; the table is ./vm-table.tsx. Tags show on
// each row; clicking one filters the list by it. Operators select VMs with the checkboxes (the selection
// survives filtering and paging) and click "Snapshot now (N)" (./bulk-snapshot-bar.tsx): one job per VM,
// followed together on the batch's page.
import { useCallback, useMemo, useState } from "react";
import { useCan } from "@/components/auth/identity-provider";
import { RealtimeIndicator } from "@/components/realtime/realtime-indicator";
import { EmptyState } from "@/components/ui/empty-state";
import type { HostJson, VmListJson } from "@/lib/fleet/vm-json";
import { VM_STATES } from "@/lib/validations/vm";
import { BulkSnapshotBar } from "./bulk-snapshot-bar";
import { HostCards } from "./host-cards";
import { useFleetQuery, type FleetQuery } from "./use-fleet-query";
import { useLiveVmPage } from "./use-live-vm-page";
import { VmTable } from "./vm-table";
import { NamedOptions } from "@/components/ui/named-options";

const PAGE_SIZES = [25, 50, 100, 200];

export function FleetView({
  initialHosts,
  initialList,
  initialQuery,
}: {
  initialHosts: HostJson[];
  initialList: VmListJson;
  initialQuery: FleetQuery;
}) {
  const fleet = useFleetQuery(initialQuery, initialList);
  const { query, setQuery, list, tagDraft, filterByTag } = fleet;
  const hosts = useLiveVmPage({ initialHosts, ...fleet });
  const canSnapshot = useCan("operator");
  /** Selected VMs (id → name), kept across filters and pages. */
  const [selected, setSelected] = useState<Map<string, string>>(() => new Map());
  const select = useCallback((vms: Array<{ id: string; name: string }>, on: boolean) => {
    setSelected((old) => {
      const next = new Map(old);
      for (const v of vms) {
        if (on) next.set(v.id, v.name);
        else next.delete(v.id);
      }
      return next;
    });
  }, []);

  const totalAll = useMemo(() => Object.values(list.stateCounts).reduce((a, b) => a + b, 0), [list.stateCounts]);
  const first = list.total === 0 ? 0 : list.offset + 1;
  const last = Math.min(list.offset + list.vms.length, list.total);

  if (hosts.length === 0 && totalAll === 0) {
    return (
      <EmptyState title="No hosts yet" action={{ href: "/settings", label: "Add a host" }}>
        Register a hypervisor host in Settings → Hosts: a directory of QMP sockets on this machine, a remote host over
        SSH, or QMP-over-TLS endpoints. Its VMs appear here as soon as they are discovered.
      </EmptyState>
    );
  }

  return (
    <div className="space-y-6" onClickCapture={fleet.onClickCapture}>
      <HostCards hosts={hosts} onDiscovered={() => fleet.scheduleRefetch()} />

      <section aria-labelledby="vms-heading" className="space-y-3">
        <div className="flex flex-wrap items-center gap-3">
          <h2 id="vms-heading" className="text-base font-semibold">
            Virtual machines
          </h2>
          <RealtimeIndicator />
          <div className="ml-auto flex flex-wrap items-center gap-2">
            <input
              type="search"
              aria-label="Search VMs"
              placeholder="Search name, UUID, socket, tag…"
              value={fleet.search}
              onChange={(e) => fleet.setSearch(e.target.value)}
              className="w-64 rounded-md border border-slate-300 bg-white px-3 py-1.5 text-sm shadow-sm placeholder:text-slate-400 focus:border-sky-500 focus:outline-none focus:ring-1 focus:ring-sky-500 dark:border-slate-700 dark:bg-slate-900"
            />
            <input
              type="search"
              aria-label="Filter by tag"
              placeholder="Tag"
              value={tagDraft}
              onChange={(e) => fleet.setTagDraft(e.target.value)}
              onBlur={() => filterByTag(tagDraft.trim())}
              onKeyDown={(e) => {
                if (e.key === "Enter") filterByTag(tagDraft.trim());
              }}
              className="w-32 rounded-md border border-slate-300 bg-white px-3 py-1.5 text-sm shadow-sm placeholder:text-slate-400 focus:border-sky-500 focus:outline-none focus:ring-1 focus:ring-sky-500 dark:border-slate-700 dark:bg-slate-900"
            />
            <select
              aria-label="Filter by host"
              value={query.hostId}
              onChange={(e) => setQuery((q) => ({ ...q, hostId: e.target.value, offset: 0 }))}
              className="rounded-md border border-slate-300 bg-white px-2 py-1.5 text-sm dark:border-slate-700 dark:bg-slate-900"
            >
              <option value="">All hosts</option>
              <NamedOptions items={hosts} />
            </select>
          </div>
        </div>

        <div role="group" aria-label="Filter by state" className="flex flex-wrap gap-1.5">
          <FilterChip
            active={query.state.length === 0}
            onClick={() => setQuery((q) => ({ ...q, state: [], offset: 0 }))}
            label="All"
            count={totalAll}
          />
          {VM_STATES.map((s) => (
            <FilterChip
              key={s}
              active={query.state.includes(s)}
              onClick={() => fleet.toggleState(s)}
              label={s}
              count={list.stateCounts[s] ?? 0}
            />
          ))}
        </div>

        {fleet.error && (
          <p
            role="alert"
            className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-800 dark:bg-red-950 dark:text-red-300"
          >
            Could not load VMs: {fleet.error}
          </p>
        )}

        {canSnapshot && <BulkSnapshotBar selected={selected} onClear={() => setSelected(new Map())} />}

        <VmTable
          vms={list.vms}
          query={query}
          loading={fleet.loading}
          noHosts={hosts.length === 0}
          selectable={canSnapshot}
          selected={selected}
          onSelect={select}
          onSort={fleet.setSort}
          onTag={filterByTag}
        />

        <nav
          aria-label="Pages"
          className="flex flex-wrap items-center gap-3 text-sm text-slate-600 dark:text-slate-400"
        >
          <span data-testid="vm-range">
            {first}–{last} of {list.total.toLocaleString("en")}
          </span>
          <label className="ml-auto flex items-center gap-1.5">
            Rows
            <select
              value={query.limit}
              onChange={(e) => setQuery((q) => ({ ...q, limit: Number(e.target.value), offset: 0 }))}
              className="rounded-md border border-slate-300 bg-white px-1.5 py-1 dark:border-slate-700 dark:bg-slate-900"
            >
              {PAGE_SIZES.map((n) => (
                <option key={n} value={n}>
                  {n}
                </option>
              ))}
            </select>
          </label>
          <button
            type="button"
            disabled={query.offset === 0}
            onClick={() => setQuery((q) => ({ ...q, offset: Math.max(0, q.offset - q.limit) }))}
            className="rounded-md border border-slate-300 px-3 py-1 disabled:opacity-40 dark:border-slate-700"
          >
            Previous
          </button>
          <button
            type="button"
            disabled={last >= list.total}
            onClick={() => setQuery((q) => ({ ...q, offset: q.offset + q.limit }))}
            className="rounded-md border border-slate-300 px-3 py-1 disabled:opacity-40 dark:border-slate-700"
          >
            Next
          </button>
        </nav>
      </section>
    </div>
  );
}

function FilterChip({
  active,
  onClick,
  label,
  count,
}: {
  active: boolean;
  onClick: () => void;
  label: string;
  count: number;
}) {
  return (
    <button
      type="button"
      aria-pressed={active}
      onClick={onClick}
      className={`rounded-full px-2.5 py-1 text-xs font-medium ring-1 ring-inset transition-colors ${
        active
          ? "bg-slate-900 text-white ring-slate-900 dark:bg-slate-100 dark:text-slate-900 dark:ring-slate-100"
          : "bg-white text-slate-700 ring-slate-300 hover:bg-slate-100 dark:bg-slate-900 dark:text-slate-300 dark:ring-slate-700 dark:hover:bg-slate-800"
      }`}
    >
      {label} <span className="tabular-nums opacity-70">{count.toLocaleString("en")}</span>
    </button>
  );
}

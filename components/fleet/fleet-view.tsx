"use client";
// The Fleet page's live body: host cards, then the VM table with search, state and host filters, sort
// and paging. Filtering, sorting and paging are done by GET /api/vms (in PostgreSQL), so the browser
// only ever renders one page: 1,000 or 10,000 VMs cost the same here. The query lives in the URL
// (history.replaceState: no server round trip per keystroke) so a view can be bookmarked or shared.
// Live: `fleet` events update rows on the page in place; events about VMs not on the page (new VMs,
// state moves across a filter, `fleet.refresh` after a large discovery) trigger a throttled background
// re-read, as does a WebSocket reconnect.
// Tags show on each row; clicking one filters the list by it. Operators select VMs with the checkboxes
// (the selection survives filtering and paging) and click "Snapshot now (N)": one job per VM through
// POST /api/snapshots/bulk, followed together on the batch's page.
import Link from "next/link";
import { useRouter } from "next/navigation";
import { memo, useCallback, useEffect, useMemo, useRef, useState } from "react";
import { useCan } from "@/components/auth/identity-provider";
import { useTopic } from "@/components/realtime/realtime-provider";
import { RealtimeIndicator } from "@/components/realtime/realtime-indicator";
import { EmptyState } from "@/components/ui/empty-state";
import {
  FLEET_EVENTS,
  hostJsonSchema,
  hostRemovedPayloadSchema,
  vmJsonSchema,
  vmListJsonSchema,
  type HostJson,
  type VmJson,
  type VmListJson,
} from "@/lib/fleet/vm-json";
import { bulkSnapshotResultJsonSchema, type BatchRefusalJson } from "@/lib/snapshots/batch-json";
import { SNAPSHOT_MODES, type SnapshotModeName } from "@/lib/validations/snapshot";
import { VM_STATES, type VmSortKey, type VmStateName } from "@/lib/validations/vm";
import { formatBytes } from "./format";
import { HostCards } from "./host-cards";
import { RelativeTime } from "./relative-time";
import { StateChip } from "./state-chip";

export interface FleetQuery {
  q: string;
  state: VmStateName[];
  hostId: string;
  /** VMs carrying exactly this tag ("" for any). */
  tag: string;
  sort: VmSortKey;
  dir: "asc" | "desc";
  offset: number;
  limit: number;
}

const PAGE_SIZES = [25, 50, 100, 200];
const REFETCH_THROTTLE_MS = 800;
const SEARCH_DEBOUNCE_MS = 200;

export function queryToParams(q: FleetQuery): URLSearchParams {
  const p = new URLSearchParams();
  if (q.q) p.set("q", q.q);
  if (q.state.length) p.set("state", q.state.join(","));
  if (q.hostId) p.set("hostId", q.hostId);
  if (q.tag) p.set("tag", q.tag);
  if (q.sort !== "name") p.set("sort", q.sort);
  if (q.dir !== "asc") p.set("dir", q.dir);
  if (q.offset) p.set("offset", String(q.offset));
  if (q.limit !== 50) p.set("limit", String(q.limit));
  return p;
}

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

export function FleetView({
  initialHosts,
  initialList,
  initialQuery,
}: {
  initialHosts: HostJson[];
  initialList: VmListJson;
  initialQuery: FleetQuery;
}) {
  const [hosts, setHosts] = useState(initialHosts);
  const [list, setList] = useState(initialList);
  const [query, setQuery] = useState(initialQuery);
  const [search, setSearch] = useState(initialQuery.q);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const abortRef = useRef<AbortController | null>(null);
  const refetchTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const firstRender = useRef(true);
  const canSnapshot = useCan("operator");
  /** Selected VMs (id → name), kept across filters and pages. */
  const [selected, setSelected] = useState<Map<string, string>>(() => new Map());
  const [tagDraft, setTagDraft] = useState(initialQuery.tag);
  const toggleSelected = useCallback((vm: { id: string; name: string }) => {
    setSelected((old) => {
      const next = new Map(old);
      if (next.has(vm.id)) next.delete(vm.id);
      else next.set(vm.id, vm.name);
      return next;
    });
  }, []);
  const filterByTag = useCallback((tag: string) => {
    setTagDraft(tag);
    setQuery((q) => ({ ...q, tag, offset: 0 }));
  }, []);

  /**
   * Reads a page. A user's change (filter, sort, page) shows as busy and supersedes any read in
   * flight; a background refresh (events, reconnect) is silent and yields to a user's read.
   */
  const load = useCallback(async (q: FleetQuery, background = false) => {
    if (background && abortRef.current) return;
    abortRef.current?.abort();
    const ctrl = new AbortController();
    abortRef.current = ctrl;
    if (!background) setLoading(true);
    try {
      const res = await fetch(`/api/vms?${queryToParams(q)}`, { signal: ctrl.signal, cache: "no-store" });
      const body: unknown = await res.json();
      if (!res.ok) throw new Error((body as { error?: string }).error ?? `HTTP ${res.status}`);
      setList(vmListJsonSchema.parse(body));
      setError(null);
    } catch (err) {
      if (ctrl.signal.aborted) return;
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      if (abortRef.current === ctrl) {
        abortRef.current = null;
        setLoading(false);
      }
    }
  }, []);

  const loadHosts = useCallback(async () => {
    try {
      const res = await fetch("/api/hosts", { cache: "no-store" });
      if (res.ok) setHosts(hostJsonSchema.array().parse(((await res.json()) as { hosts: unknown }).hosts));
    } catch {
      // The host cards keep their last known state; the next event or reconnect refreshes them.
    }
  }, []);

  // Set when the user follows a link out of the page: a search debounce firing after that must not
  // replaceState the old URL (Next's router would treat it as a navigation and drop the one in flight).
  const leaving = useRef(false);
  const onClickCapture = (e: React.MouseEvent) => {
    const plain = e.button === 0 && !e.metaKey && !e.ctrlKey && !e.shiftKey && !e.altKey;
    const link = (e.target as HTMLElement).closest("a[href]");
    if (plain && link && link.getAttribute("target") !== "_blank") leaving.current = true;
  };

  // Query changed: reflect it in the URL and read the page.
  useEffect(() => {
    if (firstRender.current) {
      firstRender.current = false;
      return;
    }
    if (leaving.current) return;
    const params = queryToParams(query).toString();
    window.history.replaceState(null, "", params ? `/fleet?${params}` : "/fleet");
    void load(query);
  }, [query, load]);

  // Debounced search box → query.
  useEffect(() => {
    if (search === query.q) return;
    const t = setTimeout(() => setQuery((q) => ({ ...q, q: search.trim(), offset: 0 })), SEARCH_DEBOUNCE_MS);
    return () => clearTimeout(t);
  }, [search, query.q]);

  const queryRef = useRef(query);
  const listRef = useRef(list);
  useEffect(() => {
    queryRef.current = query;
    listRef.current = list;
  });
  // Throttled, not debounced: a steady stream of events refreshes the page every REFETCH_THROTTLE_MS
  // instead of postponing the refresh for as long as the stream lasts.
  const scheduleRefetch = useCallback(() => {
    if (refetchTimer.current !== undefined) return;
    refetchTimer.current = setTimeout(() => {
      refetchTimer.current = undefined;
      void load(queryRef.current, true);
    }, REFETCH_THROTTLE_MS);
  }, [load]);
  useEffect(() => () => clearTimeout(refetchTimer.current), []);

  useTopic(
    "fleet",
    (name, payload) => {
      if (name === FLEET_EVENTS.vmState || name === FLEET_EVENTS.vmUpdated) {
        const parsed = vmJsonSchema.safeParse(payload);
        if (!parsed.success) return;
        const vm = parsed.data;
        if (!listRef.current.vms.some((r) => r.id === vm.id)) {
          scheduleRefetch();
          return;
        }
        setList((l) => {
          const i = l.vms.findIndex((r) => r.id === vm.id);
          if (i < 0) return l;
          const old = l.vms[i]!;
          const vms = l.vms.slice();
          vms[i] = { ...old, ...vm };
          const stateCounts = { ...l.stateCounts };
          if (old.state !== vm.state) {
            stateCounts[old.state] = Math.max(0, (stateCounts[old.state] ?? 1) - 1);
            stateCounts[vm.state] = (stateCounts[vm.state] ?? 0) + 1;
          }
          return { ...l, vms, stateCounts };
        });
      } else if (name === FLEET_EVENTS.hostUpdated) {
        const parsed = hostJsonSchema.safeParse(payload);
        if (!parsed.success) return;
        const host = parsed.data;
        setHosts((hs) => {
          const i = hs.findIndex((h) => h.id === host.id);
          if (i < 0) return [...hs, host].sort((a, b) => a.name.localeCompare(b.name));
          const next = hs.slice();
          next[i] = host;
          return next;
        });
      } else if (name === FLEET_EVENTS.fleetRefresh) {
        scheduleRefetch();
      } else if (name === FLEET_EVENTS.hostRemoved) {
        const parsed = hostRemovedPayloadSchema.safeParse(payload);
        if (!parsed.success) return;
        setHosts((hs) => hs.filter((h) => h.id !== parsed.data.id));
        scheduleRefetch();
      }
    },
    {
      onReconnect: () => {
        void loadHosts();
        void load(queryRef.current, true);
      },
    },
  );

  const setSort = (key: VmSortKey) =>
    setQuery((q) => ({ ...q, sort: key, dir: q.sort === key && q.dir === "asc" ? "desc" : "asc", offset: 0 }));
  const toggleState = (s: VmStateName) =>
    setQuery((q) => ({ ...q, state: q.state.includes(s) ? q.state.filter((x) => x !== s) : [...q.state, s], offset: 0 }));

  const totalAll = useMemo(() => Object.values(list.stateCounts).reduce((a, b) => a + b, 0), [list.stateCounts]);
  const first = list.total === 0 ? 0 : list.offset + 1;
  const last = Math.min(list.offset + list.vms.length, list.total);

  if (hosts.length === 0 && totalAll === 0) {
    return (
      <EmptyState title="No hosts yet" action={{ href: "/settings", label: "Add a host" }}>
        Register a hypervisor host in Settings → Hosts: a directory of QMP sockets on this machine, a remote host over SSH, or
        QMP-over-TLS endpoints. Its VMs appear here as soon as they are discovered.
      </EmptyState>
    );
  }

  return (
    <div className="space-y-6" onClickCapture={onClickCapture}>
      <HostCards hosts={hosts} onDiscovered={() => scheduleRefetch()} />

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
              value={search}
              onChange={(e) => setSearch(e.target.value)}
              className="w-64 rounded-md border border-slate-300 bg-white px-3 py-1.5 text-sm shadow-sm placeholder:text-slate-400 focus:border-sky-500 focus:outline-none focus:ring-1 focus:ring-sky-500 dark:border-slate-700 dark:bg-slate-900"
            />
            <input
              type="search"
              aria-label="Filter by tag"
              placeholder="Tag"
              value={tagDraft}
              onChange={(e) => setTagDraft(e.target.value)}
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
              {hosts.map((h) => (
                <option key={h.id} value={h.id}>
                  {h.name}
                </option>
              ))}
            </select>
          </div>
        </div>

        <div role="group" aria-label="Filter by state" className="flex flex-wrap gap-1.5">
          <FilterChip active={query.state.length === 0} onClick={() => setQuery((q) => ({ ...q, state: [], offset: 0 }))} label="All" count={totalAll} />
          {VM_STATES.map((s) => (
            <FilterChip key={s} active={query.state.includes(s)} onClick={() => toggleState(s)} label={s} count={list.stateCounts[s] ?? 0} />
          ))}
        </div>

        {error && (
          <p role="alert" className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-800 dark:bg-red-950 dark:text-red-300">
            Could not load VMs: {error}
          </p>
        )}

        {canSnapshot && <BulkSnapshotBar selected={selected} onClear={() => setSelected(new Map())} />}

        <div className="overflow-x-auto rounded-lg border border-slate-200 bg-white dark:border-slate-800 dark:bg-slate-900">
          <table className={`min-w-full text-sm transition-opacity ${loading ? "opacity-60" : ""}`} aria-busy={loading}>
            <thead className="border-b border-slate-200 bg-slate-50 text-left text-xs font-medium uppercase tracking-wide text-slate-500 dark:border-slate-800 dark:bg-slate-900/60 dark:text-slate-400">
              <tr>
                {canSnapshot && (
                  <th scope="col" className="w-8 px-3 py-2">
                    <input
                      type="checkbox"
                      aria-label="Select every VM on this page"
                      checked={list.vms.some((v) => v.state !== "gone") && list.vms.every((v) => v.state === "gone" || selected.has(v.id))}
                      onChange={(e) => {
                        const on = e.target.checked;
                        setSelected((old) => {
                          const next = new Map(old);
                          for (const v of list.vms) {
                            if (v.state === "gone") continue;
                            if (on) next.set(v.id, v.name);
                            else next.delete(v.id);
                          }
                          return next;
                        });
                      }}
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
                        <button type="button" onClick={() => setSort(c.sort!)} className="inline-flex items-center gap-1 uppercase hover:text-slate-900 dark:hover:text-white">
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
              {list.vms.map((vm) => (
                <VmRow key={vm.id} vm={vm} selectable={canSnapshot} selected={selected.has(vm.id)} onToggle={toggleSelected} onTag={filterByTag} />
              ))}
              {list.vms.length === 0 && (
                <tr>
                  <td colSpan={COLUMNS.length + (canSnapshot ? 1 : 0)} className="px-3 py-10 text-center text-slate-500 dark:text-slate-400">
                    {hosts.length === 0 ? (
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

        <nav aria-label="Pages" className="flex flex-wrap items-center gap-3 text-sm text-slate-600 dark:text-slate-400">
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

function FilterChip({ active, onClick, label, count }: { active: boolean; onClick: () => void; label: string; count: number }) {
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

/** Memoised: a live update of one VM re-renders one row, not the page. */
const VmRow = memo(function VmRow({
  vm,
  selectable,
  selected,
  onToggle,
  onTag,
}: {
  vm: VmJson;
  selectable: boolean;
  selected: boolean;
  onToggle: (vm: { id: string; name: string }) => void;
  onTag: (tag: string) => void;
}) {
  const diskBytes = vm.disks.reduce((sum, d) => sum + (d.sizeBytes ?? 0), 0);
  return (
    <tr data-testid="vm-row" data-vm-name={vm.name} className={`hover:bg-slate-50 dark:hover:bg-slate-800/50 ${vm.state === "gone" ? "text-slate-400 dark:text-slate-500" : ""}`}>
      {selectable && (
        <td className="px-3 py-1">
          <input type="checkbox" aria-label={`Select ${vm.name}`} checked={selected} disabled={vm.state === "gone"} onChange={() => onToggle(vm)} />
        </td>
      )}
      <td className="max-w-64 truncate px-3 py-1">
        {/* No viewport prefetch: 200 visible rows would mean 200 route prefetches per page. */}
        <Link href={`/vms/${vm.id}`} prefetch={false} className="font-medium text-sky-700 hover:underline dark:text-sky-400">
          {vm.name}
        </Link>
        {!vm.bgSnapshotSupported && vm.state !== "gone" && vm.qemuVersion && (
          <span title={vm.bgSnapshotBlocker ?? undefined} className="ml-2 rounded bg-amber-100 px-1 text-[10px] font-semibold uppercase text-amber-800 dark:bg-amber-900 dark:text-amber-200">
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
      <td className="px-3 py-1 text-right tabular-nums" title={vm.disks.map((d) => `${d.node}: ${d.file}`).join("\n") || undefined}>
        {vm.disks.length ? `${vm.disks.length} · ${formatBytes(diskBytes)}` : "—"}
      </td>
      <td className="px-3 py-1">
        {vm.lastSnapshot ? (
          <span className="inline-flex items-center gap-1.5">
            <RelativeTime iso={vm.lastSnapshot.createdAt} />
            {vm.lastSnapshot.status !== "completed" && <span className="text-xs text-slate-500">({vm.lastSnapshot.status})</span>}
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

/**
 * "Snapshot now (N)" for the selected VMs: one job per VM (POST /api/snapshots/bulk), each waiting for
 * its slot under the host and fleet limits; opens the batch's progress view. When no VM could be queued,
 * says why per VM here.
 */
function BulkSnapshotBar({ selected, onClear }: { selected: Map<string, string>; onClear: () => void }) {
  const router = useRouter();
  const [mode, setMode] = useState<SnapshotModeName>("live");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<{ message: string; refused: BatchRefusalJson[] } | null>(null);
  const n = selected.size;

  const submit = async () => {
    setBusy(true);
    setError(null);
    try {
      const res = await fetch("/api/snapshots/bulk", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ vmIds: [...selected.keys()], mode }),
      });
      const body: unknown = await res.json();
      if (!res.ok && res.status !== 207) {
        const e = body as { error?: string; details?: { refused?: BatchRefusalJson[] } };
        setError({ message: e.error ?? `the server answered ${res.status}`, refused: e.details?.refused ?? [] });
        return;
      }
      const result = bulkSnapshotResultJsonSchema.parse(body);
      onClear();
      router.push(`/snapshots/batches/${result.batch.id}`);
    } catch (err) {
      setError({ message: (err as Error).message, refused: [] });
    } finally {
      setBusy(false);
    }
  };

  if (n === 0 && !error) return null;
  return (
    <div role="region" aria-label="Selected VMs" className="space-y-2 rounded-lg border border-sky-200 bg-sky-50 p-3 text-sm dark:border-sky-900 dark:bg-sky-950">
      <div className="flex flex-wrap items-center gap-3">
        <span className="font-medium">{n} selected</span>
        <span className="max-w-96 truncate text-slate-600 dark:text-slate-400" title={[...selected.values()].join(", ")}>
          {[...selected.values()].join(", ")}
        </span>
        <label className="ml-auto flex items-center gap-1.5">
          Mode
          <select
            value={mode}
            onChange={(e) => setMode(e.target.value as SnapshotModeName)}
            className="rounded-md border border-slate-300 bg-white px-2 py-1 dark:border-slate-700 dark:bg-slate-900"
          >
            {SNAPSHOT_MODES.map((m) => (
              <option key={m} value={m}>
                {m}
              </option>
            ))}
          </select>
        </label>
        <button type="button" onClick={onClear} disabled={busy} className="rounded-md border border-slate-300 px-3 py-1 disabled:opacity-40 dark:border-slate-700">
          Clear
        </button>
        <button
          type="button"
          onClick={() => void submit()}
          disabled={busy || n === 0}
          className="rounded-md bg-sky-600 px-3 py-1 font-medium text-white hover:bg-sky-700 disabled:opacity-50"
        >
          {busy ? "Queueing…" : `Snapshot now (${n})`}
        </button>
      </div>
      {error && (
        <div role="alert" className="text-red-800 dark:text-red-300">
          <p>{error.refused.length ? "No snapshot was queued:" : `Could not queue the snapshots: ${error.message}`}</p>
          {error.refused.length > 0 && (
            <ul className="list-disc pl-5">
              {error.refused.map((r) => (
                <li key={r.vmId}>
                  {r.vmName ?? r.vmId}: {r.reason}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
    </div>
  );
}

"use client";
// The Fleet page's query and the page of VMs it reads. Filtering, sorting and paging are done by
// GET /api/vms (in PostgreSQL), so the browser only ever holds one page: 1,000 or 10,000 VMs cost the same
// here. The query lives in the URL (history.replaceState: no server round trip per keystroke) so a view
// can be bookmarked or shared; the search box is debounced, the tag box applies on Enter or blur.
// A user's change (filter, sort, page) shows as busy and supersedes any read in flight; a background
// refresh (scheduleRefetch, reload: events, reconnects) is silent, yields to a user's read, and is
// throttled, not debounced: a steady stream of events refreshes the page every REFETCH_THROTTLE_MS
// instead of postponing the refresh for as long as the stream lasts.
import { useCallback, useEffect, useRef, useState } from "react";
import { vmListJsonSchema, type VmListJson } from "@/lib/fleet/vm-json";
import { apiFetch, messageOf } from "@/lib/http/api-fetch";
import type { VmSortKey, VmStateName } from "@/lib/validations/vm";

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

export function useFleetQuery(initialQuery: FleetQuery, initialList: VmListJson) {
  const [list, setList] = useState(initialList);
  const [query, setQuery] = useState(initialQuery);
  const [search, setSearch] = useState(initialQuery.q);
  const [tagDraft, setTagDraft] = useState(initialQuery.tag);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const abortRef = useRef<AbortController | null>(null);
  const refetchTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const firstRender = useRef(true);

  const filterByTag = useCallback((tag: string) => {
    setTagDraft(tag);
    setQuery((q) => ({ ...q, tag, offset: 0 }));
  }, []);

  const load = useCallback(async (q: FleetQuery, background = false) => {
    if (background && abortRef.current) return;
    abortRef.current?.abort();
    const ctrl = new AbortController();
    abortRef.current = ctrl;
    if (!background) setLoading(true);
    try {
      setList(await apiFetch(`/api/vms?${queryToParams(q)}`, { signal: ctrl.signal, schema: vmListJsonSchema }));
      setError(null);
    } catch (err) {
      if (ctrl.signal.aborted) return;
      setError(messageOf(err));
    } finally {
      if (abortRef.current === ctrl) {
        abortRef.current = null;
        setLoading(false);
      }
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
  useEffect(() => {
    queryRef.current = query;
  });
  /** Re-reads the current page in the background (after a reconnect). */
  const reload = useCallback(() => void load(queryRef.current, true), [load]);
  const scheduleRefetch = useCallback(() => {
    if (refetchTimer.current !== undefined) return;
    refetchTimer.current = setTimeout(() => {
      refetchTimer.current = undefined;
      void load(queryRef.current, true);
    }, REFETCH_THROTTLE_MS);
  }, [load]);
  useEffect(() => () => clearTimeout(refetchTimer.current), []);

  const setSort = (key: VmSortKey) =>
    setQuery((q) => ({ ...q, sort: key, dir: q.sort === key && q.dir === "asc" ? "desc" : "asc", offset: 0 }));
  const toggleState = (s: VmStateName) =>
    setQuery((q) => ({
      ...q,
      state: q.state.includes(s) ? q.state.filter((x) => x !== s) : [...q.state, s],
      offset: 0,
    }));

  return {
    query,
    setQuery,
    list,
    setList,
    loading,
    error,
    search,
    setSearch,
    tagDraft,
    setTagDraft,
    filterByTag,
    setSort,
    toggleState,
    reload,
    scheduleRefetch,
    onClickCapture,
  };
}

"use client";
// Keeps the Fleet page live from the `fleet` topic: a VM on the page is updated in place (with the state
// counts of the filter chips); an event about a VM not on the page (a new VM, a state move across a
// filter) or `fleet.refresh` after a large discovery asks for a throttled background re-read; hosts are
// added, updated and removed as their events come. A WebSocket reconnect re-reads the hosts and the page,
// since events sent meanwhile are not replayed. Owns the hosts' state; the page's rows belong to
// useFleetQuery, which hands in its setter.
import { useCallback, useEffect, useRef, useState, type Dispatch, type SetStateAction } from "react";
import { z } from "zod";
import { useTopic } from "@/components/realtime/realtime-provider";
import {
  FLEET_EVENTS,
  hostJsonSchema,
  hostRemovedPayloadSchema,
  vmJsonSchema,
  type HostJson,
  type VmListJson,
} from "@/lib/fleet/vm-json";
import { apiFetch } from "@/lib/http/api-fetch";

const hostsAnswerSchema = z.object({ hosts: hostJsonSchema.array() });

export function useLiveVmPage({
  initialHosts,
  list,
  setList,
  scheduleRefetch,
  reload,
}: {
  initialHosts: HostJson[];
  list: VmListJson;
  setList: Dispatch<SetStateAction<VmListJson>>;
  scheduleRefetch: () => void;
  reload: () => void;
}): HostJson[] {
  const [hosts, setHosts] = useState(initialHosts);
  const listRef = useRef(list);
  useEffect(() => {
    listRef.current = list;
  });

  const loadHosts = useCallback(async () => {
    try {
      setHosts((await apiFetch("/api/hosts", { schema: hostsAnswerSchema })).hosts);
    } catch {
      // The host cards keep their last known state; the next event or reconnect refreshes them.
    }
  }, []);

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
        reload();
      },
    },
  );

  return hosts;
}

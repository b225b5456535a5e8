// A host as the fleet sees it: the one reader of a host's wire shape with its VM counts (REST answers
// and events alike) and the one publisher of host events on the `fleet` topic — after an add or an edit
// (hosts.ts), after every discovery run (discovery.ts), and on removal.
// Invariant: what is published is the row as stored when publishing, never a caller's copy, so an
// event never carries a state older than the one a tab reloading at that moment would read.
import { db } from "../db/client";
import { FLEET_TOPIC } from "../realtime/messages";
import { publish } from "../realtime/publish";
import { toHostJson } from "./serialize";
import { FLEET_EVENTS, type HostJson } from "./vm-json";

/** VM counts by state, per host (every host when `hostIds` is not given). */
export async function vmCountsByHost(hostIds?: string[]): Promise<Map<string, Record<string, number>>> {
  const rows = await db().vm.groupBy({
    by: ["hostId", "state"],
    where: hostIds ? { hostId: { in: hostIds } } : undefined,
    _count: { _all: true },
  });
  const out = new Map<string, Record<string, number>>();
  for (const r of rows) {
    const counts = out.get(r.hostId) ?? {};
    counts[r.state] = r._count._all;
    out.set(r.hostId, counts);
  }
  return out;
}

/** The host's wire shape with its VM counts; null when there is no such host. */
export async function findHostJson(id: string): Promise<HostJson | null> {
  const host = await db().host.findUnique({ where: { id } });
  if (!host) return null;
  const counts = await vmCountsByHost([id]);
  return toHostJson(host, counts.get(id) ?? {});
}

/**
 * Publishes the host as stored now (`host.updated`) and returns it; null, publishing nothing, when the
 * host is gone (removed meanwhile: its removal was published).
 */
export async function publishHost(id: string): Promise<HostJson | null> {
  const json = await findHostJson(id);
  if (json) await publish({ topic: FLEET_TOPIC, name: FLEET_EVENTS.hostUpdated, payload: json });
  return json;
}

export async function publishHostRemoved(id: string): Promise<void> {
  await publish({ topic: FLEET_TOPIC, name: FLEET_EVENTS.hostRemoved, payload: { id } });
}

// Turning what a person types into the dashboard's ids: a VM by id, by name, or as <host>/<name>; a
// snapshot by id, by the short id lists print (a unique prefix among the newest snapshots), or as
// <vm>@latest (the VM's newest completed snapshot); a host or schedule by id or name. Invariant: an
// ambiguous name never picks one — it is a usage error (exit 2) listing the candidates; a name that
// matches nothing is a refusal (exit 3), like the dashboard's 404 for an unknown id.
import type { HostJson, VmJson, VmListJson } from "../fleet/vm-json";
import type { ScheduleView } from "../scheduler/service";
import type { SnapshotJson, SnapshotListJson } from "../snapshots/snapshot-json";
import { CliError, EXIT } from "./exit-codes";
import { shortId } from "./format";
import type { ApiClient } from "./http-client";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** How far back a short snapshot id is looked for (pages of 200, newest first). */
const SHORT_ID_SCAN_PAGES = 5;
const VM_PAGE = 500;

export function isUuid(text: string): boolean {
  return UUID.test(text);
}

function ambiguous(what: string, arg: string, candidates: string[], how: string): CliError {
  return new CliError(
    EXIT.usage,
    `"${arg}" matches ${candidates.length} ${what}s; ${how}:`,
    candidates.map((c) => `  ${c}`),
  );
}

export async function resolveHost(client: ApiClient, arg: string): Promise<HostJson> {
  const { hosts } = await client.get<{ hosts: HostJson[] }>("/api/hosts");
  const found = isUuid(arg) ? hosts.filter((h) => h.id === arg.toLowerCase()) : hosts.filter((h) => h.name === arg);
  if (found.length === 1) return found[0]!;
  if (!found.length) throw new CliError(EXIT.refused, `no host named "${arg}" (snapfleet hosts list shows them)`);
  throw ambiguous(
    "host",
    arg,
    found.map((h) => `${h.name}  ${h.id}`),
    "name one by id",
  );
}

export async function resolveVm(client: ApiClient, arg: string): Promise<VmJson> {
  if (isUuid(arg)) return client.get<VmJson>(`/api/vms/${arg}`);
  const slash = arg.lastIndexOf("/");
  const hostName = slash > 0 ? arg.slice(0, slash) : undefined;
  const name = slash > 0 ? arg.slice(slash + 1) : arg;
  if (!name) throw new CliError(EXIT.usage, `"${arg}" names no VM (expected a name, <host>/<name> or an id)`);
  const matches: VmJson[] = [];
  for (let offset = 0; ; offset += VM_PAGE) {
    const page = await client.get<VmListJson>("/api/vms", { q: name, limit: VM_PAGE, offset });
    matches.push(...page.vms.filter((v) => v.name === name && (hostName === undefined || v.hostName === hostName)));
    if (offset + page.vms.length >= page.total || !page.vms.length) break;
  }
  if (matches.length === 1) return matches[0]!;
  if (!matches.length) throw new CliError(EXIT.refused, `no VM named "${arg}" (snapfleet vms list shows them)`);
  throw ambiguous(
    "VM",
    arg,
    matches.map((v) => `${v.hostName}/${v.name}  ${v.id}  ${v.state}`),
    "name one as <host>/<name> or by id",
  );
}

export async function resolveSnapshotId(client: ApiClient, arg: string): Promise<string> {
  if (isUuid(arg)) return arg.toLowerCase();
  const latest = /^(.+)@latest$/.exec(arg);
  if (latest) {
    const vm = await resolveVm(client, latest[1]!);
    const { snapshots } = await client.get<SnapshotListJson>(`/api/vms/${vm.id}/snapshots`, {
      status: "completed",
      limit: 1,
    });
    if (!snapshots.length) throw new CliError(EXIT.refused, `VM ${vm.name} has no completed snapshot`);
    return snapshots[0]!.id;
  }
  if (!/^[0-9a-f][0-9a-f-]{3,35}$/i.test(arg)) {
    throw new CliError(
      EXIT.usage,
      `"${arg}" is not a snapshot: give its id (or the short id snapshots list prints), or <vm>@latest`,
    );
  }
  const prefix = arg.toLowerCase();
  const found: SnapshotJson[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < SHORT_ID_SCAN_PAGES; page++) {
    const list = await client.get<SnapshotListJson>("/api/snapshots", { limit: 200, cursor });
    found.push(...list.snapshots.filter((s) => s.id.startsWith(prefix)));
    if (!list.nextCursor) break;
    cursor = list.nextCursor;
  }
  if (found.length === 1) return found[0]!.id;
  if (!found.length) {
    throw new CliError(
      EXIT.refused,
      `no snapshot id starts with "${arg}" among the newest ${SHORT_ID_SCAN_PAGES * 200}: give the full id`,
    );
  }
  throw ambiguous(
    "snapshot",
    arg,
    found.map((s) => `${s.id}  ${s.vmName}  ${s.status}  ${s.createdAt}`),
    "give more of the id",
  );
}

export async function resolveSchedule(client: ApiClient, arg: string): Promise<ScheduleView> {
  const { schedules } = await client.get<{ schedules: ScheduleView[] }>("/api/schedules");
  const found = isUuid(arg)
    ? schedules.filter((s) => s.id === arg.toLowerCase())
    : schedules.filter((s) => s.name === arg || shortId(s.id) === arg);
  if (found.length === 1) return found[0]!;
  if (!found.length)
    throw new CliError(EXIT.refused, `no schedule named "${arg}" (snapfleet schedules list shows them)`);
  throw ambiguous(
    "schedule",
    arg,
    found.map((s) => `${s.name}  ${s.id}`),
    "name one by id",
  );
}

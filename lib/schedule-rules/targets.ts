// A schedule's targets and their resolution to VM ids, done at every firing so VMs added since the
// schedule was saved are picked up. Shapes (stored in Schedule.targets, read the same way by
// lib/fleet/next-scheduled.ts): `{ vmIds: [...] }`, `{ hostId }` (every VM on the host) or
// `{ selector: "glob" }` — `*` and `?`, case-insensitive, matched against the VM's name or any tag.
// Invariants: VMs marked gone are never targeted; explicit ids that no longer exist (or are gone) are
// reported, not silently dropped; the result is ordered so a stagger interleaves hosts. Pure, and below
// every domain like cron.ts (see there): the scheduler, lib/validations/schedule.ts and fleet share it.
import { z } from "zod";

export const scheduleTargetsSchema = z.union([
  z.strictObject({
    vmIds: z
      .array(z.uuid({ error: "vmIds must be VM UUIDs" }))
      .min(1, "pick at least one VM")
      .max(10_000),
  }),
  z.strictObject({ hostId: z.uuid({ error: "hostId must be a host's UUID" }) }),
  z.strictObject({
    selector: z
      .string()
      .trim()
      .min(1, "selector must not be empty")
      .max(200, "selector must be at most 200 characters"),
  }),
]);
export type ScheduleTargets = z.infer<typeof scheduleTargetsSchema>;

export interface TargetVm {
  id: string;
  name: string;
  hostId: string;
  tags: string[];
  state: string;
}

export interface ResolvedTargets {
  /** VMs to snapshot, hosts interleaved (host order by first appearance, then VM name). */
  vms: TargetVm[];
  /** Explicit VM ids that do not exist any more or are gone, with the reason. */
  missing: { vmId: string; reason: string }[];
}

/**
 * Whether `text` matches the glob (`*` any run, `?` one character, case-insensitive), without a regular
 * expression: greedy two-pointer matching that, on a mismatch, only ever retries from the most recent
 * `*` — O(|glob|·|text|) in the worst case, never exponential (a regex built from `*?*?*?…!` backtracks
 * exponentially on a long name and froze the event loop). Selectors are ≤ 200 characters, names short.
 */
export function globMatch(glob: string, text: string): boolean {
  const p = glob.toLowerCase();
  const t = text.toLowerCase();
  let pi = 0;
  let ti = 0;
  let starP = -1;
  let starT = 0;
  while (ti < t.length) {
    if (pi < p.length && (p[pi] === "?" || (p[pi] !== "*" && p[pi] === t[ti]))) {
      pi++;
      ti++;
    } else if (pi < p.length && p[pi] === "*") {
      starP = pi++;
      starT = ti;
    } else if (starP !== -1) {
      pi = starP + 1;
      ti = ++starT;
    } else {
      return false;
    }
  }
  while (pi < p.length && p[pi] === "*") pi++;
  return pi === p.length;
}

/** A compiled selector, with the same `test()` shape a RegExp had for callers. */
export function globMatcher(glob: string): { test(text: string): boolean } {
  return { test: (text: string) => globMatch(glob, text) };
}

export function describeTargets(targets: ScheduleTargets, names?: { hosts?: Map<string, string> }): string {
  if ("vmIds" in targets) return targets.vmIds.length === 1 ? "1 VM" : `${targets.vmIds.length} VMs`;
  if ("hostId" in targets) return `all VMs on ${names?.hosts?.get(targets.hostId) ?? "a host"}`;
  return `VMs whose name or tag matches "${targets.selector}"`;
}

/** The fleet at fire time, indexed once so resolving thousands of schedules stays cheap. */
export class TargetIndex {
  private readonly byId: Map<string, TargetVm>;
  private readonly byHost = new Map<string, TargetVm[]>();
  private readonly live: TargetVm[];

  constructor(vms: readonly TargetVm[]) {
    this.byId = new Map(vms.map((vm) => [vm.id, vm]));
    this.live = vms.filter((vm) => vm.state !== "gone");
    for (const vm of this.live) {
      const list = this.byHost.get(vm.hostId) ?? [];
      list.push(vm);
      this.byHost.set(vm.hostId, list);
    }
  }

  /** Pure: the VMs a schedule's targets select. */
  resolve(targets: ScheduleTargets): ResolvedTargets {
    let picked: TargetVm[];
    const missing: ResolvedTargets["missing"] = [];
    if ("vmIds" in targets) {
      picked = [];
      for (const id of new Set(targets.vmIds)) {
        const vm = this.byId.get(id);
        if (!vm) missing.push({ vmId: id, reason: "the VM no longer exists" });
        else if (vm.state === "gone") missing.push({ vmId: id, reason: `VM ${vm.name} is gone from its host` });
        else picked.push(vm);
      }
    } else if ("hostId" in targets) {
      picked = this.byHost.get(targets.hostId) ?? [];
    } else {
      const re = globMatcher(targets.selector);
      picked = this.live.filter((vm) => re.test(vm.name) || vm.tags.some((t) => re.test(t)));
    }
    return { vms: interleaveHosts(picked), missing };
  }
}

/** Resolves against a fleet once (callers with many schedules keep one TargetIndex instead). */
export function resolveTargets(targets: ScheduleTargets, vms: readonly TargetVm[]): ResolvedTargets {
  return new TargetIndex(vms).resolve(targets);
}

/** web-1@h1, db-1@h2, web-2@h1, db-2@h2…: spreading a stagger window over hosts evenly. */
function interleaveHosts(vms: TargetVm[]): TargetVm[] {
  if (vms.length <= 1) return vms;
  const byHost = new Map<string, TargetVm[]>();
  for (const vm of [...vms].sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id))) {
    const list = byHost.get(vm.hostId) ?? [];
    list.push(vm);
    byHost.set(vm.hostId, list);
  }
  const queues = [...byHost.values()];
  const out: TargetVm[] = [];
  for (let i = 0; out.length < vms.length; i++) for (const q of queues) if (i < q.length) out.push(q[i]!);
  return out;
}

/** Offsets (ms from the firing) spreading `count` VMs evenly over a stagger window. */
export function staggerOffsets(count: number, staggerSeconds: number): number[] {
  if (count <= 1 || staggerSeconds <= 0) return Array.from({ length: count }, () => 0);
  const step = (staggerSeconds * 1000) / count;
  return Array.from({ length: count }, (_, i) => Math.round(i * step));
}

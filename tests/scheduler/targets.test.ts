// Target resolution at fire time, pure: explicit VMs (missing and gone ones reported), a host's VMs,
// a glob on name or tag; gone VMs never targeted; hosts interleaved for the stagger.
import { describe, expect, it } from "vitest";
import {
  resolveTargets,
  scheduleTargetsSchema,
  staggerOffsets,
  TargetIndex,
  type TargetVm,
} from "../../lib/schedule-rules/targets";

const H1 = "00000000-0000-4000-8000-000000000001";
const H2 = "00000000-0000-4000-8000-000000000002";
const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;
const vm = (n: number, name: string, hostId: string, tags: string[] = [], state = "running"): TargetVm => ({
  id: id(n),
  name,
  hostId,
  tags,
  state,
});

const fleet = [
  vm(1, "web-1", H1, ["prod"]),
  vm(2, "web-2", H1, ["prod"]),
  vm(3, "db-1", H2, ["prod", "web-backend"]),
  vm(4, "web-3", H2),
  vm(5, "WEB-old", H1, [], "gone"),
];
const index = new TargetIndex(fleet);
const names = (t: unknown) => index.resolve(scheduleTargetsSchema.parse(t)).vms.map((v) => v.name);

describe("TargetIndex.resolve", () => {
  it("selects by glob on name or any tag, case-insensitive, never gone VMs, hosts interleaved", () => {
    // Sorted by name, then one VM per host in turn (hosts in order of their first VM).
    expect(names({ selector: "web-*" })).toEqual(["db-1", "web-1", "web-3", "web-2"]);
    expect(names({ selector: "PROD" })).toEqual(["db-1", "web-1", "web-2"]);
    expect(names({ selector: "db-?" })).toEqual(["db-1"]);
    expect(names({ selector: "nothing*" })).toEqual([]);
  });

  it("selects every live VM of a host", () => {
    expect(names({ hostId: H1 })).toEqual(["web-1", "web-2"]);
    expect(resolveTargets({ hostId: H2 }, fleet).vms.map((v) => v.name)).toEqual(["db-1", "web-3"]);
  });

  it("reports explicit VMs that are gone or no longer exist", () => {
    const r = index.resolve({ vmIds: [id(2), id(5), id(9), id(2)] });
    expect(r.vms.map((v) => v.name)).toEqual(["web-2"]);
    expect(r.missing).toEqual([
      { vmId: id(5), reason: "VM WEB-old is gone from its host" },
      { vmId: id(9), reason: "the VM no longer exists" },
    ]);
  });

  it("refuses target shapes it does not know", () => {
    expect(scheduleTargetsSchema.safeParse({ vmIds: [] }).success).toBe(false);
    expect(scheduleTargetsSchema.safeParse({ hostId: H1, selector: "x" }).success).toBe(false);
    expect(scheduleTargetsSchema.safeParse({ selector: "  " }).success).toBe(false);
  });

  it("spreads a stagger window evenly", () => {
    expect(staggerOffsets(4, 120)).toEqual([0, 30_000, 60_000, 90_000]);
    expect(staggerOffsets(3, 0)).toEqual([0, 0, 0]);
    expect(staggerOffsets(1, 600)).toEqual([0]);
  });
});

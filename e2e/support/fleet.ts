// The journeys' fleet set-up and read-outs, done the way an operator's tools would: a guest-kit VM whose
// discoverable monitor is in a temp socket directory, a local host added over that directory through the
// API (discovery then lists its VMs), a VM's page opened, the journey's hosts and VMs removed again, and
// the sequence of statuses a page's live panel shows while a job runs.
import { expect, type APIRequestContext, type Page } from "@playwright/test";
import { startGuestKitVm, type GuestKitOptions } from "../../tests/support/guest-kit";
import { disposeAllVms, type TestVm } from "../../tests/support/qemu";
import type { SocketDir } from "../../tests/fleet/support";

/** A guest-kit VM named `name` whose monitor Snapfleet discovers at `<sockets.dir>/<name>.sock`. */
export function startDiscoverableGuestKitVm(
  sockets: SocketDir,
  name: string,
  opts: Omit<GuestKitOptions, "name"> = {},
): Promise<TestVm> {
  return startGuestKitVm({
    ...opts,
    name,
    extraArgs: ["-qmp", `unix:${sockets.dir}/${name}.sock,server=on,wait=off`, ...(opts.extraArgs ?? [])],
  });
}

export interface AddedHost {
  hostId: string;
  /** The id of the VM discovery found on the host under that name (throws when there is none). */
  vmId(name: string): string;
}

/** POST /api/hosts for a local host over `sockets` (expects 201), and the VMs its discovery found. */
export async function addLocalHost(request: APIRequestContext, name: string, sockets: SocketDir): Promise<AddedHost> {
  const added = await request.post("/api/hosts", {
    data: { kind: "local", name, socketDir: sockets.dir, snapshotDir: sockets.snapshotDir },
  });
  expect(added.status(), await added.text()).toBe(201);
  const hostId = (await added.json()).host.id as string;
  const vms = (await (await request.get(`/api/vms?hostId=${hostId}`)).json()).vms as Array<{
    id: string;
    name: string;
  }>;
  return {
    hostId,
    vmId: (vmName) => {
      const vm = vms.find((v) => v.name === vmName);
      if (!vm) throw new Error(`discovery found no VM ${vmName} on ${name}: ${vms.map((v) => v.name).join(", ")}`);
      return vm.id;
    },
  };
}

/** Stops every VM the spec started and removes their socket directory (afterAll). */
export async function disposeVms(sockets: SocketDir | undefined): Promise<void> {
  await disposeAllVms();
  await sockets?.cleanup();
}

/** Opens the VM's page and waits for its heading (the VM's name). */
export async function openVmPage(page: Page, vmId: string, name: string): Promise<void> {
  await page.goto(`/vms/${vmId}`);
  await expect(page.getByRole("heading", { name, level: 1 })).toBeVisible();
}

/** Removes the hosts whose name `matches` (the request must be an admin's). */
export async function removeHosts(request: APIRequestContext, matches: (name: string) => boolean): Promise<void> {
  const hosts = ((await (await request.get("/api/hosts")).json()) as { hosts: Array<{ id: string; name: string }> })
    .hosts;
  for (const h of hosts.filter((x) => matches(x.name))) await request.delete(`/api/hosts/${h.id}`);
}

/**
 * Starts recording every `data-status` the element with `testId` shows, as the DOM changes: a phase may
 * last only a few hundred ms, too short to be caught by polling. One recording per page; its
 * `expectSetupActiveCompleted()` expects the statuses to have gone setup → active → completed, in order.
 */
export async function recordStatuses(
  page: Page,
  testId: string,
): Promise<{ expectSetupActiveCompleted(): Promise<void> }> {
  await page.evaluate((id) => {
    const seen: string[] = [];
    (window as unknown as { __statuses: string[] }).__statuses = seen;
    const record = () => {
      const s = document.querySelector(`[data-testid=${id}]`)?.getAttribute("data-status");
      if (s && seen.at(-1) !== s) seen.push(s);
    };
    new MutationObserver(record).observe(document.body, {
      subtree: true,
      childList: true,
      attributes: true,
      attributeFilter: ["data-status"],
    });
  }, testId);
  return {
    async expectSetupActiveCompleted() {
      const statuses = await page.evaluate(() => (window as unknown as { __statuses: string[] }).__statuses);
      const order = ["setup", "active", "completed"].map((s) => statuses.indexOf(s));
      expect(
        order.every((i) => i >= 0),
        `statuses seen: ${statuses.join(" → ")}`,
      ).toBe(true);
      expect([...order].sort((a, b) => a - b)).toEqual(order);
    },
  };
}

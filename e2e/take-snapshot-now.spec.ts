// Journey: an operator opens a running VM, picks "live", clicks Snapshot now and watches the job go
// setup → active → completed in the panel without a reload, then reads the guest pause, duration and
// size, and finds the snapshot in the VM's history and on the Snapshots page. Real QEMU: a guest-kit VM
// (it dirties RAM and writes its disk, so the stream lasts long enough to watch) whose discoverable
// monitor is in a temp socket directory; the host is seeded through POST /api/hosts.
import { expect, test } from "@playwright/test";
import type { TestVm } from "../tests/support/qemu";
import { makeSocketDir, type SocketDir } from "../tests/fleet/support";
import { addLocalHost, disposeVms, openVmPage, recordStatuses, startDiscoverableGuestKitVm } from "./support/fleet";

let sockets: SocketDir;
let vm: TestVm;

test.beforeAll(async () => {
  sockets = await makeSocketDir("sf-e2e-snap-");
  vm = await startDiscoverableGuestKitVm(sockets, "e2e-snap", { memoryMiB: 192, dirtyMiB: 64 });
});

test.afterAll(async () => {
  await disposeVms(sockets);
});

test("Snapshot now shows setup → active → completed live, then the result and the history", async ({
  page,
  request,
}) => {
  test.setTimeout(120_000);
  const vmId = (await addLocalHost(request, "e2e-snap-host", sockets)).vmId("e2e-snap");

  await openVmPage(page, vmId, "e2e-snap");
  await expect(page.getByTestId("realtime-status")).toHaveAttribute("data-status", "connected");
  // Before the click, the page says what pause to expect and why.
  await expect(page.getByTestId("pause-expectation")).toContainText(/Expected guest pause ≈ \d+ ms/);
  const navigations: string[] = [];
  page.on("framenavigated", (f) => navigations.push(f.url()));

  const statuses = await recordStatuses(page, "snapshot-status");

  const panel = page.getByRole("region", { name: "Snapshot", exact: true });
  await panel.getByLabel("Mode").selectOption("live");
  await panel.getByLabel("Note (optional)").fill("e2e snapshot");
  await panel.getByRole("button", { name: "Snapshot now" }).click();

  const status = page.getByTestId("snapshot-status");
  await expect(status).toHaveAttribute("data-status", "completed", { timeout: 90_000 });
  await statuses.expectSetupActiveCompleted();
  expect(navigations).toEqual([]);

  const steps = page.getByRole("list", { name: "Snapshot steps" }).getByRole("listitem");
  await expect(steps).toHaveCount(4);
  for (const step of await steps.all()) await expect(step).toHaveAttribute("data-state", "done");
  await expect(page.getByRole("progressbar", { name: "RAM saved" })).toHaveAttribute("aria-valuenow", "100");
  const result = page.getByTestId("snapshot-result");
  await expect(result.getByTestId("guest-pause")).toHaveText(/^\d+(\.\d+)? (ms|s)$/);
  await expect(result).toContainText("Duration");
  await expect(result).toContainText(/MiB/);

  const history = page.getByRole("region", { name: "Snapshot history" });
  await expect(
    history.getByRole("row").filter({ hasText: "e2e snapshot" }).getByTestId("snapshot-status-chip"),
  ).toHaveAttribute("data-status", "completed");

  // The guest kept running: its serial ticks advance after the snapshot.
  const from = vm.serialOutput().length;
  await vm.waitForSerial(/^tick [^\n]*\n/m, 20_000, from);

  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Snapshots" }).click();
  await expect(page.getByRole("heading", { name: "Snapshots", level: 1 })).toBeVisible();
  const row = page.getByRole("row").filter({ hasText: "e2e-snap" }).filter({ hasText: "e2e snapshot" });
  await expect(row.getByTestId("snapshot-status-chip")).toHaveAttribute("data-status", "completed");
  await expect(page.getByRole("region", { name: "Guest pause and duration per VM" })).toContainText("e2e-snap");
});

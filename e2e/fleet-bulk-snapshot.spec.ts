// Journey: before a patch window an operator tags a VM on its page (the tag survives a re-discovery
// of the host), finds it on Fleet by that tag, selects two running VMs, clicks "Snapshot now (2)" and
// watches both jobs reach completed in the batch's one progress view; then reads the host's storage
// page, which counts what the two snapshots wrote. Real QEMU: two guest-kit VMs whose discoverable
// monitors are in a temp socket directory; the host is added through POST /api/hosts.
import { expect, test } from "@playwright/test";
import { stateFile } from "./support/auth";
import { makeSocketDir, type SocketDir } from "../tests/fleet/support";
import { addLocalHost, disposeVms, openVmPage, removeHosts, startDiscoverableGuestKitVm } from "./support/fleet";

const HOST = "e2e-bulk-host";
let sockets: SocketDir;

test.beforeAll(async () => {
  sockets = await makeSocketDir("sf-e2e-bulk-");
  // One after the other: two TCG guests booting at once on a loaded 2-core box can miss the kernel's
  // early timer check ("IO-APIC + timer doesn't work").
  for (const name of ["e2e-bulk-a", "e2e-bulk-b"]) {
    await startDiscoverableGuestKitVm(sockets, name, { memoryMiB: 160, dirtyMiB: 16 });
  }
});

test.afterAll(async ({ playwright }, testInfo) => {
  // Remove the host this journey added, so later journeys start from a fleet without it.
  const api = await playwright.request.newContext({
    baseURL: testInfo.project.use.baseURL,
    storageState: stateFile("admin"),
  });
  await removeHosts(api, (name) => name === HOST);
  await api.dispose();
  await disposeVms(sockets);
});

test("tag a VM, select two VMs on Fleet, Snapshot now, and see both complete in one view", async ({
  page,
  request,
}) => {
  test.setTimeout(240_000);
  const host = await addLocalHost(request, HOST, sockets);
  const hostId = host.hostId;

  // 1. A tag set on the VM page.
  await openVmPage(page, host.vmId("e2e-bulk-a"), "e2e-bulk-a");
  await page.getByRole("button", { name: "Edit tags" }).click();
  const tagsInput = page.getByLabel("Tags (separated by spaces or commas)");
  await tagsInput.fill("Patch Window");
  await page.getByRole("button", { name: "Save tags" }).click();
  await expect(page.getByTestId("vm-tags-error")).toContainText(
    "is not a valid tag: a tag is 1–32 characters of lowercase letters",
  );
  await tagsInput.fill("patch-window, db:primary");
  await page.getByRole("button", { name: "Save tags" }).click();
  await expect(page.getByTestId("vm-tag")).toHaveText(["patch-window", "db:primary"]);

  // Discovery re-reads the VM from QEMU and leaves the tags alone.
  expect((await request.post(`/api/hosts/${hostId}/discover`)).ok()).toBe(true);
  await page.reload();
  await expect(page.getByTestId("vm-tag")).toHaveText(["patch-window", "db:primary"]);

  // 2. Fleet: the tag is shown and filters the list.
  await page.goto(`/fleet?hostId=${hostId}`);
  const rows = page.getByTestId("vm-row");
  await expect(rows).toHaveCount(2);
  await rows.filter({ hasText: "e2e-bulk-a" }).getByRole("button", { name: "patch-window" }).click();
  await expect(rows).toHaveCount(1);
  await expect(page).toHaveURL(/tag=patch-window/);
  await page.getByLabel("Filter by tag").fill("");
  await page.getByLabel("Filter by tag").press("Enter");
  await expect(rows).toHaveCount(2);

  // 3. Select both, Snapshot now.
  await page.getByLabel("Select e2e-bulk-a").check();
  await page.getByLabel("Select e2e-bulk-b").check();
  const bar = page.getByRole("region", { name: "Selected VMs" });
  await bar.getByLabel("Mode").selectOption("live");
  await bar.getByRole("button", { name: "Snapshot now (2)" }).click();

  // 4. One progress view with both jobs, live to completed.
  await expect(page).toHaveURL(/\/snapshots\/batches\/[0-9a-f-]{36}$/);
  await expect(page.getByRole("heading", { name: "Snapshot batch", level: 1 })).toBeVisible();
  await expect(page.getByTestId("realtime-status")).toHaveAttribute("data-status", "connected");
  const jobs = page.getByTestId("batch-job");
  await expect(jobs).toHaveCount(2);
  for (const name of ["e2e-bulk-a", "e2e-bulk-b"]) {
    await expect(jobs.filter({ hasText: name })).toHaveAttribute("data-status", "completed", { timeout: 180_000 });
    await expect(page.getByRole("progressbar", { name: `RAM saved of ${name}` })).toHaveAttribute(
      "aria-valuenow",
      "100",
    );
  }
  await expect(page.getByTestId("batch-summary")).toContainText("2 of 2 finished · 2 completed");
  await expect(page.getByTestId("batch-refused")).toHaveCount(0);

  // 5. The host's storage page counts what they wrote.
  await page.goto(`/hosts/${hostId}/storage`);
  await expect(page.getByRole("heading", { name: `Storage on ${HOST}`, level: 1 })).toBeVisible();
  await expect(page.getByTestId("storage-vm")).toHaveCount(2);
  await expect(page.getByTestId("storage-used")).toContainText(/MiB|GiB/);
  await expect(page.getByTestId("storage-free")).toContainText(/GiB|TiB/);
});

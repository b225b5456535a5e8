// Journey: an operator adds the local hypervisor in Settings → Hosts, sees its VMs on Fleet, opens a
// VM, and watches its state change live when someone pauses it from outside (QMP `stop` on the VM's
// second monitor) — no reload. Real QEMU VMs, started by this spec in a temp socket directory.
import { expect, test } from "@playwright/test";
import { stateFile } from "./support/auth";
import { disposeVms, removeHosts } from "./support/fleet";
import { connectQmp, type QmpClient } from "../lib/qmp";
import { makeSocketDir, startFleetVm, type FleetVm, type SocketDir } from "../tests/fleet/support";

let sockets: SocketDir;
let vms: FleetVm[];
let outside: QmpClient | undefined;

test.beforeAll(async () => {
  sockets = await makeSocketDir("sf-e2e-");
  vms = await Promise.all([
    startFleetVm(sockets.dir, "e2e-web"),
    startFleetVm(sockets.dir, "e2e-db", { memoryMiB: 160 }),
  ]);
});

test.afterAll(async ({ playwright }, testInfo) => {
  await outside?.close();
  // Remove the host this journey added, so later journeys start from a fleet without it.
  const api = await playwright.request.newContext({
    baseURL: testInfo.project.use.baseURL,
    storageState: stateFile("admin"),
  });
  await removeHosts(api, (name) => name === "e2e-local");
  await api.dispose();
  await disposeVms(sockets);
});

test("add a local host, see its VMs on Fleet, and see a VM paused from outside without reloading", async ({ page }) => {
  await page.goto("/settings");
  await expect(page.getByRole("heading", { name: "Settings", level: 1 })).toBeVisible();
  const addButton = page.getByRole("button", { name: "Add host" });
  if (await page.getByRole("form", { name: "Add a host" }).isHidden()) await addButton.click();
  const form = page.getByRole("form", { name: "Add a host" });
  await form.getByLabel("Local").check();
  await form.getByLabel("Name").fill("e2e-local");
  await form.getByLabel("Socket directory").fill(sockets.dir);
  await form.getByLabel("Snapshot directory").fill(sockets.snapshotDir);
  await form.getByRole("button", { name: "Add host" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Added e2e-local" })).toContainText("2 VMs found");
  await expect(page.getByTestId("host-row").filter({ hasText: "e2e-local" })).toContainText("healthy");

  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Fleet" }).click();
  await expect(page.getByTestId("host-card").filter({ hasText: "e2e-local" })).toBeVisible();
  await page.getByLabel("Search VMs").fill("e2e-");
  await expect(page).toHaveURL(/[?&]q=e2e-/);
  const rows = page.getByTestId("vm-row");
  await expect(rows.filter({ hasText: "e2e-web" })).toBeVisible();
  await expect(rows.filter({ hasText: "e2e-db" })).toContainText("160 MiB");
  await expect(rows.filter({ hasText: "e2e-web" }).getByTestId("vm-state")).toHaveAttribute("data-state", "running");

  await rows.filter({ hasText: "e2e-web" }).getByRole("link", { name: "e2e-web" }).click();
  await expect(page.getByRole("heading", { name: "e2e-web", level: 1 })).toBeVisible();
  const chip = page.locator("h1 + [data-testid=vm-state]");
  await expect(chip).toHaveAttribute("data-state", "running");
  await expect(page.getByTestId("realtime-status")).toHaveAttribute("data-status", "connected");
  await expect(page.getByRole("button", { name: "Snapshot now" })).toBeVisible();
  await expect(page.getByRole("heading", { name: "Disks" })).toBeVisible();
  const navigations: string[] = [];
  page.on("framenavigated", (f) => navigations.push(f.url()));

  outside = await connectQmp({ kind: "unix", path: vms[0]!.qmpSocket });
  const started = Date.now();
  await outside.stop();
  await expect(chip).toHaveAttribute("data-state", "paused", { timeout: 5_000 });
  const pausedAfter = Date.now() - started;
  await outside.cont();
  await expect(chip).toHaveAttribute("data-state", "running", { timeout: 5_000 });
  expect(navigations).toEqual([]); // no reload happened
  console.log(`VM page: state chip showed "paused" ${pausedAfter} ms after QMP stop was sent`);
});

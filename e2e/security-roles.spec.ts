// Journey: roles. A viewer opens a VM and sees no Snapshot now button, and the API refuses them a
// snapshot (403); an operator snapshots the same VM from its page; an admin adds a host in Settings.
// Anonymous visitors are sent to /login. Real QEMU: one fleet VM in a temp socket directory.
import { expect, test, type Browser } from "@playwright/test";
import { makeSocketDir, startFleetVm, type SocketDir } from "../tests/fleet/support";
import { E2E_USERS, stateFile, type E2eRole } from "./support/auth";
import { addLocalHost, disposeVms, openVmPage, removeHosts } from "./support/fleet";

let sockets: SocketDir;
let extra: SocketDir;
let vmId: string;

test.beforeAll(async ({ request }) => {
  sockets = await makeSocketDir("sf-e2e-roles-");
  extra = await makeSocketDir("sf-e2e-roles2-");
  await startFleetVm(sockets.dir, "e2e-roles-vm");
  vmId = (await addLocalHost(request, "e2e-roles-host", sockets)).vmId("e2e-roles-vm");
});

test.afterAll(async ({ request }) => {
  await removeHosts(request, (name) => name.startsWith("e2e-roles"));
  await disposeVms(sockets);
  await extra?.cleanup();
});

async function as(browser: Browser, role: E2eRole) {
  const context = await browser.newContext({ storageState: stateFile(role) });
  return { context, page: await context.newPage() };
}

test("anonymous visitors are sent to the login page, and log in there", async ({ browser }) => {
  const context = await browser.newContext({ storageState: { cookies: [], origins: [] } });
  const page = await context.newPage();
  await page.goto(`/vms/${vmId}`);
  await expect(page).toHaveURL(/\/login\?next=/);
  await page.getByLabel("User name").fill(E2E_USERS.viewer.name);
  await page.getByLabel("Password").fill(E2E_USERS.viewer.password);
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page).toHaveURL(new RegExp(`/vms/${vmId}$`));
  await expect(page.getByTestId("current-user")).toContainText("viewer");
  await context.close();
});

test("a viewer sees no Snapshot now button, and the API refuses them (403)", async ({ browser }) => {
  const { context, page } = await as(browser, "viewer");
  await openVmPage(page, vmId, "e2e-roles-vm");
  await expect(page.getByText("Your role can follow this VM's snapshots but not take them")).toBeVisible();
  await expect(page.getByRole("button", { name: "Snapshot now" })).toHaveCount(0);
  // The same request the button would send, from the viewer's page (same origin, their cookie).
  const status = await page.evaluate(async (id) => {
    const r = await fetch(`/api/vms/${id}/snapshots`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ mode: "live" }),
    });
    return r.status;
  }, vmId);
  expect(status).toBe(403);
  await context.close();
});

test("an operator takes a snapshot from the VM page", async ({ browser }) => {
  test.setTimeout(120_000);
  const { context, page } = await as(browser, "operator");
  await page.goto(`/vms/${vmId}`);
  await expect(page.getByTestId("realtime-status")).toHaveAttribute("data-status", "connected");
  const panel = page.getByRole("region", { name: "Snapshot", exact: true });
  await panel.getByLabel("Mode").selectOption("live");
  await panel.getByRole("button", { name: "Snapshot now" }).click();
  await expect(panel.getByTestId("snapshot-status")).toHaveAttribute("data-status", "completed", { timeout: 90_000 });
  await context.close();
});

test("an admin adds a host in Settings; the audit log shows who did it", async ({ browser }) => {
  const { context, page } = await as(browser, "admin");
  await page.goto("/settings");
  const form = page.getByRole("form", { name: "Add a host" });
  if (await form.isHidden()) await page.getByRole("button", { name: "Add host" }).click();
  await form.getByLabel("Local").check();
  await form.getByLabel("Name").fill("e2e-roles-added");
  await form.getByLabel("Socket directory").fill(extra.dir);
  await form.getByLabel("Snapshot directory").fill(extra.snapshotDir);
  await form.getByRole("button", { name: "Add host" }).click();
  await expect(page.getByText("e2e-roles-added").first()).toBeVisible();
  await page.goto("/settings/audit?action=host.create");
  await expect(page.getByRole("cell", { name: /e2e-admin/ }).first()).toBeVisible();
  await context.close();

  // An operator may not add hosts, nor open the audit log.
  const op = await as(browser, "operator");
  const refused = await op.page.request.post("/api/hosts", {
    data: { kind: "local", name: "e2e-roles-nope", socketDir: extra.dir, snapshotDir: extra.snapshotDir },
  });
  expect(refused.status()).toBe(403);
  expect((await op.page.goto("/settings/audit"))?.status()).toBe(403);
  await op.context.close();
});

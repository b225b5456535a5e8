// Journey: an operator adding a host gets told exactly what is wrong, on the field to fix — first by
// the form's own checks, then by the server checking the host itself (missing directory, bad key).
import { expect, test } from "@playwright/test";
import { makeSocketDir, type SocketDir } from "../tests/fleet/support";

let dirs: SocketDir;

test.beforeAll(async () => {
  dirs = await makeSocketDir("sf-e2e-settings-");
});
test.afterAll(async () => {
  await dirs?.cleanup();
});

async function openAddForm(page: import("@playwright/test").Page) {
  await page.goto("/settings");
  const form = page.getByRole("form", { name: "Add a host" });
  if (await form.isHidden()) await page.getByRole("button", { name: "Add host" }).click();
  return form;
}

test("the host form says what is wrong, field by field, before and after asking the server", async ({ page }) => {
  const form = await openAddForm(page);
  await form.getByLabel("Local").check();
  await form.getByRole("button", { name: "Add host" }).click();
  await expect(form.getByText("name is required")).toBeVisible();
  await expect(form.getByText("socket directory is required")).toBeVisible();

  await form.getByLabel("Name").fill("bad-local");
  await form.getByLabel("Socket directory").fill(`${dirs.dir}/missing`);
  await form.getByLabel("Snapshot directory").fill("relative/path");
  await form.getByRole("button", { name: "Add host" }).click();
  await expect(form.getByText("snapshot directory must be an absolute path (starting with /)")).toBeVisible();

  // Now valid in shape: the server checks the host and answers per field.
  await form.getByLabel("Snapshot directory").fill(`${dirs.snapshotDir}/nope`);
  await form.getByRole("button", { name: "Add host" }).click();
  await expect(form.getByLabel("Socket directory")).toHaveAttribute("aria-invalid", "true");
  await expect(form.getByText(`socket directory ${dirs.dir}/missing does not exist`, { exact: true })).toBeVisible();
  await expect(form.getByText(`directory ${dirs.snapshotDir}/nope does not exist`, { exact: true })).toBeVisible();
});

test("an SSH host with an unreadable key is refused on the key field", async ({ page }) => {
  const form = await openAddForm(page);
  await form.getByLabel("SSH").check();
  await form.getByLabel("Name").fill("bad-ssh");
  await form.getByLabel("Address").fill("127.0.0.1");
  await form.getByLabel("Private key path").fill(`${dirs.dir}/no-such-key`);
  await form.getByLabel("Socket directory").fill(dirs.dir);
  await form.getByLabel("Snapshot directory").fill(dirs.snapshotDir);
  await form.getByRole("button", { name: "Add host" }).click();
  await expect(
    form.getByText(`cannot read private key ${dirs.dir}/no-such-key: no such file`, { exact: true }),
  ).toBeVisible();
  await expect(form.getByLabel("Private key path")).toHaveAttribute("aria-invalid", "true");
});

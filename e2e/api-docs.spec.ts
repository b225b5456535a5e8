// Journey: a viewer writing a script finds the API reference from the top bar, reads what "take a
// snapshot" needs (role, body, answers), follows a schema link, and downloads the OpenAPI document.
import { expect, test } from "@playwright/test";
import { stateFile } from "./support/auth";

test.use({ storageState: stateFile("viewer") });

test("the API page lists the endpoints with their roles and schemas; openapi.json serves the same", async ({
  page,
}) => {
  await page.goto("/fleet");
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "API" }).click();
  await expect(page.getByRole("heading", { name: "API", level: 1 })).toBeVisible();

  const take = page.getByRole("article", { name: "POST /api/vms/{id}/snapshots" });
  await expect(take).toContainText("Take a snapshot now");
  await expect(take).toContainText("operator");
  await expect(take).toContainText("Request body (JSON, optional)");
  await expect(take).toContainText("409");
  await take.getByRole("link", { name: "PostVmsByIdSnapshotsBody" }).click();
  await expect(page).toHaveURL(/#schema-PostVmsByIdSnapshotsBody$/);
  await expect(page.locator("#schema-PostVmsByIdSnapshotsBody")).toContainText('"live" | "ram-only" | "disks-only"');

  const res = await page.request.get("/api/openapi.json");
  expect(res.status()).toBe(200);
  const doc = await res.json();
  expect(doc.openapi).toBe("3.1.0");
  expect(doc.paths["/api/vms/{id}/snapshots"].post["x-snapfleet-role"]).toBe("operator");
});

test("without a login the document is refused", async ({ browser }) => {
  const context = await browser.newContext({ storageState: { cookies: [], origins: [] } });
  const res = await context.request.get("/api/openapi.json");
  expect(res.status()).toBe(401);
  await context.close();
});

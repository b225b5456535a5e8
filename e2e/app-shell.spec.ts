// Journey: a new operator opens the dashboard, finds their way around, and sees it is healthy.
import { expect, test } from "@playwright/test";

test("the shell renders, the nav works, and health shows the database up", async ({ page }) => {
  await page.goto("/");
  await expect(page).toHaveURL(/\/fleet$/);
  await expect(page.getByRole("heading", { name: "Fleet", level: 1 })).toBeVisible();
  await expect(page.getByRole("status")).toHaveText("database up");

  const nav = page.getByRole("navigation", { name: "Main" });
  for (const section of ["Snapshots", "Schedules", "Settings", "Fleet"]) {
    await nav.getByRole("link", { name: section }).click();
    await expect(page.getByRole("heading", { name: section, level: 1 })).toBeVisible();
    await expect(nav.getByRole("link", { name: section })).toHaveAttribute("aria-current", "page");
  }
});

test("health endpoint reports the database and version", async ({ request }) => {
  const res = await request.get("/api/health");
  expect(res.status()).toBe(200);
  expect(await res.json()).toEqual({ ok: true, db: "up", version: expect.stringMatching(/^\d+\.\d+\.\d+/) });
});

// Journey: an operator creates a schedule in the editor — sees the expression in words and its next
// 5 runs before saving — for every VM of a host in ram-only mode, clicks Run now on the schedule's
// page and watches each VM's snapshot appear and complete, then finds them on the Snapshots page and
// the schedule's result on the Schedules page. Real QEMU: two tiny idle VMs whose discoverable
// monitors are in a temp socket directory; the host is added through POST /api/hosts.
import { expect, test } from "@playwright/test";
import { makeSocketDir, startFleetVm, type SocketDir } from "../tests/fleet/support";
import { addLocalHost, disposeVms } from "./support/fleet";

let sockets: SocketDir;

test.beforeAll(async () => {
  sockets = await makeSocketDir("sf-e2e-sched-");
  await Promise.all([
    startFleetVm(sockets.dir, "sched-a", { memoryMiB: 128, disks: 0 }),
    startFleetVm(sockets.dir, "sched-b", { memoryMiB: 128, disks: 0 }),
  ]);
});

test.afterAll(async () => {
  await disposeVms(sockets);
});

test("create a schedule, run it now, see its snapshots appear", async ({ page, request }) => {
  test.setTimeout(180_000);
  await addLocalHost(request, "e2e-sched-host", sockets);

  await page.goto("/schedules");
  await page.getByRole("link", { name: "New schedule" }).first().click();
  await expect(page.getByRole("heading", { name: "New schedule", level: 1 })).toBeVisible();

  await page.getByLabel("Name", { exact: true }).fill("e2e nightly");
  await page.getByLabel("Repeat").selectOption("daily");
  await page.getByLabel("At", { exact: true }).fill("02:30");
  await page.getByLabel("Time zone").selectOption("Europe/Berlin");
  const preview = page.getByTestId("cron-preview");
  await expect(preview).toContainText("At 02:30, every day (Europe/Berlin time)");
  await expect(preview.getByRole("listitem")).toHaveCount(5);
  await expect(page.getByLabel("Cron expression")).toHaveValue("30 2 * * *");

  await page.getByRole("radio", { name: "All VMs on a host" }).check();
  await page.getByLabel("Host", { exact: true }).selectOption({ label: "e2e-sched-host" });
  await page.getByLabel("Mode", { exact: true }).selectOption("ram-only");
  await page.getByLabel("Keep last").fill("3");
  await page.getByRole("button", { name: "Create schedule" }).click();

  await expect(page.getByRole("heading", { name: "e2e nightly", level: 1 })).toBeVisible();
  await expect(page.getByRole("region", { name: "Runs" })).toContainText("No runs yet.");
  await page.getByRole("button", { name: "Run now" }).click();

  const run = page.getByTestId("schedule-run").first();
  await expect(run).toContainText("run now");
  const items = run.getByTestId("run-item");
  await expect(items).toHaveCount(2);
  await expect(items.filter({ hasText: "sched-a" }).getByTestId("snapshot-status-chip")).toHaveAttribute(
    "data-status",
    "completed",
    { timeout: 120_000 },
  );
  await expect(items.filter({ hasText: "sched-b" }).getByTestId("snapshot-status-chip")).toHaveAttribute(
    "data-status",
    "completed",
    { timeout: 120_000 },
  );
  await expect(run.getByTestId("run-status-chip").first()).toHaveAttribute("data-status", "succeeded", {
    timeout: 30_000,
  });

  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Snapshots" }).click();
  for (const vm of ["sched-a", "sched-b"]) {
    const row = page.getByRole("row").filter({ hasText: vm }).filter({ hasText: "e2e nightly" });
    await expect(row.getByTestId("snapshot-status-chip")).toHaveAttribute("data-status", "completed");
  }

  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Schedules" }).click();
  const row = page.getByTestId("schedule-row").filter({ hasText: "e2e nightly" });
  await expect(row.getByTestId("run-status-chip")).toHaveAttribute("data-status", "succeeded");
  await expect(row).toContainText("100% (1/1)");
  await expect(page.getByTestId("calendar-host").filter({ hasText: "e2e-sched-host" })).toBeVisible();
});

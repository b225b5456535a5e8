// Journey: an operator opens a running VM, picks "live", clicks Snapshot now and watches the job go
// setup → active → completed in the panel without a reload, then reads the guest pause, duration and
// size, and finds the snapshot in the VM's history and on the Snapshots page. Real QEMU: a guest-kit VM
// (it dirties RAM and writes its disk, so the stream lasts long enough to watch) whose discoverable
// monitor is in a temp socket directory; the host is seeded through POST /api/hosts.
import { expect, test } from "@playwright/test";
import { startGuestKitVm } from "../tests/support/guest-kit";
import { disposeAllVms, type TestVm } from "../tests/support/qemu";
import { makeSocketDir, type SocketDir } from "../tests/fleet/support";

let sockets: SocketDir;
let vm: TestVm;

test.beforeAll(async () => {
  sockets = await makeSocketDir("sf-e2e-snap-");
  vm = await startGuestKitVm({
    name: "e2e-snap",
    memoryMiB: 192,
    dirtyMiB: 64,
    extraArgs: ["-qmp", `unix:${sockets.dir}/e2e-snap.sock,server=on,wait=off`],
  });
});

test.afterAll(async () => {
  await disposeAllVms();
  await sockets?.cleanup();
});

test("Snapshot now shows setup → active → completed live, then the result and the history", async ({ page, request }) => {
  test.setTimeout(120_000);
  const added = await request.post("/api/hosts", { data: { kind: "local", name: "e2e-snap-host", socketDir: sockets.dir, snapshotDir: sockets.snapshotDir } });
  expect(added.status(), await added.text()).toBe(201);
  const hostId = (await added.json()).host.id as string;
  const vms = (await (await request.get(`/api/vms?hostId=${hostId}`)).json()).vms as Array<{ id: string; name: string }>;
  const vmId = vms.find((v) => v.name === "e2e-snap")!.id;

  await page.goto(`/vms/${vmId}`);
  await expect(page.getByRole("heading", { name: "e2e-snap", level: 1 })).toBeVisible();
  await expect(page.getByTestId("realtime-status")).toHaveAttribute("data-status", "connected");
  // Before the click, the page says what pause to expect and why.
  await expect(page.getByTestId("pause-expectation")).toContainText(/Expected guest pause ≈ \d+ ms/);
  const navigations: string[] = [];
  page.on("framenavigated", (f) => navigations.push(f.url()));

  // Record every status the panel shows, as the DOM changes: a phase may last only a few hundred ms.
  await page.evaluate(() => {
    const seen: string[] = [];
    (window as unknown as { __statuses: string[] }).__statuses = seen;
    const record = () => {
      const s = document.querySelector("[data-testid=snapshot-status]")?.getAttribute("data-status");
      if (s && seen.at(-1) !== s) seen.push(s);
    };
    new MutationObserver(record).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-status"] });
  });

  const panel = page.getByRole("region", { name: "Snapshot", exact: true });
  await panel.getByLabel("Mode").selectOption("live");
  await panel.getByLabel("Note (optional)").fill("e2e snapshot");
  await panel.getByRole("button", { name: "Snapshot now" }).click();

  const status = page.getByTestId("snapshot-status");
  await expect(status).toHaveAttribute("data-status", "completed", { timeout: 90_000 });
  const statuses = await page.evaluate(() => (window as unknown as { __statuses: string[] }).__statuses);
  const order = ["setup", "active", "completed"].map((s) => statuses.indexOf(s));
  expect(order.every((i) => i >= 0), `statuses seen: ${statuses.join(" → ")}`).toBe(true);
  expect([...order].sort((a, b) => a - b)).toEqual(order);
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
  await expect(history.getByRole("row").filter({ hasText: "e2e snapshot" }).getByTestId("snapshot-status-chip")).toHaveAttribute("data-status", "completed");

  // The guest kept running: its serial ticks advance after the snapshot.
  const from = vm.serialOutput().length;
  await vm.waitForSerial(/^tick [^\n]*\n/m, 20_000, from);

  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Snapshots" }).click();
  await expect(page.getByRole("heading", { name: "Snapshots", level: 1 })).toBeVisible();
  const row = page.getByRole("row").filter({ hasText: "e2e-snap" }).filter({ hasText: "e2e snapshot" });
  await expect(row.getByTestId("snapshot-status-chip")).toHaveAttribute("data-status", "completed");
  await expect(page.getByRole("region", { name: "Guest pause and duration per VM" })).toContainText("e2e-snap");
});

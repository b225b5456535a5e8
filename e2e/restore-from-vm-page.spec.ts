// Journey: an operator opens a running VM that has a snapshot, clicks Restore on the snapshot in the
// VM's history, reads what the rollback will discard (the guest's time since the snapshot) and what
// stays, confirms, and watches the Restore panel go setup → active → completed without a reload, with
// the safety snapshot that undoes it. Real QEMU: a guest-kit VM whose discoverable monitor is in a temp
// socket directory. The dashboard starts the rolled-back QEMU detached (it outlives the dashboard): this
// spec reads its pid from the API and kills it at the end.
import { expect, test, type APIRequestContext } from "@playwright/test";
import type { TestVm } from "../tests/support/qemu";
import { makeSocketDir, type SocketDir } from "../tests/fleet/support";
import { addLocalHost, disposeVms, openVmPage, recordStatuses, startDiscoverableGuestKitVm } from "./support/fleet";

let sockets: SocketDir;
let vm: TestVm;
let hostId: string | undefined;
const detached: number[] = [];

test.beforeAll(async () => {
  sockets = await makeSocketDir("sf-e2e-rs-");
  vm = await startDiscoverableGuestKitVm(sockets, "e2e-restore", { memoryMiB: 160, dirtyMiB: 16 });
});

test.afterAll(async ({ request }) => {
  for (const pid of detached) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
  // Teardown goes on to dispose of the VMs whether or not the host could be removed.
  if (hostId) await request.delete(`/api/hosts/${hostId}`).catch(() => undefined);
  await disposeVms(sockets);
});

async function poll<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function takeSnapshot(request: APIRequestContext, vmId: string): Promise<string> {
  const res = await request.post(`/api/vms/${vmId}/snapshots`, { data: { mode: "live", note: "before the incident" } });
  expect(res.status(), await res.text()).toBe(202);
  const id = ((await res.json()) as { snapshot: { id: string } }).snapshot.id;
  await poll(
    "the snapshot",
    async () => {
      const s = (await (await request.get(`/api/snapshots/${id}`)).json()) as { status: string };
      if (s.status === "failed" || s.status === "cancelled") throw new Error(`snapshot ${s.status}`);
      return s.status === "completed" ? true : undefined;
    },
    90_000,
  );
  return id;
}

test("Restore from the VM page: confirmation, live progress, result", async ({ page, request }) => {
  test.setTimeout(180_000);
  const host = await addLocalHost(request, "e2e-restore-host", sockets);
  hostId = host.hostId;
  const vmId = host.vmId("e2e-restore");
  await vm.waitForSerial(/^tick 2 /m, 30_000);
  const snapshotId = await takeSnapshot(request, vmId);

  await openVmPage(page, vmId, "e2e-restore");
  await expect(page.getByTestId("realtime-status")).toHaveAttribute("data-status", "connected");
  const statuses = await recordStatuses(page, "restore-status");

  const history = page.getByRole("region", { name: "Snapshot history" });
  await history.locator(`tr[data-snapshot-id="${snapshotId}"]`).getByRole("button", { name: "Restore" }).click();
  const dialog = page.getByRole("dialog", { name: "Restore this snapshot?" });
  await expect(dialog.getByTestId("restore-consequences")).toContainText(
    /Everything the guest did since is lost: \d+ (s|min)/,
  );
  await expect(dialog).toContainText("safety snapshot");
  await expect(dialog).toContainText("No snapshot is newer than this one.");
  await dialog.getByRole("button", { name: "Restore" }).click();
  await expect(dialog).toBeHidden();

  const panel = page.getByRole("region", { name: "Restore" });
  await expect(panel.getByTestId("restore-status")).toHaveAttribute("data-status", "completed", { timeout: 120_000 });
  await statuses.expectSetupActiveCompleted();
  for (const step of await panel.getByRole("list", { name: "Restore steps" }).getByRole("listitem").all())
    await expect(step).toHaveAttribute("data-state", "done");
  await expect(panel.getByTestId("restore-safety")).toContainText("Safety snapshot");
  await expect(panel.getByTestId("restore-detail")).toContainText("restored the snapshot");

  const restores = (await (await request.get(`/api/vms/${vmId}/restores`)).json()).restores as Array<{
    result: { newPid?: number } | null;
  }>;
  const pid = restores[0]!.result!.newPid!;
  detached.push(pid);
  // The guest runs again from the snapshot: its serial console (a new log, same file) ticks.
  await vm.waitForSerial(/^tick \d+ [^\n]*\n/m, 60_000).catch(async () => {
    // The TestVm saw its own QEMU exit; read the file directly.
    await poll(
      "the restored guest's ticks",
      async () => (/^tick \d+ /m.test(vm.serialOutput()) ? true : undefined),
      60_000,
    );
  });
  // The safety snapshot appears in the history, deletable.
  await expect(history.getByRole("row").filter({ hasText: `safety before restoring ${snapshotId}` })).toBeVisible();
});

// Journey: an operator turns on "Freeze filesystems" for a VM on its page, takes a disks-only snapshot
// (the panel's own checkbox follows the VM's setting), and finds it marked application-consistent in the
// VM's history, the note saying what the guest agent froze. Real QEMU: a guest-kit VM running Debian's
// qemu-ga on a virtio-serial channel (docs/quiesce.md); its agent socket lives outside the host's socket
// directory (discovery takes every *.sock there for a monitor).
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { expect, test } from "@playwright/test";
import { makeSocketDir, type SocketDir } from "../tests/fleet/support";
import { addLocalHost, disposeVms, openVmPage, startDiscoverableGuestKitVm } from "./support/fleet";

let sockets: SocketDir;
let agentDir: string;

test.beforeAll(async () => {
  sockets = await makeSocketDir("sf-e2e-qsc-");
  agentDir = await mkdtemp(path.join(os.tmpdir(), "sf-e2e-qga-"));
  // The VM runs until afterAll disposes of it: the test reaches it through the dashboard.
  await startDiscoverableGuestKitVm(sockets, "e2e-quiesce", {
    memoryMiB: 160,
    dirtyMiB: 8,
    disks: 2,
    agentSocket: path.join(agentDir, "qga.sock"),
    runAgent: true,
  });
});

test.afterAll(async () => {
  await disposeVms(sockets);
  if (agentDir) await rm(agentDir, { recursive: true, force: true });
});

test("Freeze filesystems on the VM page makes a disks-only snapshot application-consistent", async ({
  page,
  request,
}) => {
  test.setTimeout(120_000);
  const vmId = (await addLocalHost(request, "e2e-quiesce-host", sockets)).vmId("e2e-quiesce");

  await openVmPage(page, vmId, "e2e-quiesce");
  const setting = page
    .getByRole("region", { name: "Details" })
    .getByRole("checkbox", { name: "Freeze filesystems (guest agent)" });
  await expect(setting).not.toBeChecked();
  await setting.check();
  await expect(setting).toBeChecked();
  // Saved, not only ticked: the API says so.
  await expect.poll(async () => (await (await request.get(`/api/vms/${vmId}`)).json()).quiesce).toBe(true);

  const panel = page.getByRole("region", { name: "Snapshot", exact: true });
  await panel.getByLabel("Mode").selectOption("disks-only");
  await expect(panel.getByRole("checkbox", { name: "Freeze filesystems (guest agent)" })).toBeChecked();
  await panel.getByLabel("Note (optional)").fill("e2e quiesced");
  await panel.getByRole("button", { name: "Snapshot now" }).click();
  await expect(page.getByTestId("snapshot-status")).toHaveAttribute("data-status", "completed", { timeout: 60_000 });

  const row = page
    .getByRole("region", { name: "Snapshot history" })
    .getByRole("row")
    .filter({ hasText: "e2e quiesced" });
  const badge = row.getByTestId("snapshot-consistency");
  await expect(badge).toHaveText("application-consistent");
  await expect(badge).toHaveAttribute("title", /^froze 1 filesystem for \d+ ms/);
});

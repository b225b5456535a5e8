// Journey: webhooks. An admin opens Settings → Webhooks, adds a hook pointing at a real local receiver
// (tests/support/webhook-receiver.ts, which checks the signature with the secret the page showed once),
// presses "Send test" and reads the outcome and the delivery log; the audit log records it. Removing a
// hook asks first ("Keep" leaves it). An operator can neither open the page nor register a hook.
import { expect, test, type Browser } from "@playwright/test";
import { startWebhookReceiver, type WebhookReceiver } from "../tests/support/webhook-receiver";
import { stateFile, type E2eRole } from "./support/auth";

let receiver: WebhookReceiver;

test.beforeAll(async () => {
  receiver = await startWebhookReceiver();
});

test.afterAll(async ({ request }) => {
  const hooks = (
    (await (await request.get("/api/webhooks")).json()) as { webhooks: Array<{ id: string; url: string }> }
  ).webhooks;
  for (const h of hooks.filter((x) => x.url.includes("/e2e-"))) await request.delete(`/api/webhooks/${h.id}`);
  await receiver?.close();
});

async function as(browser: Browser, role: E2eRole) {
  const context = await browser.newContext({ storageState: stateFile(role) });
  return { context, page: await context.newPage() };
}

test("an admin adds a webhook, copies its secret, sends a test and reads the delivery log", async ({ browser }) => {
  const { context, page } = await as(browser, "admin");
  await page.goto("/settings");
  await page.getByRole("link", { name: "Webhooks" }).click();
  await expect(page).toHaveURL(/\/settings\/webhooks$/);
  await expect(page.getByRole("heading", { name: "Webhooks", level: 1 })).toBeVisible();

  const form = page.getByRole("form", { name: "Add webhook" });
  if (await form.isHidden()) await page.getByRole("button", { name: "Add webhook" }).click();
  // A URL that is no webhook is refused with the reason.
  await form.getByLabel("Payload URL").fill("ftp://files.example.org/in");
  await form.getByRole("button", { name: "Add webhook" }).click();
  await expect(form.getByRole("alert")).toContainText("must start with http:// or https://");

  await form.getByLabel("Payload URL").fill(receiver.url("/e2e-hook"));
  await form.getByLabel(/Snapshot completed/).check();
  await form.getByRole("button", { name: "Add webhook" }).click();
  const secret = (await page.getByTestId("webhook-secret").textContent())!.trim();
  expect(secret).toMatch(/^whsec_/);
  receiver.expect("/e2e-hook", { secret });
  await page.getByRole("button", { name: "I have copied it" }).click();
  await expect(page.getByTestId("webhook-secret")).toHaveCount(0);

  const row = page.locator(`[data-testid="webhook-row"][data-webhook-url="${receiver.url("/e2e-hook")}"]`);
  await expect(row).toContainText("snapshot.completed");
  await expect(row).toContainText("snapshot.failed");
  await row.getByRole("button", { name: "Send test" }).click();
  await expect(row.getByRole("status")).toContainText("Test delivered: HTTP 200");
  const log = page.getByTestId("delivery-log");
  await expect(log.getByTestId("delivery").first()).toContainText("ping");
  await expect(log.getByTestId("delivery").first()).toContainText("succeeded");
  await expect(log.getByTestId("delivery").first()).toContainText("HTTP 200");

  const got = receiver.received("/e2e-hook");
  expect(got).toHaveLength(1);
  expect(got[0]).toMatchObject({ event: "ping", signatureValid: true });
  // The secret was shown once: the list does not carry it.
  expect(await (await page.request.get("/api/webhooks")).text()).not.toContain(secret);

  // The audit log holds both attempts to add it — the refused one with its status and reason — and the test.
  await page.goto("/settings/audit?action=webhook.");
  const creates = page
    .getByRole("row")
    .filter({ has: page.getByRole("cell", { name: "webhook.create", exact: true }) });
  await expect(creates).toHaveCount(2);
  await expect(creates.filter({ hasText: "must start with http:// or https://" })).toContainText("422");
  await expect(page.getByRole("cell", { name: "webhook.test", exact: true })).toBeVisible();
  await context.close();
});

test("an admin removes a webhook only after confirming it", async ({ browser }) => {
  const { context, page } = await as(browser, "admin");
  const url = receiver.url("/e2e-remove-me");
  const created = await page.request.post("/api/webhooks", { data: { url, events: ["snapshot.failed"] } });
  expect(created.status()).toBe(201);
  await page.goto("/settings/webhooks");
  const row = page.locator(`[data-testid="webhook-row"][data-webhook-url="${url}"]`);
  await expect(row).toBeVisible();

  await row.getByRole("button", { name: "Remove", exact: true }).click();
  await row.getByRole("button", { name: "Keep" }).click();
  await expect(row.getByRole("button", { name: "Remove", exact: true })).toBeVisible();

  await row.getByRole("button", { name: "Remove", exact: true }).click();
  await row.getByRole("button", { name: "Remove it and its delivery log" }).click();
  await expect(row).toHaveCount(0);
  const left = ((await (await page.request.get("/api/webhooks")).json()) as { webhooks: Array<{ url: string }> })
    .webhooks;
  expect(left.map((h) => h.url)).not.toContain(url);
  await context.close();
});

test("an operator can neither open Settings → Webhooks nor register a hook", async ({ browser }) => {
  const { context, page } = await as(browser, "operator");
  expect((await page.goto("/settings/webhooks"))?.status()).toBe(403);
  const refused = await page.request.post("/api/webhooks", {
    data: { url: receiver.url("/e2e-nope"), events: ["snapshot.failed"] },
  });
  expect(refused.status()).toBe(403);
  await context.close();
});

"use client";
// Settings → Webhooks: the registered hooks with their last delivery, adding one (the signing secret is
// shown once, right after), "Send test", enable / disable, rotating the secret, removing, and each
// hook's delivery log. Admins only (the page's rule in lib/auth/route-rules.ts).
import { Fragment, useState } from "react";
import { ConfirmRemove } from "@/components/ui/confirm-remove";
import { DataTable } from "@/components/ui/data-table";
import { apiFetch, messageOf } from "@/lib/http/api-fetch";
import type { WebhookCreatedJson, WebhookDeliveryJson, WebhookJson } from "@/lib/webhooks/webhook-json";
import { DeliveryLog } from "./delivery-log";
import { WebhookForm } from "./webhook-form";
import { SettingsSection } from "@/components/ui/settings-section";

const button =
  "rounded px-2 py-1 text-xs text-sky-700 hover:bg-sky-50 disabled:opacity-60 dark:text-sky-400 dark:hover:bg-sky-950";

function SecretNotice({ secret, url, onDone }: { secret: string; url: string; onDone: () => void }) {
  return (
    <div
      role="status"
      className="space-y-2 rounded-md bg-emerald-50 px-3 py-2 text-sm text-emerald-900 dark:bg-emerald-950 dark:text-emerald-200"
    >
      <p>
        Signing secret for <span className="font-mono">{url}</span> — copy it now, it is not shown again. Your receiver
        checks the <code>Snapfleet-Signature</code> header with it (docs/webhooks.md).
      </p>
      <code
        data-testid="webhook-secret"
        className="block break-all rounded bg-white px-2 py-1 font-mono text-xs dark:bg-slate-900"
      >
        {secret}
      </code>
      <button type="button" onClick={onDone} className="text-xs font-medium underline">
        I have copied it
      </button>
    </div>
  );
}

export function WebhooksSettings({ initialWebhooks }: { initialWebhooks: WebhookJson[] }) {
  const [hooks, setHooks] = useState(initialWebhooks);
  const [adding, setAdding] = useState(initialWebhooks.length === 0);
  const [secret, setSecret] = useState<{ secret: string; url: string } | null>(null);

  const upsert = (hook: WebhookJson) =>
    setHooks((hs) => (hs.some((h) => h.id === hook.id) ? hs.map((h) => (h.id === hook.id ? hook : h)) : [...hs, hook]));

  const onCreated = (created: WebhookCreatedJson) => {
    upsert(created.webhook);
    setSecret({ secret: created.secret, url: created.webhook.url });
    setAdding(false);
  };

  return (
    <SettingsSection
      id="webhooks-heading"
      title="Webhooks"
      addLabel="Add webhook"
      onAdd={adding ? null : () => setAdding(true)}
    >
      {secret && <SecretNotice {...secret} onDone={() => setSecret(null)} />}
      {adding && <WebhookForm onCreated={onCreated} onCancel={() => setAdding(false)} />}
      {hooks.length === 0 && !adding && <p className="text-sm text-slate-500">No webhooks registered.</p>}
      {hooks.length > 0 && (
        <DataTable
          columns={[
            { label: "URL" },
            { label: "Events" },
            { label: "Last delivery" },
            { label: "Actions", srOnly: true },
          ]}
        >
          {hooks.map((h) => (
            <WebhookRow
              key={h.id}
              hook={h}
              onChanged={upsert}
              onSecret={(s) => setSecret({ secret: s, url: h.url })}
              onRemoved={() => setHooks((hs) => hs.filter((x) => x.id !== h.id))}
            />
          ))}
        </DataTable>
      )}
    </SettingsSection>
  );
}

function WebhookRow({
  hook,
  onChanged,
  onSecret,
  onRemoved,
}: {
  hook: WebhookJson;
  onChanged: (h: WebhookJson) => void;
  onSecret: (secret: string) => void;
  onRemoved: () => void;
}) {
  const [showLog, setShowLog] = useState(false);
  const [reloadKey, setReloadKey] = useState(0);
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);

  const run = async (what: () => Promise<void>) => {
    setBusy(true);
    setMessage(null);
    try {
      await what();
    } catch (err) {
      setMessage({ ok: false, text: messageOf(err) });
    } finally {
      setBusy(false);
    }
  };

  const sendTest = () =>
    run(async () => {
      const { delivery } = await apiFetch<{ delivery: WebhookDeliveryJson }>(`/api/webhooks/${hook.id}/test`, {
        method: "POST",
        json: {},
      });
      setMessage(
        delivery.status === "succeeded"
          ? { ok: true, text: `Test delivered: HTTP ${delivery.httpStatus} in ${delivery.durationMs} ms` }
          : { ok: false, text: `Test failed: ${delivery.error}` },
      );
      onChanged({
        ...hook,
        lastDelivery: {
          event: delivery.event,
          status: delivery.status,
          httpStatus: delivery.httpStatus,
          at: delivery.createdAt,
        },
      });
      setShowLog(true);
      setReloadKey((k) => k + 1);
    });
  const patch = (body: Record<string, unknown>) =>
    run(async () => {
      const updated = await apiFetch<{ webhook: WebhookJson; secret?: string }>(`/api/webhooks/${hook.id}`, {
        method: "PATCH",
        json: body,
      });
      onChanged(updated.webhook);
      if (updated.secret) onSecret(updated.secret);
    });
  const remove = () =>
    run(async () => {
      await apiFetch(`/api/webhooks/${hook.id}`, { method: "DELETE" });
      onRemoved();
    });

  const last = hook.lastDelivery;
  return (
    <Fragment>
      <tr data-testid="webhook-row" data-webhook-url={hook.url}>
        <td className="max-w-80 truncate px-3 py-2 font-mono text-xs" title={hook.url}>
          {hook.url}
          {!hook.enabled && (
            <span className="ml-2 rounded bg-slate-100 px-1.5 py-0.5 font-sans text-slate-600 dark:bg-slate-800 dark:text-slate-300">
              disabled
            </span>
          )}
        </td>
        <td className="px-3 py-2 text-xs">
          {hook.events.map((e) => (
            <code key={e} className="mr-1 inline-block">
              {e}
            </code>
          ))}
        </td>
        <td className="px-3 py-2 text-xs">
          {last ? (
            <span
              className={
                last.status === "succeeded"
                  ? "text-emerald-700 dark:text-emerald-400"
                  : last.status === "failed"
                    ? "text-red-700 dark:text-red-400"
                    : ""
              }
            >
              {last.event} · {last.status}
              {last.httpStatus !== null ? ` (HTTP ${last.httpStatus})` : ""}
            </span>
          ) : (
            <span className="text-slate-500">none yet</span>
          )}
          {message && (
            <span
              role={message.ok ? "status" : "alert"}
              className={`block ${message.ok ? "text-emerald-700 dark:text-emerald-400" : "text-red-700 dark:text-red-400"}`}
            >
              {message.text}
            </span>
          )}
        </td>
        <td className="whitespace-nowrap px-3 py-2 text-right">
          <button type="button" disabled={busy} onClick={sendTest} className={button}>
            Send test
          </button>
          <button type="button" onClick={() => setShowLog((s) => !s)} aria-expanded={showLog} className={button}>
            {showLog ? "Hide deliveries" : "Deliveries"}
          </button>
          <button type="button" disabled={busy} onClick={() => patch({ enabled: !hook.enabled })} className={button}>
            {hook.enabled ? "Disable" : "Enable"}
          </button>
          <button type="button" disabled={busy} onClick={() => patch({ rotateSecret: true })} className={button}>
            Rotate secret
          </button>
          <ConfirmRemove confirmLabel="Remove it and its delivery log" onConfirm={remove} disabled={busy} />
        </td>
      </tr>
      {showLog && (
        <tr>
          <td colSpan={4} className="bg-slate-50 px-3 py-2 dark:bg-slate-900/60">
            <DeliveryLog webhookId={hook.id} reloadKey={reloadKey} />
          </td>
        </tr>
      )}
    </Fragment>
  );
}

"use client";
// Add a webhook: its URL and the events it receives. The API's own schema checks the form first
// (instant messages); what only the server decides (the URL's scheme, credentials in it) comes back as
// the answer's error. On success the parent shows the signing secret, once.
import { useId, useState, type FormEvent } from "react";
import { webhookCreateSchema } from "@/lib/validations/webhook";
import { WEBHOOK_EVENT_LABELS, WEBHOOK_EVENTS, type WebhookEventName } from "@/lib/webhooks/events";
import type { WebhookCreatedJson } from "@/lib/webhooks/webhook-json";
import { apiFetch, messageOf } from "@/lib/http/api-fetch";
import { ErrorText } from "@/components/ui/error-text";

export function WebhookForm({
  onCreated,
  onCancel,
}: {
  onCreated: (created: WebhookCreatedJson) => void;
  onCancel: () => void;
}) {
  const id = useId();
  const [url, setUrl] = useState("");
  const [events, setEvents] = useState<WebhookEventName[]>(["snapshot.failed"]);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const toggle = (e: WebhookEventName) => setEvents((es) => (es.includes(e) ? es.filter((x) => x !== e) : [...es, e]));

  const submit = async (ev: FormEvent) => {
    ev.preventDefault();
    setError(null);
    const parsed = webhookCreateSchema.safeParse({ url, events });
    if (!parsed.success) {
      setError(parsed.error.issues.map((i) => i.message).join("; "));
      return;
    }
    setBusy(true);
    try {
      onCreated(await apiFetch<WebhookCreatedJson>("/api/webhooks", { method: "POST", json: parsed.data }));
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      onSubmit={submit}
      aria-label="Add webhook"
      className="space-y-3 rounded-lg border border-slate-200 bg-white p-4 dark:border-slate-800 dark:bg-slate-900"
    >
      <div>
        <label htmlFor={`${id}-url`} className="block text-sm font-medium">
          Payload URL
        </label>
        <input
          id={`${id}-url`}
          value={url}
          onChange={(e) => setUrl(e.target.value)}
          placeholder="https://receiver.example.org/hooks/snapfleet"
          className="mt-1 w-full rounded-md border border-slate-300 bg-white px-2 py-1.5 font-mono text-sm dark:border-slate-700 dark:bg-slate-950"
        />
        <p className="mt-1 text-xs text-slate-500">
          http or https; Snapfleet POSTs JSON signed with a secret shown once after you add it.
        </p>
      </div>
      <fieldset>
        <legend className="text-sm font-medium">Events</legend>
        <div className="mt-1 grid gap-1 sm:grid-cols-2">
          {WEBHOOK_EVENTS.map((e) => (
            <label key={e} className="flex items-center gap-2 text-sm">
              <input type="checkbox" checked={events.includes(e)} onChange={() => toggle(e)} />
              <span>
                {WEBHOOK_EVENT_LABELS[e]} <code className="text-xs text-slate-500">{e}</code>
              </span>
            </label>
          ))}
        </div>
      </fieldset>
      <ErrorText error={error} />
      <div className="flex gap-2">
        <button
          type="submit"
          disabled={busy}
          className="rounded-md bg-sky-600 px-3 py-1.5 text-sm font-medium text-white hover:bg-sky-500 disabled:opacity-60"
        >
          Add webhook
        </button>
        <button
          type="button"
          onClick={onCancel}
          className="rounded-md px-3 py-1.5 text-sm text-slate-600 dark:text-slate-300"
        >
          Cancel
        </button>
      </div>
    </form>
  );
}

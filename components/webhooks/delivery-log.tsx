"use client";
// One hook's delivery log: each delivery (event, outcome, when) with every attempt — the receiver's HTTP
// status or why it failed, how long it took — and when the next retry is due. Read from
// GET /api/webhooks/{id}/deliveries; reloaded on demand and when the parent sent a test.
import { useCallback, useEffect, useState } from "react";
import { z } from "zod";
import { apiFetch, messageOf } from "@/lib/http/api-fetch";
import { webhookDeliveryJsonSchema, type WebhookDeliveryJson } from "@/lib/webhooks/webhook-json";
import { ErrorText } from "@/components/ui/error-text";

const STATUS_STYLE: Record<WebhookDeliveryJson["status"], string> = {
  succeeded: "text-emerald-700 dark:text-emerald-400",
  failed: "text-red-700 dark:text-red-400",
  retrying: "text-amber-700 dark:text-amber-400",
  pending: "text-slate-600 dark:text-slate-300",
};

const deliveriesAnswerSchema = z.object({ deliveries: webhookDeliveryJsonSchema.array() });

const time = (iso: string) => new Date(iso).toISOString().replace("T", " ").slice(0, 19);

export function DeliveryLog({ webhookId, reloadKey }: { webhookId: string; reloadKey: number }) {
  const [deliveries, setDeliveries] = useState<WebhookDeliveryJson[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(async () => {
    setError(null);
    try {
      setDeliveries(
        (await apiFetch(`/api/webhooks/${webhookId}/deliveries?limit=50`, { schema: deliveriesAnswerSchema }))
          .deliveries,
      );
    } catch (err) {
      setError(`the delivery log could not be read: ${messageOf(err)}`);
    }
  }, [webhookId]);

  useEffect(() => {
    void load();
  }, [load, reloadKey]);

  return (
    <div className="space-y-2" data-testid="delivery-log">
      <div className="flex items-center gap-2">
        <h3 className="text-sm font-semibold">Deliveries</h3>
        <button
          type="button"
          onClick={() => void load()}
          className="rounded px-2 py-0.5 text-xs text-sky-700 hover:bg-sky-50 dark:text-sky-400 dark:hover:bg-sky-950"
        >
          Refresh
        </button>
      </div>
      <ErrorText error={error} />
      {deliveries?.length === 0 && <p className="text-sm text-slate-500">Nothing sent yet.</p>}
      {deliveries && deliveries.length > 0 && (
        <ul className="space-y-1 text-xs">
          {deliveries.map((d) => (
            <li
              key={d.id}
              data-testid="delivery"
              className="rounded border border-slate-100 px-2 py-1 dark:border-slate-800"
            >
              <span className="font-mono">{time(d.createdAt)}</span> <code>{d.event}</code>{" "}
              <span className={`font-medium ${STATUS_STYLE[d.status]}`}>{d.status}</span>
              {d.nextAttemptAt && <span className="text-slate-500"> · next attempt {time(d.nextAttemptAt)}</span>}
              <ol className="ml-4 list-decimal text-slate-600 dark:text-slate-400">
                {d.attempts.map((a) => (
                  <li key={a.attempt}>
                    {time(a.at)} · {a.httpStatus !== null ? `HTTP ${a.httpStatus}` : "no answer"}
                    {a.error && a.httpStatus === null ? ` — ${a.error}` : ""} · {a.durationMs} ms
                  </li>
                ))}
              </ol>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

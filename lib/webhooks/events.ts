// The events a webhook can subscribe to and the envelope every delivery's body carries (docs/webhooks.md
// documents each payload). Client-safe: imports nothing, so the settings page's checkboxes and the
// zod schemas (lib/validations/webhook.ts) share this one list with the emitting code.
// Invariants: names are stable wire names (receivers switch on them); `ping` is never subscribable —
// it is what "Send test" sends, to one hook.

export const WEBHOOK_EVENTS = [
  "snapshot.completed",
  "snapshot.failed",
  "schedule.flagged",
  "host.unreachable",
  "vm.frozen",
  "restore.completed",
  "restore.failed",
] as const;

export type WebhookEventName = (typeof WEBHOOK_EVENTS)[number];

/** What "Send test" sends. */
export const PING_EVENT = "ping";

export const WEBHOOK_EVENT_LABELS: Record<WebhookEventName, string> = {
  "snapshot.completed": "Snapshot completed",
  "snapshot.failed": "Snapshot failed",
  "schedule.flagged": "Schedule flagged (failed runs in a row reached its threshold)",
  "host.unreachable": "Host became unreachable",
  "vm.frozen": "VM frozen by a failed snapshot (restart required)",
  "restore.completed": "Rollback or verification completed",
  "restore.failed": "Rollback or verification failed",
};

/** The body of every delivery: `type` says which event, `data` holds its objects. */
export interface WebhookEnvelope {
  /** The event's id: the same for every hook the event went to. */
  id: string;
  type: WebhookEventName | typeof PING_EVENT;
  /** ISO time the event happened (was recorded). */
  createdAt: string;
  data: Record<string, unknown>;
}

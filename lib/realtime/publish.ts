// The publish port: how domain code (snapshots, fleet, scheduler) pushes an event to the browsers
// without knowing the WebSocket hub. The hub registers itself here (setHub in hub.ts calls
// setPublisher); until then, and in processes without a hub (CLI, tests), publish() does nothing.
// Invariants: imports nothing of the app (so importing it never pulls the hub, pg or ws); publish()
// adds no failure of its own (the hub's publish never rejects: realtime is best effort); the publisher lives on globalThis so Next's route-handler
// bundles publish through the same one as the server.

/** One event for the subscribers of `topic` (topics and names: messages.ts). */
export interface RealtimeEvent {
  topic: string;
  name: string;
  payload: unknown;
}

export type Publisher = (event: RealtimeEvent) => Promise<void>;

const g = globalThis as typeof globalThis & { __snapfleetPublisher?: Publisher };

/** Registers this process's publisher (the hub); undefined unregisters it. */
export function setPublisher(publisher: Publisher | undefined): void {
  g.__snapfleetPublisher = publisher;
}

/** Publishes to every process's subscribers of `event.topic`; a no-op when no publisher is registered. */
export async function publish(event: RealtimeEvent): Promise<void> {
  await g.__snapfleetPublisher?.(event);
}

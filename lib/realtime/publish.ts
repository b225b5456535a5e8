// The publish port: how domain code (snapshots, fleet, scheduler) pushes an event to the browsers
// without knowing the WebSocket hub. The hub registers itself here (setHub in hub.ts calls
// setPublisher); until then, and in processes without a hub (CLI, tests), publish() does nothing.
// Invariants: imports nothing of the app (so importing it never pulls the hub, pg or ws); publish()
// adds no failure of its own (the hub's publish never rejects: realtime is best effort); the publisher
// is a process singleton, so Next's route-handler bundles publish through the same one as the server.
import { processSingleton } from "../process-singleton";

/** One event for the subscribers of `topic` (topics and names: messages.ts). */
export interface RealtimeEvent {
  topic: string;
  name: string;
  payload: unknown;
}

export type Publisher = (event: RealtimeEvent) => Promise<void>;

const slot = processSingleton("__snapfleetPublisher", (): { publisher?: Publisher } => ({}));

/** Registers this process's publisher (the hub); undefined unregisters it. */
export function setPublisher(publisher: Publisher | undefined): void {
  slot.publisher = publisher;
}

/** Publishes to every process's subscribers of `event.topic`; a no-op when no publisher is registered. */
export async function publish(event: RealtimeEvent): Promise<void> {
  await slot.publisher?.(event);
}

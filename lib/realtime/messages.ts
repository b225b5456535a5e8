// The WebSocket protocol between a browser tab and the realtime hub, as zod schemas used on both
// ends. One connection per tab; a tab subscribes to topics and receives `event` frames for them.
// Topics: `fleet`, `vm:<uuid>`, `snapshot:<uuid>`, `restore:<uuid>`.
import { z } from "zod";

const uuid = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
export const TOPIC_PATTERN = new RegExp(`^(fleet|(vm|snapshot|restore):${uuid})$`, "i");

export const topicSchema = z
  .string()
  .regex(TOPIC_PATTERN, "topic must be fleet, vm:<id>, snapshot:<id> or restore:<id>");
export type Topic = z.infer<typeof topicSchema>;

export const clientMessageSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("subscribe"), topics: z.array(topicSchema).min(1).max(200) }),
  z.object({ type: z.literal("unsubscribe"), topics: z.array(topicSchema).min(1).max(200) }),
  z.object({ type: z.literal("ping") }),
]);
export type ClientMessage = z.infer<typeof clientMessageSchema>;

export const serverMessageSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("subscribed"), topics: z.array(z.string()) }),
  z.object({ type: z.literal("event"), topic: z.string(), name: z.string(), payload: z.unknown() }),
  z.object({ type: z.literal("error"), message: z.string() }),
  z.object({ type: z.literal("pong") }),
  /**
   * The hub's LISTEN connection was lost and is back: events published meanwhile never reached this
   * socket. The client re-reads what it shows (as after its own reconnect).
   */
  z.object({ type: z.literal("resync"), reason: z.string() }),
]);
export type ServerMessage = z.infer<typeof serverMessageSchema>;

export const vmTopic = (id: string) => `vm:${id}` as const;
export const snapshotTopic = (id: string) => `snapshot:${id}` as const;
export const restoreTopic = (id: string) => `restore:${id}` as const;
export const FLEET_TOPIC = "fleet";

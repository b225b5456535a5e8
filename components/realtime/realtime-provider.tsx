"use client";
// One WebSocket per browser tab to the realtime hub (/ws), shared by every component through context
// (the protocol, reconnects and resubscription live in realtime-client.ts). Components follow topics
// with useTopic(topic, handler); `onReconnect` tells them to re-read what they show.
import { createContext, useCallback, useContext, useEffect, useRef, useSyncExternalStore, type ReactNode } from "react";
import { topicSchema } from "@/lib/realtime/messages";
import { RealtimeClient, type RealtimeStatus, type TopicHandler } from "./realtime-client";

export type { RealtimeStatus, TopicHandler } from "./realtime-client";

const RealtimeContext = createContext<RealtimeClient | null>(null);

export function RealtimeProvider({ children }: { children: ReactNode }) {
  const clientRef = useRef<RealtimeClient | null>(null);
  clientRef.current ??= new RealtimeClient({
    url:
      typeof location === "undefined" ? "" : `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/ws`,
  });
  useEffect(() => {
    const client = clientRef.current!;
    client.start();
    return () => client.stop();
  }, []);
  return <RealtimeContext.Provider value={clientRef.current}>{children}</RealtimeContext.Provider>;
}

/**
 * Follows a topic (`fleet`, `vm:<id>`, `snapshot:<id>`; null follows nothing) while mounted. The
 * handler may change between renders without resubscribing. `onReconnect` runs after the socket came
 * back: re-read what you show.
 */
export function useTopic(
  topic: string | null,
  handler: TopicHandler,
  options: { onReconnect?: () => void } = {},
): void {
  const client = useContext(RealtimeContext);
  const handlerRef = useRef(handler);
  const reconnectRef = useRef(options.onReconnect);
  useEffect(() => {
    handlerRef.current = handler;
    reconnectRef.current = options.onReconnect;
  });
  useEffect(() => {
    if (!client || !topic) return;
    if (!topicSchema.safeParse(topic).success) {
      console.warn(`useTopic: "${topic}" is not a valid topic`);
      return;
    }
    return client.follow(topic, {
      handler: (name, payload) => handlerRef.current(name, payload),
      onReconnect: () => reconnectRef.current?.(),
    });
  }, [client, topic]);
}

const noop = () => () => {};

/** "connected", "connecting" (first connection) or "reconnecting". */
export function useRealtimeStatus(): RealtimeStatus {
  const client = useContext(RealtimeContext);
  const subscribe = useCallback((l: () => void) => (client ? client.onStatus(l) : noop()), [client]);
  return useSyncExternalStore(
    subscribe,
    () => client?.status ?? "connecting",
    () => "connecting",
  );
}

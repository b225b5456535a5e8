"use client";
// Follows a realtime topic (`snapshot:<id>`, `vm:<id>`, `fleet`) for "snapshot.updated" and hands each
// snapshot it carries to the caller; other events and payloads that are not a SnapshotJson are dropped.
import { useTopic } from "@/components/realtime/realtime-provider";
import { SNAPSHOT_UPDATED_EVENT, snapshotJsonSchema, type SnapshotJson } from "@/lib/snapshots/snapshot-json";

export function useSnapshotUpdates(
  topic: string | null,
  onSnapshot: (s: SnapshotJson) => void,
  options?: { onReconnect?: () => void },
): void {
  useTopic(
    topic,
    (name, payload) => {
      if (name !== SNAPSHOT_UPDATED_EVENT) return;
      const parsed = snapshotJsonSchema.safeParse(payload);
      if (parsed.success) onSnapshot(parsed.data);
    },
    options,
  );
}

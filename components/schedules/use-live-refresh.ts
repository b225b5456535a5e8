"use client";
// Re-renders a server-rendered schedules page when runs or snapshots change anywhere in the fleet
// (`fleet` topic: "schedule.run", "snapshot.updated"), at most once a second, and after a reconnect.
import { useRouter } from "next/navigation";
import { useCallback, useEffect, useRef } from "react";
import { useTopic } from "@/components/realtime/realtime-provider";

export function useLiveRefresh(): void {
  const router = useRouter();
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const refresh = useCallback(() => {
    if (timer.current) return;
    timer.current = setTimeout(() => {
      timer.current = undefined;
      router.refresh();
    }, 1_000);
  }, [router]);
  useEffect(() => () => clearTimeout(timer.current), []);
  useTopic(
    "fleet",
    (name) => {
      if (name === "schedule.run" || name === "snapshot.updated") refresh();
    },
    { onReconnect: refresh },
  );
}

"use client";
// The VM page's line on the guest pause a live snapshot should cost and why, from
// GET /api/vms/{id}/pause-plan; shown while the VM is running or paused.
import { useEffect, useState } from "react";
import { apiFetch } from "@/lib/http/api-fetch";

export function PauseExpectation({ vmId, state }: { vmId: string; state: string }) {
  const [text, setText] = useState<string | null>(null);
  const reachable = state === "running" || state === "paused";

  useEffect(() => {
    if (!reachable) return;
    let cancelled = false;
    apiFetch<{ text: string }>(`/api/vms/${vmId}/pause-plan`)
      .then((plan) => {
        if (!cancelled) setText(plan.text);
      })
      // The expectation is a hint: without it the panel still works; say why in the console.
      .catch((err: unknown) => console.warn("the expected guest pause could not be loaded", err));
    return () => {
      cancelled = true;
    };
  }, [vmId, reachable]);

  if (!reachable || !text) return null;
  return (
    <p data-testid="pause-expectation" className="text-xs text-slate-600 dark:text-slate-400">
      {text}
    </p>
  );
}

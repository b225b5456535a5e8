"use client";
// What about the guest an operator must act on after a snapshot went wrong (lib/snapshots/
// guest-attention.ts), on the VM page:
//   - "Frozen — restart required": a background snapshot failed on a QEMU that then leaves the guest's
//     vCPUs blocked for good (QEMU < 8.1; query-status still says running). Only a restart of the VM
//     helps; the marker goes once its QEMU process changed.
//   - "Paused by Snapfleet": Snapfleet paused the guest for a snapshot and could not resume it. "Resume
//     guest" (POST /api/vms/{id}/resume, operator, audited) resumes it.
import { useState } from "react";
import { useCan } from "@/components/auth/identity-provider";
import { vmJsonSchema, type VmJson } from "@/lib/fleet/vm-json";
import { RelativeTime } from "./relative-time";

export function GuestAttention({ vm, onVm }: { vm: VmJson; onVm: (vm: VmJson) => void }) {
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<string | null>(null);
  const canOperate = useCan("operator");

  async function resume() {
    setBusy(true);
    setMessage(null);
    try {
      const res = await fetch(`/api/vms/${vm.id}/resume`, { method: "POST" });
      const body = (await res.json().catch(() => ({}))) as { error?: string };
      if (res.ok) {
        const parsed = vmJsonSchema.safeParse(body);
        if (parsed.success) onVm(parsed.data);
        setMessage("The guest runs again.");
      } else setMessage(body.error ?? `the server answered ${res.status}`);
    } catch (err) {
      setMessage(`Could not reach the dashboard: ${(err as Error).message}`);
    } finally {
      setBusy(false);
    }
  }

  if (!vm.frozen && !vm.pausedBySnapfleet) return message ? <p role="status" className="text-sm text-emerald-700 dark:text-emerald-400">{message}</p> : null;
  return (
    <div className="space-y-2">
      {vm.frozen && (
        <div role="alert" data-testid="vm-frozen" className="rounded-md border border-red-300 bg-red-50 px-3 py-2 text-sm text-red-900 dark:border-red-800 dark:bg-red-950 dark:text-red-200">
          <p className="font-semibold">Frozen — restart required</p>
          <p className="mt-1">{vm.frozen.reason}</p>
          <p className="mt-1 text-xs">
            Since <RelativeTime iso={vm.frozen.since} />. The VM still answers its monitor and may report “running”, but its CPUs wait forever:
            restart its QEMU process (its disks are intact; snapshots taken before stay restorable).
          </p>
        </div>
      )}
      {vm.pausedBySnapfleet && (
        <div role="alert" data-testid="vm-paused-by-snapfleet" className="rounded-md border border-amber-300 bg-amber-50 px-3 py-2 text-sm text-amber-900 dark:border-amber-800 dark:bg-amber-950 dark:text-amber-200">
          <p className="font-semibold">Paused by Snapfleet</p>
          <p className="mt-1">{vm.pausedBySnapfleet.reason}</p>
          {canOperate && (
            <button
              type="button"
              onClick={resume}
              disabled={busy}
              className="mt-2 rounded-md bg-amber-600 px-3 py-1 text-xs font-semibold text-white hover:bg-amber-500 disabled:opacity-50"
            >
              {busy ? "Resuming…" : "Resume guest"}
            </button>
          )}
        </div>
      )}
      {message && <p role="status" className="text-sm text-amber-700 dark:text-amber-400">{message}</p>}
    </div>
  );
}

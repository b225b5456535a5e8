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
import { Button } from "@/components/ui/button";
import { Callout } from "@/components/ui/callout";
import { vmJsonSchema, type VmJson } from "@/lib/fleet/vm-json";
import { apiFetch, messageOf } from "@/lib/http/api-fetch";
import { RelativeTime } from "./relative-time";

export function GuestAttention({ vm, onVm }: { vm: VmJson; onVm: (vm: VmJson) => void }) {
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<string | null>(null);
  const canOperate = useCan("operator");

  async function resume() {
    setBusy(true);
    setMessage(null);
    try {
      const parsed = vmJsonSchema.safeParse(await apiFetch(`/api/vms/${vm.id}/resume`, { method: "POST" }));
      if (parsed.success) onVm(parsed.data);
      setMessage("The guest runs again.");
    } catch (err) {
      setMessage(messageOf(err));
    } finally {
      setBusy(false);
    }
  }

  if (!vm.frozen && !vm.pausedBySnapfleet)
    return message ? (
      <p role="status" className="text-sm text-emerald-700 dark:text-emerald-400">
        {message}
      </p>
    ) : null;
  return (
    <div className="space-y-2">
      {vm.frozen && (
        <Callout tone="error" size="compact" role="alert" data-testid="vm-frozen" title="Frozen — restart required">
          <p className="mt-1">{vm.frozen.reason}</p>
          <p className="mt-1 text-xs">
            Since <RelativeTime iso={vm.frozen.since} />. The VM still answers its monitor and may report “running”, but
            its CPUs wait forever: restart its QEMU process (its disks are intact; snapshots taken before stay
            restorable).
          </p>
        </Callout>
      )}
      {vm.pausedBySnapfleet && (
        <Callout
          tone="warning"
          size="compact"
          role="alert"
          data-testid="vm-paused-by-snapfleet"
          title="Paused by Snapfleet"
        >
          <p className="mt-1">{vm.pausedBySnapfleet.reason}</p>
          {canOperate && (
            <Button variant="warning" className="mt-2" onClick={resume} busy={busy} busyLabel="Resuming…">
              Resume guest
            </Button>
          )}
        </Callout>
      )}
      {message && (
        <p role="status" className="text-sm text-amber-700 dark:text-amber-400">
          {message}
        </p>
      )}
    </div>
  );
}

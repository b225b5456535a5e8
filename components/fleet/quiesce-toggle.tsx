"use client";
// The VM page's quiesce setting: whether this VM's snapshots freeze its filesystems through its QEMU
// guest agent by default (PUT /api/vms/{id}/quiesce; docs/quiesce.md). Operators switch it; viewers
// read it. Says when the VM has no agent channel, since the setting then only records a reason.
import { useState } from "react";
import { z } from "zod";
import { useCan } from "@/components/auth/identity-provider";
import { vmJsonSchema, type VmJson } from "@/lib/fleet/vm-json";
import { apiFetch, messageOf } from "@/lib/http/api-fetch";

const vmAnswerSchema = z.object({ vm: vmJsonSchema });

export function QuiesceToggle({ vm, onVm }: { vm: VmJson; onVm: (vm: VmJson) => void }) {
  const canEdit = useCan("operator");
  /** The value being saved: shown at once, dropped when the server answered (or refused). */
  const [pending, setPending] = useState<boolean | null>(null);
  const [error, setError] = useState<string | null>(null);
  const on = pending ?? vm.quiesce ?? false;
  const busy = pending !== null;
  const noAgent =
    vm.launch && !vm.launch.guestAgent
      ? " (no guest agent channel found: snapshots will say so and stay crash-consistent)"
      : "";

  async function toggle(next: boolean) {
    setPending(next);
    setError(null);
    try {
      onVm(
        (
          await apiFetch(`/api/vms/${vm.id}/quiesce`, {
            method: "PUT",
            json: { quiesce: next },
            schema: vmAnswerSchema,
          })
        ).vm,
      );
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setPending(null);
    }
  }

  if (!canEdit) return <span>{on ? `on for disks-only snapshots${noAgent}` : "off"}</span>;
  return (
    <span className="block">
      <label className="inline-flex items-center gap-2">
        <input
          type="checkbox"
          checked={on}
          disabled={busy}
          onChange={(e) => void toggle(e.target.checked)}
          aria-describedby="quiesce-help"
        />
        Freeze filesystems (guest agent)
      </label>
      <span id="quiesce-help" className="block text-xs text-slate-500 dark:text-slate-400">
        Disks-only snapshots become application-consistent{noAgent}.
      </span>
      {error && (
        <span role="alert" className="block text-xs text-red-700 dark:text-red-400">
          {error}
        </span>
      )}
    </span>
  );
}

"use client";
// A VM's tags on its page: everyone sees them; operators edit them (PATCH /api/vms/{id}). The list is
// checked with the same schema as the route (lib/validations/vm.ts vmTagsSchema) before it is sent, so
// a bad tag is named at once; the server's answer (422 with the rule) is shown as well.
import { useState } from "react";
import { z } from "zod";
import { useCan } from "@/components/auth/identity-provider";
import { Button } from "@/components/ui/button";
import { vmJsonSchema, type VmJson } from "@/lib/fleet/vm-json";
import { apiFetch, messageOf } from "@/lib/http/api-fetch";
import { vmTagsSchema, VM_TAG_RULE } from "@/lib/validations/vm";

const vmAnswerSchema = z.object({ vm: vmJsonSchema });

export function VmTagEditor({ vm, onVm }: { vm: VmJson; onVm: (vm: VmJson) => void }) {
  const canEdit = useCan("operator");
  const [draft, setDraft] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const save = async () => {
    const parsed = vmTagsSchema.safeParse((draft ?? "").split(/[\s,]+/).filter(Boolean));
    if (!parsed.success) {
      setError(parsed.error.issues.map((i) => i.message).join("; "));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      onVm(
        (await apiFetch(`/api/vms/${vm.id}`, { method: "PATCH", json: { tags: parsed.data }, schema: vmAnswerSchema }))
          .vm,
      );
      setDraft(null);
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };

  if (draft === null) {
    return (
      <span className="flex flex-wrap items-center gap-1" data-testid="vm-tags">
        {vm.tags.length ? (
          vm.tags.map((t) => (
            <span
              key={t}
              data-testid="vm-tag"
              className="rounded bg-slate-100 px-1.5 text-xs text-slate-700 dark:bg-slate-800 dark:text-slate-300"
            >
              {t}
            </span>
          ))
        ) : (
          <span>—</span>
        )}
        {canEdit && (
          <button
            type="button"
            onClick={() => setDraft(vm.tags.join(" "))}
            className="ml-1 text-xs text-sky-700 hover:underline dark:text-sky-400"
          >
            Edit tags
          </button>
        )}
      </span>
    );
  }
  return (
    <form
      className="space-y-1"
      onSubmit={(e) => {
        e.preventDefault();
        void save();
      }}
    >
      <input
        aria-label="Tags (separated by spaces or commas)"
        value={draft}
        onChange={(e) => setDraft(e.target.value)}
        autoFocus
        className="w-full rounded-md border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-950"
      />
      <p className="text-xs text-slate-500 dark:text-slate-400">{VM_TAG_RULE}</p>
      {error && (
        <p role="alert" data-testid="vm-tags-error" className="text-xs text-red-700 dark:text-red-400">
          {error}
        </p>
      )}
      <div className="flex gap-2">
        <Button variant="primary-small" type="submit" busy={busy} busyLabel="Saving…">
          Save tags
        </Button>
        <button
          type="button"
          onClick={() => {
            setDraft(null);
            setError(null);
          }}
          className="rounded-md border border-slate-300 px-2 py-0.5 text-xs dark:border-slate-700"
        >
          Cancel
        </button>
      </div>
    </form>
  );
}

"use client";
// The schedule editor's targets: chosen VMs (checkboxes), every VM of a host (picked up anew at each
// run), or a name/tag glob, with the VMs it matches now (resolved again at every run).
import { Field, input } from "./form-parts";
import type { EditorHost, EditorVm, ScheduleFormValues, TargetKind, useScheduleForm } from "./use-schedule-form";
import { NamedOptions } from "@/components/ui/named-options";

const KINDS: ReadonlyArray<readonly [TargetKind, string]> = [
  ["vms", "Chosen VMs"],
  ["host", "All VMs on a host"],
  ["selector", "VMs matching a name or tag"],
];

export function TargetPicker({
  values,
  set,
  matched,
  vms,
  hosts,
}: {
  values: Pick<ScheduleFormValues, "targetKind" | "vmIds" | "hostId" | "selector">;
  set: ReturnType<typeof useScheduleForm>["set"];
  matched: EditorVm[];
  vms: EditorVm[];
  hosts: EditorHost[];
}) {
  const { targetKind, vmIds, hostId, selector } = values;
  const hostsById = new Map(hosts.map((h) => [h.id, h.name]));
  return (
    <>
      <div className="flex flex-wrap gap-4 text-sm" role="radiogroup" aria-label="Target kind">
        {KINDS.map(([k, label]) => (
          <label key={k} className="flex items-center gap-1.5">
            <input type="radio" name="target-kind" checked={targetKind === k} onChange={() => set("targetKind")(k)} />
            {label}
          </label>
        ))}
      </div>
      {targetKind === "vms" && (
        <div className="max-h-56 overflow-y-auto rounded-md border border-slate-200 p-2 dark:border-slate-800">
          {vms.length === 0 && <p className="text-sm text-slate-500">No VMs yet: add a host in Settings.</p>}
          {vms.map((vm) => (
            <label key={vm.id} className="flex items-center gap-2 py-0.5 text-sm">
              <input
                type="checkbox"
                checked={vmIds.includes(vm.id)}
                onChange={(e) =>
                  set("vmIds")((ids) => (e.target.checked ? [...ids, vm.id] : ids.filter((x) => x !== vm.id)))
                }
              />
              {vm.name}
              <span className="text-xs text-slate-500">on {vm.hostName}</span>
            </label>
          ))}
        </div>
      )}
      {targetKind === "host" && (
        <Field label="Host" htmlFor="schedule-host" hint="VMs added to the host later are picked up at each run.">
          <select id="schedule-host" className={input} value={hostId} onChange={(e) => set("hostId")(e.target.value)}>
            <NamedOptions items={hosts} />
          </select>
        </Field>
      )}
      {targetKind === "selector" && (
        <Field
          label="Selector"
          htmlFor="schedule-selector"
          hint={
            <>
              A glob (<code>*</code>, <code>?</code>) matched against each VM&apos;s name and tags, case-insensitive;
              resolved at every run. Matches now:{" "}
              {matched.length ? matched.map((v) => `${v.name} (${hostsById.get(v.hostId) ?? "?"})`).join(", ") : "none"}
            </>
          }
        >
          <input
            id="schedule-selector"
            className={`${input} w-64 font-mono`}
            value={selector}
            onChange={(e) => set("selector")(e.target.value)}
            placeholder="web-*"
          />
        </Field>
      )}
    </>
  );
}

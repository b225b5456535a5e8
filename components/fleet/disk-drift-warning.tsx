"use client";
// The VM page's disk drift warning: the VM's disks no longer match what its snapshots recorded
// (lib/snapshots/disk-drift.ts: restarted on other images, an internal snapshot deleted by hand…), one
// finding per line. While the findings are open, deleting this VM's snapshots that hold disk state (by
// hand or by retention) is refused; "I reviewed this — allow deletions" acknowledges exactly the listed
// findings (POST /api/vms/{id}/disk-drift/acknowledge, which re-checks first and refuses with 409 when
// the list changed meanwhile), "Check again" re-checks only. Once acknowledged the panel turns muted.
import { useState } from "react";
import { vmJsonSchema, type VmJson } from "@/lib/fleet/vm-json";
import { ApiError, apiFetch, messageOf } from "@/lib/http/api-fetch";
import { RelativeTime } from "./relative-time";

async function post(
  url: string,
  body?: unknown,
): Promise<{ vm: VmJson | null; error: string | null; details?: { vm?: unknown } }> {
  try {
    return { vm: await apiFetch(url, { method: "POST", json: body, schema: vmJsonSchema }), error: null };
  } catch (err) {
    return {
      vm: null,
      error: messageOf(err),
      details: err instanceof ApiError ? (err.details as { vm?: unknown } | undefined) : undefined,
    };
  }
}

export function DiskDriftWarning({ vm, onVm }: { vm: VmJson; onVm: (vm: VmJson) => void }) {
  const [busy, setBusy] = useState<"acknowledge" | "check" | null>(null);
  const [message, setMessage] = useState<{ tone: "ok" | "error"; text: string } | null>(null);
  const drift = vm.diskDrift;

  async function run(kind: "acknowledge" | "check") {
    setBusy(kind);
    setMessage(null);
    const r =
      kind === "acknowledge"
        ? await post(`/api/vms/${vm.id}/disk-drift/acknowledge`, { findings: drift?.findings ?? [] })
        : await post(`/api/vms/${vm.id}/disk-drift/check`);
    setBusy(null);
    if (r.vm) {
      onVm(r.vm);
      if (!r.vm.diskDrift)
        setMessage({ tone: "ok", text: "Checked again: the VM's disks match what its snapshots recorded." });
      else if (kind === "check") setMessage({ tone: "ok", text: "Checked again: the findings below are current." });
      return;
    }
    // A 409 from acknowledge carries the VM with the current findings: show them, to be reviewed anew.
    const current = vmJsonSchema.safeParse(r.details?.vm);
    if (current.success) onVm(current.data);
    setMessage({ tone: "error", text: r.error ?? "failed" });
  }

  if (!drift?.findings.length) {
    return message ? (
      <p role="status" className="text-sm text-emerald-700 dark:text-emerald-400">
        {message.text}
      </p>
    ) : null;
  }

  const reviewed = drift.acknowledged;
  return (
    <section
      aria-labelledby="disk-drift-heading"
      data-testid="disk-drift"
      data-acknowledged={reviewed}
      className={
        reviewed
          ? "rounded-lg border border-slate-200 bg-slate-50 p-4 text-sm text-slate-600 dark:border-slate-800 dark:bg-slate-900 dark:text-slate-400"
          : "rounded-lg border-2 border-red-400 bg-red-50 p-4 text-sm text-red-950 dark:border-red-700 dark:bg-red-950 dark:text-red-100"
      }
    >
      <h2 id="disk-drift-heading" className={reviewed ? "font-medium" : "text-base font-semibold"}>
        {reviewed ? "Disk drift reviewed" : "This VM's disks no longer match its snapshots"}
      </h2>
      {reviewed ? (
        <p className="mt-1">
          Reviewed: an operator went through these findings and allowed deletions again. A new finding pauses them
          again. Checked <RelativeTime iso={drift.checkedAt} />.
        </p>
      ) : (
        <p className="mt-1">
          Snapfleet compared the VM&apos;s disks with what its snapshots recorded (checked{" "}
          <RelativeTime iso={drift.checkedAt} />) and found:
        </p>
      )}
      <ul aria-label="Disk drift findings" className="mt-2 list-disc space-y-1 pl-5 break-words">
        {drift.findings.map((f) => (
          <li key={f}>{f}</li>
        ))}
      </ul>
      {!reviewed && (
        <p className="mt-2 font-medium">
          Deleting snapshots of this VM that hold disk state — by hand or by a schedule&apos;s retention — is paused
          until someone reviews these findings, so that nothing the VM now depends on is removed. Check the VM&apos;s
          disks, then confirm below.
        </p>
      )}
      <div className="mt-3 flex flex-wrap items-center gap-2">
        {!reviewed && (
          <button
            type="button"
            onClick={() => void run("acknowledge")}
            disabled={busy !== null}
            className="rounded-md bg-red-700 px-3 py-1.5 text-sm font-semibold text-white hover:bg-red-600 disabled:cursor-not-allowed disabled:opacity-50"
          >
            {busy === "acknowledge" ? "Confirming…" : "I reviewed this — allow deletions"}
          </button>
        )}
        <button
          type="button"
          onClick={() => void run("check")}
          disabled={busy !== null}
          className="rounded-md border border-slate-300 bg-white px-3 py-1.5 text-sm font-medium text-slate-800 hover:bg-slate-50 disabled:cursor-not-allowed disabled:opacity-50 dark:border-slate-700 dark:bg-slate-900 dark:text-slate-200 dark:hover:bg-slate-800"
        >
          {busy === "check" ? "Checking…" : "Check again"}
        </button>
      </div>
      {message && (
        <p
          role={message.tone === "error" ? "alert" : "status"}
          className={`mt-2 ${message.tone === "error" ? "font-medium text-red-800 dark:text-red-300" : ""}`}
        >
          {message.text}
        </p>
      )}
    </section>
  );
}

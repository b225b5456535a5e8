"use client";
// The VM page's live body: state (follows `vm:<id>`: QMP STOP/RESUME/SHUTDOWN show up without a
// reload), the disk drift warning (deletions paused until reviewed), the Snapshot now panel, capability
// warnings, disks, details and snapshot history.
// After a WebSocket reconnect the VM is re-read, since events sent meanwhile are not replayed.
import Link from "next/link";
import { useCallback, useState } from "react";
import { useCan } from "@/components/auth/identity-provider";
import { useTopic } from "@/components/realtime/realtime-provider";
import { RealtimeIndicator } from "@/components/realtime/realtime-indicator";
import { PauseExpectation } from "@/components/snapshots/pause-expectation";
import { SnapshotPanel } from "@/components/snapshots/snapshot-panel";
import { VmSnapshotHistory } from "@/components/snapshots/vm-snapshot-history";
import { RestoreDialog } from "@/components/restore/restore-dialog";
import { RestorePanel } from "@/components/restore/restore-panel";
import { vmJsonSchema, type VmJson } from "@/lib/fleet/vm-json";
import { apiFetch } from "@/lib/http/api-fetch";
import { formatBytes, formatDateTime } from "./format";
import { DiskDriftWarning } from "./disk-drift-warning";
import { GuestAttention } from "./guest-attention-panel";
import { QuiesceToggle } from "./quiesce-toggle";
import { RelativeTime } from "./relative-time";
import { StateChip } from "./state-chip";
import { VmTagEditor } from "./vm-tag-editor";
import { Callout } from "@/components/ui/callout";
import { DataTable } from "@/components/ui/data-table";
import { Panel } from "@/components/ui/panel";

export function VmView({ initialVm }: { initialVm: VmJson }) {
  const [vm, setVm] = useState(initialVm);
  /** The snapshot whose Restore was clicked: the confirmation is open. */
  const [restoring, setRestoring] = useState<string | null>(null);
  const canSnapshot = useCan("operator");

  const reload = useCallback(async () => {
    try {
      setVm(await apiFetch(`/api/vms/${initialVm.id}`, { schema: vmJsonSchema }));
    } catch {
      // Keep what we show; the next event or reconnect refreshes it.
    }
  }, [initialVm.id]);

  useTopic(
    `vm:${initialVm.id}`,
    (_name, payload) => {
      const parsed = vmJsonSchema.safeParse(payload);
      if (parsed.success && parsed.data.id === initialVm.id) setVm((old) => ({ ...old, ...parsed.data }));
    },
    { onReconnect: () => void reload() },
  );

  return (
    <div className="space-y-6">
      <div>
        <nav aria-label="Breadcrumb" className="text-xs text-slate-500 dark:text-slate-400">
          <Link href="/fleet" className="hover:underline">
            Fleet
          </Link>{" "}
          /{" "}
          <Link href={`/fleet?hostId=${vm.hostId}`} className="hover:underline">
            {vm.hostName}
          </Link>
        </nav>
        <div className="mt-1 flex flex-wrap items-center gap-3">
          <h1 className="text-2xl font-semibold tracking-tight">{vm.name}</h1>
          <StateChip state={vm.state} reason={vm.stateReason} large />
          <RealtimeIndicator />
        </div>
        {vm.stateReason && <p className="mt-1 text-sm text-slate-600 dark:text-slate-400">{vm.stateReason}</p>}
      </div>

      <GuestAttention vm={vm} onVm={setVm} />
      <DiskDriftWarning vm={vm} onVm={setVm} />
      {restoring && (
        <RestoreDialog snapshotId={restoring} onClose={() => setRestoring(null)} onStarted={() => undefined} />
      )}

      <div className="grid gap-6 lg:grid-cols-3">
        <div className="space-y-6 lg:col-span-2">
          {canSnapshot ? (
            <SnapshotPanel vm={vm} />
          ) : (
            <p className="rounded-lg border border-slate-200 bg-white p-4 text-sm text-slate-600 dark:border-slate-800 dark:bg-slate-900 dark:text-slate-400">
              Your role can follow this VM&apos;s snapshots but not take them: an operator or an admin can.
            </p>
          )}
          <RestorePanel vmId={vm.id} />
          <PauseExpectation vmId={vm.id} state={vm.state} />
          <CapabilityWarnings vm={vm} />
          <DisksTable vm={vm} />
          <VmSnapshotHistory vmId={vm.id} onDeleteRefused={reload} onRestore={canSnapshot ? setRestoring : undefined} />
        </div>
        <Details vm={vm} onVm={setVm} />
      </div>
    </div>
  );
}

function CapabilityWarnings({ vm }: { vm: VmJson }) {
  if (vm.state === "gone") {
    return (
      <Callout tone="info" size="roomy" role="note" title="This VM is gone from its host.">
        <p className="mt-1">
          Its monitor socket vanished {vm.goneAt ? `at ${formatDateTime(vm.goneAt)}` : ""}. Its snapshot history is
          kept; if the VM comes back (same socket, or the same QEMU UUID), it is revived here.
        </p>
      </Callout>
    );
  }
  if (vm.bgSnapshotSupported || !vm.qemuVersion) return null;
  const reasons = (vm.bgSnapshotBlocker ?? "unknown reason").split("; ");
  return (
    <Callout
      tone="warning"
      size="roomy"
      role="note"
      aria-label="Capability warning"
      title="Live snapshots are not possible for this VM"
    >
      <p className="mt-1">QEMU&apos;s background snapshot (the guest keeps running while RAM is saved) is blocked:</p>
      <ul className="mt-1 list-disc pl-5">
        {reasons.map((r) => (
          <li key={r}>{r}</li>
        ))}
      </ul>
    </Callout>
  );
}

function DisksTable({ vm }: { vm: VmJson }) {
  return (
    <section aria-labelledby="disks-heading" className="space-y-2">
      <h2 id="disks-heading" className="text-base font-semibold">
        Disks
      </h2>
      {vm.disks.length === 0 ? (
        <p className="text-sm text-slate-500 dark:text-slate-400">No disks with media (RAM-only snapshots).</p>
      ) : (
        <DataTable
          columns={[
            { label: "Device" },
            { label: "Node" },
            { label: "Format" },
            { label: "File" },
            { label: "Size", align: "right" },
            { label: "Access" },
          ]}
        >
          {vm.disks.map((d) => (
            <tr key={d.node}>
              <td className="px-3 py-1.5 font-medium">{d.device}</td>
              <td className="px-3 py-1.5 font-mono text-xs">{d.node}</td>
              <td className="px-3 py-1.5">{d.format}</td>
              <td className="max-w-80 truncate px-3 py-1.5 font-mono text-xs" title={d.file}>
                {d.file}
              </td>
              <td className="px-3 py-1.5 text-right tabular-nums">{formatBytes(d.sizeBytes)}</td>
              <td className="px-3 py-1.5">
                {d.writable ? "read-write" : <span className="text-slate-500">read-only</span>}
              </td>
            </tr>
          ))}
        </DataTable>
      )}
    </section>
  );
}

function Details({ vm, onVm }: { vm: VmJson; onVm: (vm: VmJson) => void }) {
  const rows: Array<[string, React.ReactNode]> = [
    [
      "Host",
      <Link key="h" href={`/fleet?hostId=${vm.hostId}`} className="text-sky-700 hover:underline dark:text-sky-400">
        {vm.hostName}
      </Link>,
    ],
    ["UUID", vm.uuid ? <span className="font-mono text-xs">{vm.uuid}</span> : "—"],
    [
      "Monitor",
      <span key="e" className="break-all font-mono text-xs">
        {vm.endpoint}
      </span>,
    ],
    ["QEMU", vm.qemuVersion ?? "—"],
    ["Memory", formatBytes(vm.memoryBytes)],
    [
      "Live snapshot",
      vm.hostModeBlockers?.live
        ? `not offered on this ${vm.hostKind ?? ""} host (disks-only only)`
        : vm.bgSnapshotSupported
          ? vm.diskSnapshotBlocker
            ? "ram-only (a disk is not qcow2)"
            : "supported"
          : "not possible",
    ],
    ["Last seen", <RelativeTime key="s" iso={vm.lastSeenAt} fallback="never" />],
    ["Next scheduled", <RelativeTime key="n" iso={vm.nextScheduledAt ?? null} fallback="not scheduled" />],
    ["Tags", <VmTagEditor key="t" vm={vm} onVm={onVm} />],
    ["Quiesce", <QuiesceToggle key="q" vm={vm} onVm={onVm} />],
  ];
  if (vm.goneAt) rows.push(["Gone since", formatDateTime(vm.goneAt)]);
  return (
    <Panel headingId="details-heading" title="Details" fit titleGap>
      <dl className="grid grid-cols-[auto_1fr] gap-x-4 gap-y-2 text-sm">
        {rows.map(([label, value]) => (
          <div key={label} className="contents">
            <dt className="text-slate-500 dark:text-slate-400">{label}</dt>
            <dd className="min-w-0">{value}</dd>
          </div>
        ))}
      </dl>
    </Panel>
  );
}

// The host storage page's body (server-rendered): the warning when the next scheduled snapshots would
// not fit, free and used space, the space per VM with each VM's estimate for its next RAM snapshot, and
// the scheduled firings counted in the forecast.
import Link from "next/link";
import { formatBytes, formatDateTime } from "@/components/fleet/format";
import { Callout } from "@/components/ui/callout";
import { DataTable } from "@/components/ui/data-table";
import type { HostStorageJson } from "@/lib/fleet/host-storage-json";

const BASIS: Record<string, string> = {
  "last-snapshot": "last RAM snapshot",
  "guest-ram": "guest RAM (no snapshot yet)",
};
const card = "rounded-lg border border-slate-200 bg-white p-4 dark:border-slate-800 dark:bg-slate-900";

export function HostStorageView({ storage }: { storage: HostStorageJson }) {
  const { forecast } = storage;
  return (
    <div className="space-y-6">
      {forecast.warning && (
        <Callout
          tone="warning"
          size="roomy"
          role="alert"
          data-testid="storage-warning"
          title="The next scheduled snapshots will not fit"
        >
          <p className="mt-1">{forecast.warning}.</p>
        </Callout>
      )}
      <dl className="grid gap-4 sm:grid-cols-3">
        <div className={card}>
          <dt className="text-xs text-slate-500 dark:text-slate-400">Free in the snapshot directory</dt>
          <dd data-testid="storage-free" className="mt-1 text-xl font-semibold tabular-nums">
            {storage.freeBytes === null ? "unknown" : formatBytes(storage.freeBytes)}
          </dd>
          {storage.freeError && <p className="mt-1 text-xs text-red-700 dark:text-red-400">{storage.freeError}</p>}
        </div>
        <div className={card}>
          <dt className="text-xs text-slate-500 dark:text-slate-400">Used by {storage.snapshotCount} snapshots</dt>
          <dd data-testid="storage-used" className="mt-1 text-xl font-semibold tabular-nums">
            {formatBytes(storage.usedBytes)}
          </dd>
          <p className="mt-1 text-xs text-slate-500 dark:text-slate-400">
            vmstate files; disk states live inside the VMs&apos; qcow2 images
          </p>
        </div>
        <div className={card}>
          <dt className="text-xs text-slate-500 dark:text-slate-400">
            Needed by the next {forecast.hours} h of schedules
          </dt>
          <dd data-testid="storage-forecast" className="mt-1 text-xl font-semibold tabular-nums">
            {formatBytes(forecast.totalBytes)}
          </dd>
          <p className="mt-1 text-xs text-slate-500 dark:text-slate-400">
            {forecast.firings.length} firing{forecast.firings.length === 1 ? "" : "s"}, before retention prunes anything
          </p>
        </div>
      </dl>

      <section aria-labelledby="per-vm-heading" className="space-y-2">
        <h2 id="per-vm-heading" className="text-base font-semibold">
          Space per VM
        </h2>
        {storage.vms.length === 0 ? (
          <p className="text-sm text-slate-500 dark:text-slate-400">No VMs on this host.</p>
        ) : (
          <DataTable
            columns={[
              { label: "VM" },
              { label: "State" },
              { label: "Snapshots", align: "right" },
              { label: "Used", align: "right" },
              { label: "Next RAM snapshot ≈", align: "right" },
            ]}
          >
            {storage.vms.map((v) => (
              <tr key={v.vmId} data-testid="storage-vm" data-vm-name={v.vmName}>
                <td className="px-3 py-1.5">
                  <Link href={`/vms/${v.vmId}`} className="font-medium text-sky-700 hover:underline dark:text-sky-400">
                    {v.vmName}
                  </Link>
                </td>
                <td className="px-3 py-1.5">{v.state}</td>
                <td className="px-3 py-1.5 text-right tabular-nums">{v.snapshotCount}</td>
                <td className="px-3 py-1.5 text-right tabular-nums">{formatBytes(v.usedBytes)}</td>
                <td
                  className="px-3 py-1.5 text-right tabular-nums"
                  title={v.estimateBasis ? `from its ${BASIS[v.estimateBasis]}` : undefined}
                >
                  {v.estimateBytes === null ? "—" : formatBytes(v.estimateBytes)}
                </td>
              </tr>
            ))}
          </DataTable>
        )}
      </section>

      <section aria-labelledby="firings-heading" className="space-y-2">
        <h2 id="firings-heading" className="text-base font-semibold">
          Scheduled in the next {forecast.hours} h
        </h2>
        {forecast.firings.length === 0 ? (
          <p className="text-sm text-slate-500 dark:text-slate-400">
            No enabled schedule fires for this host&apos;s VMs in that window.
          </p>
        ) : (
          <DataTable
            columns={[
              { label: "When" },
              { label: "Schedule" },
              { label: "Mode" },
              { label: "VMs", align: "right" },
              { label: "Needs ≈", align: "right" },
            ]}
          >
            {forecast.firings.map((f) => (
              <tr key={`${f.scheduleId}-${f.at}`}>
                <td className="whitespace-nowrap px-3 py-1.5">{formatDateTime(f.at)}</td>
                <td className="px-3 py-1.5">
                  <Link href={`/schedules/${f.scheduleId}`} className="text-sky-700 hover:underline dark:text-sky-400">
                    {f.scheduleName}
                  </Link>
                </td>
                <td className="px-3 py-1.5">{f.mode}</td>
                <td className="px-3 py-1.5 text-right tabular-nums">{f.vmCount}</td>
                <td className="px-3 py-1.5 text-right tabular-nums">{formatBytes(f.estimateBytes)}</td>
              </tr>
            ))}
          </DataTable>
        )}
      </section>
    </div>
  );
}

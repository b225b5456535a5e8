// The cells every snapshot table shows alike: mode, status (the failure as its tooltip), guest pause
// and duration, in that order.
import type { SnapshotJson } from "@/lib/snapshots/snapshot-json";
import { durationMs, formatMs } from "./snapshot-format";
import { SnapshotStatusChip } from "./snapshot-status-chip";

export function SnapshotOutcomeCells({ s }: { s: SnapshotJson }) {
  return (
    <>
      <td className="px-3 py-1.5">{s.mode}</td>
      <td className="px-3 py-1.5">
        <SnapshotStatusChip status={s.status} title={s.error?.message} />
      </td>
      <td className="px-3 py-1.5 text-right tabular-nums">{formatMs(s.guestPauseMs)}</td>
      <td className="px-3 py-1.5 text-right tabular-nums">{formatMs(durationMs(s))}</td>
    </>
  );
}

// `snapfleet restore <snapshot>`: rolls the snapshot's VM back to it (POST /api/snapshots/{id}/restore;
// lib/restore). It discards the guest's state since the snapshot, so it asks first: on a terminal it
// shows the dashboard's plan (guest time lost, cold boot or RAM state) and waits for "y"; elsewhere it
// needs --yes. A refusal (a manager owns the VM, a remote host…) prints the dashboard's reason and the
// commands it suggests (exit 3). --wait follows the restore to its end like `snapshot --wait`.
import type { RestoreJson, RollbackPlanJson } from "../../restore/restore-json";
import { parseFlags, UsageError } from "../args";
import { EXIT } from "../exit-codes";
import { formatDuration, shortId } from "../format";
import { createProgressPrinter } from "../progress";
import { promptLine } from "../prompt";
import { resolveSnapshotId } from "../resolve";
import { printJson, printUsage, wantsHelp, type VerbContext } from "./context";
import { follow } from "./follow";

export const RESTORE_USAGE = `Usage: snapfleet restore <snapshot> [--yes] [--wait] [--json]
  Rolls the snapshot's VM back to it; a safety snapshot of the current disks is taken first (restore it
  to undo). <snapshot>: an id, a short id, or <vm>@latest.
  --yes   do not ask (required when stdin is not a terminal)
  --wait  follow the restore to its end; exit 0 when it completed, 1 when it failed`;

function describePlan(p: RollbackPlanJson): string {
  const what = p.coldBoot
    ? "it boots from the snapshot's disks (a disks-only snapshot holds no RAM)"
    : "its RAM and disks return to the snapshot's instant";
  const lost = `about ${formatDuration(p.lostGuestMs)} of guest time since the snapshot is lost`;
  const newer = p.newerSnapshots ? `; ${p.newerSnapshots} newer snapshot${p.newerSnapshots === 1 ? "" : "s"} stay` : "";
  return `Roll ${p.vmName} back to snapshot ${shortId(p.snapshotId)}: ${what}, ${lost}${newer}.`;
}

export async function runRestore(args: string[], ctx: VerbContext): Promise<number> {
  if (wantsHelp(args)) return printUsage(ctx, RESTORE_USAGE);
  const flags = parseFlags(args, { boolean: ["yes", "wait", "json"] });
  if (flags.positional.length !== 1) throw new UsageError(`restore needs exactly one snapshot\n${RESTORE_USAGE}`);
  const json = flags.set.has("json");
  const client = await ctx.client();
  const snapshotId = await resolveSnapshotId(client, flags.positional[0]!);
  if (!flags.set.has("yes")) {
    if (!ctx.interactive)
      throw new UsageError(
        "restore discards the VM's state since the snapshot: pass --yes to confirm when stdin is not a terminal",
      );
    const plan = await client.get<RollbackPlanJson>(`/api/snapshots/${snapshotId}/restore`);
    ctx.io.stderr.write(`${describePlan(plan)}\n${plan.warnings.map((w) => `  ${w}\n`).join("")}`);
    if (!/^y(es)?$/i.test((await promptLine("Proceed? [y/N] ")).trim())) {
      ctx.io.stderr.write("nothing done\n");
      return EXIT.refused;
    }
  }
  const { restore } = await client.post<{ restore: RestoreJson }>(`/api/snapshots/${snapshotId}/restore`);
  if (!flags.set.has("wait")) {
    if (json) printJson(ctx, { restore });
    else {
      ctx.io.stdout.write(`${restore.id}\n`);
      ctx.io.stderr.write(
        `rolling ${restore.vmName} back to snapshot ${shortId(snapshotId)} (restore ${restore.id} queued)\n`,
      );
    }
    return EXIT.done;
  }
  const started = Date.now();
  const ended = await follow({
    read: () => client.get<RestoreJson>(`/api/restores/${restore.id}`),
    view: (r) => ({ status: r.status, progress: null, elapsedMs: Date.now() - started }),
    ended: (r) => r.status === "completed" || r.status === "failed",
    printer: json ? undefined : createProgressPrinter(ctx.io.stdout, ctx.tty),
    intervalMs: ctx.pollIntervalMs,
    interrupted: ctx.io.interrupted,
  });
  if (ended === "interrupted") {
    ctx.io.stderr.write(`stopped waiting; restore ${restore.id} goes on\n`);
    return EXIT.interrupted;
  }
  if (json) printJson(ctx, { restore: ended });
  else if (ended.status === "completed") {
    const undo = ended.safetySnapshotId
      ? `; to undo, restore the safety snapshot ${shortId(ended.safetySnapshotId)}`
      : "";
    ctx.io.stdout.write(`completed: ${ended.vmName} rolled back to snapshot ${shortId(ended.snapshotId)}${undo}\n`);
  } else {
    ctx.io.stdout.write(
      `failed: restore ${ended.id} of ${ended.vmName}${ended.error ? `: ${ended.error.class}: ${ended.error.message}` : ""}\n`,
    );
  }
  return ended.status === "completed" ? EXIT.done : EXIT.failed;
}

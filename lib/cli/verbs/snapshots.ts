// `snapfleet snapshot <vm>` (take one; --wait follows it to its end with a progress bar or plain lines)
// and `snapfleet snapshots list|show|delete`. Without --wait the new snapshot's id is the only thing on
// stdout (`ID=$(snapfleet snapshot web-01)`); with --json every form prints one JSON document — with
// --wait, the ended snapshot and no progress. A snapshot that ends failed or cancelled exits 1.
import type { SnapshotJson, SnapshotListJson } from "../../snapshots/snapshot-json";
import { SNAPSHOT_MODES } from "../../validations/snapshot";
import { parseFlags, UsageError } from "../args";
import { CliError, EXIT } from "../exit-codes";
import { formatBytes, formatDuration, formatTime, shortId, table } from "../format";
import { createProgressPrinter } from "../progress";
import { resolveHost, resolveSnapshotId, resolveVm } from "../resolve";
import { printJson, printUsage, wantsHelp, type VerbContext } from "./context";
import { follow } from "./follow";

export const SNAPSHOT_USAGE = `Usage: snapfleet snapshot <vm> [--mode live|ram-only|disks-only] [--note <text>] [--wait] [--json]
  <vm> is a VM's name, <host>/<name> or id. Default mode: live (RAM and disks, guest keeps running).
  --wait  follow the snapshot to its end: a progress bar on a terminal, plain "status=… progress=…"
          lines otherwise; exit 0 when it completed, 1 when it failed or was cancelled.`;

export const SNAPSHOTS_USAGE = `Usage: snapfleet snapshots list [--vm <vm>] [--host <host>] [--status completed,failed,…] [--limit 50] [--json]
       snapfleet snapshots show <snapshot> [--json]
       snapfleet snapshots delete <snapshot> [--json]
  <snapshot> is an id, the short id "snapshots list" prints, or <vm>@latest (its newest completed one).`;

const ENDED = new Set(["completed", "failed", "cancelled"]);

function describeEnd(s: SnapshotJson): string {
  if (s.status === "completed") {
    const parts = [
      `${s.mode}`,
      s.sizeBytes !== null ? formatBytes(s.sizeBytes) : null,
      s.totalMs !== null ? `in ${formatDuration(s.totalMs)}` : null,
    ];
    const pause = s.guestPauseMs !== null ? `, guest paused ${formatDuration(s.guestPauseMs)}` : "";
    return `completed: snapshot ${s.id} of ${s.vmName} (${parts.filter(Boolean).join(", ")}${pause})`;
  }
  const why = s.error ? `: ${s.error.class}: ${s.error.message}` : "";
  return `${s.status}: snapshot ${s.id} of ${s.vmName}${why}`;
}

export async function runSnapshot(args: string[], ctx: VerbContext): Promise<number> {
  if (wantsHelp(args)) return printUsage(ctx, SNAPSHOT_USAGE);
  const flags = parseFlags(args, { valued: ["mode", "note"], boolean: ["wait", "json"] });
  if (flags.positional.length !== 1) throw new UsageError(`snapshot needs exactly one VM\n${SNAPSHOT_USAGE}`);
  const mode = flags.values.mode ?? "live";
  if (!(SNAPSHOT_MODES as readonly string[]).includes(mode))
    throw new UsageError(`--mode must be one of ${SNAPSHOT_MODES.join(", ")}, not "${mode}"`);
  const json = flags.set.has("json");
  const client = await ctx.client();
  const vm = await resolveVm(client, flags.positional[0]!);
  const { snapshot } = await client.post<{ snapshot: SnapshotJson }>(`/api/vms/${vm.id}/snapshots`, {
    mode,
    ...(flags.values.note ? { note: flags.values.note } : {}),
  });
  if (!flags.set.has("wait")) {
    if (json) printJson(ctx, { snapshot });
    else {
      ctx.io.stdout.write(`${snapshot.id}\n`);
      ctx.io.stderr.write(
        `queued a ${mode} snapshot of ${vm.hostName}/${vm.name}; follow it: snapfleet snapshots show ${shortId(snapshot.id)}\n`,
      );
    }
    return EXIT.done;
  }
  const ended = await follow({
    read: () => client.get<SnapshotJson>(`/api/snapshots/${snapshot.id}`),
    view: (s) => ({
      status: s.status,
      progress: s.status === "completed" ? 1 : s.status === "active" ? s.progress : 0,
      transferredBytes: s.ramTransferredBytes,
      totalBytes: s.ramTotalBytes,
      bytesPerSec: s.status === "active" ? s.throughputBytesPerSec : null,
    }),
    ended: (s) => ENDED.has(s.status),
    printer: json ? undefined : createProgressPrinter(ctx.io.stdout, ctx.tty),
    intervalMs: ctx.pollIntervalMs,
    interrupted: ctx.io.interrupted,
  });
  if (ended === "interrupted") {
    ctx.io.stderr.write(
      `stopped waiting; snapshot ${snapshot.id} goes on (snapfleet snapshots show ${shortId(snapshot.id)})\n`,
    );
    return EXIT.interrupted;
  }
  if (json) printJson(ctx, { snapshot: ended });
  else ctx.io.stdout.write(`${describeEnd(ended)}\n`);
  return ended.status === "completed" ? EXIT.done : EXIT.failed;
}

export async function runSnapshots(args: string[], ctx: VerbContext): Promise<number> {
  const [action, ...rest] = args;
  if (action === undefined || wantsHelp(args)) {
    ctx.io.stdout.write(`${SNAPSHOTS_USAGE}\n`);
    return action === undefined ? EXIT.usage : EXIT.done;
  }
  switch (action) {
    case "list":
      return snapshotsList(rest, ctx);
    case "show":
      return snapshotsShow(rest, ctx);
    case "delete":
      return snapshotsDelete(rest, ctx);
    default:
      throw new UsageError(`unknown snapshots action "${action}"\n${SNAPSHOTS_USAGE}`);
  }
}

function statusOf(s: SnapshotJson): string {
  if (s.deletedAt) return "deleted";
  if (s.deletion) return "deleting";
  return s.status;
}

async function snapshotsList(args: string[], ctx: VerbContext): Promise<number> {
  const flags = parseFlags(args, { valued: ["vm", "host", "status", "limit"], boolean: ["json"] });
  if (flags.positional.length) throw new UsageError(`snapshots list takes no arguments\n${SNAPSHOTS_USAGE}`);
  const limit = flags.values.limit ?? "50";
  if (!/^\d+$/.test(limit) || Number(limit) < 1 || Number(limit) > 200)
    throw new UsageError("--limit must be a number from 1 to 200");
  const client = await ctx.client();
  const vmId = flags.values.vm === undefined ? undefined : (await resolveVm(client, flags.values.vm)).id;
  const hostId = flags.values.host === undefined ? undefined : (await resolveHost(client, flags.values.host)).id;
  const body = await client.get<SnapshotListJson>("/api/snapshots", {
    vmId,
    hostId,
    status: flags.values.status,
    limit,
  });
  if (flags.set.has("json")) {
    printJson(ctx, body);
    return EXIT.done;
  }
  const rows = body.snapshots.map((s) => [
    shortId(s.id),
    `${s.hostName}/${s.vmName}`,
    s.mode,
    statusOf(s),
    formatTime(s.createdAt),
    formatBytes(s.sizeBytes),
    formatDuration(s.guestPauseMs),
    s.note ?? "",
  ]);
  ctx.io.stdout.write(table(["ID", "VM", "MODE", "STATUS", "CREATED (UTC)", "SIZE", "PAUSE", "NOTE"], rows));
  if (body.nextCursor)
    ctx.io.stderr.write(
      `(newest ${body.snapshots.length} shown; --limit up to 200, or --json and the API's cursor for more)\n`,
    );
  return EXIT.done;
}

/** `snapshots <action> <snapshot> [--json]`: the flags, the API client and the snapshot's id. */
async function oneSnapshot(action: string, args: string[], ctx: VerbContext) {
  const flags = parseFlags(args, { boolean: ["json"] });
  if (flags.positional.length !== 1)
    throw new UsageError(`snapshots ${action} needs exactly one snapshot\n${SNAPSHOTS_USAGE}`);
  const client = await ctx.client();
  return { flags, client, id: await resolveSnapshotId(client, flags.positional[0]!) };
}

async function snapshotsShow(args: string[], ctx: VerbContext): Promise<number> {
  const { flags, client, id } = await oneSnapshot("show", args, ctx);
  const s = await client.get<SnapshotJson>(`/api/snapshots/${id}`);
  if (flags.set.has("json")) {
    printJson(ctx, s);
    return EXIT.done;
  }
  const lines: Array<[string, string]> = [
    ["id", s.id],
    ["vm", `${s.hostName}/${s.vmName} (${s.vmId})`],
    ["mode", s.mode],
    ["status", statusOf(s)],
    ["progress", `${Math.round(s.progress * 100)}%`],
    ["created", `${formatTime(s.createdAt)} UTC`],
    ["finished", s.finishedAt ? `${formatTime(s.finishedAt)} UTC` : "-"],
    ["size", formatBytes(s.sizeBytes)],
    ["guest pause", formatDuration(s.guestPauseMs)],
    ["total time", formatDuration(s.totalMs)],
    ["note", s.note ?? "-"],
  ];
  if (s.error) lines.push(["error", `${s.error.class}: ${s.error.message}`]);
  if (s.deletion?.error) lines.push(["deletion", s.deletion.error]);
  for (const f of s.files)
    lines.push([f.role, `${f.path}${f.internalSnapshot ? ` (internal snapshot ${f.internalSnapshot})` : ""}`]);
  ctx.io.stdout.write(lines.map(([k, v]) => `${k.padEnd(12)} ${v}`).join("\n") + "\n");
  return EXIT.done;
}

async function snapshotsDelete(args: string[], ctx: VerbContext): Promise<number> {
  const { flags, client, id } = await oneSnapshot("delete", args, ctx);
  const { snapshot } = await client.delete<{ snapshot: SnapshotJson }>(`/api/snapshots/${id}`);
  if (flags.set.has("json")) printJson(ctx, { snapshot });
  else if (snapshot.deletedAt)
    ctx.io.stdout.write(`deleted snapshot ${snapshot.id} of ${snapshot.hostName}/${snapshot.vmName}\n`);
  if (!snapshot.deletedAt) {
    // The dashboard keeps a stopped deletion's journal and says why; it is not done.
    throw new CliError(
      EXIT.failed,
      `the deletion of snapshot ${snapshot.id} stopped: ${snapshot.deletion?.error ?? "unknown reason"}`,
    );
  }
  return EXIT.done;
}

// `snapfleet schedules list|run`: the schedules with their next and last runs, and "run now" — a
// manual run through the same fan-out, limits and busy policy as a scheduled one (POST
// /api/schedules/{id}/run). The run's snapshots are then ordinary snapshots (snapshots list).
import type { CreatedRun } from "../../scheduler/runs";
import type { ScheduleView } from "../../scheduler/service";
import { parseFlags, UsageError } from "../args";
import { EXIT } from "../exit-codes";
import { formatTime, shortId, table } from "../format";
import { resolveSchedule } from "../resolve";
import { listOrPrintJson, printJson, wantsHelp, type VerbContext } from "./context";

export const SCHEDULES_USAGE = `Usage: snapfleet schedules list [--json]
       snapfleet schedules run <schedule> [--json]     run it now (operator); <schedule>: name, id or short id`;

type RunJson = Omit<CreatedRun, "scheduledFor" | "firedAt"> & { scheduledFor: string; firedAt: string };

export async function runSchedules(args: string[], ctx: VerbContext): Promise<number> {
  const [action, ...rest] = args;
  if (action === undefined || wantsHelp(args)) {
    ctx.io.stdout.write(`${SCHEDULES_USAGE}\n`);
    return action === undefined ? EXIT.usage : EXIT.done;
  }
  if (action === "list") {
    const body = await listOrPrintJson<{ schedules: ScheduleView[] }>(
      "schedules list",
      SCHEDULES_USAGE,
      rest,
      ctx,
      "/api/schedules",
    );
    if (!body) return EXIT.done;
    const rows = body.schedules.map((s) => [
      s.name,
      s.enabled ? "yes" : "no",
      `${s.cron} (${s.timezone})`,
      s.mode,
      s.targetSummary,
      formatTime(s.nextRunAt),
      s.lastRun ? `${s.lastRun.status} ${formatTime(s.lastRun.firedAt)}` : "-",
      shortId(s.id),
    ]);
    ctx.io.stdout.write(
      table(["NAME", "ENABLED", "CRON", "MODE", "TARGETS", "NEXT RUN (UTC)", "LAST RUN", "ID"], rows),
    );
    return EXIT.done;
  }
  if (action === "run") {
    const flags = parseFlags(rest, { boolean: ["json"] });
    if (flags.positional.length !== 1)
      throw new UsageError(`schedules run needs exactly one schedule\n${SCHEDULES_USAGE}`);
    const client = await ctx.client();
    const schedule = await resolveSchedule(client, flags.positional[0]!);
    const { run } = await client.post<{ run: RunJson }>(`/api/schedules/${schedule.id}/run`);
    if (flags.set.has("json")) printJson(ctx, { run });
    else {
      const what =
        run.status === "skipped"
          ? "skipped (nothing to do now)"
          : `started: ${run.vmCount} VM${run.vmCount === 1 ? "" : "s"}`;
      ctx.io.stdout.write(`run ${run.id} of schedule ${schedule.name} ${what}\n`);
    }
    return EXIT.done;
  }
  throw new UsageError(`unknown schedules action "${action}"\n${SCHEDULES_USAGE}`);
}

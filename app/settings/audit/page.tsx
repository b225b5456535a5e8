// /settings/audit — the audit log for admins (route-rules.ts ADMIN_PAGE_PREFIXES), filtered by the
// query string: actor, action (prefix), targetType, targetId, outcome, from, to; newest first.
import type { Metadata } from "next";
import Link from "next/link";
import { listAudit } from "@/lib/auth/audit";
import { auditQuerySchema } from "@/lib/validations/auth";

export const metadata: Metadata = { title: "Audit log" };
export const dynamic = "force-dynamic";

const input = "rounded-md border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-900";

export default async function AuditPage({
  searchParams,
}: {
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const raw = Object.fromEntries(
    Object.entries(await searchParams).flatMap(([k, v]) => (typeof v === "string" && v !== "" ? [[k, v]] : [])),
  );
  const parsed = auditQuerySchema.safeParse(raw);
  const q = parsed.success ? parsed.data : {};
  const { cursor, ...filters } = q as typeof q & { cursor?: string };
  const { events, nextCursor } = await listAudit({ ...filters, before: cursor ? BigInt(cursor) : undefined });
  const nextHref = nextCursor ? `?${new URLSearchParams({ ...raw, cursor: nextCursor }).toString()}` : null;
  return (
    <div className="space-y-4">
      <h1 className="text-xl font-semibold">Audit log</h1>
      <form className="flex flex-wrap items-end gap-2" method="get">
        <FilterInput name="actor" label="who" placeholder="who" raw={raw} />
        <FilterInput name="action" label="action" placeholder="action (e.g. snapshot.)" raw={raw} />
        <select className={input} name="targetType" defaultValue={raw.targetType ?? ""} aria-label="object type">
          <option value="">any object</option>
          {["host", "vm", "snapshot", "schedule", "user", "token", "webhook"].map((t) => (
            <option key={t}>{t}</option>
          ))}
        </select>
        <FilterInput name="targetId" label="object id" placeholder="object id" raw={raw} />
        <select className={input} name="outcome" defaultValue={raw.outcome ?? ""} aria-label="result">
          <option value="">any result</option>
          <option value="ok">succeeded</option>
          <option value="failed">refused or failed</option>
        </select>
        <FilterInput name="from" label="from" type="datetime-local" raw={raw} />
        <FilterInput name="to" label="to" type="datetime-local" raw={raw} />
        <button className="rounded-md bg-sky-600 px-3 py-1 text-sm text-white" type="submit">
          Filter
        </button>
      </form>
      {!parsed.success && <p className="text-sm text-red-700">Some filters were not understood and are ignored.</p>}
      <table className="w-full text-left text-sm">
        <thead>
          <tr className="border-b border-slate-200 text-slate-500 dark:border-slate-800">
            <th className="py-2">When</th>
            <th>Who</th>
            <th>Action</th>
            <th>Object</th>
            <th>From</th>
            <th>Result</th>
          </tr>
        </thead>
        <tbody>
          {events.map((e) => (
            <tr key={e.id} className="border-b border-slate-100 dark:border-slate-800">
              <td className="py-1.5 whitespace-nowrap">
                {new Date(e.at).toISOString().replace("T", " ").slice(0, 19)}
              </td>
              <td>
                {e.actorName ?? e.actorType} {e.role && <span className="text-xs text-slate-500">({e.role})</span>}
              </td>
              <td>
                <code>{e.action}</code>
              </td>
              <td>{e.targetType ? `${e.targetType} ${e.targetId?.slice(0, 8)}` : "—"}</td>
              <td>{e.ip ?? "—"}</td>
              <td className={e.status >= 400 ? "text-red-700 dark:text-red-400" : ""}>
                {e.status}
                {e.error ? ` ${e.error}` : ""}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {events.length === 0 && <p className="text-sm text-slate-600">No entries match.</p>}
      {nextHref && (
        <Link href={nextHref} className="text-sm text-sky-700 underline">
          Older entries
        </Link>
      )}
    </div>
  );
}

/** One query-string filter of the form, showing the value the page was opened with. */
function FilterInput({
  label,
  raw,
  ...attrs
}: {
  name: string;
  label: string;
  placeholder?: string;
  type?: "datetime-local";
  raw: Record<string, string>;
}) {
  return <input className={input} {...attrs} defaultValue={raw[attrs.name]} aria-label={label} />;
}

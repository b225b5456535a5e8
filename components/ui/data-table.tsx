// The bordered, horizontally scrollable table used for lists across the dashboard: one header row of
// column labels, rows supplied by the caller. A column with `srOnly` has a label for screen readers only.
// A keyset-paged table puts LoadMoreButton under it while the server gave a next cursor.
import type { ReactNode } from "react";

export interface DataTableColumn {
  label: string;
  align?: "right";
  srOnly?: boolean;
}

export function DataTable({ columns, children }: { columns: DataTableColumn[]; children: ReactNode }) {
  return (
    <div className="overflow-x-auto rounded-lg border border-slate-200 bg-white dark:border-slate-800 dark:bg-slate-900">
      <table className="min-w-full text-sm">
        <thead className="border-b border-slate-200 bg-slate-50 text-left text-xs font-medium uppercase tracking-wide text-slate-500 dark:border-slate-800 dark:bg-slate-900/60 dark:text-slate-400">
          <tr>
            {columns.map((c) => (
              <th key={c.label} scope="col" className={c.align === "right" ? "px-3 py-2 text-right" : "px-3 py-2"}>
                {c.srOnly ? <span className="sr-only">{c.label}</span> : c.label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody className="divide-y divide-slate-100 dark:divide-slate-800">{children}</tbody>
      </table>
    </div>
  );
}

export function LoadMoreButton({ onClick }: { onClick: () => void }) {
  return (
    <button type="button" onClick={onClick} className="text-sm text-sky-700 hover:underline dark:text-sky-400">
      Load more
    </button>
  );
}

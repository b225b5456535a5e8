// An empty state that tells the user what to do next, with an optional call to action.
import Link from "next/link";
import type { ReactNode } from "react";

export function EmptyState({
  title,
  children,
  action,
}: {
  title: string;
  children: ReactNode;
  action?: { href: string; label: string };
}) {
  return (
    <div className="rounded-xl border border-dashed border-slate-300 bg-white px-6 py-12 text-center dark:border-slate-700 dark:bg-slate-900">
      <h2 className="text-base font-semibold">{title}</h2>
      <p className="mx-auto mt-2 max-w-prose text-sm text-slate-600 dark:text-slate-400">{children}</p>
      {action && (
        <Link
          href={action.href}
          className="mt-5 inline-flex rounded-md bg-sky-600 px-4 py-2 text-sm font-medium text-white hover:bg-sky-500"
        >
          {action.label}
        </Link>
      )}
    </div>
  );
}

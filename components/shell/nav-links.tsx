"use client";
// Primary navigation; highlights the section the current path is in.
import Link from "next/link";
import { usePathname } from "next/navigation";

const SECTIONS = [
  { href: "/fleet", label: "Fleet" },
  { href: "/snapshots", label: "Snapshots" },
  { href: "/schedules", label: "Schedules" },
  { href: "/settings", label: "Settings" },
  { href: "/api-docs", label: "API" },
];

export function NavLinks() {
  const pathname = usePathname();
  return (
    <nav aria-label="Main" className="flex gap-1 text-sm">
      {SECTIONS.map((s) => {
        const active =
          pathname === s.href ||
          pathname.startsWith(`${s.href}/`) ||
          (s.href === "/fleet" && pathname.startsWith("/vms/"));
        return (
          <Link
            key={s.href}
            href={s.href}
            aria-current={active ? "page" : undefined}
            className={`rounded-md px-3 py-1.5 transition-colors ${
              active
                ? "bg-slate-900 text-white dark:bg-slate-100 dark:text-slate-900"
                : "text-slate-600 hover:bg-slate-100 hover:text-slate-900 dark:text-slate-300 dark:hover:bg-slate-800 dark:hover:text-white"
            }`}
          >
            {s.label}
          </Link>
        );
      })}
    </nav>
  );
}

// The app shell's top bar: brand, primary navigation and the live health badge.
import Link from "next/link";
import { UserMenu } from "@/components/auth/user-menu";
import { HealthBadge } from "./health-badge";
import { NavLinks } from "./nav-links";

export function TopBar() {
  return (
    <header className="sticky top-0 z-20 border-b border-slate-200 bg-white/90 backdrop-blur dark:border-slate-800 dark:bg-slate-900/90">
      <div className="mx-auto flex h-14 max-w-7xl items-center gap-6 px-4 sm:px-6">
        <Link href="/fleet" className="flex items-center gap-2 font-semibold tracking-tight">
          <span aria-hidden className="inline-block h-5 w-5 rounded bg-gradient-to-br from-sky-500 to-indigo-600" />
          Snapfleet
        </Link>
        <NavLinks />
        <div className="ml-auto flex items-center gap-4">
          <HealthBadge />
          <UserMenu />
        </div>
      </div>
    </header>
  );
}

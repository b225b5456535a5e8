"use client";
// The top bar's user: name, role and Log out (or a Log in link).
import Link from "next/link";
import { useState } from "react";
import { apiFetch } from "@/lib/http/api-fetch";
import { useIdentity } from "./identity-provider";

export function UserMenu() {
  const me = useIdentity();
  const [busy, setBusy] = useState(false);
  if (!me) {
    return (
      <Link href="/login" className="text-sm font-medium text-sky-700 hover:underline dark:text-sky-400">
        Log in
      </Link>
    );
  }
  const logout = async () => {
    setBusy(true);
    await apiFetch("/api/auth/logout", { method: "POST", headers: { "content-type": "application/json" } }).catch(
      (err: unknown) =>
        // The login page follows either way; a session the server did not end expires by itself.
        console.warn("logging out on the server failed", err),
    );
    window.location.assign("/login");
  };
  return (
    <div className="flex items-center gap-3 text-sm">
      <span data-testid="current-user">
        {me.name}{" "}
        <span className="rounded bg-slate-100 px-1.5 py-0.5 text-xs text-slate-600 dark:bg-slate-800 dark:text-slate-300">
          {me.role}
        </span>
      </span>
      <button
        type="button"
        onClick={logout}
        disabled={busy}
        className="text-slate-600 hover:underline dark:text-slate-300"
      >
        Log out
      </button>
    </div>
  );
}

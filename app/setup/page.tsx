// /setup#<token> — create the first admin with the one-time link a start with no admin printed.
import type { Metadata } from "next";
import { LoginForm } from "@/components/auth/login-form";

export const metadata: Metadata = { title: "First admin" };
export const dynamic = "force-dynamic";

export default function SetupPage() {
  return (
    <div className="mx-auto mt-12 max-w-sm rounded-lg border border-slate-200 bg-white p-6 dark:border-slate-800 dark:bg-slate-900">
      <h1 className="mb-1 text-lg font-semibold">Create the first admin</h1>
      <p className="mb-4 text-sm text-slate-600 dark:text-slate-400">This link works once, for an hour.</p>
      <LoginForm mode="setup" />
    </div>
  );
}

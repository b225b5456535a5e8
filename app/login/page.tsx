// /login — the one page (with /setup) open without a session.
import type { Metadata } from "next";
import { LoginForm } from "@/components/auth/login-form";

export const metadata: Metadata = { title: "Log in" };
export const dynamic = "force-dynamic";

export default function LoginPage() {
  return (
    <div className="mx-auto mt-12 max-w-sm rounded-lg border border-slate-200 bg-white p-6 dark:border-slate-800 dark:bg-slate-900">
      <h1 className="mb-4 text-lg font-semibold">Log in to Snapfleet</h1>
      <LoginForm mode="login" />
    </div>
  );
}

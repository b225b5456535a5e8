"use client";
// The login form (/login) and the first-admin form (/setup, token from the link's #fragment, which never
// reaches a server log or a Referer).
import { useEffect, useState, type FormEvent } from "react";
import { apiFetch, messageOf } from "@/lib/http/api-fetch";
import { ErrorText } from "@/components/ui/error-text";

const input =
  "mt-1 block w-full rounded-md border border-slate-300 bg-white px-3 py-2 text-sm dark:border-slate-700 dark:bg-slate-900";

function safeNext(next: string | null): string {
  // Only same-site paths: never an open redirect.
  return next && next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/fleet";
}

export function LoginForm({ mode }: { mode: "login" | "setup" }) {
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [token, setToken] = useState<string | null>(null);
  const [valid, setValid] = useState<boolean | null>(mode === "login" ? true : null);

  useEffect(() => {
    if (mode !== "setup") return;
    const t = window.location.hash.slice(1);
    setToken(t);
    apiFetch<{ valid: boolean }>(`/api/auth/setup?token=${encodeURIComponent(t)}`)
      .then((b) => setValid(b.valid))
      // A link that cannot be checked cannot be used either: the page says how to get a new one.
      .catch(() => setValid(false));
  }, [mode]);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await apiFetch(mode === "login" ? "/api/auth/login" : "/api/auth/setup", {
        method: "POST",
        json: mode === "login" ? { name, password } : { token, name, password },
      });
      window.location.assign(
        mode === "login" ? safeNext(new URLSearchParams(window.location.search).get("next")) : "/settings",
      );
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };

  if (valid === null) return <p className="text-sm text-slate-600">Checking the set-up link…</p>;
  if (!valid) {
    return (
      <p className="text-sm text-slate-700 dark:text-slate-300">
        This set-up link is not valid, was used already or expired. Restart the dashboard for a new one, or run{" "}
        <code>npx snapfleet user create --admin &lt;name&gt;</code>, then{" "}
        <a href="/login" className="text-sky-700 underline">
          log in
        </a>
        .
      </p>
    );
  }
  return (
    <form onSubmit={submit} className="space-y-4">
      <label className="block text-sm font-medium">
        User name
        <input
          className={input}
          name="name"
          autoComplete="username"
          value={name}
          onChange={(e) => setName(e.target.value)}
          required
        />
      </label>
      <label className="block text-sm font-medium">
        Password{mode === "setup" ? " (at least 10 characters)" : ""}
        <input
          className={input}
          name="password"
          type="password"
          autoComplete={mode === "login" ? "current-password" : "new-password"}
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          required
        />
      </label>
      <ErrorText error={error} />
      <button
        type="submit"
        disabled={busy}
        className="rounded-md bg-sky-600 px-4 py-2 text-sm font-medium text-white hover:bg-sky-700 disabled:opacity-50"
      >
        {mode === "login" ? (busy ? "Logging in…" : "Log in") : busy ? "Creating…" : "Create admin"}
      </button>
    </form>
  );
}

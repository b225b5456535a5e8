import type { Metadata } from "next";
import type { ReactNode } from "react";
import { IdentityProvider } from "@/components/auth/identity-provider";
import { RealtimeProvider } from "@/components/realtime/realtime-provider";
import { currentIdentity } from "@/lib/auth/current";
import { TopBar } from "@/components/shell/top-bar";
import "./globals.css";

export const metadata: Metadata = {
  title: { default: "Snapfleet", template: "%s · Snapfleet" },
  description: "Live snapshots of QEMU virtual machines across your fleet",
};

export default async function RootLayout({ children }: { children: ReactNode }) {
  const me = await currentIdentity();
  const shell = (
    <>
      <TopBar />
      <main className="mx-auto max-w-7xl px-4 py-6 sm:px-6">{children}</main>
    </>
  );
  return (
    <html lang="en">
      <body className="min-h-screen bg-slate-50 text-slate-900 antialiased dark:bg-slate-950 dark:text-slate-100">
        <IdentityProvider identity={me && { name: me.name, role: me.role }}>
          {/* The realtime socket needs a login: /login and /setup render without it. */}
          {me ? <RealtimeProvider>{shell}</RealtimeProvider> : shell}
        </IdentityProvider>
      </body>
    </html>
  );
}

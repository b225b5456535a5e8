import type { Metadata } from "next";
import type { ReactNode } from "react";
import { RealtimeProvider } from "@/components/realtime/realtime-provider";
import { TopBar } from "@/components/shell/top-bar";
import "./globals.css";

export const metadata: Metadata = {
  title: { default: "Snapfleet", template: "%s · Snapfleet" },
  description: "Live snapshots of QEMU virtual machines across your fleet",
};

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body className="min-h-screen bg-slate-50 text-slate-900 antialiased dark:bg-slate-950 dark:text-slate-100">
        <RealtimeProvider>
          <TopBar />
          <main className="mx-auto max-w-7xl px-4 py-6 sm:px-6">{children}</main>
        </RealtimeProvider>
      </body>
    </html>
  );
}

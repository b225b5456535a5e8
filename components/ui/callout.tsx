// A tinted, bordered box that tells the operator something about the page or the VM (a warning, an
// error, a note), with a bold first line `title` and the caller's details under it. `size` "compact"
// is the box inside a panel; "roomy" the page-level one. `role` is the caller's: "alert" for what just
// went wrong or needs action now, "note" for a standing condition.
import type { ReactNode } from "react";

const TONE = {
  error: {
    box: "border-red-300 bg-red-50",
    text: "text-red-900 dark:border-red-800 dark:bg-red-950 dark:text-red-200",
  },
  warning: {
    box: "border-amber-300 bg-amber-50",
    text: "text-amber-900 dark:border-amber-800 dark:bg-amber-950 dark:text-amber-200",
  },
  info: {
    box: "border-zinc-300 bg-zinc-50",
    text: "text-zinc-700 dark:border-zinc-700 dark:bg-zinc-900 dark:text-zinc-300",
  },
} as const;

const SIZE = {
  compact: { corner: "rounded-md", pad: "px-3 py-2", title: "font-semibold" },
  roomy: { corner: "rounded-lg", pad: "p-4", title: "font-medium" },
} as const;

export function Callout({
  tone,
  size,
  role,
  title,
  children,
  ...aria
}: {
  tone: keyof typeof TONE;
  size: keyof typeof SIZE;
  role: "alert" | "note";
  title: ReactNode;
  children: ReactNode;
  "data-testid"?: string;
  "aria-label"?: string;
}) {
  const t = TONE[tone];
  const s = SIZE[size];
  return (
    <div {...aria} role={role} className={`${s.corner} border ${t.box} ${s.pad} text-sm ${t.text}`}>
      <p className={s.title}>{title}</p>
      {children}
    </div>
  );
}

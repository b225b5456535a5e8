// A white card section of a page with its heading (the section is labelled by it for screen readers).
// `fit` keeps the card as tall as its content in a grid row; `titleGap` puts space under the heading
// (when the content does not bring its own top margin).
import type { ReactNode } from "react";

const CARD = "rounded-lg border border-slate-200 bg-white p-4 dark:border-slate-800 dark:bg-slate-900";

export function Panel({
  headingId,
  title,
  fit,
  titleGap,
  children,
}: {
  headingId: string;
  title: ReactNode;
  fit?: boolean;
  titleGap?: boolean;
  children: ReactNode;
}) {
  return (
    <section aria-labelledby={headingId} className={fit ? `h-fit ${CARD}` : CARD}>
      <h2 id={headingId} className={titleGap ? "mb-3 text-base font-semibold" : "text-base font-semibold"}>
        {title}
      </h2>
      {children}
    </section>
  );
}

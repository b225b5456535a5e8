// A section of the Settings page (hosts, webhooks): its heading, and an "Add …" button next to it while
// `onAdd` is given (the caller drops it while its add form is open), then the caller's content.
import type { ReactNode } from "react";

export function SettingsSection({
  id,
  title,
  addLabel,
  onAdd,
  children,
}: {
  id: string;
  title: string;
  addLabel: string;
  onAdd: (() => void) | null;
  children: ReactNode;
}) {
  return (
    <section aria-labelledby={id} className="space-y-4">
      <div className="flex items-center gap-3">
        <h2 id={id} className="text-lg font-semibold">
          {title}
        </h2>
        {onAdd && (
          <button
            type="button"
            onClick={onAdd}
            className="ml-auto rounded-md bg-sky-600 px-3 py-1.5 text-sm font-medium text-white hover:bg-sky-500"
          >
            {addLabel}
          </button>
        )}
      </div>
      {children}
    </section>
  );
}

"use client";
// A row's "Remove" that asks first: the click shows the confirming button (saying what goes) and "Keep";
// the confirmation runs onConfirm, and the buttons go back to "Remove" once it settled (a removed row
// disappears with them; a refusal is the caller's to show).
import { useState, type ReactNode } from "react";

export function ConfirmRemove({
  confirmLabel,
  onConfirm,
  disabled,
}: {
  confirmLabel: ReactNode;
  onConfirm: () => Promise<void>;
  disabled?: boolean;
}) {
  const [confirming, setConfirming] = useState(false);
  if (!confirming) {
    return (
      <button
        type="button"
        onClick={() => setConfirming(true)}
        className="rounded px-2 py-1 text-xs text-red-700 hover:bg-red-50 dark:text-red-400 dark:hover:bg-red-950"
      >
        Remove
      </button>
    );
  }
  return (
    <>
      <button
        type="button"
        disabled={disabled}
        onClick={() => void onConfirm().finally(() => setConfirming(false))}
        className="rounded bg-red-600 px-2 py-1 text-xs font-medium text-white hover:bg-red-500"
      >
        {confirmLabel}
      </button>
      <button
        type="button"
        onClick={() => setConfirming(false)}
        className="rounded px-2 py-1 text-xs text-slate-600 dark:text-slate-300"
      >
        Keep
      </button>
    </>
  );
}

// The dashboard's buttons: one element, its look picked by `variant` (each variant is the class string
// the dashboard already used for that kind of button, so a page keeps its look). `className` adds
// placement only (a margin, ml-auto) in front of the variant's classes. With `busy`, the button is
// disabled and, when `busyLabel` is given, says it (e.g. "Saving…") instead of its children.
import type { ButtonHTMLAttributes, ReactNode } from "react";

const VARIANT_CLASS = {
  /** A form's main submit. */
  primary: "rounded-md bg-sky-600 px-4 py-2 text-sm font-semibold text-white hover:bg-sky-500 disabled:opacity-50",
  /** An inline form's submit (a table cell's editor). */
  "primary-small":
    "rounded-md bg-sky-600 px-2 py-0.5 text-xs font-medium text-white hover:bg-sky-700 disabled:opacity-50",
  /** A small text action in a card or a row ("Discover now"). */
  "link-small":
    "rounded-md px-2 py-0.5 text-xs text-sky-700 hover:bg-sky-50 disabled:opacity-50 dark:text-sky-400 dark:hover:bg-sky-950",
  /** The action inside an amber warning box. */
  warning: "rounded-md bg-amber-600 px-3 py-1 text-xs font-semibold text-white hover:bg-amber-500 disabled:opacity-50",
  /** A small destructive action. */
  danger:
    "rounded-md border border-red-300 px-3 py-1 text-xs font-medium text-red-700 hover:bg-red-50 disabled:opacity-50 dark:border-red-800 dark:text-red-300 dark:hover:bg-red-950",
} as const;

export type ButtonVariant = keyof typeof VARIANT_CLASS;

export function Button({
  variant,
  className,
  type = "button",
  busy,
  busyLabel,
  disabled,
  children,
  ...rest
}: Omit<ButtonHTMLAttributes<HTMLButtonElement>, "className"> & {
  variant: ButtonVariant;
  className?: "mt-2" | "ml-auto";
  busy?: boolean;
  busyLabel?: ReactNode;
}) {
  return (
    <button
      {...rest}
      type={type}
      disabled={disabled || busy}
      className={className ? `${className} ${VARIANT_CLASS[variant]}` : VARIANT_CLASS[variant]}
    >
      {busy && busyLabel !== undefined ? busyLabel : children}
    </button>
  );
}

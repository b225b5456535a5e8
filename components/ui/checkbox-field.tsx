// A checkbox with its text as its label (clicking the text toggles it). `className` lays the label out
// (the caller's flex row and text size); onChange gets the new checked state.
import type { ReactNode } from "react";

export function CheckboxField({
  className,
  checked,
  onChange,
  disabled,
  title,
  children,
}: {
  className: string;
  checked: boolean;
  onChange: (checked: boolean) => void;
  disabled?: boolean;
  title?: string;
  children: ReactNode;
}) {
  return (
    <label className={className} title={title}>
      <input type="checkbox" checked={checked} onChange={(e) => onChange(e.target.checked)} disabled={disabled} />
      {children}
    </label>
  );
}

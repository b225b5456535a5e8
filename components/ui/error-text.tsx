// The one-line error under a form or a list (role="alert", so screen readers say it when it appears):
// nothing while there is no error. Panels with their own tinted box keep their own markup.
export function ErrorText({ error, as: Tag = "p" }: { error: string | null | undefined; as?: "p" | "span" }) {
  if (!error) return null;
  return (
    <Tag role="alert" className="text-sm text-red-700 dark:text-red-400">
      {error}
    </Tag>
  );
}

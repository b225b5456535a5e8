// What an operator is shown of a database error. Prisma's messages begin with where in Snapfleet's source
// the call was made and an excerpt of that code ("Invalid `tx.snapshotAdmission.create()` invocation in
// /…/admission.ts:111:32", then numbered lines), which tells an operator nothing; their last paragraph
// says what the database answered. Other errors pass unchanged.
export function databaseErrorText(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  if (!/^\s*Invalid `[^`]+` invocation/.test(message)) return message;
  const paragraphs = message
    .split(/\n\s*\n/)
    .map((p) => p.trim())
    .filter(Boolean);
  return paragraphs.length > 1 ? paragraphs.at(-1)!.replace(/\s*\n\s*/g, " ") : message;
}

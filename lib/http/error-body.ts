// The body of every error answer of the REST API (4xx and 500), in one place for both sides: route
// handlers write it (./respond.ts), the browser reads it (./api-fetch.ts), the OpenAPI document names it.
// Kept free of Next.js and server modules so client code may import it.
import { z } from "zod";

/** `{ "error": "<what to fix>", "details"?: … }`; `details` carries per-field issues where there are some. */
export const errorBodySchema = z.object({
  error: z.string(),
  details: z.unknown().optional(),
});

export type ErrorBody = z.infer<typeof errorBodySchema>;

/** The `error` text for input a zod schema rejected: "path: message; …" (forms say it before sending). */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => (i.path.length ? `${i.path.join(".")}: ${i.message}` : i.message)).join("; ");
}

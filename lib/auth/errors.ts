// Authentication errors (lib/auth). Route handlers map them: AuthError → 401, TooManyAttemptsError →
// 429 with Retry-After (lib/http/respond.ts).
import { DomainError } from "../errors";

export class AuthError extends DomainError {}
export class TooManyAttemptsError extends DomainError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}

// Domain errors thrown by lib/ and mapped to HTTP only by route handlers (lib/http/respond.ts).
// Each carries a message that tells the user what to fix, and optional structured details.
export class DomainError extends Error {
  constructor(
    message: string,
    readonly details?: unknown,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The thing asked for does not exist. */
export class NotFoundError extends DomainError {}
/** The request is well-formed but conflicts with current state (e.g. a snapshot already running). */
export class ConflictError extends DomainError {}
/** The input is invalid in a way only the domain can tell (unreachable socket dir, bad key…). */
export class InvalidInputError extends DomainError {}

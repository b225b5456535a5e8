// The QMP error tree: every failure that leaves lib/qmp is a QmpError, so callers can catch one root
// and branch on the subclass (modelled on qemu.qmp's error.py: QMPError → ConnectError, ExecuteError,
// ProtocolError, ExecInterruptedError…). The connect failures that the client and several transports
// raise alike (aborted, timed out, monitor busy) are made by the factories next to their class.
//
//   QmpError
//    ├── QmpEndpointError        a malformed endpoint string or endpoint object (caller's input)
//    ├── QmpConnectError         no session: refused, no such socket, timeout, TLS refused, closed early
//    │    └── QmpMonitorBusyError  connected, but QEMU never greeted: another client holds the monitor
//    ├── QmpTimeoutError         a command (or the greeting) took longer than allowed; session survives
//    ├── QmpProtocolError        the peer broke the protocol: garbage, oversize line, unknown id, …
//    ├── QmpDisconnectedError    the session ended (closed by us, EOF, reset) while work was pending
//    └── QmpCommandError         QEMU answered {"error": {"class", "desc"}}
//
// Invariants: errors never carry credentials (TLS keys, SSH keys/passwords) — only the formatted
// endpoint; excerpts of peer input are truncated so a hostile peer cannot blow up our logs.

const EXCERPT_MAX = 200;

/** Truncated, printable excerpt of untrusted peer input, for error messages and logs. */
export function excerpt(text: string, max = EXCERPT_MAX): string {
  // eslint-disable-next-line no-control-regex -- control characters are what this escapes
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
  return clean.length > max ? `${clean.slice(0, max)}… (${text.length} chars)` : clean;
}

export interface QmpErrorOptions {
  cause?: unknown;
  /** The formatted endpoint (see formatEndpoint), when the error belongs to one session. */
  endpoint?: string;
}

/** Root of every error thrown by lib/qmp. */
export class QmpError extends Error {
  readonly endpoint?: string;

  constructor(message: string, options: QmpErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.endpoint = options.endpoint;
  }
}

/** An endpoint string or object that cannot be used (bad syntax, missing TLS CA, …). */
export class QmpEndpointError extends QmpError {}

/**
 * No QMP session could be established. `code` is the system/TLS error code when there is one
 * (ECONNREFUSED: QEMU is gone but its socket file stayed behind; ENOENT: no such socket; ETIMEDOUT;
 * EPEERCLOSED: the peer hung up before the greeting, which over TLS is how QEMU refuses a client
 * certificate — TLS 1.3 completes the client's side of the handshake before the server checks it).
 */
export class QmpConnectError extends QmpError {
  readonly code?: string;

  constructor(message: string, options: QmpErrorOptions & { code?: string } = {}) {
    super(message, options);
    this.code = options.code;
  }
}

/**
 * QEMU's monitor serves one client at a time: a second client's connect() succeeds (the listen
 * backlog takes it) but QEMU sends nothing until the first leaves (QEMU.md §6). We report "connected,
 * no byte within greetingTimeoutMs" as this error instead of hanging.
 */
export class QmpMonitorBusyError extends QmpConnectError {}

/** The caller's signal aborted connecting to `endpoint` (code ABORT_ERR; `reason`: the signal's, as cause). */
export function connectAbortedError(endpoint: string, reason?: unknown): QmpConnectError {
  return new QmpConnectError(`QMP connect to ${endpoint} aborted`, { endpoint, code: "ABORT_ERR", cause: reason });
}

/** Reaching `endpoint` took longer than `ms` (code ETIMEDOUT). */
export function connectTimeoutError(endpoint: string, ms: number): QmpConnectError {
  return new QmpConnectError(`QMP connect to ${endpoint} timed out after ${ms} ms`, { endpoint, code: "ETIMEDOUT" });
}

/** `endpoint` took the connection but stayed silent (`silence` says what did not come): its monitor is taken. */
export function monitorBusyError(endpoint: string, silence: string): QmpMonitorBusyError {
  return new QmpMonitorBusyError(`QMP monitor at ${endpoint} is busy: ${silence} (QEMU serves one client at a time)`, {
    endpoint,
    code: "EBUSY",
  });
}

/** A deadline passed. For commands the session stays usable and a late reply is dropped. */
export class QmpTimeoutError extends QmpError {
  readonly timeoutMs: number;
  /** The QMP command that timed out, or "(greeting)" / "(connect)" for the session phases. */
  readonly command: string;

  constructor(message: string, options: QmpErrorOptions & { timeoutMs: number; command: string }) {
    super(message, options);
    this.timeoutMs = options.timeoutMs;
    this.command = options.command;
  }
}

export type QmpProtocolErrorKind =
  | "garbage" // not JSON, or JSON that is not an object
  | "oversize-line" // a line longer than maxLineBytes (the session is dropped before buffering more)
  | "bad-greeting" // first message is not {"QMP": {...}} with a version and capabilities
  | "negotiation-failed" // qmp_capabilities was refused
  | "unexpected-message" // well-formed JSON object that is no greeting, event or reply
  | "bad-event" // event without a valid timestamp
  | "unknown-id" // a reply to an id this session never issued
  | "server-parse-error" // an error reply without id: QEMU could not parse what we sent (qmp-spec 2.4.2)
  | "bad-reply"; // a routed reply that has neither a valid "return" nor a valid "error"

/** The peer does not speak QMP as QEMU does. Fatal to the session except for "bad-reply". */
export class QmpProtocolError extends QmpError {
  readonly kind: QmpProtocolErrorKind;

  constructor(kind: QmpProtocolErrorKind, message: string, options: QmpErrorOptions = {}) {
    super(message, options);
    this.kind = kind;
  }
}

/** The session is over; `reason` says why in a few words, `cause` carries the socket error if any. */
export class QmpDisconnectedError extends QmpError {
  readonly reason: string;
  /** True when our side ended the session (close()). */
  readonly byClient: boolean;

  constructor(reason: string, options: QmpErrorOptions & { byClient?: boolean } = {}) {
    super(`QMP session ended: ${reason}`, options);
    this.reason = reason;
    this.byClient = options.byClient ?? false;
  }
}

/** QEMU executed the command and answered with an error object. */
export class QmpCommandError extends QmpError {
  /** QEMU's error class: GenericError, CommandNotFound, DeviceNotFound, DeviceNotActive, … */
  readonly errorClass: string;
  readonly desc: string;
  readonly command: string;

  constructor(command: string, errorClass: string, desc: string, options: QmpErrorOptions = {}) {
    super(`${command}: ${errorClass}: ${desc}`, options);
    this.command = command;
    this.errorClass = errorClass;
    this.desc = desc;
  }
}

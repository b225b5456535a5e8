// QMP wire framing: bytes → lines → classified messages, and commands → lines.
//
// QEMU writes every QMP message as one line of compact JSON terminated by "\r\n" (monitor/qmp.c,
// qmp_send_response); qemu.qmp reads the same way (readline + a size limit). We split on the "\n"
// byte, which never occurs inside a multi-byte UTF-8 sequence, so chunk boundaries can fall anywhere.
//
// Invariants:
//  - Memory is bounded: at most maxLineBytes of an unterminated line are buffered; one byte more and
//    the decoder fails with QmpProtocolError("oversize-line") without waiting for the newline.
//  - Lines are delivered in order, exactly once; after a failure the decoder delivers nothing more.
//  - Parsing never throws anything but QmpProtocolError, whatever the bytes (fuzzed in
//    tests/qmp/framing.fuzz.test.ts).
import { QmpProtocolError, excerpt } from "./errors";
import type { QmpEvent, QmpGreeting } from "./types";

export const DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024;

const NL = 0x0a;
const CR = 0x0d;

export class LineDecoder {
  private parts: Buffer[] = [];
  private partBytes = 0;
  private failure?: QmpProtocolError;

  /** @param maxLineBytes longest accepted line, counting every byte before the "\n". */
  constructor(readonly maxLineBytes: number = DEFAULT_MAX_LINE_BYTES) {
    if (!(maxLineBytes > 0)) throw new RangeError("maxLineBytes must be positive");
  }

  /** Bytes of the current unterminated line (what a slow or hostile peer makes us hold). */
  get bufferedBytes(): number {
    return this.partBytes;
  }

  /**
   * Feeds one chunk; calls onLine for each complete non-empty line (trailing "\r" removed), in order.
   * Throws QmpProtocolError("oversize-line") after delivering the lines that precede the oversize
   * one; the decoder then stays failed.
   */
  push(chunk: Uint8Array, onLine: (line: string) => void): void {
    if (this.failure) throw this.failure;
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let start = 0;
    while (start < buf.length) {
      const nl = buf.indexOf(NL, start);
      const end = nl === -1 ? buf.length : nl;
      const lineBytes = this.partBytes + (end - start);
      if (lineBytes > this.maxLineBytes) {
        this.parts = [];
        this.partBytes = 0;
        this.failure = new QmpProtocolError(
          "oversize-line",
          `QMP line exceeds ${this.maxLineBytes} bytes (${lineBytes}${nl === -1 ? "+ so far" : ""})`,
        );
        throw this.failure;
      }
      if (nl === -1) {
        // Copy: a subarray would pin the socket's whole chunk while a slow peer drips the rest.
        this.parts.push(Buffer.from(buf.subarray(start)));
        this.partBytes = lineBytes;
        return;
      }
      let line =
        this.partBytes === 0 ? buf.subarray(start, nl) : Buffer.concat([...this.parts, buf.subarray(start, nl)]);
      this.parts = [];
      this.partBytes = 0;
      start = nl + 1;
      if (line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, line.length - 1);
      if (line.length > 0) onLine(line.toString("utf8"));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Messages (qmp-spec: docs/interop/qmp-spec.rst §2 "Protocol Specification")
// ---------------------------------------------------------------------------------------------

export type QmpInbound =
  | { type: "greeting"; greeting: QmpGreeting }
  | { type: "event"; event: QmpEvent }
  | { type: "return"; hasId: boolean; id: unknown; value: unknown }
  | { type: "error"; hasId: boolean; id: unknown; errorClass: string; desc: string }
  /** A reply we can route by id but cannot understand: fails that command, not the session. */
  | { type: "bad-reply"; hasId: boolean; id: unknown; problem: string };

/** Keeps timeUs (seconds * 1e6 + µs) an exact integer in a double. */
const MAX_TIMESTAMP_SECONDS = Math.floor(Number.MAX_SAFE_INTEGER / 1e6) - 1;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isNonNegInt(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/** Validates the greeting's "QMP" member; returns a problem description or the greeting. */
export function parseGreeting(qmp: unknown): QmpGreeting | string {
  if (!isObject(qmp)) return "QMP member is not an object";
  const version = qmp.version;
  if (!isObject(version) || !isObject(version.qemu)) return "no version.qemu";
  const { major, minor, micro } = version.qemu;
  if (!isNonNegInt(major) || !isNonNegInt(minor) || !isNonNegInt(micro))
    return "version.qemu is not {major,minor,micro}";
  const pkg = version.package;
  if (pkg !== undefined && typeof pkg !== "string") return "version.package is not a string";
  const caps = qmp.capabilities;
  if (!Array.isArray(caps) || !caps.every((c) => typeof c === "string")) return "capabilities is not a string array";
  return { version: { qemu: { major, minor, micro }, package: pkg ?? "" }, capabilities: [...caps] };
}

/**
 * Classifies one line. Throws QmpProtocolError for anything that is not a QMP server message:
 * invalid JSON, a non-object, an event without a valid timestamp, an object with no QMP meaning.
 */
export function parseMessage(line: string): QmpInbound {
  let msg: unknown;
  try {
    msg = JSON.parse(line);
  } catch {
    throw new QmpProtocolError("garbage", `QMP peer sent invalid JSON: ${excerpt(line)}`);
  }
  if (!isObject(msg)) throw new QmpProtocolError("garbage", `QMP peer sent a non-object: ${excerpt(line)}`);

  if ("QMP" in msg) {
    const g = parseGreeting(msg.QMP);
    if (typeof g === "string") throw new QmpProtocolError("bad-greeting", `bad QMP greeting (${g}): ${excerpt(line)}`);
    return { type: "greeting", greeting: g };
  }

  if ("event" in msg) {
    const { event, timestamp, data } = msg;
    if (typeof event !== "string" || event.length === 0) {
      throw new QmpProtocolError("bad-event", `QMP event without a name: ${excerpt(line)}`);
    }
    // Timestamps are how we measure guest pause (STOP→RESUME); an event without one is useless.
    if (
      !isObject(timestamp) ||
      !isNonNegInt(timestamp.seconds) ||
      timestamp.seconds > MAX_TIMESTAMP_SECONDS ||
      !isNonNegInt(timestamp.microseconds) ||
      timestamp.microseconds > 999_999
    ) {
      throw new QmpProtocolError("bad-event", `QMP event ${event} without a valid timestamp: ${excerpt(line)}`);
    }
    if (data !== undefined && !isObject(data)) {
      throw new QmpProtocolError("bad-event", `QMP event ${event} with non-object data: ${excerpt(line)}`);
    }
    const ts = { seconds: timestamp.seconds, microseconds: timestamp.microseconds };
    return {
      type: "event",
      event: { event, data: data ?? {}, timestamp: ts, timeUs: ts.seconds * 1e6 + ts.microseconds },
    };
  }

  const hasId = "id" in msg;
  const id = msg.id;
  if ("return" in msg) return { type: "return", hasId, id, value: msg.return };
  if ("error" in msg) {
    const err = msg.error;
    if (!isObject(err) || typeof err.class !== "string" || typeof err.desc !== "string") {
      return { type: "bad-reply", hasId, id, problem: `malformed error member: ${excerpt(line)}` };
    }
    return { type: "error", hasId, id, errorClass: err.class, desc: err.desc };
  }
  if (hasId)
    return { type: "bad-reply", hasId, id, problem: `reply has neither "return" nor "error": ${excerpt(line)}` };
  throw new QmpProtocolError("unexpected-message", `QMP peer sent an object with no QMP meaning: ${excerpt(line)}`);
}

const COMMAND_NAME = /^[A-Za-z][A-Za-z0-9_-]*$/;

/**
 * Serializes a command as one line (no terminator). `arguments` is omitted when empty so that
 * commands taking none accept it on every QEMU version.
 * Throws TypeError for an invalid name, non-object arguments, or values JSON cannot carry.
 */
export function encodeCommand(command: string, args: Record<string, unknown> | undefined, id: string): string {
  if (!COMMAND_NAME.test(command)) throw new TypeError(`invalid QMP command name ${JSON.stringify(command)}`);
  if (args !== undefined && !isObject(args)) throw new TypeError(`arguments of ${command} must be an object`);
  const msg: Record<string, unknown> = { execute: command };
  if (args !== undefined && Object.keys(args).length > 0) msg.arguments = args;
  msg.id = id;
  const line = JSON.stringify(msg); // throws TypeError on BigInt / cycles
  // JSON.stringify escapes control characters inside strings, so a line can never contain "\n".
  return line;
}

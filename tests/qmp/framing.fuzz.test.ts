// Property tests of the QMP line decoder and message parser (framing.ts): whatever the bytes and
// however the stream is chunked, the decoder yields the same lines, never buffers more than the limit,
// and nothing but QmpProtocolError ever escapes the parser.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LineDecoder, QmpProtocolError, encodeCommand, parseMessage } from "../../lib/qmp";

/** Splits `buf` at the given cut points (any values; mapped into range). */
function chunk(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => (buf.length === 0 ? 0 : c % (buf.length + 1))))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  out.push(buf.subarray(prev));
  return out;
}

function decodeAll(chunks: Buffer[], max?: number): { lines: string[]; error?: unknown; maxBuffered: number } {
  const d = new LineDecoder(max);
  const lines: string[] = [];
  let maxBuffered = 0;
  try {
    for (const c of chunks) {
      d.push(c, (l) => lines.push(l));
      maxBuffered = Math.max(maxBuffered, d.bufferedBytes);
    }
  } catch (error) {
    return { lines, error, maxBuffered };
  }
  return { lines, maxBuffered };
}

const jsonObject = fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 6 });
const cuts = fc.array(fc.nat(), { maxLength: 20 });

describe("LineDecoder", () => {
  it("any chunking of CRLF-terminated JSON lines yields exactly those lines", () => {
    fc.assert(
      fc.property(fc.array(jsonObject, { maxLength: 8 }), cuts, fc.boolean(), (objs, cutPoints, crlf) => {
        const texts = objs.map((o) => JSON.stringify(o));
        const wire = Buffer.from(texts.map((t) => t + (crlf ? "\r\n" : "\n")).join(""));
        const { lines, error } = decodeAll(chunk(wire, cutPoints));
        expect(error).toBeUndefined();
        expect(lines).toEqual(texts);
        expect(lines.map((l) => JSON.parse(l))).toEqual(texts.map((t) => JSON.parse(t)));
      }),
      { numRuns: 500 },
    );
  });

  it("multi-byte UTF-8 split across chunks survives", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 20 }), cuts, (s, cutPoints) => {
        const text = JSON.stringify({ s });
        const { lines } = decodeAll(chunk(Buffer.from(`${text}\r\n`), cutPoints));
        expect(lines).toEqual([text]);
      }),
      { numRuns: 200 },
    );
  });

  it("a line of exactly max bytes passes; max+1 fails without buffering more than max", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4096 }), fc.boolean(), cuts, (max, over, cutPoints) => {
        const len = over ? max + 1 : max;
        const wire = Buffer.concat([Buffer.alloc(len, 0x61), Buffer.from("\n")]);
        const { lines, error, maxBuffered } = decodeAll(chunk(wire, cutPoints), max);
        expect(maxBuffered).toBeLessThanOrEqual(max);
        if (over) {
          expect(error).toBeInstanceOf(QmpProtocolError);
          expect((error as QmpProtocolError).kind).toBe("oversize-line");
          expect(lines).toEqual([]);
        } else {
          expect(error).toBeUndefined();
          expect(lines).toEqual(["a".repeat(max)]);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("lines before an oversize line are delivered; nothing after; the decoder stays failed", () => {
    const d = new LineDecoder(16);
    const got: string[] = [];
    expect(() => d.push(Buffer.from(`{"a":1}\n${"x".repeat(40)}\n{"b":2}\n`), (l) => got.push(l))).toThrow(
      QmpProtocolError,
    );
    expect(got).toEqual(['{"a":1}']);
    expect(() => d.push(Buffer.from('{"c":3}\n'), (l) => got.push(l))).toThrow(QmpProtocolError);
    expect(got).toEqual(['{"a":1}']);
  });

  it("arbitrary bytes: only QmpProtocolError escapes decode+parse, and memory stays bounded", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 2048 }),
        cuts,
        fc.integer({ min: 8, max: 512 }),
        (bytes, cutPoints, max) => {
          const d = new LineDecoder(max);
          try {
            for (const c of chunk(Buffer.from(bytes), cutPoints)) {
              d.push(c, (line) => {
                try {
                  parseMessage(line);
                } catch (e) {
                  if (!(e instanceof QmpProtocolError)) throw e;
                }
              });
              expect(d.bufferedBytes).toBeLessThanOrEqual(max);
            }
          } catch (e) {
            expect(e).toBeInstanceOf(QmpProtocolError);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe("parseMessage", () => {
  it("never throws anything but QmpProtocolError for any JSON value or near-QMP object", () => {
    const nearQmp = fc.record(
      {
        QMP: fc.jsonValue(),
        event: fc.oneof(fc.string(), fc.jsonValue()),
        timestamp: fc.oneof(
          fc.record({
            seconds: fc.oneof(fc.integer(), fc.maxSafeNat()),
            microseconds: fc.oneof(fc.integer({ min: -1, max: 1_000_000 }), fc.double()),
          }),
          fc.jsonValue(),
        ),
        data: fc.jsonValue(),
        return: fc.jsonValue(),
        error: fc.oneof(fc.record({ class: fc.string(), desc: fc.string() }), fc.jsonValue()),
        id: fc.jsonValue(),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), nearQmp), (v) => {
        try {
          const m = parseMessage(JSON.stringify(v) ?? "null");
          expect(["greeting", "event", "return", "error", "bad-reply"]).toContain(m.type);
          if (m.type === "event") {
            expect(Number.isSafeInteger(m.event.timeUs)).toBe(true);
            expect(m.event.timeUs).toBe(m.event.timestamp.seconds * 1e6 + m.event.timestamp.microseconds);
          }
        } catch (e) {
          expect(e).toBeInstanceOf(QmpProtocolError);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("classifies QEMU's real messages", () => {
    expect(
      parseMessage(
        '{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "Debian"}, "capabilities": ["oob"]}}',
      ),
    ).toEqual({
      type: "greeting",
      greeting: { version: { qemu: { major: 7, minor: 2, micro: 22 }, package: "Debian" }, capabilities: ["oob"] },
    });
    expect(parseMessage('{"timestamp": {"seconds": 1795655984, "microseconds": 551766}, "event": "STOP"}')).toEqual({
      type: "event",
      event: {
        event: "STOP",
        data: {},
        timestamp: { seconds: 1795655984, microseconds: 551766 },
        timeUs: 1795655984551766,
      },
    });
    expect(parseMessage('{"return": {}, "id": "sf-1"}')).toEqual({
      type: "return",
      hasId: true,
      id: "sf-1",
      value: {},
    });
    expect(
      parseMessage('{"id": 3, "error": {"class": "CommandNotFound", "desc": "The command nope has not been found"}}'),
    ).toEqual({
      type: "error",
      hasId: true,
      id: 3,
      errorClass: "CommandNotFound",
      desc: "The command nope has not been found",
    });
  });

  it("deeply nested JSON is a protocol error or a value, never a crash", () => {
    const deep = `${"[".repeat(100_000)}${"]".repeat(100_000)}`;
    expect(() => parseMessage(deep)).toThrow(QmpProtocolError);
    expect(parseMessage(`{"return": ${deep}, "id": "sf-1"}`).type).toBe("return");
  });
});

describe("encodeCommand", () => {
  it("round-trips arguments and never produces a newline inside the line", () => {
    fc.assert(
      fc.property(jsonObject, fc.stringMatching(/^[a-z][a-z0-9_-]{0,20}$/), (args, name) => {
        const line = encodeCommand(name, args, "sf-7");
        expect(line).not.toContain("\n");
        const back = JSON.parse(line);
        expect(back.execute).toBe(name);
        expect(back.id).toBe("sf-7");
        if (Object.keys(args).length > 0) expect(back.arguments).toEqual(JSON.parse(JSON.stringify(args)));
        else expect(back).not.toHaveProperty("arguments");
      }),
      { numRuns: 500 },
    );
  });

  it("refuses names QEMU could not have and values JSON cannot carry", () => {
    for (const bad of ["", "has space", "a\nb", "-x", '{"execute"'])
      expect(() => encodeCommand(bad, undefined, "sf-1")).toThrow(TypeError);
    expect(() => encodeCommand("x", { n: 1n }, "sf-1")).toThrow(TypeError);
    expect(() => encodeCommand("x", [] as unknown as Record<string, unknown>, "sf-1")).toThrow(TypeError);
  });
});

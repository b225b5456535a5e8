// Endpoint strings: parse/format round trip, IPv6 brackets, credentials kept out of the string.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { QmpEndpointError, formatEndpoint, parseEndpoint } from "../../lib/qmp";

describe("parseEndpoint / formatEndpoint", () => {
  it("parses each kind", () => {
    expect(parseEndpoint("unix:/run/qemu/vm1.qmp")).toEqual({ kind: "unix", path: "/run/qemu/vm1.qmp" });
    expect(parseEndpoint("tcp:10.0.0.5:4444")).toEqual({ kind: "tcp", host: "10.0.0.5", port: 4444 });
    expect(parseEndpoint("tcp:[::1]:4444")).toEqual({ kind: "tcp", host: "::1", port: 4444 });
    expect(parseEndpoint("tls:hv1.example:4445", { tls: { ca: "CA", cert: "C", key: "K" } })).toEqual({
      kind: "tls",
      host: "hv1.example",
      port: 4445,
      ca: "CA",
      cert: "C",
      key: "K",
    });
    expect(parseEndpoint("ssh:admin@hv1:2222:/run/qemu/vm1.qmp", { ssh: { hostKeySha256: "SHA256:abc" } })).toEqual({
      kind: "ssh",
      host: "hv1",
      port: 2222,
      username: "admin",
      socketPath: "/run/qemu/vm1.qmp",
      hostKeySha256: "SHA256:abc",
    });
    expect(parseEndpoint("ssh:hv1:/s.qmp")).toMatchObject({ username: "root", port: 22, socketPath: "/s.qmp" });
  });

  it("a tls endpoint without credentials gets an empty CA (refused at connect, not silently trusted)", () => {
    expect(parseEndpoint("tls:127.0.0.1:1")).toMatchObject({ kind: "tls", ca: "" });
  });

  it("rejects malformed strings with QmpEndpointError", () => {
    for (const bad of [
      "",
      "unix:",
      "tcp:host",
      "tcp:host:0",
      "tcp:host:70000",
      "tcp:host:12ab",
      "http://x",
      "/path",
      "ssh:host",
      "tls:[zz]:1",
    ]) {
      expect(() => parseEndpoint(bad), bad).toThrow(QmpEndpointError);
    }
  });

  it("format never includes credentials", () => {
    const s = formatEndpoint({
      kind: "ssh",
      host: "hv",
      username: "u",
      socketPath: "/q",
      password: "hunter2",
      privateKey: "KEY",
    });
    expect(s).toBe("ssh:u@hv:22:/q");
    expect(formatEndpoint({ kind: "tls", host: "::1", port: 9, ca: "CA", key: "SECRET" })).toBe("tls:[::1]:9");
  });

  it("round-trips: format(parse(format(e))) === format(e)", () => {
    const host = fc.oneof(fc.ipV4(), fc.ipV6(), fc.domain());
    const port = fc.integer({ min: 1, max: 65535 });
    const endpoint = fc.oneof(
      fc.record({
        kind: fc.constant("unix" as const),
        path: fc.string({ minLength: 1 }).filter((p) => !p.includes("\0")),
      }),
      fc.record({ kind: fc.constant("tcp" as const), host, port }),
      fc.record({ kind: fc.constant("tls" as const), host, port, ca: fc.constant("CA") }),
      fc.record({
        kind: fc.constant("ssh" as const),
        host,
        port,
        username: fc.stringMatching(/^[a-z_][a-z0-9_-]{0,15}$/),
        socketPath: fc.string().map((p) => `/${p}`),
      }),
    );
    fc.assert(
      fc.property(endpoint, (e) => {
        const s = formatEndpoint(e);
        expect(formatEndpoint(parseEndpoint(s, { tls: { ca: "CA" } }))).toBe(s);
      }),
      { numRuns: 500 },
    );
  });
});

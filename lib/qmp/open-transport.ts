// The default QmpTransportFactory: the opener for an endpoint's kind, unix, tcp and tls from
// transport.ts, ssh from transport-ssh.ts. Its own module so that transport-ssh.ts builds on
// transport.ts (StreamTransport, toConnectError) without the two importing each other.
// Invariant: transport-ssh.ts (and ssh2 with it) is loaded only when an ssh endpoint is opened.
import { QmpEndpointError } from "./errors";
import { openTcp, openTls, openUnix, type QmpTransportFactory } from "./transport";

/** The default factory: unix, tcp and tls opened directly; ssh loaded on demand (keeps ssh2 out of other paths). */
export const openTransport: QmpTransportFactory = async (endpoint, ctx) => {
  switch (endpoint.kind) {
    case "unix":
      return openUnix(endpoint, ctx);
    case "tcp":
      return openTcp(endpoint, ctx);
    case "tls":
      return openTls(endpoint, ctx);
    case "ssh": {
      const { openSshTransport } = await import("./transport-ssh");
      return openSshTransport(endpoint, ctx);
    }
    default:
      throw new QmpEndpointError(`unsupported QMP endpoint kind ${(endpoint as { kind: unknown }).kind}`);
  }
};

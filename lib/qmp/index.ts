// Public surface of lib/qmp, the QMP client. Imports nothing from Next.js or Prisma: the server, the
// workers and the CLI use it alike. Layers (qemu.qmp's split): transport.ts / transport-ssh.ts (byte
// streams), framing.ts (lines and messages), client.ts (session), events.ts, errors.ts,
// commands.ts (typed wrappers), pool.ts (one session per VM), endpoint.ts, ssh-host-key.ts (host-key pinning).
export { BACKGROUND_SNAPSHOT_INCOMPATIBLE_CAPABILITIES, incompatibleCapabilitiesOn } from "./capabilities";
export { QmpClient, connectQmp, type QmpConnectOptions, type QmpRunstate } from "./client";
export { QmpCommands, blockdevSnapshotInternalSync, blockdevSnapshotSync, type QmpExecuteOptions } from "./commands";
export {
  formatEndpoint,
  parseEndpoint,
  type QmpEndpoint,
  type QmpSshCredentials,
  type QmpSshEndpoint,
  type QmpTcpEndpoint,
  type QmpTlsCredentials,
  type QmpTlsEndpoint,
  type QmpUnixEndpoint,
} from "./endpoint";
export {
  QmpCommandError,
  QmpConnectError,
  QmpDisconnectedError,
  QmpEndpointError,
  QmpError,
  QmpMonitorBusyError,
  QmpProtocolError,
  QmpTimeoutError,
  type QmpProtocolErrorKind,
} from "./errors";
export { QmpEventHub, type QmpEventListener, type WaitForEventOptions } from "./events";
export { DEFAULT_MAX_LINE_BYTES, LineDecoder, encodeCommand, parseMessage, type QmpInbound } from "./framing";
export { QmpPool, type QmpPoolOptions } from "./pool";
export { openTransport } from "./open-transport";
export {
  StreamTransport,
  TlsTransport,
  type QmpTransport,
  type QmpTransportContext,
  type QmpTransportFactory,
  type QmpTransportSink,
} from "./transport";
export type * from "./types";
export { openSshTransport, SSH_CONNECTION_LOST } from "./transport-ssh";
export { checkHostKey, sshFingerprint, type HostKeyVerdict } from "./ssh-host-key";

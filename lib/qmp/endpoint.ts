// Where a QMP monitor lives, and its one-line string form.
//   unix:/run/qemu/vm1.qmp          QEMU `-qmp unix:…,server=on,wait=off`
//   tcp:10.0.0.5:4444  tcp:[::1]:4444
//   tls:10.0.0.5:4445               QEMU `tls-creds-x509,…,verify-peer=on` on the chardev; the CA,
//                                   client certificate and key come from files/config, not the string
//   ssh:root@hv1:22:/run/qemu/vm1.qmp   a unix socket on another host, through SSH stream-local
//                                   forwarding (direct-streamlocal@openssh.com); credentials apart
// Invariants: formatEndpoint(parseEndpoint(s)) === s for every canonical string, and the format never
// contains credentials (it is the pool key and goes into logs and error messages).
import { isIP } from "node:net";
import type { Client as SshClient } from "ssh2";
import { QmpEndpointError } from "./errors";

export interface QmpUnixEndpoint {
  kind: "unix";
  path: string;
}

export interface QmpTcpEndpoint {
  kind: "tcp";
  host: string;
  port: number;
}

/** TLS credentials are PEM contents (not paths). */
export interface QmpTlsEndpoint {
  kind: "tls";
  host: string;
  port: number;
  /** CA that signed QEMU's server certificate; the server certificate is always verified. */
  ca: string | Buffer;
  /** Client certificate + key, required by QEMU's `verify-peer=on`. */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Name checked against the server certificate; defaults to `host` (IPs are checked as IP SANs). */
  servername?: string;
}

export interface QmpSshEndpoint {
  kind: "ssh";
  host: string;
  /** Default 22. */
  port?: number;
  username: string;
  /** Absolute path of QEMU's QMP unix socket on the remote host. */
  socketPath: string;
  privateKey?: string | Buffer;
  passphrase?: string;
  password?: string;
  /**
   * Expected host key, as OpenSSH prints it (`SHA256:base64…`, `ssh-keygen -lf`). Required unless
   * `insecureAcceptAnyHostKey` is set: a QMP session can stop or snapshot a VM.
   */
  hostKeySha256?: string;
  insecureAcceptAnyHostKey?: boolean;
  /**
   * An already-connected SSH connection to multiplex over (one per host, many VMs). The transport
   * opens a channel on it and never closes the connection itself.
   */
  sshClient?: SshClient;
}

export type QmpEndpoint = QmpUnixEndpoint | QmpTcpEndpoint | QmpTlsEndpoint | QmpSshEndpoint;

/** TLS material supplied apart from the endpoint string (CLI flags, host records). */
export interface QmpTlsCredentials {
  ca: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  servername?: string;
}

/** SSH material supplied apart from the endpoint string. */
export type QmpSshCredentials = Omit<QmpSshEndpoint, "kind" | "host" | "port" | "username" | "socketPath">;

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/;
const SSH = /^(?:([A-Za-z0-9._-]+)@)?(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+)(?::(\d{1,5}))?:(\/.*)$/;

function parsePort(text: string, input: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new QmpEndpointError(`invalid port in QMP endpoint "${input}"`);
  }
  return port;
}

function unbracket(host: string): string {
  return host.startsWith("[") ? host.slice(1, -1) : host;
}

function bracket(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}

/**
 * Parses `unix:/path`, `tcp:host:port`, `tls:host:port`, `ssh:[user@]host[:port]:/path`.
 * TLS needs `tls` credentials (a tls endpoint without a CA is refused at connect time); SSH takes
 * its key/password and host key from `ssh`.
 */
export function parseEndpoint(
  input: string,
  creds: { tls?: QmpTlsCredentials; ssh?: QmpSshCredentials } = {},
): QmpEndpoint {
  const colon = input.indexOf(":");
  const scheme = colon > 0 ? input.slice(0, colon) : "";
  const rest = colon > 0 ? input.slice(colon + 1) : "";
  switch (scheme) {
    case "unix":
      if (rest.length === 0 || rest.includes("\0"))
        throw new QmpEndpointError(`invalid unix socket path in "${input}"`);
      return { kind: "unix", path: rest };
    case "tcp":
    case "tls": {
      const m = HOST_PORT.exec(rest);
      if (!m) throw new QmpEndpointError(`expected ${scheme}:host:port, got "${input}"`);
      const host = unbracket(m[1]!);
      const port = parsePort(m[2]!, input);
      if (scheme === "tcp") return { kind: "tcp", host, port };
      return { ...creds.tls, kind: "tls", host, port, ca: creds.tls?.ca ?? "" };
    }
    case "ssh": {
      const m = SSH.exec(rest);
      if (!m) throw new QmpEndpointError(`expected ssh:user@host[:port]:/socket/path, got "${input}"`);
      const username = m[1] ?? "root";
      return {
        ...creds.ssh,
        kind: "ssh",
        host: unbracket(m[2]!),
        port: m[3] === undefined ? 22 : parsePort(m[3], input),
        username,
        socketPath: m[4]!,
      };
    }
    default:
      throw new QmpEndpointError(`unknown QMP endpoint "${input}": expected unix:, tcp:, tls: or ssh:`);
  }
}

/** Canonical string for an endpoint: pool key, log field, CLI argument. Never contains credentials. */
export function formatEndpoint(e: QmpEndpoint): string {
  switch (e.kind) {
    case "unix":
      return `unix:${e.path}`;
    case "tcp":
      return `tcp:${bracket(e.host)}:${e.port}`;
    case "tls":
      return `tls:${bracket(e.host)}:${e.port}`;
    case "ssh":
      return `ssh:${e.username}@${bracket(e.host)}:${e.port ?? 22}:${e.socketPath}`;
  }
}

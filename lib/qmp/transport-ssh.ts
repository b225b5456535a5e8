// SSH transport: QEMU's QMP unix socket on another host, reached through an SSH connection with
// OpenSSH stream-local forwarding (channel type direct-streamlocal@openssh.com; `ssh -L /l:/r`).
// It yields the same QmpTransport as the local transports, so the client, pool and CLI are unchanged.
//
// Invariants:
//  - The server's host key is verified (SHA256 fingerprint) unless the endpoint explicitly opts out.
//  - A connection we opened is ended when the QMP channel closes; a shared `sshClient` passed in the
//    endpoint is never closed here (the fleet layer owns one connection per host).
//  - ssh2 is imported lazily: processes that never use SSH do not load it.
import type { Duplex } from "node:stream";
import type { Client as SshClient, ClientChannel } from "ssh2";
import { formatEndpoint, type QmpSshEndpoint } from "./endpoint";
import { QmpConnectError, QmpEndpointError, connectAbortedError, connectTimeoutError } from "./errors";
import { checkHostKey } from "./ssh-host-key";
import { StreamTransport, toConnectError, type QmpTransport, type QmpTransportContext } from "./transport";

/** The error code a QMP session over SSH ends with when the SSH connection (not QEMU's monitor) went away. */
export const SSH_CONNECTION_LOST = "ESSHLOST";

function withTimeout<T>(
  label: string,
  ms: number,
  signal: AbortSignal | undefined,
  run: (settleGuard: () => boolean) => Promise<T>,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const finish = () => {
      if (done) return false;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      return true;
    };
    const onAbort = () => finish() && reject(connectAbortedError(label));
    const timer = setTimeout(() => finish() && reject(connectTimeoutError(label, ms)), ms);
    if (signal?.aborted) return void onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });
    run(() => !done).then(
      (v) => (finish() ? resolve(v) : undefined),
      (err) => finish() && reject(err),
    );
  });
}

async function connectSsh(e: QmpSshEndpoint, label: string, ctx: QmpTransportContext): Promise<SshClient> {
  const { Client } = await import("ssh2");
  const pinned = e.hostKeySha256 || null;
  if (pinned === null && !e.insecureAcceptAnyHostKey) {
    throw new QmpEndpointError(`SSH endpoint ${label} needs hostKeySha256 (or insecureAcceptAnyHostKey: true)`);
  }
  const client = new Client();
  client.on("error", () => {}); // handled below during connect, via channel close afterwards
  let hostKeyRejected: string | undefined;
  try {
    await withTimeout(label, ctx.connectTimeoutMs, ctx.signal, (pending) => {
      return new Promise<void>((resolve, reject) => {
        client.once("ready", () => resolve());
        client.once("error", (err) =>
          reject(
            hostKeyRejected
              ? new QmpConnectError(
                  `QMP connect to ${label} failed: SSH host key ${hostKeyRejected} does not match hostKeySha256`,
                  {
                    endpoint: label,
                    code: "EHOSTKEY",
                    cause: err,
                  },
                )
              : toConnectError(err, label),
          ),
        );
        client.once("close", () =>
          reject(
            new QmpConnectError(`QMP connect to ${label} failed: SSH connection closed`, {
              endpoint: label,
              code: "EPEERCLOSED",
            }),
          ),
        );
        client.connect({
          host: e.host,
          port: e.port ?? 22,
          username: e.username,
          privateKey: e.privateKey,
          passphrase: e.passphrase,
          password: e.password,
          readyTimeout: ctx.connectTimeoutMs,
          keepaliveInterval: 30_000,
          hostVerifier: (key: Buffer) => {
            if (!pending()) return false;
            const verdict = checkHostKey(key, pinned);
            if (!verdict.accepted) hostKeyRejected = verdict.fingerprint;
            return verdict.accepted;
          },
        });
      });
    });
  } catch (err) {
    client.end();
    client.destroy();
    throw err;
  }
  return client;
}

export async function openSshTransport(e: QmpSshEndpoint, ctx: QmpTransportContext): Promise<QmpTransport> {
  const label = formatEndpoint(e);
  const owned = e.sshClient === undefined;
  const client = e.sshClient ?? (await connectSsh(e, label, ctx));
  let channel: ClientChannel;
  try {
    channel = await withTimeout(label, ctx.connectTimeoutMs, ctx.signal, (pending) => {
      return new Promise<ClientChannel>((resolve, reject) => {
        client.openssh_forwardOutStreamLocal(e.socketPath, (err, ch) => {
          if (err) return reject(toConnectError(err, label, "SSH stream-local forward"));
          if (!pending()) ch.close(); // opened after we gave up: do not leak it
          resolve(ch);
        });
      });
    });
  } catch (err) {
    if (owned) client.end();
    throw err;
  }
  channel.on("error", () => {});
  // The SSH connection under the channel ended (network, sshd, the dashboard dropped it): ssh2 emits the
  // client's end/close before it closes its channels, so the channel's close can say so — QEMU itself
  // did not go away, which a plain channel close (the monitor socket closed on the host) would mean.
  let connectionLost = false;
  const onLost = () => {
    connectionLost = true;
  };
  client.once("end", onLost);
  client.once("close", onLost);
  channel.once("close", () => {
    client.removeListener("end", onLost);
    client.removeListener("close", onLost);
  });
  return new StreamTransport(
    channel as unknown as Duplex,
    label,
    () => {
      if (owned) client.end();
    },
    () =>
      connectionLost
        ? Object.assign(new Error("the SSH connection to the host was lost"), { code: SSH_CONNECTION_LOST })
        : undefined,
  );
}

// SSH connections to remote hypervisor hosts: ONE ssh2 Client per host, shared by every VM's QMP
// session on that host (stream-local forwarding channels, direct-streamlocal@openssh.com) and by
// snapshot file access (one SFTP session per connection).
// Invariants:
//  - The host key is pinned: the first successful connection of a new host returns the key's SHA-256
//    fingerprint (OpenSSH's `SHA256:…` form, as `ssh-keygen -lf` prints it) for the caller to store in
//    Host.hostKeySha256; every later connection refuses any other key (HostKeyMismatchError naming
//    both fingerprints) before authenticating.
//  - The private key is read from the dashboard's filesystem at connect time and never logged.
//  - A dropped connection leaves the cache at once; the next user reconnects (discovery does so every
//    interval), so a host that comes back is picked up without a restart.
import { readFile } from "node:fs/promises";
import ssh2, { type Client, type ClientChannel, type SFTPWrapper } from "ssh2";
import { logIgnored } from "../best-effort";
import type { Host } from "../db/generated/client";
import { InvalidInputError } from "../errors";
import { logger } from "../logger";
import { processSingleton } from "../process-singleton";
import { checkHostKey } from "../qmp";
import { HostKeyMismatchError, HostUnreachableError, HostValidationError } from "./errors";

// ssh2 is CommonJS: its named exports are not all visible to Node's ESM loader (tsx runs server.ts as
// ESM), so take them from the default export.

export interface SshTarget {
  /** Cache key; undefined for one-off probes of a host not saved yet. */
  hostId?: string;
  address: string;
  port: number;
  user: string;
  privateKeyPath: string;
  /** Pinned fingerprint; null accepts (and reports) whatever key the server presents: first add only. */
  hostKeySha256: string | null;
}

/** The SSH target of a saved host (its pinned key required). */
export function sshTargetOfHost(h: Host): SshTarget & { hostId: string; hostKeySha256: string } {
  if (!h.address || !h.user || !h.privateKeyPath || !h.hostKeySha256) {
    throw new InvalidInputError(`host ${h.name} is missing SSH settings (address, user, key or pinned host key)`);
  }
  return {
    hostId: h.id,
    address: h.address,
    port: h.port ?? 22,
    user: h.user,
    privateKeyPath: h.privateKeyPath,
    hostKeySha256: h.hostKeySha256,
  };
}

const CONNECT_TIMEOUT_MS = 10_000;
const log = logger.child({ component: "ssh" });

/** Reads and parses the private key, saying which of the two went wrong. */
export async function loadPrivateKey(privateKeyPath: string): Promise<Buffer> {
  let raw: Buffer;
  try {
    raw = await readFile(privateKeyPath);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT"
        ? "no such file"
        : code === "EACCES"
          ? "permission denied"
          : code === "EISDIR"
            ? "is a directory"
            : String(code ?? err);
    throw new HostValidationError("privateKeyPath", `cannot read private key ${privateKeyPath}: ${why}`, {
      cause: err,
    });
  }
  const parsed = ssh2.utils.parseKey(raw);
  if (parsed instanceof Error) {
    throw new HostValidationError(
      "privateKeyPath",
      `${privateKeyPath} is not a usable private key: ${parsed.message}` +
        (/passphrase/i.test(parsed.message)
          ? " (passphrase-protected keys are not supported; use a dedicated key)"
          : ""),
      { cause: parsed },
    );
  }
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key || key.isPrivateKey() === false) {
    throw new HostValidationError(
      "privateKeyPath",
      `${privateKeyPath} holds a public key; give the path of the private key`,
    );
  }
  return raw;
}

/** A live, authenticated connection to one host. */
export class SshConnection {
  private sftpSession: Promise<SFTPWrapper> | undefined;
  private kernel: Promise<string | null> | undefined;
  private closedFlag = false;
  private readonly closeListeners = new Set<(err?: Error) => void>();

  constructor(
    readonly client: Client,
    readonly target: SshTarget,
    /** The fingerprint the server presented (equal to the pinned one when one was pinned). */
    readonly hostKeySha256: string,
  ) {
    const onEnd = (err?: Error) => {
      if (this.closedFlag) return;
      this.closedFlag = true;
      for (const l of this.closeListeners) l(err);
      this.closeListeners.clear();
    };
    client.on("error", (err) => onEnd(err));
    client.on("close", () => onEnd());
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  get label(): string {
    return `${this.target.user}@${this.target.address}:${this.target.port}`;
  }

  onClose(listener: (err?: Error) => void): () => void {
    if (this.closedFlag) {
      listener();
      return () => {};
    }
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  /** The connection's SFTP session, opened on first use and reopened if the server ended it. */
  sftp(): Promise<SFTPWrapper> {
    if (!this.sftpSession) {
      const opening = new Promise<SFTPWrapper>((resolve, reject) => {
        this.client.sftp((err, sftp) => {
          if (err)
            return reject(
              new HostUnreachableError("address", `SFTP refused by ${this.label}: ${err.message}`, { cause: err }),
            );
          sftp.on("close", () => {
            if (this.sftpSession === opening) this.sftpSession = undefined;
          });
          resolve(sftp);
        });
      });
      opening.catch(() => {
        if (this.sftpSession === opening) this.sftpSession = undefined;
      });
      this.sftpSession = opening;
    }
    return this.sftpSession;
  }

  /** Opens a channel to a unix socket on the host (QMP monitor), like `ssh -L local:/remote.sock`. */
  openStreamLocal(socketPath: string): Promise<ClientChannel> {
    return new Promise((resolve, reject) => {
      this.client.openssh_forwardOutStreamLocal(socketPath, (err, channel) => (err ? reject(err) : resolve(channel)));
    });
  }

  /** Runs a command and returns its stdout; rejects on a non-zero exit. For short probes only. */
  exec(command: string, timeoutMs = 10_000): Promise<string> {
    return new Promise((resolve, reject) => {
      this.client.exec(command, (err, channel) => {
        if (err) return reject(err);
        let out = "";
        let errOut = "";
        const timer = setTimeout(() => {
          channel.close();
          reject(new Error(`"${command}" on ${this.label} took longer than ${timeoutMs} ms`));
        }, timeoutMs);
        channel.on("data", (d: Buffer) => (out += d.toString("utf8")));
        channel.stderr.on("data", (d: Buffer) => (errOut += d.toString("utf8")));
        channel.on("close", (code: number | null) => {
          clearTimeout(timer);
          if (code === 0) resolve(out);
          else reject(new Error(`"${command}" on ${this.label} exited with ${code}: ${errOut.trim().slice(0, 300)}`));
        });
      });
    });
  }

  /** The host's kernel release (`uname -r`), once per connection; null when it cannot be read. */
  kernelRelease(): Promise<string | null> {
    this.kernel ??= this.exec("uname -r").then(
      (out) => out.trim() || null,
      () => null,
    );
    return this.kernel;
  }

  close(): void {
    this.client.end();
  }
}

/**
 * Connects and authenticates. With a pinned fingerprint, a different server key is refused before
 * authentication with HostKeyMismatchError; without one, the presented key is accepted and reported.
 */
export async function connectSsh(target: SshTarget): Promise<SshConnection> {
  const privateKey = await loadPrivateKey(target.privateKeyPath);
  const client = new ssh2.Client();
  let presented: string | undefined;
  let hostKeyRejected = false;
  const where = `${target.address}:${target.port}`;
  return new Promise<SshConnection>((resolve, reject) => {
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      client.removeAllListeners("ready");
      client.on("error", () => {});
      client.end();
      reject(err);
    };
    client.once("ready", () => {
      if (settled) return;
      settled = true;
      client.removeListener("error", onError);
      resolve(new SshConnection(client, target, presented!));
    });
    const onError = (err: Error & { level?: string; code?: string }) => {
      if (hostKeyRejected && presented && target.hostKeySha256) {
        return fail(new HostKeyMismatchError(target.hostKeySha256, presented, where));
      }
      if (err.level === "client-authentication") {
        return fail(
          new HostValidationError(
            "privateKeyPath",
            `${target.user}@${where} refused the key ${target.privateKeyPath}: add its public key to ~${target.user}/.ssh/authorized_keys on the host`,
            { cause: err },
          ),
        );
      }
      if (err.level === "client-timeout") {
        return fail(
          new HostUnreachableError("address", `no SSH handshake from ${where} within ${CONNECT_TIMEOUT_MS / 1000} s`, {
            cause: err,
          }),
        );
      }
      const code = err.code ? `${err.code}` : err.message;
      const hint =
        err.code === "ECONNREFUSED"
          ? "nothing listens there (is sshd running, is the port right?)"
          : err.code === "ENOTFOUND" || err.code === "EAI_AGAIN"
            ? "the name does not resolve"
            : err.code === "ETIMEDOUT" || err.code === "EHOSTUNREACH"
              ? "no route or a firewall drops the traffic"
              : "";
      fail(
        new HostUnreachableError("address", `cannot connect to ${where}: ${code}${hint ? ` — ${hint}` : ""}`, {
          cause: err,
        }),
      );
    };
    client.on("error", onError);
    client.connect({
      host: target.address,
      port: target.port,
      username: target.user,
      privateKey,
      readyTimeout: CONNECT_TIMEOUT_MS,
      keepaliveInterval: 15_000,
      keepaliveCountMax: 3,
      // Without hostHash ssh2 hands over the raw key blob, from which we compute OpenSSH's fingerprint.
      hostVerifier: (key: Buffer) => {
        const verdict = checkHostKey(key, target.hostKeySha256);
        presented = verdict.fingerprint;
        hostKeyRejected = !verdict.accepted;
        return verdict.accepted;
      },
    });
  });
}

// Connections are cached per host in a process singleton: Next's route bundles and server.ts's workers must
// share them (one TCP connection per host, not one per module instance).
interface CacheEntry {
  signature: string;
  connection: Promise<SshConnection>;
}
const cache = processSingleton("__snapfleetSsh", () => new Map<string, CacheEntry>());

function signatureOf(t: SshTarget): string {
  return JSON.stringify([t.address, t.port, t.user, t.privateKeyPath, t.hostKeySha256]);
}

/**
 * The host's shared connection, connecting on first use. A host whose settings changed since the
 * cached connection was made gets a new one (the old one is closed).
 */
export function getSshConnection(target: SshTarget & { hostId: string }): Promise<SshConnection> {
  const signature = signatureOf(target);
  const existing = cache.get(target.hostId);
  if (existing && existing.signature === signature) return existing.connection;
  if (existing)
    void existing.connection.then(
      (c) => c.close(),
      logIgnored("a connection that never opened has nothing to close; its callers got its error", log),
    );
  const connection = connectSsh(target).then((conn) => {
    conn.onClose((err) => {
      if (cache.get(target.hostId)?.connection === connection) cache.delete(target.hostId);
      log.info({ host: target.hostId, err: err?.message }, "SSH connection closed");
    });
    return conn;
  });
  connection.catch(() => {
    if (cache.get(target.hostId)?.connection === connection) cache.delete(target.hostId);
  });
  cache.set(target.hostId, { signature, connection });
  return connection;
}

export async function closeSshConnection(hostId: string): Promise<void> {
  const entry = cache.get(hostId);
  if (!entry) return;
  cache.delete(hostId);
  await entry.connection.then(
    (c) => c.close(),
    logIgnored("a connection that never opened has nothing to close; its callers got its error", log),
  );
}

export async function closeAllSshConnections(): Promise<void> {
  await Promise.all([...cache.keys()].map((id) => closeSshConnection(id)));
}

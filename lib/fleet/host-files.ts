// File access on a host, whatever its kind: the snapshot engine writes, measures and prunes snapshot
// files through this, and discovery lists QMP sockets through it. `local` hosts use node:fs; `ssh`
// hosts use SFTP on the host's one shared SSH connection (lib/fleet/ssh.ts), and /proc and programs of
// the host through SSH exec. A `tls` host gives no file access (QMP only: host-access.ts).
// Invariants: every failure names the path and says what is wrong (missing, not a directory, not
// writable, host unreachable); remove() of an absent path succeeds; remove() refuses `/` and
// top-level directories, so a bad path cannot wipe a host.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream as fsCreateWriteStream } from "node:fs";
import {
  lstat,
  mkdir,
  open,
  readFile,
  readdir,
  rename,
  rm,
  rmdir,
  stat,
  statfs,
  unlink,
  writeFile,
} from "node:fs/promises";
import path from "node:path";
import type { SFTPWrapper, Stats as SftpStats } from "ssh2";
import type { Host } from "../db/generated/client";
import { logIgnored } from "../best-effort";
import { InvalidInputError } from "../errors";
import { unlessMissing } from "../missing-file";
import { HostValidationError } from "./errors";
import { localFileHolders, type FileHolder } from "./open-files";
import { getSshConnection, sshTargetOfHost, type SshConnection } from "./ssh";

export interface HostFileStat {
  isDirectory: boolean;
  size: number;
}

export interface HostFiles {
  kind: "local" | "ssh";
  /** null when the path does not exist. */
  stat(p: string): Promise<HostFileStat | null>;
  /** Bytes available to an unprivileged writer in the filesystem holding `dir`. */
  freeBytes(dir: string): Promise<number>;
  /** Throws InvalidInputError saying exactly what is wrong: missing, not a directory, not writable. */
  assertWritableDir(dir: string): Promise<void>;
  /** Removes a file or a directory tree; no error if absent. */
  remove(p: string): Promise<void>;
  /** Resolves once the file is open (so a bad directory rejects here, not on the first write). */
  createWriteStream(p: string): Promise<NodeJS.WritableStream>;
  /** Up to `length` bytes from `start` (fewer at end of file). */
  readRange(p: string, start: number, length: number): Promise<Buffer>;
  /** Paths of the unix sockets directly inside `dir` (QMP monitors), sorted. */
  listSockets(dir: string): Promise<string[]>;
  /** Creates `dir` and its missing parents. */
  mkdirp(dir: string): Promise<void>;
  /** Removes one file; false when it was already absent. */
  unlink(p: string): Promise<boolean>;
  /** Removes a directory only when empty (never recursive). */
  rmdir(p: string): Promise<"removed" | "absent" | "not-empty">;
  /** The whole file (small files: status files, /proc entries); null when absent. */
  readFile(p: string): Promise<Buffer | null>;
  /** Writes a small file (replacing it), mode 0600. */
  writeFile(p: string, data: string | Buffer): Promise<void>;
  /** For each path some process of the host holds open (its /proc/<pid>/fd): who. Absent paths: not in the map. */
  fileHolders(paths: string[]): Promise<Map<string, FileHolder[]>>;
  /**
   * Runs a program on the host (argv, no shell on local hosts; each argument single-quoted for the
   * remote shell on SSH hosts) and returns its stdout; rejects with its stderr on a non-zero exit.
   */
  run(argv: string[], opts?: { timeoutMs?: number }): Promise<string>;
  close?(): Promise<void>;
}

/**
 * The files of a host. Prefer hostAccessFor(host).files (host-access.ts), which is null for TLS hosts;
 * this older entry point gives TLS hosts the dashboard's own files, as their snapshot directory once was.
 */
export function hostFilesFor(host: Host): HostFiles {
  if (host.kind === "ssh") return new SshHostFiles(host.name, () => getSshConnection(sshTargetOfHost(host)));
  return localHostFiles;
}

/** File access over a given SSH connection (validating a host before it is saved). */
export function sshHostFilesOver(label: string, connection: SshConnection): HostFiles {
  return new SshHostFiles(label, async () => connection);
}

/** File access over a host's shared SSH connection, fetched (and re-made if dropped) on each use. */
export function sshHostFiles(label: string, connect: () => Promise<SshConnection>): HostFiles {
  return new SshHostFiles(label, connect);
}

function assertRemovable(p: string): void {
  const normalized = path.posix.normalize(p);
  if (!normalized.startsWith("/") || normalized.split("/").filter(Boolean).length < 2) {
    throw new InvalidInputError(`refusing to remove ${p}: only paths at least two levels below / can be removed`);
  }
}

function describeErrno(err: unknown): string {
  const code = (err as NodeJS.ErrnoException)?.code;
  switch (code) {
    case "ENOENT":
      return "does not exist";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "ENOTDIR":
      return "a parent is not a directory";
    case "EROFS":
      return "is on a read-only filesystem";
    case "ENOSPC":
      return "the filesystem is full";
    default:
      return code ?? (err instanceof Error ? err.message : String(err));
  }
}

/** Name of a throwaway file to prove a directory is writable. */
function probeName(dir: string): string {
  return path.posix.join(dir, `.snapfleet-write-test-${randomBytes(6).toString("hex")}`);
}

/** The dashboard machine's own files. */
export const localHostFiles: HostFiles = {
  kind: "local",

  async stat(p) {
    try {
      const s = await stat(p);
      return { isDirectory: s.isDirectory(), size: s.size };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw new InvalidInputError(`cannot stat ${p}: ${describeErrno(err)}`, undefined, { cause: err });
    }
  },

  async freeBytes(dir) {
    try {
      const s = await statfs(dir);
      return s.bavail * s.bsize;
    } catch (err) {
      throw new InvalidInputError(`cannot read free space of ${dir}: ${describeErrno(err)}`, undefined, { cause: err });
    }
  },

  async assertWritableDir(dir) {
    let s;
    try {
      s = await stat(dir);
    } catch (err) {
      throw new InvalidInputError(`directory ${dir} ${describeErrno(err)}`, undefined, { cause: err });
    }
    if (!s.isDirectory()) throw new InvalidInputError(`${dir} is not a directory`);
    const probe = probeName(dir);
    try {
      const fh = await open(probe, "wx", 0o600);
      await fh.close();
      await unlink(probe);
    } catch (err) {
      throw new InvalidInputError(`directory ${dir} is not writable: ${describeErrno(err)}`, undefined, { cause: err });
    }
  },

  async remove(p) {
    assertRemovable(p);
    await rm(p, { recursive: true, force: true });
  },

  async createWriteStream(p) {
    const stream = fsCreateWriteStream(p, { flags: "w", mode: 0o600 });
    await new Promise<void>((resolve, reject) => {
      stream.once("open", () => resolve());
      stream.once("error", (err) =>
        reject(new InvalidInputError(`cannot create ${p}: ${describeErrno(err)}`, undefined, { cause: err })),
      );
    });
    return stream;
  },

  async readRange(p, start, length) {
    const fh = await open(p, "r");
    try {
      const buf = Buffer.alloc(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await fh.read(buf, done, length - done, start + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return buf.subarray(0, done);
    } finally {
      await fh.close();
    }
  },

  async listSockets(dir) {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      throw new HostValidationError("socketDir", `socket directory ${dir} ${describeErrno(err)}`, { cause: err });
    }
    const sockets: string[] = [];
    for (const name of names) {
      const p = path.join(dir, name);
      const s = await lstat(p).catch(() => null);
      if (s?.isSocket()) sockets.push(p);
    }
    return sockets.sort();
  },

  async mkdirp(dir) {
    await mkdir(dir, { recursive: true });
  },

  async unlink(p) {
    return unlessMissing(
      unlink(p).then(() => true),
      false,
    );
  },

  async rmdir(p) {
    try {
      await rmdir(p);
      return "removed";
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return "absent";
      if (code === "ENOTEMPTY" || code === "EEXIST") return "not-empty";
      throw err;
    }
  },

  async readFile(p) {
    return unlessMissing(readFile(p), null);
  },

  async writeFile(p, data) {
    const tmp = `${p}.tmp-${randomBytes(4).toString("hex")}`;
    await writeFile(tmp, data, { mode: 0o600 });
    await rename(tmp, p);
  },

  fileHolders: (paths) => localFileHolders(paths),

  run(argv, opts) {
    return new Promise((resolve, reject) => {
      execFile(
        argv[0]!,
        argv.slice(1),
        { maxBuffer: 16 << 20, timeout: opts?.timeoutMs ?? 10 * 60_000 },
        (err, stdout, stderr) => {
          if (err) reject(new Error(`${argv[0]} failed: ${(stderr || err.message).trim()}`, { cause: err }));
          else resolve(stdout);
        },
      );
    });
  },
};

/**
 * One argument for a POSIX shell: single-quoted (a `'` inside becomes `'\''`), so nothing in it is
 * expanded. NUL and newlines are refused (no argument Snapfleet passes has them).
 */
export function shellArg(a: string): string {
  if (/[\0\n\r]/.test(a))
    throw new InvalidInputError(
      `refusing to pass an argument with a NUL or newline to a remote shell: ${JSON.stringify(a)}`,
    );
  return `'${a.replaceAll("'", `'\\''`)}'`;
}

// --- SFTP ---------------------------------------------------------------------------------------

/** SFTP status codes (draft-ietf-secsh-filexfer-02 §7) as ssh2 reports them in `err.code`. */
const SFTP_NO_SUCH_FILE = 2;
const SFTP_PERMISSION_DENIED = 3;

function sftpWhy(err: unknown): string {
  const code = (err as { code?: number | string })?.code;
  if (code === SFTP_NO_SUCH_FILE) return "does not exist";
  if (code === SFTP_PERMISSION_DENIED) return "permission denied";
  return err instanceof Error ? err.message : String(err);
}

function isNoSuchFile(err: unknown): boolean {
  return (err as { code?: number })?.code === SFTP_NO_SUCH_FILE;
}

function call<T>(fn: (cb: (err: Error | null | undefined, value: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value))));
}

/** Closes a file handle after a read: its error cannot change what was read (logged, not thrown). */
async function closeSftpHandle(sftp: SFTPWrapper, handle: Buffer): Promise<void> {
  await call<void>((cb) => sftp.close(handle, (err) => cb(err, undefined))).catch(logIgnored("closing a read handle"));
}

class SshHostFiles implements HostFiles {
  readonly kind = "ssh" as const;
  /** The host's name, for messages. */
  get label(): string {
    return this.hostLabel;
  }

  /** `host` is the host's name, for messages. */
  constructor(
    private readonly hostLabel: string,
    private readonly connection: () => Promise<SshConnection>,
  ) {}

  private async sftp(): Promise<SFTPWrapper> {
    return (await this.connection()).sftp();
  }

  private async sftpStat(sftp: SFTPWrapper, p: string): Promise<SftpStats | null> {
    try {
      return await call<SftpStats>((cb) => sftp.stat(p, cb));
    } catch (err) {
      if (isNoSuchFile(err)) return null;
      throw new InvalidInputError(`cannot stat ${p} on ${this.hostLabel}: ${sftpWhy(err)}`, undefined, { cause: err });
    }
  }

  async stat(p: string): Promise<HostFileStat | null> {
    const s = await this.sftpStat(await this.sftp(), p);
    return s ? { isDirectory: s.isDirectory(), size: s.size } : null;
  }

  async freeBytes(dir: string): Promise<number> {
    const sftp = await this.sftp();
    try {
      // statvfs@openssh.com: OpenSSH's extension; f_bavail is in fragment-size (f_frsize) units.
      // ssh2 gives numbers, or BigInts for values past 2^53 (its "maybe" big-int mode).
      const info = await call<{ f_bavail: number | bigint; f_frsize: number | bigint; f_bsize: number | bigint }>(
        (cb) => sftp.ext_openssh_statvfs(dir, cb),
      );
      return Number(info.f_bavail) * Number(info.f_frsize || info.f_bsize);
    } catch (err) {
      throw new InvalidInputError(`cannot read free space of ${dir} on ${this.hostLabel}: ${sftpWhy(err)}`, undefined, {
        cause: err,
      });
    }
  }

  async assertWritableDir(dir: string): Promise<void> {
    const sftp = await this.sftp();
    const s = await this.sftpStat(sftp, dir);
    if (!s) throw new InvalidInputError(`directory ${dir} does not exist on ${this.hostLabel}`);
    if (!s.isDirectory()) throw new InvalidInputError(`${dir} on ${this.hostLabel} is not a directory`);
    const probe = probeName(dir);
    try {
      const handle = await call<Buffer>((cb) => sftp.open(probe, "wx", { mode: 0o600 }, cb));
      await call<void>((cb) => sftp.close(handle, (err) => cb(err, undefined)));
      await call<void>((cb) => sftp.unlink(probe, (err) => cb(err, undefined)));
    } catch (err) {
      throw new InvalidInputError(`directory ${dir} on ${this.hostLabel} is not writable: ${sftpWhy(err)}`, undefined, {
        cause: err,
      });
    }
  }

  async remove(p: string): Promise<void> {
    assertRemovable(p);
    const sftp = await this.sftp();
    await this.removeTree(sftp, p);
  }

  private async removeTree(sftp: SFTPWrapper, p: string): Promise<void> {
    let s: SftpStats;
    try {
      s = await call<SftpStats>((cb) => sftp.lstat(p, cb));
    } catch (err) {
      if (isNoSuchFile(err)) return;
      throw err;
    }
    if (s.isDirectory()) {
      const entries = await call<Array<{ filename: string }>>((cb) => sftp.readdir(p, cb));
      for (const e of entries) await this.removeTree(sftp, path.posix.join(p, e.filename));
      await call<void>((cb) => sftp.rmdir(p, (err) => cb(err, undefined)));
    } else {
      await call<void>((cb) => sftp.unlink(p, (err) => cb(err, undefined))).catch((err) => {
        if (!isNoSuchFile(err)) throw err;
      });
    }
  }

  async createWriteStream(p: string): Promise<NodeJS.WritableStream> {
    const sftp = await this.sftp();
    const stream = sftp.createWriteStream(p, { flags: "w", mode: 0o600 });
    await new Promise<void>((resolve, reject) => {
      stream.once("open", () => resolve());
      stream.once("error", (err: Error) =>
        reject(
          new InvalidInputError(`cannot create ${p} on ${this.hostLabel}: ${sftpWhy(err)}`, undefined, { cause: err }),
        ),
      );
    });
    return stream;
  }

  async readRange(p: string, start: number, length: number): Promise<Buffer> {
    const sftp = await this.sftp();
    const handle = await call<Buffer>((cb) => sftp.open(p, "r", cb));
    try {
      const buf = Buffer.alloc(length);
      let done = 0;
      while (done < length) {
        const n = await new Promise<number>((resolve, reject) =>
          sftp.read(handle, buf, done, length - done, start + done, (err, bytesRead) => {
            // ssh2 reports end of file as an EOF status error or as 0 bytes.
            if (err) return (err as { code?: number }).code === 1 ? resolve(0) : reject(err);
            resolve(bytesRead);
          }),
        );
        if (n === 0) break;
        done += n;
      }
      return buf.subarray(0, done);
    } finally {
      await closeSftpHandle(sftp, handle);
    }
  }

  async listSockets(dir: string): Promise<string[]> {
    const sftp = await this.sftp();
    let entries: Array<{ filename: string; attrs: SftpStats }>;
    try {
      entries = await call((cb) => sftp.readdir(dir, cb));
    } catch (err) {
      throw new HostValidationError("socketDir", `socket directory ${dir} on ${this.hostLabel} ${sftpWhy(err)}`, {
        cause: err,
      });
    }
    return entries
      .filter((e) => e.attrs.isSocket())
      .map((e) => path.posix.join(dir, e.filename))
      .sort();
  }

  async mkdirp(dir: string): Promise<void> {
    const sftp = await this.sftp();
    const parts = path.posix.normalize(dir).split("/").filter(Boolean);
    let cur = "";
    for (const part of parts) {
      cur += `/${part}`;
      const s = await this.sftpStat(sftp, cur);
      if (s?.isDirectory()) continue;
      if (s) throw new InvalidInputError(`${cur} on ${this.hostLabel} is not a directory`);
      await call<void>((cb) => sftp.mkdir(cur, (err) => cb(err, undefined))).catch(async (err: unknown) => {
        if (!(await this.sftpStat(sftp, cur))?.isDirectory())
          throw new InvalidInputError(`cannot create ${cur} on ${this.hostLabel}: ${sftpWhy(err)}`, undefined, {
            cause: err,
          });
      });
    }
  }

  async unlink(p: string): Promise<boolean> {
    const sftp = await this.sftp();
    try {
      await call<void>((cb) => sftp.unlink(p, (err) => cb(err, undefined)));
      return true;
    } catch (err) {
      if (isNoSuchFile(err)) return false;
      throw new InvalidInputError(`cannot remove ${p} on ${this.hostLabel}: ${sftpWhy(err)}`, undefined, {
        cause: err,
      });
    }
  }

  async rmdir(p: string): Promise<"removed" | "absent" | "not-empty"> {
    const sftp = await this.sftp();
    try {
      await call<void>((cb) => sftp.rmdir(p, (err) => cb(err, undefined)));
      return "removed";
    } catch (err) {
      if (isNoSuchFile(err)) return "absent";
      // SFTP v3 has no "not empty" status: a directory that is still there after a refused rmdir holds files.
      const s = await this.sftpStat(sftp, p);
      if (!s) return "absent";
      if (s.isDirectory()) return "not-empty";
      throw new InvalidInputError(`cannot remove ${p} on ${this.hostLabel}: ${sftpWhy(err)}`, undefined, {
        cause: err,
      });
    }
  }

  async readFile(p: string): Promise<Buffer | null> {
    const sftp = await this.sftp();
    let handle: Buffer;
    try {
      handle = await call<Buffer>((cb) => sftp.open(p, "r", cb));
    } catch (err) {
      if (isNoSuchFile(err)) return null;
      throw new InvalidInputError(`cannot read ${p} on ${this.hostLabel}: ${sftpWhy(err)}`, undefined, { cause: err });
    }
    try {
      // /proc files report size 0: read until end of file, whatever stat says.
      const chunks: Buffer[] = [];
      for (let pos = 0; pos < 16 << 20;) {
        const buf = Buffer.alloc(64 * 1024);
        const n = await new Promise<number>((resolve, reject) =>
          sftp.read(handle, buf, 0, buf.length, pos, (err, bytesRead) => {
            if (err) return (err as { code?: number }).code === 1 ? resolve(0) : reject(err);
            resolve(bytesRead);
          }),
        );
        if (n === 0) break;
        chunks.push(buf.subarray(0, n));
        pos += n;
      }
      return Buffer.concat(chunks);
    } finally {
      await closeSftpHandle(sftp, handle);
    }
  }

  async writeFile(p: string, data: string | Buffer): Promise<void> {
    const sftp = await this.sftp();
    const tmp = `${p}.tmp-${randomBytes(4).toString("hex")}`;
    await call<void>((cb) => sftp.writeFile(tmp, data, { mode: 0o600 }, (err) => cb(err, undefined)));
    // posix-rename@openssh.com replaces an existing target (plain SFTP rename refuses to).
    await call<void>((cb) => sftp.ext_openssh_rename(tmp, p, (err) => cb(err, undefined))).catch(
      async (err: unknown) => {
        await call<void>((cb) => sftp.unlink(tmp, (e) => cb(e, undefined))).catch(
          logIgnored("the temp file of a failed write may not exist"),
        );
        throw new InvalidInputError(`cannot write ${p} on ${this.hostLabel}: ${sftpWhy(err)}`, undefined, {
          cause: err,
        });
      },
    );
  }

  async run(argv: string[], opts?: { timeoutMs?: number }): Promise<string> {
    const conn = await this.connection();
    return conn.exec(argv.map(shellArg).join(" "), opts?.timeoutMs ?? 10 * 60_000);
  }

  /**
   * /proc of the remote host, with coreutils only: `ls -l /proc/<pid>/fd` lists every descriptor's target
   * the SSH user may read (its own processes, e.g. the QEMU it runs; every process as root) — the same
   * view the dashboard has of its own machine. Paths are compared after `realpath -m`.
   */
  async fileHolders(paths: string[]): Promise<Map<string, FileHolder[]>> {
    const found = new Map<string, FileHolder[]>();
    if (!paths.length) return found;
    const conn = await this.connection();
    // Generous timeouts: a host busy with its guests (TCG) answers slowly, and a timeout blocks a deletion.
    const canonical = (await conn.exec(`realpath -m -- ${paths.map(shellArg).join(" ")}`, 60_000))
      .split("\n")
      .slice(0, paths.length);
    const wanted = new Map<string, string>();
    paths.forEach((p, i) => wanted.set(canonical[i] || p, p));
    const listing = await conn.exec("ls -l /proc/[0-9]*/fd/ 2>/dev/null; true", 60_000);
    const pids = new Map<number, string[]>();
    let pid = 0;
    for (const line of listing.split("\n")) {
      const header = /^\/proc\/(\d+)\/fd\/?:$/.exec(line);
      if (header) {
        pid = Number(header[1]);
        continue;
      }
      const arrow = line.indexOf(" -> ");
      if (!pid || arrow < 0) continue;
      const given = wanted.get(line.slice(arrow + 4));
      if (given === undefined) continue;
      const list = pids.get(pid) ?? [];
      if (!list.includes(given)) list.push(given);
      pids.set(pid, list);
    }
    if (!pids.size) return found;
    const ids = [...pids.keys()];
    const comms = await conn
      .exec(`for p in ${ids.join(" ")}; do c=$(cat /proc/$p/comm 2>/dev/null); echo "$p $c"; done`, 60_000)
      .catch(() => "");
    const names = new Map(
      comms.split("\n").flatMap((l) => {
        const m = /^(\d+) (.*)$/.exec(l);
        return m ? [[Number(m[1]), m[2]!] as const] : [];
      }),
    );
    for (const [p, list] of pids) {
      for (const given of list) {
        const holders = found.get(given) ?? [];
        holders.push({ pid: p, command: names.get(p) || `pid ${p}` });
        found.set(given, holders);
      }
    }
    return found;
  }
}

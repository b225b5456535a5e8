// The path policy for host definitions (POST/PUT/PATCH /api/hosts): what an admin may point the
// dashboard at — often root on the hypervisor — so that a host definition cannot turn it into a way to
// connect to any unix socket, read any key file or write into any directory.
//   - strict character set: absolute, `[A-Za-z0-9._@+-]` segments only, no `.`/`..` segments, no `//`
//     (so `$(id)`, spaces, quotes and globbing never reach a shell, ssh or QEMU option string);
//   - under the configured roots (SNAPFLEET_HOST_ROOTS, lib/config.ts hostPathRoots), checked after
//     realpath on this machine (a symlink inside a root pointing out of it is refused);
//   - snapshot directories: not on tmpfs/ramfs (they hold disk state that must survive a reboot) and not
//     group- or world-writable (another user could plant or swap files QEMU then writes through).
// Remote paths of ssh hosts are checked lexically (character set, roots); their existence and
// writability are checked over SFTP by hosts.ts.
// Pure checks plus fs reads; throws nothing: returns the problems per field.
import { realpath, stat, statfs } from "node:fs/promises";
import path from "node:path";
import { hostPathRoots } from "../config";

const SEGMENT = /^[A-Za-z0-9._@+-]{1,255}$/;
/** statfs f_type of filesystems that live in memory (linux/magic.h). */
const MEMORY_FS: Record<number, string> = { 0x01021994: "tmpfs", 0x858458f6: "ramfs" };

export type PathRole = "socketDir" | "snapshotDir" | "keyFile";

/** Why `p` is not an acceptable path, or null (character set and shape only). */
export function pathShapeProblem(p: string): string | null {
  if (!p.startsWith("/")) return "must be an absolute path";
  if (p.length > 1024) return "is too long";
  const segments = p.split("/").slice(1);
  if (p !== "/" && segments.some((s) => s === "")) return "must not contain empty segments (//) or end with /";
  for (const s of segments) {
    if (s === "." || s === "..") return "must not contain . or .. segments";
    if (!SEGMENT.test(s)) return "may only contain letters, digits and . _ @ + - between slashes";
  }
  return null;
}

function within(p: string, root: string): boolean {
  return p === root || p.startsWith(root.endsWith("/") ? root : `${root}/`);
}

async function realRoots(): Promise<string[]> {
  const out: string[] = [];
  for (const r of hostPathRoots()) {
    if (!path.isAbsolute(r)) continue;
    out.push(await realpath(r).catch(() => path.resolve(r)));
  }
  return out;
}

function rootsText(roots: string[]): string {
  return `${roots.join(", ")} (SNAPFLEET_HOST_ROOTS)`;
}

/** Problems of a path on this machine: shape, realpath under a root, and per-role rules. */
export async function localPathProblem(p: string, role: PathRole): Promise<string | null> {
  const shape = pathShapeProblem(p);
  if (shape) return `${p.slice(0, 200)} ${shape}`;
  const roots = await realRoots();
  if (!roots.some((r) => within(path.resolve(p), r)))
    return `${p} is outside the allowed roots ${rootsText(hostPathRoots())}`;
  let real: string;
  try {
    real = await realpath(p);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // Missing paths are reported by the existence checks that follow, with their own wording.
    if (code === "ENOENT") return null;
    return `${p}: ${code ?? String(err)}`;
  }
  if (!roots.some((r) => within(real, r)))
    return `${p} resolves to ${real}, outside the allowed roots ${rootsText(hostPathRoots())}`;
  if (role === "snapshotDir") {
    const st = await stat(real);
    if (st.isDirectory()) {
      const fs = await statfs(real);
      const memory = MEMORY_FS[Number(fs.type)];
      if (memory) return `${p} is on ${memory}: snapshot files hold disk state and must survive a reboot`;
      if ((st.mode & 0o022) !== 0)
        return `${p} is group- or world-writable (mode ${(st.mode & 0o777).toString(8)}): chmod go-w it`;
    }
  }
  return null;
}

/** Problems of a path on a remote (ssh) host: shape and lexical roots (realpath happens there). */
export function remotePathProblem(p: string): string | null {
  const shape = pathShapeProblem(p);
  if (shape) return `${p.slice(0, 200)} ${shape}`;
  if (!hostPathRoots().some((r) => within(p, r)))
    return `${p} is outside the allowed roots ${rootsText(hostPathRoots())}`;
  return null;
}

export interface HostPaths {
  kind: "local" | "ssh" | "tls";
  socketDir?: string;
  snapshotDir: string;
  privateKeyPath?: string;
  tlsCaPath?: string;
  tlsCertPath?: string;
  tlsKeyPath?: string;
}

/** Every path problem of a host definition, by field; empty when it may be checked further. */
export async function hostPathProblems(h: HostPaths): Promise<Record<string, string>> {
  const problems: Record<string, string> = {};
  const add = (field: string, problem: string | null) => {
    if (problem) problems[field] = problem;
  };
  if (h.kind === "ssh") {
    add("socketDir", h.socketDir !== undefined ? remotePathProblem(h.socketDir) : null);
    add("snapshotDir", remotePathProblem(h.snapshotDir));
    add("privateKeyPath", h.privateKeyPath !== undefined ? await localPathProblem(h.privateKeyPath, "keyFile") : null);
    return problems;
  }
  if (h.kind === "local")
    add("socketDir", h.socketDir !== undefined ? await localPathProblem(h.socketDir, "socketDir") : null);
  add("snapshotDir", await localPathProblem(h.snapshotDir, "snapshotDir"));
  if (h.kind === "tls") {
    for (const f of ["tlsCaPath", "tlsCertPath", "tlsKeyPath"] as const) {
      const v = h[f];
      if (v !== undefined) add(f, await localPathProblem(v, "keyFile"));
    }
  }
  return problems;
}

// The dedicated unprivileged account of the SSH test host: it owns the QEMU process, the monitor socket
// directory and the snapshot directory, and the dashboard logs in as it (key auth) — what the fleet issue
// asks of an SSH host. Tests run as root; the account is created once (useradd) and kept.
import { execFile } from "node:child_process";
import { chmod, chown } from "node:fs/promises";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

export const HOST_USER = "sf-hostuser";

export interface HostUser {
  name: string;
  uid: number;
  gid: number;
}

/** The account, created when missing: no home directory, /bin/sh, no password (`*`: key logins only, not locked for sshd). */
export async function ensureHostUser(name = HOST_USER): Promise<HostUser> {
  const id = async (flag: string) => Number((await execFileAsync("id", [flag, name])).stdout.trim());
  try {
    return { name, uid: await id("-u"), gid: await id("-g") };
  } catch {
    await execFileAsync("useradd", [
      "--system",
      "--user-group",
      "--no-create-home",
      "--home-dir",
      "/nonexistent",
      "--shell",
      "/bin/sh",
      "--password",
      "*",
      name,
    ]).catch((err: Error & { stderr?: string }) => {
      // A concurrent creation is fine; anything else is not.
      if (!/already exists/.test(err.stderr ?? "")) throw err;
    });
    return { name, uid: await id("-u"), gid: await id("-g") };
  }
}

/** Makes `dir` the user's own, mode 0700 (a socket or snapshot directory on the host). */
export async function ownDir(user: HostUser, dir: string): Promise<void> {
  await chown(dir, user.uid, user.gid);
  await chmod(dir, 0o700);
}

// A throwaway OpenSSH server for the SSH host tests: Debian's /usr/sbin/sshd in the foreground on a
// free loopback port, with its own host key, one authorized user key (root, or the unprivileged user
// given: tests/fleet/host-user.ts), stream-local forwarding and the internal SFTP server. Started and stopped by the test; nothing outside its temp dir changes
// except /run/sshd, the privilege-separation directory sshd insists on.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { freeTcpPort } from "../support/ports";

const execFileAsync = promisify(execFile);
const SSHD = "/usr/sbin/sshd";

export interface TestSshd {
  dir: string;
  port: number;
  /** The user the key logs in as. */
  user: string;
  /** Private key authorized for `user`. */
  userKeyPath: string;
  /** `SHA256:…` of the current host key, as `ssh-keygen -lf` prints it. */
  hostKeySha256(): Promise<string>;
  /** Replaces the host key and restarts sshd on the same port (a "reinstalled" host, or a MITM). */
  rotateHostKey(): Promise<void>;
  stop(): Promise<void>;
}

async function keygen(file: string): Promise<void> {
  await rm(file, { force: true });
  await rm(`${file}.pub`, { force: true });
  await execFileAsync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "snapfleet-test", "-f", file]);
}

/** Resolves once sshd sends its version banner (it is ready for clients). */
async function waitForBanner(port: number, child: ChildProcess, log: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`sshd exited (${child.exitCode}):\n${await readFile(log, "utf8").catch(() => "")}`);
    const ok = await new Promise<boolean>((resolve) => {
      const sock = net.connect(port, "127.0.0.1");
      sock.once("data", (d) => {
        sock.destroy();
        resolve(String(d).startsWith("SSH-"));
      });
      sock.once("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`sshd did not answer on 127.0.0.1:${port}:\n${await readFile(log, "utf8").catch(() => "")}`);
}

/** `user`: the account the key is authorized for (default root); sshd reads its authorized_keys as that user. */
export async function startSshd(opts: { user?: string } = {}): Promise<TestSshd> {
  const user = opts.user ?? "root";
  const dir = await mkdtemp(path.join(os.tmpdir(), "sf-sshd-"));
  const hostKey = path.join(dir, "host_ed25519");
  const userKeyPath = path.join(dir, "user_ed25519");
  const log = path.join(dir, "sshd.log");
  await Promise.all([keygen(hostKey), keygen(userKeyPath)]);
  await writeFile(path.join(dir, "authorized_keys"), await readFile(`${userKeyPath}.pub`), { mode: 0o644 });
  // sshd opens the authorized keys with the user's privileges: let an unprivileged user reach the file
  // (the directory stays unlistable; the private keys stay 0600 root).
  if (user !== "root") await chmod(dir, 0o711);
  await mkdir("/run/sshd", { recursive: true, mode: 0o755 });
  const port = await freeTcpPort();
  const config = path.join(dir, "sshd_config");
  await writeFile(
    config,
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${hostKey}`,
      `AuthorizedKeysFile ${path.join(dir, "authorized_keys")}`,
      `PidFile ${path.join(dir, "sshd.pid")}`,
      user === "root" ? "PermitRootLogin prohibit-password" : "PermitRootLogin no",
      `AllowUsers ${user}`,
      "PubkeyAuthentication yes",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "UsePAM no",
      "StrictModes no",
      "AllowStreamLocalForwarding yes",
      "Subsystem sftp internal-sftp",
      "LogLevel VERBOSE",
      "",
    ].join("\n"),
  );

  let child: ChildProcess;
  const launch = async () => {
    const fd = openSync(log, "a");
    child = spawn(SSHD, ["-D", "-e", "-f", config], { stdio: ["ignore", "ignore", fd] });
    closeSync(fd);
    await waitForBanner(port, child, log);
  };
  const halt = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  };
  await launch();

  return {
    dir,
    port,
    user,
    userKeyPath,
    async hostKeySha256() {
      const { stdout } = await execFileAsync("ssh-keygen", ["-lf", `${hostKey}.pub`]);
      return stdout.split(" ")[1]!;
    },
    async rotateHostKey() {
      await halt();
      await keygen(hostKey);
      await launch();
    },
    async stop() {
      await halt();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

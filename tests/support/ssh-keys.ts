// Ed25519 key pairs for SSH tests, made by OpenSSH's ssh-keygen. Not ssh2's utils.generateKeyPairSync:
// it strips a public key's leading zero bytes, so 1 key in 256 comes out malformed ("Malformed OpenSSH
// public key" when parsed; mscdex/ssh2#1390, measured here: 14 of 3,000), which failed the SSH tests at
// random.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

export interface SshKeyPair {
  /** OpenSSH private key (PEM-armoured `OPENSSH PRIVATE KEY`). */
  private: string;
  /** `ssh-ed25519 AAAA… comment`. */
  public: string;
}

export function ed25519KeyPair(): SshKeyPair {
  const dir = mkdtempSync(path.join(tmpdir(), "snapfleet-key-"));
  try {
    const file = path.join(dir, "id");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "snapfleet-test", "-f", file]);
    return { private: readFileSync(file, "utf8"), public: readFileSync(`${file}.pub`, "utf8") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

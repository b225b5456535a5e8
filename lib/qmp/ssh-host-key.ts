// SSH host-key pinning, the one definition: OpenSSH's fingerprint of a server's key, and the check of a
// presented key against the pinned fingerprint. The QMP SSH transport (transport-ssh.ts) and the
// fleet's per-host connections (lib/fleet/ssh.ts) both verify through checkHostKey.
// Invariants: keys are compared by their SHA-256 digests in constant time, so `SHA256:abc`, `abc` and
// `abc=` name the same key; a fingerprint that does not decode to a digest never matches; no pin (null)
// accepts any key — callers choose that explicitly (the first contact with a host, to report its key;
// an endpoint with `insecureAcceptAnyHostKey`).
import { createHash, timingSafeEqual } from "node:crypto";

/** OpenSSH's fingerprint form of a raw public key blob: `SHA256:` + unpadded base64 of its SHA-256 (`ssh-keygen -lf`). */
export function sshFingerprint(hostKey: Buffer): string {
  return `SHA256:${createHash("sha256").update(hostKey).digest("base64").replace(/=+$/, "")}`;
}

export interface HostKeyVerdict {
  /** The presented key's fingerprint (to report or pin). */
  fingerprint: string;
  accepted: boolean;
}

/** Checks the key a server presented (the raw blob ssh2's hostVerifier gets) against `pinned`; null pins nothing. */
export function checkHostKey(hostKey: Buffer, pinned: string | null): HostKeyVerdict {
  const fingerprint = sshFingerprint(hostKey);
  if (pinned === null) return { fingerprint, accepted: true };
  const expected = Buffer.from(pinned.replace(/^SHA256:/, "").replace(/=+$/, ""), "base64");
  const actual = createHash("sha256").update(hostKey).digest();
  return { fingerprint, accepted: actual.length === expected.length && timingSafeEqual(actual, expected) };
}

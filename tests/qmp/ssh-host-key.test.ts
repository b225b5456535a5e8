// The one SSH host-key check (lib/qmp/ssh-host-key.ts) that the QMP SSH transport and the fleet's host
// connections share: keys made by OpenSSH's ssh-keygen, fingerprints compared with what `ssh-keygen -lf`
// prints — the value an operator reads on the host and pins.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { checkHostKey, sshFingerprint } from "../../lib/qmp";
import { ed25519KeyPair } from "../support/ssh-keys";

const dir = mkdtempSync(path.join(tmpdir(), "snapfleet-hostkey-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A host key as ssh2's hostVerifier receives it (the raw blob), with ssh-keygen's own fingerprint of it. */
function hostKey(name: string): { blob: Buffer; keygenFingerprint: string } {
  const { public: pub } = ed25519KeyPair();
  const file = path.join(dir, `${name}.pub`);
  writeFileSync(file, pub);
  // "256 SHA256:… snapfleet-test (ED25519)"
  const keygenFingerprint = execFileSync("ssh-keygen", ["-l", "-E", "sha256", "-f", file], { encoding: "utf8" }).split(
    " ",
  )[1]!;
  return { blob: Buffer.from(pub.split(" ")[1]!, "base64"), keygenFingerprint };
}

const host = hostKey("host");
const other = hostKey("other");

describe("SSH host-key check", () => {
  it("fingerprints a key exactly as ssh-keygen -lf prints it", () => {
    expect(host.keygenFingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(sshFingerprint(host.blob)).toBe(host.keygenFingerprint);
  });

  it("accepts the pinned key, however the pin is padded or prefixed", () => {
    const bare = host.keygenFingerprint.slice("SHA256:".length);
    for (const pin of [host.keygenFingerprint, bare, `${bare}=`, `SHA256:${bare}=`]) {
      expect(checkHostKey(host.blob, pin), pin).toEqual({ fingerprint: host.keygenFingerprint, accepted: true });
    }
  });

  it("rejects any other key and reports the one presented", () => {
    expect(checkHostKey(other.blob, host.keygenFingerprint)).toEqual({
      fingerprint: other.keygenFingerprint,
      accepted: false,
    });
    expect(checkHostKey(host.blob, other.keygenFingerprint)).toEqual({
      fingerprint: host.keygenFingerprint,
      accepted: false,
    });
  });

  it("rejects every key for a pin that is no fingerprint (the add probe's placeholder, a truncated or empty pin)", () => {
    for (const pin of ["SHA256:unconfirmed", host.keygenFingerprint.slice(0, 30), ""]) {
      expect(checkHostKey(host.blob, pin).accepted, pin).toBe(false);
    }
  });

  it("accepts any key when nothing is pinned (explicit opt-out), still reporting its fingerprint", () => {
    expect(checkHostKey(host.blob, null)).toEqual({ fingerprint: host.keygenFingerprint, accepted: true });
    expect(checkHostKey(other.blob, null)).toEqual({ fingerprint: other.keygenFingerprint, accepted: true });
  });
});

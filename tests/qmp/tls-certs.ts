// Test PKI made with openssl at test time: a CA, a server certificate for 127.0.0.1/localhost, and
// client certificates. The directory doubles as QEMU's tls-creds-x509 `dir` (ca-cert.pem,
// server-cert.pem, server-key.pem). A second, unrelated CA is made for "wrong CA" cases. startTlsVm
// starts a disk-less VM whose monitor serves QMP over TLS with that PKI.
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startVm, type TestVm } from "../support/qemu";

export interface TestPki {
  /** QEMU's tls-creds-x509 dir. */
  dir: string;
  ca: Buffer;
  /** Client cert/key with subject O=snapfleet-test,CN=dashboard (the authorized identity). */
  clientCert: Buffer;
  clientKey: Buffer;
  /** Same CA, subject CN=intruder: valid chain, refused by QEMU's tls-authz. */
  otherClientCert: Buffer;
  otherClientKey: Buffer;
  /** A CA that did not sign the server certificate. */
  foreignCa: Buffer;
  /** authz-simple identity of the dashboard cert, as GnuTLS prints the DN (the harness escapes commas). */
  authzIdentity: string;
  cleanup(): void;
}

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

/** `openssl req` arguments for a new, unencrypted P-256 key written to `<name>-key.pem`. */
function newKey(name: string): string[] {
  return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${name}-key.pem`];
}

function makeCa(cwd: string, name: string, subject: string): void {
  openssl(["req", "-x509", ...newKey(name), "-out", `${name}-cert.pem`, "-days", "2", "-subj", subject], cwd);
}

function makeLeaf(cwd: string, name: string, subject: string, ext: string, ca = "ca"): void {
  openssl(["req", ...newKey(name), "-out", `${name}.csr`, "-subj", subject], cwd);
  writeFileSync(path.join(cwd, `${name}.ext`), ext);
  openssl(
    [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      `${ca}-cert.pem`,
      "-CAkey",
      `${ca}-key.pem`,
      "-CAcreateserial",
      "-out",
      `${name}-cert.pem`,
      "-days",
      "2",
      "-extfile",
      `${name}.ext`,
    ],
    cwd,
  );
}

export function makeTestPki(): TestPki {
  const dir = mkdtempSync(path.join(tmpdir(), "qmp-pki-"));
  chmodSync(dir, 0o755);
  makeCa(dir, "ca", "/O=snapfleet-test/CN=Snapfleet Test CA");
  makeCa(dir, "foreign-ca", "/O=elsewhere/CN=Foreign CA");
  const usage = "keyUsage=critical,digitalSignature,keyEncipherment\n";
  makeLeaf(
    dir,
    "server",
    "/O=snapfleet-test/CN=localhost",
    `subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n${usage}`,
  );
  makeLeaf(dir, "client", "/O=snapfleet-test/CN=dashboard", `extendedKeyUsage=clientAuth\n${usage}`);
  makeLeaf(dir, "intruder", "/O=snapfleet-test/CN=intruder", `extendedKeyUsage=clientAuth\n${usage}`);
  // QEMU (maybe another user) must read the server key.
  chmodSync(path.join(dir, "server-key.pem"), 0o644);
  const read = (f: string) => readFileSync(path.join(dir, f));
  return {
    dir,
    ca: read("ca-cert.pem"),
    clientCert: read("client-cert.pem"),
    clientKey: read("client-key.pem"),
    otherClientCert: read("intruder-cert.pem"),
    otherClientKey: read("intruder-key.pem"),
    foreignCa: read("foreign-ca-cert.pem"),
    authzIdentity: "O=snapfleet-test,CN=dashboard",
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A disk-less VM whose QMP monitor listens on TCP (vm.tlsPort) with `pki`'s server certificate and authz. */
export function startTlsVm(pki: TestPki, name: string, memoryMiB: number): Promise<TestVm> {
  return startVm({ name, memoryMiB, disks: 0, tls: { credsDir: pki.dir, authzIdentity: pki.authzIdentity } });
}

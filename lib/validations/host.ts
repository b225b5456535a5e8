// Host inputs, shared by the Settings → Hosts form and the /api/hosts route handlers. A host is where
// QEMU runs: `local` (this machine sees the QMP sockets), `ssh` (a remote hypervisor reached with a
// key; sockets through stream-local forwarding, files over SFTP) or `tls` (a list of QMP-over-TLS
// endpoints with client-certificate auth). What only the host itself can tell (directory missing, key
// unreadable, host key changed) is checked by lib/fleet/hosts.ts and reported with the same
// per-field shape.
import { z } from "zod";

const absolutePath = (what: string) =>
  z
    .string({ error: `${what} is required` })
    .trim()
    .min(1, { error: `${what} is required`, abort: true })
    .max(4096, `${what} is too long`)
    .refine((p) => p.startsWith("/"), `${what} must be an absolute path (starting with /)`)
    .refine((p) => !p.includes("\0"), `${what} must not contain NUL bytes`);

export const hostNameSchema = z
  .string({ error: "name is required" })
  .trim()
  .min(1, { error: "name is required", abort: true })
  .max(64, "name must be at most 64 characters")
  .regex(/^[A-Za-z0-9][A-Za-z0-9 ._-]*$/, "name may contain letters, digits, spaces, dots, dashes and underscores");

const portSchema = z.coerce
  .number({ error: "port must be a number" })
  .int("port must be a whole number")
  .min(1, "port must be between 1 and 65535")
  .max(65535, "port must be between 1 and 65535");

/** Hostname (RFC 1123 labels) or IPv4/IPv6 literal. */
const addressSchema = z
  .string({ error: "address is required" })
  .trim()
  .min(1, { error: "address is required", abort: true })
  .max(253, "address is too long")
  .refine(
    (a) =>
      /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(a) ||
      /^[0-9a-fA-F:.]+$/.test(a),
    "address must be a hostname or an IP address",
  );

const userSchema = z
  .string({ error: "user is required" })
  .trim()
  .min(1, { error: "user is required", abort: true })
  .max(32, "user must be at most 32 characters")
  .regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, "user must be a valid login name");

export const tlsEndpointSchema = z.object({
  name: z.string().trim().max(64).optional(),
  host: addressSchema,
  port: portSchema,
});
export type TlsEndpointInput = z.infer<typeof tlsEndpointSchema>;

export const localHostFields = {
  name: hostNameSchema,
  socketDir: absolutePath("socket directory"),
  snapshotDir: absolutePath("snapshot directory"),
};

/** OpenSSH's `SHA256:` fingerprint form, as `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` prints it. */
export const hostKeyFingerprintSchema = z
  .string()
  .trim()
  .regex(
    /^SHA256:[A-Za-z0-9+/]{43}$/,
    "host key fingerprint must look like SHA256:… (43 base64 characters), as ssh-keygen -lf prints it",
  );

export const sshHostFields = {
  name: hostNameSchema,
  /**
   * The host key the operator expects (checked on the host with ssh-keygen -lf). Without it the add is
   * refused with the fingerprint the host presented, to be confirmed and sent back.
   */
  hostKeySha256: hostKeyFingerprintSchema.optional(),
  address: addressSchema,
  port: portSchema.default(22),
  user: userSchema,
  privateKeyPath: absolutePath("private key path"),
  socketDir: absolutePath("socket directory"),
  snapshotDir: absolutePath("snapshot directory"),
};

export const tlsHostFields = {
  name: hostNameSchema,
  tlsEndpoints: z
    .array(tlsEndpointSchema, { error: "endpoints must be a list of { host, port }" })
    .min(1, "add at least one endpoint")
    .max(2000, "at most 2000 endpoints per host"),
  tlsCaPath: absolutePath("CA certificate path"),
  tlsCertPath: absolutePath("client certificate path"),
  tlsKeyPath: absolutePath("client key path"),
  /** Snapshot files of TLS endpoints are streamed to this directory on the dashboard's machine. */
  snapshotDir: absolutePath("snapshot directory"),
};

export const hostCreateSchema = z.discriminatedUnion(
  "kind",
  [
    z.strictObject({ kind: z.literal("local"), ...localHostFields }),
    z.strictObject({ kind: z.literal("ssh"), ...sshHostFields }),
    z.strictObject({ kind: z.literal("tls"), ...tlsHostFields }),
  ],
  { error: 'kind must be "local", "ssh" or "tls"' },
);
export type HostCreateInput = z.infer<typeof hostCreateSchema>;

/**
 * PATCH body: any field of the host's kind (the kind itself cannot change). `repinHostKey` accepts the
 * key an SSH host presents now, after the operator verified it (e.g. the host was reinstalled).
 */
export const hostUpdateSchema = z.strictObject({
  name: hostNameSchema.optional(),
  socketDir: absolutePath("socket directory").optional(),
  snapshotDir: absolutePath("snapshot directory").optional(),
  address: addressSchema.optional(),
  port: portSchema.optional(),
  user: userSchema.optional(),
  privateKeyPath: absolutePath("private key path").optional(),
  tlsEndpoints: tlsHostFields.tlsEndpoints.optional(),
  tlsCaPath: absolutePath("CA certificate path").optional(),
  tlsCertPath: absolutePath("client certificate path").optional(),
  tlsKeyPath: absolutePath("client key path").optional(),
  /** With repinHostKey: the new fingerprint the operator verified (required to re-pin). */
  hostKeySha256: hostKeyFingerprintSchema.optional(),
  repinHostKey: z.boolean().optional(),
});
export type HostUpdateInput = z.infer<typeof hostUpdateSchema>;

export const hostIdParamSchema = z.uuid("host id must be a UUID");

/** GET /api/hosts/{id}/storage: how many hours ahead the scheduled snapshots are forecast (default 24). */
export const hostStorageQuerySchema = z.object({
  hours: z.coerce
    .number({ error: "hours must be a number" })
    .int("hours must be a whole number")
    .min(1, "hours must be between 1 and 168")
    .max(168, "hours must be between 1 and 168")
    .default(24),
});

// Hosts: add, edit, remove, list. A host definition is checked against the host itself before it is
// saved, and every problem is reported on the field to fix (zod's treeified shape, like input errors):
//   local — the socket directory exists and can be listed; the snapshot directory is writable;
//   ssh   — the key file parses; the host answers on address:port and accepts the key; its host key is
//           pinned on first add (and must match afterwards unless the operator re-pins it); the
//           socket directory can be listed and the snapshot directory written, over SFTP;
//   tls   — CA, certificate and key files are readable PEM; the snapshot directory (on this machine)
//           is writable. Each endpoint is reported by discovery (unreachable VMs show why).
// After a save, discovery runs (bounded wait, so a host with thousands of VMs does not hold the request).
// Removing a host removes its VM rows and snapshot records (files on the host are left alone); it is
// refused while one of its snapshots is in flight.
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { db } from "../db/client";
import type { Host, Prisma } from "../db/generated/client";
import { ConflictError, InvalidInputError, NotFoundError } from "../errors";
import { logger } from "../logger";
import { hostCreateSchema, type HostCreateInput, type HostUpdateInput } from "../validations/host";
import { RUNNING_SNAPSHOT_STATUSES } from "../validations/snapshot";
import { discoverHost, type DiscoveryResult } from "./discovery";
import { fieldErrors, HostKeyMismatchError, HostValidationError } from "./errors";
import { findHostJson, publishHost, publishHostRemoved, vmCountsByHost } from "./host-events";
import { hostPathProblems } from "./host-paths";
import { localHostFiles, sshHostFilesOver, type HostFiles } from "./host-files";
import { toHostJson } from "./serialize";
import { closeVmSessionByEndpoint } from "./sessions";
import { closeSshConnection, connectSsh, type SshConnection } from "./ssh";
import type { HostJson } from "./vm-json";

const log = logger.child({ component: "hosts" });

/** How long a save waits for the first discovery before answering (discovery then goes on). */
const DISCOVERY_WAIT_MS = 10_000;

export interface SavedHost {
  host: HostJson;
  /** The first discovery, when it finished within the wait. */
  discovery: DiscoveryResult | null;
}

export async function listHosts(): Promise<HostJson[]> {
  const [hosts, counts] = await Promise.all([db().host.findMany({ orderBy: { name: "asc" } }), vmCountsByHost()]);
  return hosts.map((h) => toHostJson(h, counts.get(h.id) ?? {}));
}

export async function loadHost(id: string): Promise<Host> {
  const host = await db().host.findUnique({ where: { id } });
  if (!host) throw new NotFoundError(`no host with id ${id}`);
  return host;
}

export async function getHostJson(id: string): Promise<HostJson> {
  const json = await findHostJson(id);
  if (!json) throw new NotFoundError(`no host with id ${id}`);
  return json;
}

/** Collects problems per field and throws them together, so the form shows all at once. */
class FieldProblems {
  private readonly problems: Record<string, string> = {};

  add(field: string, message: string): void {
    this.problems[field] ??= message;
  }

  async check(field: string, work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (err) {
      if (err instanceof HostValidationError) this.add(err.field, err.message);
      else if (err instanceof InvalidInputError) this.add(field, err.message);
      else throw err;
    }
  }

  throwIfAny(): void {
    const entries = Object.entries(this.problems);
    if (entries.length === 0) return;
    throw new InvalidInputError(entries.map(([, m]) => m).join("; "), fieldErrors(this.problems));
  }
}

async function checkSocketDir(files: HostFiles, dir: string): Promise<void> {
  const s = await files.stat(dir);
  if (!s) throw new HostValidationError("socketDir", `socket directory ${dir} does not exist`);
  if (!s.isDirectory) throw new HostValidationError("socketDir", `${dir} is not a directory`);
  await files.listSockets(dir);
}

async function checkPem(field: string, filePath: string, what: string, marker: RegExp): Promise<void> {
  let text: string;
  try {
    text = await readFile(filePath, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new HostValidationError(
      field,
      `cannot read ${what} ${filePath}: ${code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : String(code ?? err)}`,
    );
  }
  if (!marker.test(text)) throw new HostValidationError(field, `${filePath} is not a PEM ${what}`);
}

interface Checked {
  hostKeySha256: string | null;
}

/** A fingerprint no key has: connecting with it ends at the host key check, before authentication. */
const UNCONFIRMED = "SHA256:unconfirmed";

/**
 * Checks a complete host definition against the host. `pinned` is the SSH host key the operator
 * confirmed (the stored one, or the one sent with an add or a re-pin); null: none was confirmed, so the
 * host is only asked for its key (no authentication) and the add is refused with it, to be confirmed.
 */
async function checkHost(input: HostCreateInput, pinned: string | null): Promise<Checked> {
  const problems = new FieldProblems();
  // The path policy first: nothing outside the roots is ever opened, listed or connected to.
  for (const [field, message] of Object.entries(await hostPathProblems(input))) problems.add(field, message);
  problems.throwIfAny();
  if (input.kind === "ssh" && pinned === null) {
    await problems.check("hostKeySha256", async () => {
      let presented: string | undefined;
      try {
        const probe = await connectSsh({
          address: input.address,
          port: input.port,
          user: input.user,
          privateKeyPath: input.privateKeyPath,
          hostKeySha256: UNCONFIRMED,
        });
        probe.close();
      } catch (err) {
        if (!(err instanceof HostKeyMismatchError)) throw err;
        presented = err.presented;
      }
      throw new HostValidationError(
        "hostKeySha256",
        `confirm the host key: ${input.address}:${input.port} presents ${presented}. Check it on the host (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) and send it as hostKeySha256`,
      );
    });
    problems.throwIfAny();
  }
  if (input.kind === "local") {
    const files = localHostFiles;
    await problems.check("socketDir", () => checkSocketDir(files, input.socketDir));
    await problems.check("snapshotDir", () => files.assertWritableDir(input.snapshotDir));
    problems.throwIfAny();
    return { hostKeySha256: null };
  }
  if (input.kind === "tls") {
    const files = localHostFiles;
    await problems.check("tlsCaPath", () =>
      checkPem("tlsCaPath", input.tlsCaPath, "CA certificate", /-----BEGIN CERTIFICATE-----/),
    );
    await problems.check("tlsCertPath", () =>
      checkPem("tlsCertPath", input.tlsCertPath, "certificate", /-----BEGIN CERTIFICATE-----/),
    );
    await problems.check("tlsKeyPath", () =>
      checkPem("tlsKeyPath", input.tlsKeyPath, "private key", /-----BEGIN [A-Z ]*PRIVATE KEY-----/),
    );
    await problems.check("snapshotDir", () => files.assertWritableDir(input.snapshotDir));
    problems.throwIfAny();
    return { hostKeySha256: null };
  }
  let conn: SshConnection | undefined;
  await problems.check("address", async () => {
    conn = await connectSsh({
      address: input.address,
      port: input.port,
      user: input.user,
      privateKeyPath: input.privateKeyPath,
      hostKeySha256: pinned,
    });
  });
  problems.throwIfAny();
  try {
    const files = sshHostFilesOver(input.name, conn!);
    await problems.check("socketDir", () => checkSocketDir(files, input.socketDir));
    await problems.check("snapshotDir", () => files.assertWritableDir(input.snapshotDir));
    problems.throwIfAny();
    return { hostKeySha256: conn!.hostKeySha256 };
  } finally {
    conn!.close();
  }
}

function rowData(input: HostCreateInput, checked: Checked): Omit<Prisma.HostUncheckedCreateInput, "kind"> {
  const none = {
    socketDir: null,
    address: null,
    port: null,
    user: null,
    privateKeyPath: null,
    hostKeySha256: null,
    tlsEndpoints: undefined as Prisma.InputJsonValue | undefined,
    tlsCaPath: null,
    tlsCertPath: null,
    tlsKeyPath: null,
  };
  switch (input.kind) {
    case "local":
      return { ...none, name: input.name, socketDir: input.socketDir, snapshotDir: input.snapshotDir };
    case "ssh":
      return {
        ...none,
        name: input.name,
        socketDir: input.socketDir,
        snapshotDir: input.snapshotDir,
        address: input.address,
        port: input.port,
        user: input.user,
        privateKeyPath: input.privateKeyPath,
        hostKeySha256: checked.hostKeySha256,
      };
    case "tls":
      return {
        ...none,
        name: input.name,
        snapshotDir: input.snapshotDir,
        tlsEndpoints: input.tlsEndpoints as unknown as Prisma.InputJsonValue,
        tlsCaPath: input.tlsCaPath,
        tlsCertPath: input.tlsCertPath,
        tlsKeyPath: input.tlsKeyPath,
      };
  }
}

async function assertNameFree(name: string, exceptId?: string): Promise<void> {
  const clash = await db().host.findFirst({
    where: { name: { equals: name, mode: "insensitive" }, NOT: exceptId ? { id: exceptId } : undefined },
  });
  if (clash)
    throw new InvalidInputError(
      `a host named "${clash.name}" already exists`,
      fieldErrors({ name: `a host named "${clash.name}" already exists` }),
    );
}

async function discoverBriefly(id: string): Promise<DiscoveryResult | null> {
  const run = discoverHost(id);
  run.catch((err) => log.warn({ err, host: id }, "discovery after saving a host failed"));
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), DISCOVERY_WAIT_MS);
  });
  try {
    return await Promise.race([run.catch(() => null), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export async function createHost(input: HostCreateInput): Promise<SavedHost> {
  await assertNameFree(input.name);
  const checked = await checkHost(input, input.kind === "ssh" ? (input.hostKeySha256 ?? null) : null);
  let host: Host;
  try {
    host = await db().host.create({ data: { kind: input.kind, ...rowData(input, checked) } });
  } catch (err) {
    if ((err as { code?: string }).code === "P2002") await assertNameFree(input.name);
    throw err;
  }
  log.info({ host: host.name, kind: host.kind, hostKey: host.hostKeySha256 }, "host added");
  await publishHost(host.id);
  const discovery = await discoverBriefly(host.id);
  return { host: await getHostJson(host.id), discovery };
}

/** The stored host as a create input, so an edit is validated exactly like an add. */
function asInput(host: Host): Record<string, unknown> {
  return {
    kind: host.kind,
    name: host.name,
    snapshotDir: host.snapshotDir,
    ...(host.kind !== "tls" ? { socketDir: host.socketDir ?? "" } : {}),
    ...(host.kind === "ssh"
      ? {
          address: host.address,
          port: host.port ?? 22,
          user: host.user,
          privateKeyPath: host.privateKeyPath,
          ...(host.hostKeySha256 ? { hostKeySha256: host.hostKeySha256 } : {}),
        }
      : {}),
    ...(host.kind === "tls"
      ? {
          tlsEndpoints: host.tlsEndpoints ?? [],
          tlsCaPath: host.tlsCaPath,
          tlsCertPath: host.tlsCertPath,
          tlsKeyPath: host.tlsKeyPath,
        }
      : {}),
  };
}

const FIELDS_BY_KIND: Record<Host["kind"], string[]> = {
  local: ["name", "socketDir", "snapshotDir"],
  ssh: ["name", "socketDir", "snapshotDir", "address", "port", "user", "privateKeyPath", "hostKeySha256"],
  tls: ["name", "snapshotDir", "tlsEndpoints", "tlsCaPath", "tlsCertPath", "tlsKeyPath"],
};

export async function updateHost(id: string, patch: HostUpdateInput): Promise<SavedHost> {
  const host = await loadHost(id);
  const { repinHostKey, ...fields } = patch;
  const foreign = Object.keys(fields).filter((f) => !FIELDS_BY_KIND[host.kind].includes(f));
  if (foreign.length) {
    const message = `a ${host.kind} host has no ${foreign.join(", ")}`;
    throw new InvalidInputError(
      message,
      fieldErrors(Object.fromEntries(foreign.map((f) => [f, `a ${host.kind} host has no ${f}`]))),
    );
  }
  if (repinHostKey && host.kind !== "ssh") throw new InvalidInputError("only SSH hosts have a host key to re-pin");
  const parsed = hostCreateSchema.safeParse({ ...asInput(host), ...fields });
  if (!parsed.success) {
    throw new InvalidInputError(
      parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "),
      z.treeifyError(parsed.error),
    );
  }
  const merged = parsed.data;
  if (fields.name) await assertNameFree(fields.name, id);
  if (fields.hostKeySha256 && !repinHostKey && fields.hostKeySha256 !== host.hostKeySha256) {
    throw new InvalidInputError(
      "a new host key fingerprint needs repinHostKey: true",
      fieldErrors({ hostKeySha256: "send repinHostKey: true to re-pin the host key" }),
    );
  }
  // Re-pinning needs the new fingerprint, verified by the operator, like an add.
  const checked = await checkHost(merged, repinHostKey ? (fields.hostKeySha256 ?? null) : host.hostKeySha256);
  const before = await db().vm.findMany({ where: { hostId: id }, select: { endpoint: true } });
  const updated = await db().host.update({ where: { id }, data: rowData(merged, checked) });
  if (repinHostKey && updated.hostKeySha256 !== host.hostKeySha256) {
    log.warn({ host: updated.name, from: host.hostKeySha256, to: updated.hostKeySha256 }, "SSH host key re-pinned");
  }
  // Connection settings changed: drop sessions over the old ones (discovery reconnects).
  if (JSON.stringify(asInput(host)) !== JSON.stringify(asInput(updated)) || repinHostKey) {
    await Promise.all(before.map((vm) => closeVmSessionByEndpoint(host, vm.endpoint)));
    await closeSshConnection(id);
  }
  await publishHost(id);
  const discovery = await discoverBriefly(id);
  return { host: await getHostJson(id), discovery };
}

export async function deleteHost(id: string): Promise<void> {
  const host = await loadHost(id);
  const active = await db().snapshot.count({ where: { hostId: id, status: { in: [...RUNNING_SNAPSHOT_STATUSES] } } });
  if (active) {
    throw new ConflictError(
      `host ${host.name} has ${active} snapshot(s) in progress; wait for them to finish before removing it`,
      {
        activeSnapshots: active,
      },
    );
  }
  const vms = await db().vm.findMany({ where: { hostId: id }, select: { endpoint: true } });
  await Promise.all(vms.map((vm) => closeVmSessionByEndpoint(host, vm.endpoint)));
  await closeSshConnection(id);
  await db().host.delete({ where: { id } });
  log.info({ host: host.name }, "host removed");
  await publishHostRemoved(id);
}

// Domain errors of the fleet module (hosts, discovery, per-VM sessions, host file access). They extend
// lib/errors.ts so route handlers map them to HTTP without knowing the fleet: a VM that cannot be
// reached or whose monitor is held by someone else is a 409 (state conflict, retry later); a host
// definition that cannot work (bad key, changed host key, missing directory) is a 422 with per-field
// details in zod's treeified shape, so the Settings form shows each message next to its field.
import { ConflictError, InvalidInputError } from "../errors";

/** The VM's monitor could not be reached (QEMU gone, stale socket, host down). */
export class VmUnreachableError extends ConflictError {
  constructor(
    readonly vmId: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, { vmId }, options);
  }
}

/** QEMU's monitor serves one client: another client (not Snapfleet's session) holds it right now. */
export class VmMonitorBusyError extends VmUnreachableError {}

/**
 * Another dashboard process owns the VM's monitor (its lease, vm-lease.ts): the VM's work runs there.
 * A 409; the job queue routes jobs to the owner instead of failing them.
 */
export class NotOwnerError extends ConflictError {
  constructor(
    readonly vmId: string,
    readonly owner: string,
    vmName: string,
  ) {
    super(`VM ${vmName}'s monitor is held by another dashboard process (${owner}); its work runs there`, {
      vmId,
      owner,
    });
  }
}

/** The same shape zod's treeifyError gives for an object, so forms read one format for every 4xx. */
export interface FieldErrorTree {
  errors: string[];
  properties: Record<string, { errors: string[] }>;
}

export function fieldErrors(fields: Record<string, string | undefined>): FieldErrorTree {
  const properties: FieldErrorTree["properties"] = {};
  for (const [field, message] of Object.entries(fields)) {
    if (message) properties[field] = { errors: [message] };
  }
  return { errors: [], properties };
}

/** A host definition that cannot work; `field` names the input to fix. */
export class HostValidationError extends InvalidInputError {
  constructor(
    readonly field: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, fieldErrors({ [field]: message }), options);
  }
}

/**
 * The SSH server presented a key other than the one pinned when the host was added. Refused: it is
 * either a reinstalled host (the operator re-pins it explicitly) or someone in the middle.
 */
export class HostKeyMismatchError extends HostValidationError {
  constructor(
    readonly expected: string,
    readonly presented: string,
    address: string,
  ) {
    super(
      "address",
      `host key of ${address} changed: pinned ${expected}, server presented ${presented}. ` +
        `Refusing to connect; if the host was reinstalled, verify the new key and re-pin it in Settings → Hosts.`,
    );
  }
}

/** The host itself (SSH connection, socket directory) is unreachable. */
export class HostUnreachableError extends HostValidationError {}

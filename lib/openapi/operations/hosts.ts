// The contract (../registry.ts) of /api/hosts: hypervisor hosts, their storage and VM discovery.
import { hostStorageJsonSchema } from "../../fleet/host-storage-json";
import { hostJsonSchema } from "../../fleet/vm-json";
import { hostCreateSchema, hostStorageQuerySchema, hostUpdateSchema } from "../../validations/host";
import { discoveryResultJsonSchema, hostListJsonSchema, savedHostJsonSchema } from "../responses";
import { noContent, ok, type OperationTable } from "../operation";

export const HOST_OPERATIONS = {
  "GET /api/hosts": {
    tag: "hosts",
    summary: "List hosts",
    responses: { 200: ok("Every host with its health and VM counts per state.", hostListJsonSchema) },
  },
  "POST /api/hosts": {
    tag: "hosts",
    summary: "Add a host",
    description:
      "The host is checked against reality first (per-field details), then discovered; `discovery` is null if still running after 10 s.",
    body: hostCreateSchema,
    responses: {
      201: ok("The host and its first discovery.", savedHostJsonSchema),
      422: ok(
        "The host failed its checks (name taken, unreachable socket dir, bad key, host key to confirm…); `details` per field.",
        null,
      ),
    },
  },
  "GET /api/hosts/[id]": {
    tag: "hosts",
    summary: "One host",
    responses: { 200: ok("The host.", hostJsonSchema) },
  },
  "GET /api/hosts/[id]/storage": {
    tag: "hosts",
    summary: "A host's snapshot storage and whether the next scheduled snapshots fit",
    description:
      "Snapshot space used per VM (recorded sizes of the snapshots not deleted), free space of the snapshot directory (statfs / SFTP statvfs; null with `freeError` when it cannot be read, e.g. TLS hosts), and every enabled schedule's firings in the next `hours` with an estimate per firing; `forecast.warning` is set when they would need more than the free space.",
    query: hostStorageQuerySchema,
    responses: { 200: ok("The host's storage and forecast.", hostStorageJsonSchema) },
  },
  "PATCH /api/hosts/[id]": {
    tag: "hosts",
    summary: "Change a host",
    description:
      "Fields of the host's kind; the result is checked like an add, then rediscovered. `repinHostKey: true` accepts the SSH host key presented now.",
    body: hostUpdateSchema,
    responses: {
      200: ok("The host and its discovery.", savedHostJsonSchema),
      422: ok("The changed host failed its checks (name taken, fields of another kind…); `details` per field.", null),
    },
  },
  "DELETE /api/hosts/[id]": {
    tag: "hosts",
    summary: "Remove a host",
    description: "Removes the host with its VM rows and snapshot records; files stay on the host.",
    responses: { 204: noContent, 409: ok("One of its snapshots is in progress.", null) },
  },
  "POST /api/hosts/[id]/discover": {
    tag: "hosts",
    summary: "Discover the host's VMs now",
    description: "A run already in progress for the host is joined rather than duplicated.",
    responses: { 200: ok("The run's summary.", discoveryResultJsonSchema) },
  },
} satisfies OperationTable;

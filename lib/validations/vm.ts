// VM inputs: the query string of GET /api/vms (filter, search, sort, page), shared by the Fleet page
// (which keeps the same parameters in its URL) and the route handler. Filtering, sorting and paging
// happen in the database so the page stays fast with thousands of VMs.
import { z } from "zod";

export const VM_STATES = ["running", "paused", "shutdown", "unreachable", "gone"] as const;
export type VmStateName = (typeof VM_STATES)[number];

export const VM_SORT_KEYS = ["name", "host", "state", "memory", "lastSnapshot", "lastSeen"] as const;
export type VmSortKey = (typeof VM_SORT_KEYS)[number];

export const VM_PAGE_SIZE_DEFAULT = 50;
export const VM_PAGE_SIZE_MAX = 500;

const emptyToUndefined = (v: unknown) => (v === "" ? undefined : v);

export const vmListQuerySchema = z.object({
  hostId: z.preprocess(emptyToUndefined, z.uuid("hostId must be a host's UUID").optional()),
  /** Case-insensitive substring of the name, UUID, endpoint or a tag. */
  q: z.preprocess(emptyToUndefined, z.string().trim().max(200, "q must be at most 200 characters").optional()),
  /** One state or a comma-separated list: `running,paused`. */
  state: z.preprocess(
    (v) => (typeof v === "string" && v !== "" ? v.split(",").map((s) => s.trim()) : undefined),
    z.array(z.enum(VM_STATES, { error: `state must be one of ${VM_STATES.join(", ")}` })).optional(),
  ),
  sort: z.preprocess(emptyToUndefined, z.enum(VM_SORT_KEYS, { error: `sort must be one of ${VM_SORT_KEYS.join(", ")}` }).default("name")),
  dir: z.preprocess(emptyToUndefined, z.enum(["asc", "desc"], { error: "dir must be asc or desc" }).default("asc")),
  offset: z.preprocess(emptyToUndefined, z.coerce.number().int().min(0, "offset must be ≥ 0").default(0)),
  limit: z.preprocess(
    emptyToUndefined,
    z.coerce.number().int().min(1, "limit must be ≥ 1").max(VM_PAGE_SIZE_MAX, `limit must be ≤ ${VM_PAGE_SIZE_MAX}`).default(VM_PAGE_SIZE_DEFAULT),
  ),
});
export type VmListQuery = z.infer<typeof vmListQuerySchema>;

export const vmIdParamSchema = z.uuid("VM id must be a UUID");

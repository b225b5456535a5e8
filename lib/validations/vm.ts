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

// Tags: set by operators (PATCH /api/vms/{id}, the VM page's editor), never by discovery; schedule
// selectors match them (lib/schedule-rules/targets.ts). A tag is one short token so a glob such as
// `tier-*` or `db:*` selects exactly what it says.
export const VM_TAG_MAX_LENGTH = 32;
export const VM_TAGS_MAX = 20;
export const VM_TAG_RULE = `a tag is 1–${VM_TAG_MAX_LENGTH} characters of lowercase letters, digits and - _ . : (at most ${VM_TAGS_MAX} tags per VM)`;
const TAG_PATTERN = /^[a-z0-9._:-]+$/;

export const vmTagSchema = z
  .string()
  .trim()
  .min(1, `empty tag: ${VM_TAG_RULE}`)
  .max(VM_TAG_MAX_LENGTH, `tag too long: ${VM_TAG_RULE}`)
  .refine((t) => TAG_PATTERN.test(t), { error: (i) => `"${String(i.input)}" is not a valid tag: ${VM_TAG_RULE}` });

/** The rule a VM's tag list must follow; duplicates are dropped, order kept. */
export const vmTagsSchema = z
  .array(vmTagSchema)
  .max(VM_TAGS_MAX, `too many tags: ${VM_TAG_RULE}`)
  .transform((tags) => [...new Set(tags)]);

/**
 * PATCH /api/vms/{id}: the body's shape (a 400 when it is not this). The tags' rule is checked by
 * lib/fleet/vm-tags.ts with vmTagsSchema, a 422 saying the rule.
 */
export const vmUpdateSchema = z.strictObject({
  tags: z
    .array(z.string({ error: "tags must be a list of strings" }), { error: "tags must be a list of strings" })
    .max(1000, `too many tags: ${VM_TAG_RULE}`),
});
export type VmUpdateInput = z.infer<typeof vmUpdateSchema>;

/** PUT /api/vms/{id}/quiesce: whether the VM's snapshots freeze its filesystems by default (docs/quiesce.md). */
export const vmQuiesceUpdateSchema = z.strictObject({
  quiesce: z.boolean({ error: "quiesce must be true or false" }),
});
export type VmQuiesceUpdateInput = z.infer<typeof vmQuiesceUpdateSchema>;

export const vmListQuerySchema = z.object({
  hostId: z.preprocess(emptyToUndefined, z.uuid("hostId must be a host's UUID").optional()),
  /** Case-insensitive substring of the name, UUID, endpoint or a tag. */
  q: z.preprocess(emptyToUndefined, z.string().trim().max(200, "q must be at most 200 characters").optional()),
  /** VMs carrying exactly this tag (the Fleet page's tag filter). */
  tag: z.preprocess(
    emptyToUndefined,
    z.string().trim().max(VM_TAG_MAX_LENGTH, `tag must be at most ${VM_TAG_MAX_LENGTH} characters`).optional(),
  ),
  /** One state or a comma-separated list: `running,paused`. */
  state: z.preprocess(
    (v) => (typeof v === "string" && v !== "" ? v.split(",").map((s) => s.trim()) : undefined),
    z.array(z.enum(VM_STATES, { error: `state must be one of ${VM_STATES.join(", ")}` })).optional(),
  ),
  sort: z.preprocess(
    emptyToUndefined,
    z.enum(VM_SORT_KEYS, { error: `sort must be one of ${VM_SORT_KEYS.join(", ")}` }).default("name"),
  ),
  dir: z.preprocess(emptyToUndefined, z.enum(["asc", "desc"], { error: "dir must be asc or desc" }).default("asc")),
  offset: z.preprocess(emptyToUndefined, z.coerce.number().int().min(0, "offset must be ≥ 0").default(0)),
  limit: z.preprocess(
    emptyToUndefined,
    z.coerce
      .number()
      .int()
      .min(1, "limit must be ≥ 1")
      .max(VM_PAGE_SIZE_MAX, `limit must be ≤ ${VM_PAGE_SIZE_MAX}`)
      .default(VM_PAGE_SIZE_DEFAULT),
  ),
});
export type VmListQuery = z.infer<typeof vmListQuerySchema>;

export const vmIdParamSchema = z.uuid("VM id must be a UUID");

// Process singletons: state that must exist once per process although the module holding it may be
// loaded more than once. Next.js loads a module for server.ts and again inside each route-handler
// bundle, and reloads it on every dev/HMR change: a module-level `new Map()` would give each copy its
// own — two Prisma pools, two SSH connections to one host, a publisher the routes never see. Such state
// lives on globalThis under one key per singleton, and every module reaches it through here.
// Invariants: `create` runs once per key per process (again only if the value was removed: tests swap
// `__snapfleetPrisma` that way); keys are `__snapfleet<Name>` and each belongs to one module.

/** The value kept under `key` on globalThis, created by `create` on first use. */
export function processSingleton<T>(key: `__snapfleet${string}`, create: () => T): T {
  const slots = globalThis as unknown as Record<string, T | undefined>;
  return (slots[key] ??= create());
}

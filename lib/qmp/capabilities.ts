// Migration-capability facts Snapfleet relies on, in QEMU's wire names.
// Source: QEMU 7.2 migration/migration.c migrate_caps_check — background-snapshot is refused with
// "Background-snapshot is not compatible with <cap>" when any of these is on (QEMU.md §5).
export const BACKGROUND_SNAPSHOT_INCOMPATIBLE_CAPABILITIES: readonly string[] = [
  "postcopy-ram",
  "dirty-bitmaps",
  "postcopy-blocktime",
  "late-block-activate",
  "return-path",
  "multifd",
  "pause-before-switchover",
  "auto-converge",
  "release-ram",
  "rdma-pin-all",
  "compress",
  "xbzrle",
  "x-colo",
  "validate-uuid",
  "zero-copy-send",
];

/** The capabilities that are on and would make QEMU refuse a background snapshot. */
export function incompatibleCapabilitiesOn(capabilities: readonly { capability: string; state: boolean }[]): string[] {
  return capabilities
    .filter((c) => c.state && BACKGROUND_SNAPSHOT_INCOMPATIBLE_CAPABILITIES.includes(c.capability))
    .map((c) => c.capability);
}

// QEMU version facts that do not need a monitor: the "7.2.22" discovery records parsed, and the versions
// whose failed background snapshot freezes the guest. Client-safe (no Node imports): the VM page uses it.

/** "7.2.22" (a VM row's qemuVersion, as discovery records it) → { major, minor }; undefined when unknown. */
export function parseQemuVersion(v: string | null | undefined): { major: number; minor: number } | undefined {
  const m = /^(\d+)\.(\d+)/.exec(v ?? "");
  return m ? { major: Number(m[1]), minor: Number(m[2]) } : undefined;
}

/**
 * QEMU versions on which a background snapshot that ends failed or cancelled leaves the guest's vCPUs
 * blocked in the userfault handler for good (QEMU.md §2: 7.2 stops write-tracking only on completion).
 * The fix, "migration: stop tracking ram writes when cancelling background migration", was posted to
 * qemu-devel on 2023-05-26, after 8.0.0 shipped: 8.1 is the first release with it. Distribution builds of
 * older versions may carry it as a backport; this errs on the side of warning.
 */
export function freezesOnFailedBackgroundSnapshot(v: { major: number; minor: number } | undefined): boolean {
  return v !== undefined && (v.major < 8 || (v.major === 8 && v.minor < 1));
}

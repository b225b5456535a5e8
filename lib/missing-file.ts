// A file operation for which a missing file (ENOENT) is an answer, not an error: `unlessMissing` gives
// the caller's value for it; every other error is thrown as it came.

/** `op`'s result, or `missing` when `op` failed with ENOENT. */
export async function unlessMissing<T, M>(op: Promise<T>, missing: M): Promise<T | M> {
  try {
    return await op;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return missing;
    throw err;
  }
}

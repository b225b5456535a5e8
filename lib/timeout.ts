// Racing a promise against a clock: `timeout(p, ms)` is p's value, or "timeout" when ms pass first. The
// promise itself goes on (nothing here can cancel it); its late rejection is the caller's to observe.
export function timeout<T>(p: Promise<T>, ms: number): Promise<T | "timeout"> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), ms)))]).finally(() =>
    clearTimeout(timer),
  );
}

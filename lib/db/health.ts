// Database reachability for /api/health: a trivial query bounded by a short timeout, so a hung
// database reports "down" instead of hanging the health check.
import { db } from "./client";

export async function checkDatabase(timeoutMs = 2_000): Promise<{ up: true } | { up: false; reason: string }> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      db().$queryRaw`SELECT 1`,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { up: true };
  } catch (err) {
    return { up: false, reason: (err as Error).message.split("\n")[0] || "unknown error" };
  } finally {
    clearTimeout(timer);
  }
}

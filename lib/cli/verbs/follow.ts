// --wait: re-reads a job over the REST API until it ends, feeding a progress printer. Polling (GET every
// ~500 ms) rather than the /ws stream: the row is the truth the stream only announces, a poll needs no
// reconnect or re-read logic when the dashboard restarts or a proxy drops an idle socket, and two small
// GETs a second per waiting CLI cost the dashboard nothing. A dashboard that stops answering is retried
// for a while (it may be restarting; the job lives on in PostgreSQL) before the wait gives up.
import { CliError, EXIT } from "../exit-codes";
import type { ProgressPrinter, ProgressState } from "../progress";

/** How long the dashboard may be unreachable during a wait before it counts as failed. */
const UNREACHABLE_GRACE_MS = 60_000;

export interface FollowOptions<T> {
  read(): Promise<T>;
  view(job: T): ProgressState;
  ended(job: T): boolean;
  printer?: ProgressPrinter;
  intervalMs: number;
  interrupted?: Promise<void>;
}

/** The ended job, or "interrupted" when the user stopped waiting (the job goes on). */
export async function follow<T>(opts: FollowOptions<T>): Promise<T | "interrupted"> {
  let stop = false;
  // One listener for the whole wait (not one per poll): it ends the current pause early.
  let wake: (() => void) | undefined;
  void opts.interrupted?.then(() => {
    stop = true;
    wake?.();
  });
  let unreachableSince: number | undefined;
  for (;;) {
    let job: T | undefined;
    try {
      job = await opts.read();
      unreachableSince = undefined;
    } catch (err) {
      const transient = err instanceof CliError && err.exitCode === EXIT.failed;
      unreachableSince ??= Date.now();
      if (!transient || Date.now() - unreachableSince > UNREACHABLE_GRACE_MS) {
        opts.printer?.finish();
        throw err;
      }
    }
    if (job !== undefined) {
      opts.printer?.update(opts.view(job));
      if (opts.ended(job)) {
        opts.printer?.finish();
        return job;
      }
    }
    if (stop) {
      opts.printer?.finish();
      return "interrupted";
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, opts.intervalMs);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    wake = undefined;
    if (stop) {
      opts.printer?.finish();
      return "interrupted";
    }
  }
}

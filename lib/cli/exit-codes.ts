// The CLI's exit codes, one table for every verb, documented in `snapfleet --help` and docs/cli.md:
// 0 done, 1 failed (a job ended failed/cancelled, the dashboard answered 5xx or could not be reached),
// 2 usage (bad arguments, an ambiguous name, no credentials), 3 refused (the dashboard answered 4xx:
// conflict, refusal, unknown object, missing role). CliError carries the code with the message to print.

export const EXIT = { done: 0, failed: 1, usage: 2, refused: 3, interrupted: 130 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export const EXIT_CODES_HELP = `Exit codes:
  0  done (with --wait: the snapshot or restore completed)
  1  failed: the snapshot or restore ended failed or cancelled, the dashboard answered 5xx or was unreachable
  2  usage: bad arguments, an ambiguous name (the candidates are listed), no credentials
  3  refused: the dashboard refused (4xx: conflict, not possible for this VM, no such object, role too low),
     or the confirmation was declined
  130  interrupted while waiting (the job goes on on the dashboard)`;

/** An outcome the CLI reports with a message and an exit code other than 0. */
export class CliError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
    /** Extra lines printed after the message (e.g. the commands a refusal suggests). */
    readonly hints: string[] = [],
  ) {
    super(message);
    this.name = "CliError";
  }
}

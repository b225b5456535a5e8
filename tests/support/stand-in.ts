// A stand-in dashboard process for the crash tests: tests/snapshots/fixtures/worker-stand-in.ts run with
// Node + tsx in a child the test can SIGKILL at a precise step. Collects the JSON lines it prints, lets a
// test wait for one, and reports its stderr when it exits unexpectedly. spawnTsxChild does the same for
// any such script (the dashboard stand-in of tests/snapshots/fixtures/stand-in-dashboard.ts).
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { until } from "./wait";

const REPO = path.resolve(import.meta.dirname, "../..");
const SCRIPT = path.join(REPO, "tests/snapshots/fixtures/worker-stand-in.ts");

export interface StandIn {
  child: ChildProcess;
  pid: number;
  lines: Array<Record<string, unknown>>;
  exited: Promise<void>;
  /** The first line matching `pred`; throws with the stand-in's stderr if it exits first. */
  next(pred: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  stderr(): string;
}

/** Every stand-in this process started (tests SIGKILL the ones left in their afterAll). */
export const standIns: ChildProcess[] = [];

export function startStandIn(
  args: Record<string, unknown>,
  onLine?: (line: Record<string, unknown>, child: ChildProcess) => void,
): StandIn {
  const standIn = spawnTsxChild(SCRIPT, args, { what: `the stand-in (${JSON.stringify(args).slice(0, 60)})`, onLine });
  standIns.push(standIn.child);
  return standIn;
}

/**
 * Runs `script` with Node + tsx and `args` (one JSON argument), in a process group of its own when
 * `detached`; collects the JSON lines it prints (`onLine` sees each as it comes).
 */
export function spawnTsxChild(
  script: string,
  args: Record<string, unknown>,
  opts: { what: string; detached?: boolean; onLine?: (line: Record<string, unknown>, child: ChildProcess) => void },
): StandIn {
  const child = spawn(process.execPath, ["--import", "tsx", script, JSON.stringify(args)], {
    cwd: REPO,
    stdio: ["ignore", "pipe", "pipe"],
    detached: opts.detached ?? false,
  });
  const lines: Array<Record<string, unknown>> = [];
  let buffered = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    buffered += chunk;
    for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
      const line = JSON.parse(buffered.slice(0, nl)) as Record<string, unknown>;
      buffered = buffered.slice(nl + 1);
      lines.push(line);
      opts.onLine?.(line, child);
    }
  });
  child.stderr!.setEncoding("utf8").on("data", (c: string) => (stderr += c));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  return {
    child,
    pid: child.pid!,
    lines,
    exited,
    stderr: () => stderr,
    next: (pred, timeoutMs = 90_000) =>
      until(
        () => {
          const found = lines.find(pred);
          if (!found && child.exitCode !== null)
            throw new Error(`${opts.what} exited ${child.exitCode}: ${stderr.slice(-2000)}`);
          return found;
        },
        opts.what,
        timeoutMs,
      ),
  };
}

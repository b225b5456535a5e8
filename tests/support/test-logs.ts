// Per-file test logs: the JSON lines the code under test writes through lib/logger.ts go to
// `.test-logs/<test file path>.log` (SNAPFLEET_TEST_LOG_DIR moves the directory), not into the reporter's
// output. tests/support/test-log-setup.ts starts a file's log in its worker; the processes a test starts
// (fixtures, stand-ins, the CLI tests' dashboard) import tests/support/child-test-log.ts first and append
// to the same file, found through SNAPFLEET_TEST_LOG_FILE, which they inherit. On a failed test file,
// tests/support/test-log-reporter.ts prints the file's path and its last lines.
// Invariant: every writer opens the file for appending, one write per line, so the lines of several
// processes interleave whole.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import pino from "pino";
import { logTo } from "../../lib/logger";

const REPO = path.resolve(import.meta.dirname, "../..");
/** The log file of the running test file, for the processes it starts. */
export const TEST_LOG_FILE_ENV = "SNAPFLEET_TEST_LOG_FILE";

/** `.test-logs/tests/x/y.test.ts.log` for `tests/x/y.test.ts` (absolute or relative to the repository). */
export function testLogPath(testFile: string): string {
  const dir = path.resolve(REPO, process.env.SNAPFLEET_TEST_LOG_DIR || ".test-logs");
  return path.join(dir, `${path.relative(REPO, path.resolve(REPO, testFile))}.log`);
}

function appendTo(file: string): void {
  logTo(pino.destination({ dest: file, append: true, mkdir: true, sync: true }));
}

/** In a test file's worker: an empty log for this run, this process's logger writing to it, children told where it is. */
export function startTestLog(testFile: string): string {
  const file = testLogPath(testFile);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, "");
  process.env[TEST_LOG_FILE_ENV] = file;
  appendTo(file);
  return file;
}

/** In a process a test started: append to the test file's log when there is one (otherwise stdout, as run by hand). */
export function followTestLog(): void {
  const file = process.env[TEST_LOG_FILE_ENV];
  if (file) appendTo(file);
}

const LEVELS: Record<number, string> = { 10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL" };

/** One log line as a person reads it: time, level, message, then the other fields; other text as is. */
export function readableLogLine(line: string, maxChars = 400): string {
  let out = line;
  try {
    const { time, level, msg, ...rest } = JSON.parse(line) as { time?: number; level?: number; msg?: string };
    const at = typeof time === "number" ? new Date(time).toISOString().slice(11, 23) : "";
    const fields = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : "";
    out = `${at} ${LEVELS[level ?? 0] ?? level} ${msg ?? ""}${fields}`;
  } catch {
    // not a JSON line (a child's plain output): shown as it is
  }
  return out.length > maxChars ? `${out.slice(0, maxChars)} …` : out;
}

/** The last `count` lines of a test file's log, readable; [] when it has none. */
export function testLogTail(file: string, count = 50): string[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return [];
  }
  return text
    .split("\n")
    .filter(Boolean)
    .slice(-count)
    .map((l) => readableLogLine(l));
}

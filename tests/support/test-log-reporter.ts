// Vitest reporter, beside the default one: after the run, for each test file that failed, the path of
// its log (tests/support/test-logs.ts) and its last lines — what the code under test said just before.
import path from "node:path";
import type { Reporter, TestModule, Vitest } from "vitest/node";
import { testLogPath, testLogTail } from "./test-logs";

const TAIL_LINES = 50;

export default class TestLogReporter implements Reporter {
  private vitest: Vitest | undefined;

  onInit(vitest: Vitest): void {
    this.vitest = vitest;
  }

  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const out = this.vitest?.logger ?? console;
    for (const module of testModules.filter((m) => m.state() === "failed")) {
      const file = testLogPath(module.moduleId);
      const tail = testLogTail(file, TAIL_LINES);
      out.log(
        `\nLog of ${module.relativeModuleId}: ${path.relative(process.cwd(), file)}${tail.length ? ` (last ${tail.length} lines)` : " (empty)"}`,
      );
      for (const line of tail) out.log(`  ${line}`);
    }
  }
}

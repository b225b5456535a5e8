// Vitest setup file: runs in each test file's worker before the file's own imports, so the code under
// test logs to that file's log (tests/support/test-logs.ts) from its first line on.
import { expect } from "vitest";
import { startTestLog } from "./test-logs";

const testFile = expect.getState().testPath;
if (!testFile) throw new Error("test-log-setup: Vitest did not say which test file is running");
startTestLog(testFile);

// Imported first by the processes tests start (fixtures, stand-ins): their logger appends to the log
// of the test file that started them (tests/support/test-logs.ts), or writes to stdout when run by hand.
import { followTestLog } from "./test-logs";

followTestLog();

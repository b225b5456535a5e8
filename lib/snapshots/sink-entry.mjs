// Entry point of a vmstate sink process, spawned by vmstate-sink.ts as
// `node sink-entry.mjs <statusPath> <config json>`. Plain Node runs it (Node 24 strips the types of
// sink-process.ts itself), so the sink needs neither tsx nor a build step and starts in milliseconds.
import { runSinkProcess } from "./sink-process.ts";

await runSinkProcess(process.argv);

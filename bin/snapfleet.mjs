#!/usr/bin/env node
// Launcher for the `snapfleet` CLI (package.json "bin"): registers tsx's ESM loader, then runs the
// TypeScript entry point lib/cli/main.ts, so `npx snapfleet …` works without a build step.
import { register } from "tsx/esm/api";

register();
const { run } = await import(new URL("../lib/cli/main.ts", import.meta.url).href);
await run();

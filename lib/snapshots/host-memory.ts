// Host side of the pause strategy (pause-plan.ts header, point 3), local hosts only: QEMU's pid from
// its QMP socket (findListenerPid), the host facts the plan needs (readHostMemoryFacts,
// collapseSupported), and collapsing the guest's RAM back into 2 MiB pages after a snapshot
// (recollapseGuestMemory) through a perl helper, collapse-helper.pl next to this file, read at run time.
// Invariants: the helper only reads /proc and issues MADV_COLLAPSE (never changes guest contents);
// recollapseGuestMemory never throws (it reports), and never runs during a snapshot.
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
// findListenerPid moved to lib/fleet/qemu-process.ts (discovery needs it; fleet is below snapshots).
export { findListenerPid } from "../fleet/qemu-process";
import { planMemoryPreparation, type CollapseScope, type GuestMemoryScan, type PauseFacts } from "./pause-plan";

/** Host facts for planConsistentPause. */
export async function readHostMemoryFacts(): Promise<{
  thp: PauseFacts["hostThp"];
  kernel: [number, number];
  root: boolean;
  perl: boolean;
}> {
  const thpRaw = await readFile("/sys/kernel/mm/transparent_hugepage/enabled", "utf8").catch(() => "");
  const thp = (/\[(always|madvise|never)\]/.exec(thpRaw)?.[1] ?? "unknown") as PauseFacts["hostThp"];
  const release = await readFile("/proc/sys/kernel/osrelease", "utf8").catch(() => "0.0");
  const [maj, min] = release.split(".").map((n) => parseInt(n, 10));
  const perl = await new Promise<boolean>((resolve) => execFile("perl", ["-e", "1"], (err) => resolve(!err)));
  return { thp, kernel: [maj || 0, min || 0], root: process.getuid?.() === 0, perl };
}

export function collapseSupported(host: { kernel: [number, number]; root: boolean; perl: boolean }): boolean {
  const [maj, min] = host.kernel;
  return host.root && host.perl && (maj > 6 || (maj === 6 && min >= 1));
}

export interface CollapseReport {
  ok: boolean;
  scope?: CollapseScope;
  scan?: GuestMemoryScan;
  collapsedBytes: number;
  ms: number;
  reason: string;
}

/**
 * The helper, in perl (part of every Debian host: perl-base is Essential) because Node cannot issue
 * pidfd_open(434) / process_madvise(440). Guest RAM = anonymous rw-p mappings flagged `hg` (QEMU's
 * MADV_HUGEPAGE) and `dc` (MADV_DONTFORK), which is how QEMU maps RAM blocks. Per 2 MiB range it reads
 * /proc/<pid>/pagemap: populated = 512 present pages with distinct frame numbers (the zero page and
 * KSM pages repeat). "scan" prints the figures; "collapse <all|populated>" issues MADV_COLLAPSE (25).
 * The program is collapse-helper.pl next to this module; its path is resolved when the helper runs,
 * never at import, the same way vmstate-sink.ts finds sink-entry.mjs (this module is also bundled by Next).
 */
function collapseHelperPath(): string {
  return path.join(path.dirname(fileURLToPath(import.meta.url)), "collapse-helper.pl");
}

interface HelperOutput extends GuestMemoryScan {
  collapsedBytes: number;
  errors: string[];
  ms: number;
}

function runHelper(args: string[], timeoutMs: number): Promise<HelperOutput> {
  return new Promise((resolve, reject) => {
    execFile(
      "perl",
      [collapseHelperPath(), ...args],
      { timeout: timeoutMs, maxBuffer: 1 << 20 },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(stderr.trim() || err.message));
        try {
          resolve(JSON.parse(stdout) as HelperOutput);
        } catch {
          reject(new Error(`unexpected helper output: ${stdout.slice(0, 200)}`));
        }
      },
    );
  });
}

/**
 * Collapses QEMU's guest RAM back into 2 MiB pages after a snapshot completed (never during one: the
 * RAM is write-protected then). `scope` overrides planMemoryPreparation (benchmarks). Never throws.
 */
export async function recollapseGuestMemory(
  pid: number,
  opts: { scope?: CollapseScope; timeoutMs?: number } = {},
): Promise<CollapseReport> {
  const started = performance.now();
  const timeoutMs = opts.timeoutMs ?? 60_000;
  try {
    const scan = await runHelper([String(pid), "scan"], timeoutMs);
    const decided = opts.scope
      ? { scope: opts.scope, reason: `scope ${opts.scope} requested` }
      : planMemoryPreparation(scan);
    const out = await runHelper([String(pid), "collapse", decided.scope], timeoutMs);
    const ok = out.errors.length === 0;
    return {
      ok,
      scope: decided.scope,
      scan,
      collapsedBytes: out.collapsedBytes,
      ms: performance.now() - started,
      reason: ok
        ? decided.reason
        : `${decided.reason}; some ranges were not collapsed: ${out.errors.slice(0, 3).join(", ")}`,
    };
  } catch (err) {
    return {
      ok: false,
      collapsedBytes: 0,
      ms: performance.now() - started,
      reason: `collapse not done: ${(err as Error).message}`,
    };
  }
}

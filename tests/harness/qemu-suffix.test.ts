// The naming rule the test run relies on: a test file that boots QEMU is named `*.qemu.test.ts` (and one
// that does not, is not), so the slow, QEMU-bound files are known by name — to run them alone, on the
// newer QEMU (scripts/test-all.sh), or to leave them out. What "boots QEMU" means: tests/harness/qemu-boots.ts.
import { readdirSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { QemuBootAnalysis, REPO, ROOTS } from "./qemu-boots";

function testFiles(dir = path.join(REPO, "tests")): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return testFiles(p);
    return e.name.endsWith(".test.ts") ? [p] : [];
  });
}

const analysis = new QemuBootAnalysis();
const rel = (f: string) => path.relative(REPO, f);

describe("*.qemu.test.ts", () => {
  it("reads the helpers as they are: the roots exist, and what uses them boots through imports and re-exports", () => {
    for (const root of ROOTS)
      expect(analysis.exportBoots(root.module, root.name), `${rel(root.module)} no longer exports ${root.name}`).toBe(
        true,
      );
    const kit = path.join(REPO, "tests/support/guest-kit.ts");
    expect(analysis.exportBoots(kit, "startGuestKitVm")).toBe(true); // calls startVm
    expect(analysis.exportBoots(kit, "parseGuestTicks")).toBe(false); // same module, boots nothing
    expect(analysis.exportBoots(path.join(REPO, "tests/fleet/support.ts"), "startFleetVm")).toBe(true);
    expect(analysis.exportBoots(path.join(REPO, "tests/support/restore.ts"), "restoreGuestKitSnapshot")).toBe(true);
    expect(analysis.exportBoots(path.join(REPO, "tests/support/qemu.ts"), "disposeAllVms")).toBe(false);
    // A test that imports only a non-booting name from the helpers' module does not boot QEMU.
    expect(analysis.bootingUses(path.join(REPO, "tests/support/guest-progress.ts"))).toEqual([]);
  });

  it("every test file that boots QEMU is named *.qemu.test.ts, and no other is", () => {
    const files = testFiles();
    const booting = files.filter((f) => analysis.bootingUses(f).length > 0);
    expect(booting.length).toBeGreaterThan(10); // the analysis sees the QEMU tests at all
    const unmarked = booting
      .filter((f) => !f.endsWith(".qemu.test.ts"))
      .map((f) => `${rel(f)} (uses ${analysis.bootingUses(f).join(", ")})`);
    expect(unmarked, "these boot QEMU: rename them to *.qemu.test.ts").toEqual([]);
    const misnamed = files.filter((f) => f.endsWith(".qemu.test.ts") && !booting.includes(f)).map(rel);
    expect(misnamed, "these are named *.qemu.test.ts but boot no QEMU").toEqual([]);
  });
});

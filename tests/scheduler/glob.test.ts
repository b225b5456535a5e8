// Schedule selectors are matched without regular expressions (lib/schedule-rules/targets.ts globMatch):
// the same answers as the old glob→RegExp on small inputs (property test against that reference), and
// bounded time on the adversarial selector that froze GET /api/vms.
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { globMatch, resolveTargets } from "../../lib/schedule-rules/targets";

/** The old implementation, kept as the reference (fine on small inputs, exponential on bad ones). */
function referenceRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${body}$`, "i");
}

describe("globMatch", () => {
  test("agrees with the regex reference on small inputs", () => {
    const globChar = fc.constantFrom("*", "?", "a", "b", "A", "-", ".", "[", "(", "$");
    const textChar = fc.constantFrom("a", "b", "B", "-", ".", "[", "(", "$", "x");
    fc.assert(
      fc.property(
        fc.string({ unit: globChar, maxLength: 8 }),
        fc.string({ unit: textChar, maxLength: 10 }),
        (glob, text) => {
          expect(globMatch(glob, text)).toBe(referenceRegExp(glob).test(text));
        },
      ),
      { numRuns: 20_000 },
    );
  });

  test("examples", () => {
    expect(globMatch("web-*", "WEB-1")).toBe(true);
    expect(globMatch("web-?", "web-12")).toBe(false);
    expect(globMatch("*", "")).toBe(true);
    expect(globMatch("", "")).toBe(true);
    expect(globMatch("a*b*c", "aXXbYYc")).toBe(true);
    expect(globMatch("a*b*c", "aXXbYY")).toBe(false);
  });

  test("the adversarial selector against 40-character names answers at once", () => {
    const selector = "*?*?*?*?*?*?*?*?*?*?*?*?!";
    expect(selector).toHaveLength(25);
    const vms = Array.from({ length: 1000 }, (_, i) => ({
      id: `id-${i}`,
      name: "a".repeat(40),
      hostId: "h",
      tags: ["b".repeat(40)],
      state: "running",
    }));
    const started = performance.now();
    const { vms: picked } = resolveTargets({ selector }, vms);
    expect(picked).toEqual([]);
    expect(performance.now() - started).toBeLessThan(500);
  });

  test("worst case of 200-character selectors over long names stays bounded", () => {
    const selector = `${"*a".repeat(99)}!`;
    const started = performance.now();
    for (let i = 0; i < 100; i++) expect(globMatch(selector, "a".repeat(255))).toBe(false);
    expect(performance.now() - started).toBeLessThan(1000);
  });
});

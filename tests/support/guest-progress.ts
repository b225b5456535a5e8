// Test assertion: a guest-kit VM is running and making progress — it prints `count` more complete
// `tick` lines on its serial console and the tick number moved on. Failure tests use it to prove that
// a failed or cancelled snapshot left the guest running (QEMU.md §2: a broken stream freezes it).
import { expect } from "vitest";
import { parseGuestTicks } from "./guest-kit";
import type { TestVm } from "./qemu";

export async function expectGuestAdvances(vm: TestVm, count = 2): Promise<void> {
  let offset = vm.serialOutput().length;
  const before = parseGuestTicks(vm.serialOutput()).at(-1)?.tick ?? 0;
  for (let i = 0; i < count; i++) {
    const m = await vm.waitForSerial(/^tick [^\n]*\n/m, 20_000, offset);
    offset = (m.index ?? 0) + m[0].length;
  }
  expect(parseGuestTicks(vm.serialOutput()).at(-1)!.tick).toBeGreaterThan(before);
}
